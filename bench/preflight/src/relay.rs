//! The impairment relay: UDP sockets on 127.0.0.1 that stand in for the server's candidates
//! and forward to them, impairing each direction on its own: random drop, a fixed delay with
//! normally distributed jitter, and a token-bucket rate cap with a drop-tail queue. netem is
//! not in this kernel; this is the same model in userspace.
//!
//! For each server candidate the answer names, [`Relay::stand_in`] binds a listener; each
//! source that sends to it gets an upstream socket of its own (a NAT-like mapping), so the
//! server sees one peer-reflexive address per source and its replies find their way back.
//! A [`Gate`] drops, at the listener, everything not sent from the TURN server's relay ports:
//! "UDP blocked" for the client while a TURN server can still reach the media server.

use std::cmp::Ordering;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// How one direction of the path is impaired.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Impairment {
    /// Datagrams dropped at random, percent.
    pub(crate) loss_pct: f64,
    /// One-way delay, ms.
    pub(crate) delay_ms: f64,
    /// Standard deviation of the normally distributed delay added to each datagram, ms
    /// (independent per datagram, so datagrams may overtake each other, as netem's delay
    /// jitter does).
    pub(crate) jitter_sd_ms: f64,
    /// Rate cap, kbps of UDP payload.
    pub(crate) rate_kbps: Option<f64>,
}

/// Longest a datagram waits in a capped link's queue; one that would wait longer is dropped
/// (drop-tail). 200 ms: a modest access-link buffer.
const MAX_QUEUE: Duration = Duration::from_millis(200);
/// Credit an idle capped link builds up, bytes (the token bucket's depth): two datagrams.
const BUCKET_BYTES: f64 = 3_000.0;

/// Which sources may reach the server's stand-ins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Everyone.
    Open,
    /// Only these source ports (the TURN server's relay range, above the ephemeral ports, so
    /// a client socket can never have one).
    OnlyFromPorts(RangeInclusive<u16>),
}

impl Gate {
    fn admits(&self, from: SocketAddr) -> bool {
        match self {
            Self::Open => true,
            Self::OnlyFromPorts(ports) => ports.contains(&from.port()),
        }
    }
}

/// Datagrams counted by the relay, for the run's log line.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    /// Forwarded client → server, server → client.
    pub(crate) up: AtomicU64,
    pub(crate) down: AtomicU64,
    /// Dropped at random, or by a full queue, either way.
    pub(crate) lost: AtomicU64,
    pub(crate) queue_full: AtomicU64,
    /// Refused by the gate.
    pub(crate) gated: AtomicU64,
}

impl Counts {
    pub(crate) fn line(&self) -> String {
        let n = |c: &AtomicU64| c.load(AtomicOrdering::Relaxed);
        format!(
            "relay up {} down {} lost {} queue-full {} gated {}",
            n(&self.up),
            n(&self.down),
            n(&self.lost),
            n(&self.queue_full),
            n(&self.gated)
        )
    }
}

/// A datagram on its way.
struct Packet {
    bytes: Vec<u8>,
    via: Arc<UdpSocket>,
    to: SocketAddr,
}

/// The relay of one check: its sockets and tasks end when it is dropped.
pub(crate) struct Relay {
    up: mpsc::UnboundedSender<Packet>,
    down: mpsc::UnboundedSender<Packet>,
    gate: Gate,
    /// Server candidate → its stand-in.
    stand_ins: Mutex<HashMap<SocketAddr, SocketAddr>>,
    tasks: Arc<Mutex<JoinSet<()>>>,
    pub(crate) counts: Arc<Counts>,
}

impl Relay {
    /// A relay impairing `up` (client → server) and `down` traffic, seeded for repeatable runs.
    pub(crate) fn new(up: Impairment, down: Impairment, gate: Gate, seed: u64) -> Self {
        let counts = Arc::new(Counts::default());
        let mut tasks = JoinSet::new();
        let (up_tx, up_rx) = mpsc::unbounded_channel();
        let (down_tx, down_rx) = mpsc::unbounded_channel();
        tasks.spawn(schedule(
            up_rx,
            Link::new(up, seed),
            Arc::clone(&counts),
            true,
        ));
        tasks.spawn(schedule(
            down_rx,
            Link::new(down, seed ^ 0x9e37_79b9_7f4a_7c15),
            Arc::clone(&counts),
            false,
        ));
        Self {
            up: up_tx,
            down: down_tx,
            gate,
            stand_ins: Mutex::default(),
            tasks: Arc::new(Mutex::new(tasks)),
            counts,
        }
    }

    /// The stand-in address for the server candidate `target` (bound on first use).
    pub(crate) async fn stand_in(&self, target: SocketAddr) -> io::Result<SocketAddr> {
        if let Some(addr) = lock(&self.stand_ins).get(&target) {
            return Ok(*addr);
        }
        let listener = Arc::new(UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?);
        let addr = listener.local_addr()?;
        lock(&self.stand_ins).insert(target, addr);
        let listen = Listener {
            socket: listener,
            target,
            gate: self.gate.clone(),
            up: self.up.clone(),
            down: self.down.clone(),
            tasks: Arc::clone(&self.tasks),
            counts: Arc::clone(&self.counts),
        };
        lock(&self.tasks).spawn(listen.run());
        Ok(addr)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One stand-in: takes datagrams from sources, sends them on through each source's mapping.
struct Listener {
    socket: Arc<UdpSocket>,
    target: SocketAddr,
    gate: Gate,
    up: mpsc::UnboundedSender<Packet>,
    down: mpsc::UnboundedSender<Packet>,
    tasks: Arc<Mutex<JoinSet<()>>>,
    counts: Arc<Counts>,
}

impl Listener {
    async fn run(self) {
        let mut mappings: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
        let mut buf = vec![0u8; 65_536];
        loop {
            let Ok((n, from)) = self.socket.recv_from(&mut buf).await else {
                return;
            };
            if !self.gate.admits(from) {
                self.counts.gated.fetch_add(1, AtomicOrdering::Relaxed);
                continue;
            }
            let upstream = match mappings.entry(from) {
                Entry::Occupied(e) => Arc::clone(e.get()),
                Entry::Vacant(e) => {
                    let Ok(socket) = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await else {
                        continue;
                    };
                    let socket = Arc::new(socket);
                    lock(&self.tasks).spawn(back(
                        Arc::clone(&socket),
                        self.target,
                        Arc::clone(&self.socket),
                        from,
                        self.down.clone(),
                    ));
                    Arc::clone(e.insert(socket))
                }
            };
            let packet = Packet {
                bytes: buf[..n].to_vec(),
                via: upstream,
                to: self.target,
            };
            if self.up.send(packet).is_err() {
                return;
            }
        }
    }
}

/// The server's replies to one mapping, back to its source through the stand-in.
async fn back(
    upstream: Arc<UdpSocket>,
    target: SocketAddr,
    stand_in: Arc<UdpSocket>,
    source: SocketAddr,
    down: mpsc::UnboundedSender<Packet>,
) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let Ok((n, from)) = upstream.recv_from(&mut buf).await else {
            return;
        };
        if from != target {
            continue;
        }
        let packet = Packet {
            bytes: buf[..n].to_vec(),
            via: Arc::clone(&stand_in),
            to: source,
        };
        if down.send(packet).is_err() {
            return;
        }
    }
}

/// A datagram due at `at`; `seq` keeps equal times in arrival order.
struct Scheduled {
    at: Instant,
    seq: u64,
    packet: Packet,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed: the heap's top is the earliest.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Delivers one direction's datagrams when the link says they arrive.
async fn schedule(
    mut rx: mpsc::UnboundedReceiver<Packet>,
    mut link: Link,
    counts: Arc<Counts>,
    up: bool,
) {
    let mut heap = BinaryHeap::new();
    let mut seq = 0u64;
    loop {
        let next = heap.peek().map(|s: &Scheduled| s.at);
        tokio::select! {
            packet = rx.recv() => {
                let Some(packet) = packet else { return };
                match link.admit(packet.bytes.len(), Instant::now()) {
                    Ok(at) => {
                        seq += 1;
                        heap.push(Scheduled { at, seq, packet });
                    }
                    Err(Dropped::Random) => {
                        counts.lost.fetch_add(1, AtomicOrdering::Relaxed);
                    }
                    Err(Dropped::QueueFull) => {
                        counts.queue_full.fetch_add(1, AtomicOrdering::Relaxed);
                    }
                }
            }
            () = sleep_until_opt(next) => {
                let now = Instant::now();
                while heap.peek().is_some_and(|s| s.at <= now) {
                    let Some(s) = heap.pop() else { break };
                    // Loopback rarely pushes back; a datagram it refuses is lost, as on a wire.
                    if s.packet.via.try_send_to(&s.packet.bytes, s.packet.to).is_ok() {
                        let counter = if up { &counts.up } else { &counts.down };
                        counter.fetch_add(1, AtomicOrdering::Relaxed);
                    }
                }
            }
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Why a datagram was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dropped {
    Random,
    QueueFull,
}

/// One direction's impairment state.
struct Link {
    imp: Impairment,
    rng: Rng,
    /// When the capped link has sent everything queued (the token bucket's virtual time).
    free_at: Option<Instant>,
}

impl Link {
    fn new(imp: Impairment, seed: u64) -> Self {
        Self {
            imp,
            rng: Rng(seed),
            free_at: None,
        }
    }

    /// When a datagram of `len` bytes arriving `now` comes out of the link, or why not.
    fn admit(&mut self, len: usize, now: Instant) -> Result<Instant, Dropped> {
        if self.rng.uniform() * 100.0 < self.imp.loss_pct {
            return Err(Dropped::Random);
        }
        let sent = match self.imp.rate_kbps {
            None => now,
            Some(kbps) => {
                let secs_per_byte = 8.0 / (kbps * 1_000.0);
                let credit = Duration::from_secs_f64(BUCKET_BYTES * secs_per_byte);
                let earliest = now.checked_sub(credit).unwrap_or(now);
                let start = self.free_at.map_or(earliest, |f| f.max(earliest));
                let done = start + Duration::from_secs_f64(len as f64 * secs_per_byte);
                if done.saturating_duration_since(now) > MAX_QUEUE {
                    return Err(Dropped::QueueFull);
                }
                self.free_at = Some(done);
                done.max(now)
            }
        };
        let delay_ms = self.imp.delay_ms + self.imp.jitter_sd_ms * self.rng.normal();
        Ok(sent + Duration::from_secs_f64(delay_ms.max(0.0) / 1_000.0))
    }
}

/// splitmix64: small, seedable, good enough for drop and jitter draws.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_and_jitter_draws_have_the_asked_for_statistics() {
        let mut rng = Rng(7);
        let n = 200_000;
        let dropped = (0..n).filter(|_| rng.uniform() * 100.0 < 3.0).count();
        let pct = 100.0 * dropped as f64 / n as f64;
        assert!((pct - 3.0).abs() < 0.2, "{pct}");
        let xs: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 0.02 && (var - 1.0).abs() < 0.02,
            "{mean} {var}"
        );
    }

    #[test]
    fn a_capped_link_spaces_datagrams_at_its_rate_and_drops_past_its_queue() {
        let mut link = Link::new(
            Impairment {
                rate_kbps: Some(800.0),
                ..Impairment::default()
            },
            1,
        );
        let t0 = Instant::now();
        // 1,000 bytes at 800 kbps: 10 ms each; the first few ride on the bucket's credit.
        let outs: Vec<_> = (0..30).map(|_| link.admit(1_000, t0)).collect();
        let ok: Vec<Instant> = outs.iter().filter_map(|r| r.ok()).collect();
        let last = ok.last().unwrap().duration_since(t0);
        assert!(last <= MAX_QUEUE, "{last:?}");
        assert!(outs.contains(&Err(Dropped::QueueFull)));
        let gap = ok[ok.len() - 1].duration_since(ok[ok.len() - 2]);
        assert_eq!(gap, Duration::from_millis(10));
    }

    /// A UDP echo on loopback.
    async fn echo() -> SocketAddr {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2_048];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                let _ = socket.send_to(&buf[..n], from).await;
            }
        });
        addr
    }

    /// Sends `count` datagrams of `size` bytes, one every `gap`, from a client socket through
    /// `relay` to an echo; for each, when it was sent and when its echo came back.
    async fn through(
        relay: &Relay,
        count: usize,
        size: usize,
        gap: Duration,
    ) -> Vec<(Instant, Option<Instant>)> {
        let stand_in = relay.stand_in(echo().await).await.unwrap();
        let client = Arc::new(UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap());
        let receiver = Arc::clone(&client);
        let echoes = tokio::spawn(async move {
            let mut at = vec![None; count];
            let mut buf = vec![0u8; 2_048];
            while let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_secs(1), receiver.recv(&mut buf)).await
            {
                let seq = u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
                if n == size && seq < count {
                    at[seq] = Some(Instant::now());
                }
            }
            at
        });
        let mut sent = Vec::with_capacity(count);
        let mut tick = tokio::time::interval(gap);
        // A late tick must not be made up for with a burst.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for seq in 0..count as u32 {
            tick.tick().await;
            let mut datagram = seq.to_be_bytes().to_vec();
            datagram.resize(size, 0);
            sent.push(Instant::now());
            client.send_to(&datagram, stand_in).await.unwrap();
        }
        let echoed = tokio::time::timeout(Duration::from_secs(10), echoes)
            .await
            .unwrap()
            .unwrap();
        sent.into_iter().zip(echoed).collect()
    }

    fn ms(d: Duration) -> f64 {
        d.as_secs_f64() * 1_000.0
    }

    #[test]
    fn the_jitter_condition_draws_40_ms_of_rfc3550_jitter() {
        let mut link = Link::new(crate::conditions::JITTER_40, 12);
        let t0 = Instant::now();
        let delays: Vec<f64> = (0..100_000)
            .map(|_| ms(link.admit(100, t0).unwrap() - t0))
            .collect();
        let jitter =
            delays.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f64>() / (delays.len() - 1) as f64;
        assert!((39.0..41.0).contains(&jitter), "mean |D| {jitter} ms");
    }

    // The relay is the bench's instrument: this checks, on real sockets and timers, that the
    // conditions are what they say, within what 2 cores' timers allow. One test, so that its
    // parts do not compete with each other for the cores.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_relay_delays_drops_jitters_caps_and_gates_as_asked() {
        // Delay and loss.
        let imp = Impairment {
            loss_pct: 3.0,
            delay_ms: 75.0,
            ..Impairment::default()
        };
        let relay = Relay::new(imp, imp, Gate::Open, 11);
        let runs = through(&relay, 1_000, 100, Duration::from_millis(1)).await;
        let rtts: Vec<f64> = runs
            .iter()
            .filter_map(|(s, e)| e.map(|e| ms(e - *s)))
            .collect();
        // 3 % each way: 5.9 % of round trips lost (binomial sd 0.75 % over 1,000).
        let lost = 100.0 * (runs.len() - rtts.len()) as f64 / runs.len() as f64;
        assert!((3.5..8.5).contains(&lost), "round-trip loss {lost} %");
        let mean = rtts.iter().sum::<f64>() / rtts.len() as f64;
        assert!((149.0..175.0).contains(&mean), "mean RTT {mean} ms");

        // Jitter, one way: 150 draws (this seed's sample has a mean |D| of ~36.5 ms).
        let relay = Relay::new(
            crate::conditions::JITTER_40,
            Impairment::default(),
            Gate::Open,
            12,
        );
        let runs = through(&relay, 150, 100, Duration::from_millis(10)).await;
        let transits: Vec<f64> = runs
            .iter()
            .filter_map(|(s, e)| e.map(|e| ms(e - *s)))
            .collect();
        assert_eq!(transits.len(), 150);
        let jitter = transits
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .sum::<f64>()
            / (transits.len() - 1) as f64;
        assert!((30.0..46.0).contains(&jitter), "mean |D| {jitter} ms");

        // A rate cap, one way: 1,000 bytes every 15 ms is 533 kbps offered, above the cap.
        let capped = Impairment {
            rate_kbps: Some(500.0),
            ..Impairment::default()
        };
        let relay = Relay::new(capped, Impairment::default(), Gate::Open, 13);
        let runs = through(&relay, 50, 1_000, Duration::from_millis(15)).await;
        let arrivals: Vec<Instant> = runs.iter().filter_map(|(_, e)| *e).collect();
        assert_eq!(arrivals.len(), 50, "the queue holds the excess");
        let span = ms(arrivals[49] - arrivals[0]);
        let kbps = 49.0 * 1_000.0 * 8.0 / span;
        assert!((450.0..550.0).contains(&kbps), "{kbps} kbps");

        // The gate: a client's own port is refused.
        let relay = Relay::new(
            Impairment::default(),
            Impairment::default(),
            Gate::OnlyFromPorts(61_000..=61_999),
            14,
        );
        let runs = through(&relay, 20, 100, Duration::from_millis(1)).await;
        assert!(runs.iter().all(|(_, e)| e.is_none()));
        assert_eq!(relay.counts.gated.load(AtomicOrdering::Relaxed), 20);
    }
}
