//! The server's clock, injectable so that tests run on virtual time.
//!
//! One clock gives both the `Millis` the hub's timers run on (join deadline, idle check, resume
//! grace, room expiry) and the Unix time join tokens are issued and checked with, so the two
//! never disagree. The driver also sleeps on it (the hub's next deadline, WebSocket pings).
//! A test passes a clock that moves only when the test says so: every deadline then fires at a
//! known step, while sockets stay real and bounded waits keep using tokio's own timer.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use assistrtc_core::Millis;
use tokio::time::Instant;

/// A future that completes when a [`Clock`] reaches a given time.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Where the server reads the time and waits for it.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch. Never goes back.
    fn now(&self) -> Millis;

    /// Completes once [`Clock::now`] has reached `at` (at once if it already has).
    fn sleep_until(&self, at: Millis) -> Sleep;
}

/// The real clock: monotonic, anchored at the Unix time of its creation, so that one `Millis`
/// serves token expiry (wall clock) and timers (monotonic). Wall-clock steps after creation are
/// not followed.
#[derive(Clone, Copy)]
pub struct SystemClock {
    start: Instant,
    start_unix_ms: u64,
}

impl SystemClock {
    /// A clock anchored now.
    pub fn new() -> Self {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self {
            start: Instant::now(),
            start_unix_ms: u64::try_from(unix.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SystemClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemClock")
            .field("start_unix_ms", &self.start_unix_ms)
            .finish_non_exhaustive()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        let elapsed = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        Millis(self.start_unix_ms.saturating_add(elapsed))
    }

    fn sleep_until(&self, at: Millis) -> Sleep {
        let at = self.start + Duration::from_millis(at.since(Millis(self.start_unix_ms)));
        Box::pin(tokio::time::sleep_until(at))
    }
}
