//! Jittered exponential backoff with a seeded generator, so reconnect timing is reproducible
//! in tests and still spread out across a fleet of clients in production (seed per client).

/// Reconnect timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffConfig {
    /// Delay before the first retry, before jitter.
    pub initial_ms: u64,
    /// Upper bound of any delay.
    pub max_ms: u64,
    /// Attempts before giving up.
    pub max_attempts: u32,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial_ms: 250,
            max_ms: 10_000,
            max_attempts: 12,
        }
    }
}

/// SplitMix64: tiny, fast, good enough for jitter (not for secrets).
#[derive(Debug, Clone)]
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// "Equal jitter": half the exponential delay fixed, half random, so retries never bunch
    /// at zero yet never synchronise.
    pub(crate) fn delay(&mut self, config: &BackoffConfig, attempt: u32) -> u64 {
        let exp = config
            .initial_ms
            .saturating_mul(1u64 << attempt.min(32))
            .min(config.max_ms);
        let half = exp / 2;
        half + self.next() % (exp - half + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_stay_bounded_and_vary() {
        let config = BackoffConfig::default();
        let mut j = Jitter::new(7);
        let mut last_floor = 0;
        for attempt in 0..20 {
            let exp = (config.initial_ms << attempt.min(32)).min(config.max_ms);
            let d = j.delay(&config, attempt);
            assert!(d >= exp / 2 && d <= exp, "attempt {attempt}: {d}");
            assert!(exp / 2 >= last_floor);
            last_floor = exp / 2;
        }
        let a: Vec<u64> = (0..5).map(|i| Jitter::new(1).delay(&config, i)).collect();
        let b: Vec<u64> = (0..5).map(|i| Jitter::new(2).delay(&config, i)).collect();
        assert_ne!(a, b, "different seeds spread clients apart");
    }
}
