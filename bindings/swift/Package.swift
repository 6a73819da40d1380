// swift-tools-version:5.9
// The Swift bindings of the AssistRTC native SDK. `cargo xtask bindings` generates
// Sources/AssistRTC/assistrtc_uniffi.swift and the C header + modulemap of the FFI; on macOS,
// `AssistRTCFFI.xcframework` is built from the static library per target
// (`cargo build --release --target aarch64-apple-ios …` then `xcodebuild -create-xcframework`,
// with the header and modulemap as its Headers). Not compiled on Linux build machines.
import PackageDescription

let package = Package(
    name: "AssistRTC",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [.library(name: "AssistRTC", targets: ["AssistRTC"])],
    targets: [
        .binaryTarget(name: "assistrtc_uniffiFFI", path: "AssistRTCFFI.xcframework"),
        .target(
            name: "AssistRTC",
            dependencies: ["assistrtc_uniffiFFI"],
            path: "Sources/AssistRTC",
            exclude: ["assistrtc_uniffiFFI.h", "assistrtc_uniffiFFI.modulemap"]
        ),
    ]
)
