//! The network probe as pure logic: a paced train of numbered packets to an echoing peer (a
//! DataChannel to the server, or any datagram path). The [`TrainSender`] paces the packets and
//! measures round trips from the echoes; the [`TrainReceiver`] at the far end measures what
//! arrived: loss, interarrival jitter (RFC 3550) and throughput from the train's dispersion
//! (bytes over the span between the first and last arrival, which a bottleneck stretches).
//! The driver moves bytes and reads a clock; everything else is here, on the caller's time.
//!
//! A packet is `seq` (u32 big-endian) + `sent_at` (u64 big-endian ms) + padding to its size;
//! an echo is the first 12 bytes sent back.

use crate::Millis;

/// Bytes of a packet's header.
pub const HEADER_BYTES: usize = 12;

/// How a train is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeConfig {
    /// Packets in the train.
    pub packets: u32,
    /// Size of each packet, bytes (at least [`HEADER_BYTES`]).
    pub packet_bytes: usize,
    /// Pacing rate, kbps: above the rate to be measured, so the bottleneck shapes the train.
    pub rate_kbps: u32,
    /// How long after the last packet echoes are still awaited, ms.
    pub linger_ms: u64,
}

impl Default for ProbeConfig {
    /// 600 packets of 500 bytes at 4 Mbps: 2.4 Mbit, 0.6 s at full rate, enough to see a
    /// 1.1 Mbps line clearly and short enough for an 8 s check. 600 packets, not fewer and
    /// bigger, because loss is a count: at 3 % loss, 300 packets read 5 % or more one time in
    /// 25 (and below 1 % one in 170); 600 packets, one in 200.
    fn default() -> Self {
        Self {
            packets: 600,
            packet_bytes: 500,
            rate_kbps: 4_000,
            linger_ms: 1_000,
        }
    }
}

impl ProbeConfig {
    /// The sparse train that measures round trips and jitter before the bandwidth train:
    /// 20 packets of 100 bytes, 25 ms apart (32 kbps), so no queue of the probe's own making
    /// is in what it measures.
    pub const PING: ProbeConfig = ProbeConfig {
        packets: 20,
        packet_bytes: 100,
        rate_kbps: 32,
        linger_ms: 600,
    };
}

/// Encodes packet `seq` sent at `at`, `size` bytes long.
pub fn encode_packet(seq: u32, at: Millis, size: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(size.max(HEADER_BYTES));
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&at.0.to_be_bytes());
    p.resize(size.max(HEADER_BYTES), 0);
    p
}

/// `(seq, sent_at)` of a packet or an echo; `None` when it is too short.
pub fn decode_packet(bytes: &[u8]) -> Option<(u32, Millis)> {
    let seq = u32::from_be_bytes(bytes.get(0..4)?.try_into().ok()?);
    let at = u64::from_be_bytes(bytes.get(4..12)?.try_into().ok()?);
    Some((seq, Millis(at)))
}

/// Minimum, average and maximum of a series, ms.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Spread {
    /// Smallest.
    pub min: f64,
    /// Mean.
    pub avg: f64,
    /// Largest.
    pub max: f64,
}

/// A running [`Spread`]: no list of values is kept.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    n: u32,
    sum: f64,
    min: f64,
    max: f64,
}

impl Tally {
    fn add(&mut self, v: f64) {
        if self.n == 0 || v < self.min {
            self.min = v;
        }
        if self.n == 0 || v > self.max {
            self.max = v;
        }
        self.n += 1;
        self.sum += v;
    }

    fn spread(&self) -> Option<Spread> {
        (self.n > 0).then(|| Spread {
            min: self.min,
            avg: self.sum / f64::from(self.n),
            max: self.max,
        })
    }
}

/// Most packets a windowed train keeps sent and not yet echoed. The window starts at
/// [`MIN_IN_FLIGHT`], doubles per round trip while echoes come back within
/// [`QUEUE_TARGET_MS`] of the path's round trip, then moves by one packet per round trip: the
/// train fills the line without building a queue of its own much longer than that, so a small
/// router buffer does not drop it (which would read as packet loss) and what is sent after it
/// is not stuck behind it.
pub const MAX_IN_FLIGHT: u32 = 128;
/// How long the server sends the download train at most, ms
/// ([`TrainSender::with_send_limit`]). The client waits [`TRAIN_TIMEOUT_MS`] + 500 ms for the
/// result after asking for the train: the command's way (up to half a 300 ms round trip),
/// this long sending, the last echoes (the round trip and up to 450 ms more) and the
/// result's way fit in it.
///
/// [`TRAIN_TIMEOUT_MS`]: super::check::TRAIN_TIMEOUT_MS
pub const DOWNLOAD_SEND_LIMIT_MS: u64 = 1_800;
/// Smallest window, packets.
pub const MIN_IN_FLIGHT: u32 = 16;
/// Queueing delay a windowed train may add, ms.
pub const QUEUE_TARGET_MS: f64 = 150.0;
/// Queueing delay at which a windowed train stops doubling, ms.
pub const START_EXIT_MS: f64 = 40.0;

/// A windowed train's window (see [`MAX_IN_FLIGHT`]).
#[derive(Debug)]
struct Window {
    size: f64,
    /// Still doubling (no slow echo yet).
    starting: bool,
    /// An echo slower than this, ms, means the train is queueing; `None`: the fastest echo so
    /// far plus [`QUEUE_TARGET_MS`].
    slow_ms: Option<f64>,
}

/// Paces a train and measures round trips from its echoes.
#[derive(Debug)]
pub struct TrainSender {
    config: ProbeConfig,
    window: Option<Window>,
    /// The time of the latest call that had one.
    now: Millis,
    started: Option<Millis>,
    next: u32,
    rtts: Tally,
    /// Every round trip, in arrival order (the median, and the queue of the later half).
    samples: Vec<f64>,
    /// |change| between the round trips of consecutive echoes (in arrival order).
    rtt_steps: Tally,
    last_rtt: Option<f64>,
    echoed: Vec<bool>,
    /// The highest sequence number echoed so far.
    highest_echoed: Option<u32>,
    /// When each packet went out.
    sent_at: Vec<Millis>,
    last_sent: Option<Millis>,
    /// How long after its start the train may send (see [`TrainSender::with_send_limit`]).
    send_limit_ms: Option<u64>,
    /// The send limit ended the train before all its packets went out.
    cut: bool,
}

impl TrainSender {
    /// A train not started yet.
    pub fn new(config: ProbeConfig) -> Self {
        Self {
            window: None,
            now: Millis(0),
            echoed: vec![false; config.packets as usize],
            sent_at: vec![Millis(0); config.packets as usize],
            highest_echoed: None,
            config,
            started: None,
            next: 0,
            rtts: Tally::default(),
            samples: Vec::new(),
            rtt_steps: Tally::default(),
            last_rtt: None,
            last_sent: None,
            send_limit_ms: None,
            cut: false,
        }
    }

    /// The train sends for at most `ms` after its start and ends with what went out by then;
    /// it then waits for the echoes only as long as one may still come back (not the whole
    /// linger). A far end that must hear the result within a time (the download train, whose
    /// client gives up after [`TRAIN_TIMEOUT_MS`](super::check::TRAIN_TIMEOUT_MS) + 500 ms)
    /// sends it in time this way, even when a long round trip keeps the window from growing
    /// into the whole train in that time.
    pub fn with_send_limit(mut self, ms: u64) -> Self {
        self.send_limit_ms = Some(ms);
        self
    }

    /// When the send limit ends the train, if it has one.
    fn send_deadline(&self) -> Option<Millis> {
        Some(self.started?.after(self.send_limit_ms?))
    }

    /// Ends the train at its send limit, if that has come.
    fn cut_at_limit(&mut self, now: Millis) {
        if self.next < self.config.packets && self.send_deadline().is_some_and(|d| now >= d) {
            self.config.packets = self.next;
            self.echoed.truncate(self.next as usize);
            self.sent_at.truncate(self.next as usize);
            self.cut = true;
        }
    }

    /// A train that keeps its own queue short (see [`MAX_IN_FLIGHT`]). `slow_ms`: the round
    /// trip from which an echo counts as queued (the path's round trip and jitter plus
    /// [`QUEUE_TARGET_MS`]), or `None` to take the fastest echo so far plus the target.
    pub fn windowed(config: ProbeConfig, slow_ms: Option<f64>) -> Self {
        let mut train = Self::new(config);
        train.window = Some(Window {
            size: f64::from(MIN_IN_FLIGHT),
            starting: true,
            slow_ms,
        });
        train
    }

    /// Whether the train filled the line: over the later half of its echoes (the part the far
    /// end's rate is read on) the median round trip stood a queue above the path's, so a
    /// bottleneck set the pace and what the far end measured is the line's rate. Otherwise
    /// the train's own window held it back (a long or jittery round trip it could not grow
    /// into in its time), and that rate is only a lower bound. A queue early in the train (the
    /// transport still starting) does not count. Always true for a train without a window.
    pub fn saturated(&self) -> bool {
        let Some(w) = &self.window else {
            return true;
        };
        let later = self
            .samples
            .get(self.samples.len() / 2..)
            .unwrap_or_default();
        match (self.queued_ms(), median(later)) {
            (Some(queued), Some(m)) if later.len() >= 8 => m > queued,
            _ => !w.starting,
        }
    }

    /// The round trip from which an echo stood in a queue of the train's making: the path's
    /// round trip and jitter plus [`START_EXIT_MS`].
    fn queued_ms(&self) -> Option<f64> {
        self.slow_ms().map(|s| s - QUEUE_TARGET_MS + START_EXIT_MS)
    }

    /// The round trip from which an echo counts as queued.
    fn slow_ms(&self) -> Option<f64> {
        let w = self.window.as_ref()?;
        w.slow_ms
            .or_else(|| self.rtt().map(|r| r.min + QUEUE_TARGET_MS))
    }

    /// A packet not echoed after this long is taken as lost (it leaves the window).
    fn expire_ms(&self) -> u64 {
        (self.slow_ms().unwrap_or(1_000.0) + 300.0) as u64
    }

    /// Whether the window holds as many packets as it may (never, unwindowed).
    fn full(&self, now: Millis) -> bool {
        self.window
            .as_ref()
            .is_some_and(|w| f64::from(self.in_flight(now, self.expire_ms()).0) >= w.size)
    }

    /// When packet `seq` is due: evenly spaced at the pacing rate from the start.
    fn due(&self, seq: u32) -> Millis {
        let start = self.started.unwrap_or_default();
        let bits = (seq as u64) * (self.config.packet_bytes as u64) * 8;
        start.after(bits / u64::from(self.config.rate_kbps.max(1)))
    }

    /// The next packet to send at `now`, if one is due.
    pub fn poll_transmit(&mut self, now: Millis) -> Option<Vec<u8>> {
        self.started.get_or_insert(now);
        self.now = self.now.max(now);
        self.cut_at_limit(now);
        if self.next >= self.config.packets || self.due(self.next) > now || self.full(now) {
            return None;
        }
        let seq = self.next;
        self.next += 1;
        self.last_sent = Some(now);
        self.sent_at[seq as usize] = now;
        Some(encode_packet(seq, now, self.config.packet_bytes))
    }

    /// When to call [`Self::poll_transmit`] next, or when the train is over; `None` when done.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.started?;
        if self.next < self.config.packets {
            let due = self.due(self.next);
            // With the window full, an echo (an input) or a packet given up moves it on.
            let next = match self.in_flight(self.now, self.expire_ms()) {
                (_, Some(expiry)) if self.full(self.now) => expiry.max(due),
                _ => due,
            };
            return Some(self.send_deadline().map_or(next, |d| next.min(d)));
        }
        let linger = if self.cut {
            self.config.linger_ms.min(self.expire_ms())
        } else {
            self.config.linger_ms
        };
        let end = self.last_sent?.after(linger);
        (self.echoed.iter().any(|e| !e)).then_some(end)
    }

    /// Whether every packet is sent (or the send limit ended the train at a
    /// [`poll_transmit`](Self::poll_transmit)) and the echoes have arrived or the linger is
    /// over.
    pub fn is_done(&self, now: Millis) -> bool {
        self.next >= self.config.packets && self.poll_timeout().is_none_or(|end| now >= end)
    }

    /// An echo arrived at `now`; its round trip, ms. Duplicates and garbage are ignored.
    pub fn on_echo(&mut self, echo: &[u8], now: Millis) -> Option<f64> {
        let (seq, sent) = decode_packet(echo)?;
        let seen = self.echoed.get_mut(seq as usize)?;
        if *seen || seq >= self.next || now < sent {
            return None;
        }
        *seen = true;
        let rtt = (now.0 - sent.0) as f64;
        self.now = self.now.max(now);
        self.rtts.add(rtt);
        self.samples.push(rtt);
        self.highest_echoed = Some(self.highest_echoed.map_or(seq, |h| h.max(seq)));
        if let Some(last) = self.last_rtt.replace(rtt) {
            self.rtt_steps.add((rtt - last).abs());
        }
        let slow = self.slow_ms().is_some_and(|s| rtt > s);
        // The doubling stops well before the target: it overshoots by up to a round trip's
        // worth of packets, which a small router buffer would drop.
        let starting_slow = self.queued_ms().is_some_and(|q| rtt > q);
        if let Some(w) = &mut self.window {
            // Doubling per round trip until the first slow echo, then one packet more or less
            // per round trip: a faster controller overshoots, as the echoes tell of the queue
            // a round trip late.
            w.size = if w.starting && !starting_slow {
                w.size + 1.0
            } else {
                w.starting = false;
                let step = if slow { -1.0 } else { 1.0 };
                w.size + step / w.size
            }
            .clamp(f64::from(MIN_IN_FLIGHT), f64::from(MAX_IN_FLIGHT));
        }
        Some(rtt)
    }

    /// Packets sent and not echoed that may still come back, and when the oldest of them is
    /// given up. One is given up `expire_ms` after it went out, or once three packets sent
    /// after it were echoed (as TCP counts a loss on three later acknowledgements).
    pub fn in_flight(&self, now: Millis, expire_ms: u64) -> (u32, Option<Millis>) {
        let mut count = 0;
        let mut oldest = None;
        let overtaken = self.highest_echoed.map_or(0, |h| h.saturating_sub(2)) as usize;
        for seq in overtaken..self.next as usize {
            let expires = self.sent_at[seq].after(expire_ms);
            if !self.echoed[seq] && expires > now {
                count += 1;
                oldest = Some(oldest.map_or(expires, |o: Millis| o.min(expires)));
            }
        }
        (count, oldest)
    }

    /// One-way jitter estimated from the round trips: the mean change between consecutive
    /// round trips over √2 (each one adds two independent one-way delays). On a sparse train
    /// it is the path's jitter; on a dense one the probe's own queue shows in it.
    pub fn rtt_jitter(&self) -> Option<f64> {
        self.rtt_steps
            .spread()
            .map(|s| s.avg / std::f64::consts::SQRT_2)
    }

    /// Round-trip times of the echoed packets.
    pub fn rtt(&self) -> Option<Spread> {
        self.rtts.spread()
    }

    /// The median round trip: on a jittery path, or one where a lost packet holds the
    /// transport up, a few late echoes pull the mean up; the median stays with the path.
    pub fn rtt_median(&self) -> Option<f64> {
        median(&self.samples)
    }

    /// Packets sent, and of them echoed.
    pub fn counts(&self) -> (u32, u32) {
        (self.next, self.rtts.n)
    }
}

/// The median of `values` (the mean of the middle two for an even count).
fn median(values: &[f64]) -> Option<f64> {
    let mid = values.len() / 2;
    match values.len() {
        0 => None,
        n if n % 2 == 1 => kth(values, mid),
        _ => Some((kth(values, mid - 1)? + kth(values, mid)?) / 2.0),
    }
}

/// The `k`th smallest of `values` (from 0), by counting rather than sorting: a train holds a
/// few hundred values at most, and a sort would bring the standard library's sorting code
/// into the browser build (about 2 KB gzip).
fn kth(values: &[f64], k: usize) -> Option<f64> {
    values.iter().copied().find(|&x| {
        let below = values.iter().filter(|&&v| v < x).count();
        let up_to = values.iter().filter(|&&v| v <= x).count();
        below <= k && k < up_to
    })
}

/// What a receiver measured of one train.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TrainResult {
    /// Packets received (each once).
    pub received: u32,
    /// Packets lost on the line, percent of the sequence numbers below the newest twentieth of
    /// the highest seen (the tail's loss is not seen), leaving out what a full buffer dropped
    /// while the train queued there.
    pub loss_pct: f64,
    /// Interarrival jitter (RFC 3550), ms: its min/avg/max over the train.
    pub jitter: Option<Spread>,
    /// Throughput from the dispersion of the arrivals, kbps.
    pub throughput_kbps: Option<f64>,
}

/// Measures a train as it arrives.
#[derive(Debug, Default)]
pub struct TrainReceiver {
    /// Each packet's transit (arrival − sent, ms, the clocks' offset included); `None` until
    /// it arrived.
    transit: Vec<Option<f64>>,
    received: u32,
    /// Each arrival's time and the bytes received up to it.
    arrivals: Vec<(Millis, u64)>,
    max_seq: Option<u32>,
    /// Transit time of the previous packet (arrival − sent), ms.
    prev_transit: Option<f64>,
    jitter: f64,
    jitters: Tally,
    /// The rate the sender paces its train at, kbps, when known.
    pacing_kbps: Option<f64>,
}

impl TrainReceiver {
    /// A receiver that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// A receiver of a train paced at `config`'s rate: a rate above it cannot have come over
    /// the line, so the later half it was read on was taken late (the receiving page was busy
    /// and took a run of arrivals at once); the rate is then read on the first half.
    pub fn paced(config: &ProbeConfig) -> Self {
        Self {
            pacing_kbps: Some(f64::from(config.rate_kbps)),
            ..Self::default()
        }
    }

    /// A packet arrived at `now` (on the receiver's clock); returns the echo to send back.
    /// Duplicates are echoed but counted once; garbage is ignored.
    pub fn on_packet(&mut self, packet: &[u8], now: Millis) -> Option<Vec<u8>> {
        let (seq, sent) = decode_packet(packet)?;
        let echo = packet[..HEADER_BYTES].to_vec();
        let i = seq as usize;
        if self.transit.len() <= i {
            // Bounded: a train is at most a few thousand packets; refuse absurd numbers.
            if i > 1_000_000 {
                return None;
            }
            self.transit.resize(i + 1, None);
        }
        if self.transit[i].is_some() {
            return Some(echo);
        }
        // RFC 3550 §6.4.1: J += (|D| - J) / 16, with the clocks' offset cancelling out in D.
        let transit = now.0 as f64 - sent.0 as f64;
        self.transit[i] = Some(transit);
        self.received += 1;
        self.max_seq = Some(self.max_seq.map_or(seq, |m| m.max(seq)));
        let bytes = self.arrivals.last().map_or(0, |a| a.1) + packet.len() as u64;
        self.arrivals.push((now, bytes));
        if let Some(prev) = self.prev_transit {
            self.jitter += ((transit - prev).abs() - self.jitter) / 16.0;
            self.jitters.add(self.jitter);
        }
        self.prev_transit = Some(transit);
        Some(echo)
    }

    /// What arrived so far.
    pub fn result(&self) -> TrainResult {
        // Loss is counted below the newest twentieth of what was seen: on a jittery path the
        // last packets may still be on their way (overtaken, not lost) when the figures are
        // asked for.
        let expected = self.max_seq.map_or(0, |m| m + 1);
        let counted = &self.transit[..(expected - expected / 20) as usize];
        let jitter = self.jitters.spread();
        let loss_pct = line_loss_pct(counted, jitter.map_or(0.0, |j| j.avg));
        // The rate over the later half of the arrivals: the sender's transport starts slowly
        // (its congestion window grows over the first round trips), so the first half
        // understates a line with a long round trip; by the second half, the bottleneck sets it.
        let n = self.arrivals.len();
        let from = if n >= 8 { n / 2 } else { 0 };
        let rate = |from: usize, to: usize| match (self.arrivals.get(from), self.arrivals.get(to)) {
            // Bytes after the window's first arrival, over the time they took: bits per ms = kbps.
            (Some(a), Some(b)) if b.0 > a.0 => {
                Some((b.1 - a.1) as f64 * 8.0 / (b.0.0 - a.0.0) as f64)
            }
            _ => None,
        };
        // A quarter above the pacing rate leaves room for the jitter of the arrivals' times.
        let possible = |kbps: &f64| self.pacing_kbps.is_none_or(|p| *kbps <= p * 1.25);
        let last = n.saturating_sub(1);
        let throughput_kbps = match rate(from, last) {
            // The later half came at once: the first half, taken as it came, tells the rate.
            Some(kbps) if !possible(&kbps) => rate(0, from).filter(possible),
            rate => rate,
        };
        TrainResult {
            received: self.received,
            loss_pct,
            jitter,
            throughput_kbps,
        }
    }
}

/// Packets lost on the line, percent of `transit` (each packet's transit, `None`: lost). A
/// packet lost next to one that stood in a queue (its transit [`START_EXIT_MS`] plus four
/// times the jitter above the fastest) is taken as dropped by a full buffer: the train found
/// the line's rate there, which the rate tells; it is left out of the count, as are the queued
/// packets. What is left is the loss of a line not overrun, the loss a call sees. (A train that
/// overran its buffer from start to end leaves nothing to count: no loss is told then.)
fn line_loss_pct(transit: &[Option<f64>], jitter_ms: f64) -> f64 {
    let Some(fastest) = transit.iter().flatten().copied().reduce(f64::min) else {
        return 0.0;
    };
    let queued =
        |t: &Option<f64>| t.is_some_and(|t| t - fastest >= START_EXIT_MS + 4.0 * jitter_ms);
    let (mut counted, mut lost) = (0u32, 0u32);
    let mut before_queued = false;
    for (i, t) in transit.iter().enumerate() {
        match t {
            Some(_) => {
                before_queued = queued(t);
                counted += u32::from(!before_queued);
            }
            None => {
                let after = transit
                    .get(i + 1..)
                    .unwrap_or_default()
                    .iter()
                    .flatten()
                    .next();
                if !before_queued && !queued(&after.copied()) {
                    counted += 1;
                    lost += 1;
                }
            }
        }
    }
    if counted == 0 {
        0.0
    } else {
        100.0 * f64::from(lost) / f64::from(counted)
    }
}

#[cfg(test)]
#[path = "probe_tests.rs"]
mod tests;
