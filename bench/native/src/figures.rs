//! What is measured (latency samples, bursts), the payloads both sides send, and the table.

use std::time::Duration;

use assistrtc_core::assist::{AssistMessage, Rect};

/// The kinds of assist message measured one at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A script step (reliable channel; each replaces the previous).
    Step,
    /// A new highlight (reliable channel).
    Highlight,
    /// Removing that highlight (reliable channel).
    Clear,
    /// A pointer move (cursor channel: unordered, no retransmits).
    Pointer,
}

impl Kind {
    pub(crate) const ALL: [Kind; 4] = [Kind::Step, Kind::Highlight, Kind::Clear, Kind::Pointer];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Kind::Step => "script step (reliable)",
            Kind::Highlight => "highlight (reliable)",
            Kind::Clear => "clear (reliable)",
            Kind::Pointer => "pointer (cursor channel)",
        }
    }
}

/// Least time between two sends of the latency runs, for every kind: the pointer's must exceed
/// the sender's coalescing interval (8 ms), and the same pace for all keeps the runs alike
/// (back to back, the threads never park and latencies come out several times lower).
pub(crate) const PACE: Duration = Duration::from_millis(12);

/// The ticket of the latency runs' script steps.
pub(crate) const TICKET: &str = "T-1042";
/// The ticket of the burst.
pub(crate) const BURST_TICKET: &str = "T-burst";
/// A script step title of a typical length.
pub(crate) fn title(step: u32) -> String {
    format!("Step {step}: unplug the router, wait ten seconds")
}
pub(crate) const COLOR: &str = "#ff3b30";
pub(crate) const RECT: Rect = Rect {
    x: 0.25,
    y: 0.25,
    w: 0.5,
    h: 0.125,
};

/// Pointer `i` of `n`: x encodes the sequence number on the wire's six-decimal grid, so each
/// move is recognised on arrival as sent.
pub(crate) fn pointer_x(i: usize, n: usize) -> f64 {
    ((i + 1) as f64 / (n + 2) as f64 * 1e6).round() / 1e6
}

/// The key a pointer x is recognised by.
pub(crate) fn pointer_key(x: f64) -> u64 {
    (x * 1e6).round() as u64
}

/// The wire text the SDK sends for sample `i` of `kind` (the plain pair sends the same text;
/// the SDK's own sequence numbers and ids may differ by a digit or two).
pub(crate) fn wire_text(kind: Kind, i: usize, n: usize) -> String {
    let seq = i as u64 + 1;
    let msg = match kind {
        Kind::Step => AssistMessage::ScriptStep {
            ticket: TICKET.into(),
            step: i as u32 + 1,
            total: n as u32,
            title: title(i as u32 + 1),
            seq,
        },
        Kind::Highlight => AssistMessage::Highlight {
            id: format!("s{}", i + 1),
            rect: RECT,
            color: COLOR.into(),
            ttl_ms: 0,
            at: 0,
            seq,
        },
        Kind::Clear => AssistMessage::Clear {
            id: Some(format!("s{}", i + 1)),
            at: 0,
            seq,
        },
        Kind::Pointer => AssistMessage::Cursor {
            x: pointer_x(i, n),
            y: 0.5,
            at: 0,
            seq,
        },
    };
    msg.encode().expect("the bench's messages are valid")
}

/// The wire text of burst message `i` of `m` (a script step).
pub(crate) fn burst_text(i: usize, m: usize) -> String {
    AssistMessage::ScriptStep {
        ticket: BURST_TICKET.into(),
        step: i as u32 + 1,
        total: m as u32,
        title: title(i as u32 + 1),
        seq: i as u64 + 1,
    }
    .encode()
    .expect("the bench's messages are valid")
}

/// Latencies of messages sent one at a time, and how many never arrived (within the wait).
#[derive(Debug, Default)]
pub(crate) struct Latency {
    pub(crate) samples: Vec<Duration>,
    pub(crate) lost: usize,
    /// Mean wire size, bytes.
    pub(crate) bytes: usize,
}

impl Latency {
    /// The `p`th percentile (nearest rank), in ms.
    pub(crate) fn pct(&self, p: f64) -> f64 {
        let mut sorted = self.samples.clone();
        sorted.sort();
        if sorted.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        ms(sorted[rank.clamp(1, sorted.len()) - 1])
    }

    fn max(&self) -> f64 {
        self.samples.iter().max().map_or(f64::NAN, |d| ms(*d))
    }
}

/// A burst: `sent` messages handed to the API as fast as it takes them.
#[derive(Debug, Default)]
pub(crate) struct Burst {
    pub(crate) sent: usize,
    /// Distinct messages the other side saw.
    pub(crate) delivered: usize,
    /// Wire bytes of all `sent`.
    pub(crate) bytes: usize,
    /// First send → the last message seen on the other side (or the wait's end).
    pub(crate) elapsed: Duration,
    /// First send → the API took the last one.
    pub(crate) accepted: Duration,
    /// The last message arrived within the wait.
    pub(crate) complete: bool,
}

impl Burst {
    /// Messages known to have arrived: all of them once the last did (the channel is
    /// ordered and reliable, and an app may see several in one overlay change).
    fn arrived(&self) -> usize {
        if self.complete {
            self.sent
        } else {
            self.delivered
        }
    }

    pub(crate) fn msgs_per_s(&self) -> f64 {
        self.arrived() as f64 / self.elapsed.as_secs_f64()
    }

    pub(crate) fn bytes_per_s(&self) -> f64 {
        let per = self.bytes as f64 / self.sent.max(1) as f64;
        self.arrived() as f64 * per / self.elapsed.as_secs_f64()
    }
}

/// Every figure of one side of the comparison.
#[derive(Debug, Default)]
pub(crate) struct Figures {
    pub(crate) latency: Vec<(Kind, Latency)>,
    /// The burst, labelled with the pair.
    pub(crate) bursts: Vec<(&'static str, Burst)>,
    /// Set-up times worth knowing (label, time).
    pub(crate) setup: Vec<(&'static str, Duration)>,
}

impl Figures {
    pub(crate) fn of(&self, kind: Kind) -> Option<&Latency> {
        self.latency
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, l)| l)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Prints both sides and their ratios.
pub(crate) fn print(sdk: &Figures, plain: &Figures) {
    println!();
    println!("assist latency, one at a time: send -> the other side sees it (ms)");
    println!(
        "{:<12} {:<26} {:>5} {:>5} {:>6} {:>8} {:>8} {:>8} {:>8}",
        "pair", "message", "n", "lost", "bytes", "p50", "p95", "p99", "max"
    );
    for (name, figures) in [("SDK", sdk), ("plain", plain)] {
        for (kind, l) in &figures.latency {
            println!(
                "{:<12} {:<26} {:>5} {:>5} {:>6} {:>8.3} {:>8.3} {:>8.3} {:>8.3}",
                name,
                kind.label(),
                l.samples.len(),
                l.lost,
                l.bytes,
                l.pct(50.0),
                l.pct(95.0),
                l.pct(99.0),
                l.max()
            );
        }
    }
    println!();
    println!("throughput: a burst of script steps on the reliable channel, sent back to back");
    println!(
        "{:<22} {:>6} {:>9} {:>10} {:>10} {:>12} {:>12} {:>9}",
        "pair", "sent", "delivered", "accept ms", "total ms", "msgs/s", "KB/s", "complete"
    );
    for (name, b) in sdk.bursts.iter().chain(&plain.bursts) {
        println!(
            "{:<22} {:>6} {:>9} {:>10.1} {:>10.1} {:>12.0} {:>12.1} {:>9}",
            name,
            b.sent,
            b.delivered,
            ms(b.accepted),
            ms(b.elapsed),
            b.msgs_per_s(),
            b.bytes_per_s() / 1024.0,
            if b.complete { "yes" } else { "NO" }
        );
    }
    println!();
    println!("overhead SDK / plain webrtc-rs");
    for kind in Kind::ALL {
        if let (Some(s), Some(p)) = (sdk.of(kind), plain.of(kind)) {
            println!(
                "  latency p50, {:<26} {:>6.2}x  ({:.3} ms vs {:.3} ms)",
                kind.label(),
                s.pct(50.0) / p.pct(50.0),
                s.pct(50.0),
                p.pct(50.0)
            );
        }
    }
    if let Some((_, s)) = sdk.bursts.first() {
        for (name, p) in &plain.bursts {
            println!(
                "  throughput, {:<28} {:>6.2}x  ({:.0} vs {:.0} msgs/s; above 1: the SDK is slower)",
                format!("{name} / SDK"),
                p.msgs_per_s() / s.msgs_per_s(),
                s.msgs_per_s(),
                p.msgs_per_s()
            );
        }
    }
    println!();
    println!("set-up");
    for (name, figures) in [("SDK", sdk), ("plain", plain)] {
        for (label, d) in &figures.setup {
            println!("  {name:<6} {label:<46} {:>9.1} ms", ms(*d));
        }
    }
}
