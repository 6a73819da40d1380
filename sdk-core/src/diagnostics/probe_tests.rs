//! The probe trains on simulated links: pacing, the window, rates, loss, round trips.

use super::*;

/// A simulated bottleneck: `capacity_kbps`, one-way `delay_ms`, deterministic loss of one
/// packet in `loss_every` (0: none), and a jitter pattern added to the delay.
struct Link {
    capacity_kbps: f64,
    delay_ms: f64,
    loss_every: u32,
    jitter_ms: f64,
    /// When the bottleneck is free again, ms (fractional).
    busy_until: f64,
    n: u32,
}

impl Link {
    fn new(capacity_kbps: f64, delay_ms: f64, loss_every: u32, jitter_ms: f64) -> Self {
        Self {
            capacity_kbps,
            delay_ms,
            loss_every,
            jitter_ms,
            busy_until: 0.0,
            n: 0,
        }
    }

    /// When a packet of `bytes` sent at `at` arrives, or `None` when lost.
    fn carry(&mut self, bytes: usize, at: f64) -> Option<f64> {
        self.n += 1;
        let start = at.max(self.busy_until);
        self.busy_until = start + bytes as f64 * 8.0 / self.capacity_kbps;
        if self.loss_every > 0 && self.n % self.loss_every == 0 {
            return None;
        }
        let wobble = if self.n % 2 == 0 { self.jitter_ms } else { 0.0 };
        Some(self.busy_until + self.delay_ms + wobble)
    }
}

/// Runs a default train over `link` (and echoes back over a clean path with the same
/// delay); returns the sender and the receiver's result.
fn run(mut link: Link) -> (TrainSender, TrainResult) {
    let mut sender = TrainSender::new(ProbeConfig::default());
    let mut receiver = TrainReceiver::new();
    let mut arrivals: Vec<(f64, Vec<u8>)> = Vec::new();
    let mut now = Millis(1_000);
    let delay = link.delay_ms;
    loop {
        while let Some(p) = sender.poll_transmit(now) {
            if let Some(at) = link.carry(p.len(), now.0 as f64) {
                arrivals.push((at, p));
            }
        }
        let Some(next) = sender.poll_timeout() else {
            break;
        };
        if now >= next && sender.is_done(now) {
            break;
        }
        now = next.max(now.after(1));
    }
    arrivals.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (at, p) in &arrivals {
        let echo = receiver.on_packet(p, Millis(*at as u64)).unwrap();
        sender.on_echo(&echo, Millis((*at + delay) as u64));
    }
    (sender, receiver.result())
}

#[test]
fn throughput_is_the_bottleneck_not_the_pacing_rate() {
    for capacity in [300.0, 500.0, 1_100.0, 2_500.0] {
        let (_, r) = run(Link::new(capacity, 20.0, 0, 0.0));
        let got = r.throughput_kbps.unwrap();
        assert!(
            (got - capacity).abs() / capacity < 0.05,
            "capacity {capacity} kbps measured as {got}"
        );
        assert_eq!(r.loss_pct, 0.0);
    }
}

#[test]
fn loss_rtt_and_jitter_are_measured() {
    let (sender, r) = run(Link::new(8_000.0, 75.0, 10, 0.0));
    assert!((r.loss_pct - 10.0).abs() < 1.0, "loss {}", r.loss_pct);
    let rtt = sender.rtt().unwrap();
    assert!(rtt.min >= 150.0 && rtt.avg < 160.0, "rtt {rtt:?}");
    assert_eq!(sender.counts().0, ProbeConfig::default().packets);

    let (_, clean) = run(Link::new(8_000.0, 20.0, 0, 0.0));
    let (_, wobbly) = run(Link::new(8_000.0, 20.0, 0, 40.0));
    assert!(clean.jitter.unwrap().avg < 2.0);
    assert!(
        wobbly.jitter.unwrap().avg > 20.0,
        "jitter {:?}",
        wobbly.jitter
    );
}

#[test]
fn packets_are_paced_at_the_configured_rate() {
    let mut sender = TrainSender::new(ProbeConfig {
        packets: 10,
        packet_bytes: 1_000,
        rate_kbps: 800,
        linger_ms: 100,
    });
    // 8,000 bits at 800 kbps: one packet every 10 ms.
    assert!(sender.poll_transmit(Millis(0)).is_some());
    assert!(sender.poll_transmit(Millis(9)).is_none());
    assert_eq!(sender.poll_timeout(), Some(Millis(10)));
    assert!(sender.poll_transmit(Millis(10)).is_some());
    let mut now = Millis(10);
    while let Some(t) = sender.poll_timeout() {
        if sender.is_done(t) {
            break;
        }
        now = t;
        let _ = sender.poll_transmit(now);
    }
    assert_eq!(sender.counts(), (10, 0));
    assert!(sender.is_done(now.after(100)));
}

#[test]
fn garbage_duplicates_and_absurd_numbers_are_ignored() {
    let mut r = TrainReceiver::new();
    assert!(r.on_packet(&[1, 2, 3], Millis(0)).is_none());
    assert!(
        r.on_packet(&encode_packet(5_000_000, Millis(0), 20), Millis(1))
            .is_none()
    );
    let p = encode_packet(0, Millis(0), 20);
    assert_eq!(r.on_packet(&p, Millis(5)).unwrap().len(), HEADER_BYTES);
    assert!(r.on_packet(&p, Millis(6)).is_some());
    assert_eq!(r.result().received, 1);

    let mut s = TrainSender::new(ProbeConfig::default());
    s.poll_transmit(Millis(0)).unwrap();
    // An echo of a packet never sent, a duplicate, and garbage.
    s.on_echo(&encode_packet(7, Millis(0), 12), Millis(3));
    s.on_echo(&encode_packet(0, Millis(0), 12), Millis(4));
    s.on_echo(&encode_packet(0, Millis(0), 12), Millis(9));
    s.on_echo(&[0], Millis(9));
    assert_eq!(s.counts(), (1, 1));
    assert_eq!(s.rtt().unwrap().max, 4.0);
}

/// The sparse train, every packet sent on time and the `i`th echoed after `rtt_ms(i)`.
fn ping_with(rtt_ms: impl Fn(usize) -> u64) -> TrainSender {
    let mut sender = TrainSender::new(ProbeConfig::PING);
    let mut at = 0;
    let mut echoes = Vec::new();
    while let Some(p) = sender.poll_transmit(Millis(at)) {
        echoes.push(p[..HEADER_BYTES].to_vec());
        at += 25;
    }
    for (i, echo) in echoes.iter().enumerate() {
        let (_, sent) = decode_packet(echo).unwrap();
        sender.on_echo(echo, sent.after(rtt_ms(i)));
    }
    sender
}

#[test]
fn round_trip_jitter_is_the_mean_step_over_root_two() {
    // Round trips alternate 100 and 140 ms: every step is 40 ms.
    let sender = ping_with(|i| if i % 2 == 0 { 100 } else { 140 });
    let j = sender.rtt_jitter().unwrap();
    assert!((j - 40.0 / std::f64::consts::SQRT_2).abs() < 1e-9, "{j}");
    assert_eq!(sender.rtt().unwrap().avg, 120.0);
}

#[test]
fn throughput_is_read_on_the_later_half_of_the_arrivals() {
    // 100 packets of 1,000 B: the first half slowly (a transport in slow start), the second
    // at 1 ms each (8 Mbps).
    let mut r = TrainReceiver::new();
    let mut at = 0;
    for seq in 0..100u32 {
        at += if seq < 50 { 20 } else { 1 };
        r.on_packet(&encode_packet(seq, Millis(0), 1_000), Millis(at));
    }
    let kbps = r.result().throughput_kbps.unwrap();
    assert!((kbps - 8_000.0).abs() < 1.0, "{kbps}");
}

#[test]
fn a_later_half_taken_at_once_is_not_read_as_the_line_s_rate() {
    // 300 kbps (500 B every 13.3 ms), but the receiving page, busy, took the later half of
    // the train within 2 ms: faster than the sender paces, so not the line's rate.
    let bunched = |mut r: TrainReceiver| {
        let packets = 120u32;
        for seq in 0..packets {
            let at = if seq < packets / 2 {
                u64::from(seq) * 40 / 3
            } else {
                800 + u64::from(seq - packets / 2) / 30
            };
            r.on_packet(&encode_packet(seq, Millis(0), 500), Millis(at));
        }
        r.result().throughput_kbps.unwrap()
    };
    let kbps = bunched(TrainReceiver::paced(&ProbeConfig::default()));
    assert!((kbps - 300.0).abs() < 10.0, "{kbps}");
    // Without the sender's pace known, the later half is taken as it came.
    assert!(bunched(TrainReceiver::new()) > 10_000.0);
}

#[test]
fn a_windowed_train_waits_for_echoes_grows_on_fast_ones_and_gives_up_old_packets() {
    let config = ProbeConfig {
        packets: 100,
        packet_bytes: 100,
        rate_kbps: 100_000,
        linger_ms: 100,
    };
    let mut t = TrainSender::windowed(config, Some(50.0));
    let sent: Vec<_> = std::iter::from_fn(|| t.poll_transmit(Millis(0))).collect();
    assert_eq!(sent.len(), MIN_IN_FLIGHT as usize, "the first window");
    // Full: it wakes when the oldest packet would be given up (50 + 300 ms).
    assert_eq!(t.poll_timeout(), Some(Millis(350)));
    // A fast echo frees one place and widens the window by one: two more go.
    t.on_echo(&sent[0][..HEADER_BYTES], Millis(10));
    let more = std::iter::from_fn(|| t.poll_transmit(Millis(10))).count();
    assert_eq!(more, 2);
    // Given up: once the oldest are old enough, their places free up.
    let later = std::iter::from_fn(|| t.poll_transmit(Millis(400))).count();
    assert!(later >= (MIN_IN_FLIGHT - 2) as usize, "{later}");
}

#[test]
fn a_packet_still_on_its_way_at_the_tail_is_not_lost() {
    let mut r = TrainReceiver::new();
    for seq in (0..100u32).filter(|s| *s != 10 && *s != 97) {
        let at = Millis(u64::from(seq));
        r.on_packet(&encode_packet(seq, at, 100), at.after(20));
    }
    // 97 is among the newest twentieth: not counted; 10 is lost.
    let loss = r.result().loss_pct;
    assert!((loss - 100.0 / 95.0).abs() < 1e-9, "{loss}");
}

/// A receiver's result for 400 packets of 500 B sent every `gap_ms` through a line of
/// `capacity_kbps` with a drop-tail buffer of `buffer_ms`, one-way delay 20 ms plus
/// `wobble_ms` on every other packet, and every `loss_every`-th packet (0: none) lost.
fn through_buffer(
    gap_ms: f64,
    capacity_kbps: f64,
    buffer_ms: f64,
    wobble_ms: f64,
    loss_every: u32,
) -> TrainResult {
    let mut r = TrainReceiver::new();
    let mut arrivals = Vec::new();
    let mut free_at = 0.0_f64;
    for seq in 0..400u32 {
        let sent = f64::from(seq) * gap_ms;
        let start = sent.max(free_at);
        if start - sent > buffer_ms {
            continue;
        }
        free_at = start + 500.0 * 8.0 / capacity_kbps;
        if loss_every > 0 && seq % loss_every == loss_every - 1 {
            continue;
        }
        let wobble = if seq % 2 == 0 { wobble_ms } else { 0.0 };
        let at = free_at + 20.0 + wobble;
        arrivals.push((at, encode_packet(seq, Millis(sent as u64), 500)));
    }
    arrivals.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (at, p) in &arrivals {
        r.on_packet(p, Millis(*at as u64));
    }
    r.result()
}

#[test]
fn what_a_full_buffer_drops_is_not_line_loss() {
    // 4 Mbps into 500 kbps with a 200 ms buffer: most of the train is dropped at the
    // buffer, and the rate says so; nothing was lost on the line.
    let overrun = through_buffer(1.0, 500.0, 200.0, 0.0, 0);
    assert!(overrun.received < 200, "{}", overrun.received);
    assert_eq!(overrun.loss_pct, 0.0);
    let kbps = overrun.throughput_kbps.unwrap();
    assert!((kbps - 500.0).abs() < 25.0, "{kbps}");
    // The same line, also losing one packet in ten, filled and not overrun: the loss shows.
    let filled = through_buffer(8.0, 500.0, 200.0, 0.0, 10);
    assert!((filled.loss_pct - 10.0).abs() < 1.0, "{}", filled.loss_pct);
    // A line not overrun loses what it loses, jittery or not.
    let line = through_buffer(10.0, 2_000.0, 200.0, 0.0, 10);
    assert!((line.loss_pct - 10.0).abs() < 1.0, "{}", line.loss_pct);
    let jittery = through_buffer(10.0, 2_000.0, 200.0, 80.0, 10);
    assert!(
        (jittery.loss_pct - 10.0).abs() < 1.0,
        "{}",
        jittery.loss_pct
    );
}

/// A windowed train over a path of round trip `rtt_ms` (known beforehand) whose echoes
/// come back `queue_ms(seq)` later; whether it counts as having filled the line.
fn saturated_with(rtt_ms: u64, queue_ms: impl Fn(u32) -> u64) -> bool {
    let config = ProbeConfig {
        packets: 200,
        packet_bytes: 500,
        rate_kbps: 4_000,
        linger_ms: 500,
    };
    let slow = rtt_ms as f64 + QUEUE_TARGET_MS;
    let (t, _) = run_train(TrainSender::windowed(config, Some(slow)), rtt_ms, queue_ms);
    t.saturated()
}

/// Runs `t` over a path of round trip `rtt_ms` whose echoes come back `queue_ms(seq)` later,
/// until it is done; returns it and when it was done.
fn run_train(
    mut t: TrainSender,
    rtt_ms: u64,
    queue_ms: impl Fn(u32) -> u64,
) -> (TrainSender, Millis) {
    let mut pending: Vec<(Millis, Vec<u8>)> = Vec::new();
    let mut now = Millis(0);
    while !t.is_done(now) {
        while let Some(p) = t.poll_transmit(now) {
            let (seq, _) = decode_packet(&p).unwrap();
            pending.push((
                now.after(rtt_ms + queue_ms(seq)),
                p[..HEADER_BYTES].to_vec(),
            ));
        }
        pending.sort_by_key(|e| e.0);
        while pending.first().is_some_and(|e| e.0 <= now) {
            let (_, echo) = pending.remove(0);
            t.on_echo(&echo, now);
        }
        now = now.after(1);
        assert!(now.0 < 60_000, "the train never ended");
    }
    (t, now)
}

#[test]
fn a_send_limit_ends_a_long_round_trip_s_train_in_time_for_its_far_end() {
    // 300 ms round trip, a queue while the transport starts (it ends the window's doubling),
    // none later: the window cannot grow into the whole default train in the time the client
    // waits for the result.
    let starting = |seq| if seq < 40 { 200 } else { 0 };
    let unlimited = run_train(
        TrainSender::windowed(ProbeConfig::default(), None),
        300,
        starting,
    );
    assert!(unlimited.1.0 > 3_000, "ends at {:?}", unlimited.1);
    let (t, end) = run_train(
        TrainSender::windowed(ProbeConfig::default(), None).with_send_limit(DOWNLOAD_SEND_LIMIT_MS),
        300,
        starting,
    );
    // Sent for the limit, then the last echoes: well inside the client's wait (minus the
    // command's and the result's way).
    assert!(
        end.0 <= DOWNLOAD_SEND_LIMIT_MS + 300 + 50,
        "ends at {end:?}"
    );
    assert!(end.0 + 300 < super::super::check::TRAIN_TIMEOUT_MS + 500);
    let (sent, echoed) = t.counts();
    assert!(
        sent < ProbeConfig::default().packets && sent == echoed,
        "{sent} {echoed}"
    );
    // The window held it back: a lower bound, as the far end must hear.
    assert!(!t.saturated());
    // A short train the limit does not reach is not changed by it.
    let (t, _) = run_train(
        TrainSender::windowed(ProbeConfig::PING, None).with_send_limit(DOWNLOAD_SEND_LIMIT_MS),
        20,
        |_| 0,
    );
    assert_eq!(t.counts(), (20, 20));
}

#[test]
fn a_train_saturates_when_its_measured_half_queues_not_its_start() {
    // A queue all along: a bottleneck paced the train.
    assert!(saturated_with(20, |_| 120));
    // A queue only while the transport starts (the first packets), none later: the
    // train's own window held it, so the rate is a lower bound.
    assert!(!saturated_with(300, |seq| if seq < 40 { 300 } else { 0 }));
    // Never a queue: a lower bound too.
    assert!(!saturated_with(150, |_| 0));
}

#[test]
fn the_median_round_trip_ignores_a_few_late_echoes() {
    // 150 ms, but three of twenty held up by 600 ms.
    let sender = ping_with(|i| if i % 7 == 3 { 750 } else { 150 });
    assert!(sender.rtt().unwrap().avg > 200.0);
    assert_eq!(sender.rtt_median(), Some(150.0));
    assert_eq!(median(&[3.0, 1.0]), Some(2.0));
    assert_eq!(median(&[2.0, 1.0, 1.0]), Some(1.0));
    assert_eq!(median(&[5.0, 5.0, 1.0, 9.0]), Some(5.0));
    assert_eq!(median(&[]), None);
}
