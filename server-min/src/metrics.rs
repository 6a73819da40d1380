//! Counters and gauges for `GET /metrics` (Prometheus text format 0.0.4).
//!
//! The hub's task updates them after every event it handles; the route only reads. Frame
//! handling time is measured on the wall clock (a monotonic `Instant`): it is an operational
//! figure, not an input of any decision.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use assistrtc_core::protocol::ErrorCode;

/// Upper bounds of the frame-handling histogram, in seconds.
const BUCKETS: [f64; 8] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05];

/// What the server counts.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    connections: AtomicU64,
    sessions: AtomicU64,
    rooms: AtomicU64,
    joins: AtomicU64,
    refused_total: AtomicU64,
    refused_per_ip: AtomicU64,
    slow_readers: AtomicU64,
    join_failures: Mutex<Vec<(ErrorCode, u64)>>,
    /// Frames from clients handled by the hub: per-bucket counts, the total and the sum (µs).
    frame_buckets: [AtomicU64; BUCKETS.len()],
    frames: AtomicU64,
    frame_micros: AtomicU64,
    /// Room store calls from the REST API: per-bucket counts, the total and the sum (µs).
    store_buckets: [AtomicU64; BUCKETS.len()],
    store_calls: AtomicU64,
    store_micros: AtomicU64,
}

impl Metrics {
    pub(crate) fn set_gauges(&self, connections: usize, sessions: usize, rooms: usize) {
        self.connections
            .store(connections as u64, Ordering::Relaxed);
        self.sessions.store(sessions as u64, Ordering::Relaxed);
        self.rooms.store(rooms as u64, Ordering::Relaxed);
    }

    /// A connection was refused by the total (`per_ip == false`) or per-address cap.
    pub(crate) fn connection_refused(&self, per_ip: bool) {
        let counter = if per_ip {
            &self.refused_per_ip
        } else {
            &self.refused_total
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection that did not read its frames was dropped (its seat held).
    pub(crate) fn slow_reader_dropped(&self) {
        self.slow_readers.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn joined(&self) {
        self.joins.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn join_failed(&self, code: ErrorCode) {
        let mut failures = self
            .join_failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match failures.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n += 1,
            None => failures.push((code, 1)),
        }
    }

    /// One client frame took `took` to handle and relay (hub work and queueing the outputs).
    pub(crate) fn frame_handled(&self, took: Duration) {
        observe(&self.frame_buckets, &self.frames, &self.frame_micros, took);
    }

    /// One room store call (run off the async tasks) took `took`, queueing included.
    pub(crate) fn store_call(&self, took: Duration) {
        observe(
            &self.store_buckets,
            &self.store_calls,
            &self.store_micros,
            took,
        );
    }

    /// The exposition text.
    pub(crate) fn render(&self) -> String {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out = String::new();
        let mut gauge = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        };
        gauge(
            "assistrtc_connections",
            "Open signaling WebSockets, joined or not.",
            get(&self.connections),
        );
        gauge(
            "assistrtc_sessions",
            "Joined signaling sessions.",
            get(&self.sessions),
        );
        gauge("assistrtc_rooms", "Rooms the hub knows.", get(&self.rooms));
        let _ = writeln!(
            out,
            "# HELP assistrtc_joins_total Joins accepted (fresh or resumed).\n\
             # TYPE assistrtc_joins_total counter\nassistrtc_joins_total {}",
            get(&self.joins)
        );
        let _ = writeln!(
            out,
            "# HELP assistrtc_connections_refused_total Connections refused by a cap.\n\
             # TYPE assistrtc_connections_refused_total counter\n\
             assistrtc_connections_refused_total{{cap=\"total\"}} {}\n\
             assistrtc_connections_refused_total{{cap=\"per_ip\"}} {}",
            get(&self.refused_total),
            get(&self.refused_per_ip)
        );
        let _ = writeln!(
            out,
            "# HELP assistrtc_slow_readers_dropped_total Connections dropped for not reading \
             their frames.\n# TYPE assistrtc_slow_readers_dropped_total counter\n\
             assistrtc_slow_readers_dropped_total {}",
            get(&self.slow_readers)
        );
        let _ = writeln!(
            out,
            "# HELP assistrtc_join_failures_total Joins refused, by error code.\n\
             # TYPE assistrtc_join_failures_total counter"
        );
        let failures = self
            .join_failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (code, n) in failures.iter() {
            let _ = writeln!(
                out,
                "assistrtc_join_failures_total{{code=\"{}\"}} {n}",
                code.as_str()
            );
        }
        histogram(
            &mut out,
            "assistrtc_frame_handling_seconds",
            "Time to handle a client frame and queue what it relays.",
            (&self.frame_buckets, &self.frames, &self.frame_micros),
        );
        histogram(
            &mut out,
            "assistrtc_store_call_seconds",
            "Time of a room store call from the REST API, queueing included.",
            (&self.store_buckets, &self.store_calls, &self.store_micros),
        );
        out
    }
}

fn observe(buckets: &[AtomicU64], count: &AtomicU64, micros: &AtomicU64, took: Duration) {
    let secs = took.as_secs_f64();
    for (bucket, bound) in buckets.iter().zip(BUCKETS) {
        if secs <= bound {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
    }
    count.fetch_add(1, Ordering::Relaxed);
    let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
    micros.fetch_add(us, Ordering::Relaxed);
}

fn histogram(
    out: &mut String,
    name: &str,
    help: &str,
    (buckets, count, micros): (&[AtomicU64], &AtomicU64, &AtomicU64),
) {
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    for (bucket, bound) in buckets.iter().zip(BUCKETS) {
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {}", get(bucket));
    }
    let n = get(count);
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {n}");
    let _ = writeln!(
        out,
        "{name}_sum {}\n{name}_count {n}",
        get(micros) as f64 / 1e6
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_has_every_family_and_cumulative_buckets() {
        let m = Metrics::default();
        m.set_gauges(3, 2, 1);
        m.joined();
        m.join_failed(ErrorCode::Unauthorized);
        m.join_failed(ErrorCode::Unauthorized);
        m.frame_handled(Duration::from_micros(300));
        m.frame_handled(Duration::from_millis(20));
        m.connection_refused(true);
        m.slow_reader_dropped();
        m.store_call(Duration::from_micros(80));
        let text = m.render();
        for line in [
            "assistrtc_connections 3",
            "assistrtc_sessions 2",
            "assistrtc_rooms 1",
            "assistrtc_joins_total 1",
            "assistrtc_connections_refused_total{cap=\"per_ip\"} 1",
            "assistrtc_connections_refused_total{cap=\"total\"} 0",
            "assistrtc_slow_readers_dropped_total 1",
            "assistrtc_join_failures_total{code=\"unauthorized\"} 2",
            "assistrtc_frame_handling_seconds_bucket{le=\"0.00025\"} 0",
            "assistrtc_frame_handling_seconds_bucket{le=\"0.0005\"} 1",
            "assistrtc_frame_handling_seconds_bucket{le=\"0.05\"} 2",
            "assistrtc_frame_handling_seconds_bucket{le=\"+Inf\"} 2",
            "assistrtc_frame_handling_seconds_count 2",
            "assistrtc_store_call_seconds_bucket{le=\"0.0001\"} 1",
            "assistrtc_store_call_seconds_count 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
