//! `bench-preflight`: how often the native pre-call check is right. It scripts network
//! conditions on loopback, runs the check (`assistrtc_uniffi::preflight::preflight_on`) N
//! times in each, and prints a confusion table of verdicts and, per condition, how often the
//! verdict and the reason codes were right. It exits non-zero when fewer than `--min-pct` of
//! the runs got both right. Run it with `cargo xtask bench preflight [ARGS]`.
//!
//! Each run has a fresh reference server (a child process on 127.0.0.1:0), and in front of it
//! an HTTP proxy ([`proxy`]) that routes the probe's media through a userspace impairment
//! relay ([`relay`]): no direct path to the server exists. coturn runs (a child process, the
//! repo's configuration on free ports) for the conditions that offer TURN. Every wait is
//! bounded, and the child processes end with the bench however it ends.

mod conditions;
mod procs;
mod proxy;
mod relay;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use assistrtc_uniffi::preflight::{PreflightOptions, preflight_on};
use clap::Parser;
use tokio::time::Instant;

use crate::conditions::{Condition, Path, Turn};
use crate::procs::{Coturn, Server, TURN_RELAY_PORTS, TurnListeners};
use crate::relay::{Gate, Relay};
use crate::report::Outcome;

/// Accuracy of the native pre-call check over scripted network conditions.
#[derive(Debug, Parser)]
#[command(name = "bench-preflight")]
struct Args {
    /// Runs of the check per condition.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// One run per condition (for CI).
    #[arg(long)]
    quick: bool,
    /// Only the conditions with these names (repeatable).
    #[arg(long = "only", value_name = "NAME")]
    only: Vec<String>,
    /// The reference server's binary (default: `assistrtc-server` next to this one).
    #[arg(long, value_name = "PATH")]
    server_bin: Option<PathBuf>,
    /// coturn's configuration (default: the repo's `server-min/coturn/turnserver.conf`).
    #[arg(long, value_name = "PATH")]
    coturn_config: Option<PathBuf>,
    /// Seed of the relay's drop and jitter draws (each run derives its own from it).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Longest one check may take before it counts as an error, seconds.
    #[arg(long, default_value_t = 60)]
    run_timeout_secs: u64,
    /// Least share of runs, percent, with both verdict and reasons right.
    #[arg(long, default_value_t = 95.0)]
    min_pct: f64,
    /// Runs the browser SDK's check in headless Chromium instead of the native one: the SDK
    /// built with `preflight`, served by each run's server from this web root
    /// (`packages-npm/dist` under it). Needs Node and `tests/e2e`'s npm packages.
    #[arg(long, value_name = "WEB_ROOT")]
    browser: Option<PathBuf>,
}

/// What every run needs.
struct Setup {
    server_bin: PathBuf,
    coturn_config: PathBuf,
    seed: u64,
    run_timeout: Duration,
    /// The browser SDK's web root, when the check runs in Chromium.
    browser: Option<PathBuf>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = Args::parse();
    let runs = if args.quick { 1 } else { args.runs.max(1) };
    let server_bin = args.server_bin.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join("assistrtc-server")))
            .unwrap_or_else(|| PathBuf::from("assistrtc-server"))
    });
    let coturn_config = args.coturn_config.clone().unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../server-min/coturn/turnserver.conf")
    });
    if !server_bin.exists() {
        eprintln!(
            "bench-preflight: no server binary at {} (build assistrtc-server, or pass --server-bin)",
            server_bin.display()
        );
        return ExitCode::FAILURE;
    }
    let conditions: Vec<Condition> = conditions::all()
        .into_iter()
        .filter(|c| args.only.is_empty() || args.only.iter().any(|o| o == c.name))
        .collect();
    if conditions.is_empty() {
        eprintln!("bench-preflight: no condition matches --only");
        return ExitCode::FAILURE;
    }
    let setup = Setup {
        server_bin,
        coturn_config,
        seed: args.seed,
        run_timeout: Duration::from_secs(args.run_timeout_secs.max(1)),
        browser: args.browser.clone(),
    };
    let started = Instant::now();
    // On Ctrl-C or SIGTERM the runs are dropped, and with them every child process.
    let results = tokio::select! {
        r = run_all(&setup, &conditions, runs) => r,
        () = interrupted() => {
            eprintln!("bench-preflight: interrupted");
            return ExitCode::from(130);
        }
    };
    let results = match results {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench-preflight: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (text, pct) = report::tables(&results);
    println!("\n{text}");
    println!(
        "{} conditions × {runs} runs in {:.0} s",
        results.len(),
        started.elapsed().as_secs_f64()
    );
    if pct + 1e-9 < args.min_pct {
        eprintln!(
            "bench-preflight: {pct:.1} % right, below {:.1} %",
            args.min_pct
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

async fn interrupted() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let term = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

async fn run_all(
    setup: &Setup,
    conditions: &[Condition],
    runs: usize,
) -> Result<Vec<(Condition, Vec<Outcome>)>, String> {
    let mut results = Vec::new();
    for (i, c) in conditions.iter().enumerate() {
        println!("{} — {}", c.name, c.what);
        let coturn = match c.path {
            Path::UdpBlocked(Turn::Tcp) => {
                Some(Coturn::start(&setup.coturn_config, TurnListeners::TcpOnly).await?)
            }
            Path::UdpBlocked(Turn::TlsOrTcp) => {
                Some(Coturn::start(&setup.coturn_config, TurnListeners::TcpAndTls).await?)
            }
            Path::UdpBlocked(Turn::Udp) => {
                Some(Coturn::start(&setup.coturn_config, TurnListeners::UdpAndTcp).await?)
            }
            _ => None,
        };
        let turn_urls = turn_urls(c.path, coturn.as_ref());
        let mut outcomes = Vec::new();
        for run in 0..runs {
            let seed = setup.seed ^ ((i as u64) << 32) ^ run as u64;
            let (outcome, detail) = run_once(setup, c, &turn_urls, seed).await?;
            println!(
                "  run {}: {} [{}] in {:.1} s{}{}",
                run + 1,
                outcome.verdict,
                outcome.reasons.join(","),
                outcome.duration.as_secs_f64(),
                if outcome.right(c) { "" } else { "  ✗" },
                detail
            );
            outcomes.push(outcome);
        }
        drop(coturn);
        results.push((*c, outcomes));
    }
    Ok(results)
}

/// The TURN URLs the server announces in condition `path`.
fn turn_urls(path: Path, coturn: Option<&Coturn>) -> Vec<String> {
    let Some(coturn) = coturn else {
        return Vec::new();
    };
    let main = Coturn::addr(coturn.port);
    match path {
        Path::UdpBlocked(Turn::Tcp) => vec![format!("turn:{main}?transport=tcp")],
        Path::UdpBlocked(Turn::TlsOrTcp) => {
            let tls = Coturn::addr(coturn.tls_port.unwrap_or(coturn.port));
            vec![
                format!("turns:{tls}?transport=tcp"),
                format!("turn:{tls}?transport=tcp"),
            ]
        }
        Path::UdpBlocked(Turn::Udp) => vec![format!("turn:{main}?transport=udp")],
        _ => Vec::new(),
    }
}

/// One check in condition `c`: its outcome and a detail line (figures, or the error).
async fn run_once(
    setup: &Setup,
    c: &Condition,
    turn_urls: &[String],
    seed: u64,
) -> Result<(Outcome, String), String> {
    if c.path == Path::Unreachable {
        // A port that was free a moment ago: nothing listens there.
        let url = format!("http://127.0.0.1:{}", procs::free_port());
        let options = PreflightOptions {
            url,
            token: "no-server".into(),
        };
        // The browser needs a page to run in: a server of its own, which the check never asks.
        let pages = match &setup.browser {
            Some(root) => Some(Server::start(&setup.server_bin, &[], Some(root)).await?),
            None => None,
        };
        let page = pages.as_ref().map(|p| p.base.clone());
        let result = check(setup, options, page.as_deref()).await;
        if let Some(p) = pages {
            p.stop().await;
        }
        return Ok(result);
    }
    let gate = match c.path {
        Path::UdpBlocked(_) => Gate::OnlyFromPorts(TURN_RELAY_PORTS),
        _ => Gate::Open,
    };
    let relay = Arc::new(Relay::new(c.link, c.link, gate, seed));
    let server = Server::start(&setup.server_bin, turn_urls, setup.browser.as_deref()).await?;
    let token = server.preflight_token().await?;
    let proxy = proxy::start(server.base.clone(), Arc::clone(&relay))
        .await
        .map_err(|e| format!("proxy: {e}"))?;
    let options = PreflightOptions {
        url: proxy.url.clone(),
        token,
    };
    // Through the proxy, as the check's own requests, so the page is of the same origin.
    let page = proxy.url.clone();
    let (outcome, detail) = check(setup, options, Some(&page)).await;
    let detail = format!("{detail}\n        {}", relay.counts.line());
    drop(proxy);
    server.stop().await;
    Ok((outcome, detail))
}

/// Runs the check (natively, or in Chromium from `page` when the setup says so), bounded; a
/// failure or a timeout is the verdict `error`.
async fn check(setup: &Setup, options: PreflightOptions, page: Option<&str>) -> (Outcome, String) {
    let t0 = Instant::now();
    let result = match (&setup.browser, page) {
        (Some(_), Some(page)) => {
            tokio::time::timeout(setup.run_timeout, browser_check(page, &options)).await
        }
        _ => {
            let local = vec!["127.0.0.1:0".to_owned()];
            tokio::time::timeout(setup.run_timeout, async {
                preflight_on(options, local)
                    .await
                    .map(|r| (r.verdict, r.reasons, r.json))
                    .map_err(|e| format!("{e:?}"))
            })
            .await
        }
    };
    let duration = t0.elapsed();
    let error = |detail: String| {
        let outcome = Outcome {
            verdict: "error".into(),
            reasons: Vec::new(),
            duration,
        };
        (outcome, detail)
    };
    match result {
        Ok(Ok((verdict, reasons, json))) => {
            let outcome = Outcome {
                verdict,
                reasons,
                duration,
            };
            (outcome, format!("\n        {}", figures(&json)))
        }
        Ok(Err(e)) => error(format!("\n        check failed: {e}")),
        Err(_) => error(format!("\n        timed out after {:?}", setup.run_timeout)),
    }
}

/// The browser SDK's check in headless Chromium (`bench/browser/preflight-check.mjs`), in a
/// page of `page`'s origin: the verdict, the reasons and the report's JSON.
async fn browser_check(
    page: &str,
    options: &PreflightOptions,
) -> Result<(String, Vec<String>, String), String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../browser/preflight-check.mjs");
    let out = tokio::process::Command::new("node")
        .arg(&script)
        .args([page, &options.url, &options.token])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot start node {}: {e}", script.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(line).map_err(|_| {
        format!(
            "the browser check printed no result: {} {}",
            stdout.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })?;
    if let Some(e) = v["error"].as_str() {
        return Err(e.to_owned());
    }
    let report = &v["report"];
    let verdict = report["verdict"].as_str().unwrap_or("error").to_owned();
    let reasons = report["reasons"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok((verdict, reasons, report.to_string()))
}

/// The measured figures of a report's JSON, in one line.
fn figures(json: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return String::new();
    };
    let n = &v["network"];
    let r = &v["reachability"];
    format!(
        "rtt {} ms, jitter {} ms, loss {} %, up {} kbps{}, down {} kbps{}; udp {}, turn_udp {}, \
         turn_tls {}; incomplete {}",
        n["rtt_ms"],
        n["jitter_ms"],
        n["loss_pct"],
        v["upload_kbps"],
        bound(&v["upload_lower_bound"]),
        v["download_kbps"],
        bound(&v["download_lower_bound"]),
        r["udp"],
        r["turn_udp"],
        r["turn_tls"],
        v["incomplete"]
    )
}

/// A rate the check took as a lower bound only is marked `(≥)`.
fn bound(flag: &serde_json::Value) -> &'static str {
    if flag.as_bool() == Some(true) {
        " (≥)"
    } else {
        ""
    }
}
