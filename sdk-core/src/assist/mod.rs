//! Remote assist: the agent points at the customer's shared screen and walks them through a
//! script. Visual hints only, never control.
//!
//! - [`AssistMessage`]: the compact, versioned JSON on the `assist` (ordered, reliable) and
//!   `assist-cursor` (unordered, no retransmits) DataChannels, with typed validation errors.
//! - [`AssistSender`]: gives shapes ids and sequence numbers and coalesces cursor moves to the
//!   latest per frame interval, so a 60 Hz+ pointer never builds a backlog.
//! - [`Overlay`]: the receiver's model — apply messages from members allowed to `annotate`,
//!   expire by TTL at `now`, answer what is visible — the same on every platform.
//!
//! ```
//! use assistrtc_core::Millis;
//! use assistrtc_core::assist::{AssistSender, Overlay, Rect};
//! use assistrtc_core::permissions::Capabilities;
//! use assistrtc_core::protocol::{MemberId, Permissions, Role};
//!
//! let agent = MemberId::new("agent_1").unwrap();
//! let mut sender = AssistSender::new(16);
//! let rect = Rect { x: 0.1, y: 0.1, w: 0.2, h: 0.2 };
//! let id = sender.highlight(rect, "#ff0000", 5_000, 0).unwrap();
//! let mut overlay = Overlay::default();
//! let caps = Capabilities::for_role(Role::Host, Permissions::default());
//! while let Some(t) = sender.poll_transmit() {
//!     overlay.apply_text(&agent, caps, &t.payload, Millis(100)).unwrap();
//! }
//! assert_eq!(overlay.visible(Millis(100)).shapes[0].id, id);
//! assert!(overlay.visible(Millis(5_100)).shapes.is_empty()); // expired by TTL
//! ```

mod message;
mod overlay;
mod sender;

pub use message::*;
pub use overlay::*;
pub use sender::*;

use crate::protocol::ErrorCode;
use crate::text;

/// Why an assist message was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.message())]
#[non_exhaustive]
pub enum AssistError {
    /// Not JSON, or a field of the wrong shape.
    Malformed(String),
    /// `v` is not [`ASSIST_VERSION`].
    UnsupportedVersion(String),
    /// `t` is missing or unknown.
    UnknownKind(String),
    /// A coordinate is NaN.
    NotANumber {
        /// The field.
        field: &'static str,
    },
    /// A value is outside its range (coordinates 0..=1, TTL, step ≤ total).
    OutOfRange {
        /// The field.
        field: &'static str,
    },
    /// A string is empty or too long.
    TooLong {
        /// The field.
        field: &'static str,
        /// Its limit.
        max: usize,
    },
    /// A color is not `#rrggbb`.
    BadColor(String),
    /// The message exceeds [`MAX_MESSAGE_BYTES`].
    Oversize {
        /// Its size.
        size: usize,
    },
    /// The overlay already holds [`MAX_SHAPES`] shapes.
    TooManyShapes,
    /// The sender's capabilities do not include `annotate`.
    NotAllowed(String),
}

impl AssistError {
    /// Why the message was refused (also the `Display` text), e.g. `` `x` is out of range``.
    /// Built without `core::fmt`, so a browser build that reports it carries no formatting
    /// code.
    pub fn message(&self) -> String {
        match self {
            Self::Malformed(detail) => ["malformed assist message: ", detail].concat(),
            Self::UnsupportedVersion(v) => ["unsupported assist version ", v].concat(),
            Self::UnknownKind(kind) => ["unknown assist kind ", kind].concat(),
            Self::NotANumber { field } => ["`", field, "` is not a number"].concat(),
            Self::OutOfRange { field } => ["`", field, "` is out of range"].concat(),
            Self::TooLong { field, max } => [
                "`",
                field,
                "` must be 1-",
                &text::decimal(*max as u64),
                " bytes",
            ]
            .concat(),
            Self::BadColor(color) => ["color \"", color, "\" is not #rrggbb"].concat(),
            Self::Oversize { size } => [
                "assist message of ",
                &text::decimal(*size as u64),
                " bytes exceeds ",
                &text::decimal(MAX_MESSAGE_BYTES as u64),
            ]
            .concat(),
            Self::TooManyShapes => [
                "too many live shapes (max ",
                &text::decimal(MAX_SHAPES as u64),
                ")",
            ]
            .concat(),
            Self::NotAllowed(member) => ["member ", member, " may not annotate"].concat(),
        }
    }

    /// The stable code: `forbidden` for permission and capacity refusals, else `bad_request`.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotAllowed(_) => ErrorCode::Forbidden,
            Self::UnsupportedVersion(_) => ErrorCode::UnsupportedVersion,
            Self::TooManyShapes => ErrorCode::Conflict,
            _ => ErrorCode::BadRequest,
        }
    }
}

#[cfg(test)]
mod tests;
