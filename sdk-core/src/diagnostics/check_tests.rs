//! The check against a simulated probe server and links on virtual time.

use super::*;
use crate::diagnostics::probe::Spread;
use crate::diagnostics::{LOSS_FAIR_PCT as LOSS_FAIR, Reason, Verdict, assess};

fn servers(turn: &[&str]) -> Vec<IceServer> {
    let mut v = vec![IceServer {
        urls: vec!["stun:127.0.0.1:3478".into()],
        username: None,
        credential: None,
    }];
    if !turn.is_empty() {
        v.push(IceServer {
            urls: turn.iter().map(|u| u.to_string()).collect(),
            username: Some("1700000000:pf".into()),
            credential: Some("secret".into()),
        });
    }
    v
}

/// One direction of the link: one-way delay, an optional rate cap (and the longest its
/// drop-tail buffer holds a packet, ms), every n-th packet dropped.
#[derive(Clone, Copy)]
struct Link {
    delay_ms: u64,
    rate_kbps: Option<f64>,
    buffer_ms: Option<f64>,
    drop_every: Option<u32>,
}

impl Link {
    const CLEAN: Link = Link {
        delay_ms: 10,
        rate_kbps: None,
        buffer_ms: None,
        drop_every: None,
    };
}

#[derive(Default)]
struct LinkState {
    free_at: f64,
    count: u32,
}

enum Msg {
    Bin(Vec<u8>),
    Text(String),
}

enum Event {
    ToServer(Msg),
    ToClient(Msg),
    Opened(Path),
}

/// When each path opens after it is asked for; `None`: never.
struct Scenario {
    direct_opens_ms: Option<u64>,
    relay_opens_ms: Option<u64>,
    up: Link,
    down: Link,
    server_answers: bool,
    /// The first of each command is lost on the way (the channel does not retransmit).
    lose_first_commands: bool,
}

impl Scenario {
    fn clean() -> Self {
        Self {
            direct_opens_ms: Some(60),
            relay_opens_ms: Some(90),
            up: Link::CLEAN,
            down: Link::CLEAN,
            server_answers: true,
            lose_first_commands: false,
        }
    }
}

struct Run {
    m: Measurements,
    closed: Vec<Path>,
    opened: Vec<Action>,
    progress: Vec<Step>,
    ended_at: Millis,
    probe_path: Option<Path>,
}

fn send(
    queue: &mut Vec<(u64, u64, Event)>,
    seq: &mut u64,
    link: &Link,
    state: &mut LinkState,
    now: Millis,
    bytes: usize,
    ev: Event,
) {
    state.count += 1;
    if let (Some(n), Event::ToServer(Msg::Bin(_)) | Event::ToClient(Msg::Bin(_))) =
        (link.drop_every, &ev)
        && state.count % n == 0
    {
        return;
    }
    let mut at = now.0 as f64;
    if let Some(rate) = link.rate_kbps {
        let start = at.max(state.free_at);
        if link.buffer_ms.is_some_and(|b| start - at > b) {
            return;
        }
        state.free_at = start + bytes as f64 * 8.0 / rate;
        at = state.free_at;
    }
    *seq += 1;
    queue.push((at.ceil() as u64 + link.delay_ms, *seq, ev));
}

fn upload_json(r: &crate::diagnostics::probe::TrainResult) -> String {
    let spread = |s: Option<Spread>| {
        s.map_or("null".to_owned(), |s| {
            format!(r#"{{"min":{},"avg":{},"max":{}}}"#, s.min, s.avg, s.max)
        })
    };
    let kbps = r
        .throughput_kbps
        .map_or("null".to_owned(), |k| k.to_string());
    format!(
        r#"{{"type":"upload","received":{},"lossPct":{},"jitterMs":{},"throughputKbps":{kbps}}}"#,
        r.received,
        r.loss_pct,
        spread(r.jitter)
    )
}

fn run(ice: &[IceServer], s: Scenario) -> Run {
    let mut check = Check::new(Millis(0));
    let mut now = Millis(30);
    check.configured(now, ice);
    let mut queue: Vec<(u64, u64, Event)> = Vec::new();
    let mut seq = 0;
    let (mut up, mut down) = (LinkState::default(), LinkState::default());
    let mut server_rx = TrainReceiver::new();
    let mut server_tx: Option<(TrainSender, bool)> = None;
    let mut lost: Vec<&'static str> = Vec::new();
    let mut out = Run {
        m: Measurements::default(),
        closed: vec![],
        opened: vec![],
        progress: vec![],
        ended_at: Millis(0),
        probe_path: None,
    };
    for _ in 0..200_000 {
        while let Some(a) = check.poll_action() {
            match a {
                Action::OpenPath { path, .. } => {
                    let opens = match path {
                        Path::Direct => s.direct_opens_ms,
                        Path::Relay => s.relay_opens_ms,
                    };
                    if let Some(ms) = opens {
                        seq += 1;
                        queue.push((now.0 + ms, seq, Event::Opened(path)));
                    }
                    out.opened.push(a);
                }
                Action::ClosePath(p) => out.closed.push(p),
                Action::Progress(step) => out.progress.push(step),
                Action::Send(path, Payload::Binary(b)) => {
                    out.probe_path = Some(path);
                    let n = b.len();
                    send(
                        &mut queue,
                        &mut seq,
                        &s.up,
                        &mut up,
                        now,
                        n,
                        Event::ToServer(Msg::Bin(b)),
                    );
                }
                Action::Send(_, Payload::Text(t)) => {
                    if s.lose_first_commands && !lost.contains(&t) {
                        lost.push(t);
                        continue;
                    }
                    let ev = Event::ToServer(Msg::Text(t.into()));
                    send(&mut queue, &mut seq, &s.up, &mut up, now, t.len(), ev);
                }
            }
        }
        if check.is_finished() {
            out.ended_at = now;
            out.m = check.into_measurements();
            return out;
        }
        if let Some((tx, announced)) = server_tx.as_mut() {
            while let Some(p) = tx.poll_transmit(now) {
                let n = p.len();
                send(
                    &mut queue,
                    &mut seq,
                    &s.down,
                    &mut down,
                    now,
                    n,
                    Event::ToClient(Msg::Bin(p)),
                );
            }
            if tx.is_done(now) && !*announced {
                *announced = true;
                let ev = Event::ToClient(Msg::Text(r#"{"type":"downloadDone"}"#.into()));
                send(&mut queue, &mut seq, &s.down, &mut down, now, 20, ev);
            }
        }
        let server_wake = server_tx
            .as_ref()
            .filter(|(_, announced)| !announced)
            .and_then(|(tx, _)| tx.poll_timeout().or(Some(now)));
        queue.sort_by_key(|e| (e.0, e.1));
        let next = [
            check.poll_timeout(),
            queue.first().map(|e| Millis(e.0)),
            server_wake,
        ]
        .into_iter()
        .flatten()
        .min()
        .expect("the check waits on nothing");
        now = now.max(next);
        while queue.first().is_some_and(|e| e.0 <= now.0) {
            let (_, _, ev) = queue.remove(0);
            match ev {
                Event::Opened(p) => {
                    check.path_connected(p, now);
                    check.path_open(p, now, None);
                }
                Event::ToServer(Msg::Bin(b)) => {
                    if let Some(echo) = server_rx.on_packet(&b, now) {
                        let ev = Event::ToClient(Msg::Bin(echo));
                        send(&mut queue, &mut seq, &s.down, &mut down, now, 12, ev);
                    }
                }
                Event::ToServer(Msg::Text(t)) if !s.server_answers => drop(t),
                Event::ToServer(Msg::Text(t)) if t == "reset" => {
                    server_rx = TrainReceiver::new();
                    let ev = Event::ToClient(Msg::Text(r#"{"type":"reset"}"#.into()));
                    send(&mut queue, &mut seq, &s.down, &mut down, now, 20, ev);
                }
                Event::ToServer(Msg::Text(t)) if t == "result" => {
                    let ev = Event::ToClient(Msg::Text(upload_json(&server_rx.result())));
                    send(&mut queue, &mut seq, &s.down, &mut down, now, 100, ev);
                }
                Event::ToServer(Msg::Text(_)) => {
                    server_tx = Some((TrainSender::new(ProbeConfig::default()), false));
                }
                Event::ToClient(Msg::Bin(b)) => {
                    let path = out.probe_path.unwrap_or(Path::Direct);
                    check.on_binary(path, &b, now);
                }
                Event::ToClient(Msg::Text(t)) => {
                    let path = out.probe_path.unwrap_or(Path::Direct);
                    check.on_text(path, &t, now);
                }
            }
        }
        if check.poll_timeout().is_some_and(|t| t <= now) {
            check.handle_timeout(now);
        }
    }
    panic!("the check never finished");
}

fn judged(m: &Measurements) -> (Verdict, Vec<Reason>) {
    let r = assess(m);
    (r.verdict, r.reasons)
}

#[test]
fn a_clean_network_is_measured_on_the_direct_path_and_the_relay_is_closed() {
    let r = run(&servers(&["turn:127.0.0.1:3478"]), Scenario::clean());
    assert_eq!(r.probe_path, Some(Path::Direct));
    let n = r.m.network.expect("network stats");
    assert!((19.0..=23.0).contains(&n.rtt_ms), "rtt {}", n.rtt_ms);
    assert_eq!(n.loss_pct, 0.0);
    assert!(r.m.upload_kbps.unwrap() > 2_000.0 && r.m.download_kbps.unwrap() > 2_000.0);
    assert_eq!(r.m.reachability.udp, PathResult::Reachable);
    assert_eq!(r.m.reachability.turn_udp, PathResult::Reachable);
    assert_eq!(r.m.server_ms, Some(30));
    assert_eq!(r.m.dtls_ms, Some(90));
    assert!(r.m.first_media_ms.is_some());
    // The relay is closed as soon as it opened (it must not share the line), the direct path
    // when the probe is over.
    assert_eq!(r.closed, vec![Path::Relay, Path::Direct]);
    assert_eq!(
        r.progress,
        vec![Step::Signaling, Step::Network, Step::Bandwidth]
    );
    assert!(r.m.incomplete.is_empty());
    assert_eq!(judged(&r.m), (Verdict::Good, vec![]));
    assert!(r.ended_at.0 < 4_000, "took {:?}", r.ended_at);
}

#[test]
fn each_path_gets_only_its_own_ice_servers() {
    let r = run(
        &servers(&["turn:127.0.0.1:3478", "turns:t.example:5349"]),
        Scenario::clean(),
    );
    let [
        Action::OpenPath {
            path: Path::Direct,
            ice_servers: direct,
            relay_only: false,
        },
        Action::OpenPath {
            path: Path::Relay,
            ice_servers: relay,
            relay_only: true,
        },
    ] = &r.opened[..]
    else {
        panic!("{:?}", r.opened);
    };
    assert_eq!(direct.len(), 1);
    assert_eq!(direct[0].urls, ["stun:127.0.0.1:3478"]);
    assert_eq!(relay[0].urls.len(), 2);
    assert_eq!(relay[0].credential.as_deref(), Some("secret"));
}

#[test]
fn loss_rtt_and_a_rate_cap_come_through_to_the_measurements() {
    let lossy = Link {
        delay_ms: 80,
        rate_kbps: Some(500.0),
        buffer_ms: None,
        drop_every: Some(10),
    };
    let mut s = Scenario::clean();
    s.up = lossy;
    s.down = Link {
        drop_every: None,
        ..lossy
    };
    let r = run(&servers(&[]), s);
    let n = r.m.network.unwrap();
    assert!((9.0..=11.0).contains(&n.loss_pct), "loss {}", n.loss_pct);
    assert!(n.rtt_ms >= 160.0, "rtt {}", n.rtt_ms);
    let up = r.m.upload_kbps.unwrap();
    let down = r.m.download_kbps.unwrap();
    // The upload train loses a tenth of its packets, so its dispersion covers fewer bytes.
    assert!((430.0..=520.0).contains(&up), "up {up}");
    assert!((480.0..=520.0).contains(&down), "down {down}");
    let (verdict, reasons) = judged(&r.m);
    assert_eq!(verdict, Verdict::Poor);
    assert!(reasons.contains(&Reason::PacketLoss) && reasons.contains(&Reason::HighRtt));
    assert!(reasons.contains(&Reason::LowUpload) && reasons.contains(&Reason::LowDownload));
}

#[test]
fn blocked_udp_is_probed_over_the_relay_and_judged_fair() {
    let mut s = Scenario::clean();
    s.direct_opens_ms = None;
    s.relay_opens_ms = Some(300);
    let r = run(&servers(&["turn:127.0.0.1:3478?transport=tcp"]), s);
    assert_eq!(r.probe_path, Some(Path::Relay));
    assert_eq!(r.m.reachability.udp, PathResult::Unreachable);
    assert_eq!(r.m.reachability.turn_tls, PathResult::Reachable);
    assert!(r.m.upload_kbps.is_some() && r.m.download_kbps.is_some());
    assert_eq!(judged(&r.m), (Verdict::Fair, vec![Reason::UdpBlocked]));
    // The direct path is given its full time, and no more.
    assert_eq!(r.ended_at, Millis(30 + PATH_TIMEOUT_MS));
}

#[test]
fn a_relay_that_opens_first_waits_its_grace_for_the_direct_path() {
    let mut s = Scenario::clean();
    s.direct_opens_ms = Some(1_000);
    s.relay_opens_ms = Some(100);
    let r = run(&servers(&["turn:127.0.0.1:3478"]), s);
    assert_eq!(r.probe_path, Some(Path::Direct));
    assert_eq!(judged(&r.m), (Verdict::Good, vec![]));
}

#[test]
fn no_path_and_no_relay_is_no_media_path_after_the_path_timeout() {
    let mut s = Scenario::clean();
    s.direct_opens_ms = None;
    let r = run(&servers(&[]), s);
    assert_eq!(r.m.reachability.udp, PathResult::Unreachable);
    assert_eq!(r.closed, vec![Path::Direct]);
    assert_eq!(judged(&r.m), (Verdict::Poor, vec![Reason::NoMediaPath]));
    assert_eq!(r.ended_at, Millis(30 + PATH_TIMEOUT_MS));
}

#[test]
fn a_relay_that_fails_too_is_no_media_path() {
    let mut s = Scenario::clean();
    s.direct_opens_ms = None;
    s.relay_opens_ms = None;
    let r = run(&servers(&["turn:127.0.0.1:3478?transport=tcp"]), s);
    assert_eq!(r.m.reachability.turn_tls, PathResult::Unreachable);
    assert_eq!(judged(&r.m).1, vec![Reason::NoMediaPath]);
}

#[test]
fn an_unreachable_server_ends_the_check_at_once() {
    let mut check = Check::new(Millis(0));
    check.unreachable(Millis(20));
    assert_eq!(check.poll_action(), Some(Action::Progress(Step::Signaling)));
    assert!(check.is_finished());
    assert_eq!(check.poll_timeout(), None);
    let (verdict, reasons) = judged(check.measurements());
    assert_eq!(
        (verdict, reasons),
        (Verdict::Poor, vec![Reason::ServerUnreachable])
    );
}

#[test]
fn a_silent_server_leaves_bandwidth_incomplete_within_the_deadlines() {
    let mut s = Scenario::clean();
    s.server_answers = false;
    let r = run(&servers(&[]), s);
    assert_eq!(r.m.incomplete, vec![Step::Bandwidth]);
    assert_eq!(r.m.network, None);
    let report = assess(&r.m);
    assert!(report.partial);
    assert_eq!(report.reasons, vec![Reason::Incomplete]);
    assert!(r.ended_at.0 <= 30 + 60 + PING_TIMEOUT_MS + 2 * REPLY_TIMEOUT_MS + TRAIN_TIMEOUT_MS);
}

#[test]
fn the_probe_path_failing_mid_train_ends_the_check_partial() {
    let mut check = Check::new(Millis(0));
    check.configured(Millis(10), &servers(&[]));
    check.path_open(Path::Direct, Millis(50), None);
    let mut sent = 0;
    while let Some(a) = check.poll_action() {
        sent += usize::from(matches!(a, Action::Send(..)));
    }
    assert!(sent > 0, "the train starts as the path opens");
    check.path_failed(Path::Direct, Millis(60));
    assert!(check.is_finished());
    assert_eq!(check.measurements().incomplete, vec![Step::Bandwidth]);
    // The path opened, so it is reachable: the failure was later.
    assert_eq!(check.measurements().reachability.udp, PathResult::Reachable);
}

#[test]
fn garbage_on_the_channel_is_ignored() {
    let mut check = Check::new(Millis(0));
    check.configured(Millis(10), &servers(&[]));
    check.path_open(Path::Direct, Millis(50), None);
    for text in [
        "",
        "{",
        "[1]",
        r#"{"type":5}"#,
        r#"{"type":"upload","lossPct":"x"}"#,
    ] {
        check.on_text(Path::Direct, text, Millis(60));
    }
    check.on_binary(Path::Direct, &[1, 2], Millis(60));
    check.on_binary(Path::Relay, &[0; 12], Millis(60));
    check.on_text(Path::Relay, r#"{"type":"downloadDone"}"#, Millis(60));
    assert!(!check.is_finished());
    assert_eq!(check.measurements().network, None);
}

#[test]
fn abort_closes_everything_and_marks_what_did_not_finish() {
    let mut check = Check::new(Millis(0));
    check.abort(Millis(5));
    while check.poll_action().is_some() {}
    assert!(check.is_finished());
    assert_eq!(check.measurements().incomplete, vec![Step::Signaling]);

    let mut check = Check::new(Millis(0));
    check.configured(Millis(10), &servers(&["turn:127.0.0.1:3478"]));
    while check.poll_action().is_some() {}
    check.abort(Millis(100));
    let mut closed = vec![];
    while let Some(a) = check.poll_action() {
        if let Action::ClosePath(p) = a {
            closed.push(p);
        }
    }
    assert_eq!(closed, vec![Path::Direct, Path::Relay]);
    assert!(check.is_finished());
    assert_eq!(check.measurements().incomplete, vec![Step::Network]);
}

#[test]
fn relay_transports_are_read_from_urls() {
    use RelayTransport::*;
    assert_eq!(RelayTransport::of_url("turn:h:3478"), Some(Udp));
    assert_eq!(
        RelayTransport::of_url("TURN:h:3478?transport=tcp"),
        Some(Tcp)
    );
    assert_eq!(
        RelayTransport::of_url("turns:h:5349?transport=tcp"),
        Some(Tls)
    );
    assert_eq!(RelayTransport::of_url("stun:h:3478"), None);
}

#[test]
fn the_config_is_read_with_the_wire_shape_of_ice_servers() {
    let text = r#"{"ice_servers":[{"urls":["stun:a:1"]},{"urls":["turn:a:1"],"username":"u","credential":"c"}]}"#;
    let servers = config_ice_servers(text).unwrap();
    assert_eq!(servers.len(), 2);
    assert_eq!(servers[1].username.as_deref(), Some("u"));
    assert_eq!(config_ice_servers("{}").unwrap(), vec![]);
    assert!(config_ice_servers(r#"{"ice_servers":[{"urls":5}]}"#).is_err());
    assert!(config_ice_servers("nope").is_err());
}

#[test]
fn a_relay_of_unknown_transport_is_credited_from_the_direct_path() {
    let mixed = ["turn:h:3478", "turn:h:3478?transport=tcp"];
    // Direct UDP works: the relay went over UDP too.
    let r = run(&servers(&mixed), Scenario::clean());
    assert_eq!(r.m.reachability.turn_udp, PathResult::Reachable);
    assert_eq!(r.m.reachability.turn_tls, PathResult::NotTested);
    // UDP blocked: it got through over TCP.
    let mut s = Scenario::clean();
    s.direct_opens_ms = None;
    let r = run(&servers(&mixed), s);
    assert_eq!(r.m.reachability.turn_tls, PathResult::Reachable);
    assert_eq!(r.m.reachability.turn_udp, PathResult::NotTested);
    assert_eq!(judged(&r.m), (Verdict::Fair, vec![Reason::UdpBlocked]));
    // The platform's word wins.
    let mut check = Check::new(Millis(0));
    check.configured(Millis(1), &servers(&mixed));
    check.path_open(Path::Relay, Millis(5), Some(RelayTransport::Tls));
    assert_eq!(
        check.measurements().reachability.turn_tls,
        PathResult::Reachable
    );
}

#[test]
fn lost_commands_are_sent_again_until_answered() {
    let mut s = Scenario::clean();
    s.lose_first_commands = true;
    let r = run(&servers(&[]), s);
    assert!(r.m.incomplete.is_empty(), "{:?}", r.m.incomplete);
    assert!(r.m.network.is_some() && r.m.upload_kbps.is_some() && r.m.download_kbps.is_some());
    assert_eq!(judged(&r.m), (Verdict::Good, vec![]));
}

#[test]
fn a_cap_with_a_small_buffer_reads_as_low_bandwidth_not_loss() {
    for (kbps, verdict) in [(300.0, Verdict::Poor), (500.0, Verdict::Fair)] {
        let capped = Link {
            rate_kbps: Some(kbps),
            buffer_ms: Some(200.0),
            ..Link::CLEAN
        };
        let mut s = Scenario::clean();
        (s.up, s.down) = (capped, capped);
        let r = run(&servers(&[]), s);
        let n = r.m.network.unwrap();
        assert!(n.loss_pct < LOSS_FAIR, "{kbps} kbps: loss {}", n.loss_pct);
        assert!(!r.m.upload_lower_bound && !r.m.download_lower_bound);
        assert_eq!(
            judged(&r.m),
            (verdict, vec![Reason::LowUpload, Reason::LowDownload]),
            "{kbps} kbps: {:?}",
            r.m
        );
    }
}

#[test]
fn a_long_round_trip_the_train_cannot_fill_is_only_a_lower_bound() {
    for (one_way, verdict) in [(75, Verdict::Fair), (150, Verdict::Poor)] {
        let far = Link {
            delay_ms: one_way,
            ..Link::CLEAN
        };
        let mut s = Scenario::clean();
        (s.up, s.down) = (far, far);
        let r = run(&servers(&[]), s);
        let rtt = r.m.network.unwrap().rtt_ms;
        assert!((rtt - 2.0 * one_way as f64).abs() < 5.0, "rtt {rtt}");
        assert_eq!(judged(&r.m), (verdict, vec![Reason::HighRtt]), "{:?}", r.m);
    }
}
