//! The assist sidecar: every annotation and script step shown during a recording, with the
//! recording's media time, so playback can redraw them.

use crate::assist::AssistMessage;
use crate::json::{ObjectWriter, ToJson};
use crate::protocol::MemberId;

/// Sidecar format version.
pub const SIDECAR_VERSION: u64 = 1;
/// Entries a sidecar holds at most; later ones are counted in `dropped`.
pub const MAX_SIDECAR_ENTRIES: usize = 10_000;

/// One assist message at its media time.
#[derive(Debug, Clone, PartialEq)]
pub struct SidecarEntry {
    /// Media time it was shown at.
    pub at_ms: u64,
    /// Who sent it.
    pub member: MemberId,
    /// The message.
    pub message: AssistMessage,
    /// `message` as on the wire, encoded once when recorded.
    text: String,
}

/// The assist sidecar: every annotation and script step shown during a recording, with the
/// recording's media time, so playback can redraw them.
///
/// The JSON, fields in this order:
///
/// | field | meaning |
/// |---|---|
/// | `version` | sidecar format version, [`SIDECAR_VERSION`] |
/// | `entries` | `[{at_ms, member, message}]` in the order recorded: `at_ms` the media time it was shown at (messages during a pause carry the paused position, so they are in place when recording resumes), `member` who sent it, `message` the assist message exactly as on the wire (`{"v":1,"t":"highlight",…}`; see [`AssistMessage`]; its own `at` is the sender's frame time, not the recording's) |
/// | `dropped` | entries left out after [`MAX_SIDECAR_ENTRIES`] |
///
/// Cursor moves are not recorded: they come at frame rate and only the latest matters. A
/// shape's `ttl_ms` runs on media time in playback.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sidecar {
    entries: Vec<SidecarEntry>,
    dropped: u64,
}

impl Sidecar {
    /// The entries, in the order recorded.
    pub fn entries(&self) -> &[SidecarEntry] {
        &self.entries
    }

    /// Entries left out past [`MAX_SIDECAR_ENTRIES`].
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Moves every entry `lag` earlier (not before 0).
    pub(super) fn rebase(&mut self, lag: u64) {
        for e in &mut self.entries {
            e.at_ms = e.at_ms.saturating_sub(lag);
        }
    }

    /// Adds `message` at media time `at_ms`; `false` when it is not recorded (a cursor move,
    /// or a message that does not validate).
    pub(super) fn push(&mut self, at_ms: u64, member: &MemberId, message: &AssistMessage) -> bool {
        if matches!(message, AssistMessage::Cursor { .. }) {
            return false;
        }
        let Ok(text) = message.encode() else {
            return false;
        };
        if self.entries.len() >= MAX_SIDECAR_ENTRIES {
            self.dropped += 1;
            return false;
        }
        self.entries.push(SidecarEntry {
            at_ms,
            member: member.clone(),
            message: message.clone(),
            text,
        });
        true
    }
}

impl ToJson for Sidecar {
    fn write_json(&self, out: &mut String) {
        let mut w = ObjectWriter::new(out);
        w.field("version", &SIDECAR_VERSION)
            .field("entries", &self.entries)
            .field("dropped", &self.dropped);
        w.finish();
    }
}

impl ToJson for SidecarEntry {
    fn write_json(&self, out: &mut String) {
        let mut w = ObjectWriter::new(out);
        w.field("at_ms", &self.at_ms)
            .field("member", self.member.as_str());
        // Already JSON: written as is.
        w.key("message").push_str(&self.text);
        w.finish();
    }
}
