//! `cargo xtask bindings`: the native library and its Swift, Kotlin and Python bindings.

use std::path::{Path, PathBuf};

use crate::steps::{Result, root, run, target_dir};

/// The library file cargo builds for the native SDK.
const LIBRARY: &str = "libassistrtc_uniffi.so";

/// Builds the native library (debug; with the test hooks when `test_hooks`) and generates the
/// bindings into `bindings/{python,kotlin,swift}` (the generated sources are not committed;
/// the packaging files around them are). The Python package gets a copy of the library, as
/// its module loads it from its own directory. Returns the library's path.
pub(crate) fn bindings(test_hooks: bool) -> Result<PathBuf> {
    let mut args = vec!["build", "-p", "assistrtc-uniffi", "-p", "uniffi-bindgen"];
    if test_hooks {
        args.extend(["--features", "assistrtc-uniffi/test-hooks"]);
    }
    run("cargo", &args)?;
    let lib = target_dir().join("debug").join(LIBRARY);
    let bindgen = target_dir().join("debug/uniffi-bindgen");
    let out = root().join("bindings");
    for (language, dir) in [
        ("python", "python/assistrtc"),
        ("kotlin", "kotlin/src/main/kotlin"),
        ("swift", "swift/Sources/AssistRTC"),
    ] {
        let dir = out.join(dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        run(
            &bindgen.to_string_lossy(),
            &[
                "generate",
                "--library",
                &lib.to_string_lossy(),
                "--language",
                language,
                "--out-dir",
                &dir.to_string_lossy(),
            ],
        )?;
    }
    copy(&lib, &out.join("python/assistrtc").join(LIBRARY))?;
    Ok(lib)
}

/// Python bindings over the release library, for the benchmarks, in
/// `<target>/bench-python` (the checkout's `bindings/python` keeps the debug build the
/// end-to-end tests use). Returns the directory to put on `ASSISTRTC_BINDINGS`.
pub(crate) fn python_release() -> Result<PathBuf> {
    run("cargo", &["build", "--release", "-p", "assistrtc-uniffi"])?;
    run("cargo", &["build", "-p", "uniffi-bindgen"])?;
    let lib = target_dir().join("release").join(LIBRARY);
    let bindgen = target_dir().join("debug/uniffi-bindgen");
    let out = target_dir().join("bench-python");
    let package = out.join("assistrtc");
    std::fs::create_dir_all(&package).map_err(|e| format!("{}: {e}", package.display()))?;
    run(
        &bindgen.to_string_lossy(),
        &[
            "generate",
            "--library",
            &lib.to_string_lossy(),
            "--language",
            "python",
            "--out-dir",
            &package.to_string_lossy(),
        ],
    )?;
    let init = "__init__.py";
    copy(
        &root().join("bindings/python/assistrtc").join(init),
        &package.join(init),
    )?;
    copy(&lib, &package.join(LIBRARY))?;
    Ok(out)
}

fn copy(from: &Path, to: &Path) -> Result {
    std::fs::copy(from, to)
        .map(drop)
        .map_err(|e| format!("copy {} to {}: {e}", from.display(), to.display()))
}

/// The PyPI wheel whose jars carry a Kotlin 2.x compiler, stdlib and kotlinx-coroutines
/// (Debian's own kotlin is 1.3, too old for the generated code).
const KOTLIN_WHEEL: &str = "kotlin-jupyter-kernel==0.19.0.944";

/// Compiles the generated Kotlin bindings with a smoke app (`tests/native/Smoke.kt`) and runs
/// it against the library, installing JNA and the Kotlin compiler when missing. Needs the
/// bindings generated first.
pub(crate) fn kotlin_smoke() -> Result {
    let jna = Path::new("/usr/share/java/jna.jar");
    if !jna.exists() {
        run("apt-get", &["update"])?;
        run(
            "apt-get",
            &["install", "-y", "--no-install-recommends", "libjna-java"],
        )?;
    }
    let jars = kotlin_jars()?;
    let compiler = jars.join("kotlin-jupyter-kernel-0.19.0-944-all.jar");
    let stdlib = jars.join("kotlin-stdlib-2.3.10-RC.jar");
    let out = target_dir().join("kotlin-smoke");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let app = out.join("app.jar");
    let (compiler_s, stdlib_s, jna_s) = (
        compiler.to_string_lossy(),
        stdlib.to_string_lossy(),
        jna.to_string_lossy(),
    );
    // The all-in-one jar also holds kotlinx-coroutines, which the generated code uses.
    let classpath = [&*stdlib_s, &*compiler_s, &*jna_s].join(":");
    let generated =
        root().join("bindings/kotlin/src/main/kotlin/uniffi/assistrtc_uniffi/assistrtc_uniffi.kt");
    run(
        "java",
        &[
            "-cp",
            &compiler_s,
            "org.jetbrains.kotlin.cli.jvm.K2JVMCompiler",
            "-no-stdlib",
            "-no-reflect",
            "-nowarn",
            "-cp",
            &classpath,
            "-d",
            &app.to_string_lossy(),
            &generated.to_string_lossy(),
            &root().join("tests/native/Smoke.kt").to_string_lossy(),
        ],
    )?;
    let library_path = [
        "-Djna.library.path=",
        &target_dir().join("debug").to_string_lossy(),
    ]
    .concat();
    let run_classpath = [&*app.to_string_lossy(), &*classpath].join(":");
    run("java", &[&library_path, "-cp", &run_classpath, "SmokeKt"])
}

/// Where the Kotlin wheel's jars are, installing the wheel when missing.
fn kotlin_jars() -> Result<PathBuf> {
    let purelib = String::from_utf8(
        std::process::Command::new("python3")
            .args([
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            ])
            .output()
            .map_err(|e| format!("python3: {e}"))?
            .stdout,
    )
    .map_err(|e| e.to_string())?;
    let jars = Path::new(purelib.trim()).join("run_kotlin_kernel/jars");
    if !jars
        .join("kotlin-jupyter-kernel-0.19.0-944-all.jar")
        .exists()
    {
        run(
            "python3",
            &[
                "-m",
                "pip",
                "install",
                "--quiet",
                "--root-user-action=ignore",
                KOTLIN_WHEEL,
            ],
        )?;
    }
    Ok(jars)
}
