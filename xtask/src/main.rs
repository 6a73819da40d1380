//! `cargo xtask <command>`: the project's developer commands.
//!
//! - `test`  — everything CI checks; installs what it needs when missing.
//! - `demo`  — builds the browser SDK and serves the demo pages with the reference server.
//! - `wasm`  — builds the browser SDK into `packages-npm/`.
//! - `wasm --features F` — builds it with the wasm crate's features `F` (`preflight`,
//!   `recorder`, `preflight,recorder`) into `target/wasm-F` and prints its sizes (what turning
//!   them on in the package would cost).
//! - `bench signaling` — the signaling load benchmark (prints figures).
//! - `bench join` — customer connect → agent's first decoded frame, SDK vs raw JS (prints figures).
//! - `bench cursor` — agent pointer → customer overlay latency at 60 Hz (prints figures).
//! - `bench native [ARGS]` — native SDK assist latency and DataChannel throughput, native ↔
//!   native beside a plain webrtc-rs pair, then native → browser (prints figures).
//! - `bench preflight [ARGS]` — accuracy of the native pre-call check over scripted network
//!   conditions (a confusion table; fails below 95 % right).
//!
//! Every benchmark lives under `bench/`: the signaling one is the `assistrtc-bench` crate
//! (`bench/src`), the native SDK one the `assistrtc-bench-native` crate (`bench/native`), the
//! pre-call check's the `assistrtc-bench-preflight` crate (`bench/preflight`), the browser
//! ones are `bench/browser/*.mjs` with their pages in `bench/pages`.
//!
//! Each step prints what it runs; the first failing step fails the command.

mod bindings;
mod minify;
mod order;
mod steps;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["test"] => steps::test(),
        ["demo", rest @ ..] => steps::demo(rest),
        ["wasm"] => steps::wasm().map(drop),
        ["wasm", "--features", features] => steps::wasm_with(features).map(drop),
        ["e2e", only @ ..] => steps::e2e(only),
        ["bindings"] => bindings::bindings(false).map(drop),
        ["bench", "signaling", rest @ ..] => steps::bench_signaling(rest),
        ["bench", "join"] => steps::bench_join(),
        ["bench", "cursor"] => steps::bench_cursor(),
        ["bench", "preflight-browser"] => steps::bench_preflight_browser(),
        ["bench", "native", rest @ ..] => steps::bench_native(rest),
        ["bench", "preflight", rest @ ..] => steps::bench_preflight(rest),

        _ => {
            eprintln!(
                "usage: cargo xtask <test | demo [--listen ADDR] | wasm [--preflight] | e2e [FILE.test.mjs…] | bindings | bench signaling [ARGS] | bench join | bench cursor | bench native [ARGS] | bench preflight [ARGS]>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
