//! The sending side: ids, sequence numbers, cursor coalescing.

use std::collections::VecDeque;

use super::{AssistError, AssistMessage, Point, Rect};
use crate::{Millis, text};

/// Which DataChannel a message goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// `assist`: ordered, reliable — shapes, clears, script steps.
    Reliable,
    /// `assist-cursor`: unordered, `maxRetransmits: 0` — cursor moves.
    Cursor,
}

impl Channel {
    /// The DataChannel label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Reliable => "assist",
            Self::Cursor => "assist-cursor",
        }
    }
}

/// One message to put on a channel.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Transmit {
    /// The channel.
    pub channel: Channel,
    /// The encoded message.
    pub payload: String,
}

/// Sans-IO sender: call the commands, then drain [`poll_transmit`](Self::poll_transmit); arm a
/// timer from [`poll_timeout`](Self::poll_timeout) for the coalesced cursor.
#[derive(Debug)]
pub struct AssistSender {
    interval_ms: u64,
    seq: u64,
    next_shape: u64,
    /// The latest cursor not yet sent: (x, y, media time).
    pending_cursor: Option<(f64, f64, u64)>,
    last_cursor_sent: Option<Millis>,
    out: VecDeque<Transmit>,
}

impl AssistSender {
    /// A sender that sends at most one cursor move per `frame_interval_ms` (16 for 60 Hz).
    pub fn new(frame_interval_ms: u64) -> Self {
        Self {
            interval_ms: frame_interval_ms.max(1),
            seq: 0,
            next_shape: 0,
            pending_cursor: None,
            last_cursor_sent: None,
            out: VecDeque::new(),
        }
    }

    /// Moves the pointer. Sent at once if a frame interval passed since the last cursor move,
    /// else kept as the latest and sent when [`poll_timeout`](Self::poll_timeout) is due.
    pub fn pointer(&mut self, x: f64, y: f64, at: u64, now: Millis) -> Result<(), AssistError> {
        AssistMessage::Cursor { x, y, at, seq: 0 }.validate()?;
        self.pending_cursor = Some((x, y, at));
        self.handle_timeout(now);
        Ok(())
    }

    /// Draws a highlight; returns its id.
    pub fn highlight(
        &mut self,
        rect: Rect,
        color: &str,
        ttl_ms: u64,
        at: u64,
    ) -> Result<String, AssistError> {
        self.shape(|id, seq| AssistMessage::Highlight {
            id,
            rect,
            color: color.into(),
            ttl_ms,
            at,
            seq,
        })
    }

    /// Draws an arrow; returns its id.
    pub fn arrow(
        &mut self,
        from: Point,
        to: Point,
        color: &str,
        ttl_ms: u64,
        at: u64,
    ) -> Result<String, AssistError> {
        self.shape(|id, seq| AssistMessage::Arrow {
            id,
            from,
            to,
            color: color.into(),
            ttl_ms,
            at,
            seq,
        })
    }

    /// Clears one shape, or all of this sender's.
    pub fn clear(&mut self, id: Option<&str>, at: u64) -> Result<(), AssistError> {
        self.reliable(|seq| AssistMessage::Clear {
            id: id.map(str::to_owned),
            at,
            seq,
        })
    }

    /// Announces the current script step.
    pub fn script_step(
        &mut self,
        ticket: &str,
        step: u32,
        total: u32,
        title: &str,
    ) -> Result<(), AssistError> {
        self.reliable(|seq| AssistMessage::ScriptStep {
            ticket: ticket.into(),
            step,
            total,
            title: title.into(),
            seq,
        })
    }

    /// Numbers and encodes `msg` for one link only, without queueing it for every link: how a
    /// link opened later is sent what is already drawn ([`Overlay::replay`](super::Overlay::replay)).
    pub fn encode_for_one(&mut self, msg: AssistMessage) -> Result<String, AssistError> {
        let payload = msg.with_seq(self.seq + 1).encode()?;
        self.seq += 1;
        Ok(payload)
    }

    /// Builds a message with the next sequence number and queues it on the reliable channel;
    /// an invalid message is refused and uses up no sequence number.
    fn reliable(&mut self, build: impl FnOnce(u64) -> AssistMessage) -> Result<(), AssistError> {
        let msg = build(self.seq + 1);
        let payload = msg.encode()?;
        self.seq += 1;
        self.out.push_back(Transmit {
            channel: Channel::Reliable,
            payload,
        });
        Ok(())
    }

    /// Like [`reliable`](Self::reliable) for a new shape; returns its id (`s1`, `s2`, …).
    fn shape(
        &mut self,
        build: impl FnOnce(String, u64) -> AssistMessage,
    ) -> Result<String, AssistError> {
        let mut id = String::from("s");
        text::push_decimal(&mut id, self.next_shape + 1);
        self.reliable(|seq| build(id.clone(), seq))?;
        self.next_shape += 1;
        Ok(id)
    }

    /// Whether a message waits for [`poll_transmit`](Self::poll_transmit).
    pub fn has_transmit(&self) -> bool {
        !self.out.is_empty()
    }

    /// The next message to put on a channel, if any.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    /// When the coalesced cursor may go out.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.pending_cursor?;
        Some(
            self.last_cursor_sent
                .map_or(Millis(0), |t| t.after(self.interval_ms)),
        )
    }

    /// Sends the latest cursor if its frame interval has come.
    pub fn handle_timeout(&mut self, now: Millis) {
        let due = self.poll_timeout().is_some_and(|t| now >= t);
        if !due {
            return;
        }
        if let Some((x, y, at)) = self.pending_cursor.take() {
            self.seq += 1;
            let seq = self.seq;
            // Validated when stored; encoding cannot fail for a valid cursor.
            if let Ok(payload) = (AssistMessage::Cursor { x, y, at, seq }).encode() {
                self.out.push_back(Transmit {
                    channel: Channel::Cursor,
                    payload,
                });
                self.last_cursor_sent = Some(now);
            }
        }
    }
}
