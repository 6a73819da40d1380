//! Per-connection token bucket, on the caller's clock.

use assistrtc_core::Millis;

/// How many frames a connection may send: a burst, refilled at a steady rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Frames that may arrive back to back (bucket size).
    pub burst: u32,
    /// Frames per second added back to the bucket.
    pub refill_per_sec: u32,
}

impl Default for RateLimit {
    /// 200 frames of burst, refilled at 100 frames per second.
    fn default() -> Self {
        Self {
            burst: 200,
            refill_per_sec: 100,
        }
    }
}

/// Tokens are counted in thousandths so that refill is exact integer math: `refill_per_sec`
/// tokens per second is `refill_per_sec` milli-tokens per millisecond.
const MILLI: u64 = 1000;

#[derive(Debug)]
pub(crate) struct TokenBucket {
    milli_tokens: u64,
    at: Millis,
}

impl TokenBucket {
    pub(crate) fn full(limit: RateLimit, now: Millis) -> Self {
        Self {
            milli_tokens: u64::from(limit.burst) * MILLI,
            at: now,
        }
    }

    /// Takes one token; `false` when the bucket is empty.
    pub(crate) fn take(&mut self, limit: RateLimit, now: Millis) -> bool {
        let elapsed = now.since(self.at);
        self.at = self.at.max(now);
        let cap = u64::from(limit.burst) * MILLI;
        let refill = elapsed.saturating_mul(u64::from(limit.refill_per_sec));
        self.milli_tokens = self.milli_tokens.saturating_add(refill).min(cap);
        if self.milli_tokens >= MILLI {
            self.milli_tokens -= MILLI;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_steady_refill() {
        let limit = RateLimit {
            burst: 3,
            refill_per_sec: 10,
        };
        let mut b = TokenBucket::full(limit, Millis(1000));
        assert!((0..3).all(|_| b.take(limit, Millis(1000))));
        assert!(!b.take(limit, Millis(1000)));
        // 10/s is one token per 100 ms.
        assert!(!b.take(limit, Millis(1099)));
        assert!(b.take(limit, Millis(1100)));
        assert!(!b.take(limit, Millis(1100)));
        // A long pause refills only up to the burst.
        assert!((0..3).all(|_| b.take(limit, Millis(60_000))));
        assert!(!b.take(limit, Millis(60_000)));
        // A clock that steps back refills nothing.
        assert!(!b.take(limit, Millis(10)));
    }
}
