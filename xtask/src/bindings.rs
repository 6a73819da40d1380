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

fn copy(from: &Path, to: &Path) -> Result {
    std::fs::copy(from, to)
        .map(drop)
        .map_err(|e| format!("copy {} to {}: {e}", from.display(), to.display()))
}
