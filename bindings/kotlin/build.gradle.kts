// The Kotlin bindings of the AssistRTC native SDK. `cargo xtask bindings` generates the sources
// under src/main/kotlin; the library (libassistrtc_uniffi.so, or per-ABI .so files for Android
// under src/main/jniLibs) is loaded through JNA.
plugins {
    kotlin("jvm") version "2.1.0"
    `java-library`
}

group = "com.assistrtc"
version = "0.1.0"

repositories { mavenCentral() }

dependencies {
    implementation("net.java.dev.jna:jna:5.13.0")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.9.0")
}

kotlin { jvmToolchain(17) }
