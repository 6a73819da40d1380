//! The recorder's states, and the options a recording starts with.

use super::RecorderError;

/// Where a recording is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecorderState {
    /// Not started.
    Idle,
    /// Recording.
    Recording,
    /// Paused by the user or for lack of consent; media time stands still.
    Paused,
    /// Ended by `stop`, a cap, or the platform.
    Stopped,
    /// The platform's recorder failed; what was recorded is kept.
    Failed,
}

impl RecorderState {
    /// The stable name: `idle`, `recording`, `paused`, `stopped`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Recording => "recording",
            Self::Paused => "paused",
            Self::Stopped => "stopped",
            Self::Failed => "failed",
        }
    }

    pub(super) fn running(self) -> bool {
        matches!(self, Self::Recording | Self::Paused)
    }
}

/// How a recording is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecorderOptions {
    /// Chunk interval asked of the platform, 100..=60 000 ms. Default 1 000.
    pub timeslice_ms: u64,
    /// Stop once this many bytes are recorded; `None` for no cap. Default 1 GiB.
    pub max_bytes: Option<u64>,
    /// Stop at this media time; `None` for no cap. Default two hours.
    pub max_duration_ms: Option<u64>,
    /// Warn once at this percentage of each cap, 1..=99. Default 90.
    pub warn_at_percent: u8,
    /// Unix time (ms) at start, from the driver's wall clock, for the manifest. Default none.
    pub wall_clock_start_ms: Option<u64>,
}

impl Default for RecorderOptions {
    fn default() -> Self {
        Self {
            timeslice_ms: 1_000,
            max_bytes: Some(1 << 30),
            max_duration_ms: Some(2 * 60 * 60 * 1_000),
            warn_at_percent: 90,
            wall_clock_start_ms: None,
        }
    }
}

impl RecorderOptions {
    pub(super) fn validate(&self) -> Result<(), RecorderError> {
        let field = if !(100..=60_000).contains(&self.timeslice_ms) {
            "timeslice_ms"
        } else if self.max_bytes == Some(0) {
            "max_bytes"
        } else if self.max_duration_ms == Some(0) {
            "max_duration_ms"
        } else if !(1..=99).contains(&self.warn_at_percent) {
            "warn_at_percent"
        } else {
            return Ok(());
        };
        Err(RecorderError::InvalidOptions { field })
    }

    /// The warning threshold of a cap.
    pub(super) fn warn_at(&self, limit: u64) -> u64 {
        (u128::from(limit) * u128::from(self.warn_at_percent) / 100) as u64
    }
}

/// What a local recording takes in, from the call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum RecordedMedia {
    /// Both sides: every member's video composed into one picture, every member's audio
    /// mixed (the default).
    #[default]
    Mixed,
    /// What this member publishes.
    Local,
    /// What the other members publish.
    Remote,
    /// The shared screen (whoever shares it) and everyone's audio.
    Screen,
}

impl RecordedMedia {
    /// The stable name: `mixed`, `local`, `remote`, `screen`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mixed => "mixed",
            Self::Local => "local",
            Self::Remote => "remote",
            Self::Screen => "screen",
        }
    }

    /// The value of a stable name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Mixed, Self::Local, Self::Remote, Self::Screen]
            .into_iter()
            .find(|m| m.as_str() == name)
    }
}

/// Where picture `index` of `count` goes in a composed (`mixed`) recording, as
/// `(x, y, w, h)` fractions of the frame: side by side, in equal columns, in the order the
/// call lists the sources (this member's first). `None` for an index out of range.
pub fn tile(index: usize, count: usize) -> Option<(f64, f64, f64, f64)> {
    if index >= count {
        return None;
    }
    let w = 1.0 / count as f64;
    Some((w * index as f64, 0.0, w, 1.0))
}
