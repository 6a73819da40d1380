//! A seeded model of the signaling network between clients and the hub.

use std::collections::VecDeque;

use assistrtc_core::Millis;
use assistrtc_server::hub::ConnId;

/// How frames between a client and the hub are treated, both ways. Delay plus jitter reorders
/// frames of different connections whose sending times are closer than the jitter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Netem {
    /// Base one-way delay.
    pub delay_ms: u64,
    /// Extra delay drawn uniformly from `0..=jitter_ms` per frame.
    pub jitter_ms: u64,
    /// Probability that a relayed negotiation frame (offer, answer, candidate) is lost. Only
    /// those: signaling runs over one reliable connection, where the protocol relies on
    /// membership and publication frames arriving; negotiation frames are what a held seat's
    /// capped buffer or a dropped connection really loses, and what the watchdogs recover.
    pub loss: f64,
    /// Probability that a relayed negotiation frame is delivered twice.
    pub duplicate: f64,
}

impl Netem {
    /// A perfect network: every frame at once, in order.
    pub const CLEAN: Netem = Netem {
        delay_ms: 0,
        jitter_ms: 0,
        loss: 0.0,
        duplicate: 0.0,
    };
}

/// xorshift64*: small, seeded, good enough to draw network weather.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0.0..1.0`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// A frame on the wire: the connection it belongs to and its text, or `None` for the close.
pub(crate) type Frame = (ConnId, Option<String>);

/// Frames in flight one way, each due at a time. Frames of one connection stay in order (it
/// is one TCP stream); frames of different connections overtake each other under jitter.
#[derive(Debug, Default)]
pub(crate) struct Wire {
    in_flight: VecDeque<(Millis, u64, Frame)>,
    seq: u64,
    /// The latest due time given to each connection's frames.
    last: Vec<(ConnId, Millis)>,
}

impl Wire {
    fn due_after(&mut self, conn: ConnId, at: Millis) -> Millis {
        match self.last.iter_mut().find(|(c, _)| *c == conn) {
            Some((_, last)) => {
                *last = (*last).max(at);
                *last
            }
            None => {
                self.last.push((conn, at));
                at
            }
        }
    }

    /// Puts `frame` on the wire at `now` under `net`; only `negotiation` frames may be lost or
    /// duplicated (see [`Netem::loss`]).
    pub(crate) fn send(
        &mut self,
        frame: Frame,
        negotiation: bool,
        now: Millis,
        net: &Netem,
        rng: &mut Rng,
    ) {
        if negotiation && net.loss > 0.0 && rng.unit() < net.loss {
            return;
        }
        let copies = if negotiation && net.duplicate > 0.0 && rng.unit() < net.duplicate {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let at = now.after(net.delay_ms + rng.below(net.jitter_ms + 1));
            let at = self.due_after(frame.0, at);
            self.seq += 1;
            self.in_flight.push_back((at, self.seq, frame.clone()));
        }
    }

    /// Puts `frame` on the wire after everything already in flight on its connection, exempt
    /// from loss (a close, which the transport always reports).
    pub(crate) fn send_last(&mut self, frame: Frame, now: Millis) {
        let at = self.due_after(frame.0, now);
        self.seq += 1;
        self.in_flight.push_back((at, self.seq, frame));
    }

    /// Takes every frame due at `now`, earliest first.
    pub(crate) fn due(&mut self, now: Millis) -> Vec<Frame> {
        let mut due: Vec<(Millis, u64, Frame)> = Vec::new();
        let mut keep = VecDeque::new();
        for f in self.in_flight.drain(..) {
            if f.0 <= now {
                due.push(f);
            } else {
                keep.push_back(f);
            }
        }
        self.in_flight = keep;
        due.sort_by_key(|(t, s, _)| (*t, *s));
        due.into_iter().map(|(_, _, f)| f).collect()
    }

    pub(crate) fn next_at(&self) -> Option<Millis> {
        self.in_flight.iter().map(|(t, _, _)| *t).min()
    }

    pub(crate) fn clear(&mut self) {
        self.in_flight.clear();
    }
}
