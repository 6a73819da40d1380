//! `bench-signaling`: a load benchmark for `assistrtc-server` (run it with
//! `cargo xtask bench signaling [ARGS]`). It prints figures and asserts nothing.
//!
//! 1. Starts the server binary as a child process on 127.0.0.1:0 (its RSS is read from
//!    `/proc/<pid>/status`) and reads its `listening on` line.
//! 2. Creates `sessions / 2` rooms over REST and joins two WebSocket clients per room,
//!    a bounded number connecting at a time: sessions held, joins/s, server RSS per idle session.
//! 3. Relays timestamped `offer` frames from each room's `a` to its `b` at an even aggregate
//!    rate for a fixed time: send → receive latency percentiles, sent/received/lost.
//!
//! 4. Holds `--slowloris` slow-loris HTTP requests and `--idle-connections` WebSockets that
//!    never join, reopening each the server closes, while `--probe-joins` legitimate clients
//!    join one after another: join latency percentiles under attack and peak server RSS.
//!
//! Every phase has a deadline; the server is stopped when the bench ends, however it ends.
//! Latency is measured by the same process that generates the load, on the same cores as the
//! server, so it includes client-side scheduling delay.

mod attack;
mod limits;
mod pair;
mod rooms;
mod server;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, timeout, timeout_at};

use crate::pair::{Joined, PairReport, Plan, Shared};
use crate::server::ServerProcess;

/// Loopback-only secrets for the server under test.
const API_KEY: &str = "bench-api-key";
const JWT_SECRET: &str = "bench-jwt-secret-loopback-only";
/// The server allows 100 frames/s per connection (burst 200); stay well below.
const MAX_RATE_PER_CONNECTION: f64 = 90.0;
/// Longest room creation may take in all.
const ROOMS_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest the joins may take in all.
const JOINS_TIMEOUT: Duration = Duration::from_secs(120);
/// Pause before reading the idle RSS, so the server has handled everything.
const SETTLE: Duration = Duration::from_secs(2);
/// Delay between handing out plans and the first send.
const LEAD_IN: Duration = Duration::from_millis(500);
/// How long after the last scheduled send messages still count as received.
const DRAIN: Duration = Duration::from_secs(2);
/// Longest the pairs may take to report after the relay deadline.
const REPORT_GRACE: Duration = Duration::from_secs(10);
/// Longest the pairs may take to close their sockets.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Signaling load benchmark: sessions, join rate, server RSS per session, relay latency.
#[derive(Debug, Parser)]
#[command(name = "bench-signaling")]
struct Args {
    /// The `assistrtc-server` binary to start (cargo xtask passes target/release's).
    #[arg(long, value_name = "PATH")]
    server: PathBuf,
    /// WebSocket sessions to hold (two per room); scaled down if file limits can't fit them.
    #[arg(long, default_value_t = 10_000)]
    sessions: u64,
    /// Aggregate relayed messages per second during the latency run.
    #[arg(long, default_value_t = 5_000.0)]
    rate: f64,
    /// Length of the latency run, in seconds.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Pairs connecting and joining at a time.
    #[arg(long, default_value_t = 128)]
    connect_concurrency: usize,
    /// `POST /v1/rooms` requests in flight at a time.
    #[arg(long, default_value_t = 32)]
    rest_concurrency: usize,
    /// Slow-loris connections held during the attack phase (0 skips the phase with --idle-connections 0).
    #[arg(long, default_value_t = 1_000)]
    slowloris: usize,
    /// Never-joining WebSockets held during the attack phase.
    #[arg(long, default_value_t = 1_000)]
    idle_connections: usize,
    /// Legitimate joins measured under attack, one at a time.
    #[arg(long, default_value_t = 200)]
    probe_joins: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match bench(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-signaling: {e}");
            ExitCode::FAILURE
        }
    }
}

fn bench(mut args: Args) -> Result<(), String> {
    if !(args.rate > 0.0 && args.rate.is_finite()) {
        return Err("--rate must be a positive number".into());
    }
    if !(args.seconds > 0.0 && args.seconds <= 600.0) {
        return Err("--seconds must be in (0, 600]".into());
    }
    if args.connect_concurrency == 0 || args.rest_concurrency == 0 {
        return Err("concurrency must be at least 1".into());
    }
    println!("== signaling benchmark ==");
    args.sessions = limits::fit_sessions(args.sessions);
    if args.sessions < 2 {
        return Err("need at least 2 sessions (one room)".into());
    }
    check_rate(args.rate, args.sessions / 2)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let mut server = ServerProcess::start(&args.server, API_KEY, JWT_SECRET)?;
    println!(
        "server: {} (pid {}) on {}",
        args.server.display(),
        server.pid(),
        server.addr()
    );
    let deadline = ROOMS_TIMEOUT
        + JOINS_TIMEOUT
        + SETTLE
        + Duration::from_secs_f64(args.seconds)
        + LEAD_IN
        + DRAIN
        + REPORT_GRACE
        + CLOSE_GRACE
        + Duration::from_secs(10);
    let result = runtime.block_on(async {
        tokio::select! {
            result = timeout(deadline, run(&args, &mut server)) => {
                result.unwrap_or_else(|_| Err(format!("the bench did not finish within {deadline:?}")))
            }
            _ = tokio::signal::ctrl_c() => Err("interrupted".to_owned()),
        }
    });
    // Client sockets close before the server is stopped (its drop).
    runtime.shutdown_timeout(CLOSE_GRACE);
    drop(server);
    result
}

fn check_rate(rate: f64, pairs: u64) -> Result<(), String> {
    let per_connection = rate / pairs as f64;
    if per_connection > MAX_RATE_PER_CONNECTION {
        return Err(format!(
            "--rate {rate} over {pairs} sending connections is {per_connection:.1} frames/s each; \
             the server allows 100/s (burst 200) per connection. Use at least {} sessions or a \
             lower --rate",
            2 * (rate / MAX_RATE_PER_CONNECTION).ceil() as u64
        ));
    }
    Ok(())
}

async fn run(args: &Args, server: &mut ServerProcess) -> Result<(), String> {
    let pairs = usize::try_from(args.sessions / 2).map_err(|e| e.to_string())?;
    let rss_start = server.rss_kib()?;

    // Rooms.
    let started = Instant::now();
    let tokens = timeout(
        ROOMS_TIMEOUT,
        rooms::create_rooms(server.addr(), API_KEY, 0, pairs, args.rest_concurrency),
    )
    .await
    .map_err(|_| format!("creating {pairs} rooms took over {ROOMS_TIMEOUT:?}"))??;
    let took = started.elapsed().as_secs_f64();
    println!(
        "rooms: {pairs} created in {took:.2} s ({:.0} rooms/s, {} requests in flight)",
        pairs as f64 / took,
        args.rest_concurrency
    );
    let rss_rooms = server.rss_kib()?;

    // Sessions.
    let (joined_tx, mut joined_rx) = mpsc::channel::<Joined>(pairs);
    let (reports_tx, mut reports_rx) = mpsc::channel::<PairReport>(pairs);
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        url: format!("ws://{}/v1/signal", server.addr()),
        connect_permits: Semaphore::new(args.connect_concurrency),
        joined: joined_tx,
        reports: reports_tx,
        stop: stop_rx,
    });
    let mut starts: Vec<Option<oneshot::Sender<Plan>>> = Vec::with_capacity(pairs);
    let mut tasks = JoinSet::new();
    let started = Instant::now();
    for (i, tokens) in tokens.into_iter().enumerate() {
        let (start_tx, start_rx) = oneshot::channel();
        starts.push(Some(start_tx));
        tasks.spawn(pair::run(i, tokens, Arc::clone(&shared), start_rx));
    }
    drop(shared);
    let mut live = Vec::with_capacity(pairs);
    let (mut answered, mut failed, mut first_failure) = (0, 0, None);
    let joins_deadline = started + JOINS_TIMEOUT;
    let mut join_secs = 0.0;
    while answered < pairs {
        let Ok(Some(joined)) = timeout_at(joins_deadline, joined_rx.recv()).await else {
            println!("joins: stopped waiting after {JOINS_TIMEOUT:?}");
            break;
        };
        answered += 1;
        join_secs = started.elapsed().as_secs_f64();
        match joined.result {
            Ok(()) => live.push(joined.pair),
            Err(e) => {
                failed += 1;
                first_failure.get_or_insert(e);
            }
        }
        if answered % (pairs / 5).max(1) == 0 {
            eprintln!("  … {answered}/{pairs} pairs answered");
        }
    }
    let held = 2 * live.len() as u64;
    println!(
        "sessions held: {held} of {} ({} pairs joined, {failed} failed, {} unanswered)",
        args.sessions,
        live.len(),
        pairs - answered
    );
    if let Some(e) = first_failure {
        println!("  first join failure: {e}");
    }
    println!(
        "join rate: {:.0} joins/s ({held} sessions in {join_secs:.2} s, {} pairs connecting at a time)",
        held as f64 / join_secs.max(f64::EPSILON),
        args.connect_concurrency
    );
    if let Some(status) = server.exited() {
        return Err(format!("the server exited during the joins ({status})"));
    }

    // Idle memory.
    sleep(SETTLE).await;
    let rss_idle = server.rss_kib()?;
    print_memory(rss_start, rss_rooms, rss_idle, pairs as u64, held);

    // Relay.
    if live.is_empty() {
        return Err("no pair joined; nothing to relay".into());
    }
    live.sort_unstable();
    let live_pairs = live.len() as u64;
    check_rate(args.rate, live_pairs)?;
    let total = (args.rate * args.seconds).round() as u64;
    let t0 = Instant::now() + LEAD_IN;
    let relay_deadline = t0 + Duration::from_secs_f64(args.seconds) + DRAIN;
    for (slot, &i) in live.iter().enumerate() {
        let plan = Plan {
            t0,
            rate: args.rate,
            total,
            live: live_pairs,
            slot: slot as u64,
            deadline: relay_deadline,
        };
        if let Some(start) = starts[i].take() {
            let _ = start.send(plan);
        }
    }
    drop(starts);
    println!(
        "relay: `offer` a→b, {} msgs/s for {} s over {live_pairs} pairs ({:.2} msgs/s per sending connection)",
        args.rate,
        args.seconds,
        args.rate / live_pairs as f64
    );
    let mut reports = Vec::with_capacity(live.len());
    while reports.len() < live.len() {
        match timeout_at(relay_deadline + REPORT_GRACE, reports_rx.recv()).await {
            Ok(Some(report)) => reports.push(report),
            Ok(None) => break,
            Err(_) => {
                println!(
                    "  stopped waiting for reports: {} of {} arrived",
                    reports.len(),
                    live.len()
                );
                break;
            }
        }
    }
    print_relay(&reports, total);
    let rss_after = server.rss_kib()?;
    println!("server RSS after the relay: {rss_after} KiB");
    if let Some(status) = server.exited() {
        println!("the server exited during the relay ({status})");
    }

    if args.slowloris + args.idle_connections > 0 {
        under_attack(args, server, pairs).await?;
    }

    // Close.
    let _ = stop_tx.send(true);
    let closed = timeout(CLOSE_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if closed.is_err() {
        println!(
            "  {} pairs still closing after {CLOSE_GRACE:?}; aborting them",
            tasks.len()
        );
        tasks.abort_all();
    }
    Ok(())
}

/// Let the attackers open their connections before the first probe.
const ATTACK_RAMP: Duration = Duration::from_secs(3);
/// Longest the probe joins may take in all.
const PROBES_TIMEOUT: Duration = Duration::from_secs(120);

/// Phase 4: legitimate joins while attackers hold their connections.
async fn under_attack(args: &Args, server: &mut ServerProcess, first: usize) -> Result<(), String> {
    let probes = args.probe_joins.max(1);
    let tokens = timeout(
        ROOMS_TIMEOUT,
        rooms::create_rooms(server.addr(), API_KEY, first, probes, args.rest_concurrency),
    )
    .await
    .map_err(|_| "creating the probe rooms timed out".to_owned())??;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (stats, mut attackers) = attack::start(
        server.addr(),
        args.slowloris,
        args.idle_connections,
        stop_rx,
    );
    sleep(ATTACK_RAMP).await;
    let url = format!("ws://{}/v1/signal", server.addr());
    let mut peak = server.rss_kib()?;
    let mut latencies = Vec::with_capacity(probes);
    let mut failures = 0;
    let deadline = Instant::now() + PROBES_TIMEOUT;
    let mut held = Vec::with_capacity(probes);
    for t in &tokens {
        if Instant::now() > deadline {
            break;
        }
        let started = Instant::now();
        match pair::join(&url, &t.a).await {
            Ok(ws) => {
                latencies.push(started.elapsed().as_nanos() as u64);
                held.push(ws);
            }
            Err(_) => failures += 1,
        }
        peak = peak.max(server.rss_kib()?);
    }
    let opened = stats.opened.load(std::sync::atomic::Ordering::Relaxed);
    let closed = stats
        .closed_by_server
        .load(std::sync::atomic::Ordering::Relaxed);
    let _ = stop_tx.send(true);
    let _ = timeout(CLOSE_GRACE, async {
        while attackers.join_next().await.is_some() {}
    })
    .await;
    attackers.abort_all();
    drop(held);
    latencies.sort_unstable();
    println!(
        "under attack: {} slow-loris + {} never-joining connections held ({opened} opened, {closed} closed by the server)",
        args.slowloris, args.idle_connections
    );
    println!(
        "  legitimate joins: {} ok, {failures} failed; latency (ms) {}",
        latencies.len(),
        summary(&latencies)
    );
    println!("  peak server RSS: {peak} KiB");
    if let Some(status) = server.exited() {
        return Err(format!("the server exited under attack ({status})"));
    }
    Ok(())
}

fn print_memory(start: u64, rooms: u64, idle: u64, pairs: u64, held: u64) {
    println!(
        "server RSS: {start} KiB at start, {rooms} KiB with {pairs} rooms, {idle} KiB with {held} idle sessions"
    );
    if held > 0 {
        let per = |kib: u64| kib as f64 / held as f64;
        println!(
            "server RSS per idle session: {:.1} KiB (rooms {:.1} + connections {:.1}; (idle - start) / sessions)",
            per(idle.saturating_sub(start)),
            per(rooms.saturating_sub(start)),
            per(idle.saturating_sub(rooms)),
        );
    }
    if let Ok(own) = server::rss_kib("self") {
        println!("bench client RSS: {own} KiB (for scale; not part of the figures)");
    }
}

fn print_relay(reports: &[PairReport], total: u64) {
    let sum = |f: fn(&PairReport) -> u64| reports.iter().map(f).sum::<u64>();
    let (scheduled, sent, received) = (sum(|r| r.scheduled), sum(|r| r.sent), sum(|r| r.received));
    let mut latencies: Vec<u64> = reports
        .iter()
        .flat_map(|r| r.latencies_ns.iter().copied())
        .collect();
    let mut lags: Vec<u64> = reports
        .iter()
        .flat_map(|r| r.send_lag_ns.iter().copied())
        .collect();
    latencies.sort_unstable();
    lags.sort_unstable();
    println!(
        "  messages: {total} planned, {scheduled} scheduled to live pairs, {sent} sent, {received} received, {} lost (sent, not received within {DRAIN:?} of the end)",
        sent.saturating_sub(received)
    );
    let first = reports.iter().filter_map(|r| r.first_send_ns).min();
    let last = reports.iter().filter_map(|r| r.last_send_ns).max();
    if let (Some(first), Some(last)) = (first, last)
        && last > first
        && sent > 1
    {
        let secs = (last - first) as f64 / 1e9;
        println!(
            "  achieved send rate: {:.0} msgs/s over {secs:.2} s",
            (sent - 1) as f64 / secs
        );
    }
    println!("  latency send→receive (ms): {}", summary(&latencies));
    println!("  send lag behind schedule (ms): {}", summary(&lags));
    let errors = sum(|r| r.server_errors);
    let unexpected = sum(|r| r.unexpected);
    let broken: Vec<&str> = reports
        .iter()
        .filter_map(|r| r.failure.as_deref())
        .collect();
    println!(
        "  server errors: {errors}, unexpected frames: {unexpected}, pairs with a broken socket: {}",
        broken.len()
    );
    if let Some(e) = reports.iter().find_map(|r| r.first_server_error.as_deref()) {
        println!("  first server error: {e}");
    }
    if let Some(e) = broken.first() {
        println!("  first broken socket: {e}");
    }
}

/// `p50 … p90 … p99 … p99.9 … max …` in milliseconds, from sorted nanoseconds.
fn summary(sorted: &[u64]) -> String {
    let Some(&max) = sorted.last() else {
        return "no samples".to_owned();
    };
    let ms = |ns: u64| ns as f64 / 1e6;
    let pct = |p: f64| {
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    };
    format!(
        "p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  (n = {})",
        ms(pct(50.0)),
        ms(pct(90.0)),
        ms(pct(99.0)),
        ms(pct(99.9)),
        ms(max),
        sorted.len()
    )
}
