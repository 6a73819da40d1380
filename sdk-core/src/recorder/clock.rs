//! The recording's own clock: media time, which stands still while the recording is paused.

use crate::Millis;

/// Media time in milliseconds: time spent recording, paused spans excluded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct MediaClock {
    /// Media time gathered before the current running span.
    banked: u64,
    /// When the current running span began, on the driver's clock; `None` while stopped.
    running_since: Option<Millis>,
}

impl MediaClock {
    /// Starts (or resumes) counting at `now`; no-op when running.
    pub(super) fn run(&mut self, now: Millis) {
        if self.running_since.is_none() {
            self.running_since = Some(now);
        }
    }

    /// Stops counting at `now`; no-op when stopped.
    pub(super) fn halt(&mut self, now: Millis) {
        if let Some(since) = self.running_since.take() {
            self.banked += now.since(since);
        }
    }

    /// The media time at `now`.
    pub(super) fn at(&self, now: Millis) -> u64 {
        self.banked + self.running_since.map_or(0, |since| now.since(since))
    }

    /// When, on the driver's clock, the media time reaches `media`; `None` while stopped.
    pub(super) fn when(&self, media: u64) -> Option<Millis> {
        let since = self.running_since?;
        Some(since.after(media.saturating_sub(self.banked)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paused_spans_do_not_count() {
        let mut c = MediaClock::default();
        assert_eq!(c.at(Millis(50)), 0);
        c.run(Millis(100));
        assert_eq!(c.at(Millis(1_100)), 1_000);
        c.halt(Millis(1_100));
        assert_eq!(c.at(Millis(9_000)), 1_000);
        assert_eq!(c.when(2_000), None);
        c.run(Millis(10_000));
        c.run(Millis(10_500)); // already running: ignored
        assert_eq!(c.at(Millis(10_500)), 1_500);
        assert_eq!(c.when(2_000), Some(Millis(11_000)));
        assert_eq!(c.when(500), Some(Millis(10_000))); // already past: due now
    }
}
