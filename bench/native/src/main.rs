//! `bench-native`: DataChannel throughput and assist-message latency of the native SDK, beside
//! a plain webrtc-rs pair in the same run (run it with `cargo xtask bench native`, which then
//! runs the native ↔ browser part, `bench/browser/native-latency.mjs`). It prints figures and
//! asserts nothing.
//!
//! 1. SDK ([`sdk`]): the reference server in-process on 127.0.0.1:0, two `AssistClient`s
//!    (agent and customer) joined to one room, their link on 127.0.0.1. The agent sends script
//!    steps, highlights (each cleared again: the overlay holds at most 64 shapes) and pointer
//!    moves one at a time, at least 12 ms apart; latency is the API call → the customer's
//!    observer seeing the `OverlayChanged` that carries it. Then a burst of script steps, sent
//!    back to back; done when the last is seen.
//! 2. Plain ([`plain`]): two webrtc-rs peer connections with the same channels and the same
//!    wire texts at the same pace, no SDK: send → the receiving channel's message event.
//!
//! Everything runs in this process on 2 cores (the SDK's own runtime has two worker threads,
//! the bench's another two), so the figures include scheduling between the two sides. Every
//! wait is bounded; a message not seen within `--wait-ms` counts as lost.

mod figures;
mod plain;
mod sdk;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// Native SDK benchmark: assist latency and throughput, SDK vs plain webrtc-rs.
#[derive(Debug, Parser)]
#[command(name = "bench-native")]
struct Args {
    /// Messages of each kind sent one at a time for the latency figures.
    #[arg(long, default_value_t = 300)]
    count: usize,
    /// Script steps in the throughput burst.
    #[arg(long, default_value_t = 5_000)]
    burst: usize,
    /// Longest wait for one message before it counts as lost, ms.
    #[arg(long, default_value_t = 2_000)]
    wait_ms: u64,
    /// Longest wait for the burst's last message, ms.
    #[arg(long, default_value_t = 60_000)]
    burst_wait_ms: u64,
}

/// What the runs take from the command line.
pub(crate) struct Options {
    pub(crate) count: usize,
    pub(crate) burst: usize,
    pub(crate) wait: Duration,
    pub(crate) burst_wait: Duration,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = Args::parse();
    let options = Options {
        count: args.count.max(1),
        burst: args.burst.max(1),
        wait: Duration::from_millis(args.wait_ms),
        burst_wait: Duration::from_millis(args.burst_wait_ms),
    };
    eprintln!(
        "native SDK pair: {} messages of each kind, then a burst of {}",
        options.count, options.burst
    );
    let sdk = match sdk::run(&options).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("bench-native: SDK run: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("plain webrtc-rs pair: the same");
    let plain = match plain::run(&options).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("bench-native: plain run: {e}");
            return ExitCode::FAILURE;
        }
    };
    figures::print(&sdk, &plain);
    ExitCode::SUCCESS
}
