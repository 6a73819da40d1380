//! The steps behind each command.

use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) type Result<T = ()> = std::result::Result<T, String>;

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Runs a command from the workspace root, echoing it; fails on a non-zero exit.
pub(crate) fn run(program: &str, args: &[&str]) -> Result {
    run_in(&root(), program, args, &[])
}

pub(crate) fn run_in(dir: &Path, program: &str, args: &[&str], env: &[(&str, &str)]) -> Result {
    eprintln!("\n==> {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .status()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", args.join(" ")))
    }
}

fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Installs the wasm32 target when rustup lacks it.
pub(crate) fn ensure_wasm_target() -> Result {
    let installed = output("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if installed
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        return Ok(());
    }
    run("rustup", &["target", "add", "wasm32-unknown-unknown"])
}

pub(crate) fn test() -> Result {
    ensure_wasm_target()?;
    run("cargo", &["fmt", "--all", "--check"])?;
    run(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    run("cargo", &["test", "--workspace"])?;
    run(
        "cargo",
        &[
            "build",
            "-p",
            "assistrtc-core",
            "--target",
            "wasm32-unknown-unknown",
        ],
    )?;
    eprintln!("\nall checks passed");
    Ok(())
}

pub(crate) fn demo(rest: &[&str]) -> Result {
    let mut args = vec!["run", "--release", "-p", "assistrtc-server", "--", "--demo"];
    args.extend_from_slice(rest);
    run("cargo", &args)
}

pub(crate) fn wasm() -> Result {
    Err("the browser SDK is not part of this build yet".into())
}

pub(crate) fn bench_signaling(_rest: &[&str]) -> Result {
    Err("the signaling benchmark is not part of this build yet".into())
}
