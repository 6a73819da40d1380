//! The receiving side: what is drawn over the shared screen, at a time `now`.

use super::{AssistError, AssistMessage, Point, Rect};
use crate::Millis;
use crate::json::{ObjectWriter, ToJson};
use crate::permissions::{Capabilities, Capability};
use crate::protocol::MemberId;
use crate::vecmap::VecMap;

/// Live shapes an overlay holds at most.
pub const MAX_SHAPES: usize = 64;
/// A cursor not moved for this long is hidden.
pub const CURSOR_IDLE_MS: u64 = 5_000;

/// What a shape looks like.
#[derive(Debug, Clone, PartialEq)]
pub enum ShapeKind {
    /// A box.
    Highlight {
        /// The box.
        rect: Rect,
    },
    /// An arrow.
    Arrow {
        /// Tail.
        from: Point,
        /// Head.
        to: Point,
    },
}

/// A live shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// Who drew it.
    pub member: String,
    /// Its id (unique per sender).
    pub id: String,
    /// Geometry.
    pub kind: ShapeKind,
    /// `#rrggbb`.
    pub color: String,
    /// Media time of the frame it was drawn on.
    pub at: u64,
    /// When it disappears, on the overlay's clock; `None` until cleared.
    pub expires: Option<Millis>,
}

/// A member's pointer.
#[derive(Debug, Clone, PartialEq)]
pub struct CursorView {
    /// Whose.
    pub member: String,
    /// Position.
    pub x: f64,
    /// Position.
    pub y: f64,
    /// Media time of the frame.
    pub at: u64,
    seq: u64,
    updated: Millis,
}

/// The current script step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepView {
    /// Who set it.
    pub member: String,
    /// Ticket id.
    pub ticket: String,
    /// 1-based step.
    pub step: u32,
    /// Number of steps.
    pub total: u32,
    /// Title.
    pub title: String,
}

/// Everything visible at one moment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OverlayView {
    /// Shapes, oldest first.
    pub shapes: Vec<Shape>,
    /// Pointers.
    pub cursors: Vec<CursorView>,
    /// Script step.
    pub step: Option<StepView>,
}

impl ToJson for OverlayView {
    /// `{"shapes":[…],"cursors":[…],"step":{…}}`, the JS `OverlayView`; `step` is left out when
    /// there is none.
    fn write_json(&self, out: &mut String) {
        let mut w = ObjectWriter::new(out);
        w.field("shapes", &self.shapes)
            .field("cursors", &self.cursors)
            .opt("step", self.step.as_ref());
        w.finish();
    }
}

impl ToJson for Shape {
    fn write_json(&self, out: &mut String) {
        let mut w = ObjectWriter::new(out);
        w.field("member", &self.member).field("id", &self.id);
        match &self.kind {
            ShapeKind::Highlight { rect } => {
                w.field("kind", "highlight").field("rect", rect);
            }
            ShapeKind::Arrow { from, to } => {
                w.field("kind", "arrow").field("from", from).field("to", to);
            }
        }
        w.field("color", &self.color).field("at", &self.at);
        w.finish();
    }
}

impl ToJson for CursorView {
    fn write_json(&self, out: &mut String) {
        let mut w = ObjectWriter::new(out);
        w.field("member", &self.member)
            .coord("x", self.x)
            .coord("y", self.y)
            .field("at", &self.at);
        w.finish();
    }
}

impl ToJson for StepView {
    fn write_json(&self, out: &mut String) {
        let mut w = ObjectWriter::new(out);
        w.field("member", &self.member)
            .field("ticket", &self.ticket)
            .field("step", &self.step)
            .field("total", &self.total)
            .field("title", &self.title);
        w.finish();
    }
}

/// The receiver's overlay model. Apply messages with [`apply`](Self::apply) /
/// [`apply_text`](Self::apply_text); ask what is visible with [`visible`](Self::visible).
#[derive(Debug, Default)]
pub struct Overlay {
    shapes: VecMap<(String, String), (u64, Shape)>,
    cursors: VecMap<String, CursorView>,
    step: Option<StepView>,
    order: u64,
}

impl Overlay {
    /// Decodes and applies one message from `from`, whose capabilities are `caps`.
    /// Returns whether what is visible changed.
    pub fn apply_text(
        &mut self,
        from: &MemberId,
        caps: Capabilities,
        text: &str,
        now: Millis,
    ) -> Result<bool, AssistError> {
        if !caps.contains(Capability::Annotate) {
            // Refuse before decoding: nothing from this member is drawn, whatever it says.
            return Err(AssistError::NotAllowed(from.as_str().to_owned()));
        }
        let msg = AssistMessage::decode(text)?;
        self.apply(from, caps, msg, now)
    }

    /// Applies one decoded message. Returns whether what is visible changed.
    pub fn apply(
        &mut self,
        from: &MemberId,
        caps: Capabilities,
        msg: AssistMessage,
        now: Millis,
    ) -> Result<bool, AssistError> {
        if !caps.contains(Capability::Annotate) {
            return Err(AssistError::NotAllowed(from.as_str().to_owned()));
        }
        msg.validate()?;
        let who = from.as_str().to_owned();
        let expiry = |ttl: u64| (ttl > 0).then(|| now.after(ttl));
        match msg {
            AssistMessage::Cursor { x, y, at, seq } => {
                // The cursor channel is unordered: an older move arriving late is dropped. A
                // move without `seq` (0, as DESIGN's minimal form) is taken as the latest.
                if seq > 0 && self.cursors.get(&who).is_some_and(|c| c.seq >= seq) {
                    return Ok(false);
                }
                self.cursors.insert(
                    who.clone(),
                    CursorView {
                        member: who,
                        x,
                        y,
                        at,
                        seq,
                        updated: now,
                    },
                );
            }
            AssistMessage::Highlight {
                id,
                rect,
                color,
                ttl_ms,
                at,
                ..
            } => {
                self.put(
                    Shape {
                        member: who,
                        id,
                        kind: ShapeKind::Highlight { rect },
                        color,
                        at,
                        expires: expiry(ttl_ms),
                    },
                    now,
                )?;
            }
            AssistMessage::Arrow {
                id,
                from: tail,
                to,
                color,
                ttl_ms,
                at,
                ..
            } => {
                self.put(
                    Shape {
                        member: who,
                        id,
                        kind: ShapeKind::Arrow { from: tail, to },
                        color,
                        at,
                        expires: expiry(ttl_ms),
                    },
                    now,
                )?;
            }
            AssistMessage::Clear { id: Some(id), .. } => {
                return Ok(self.shapes.remove(&(who, id)).is_some());
            }
            AssistMessage::Clear { id: None, .. } => {
                let before = self.shapes.len();
                self.shapes.retain(|(owner, _), _| *owner != who);
                return Ok(self.shapes.len() != before);
            }
            AssistMessage::ScriptStep {
                ticket,
                step,
                total,
                title,
                ..
            } => {
                self.step = Some(StepView {
                    member: who,
                    ticket,
                    step,
                    total,
                    title,
                });
            }
        }
        Ok(true)
    }

    fn put(&mut self, shape: Shape, now: Millis) -> Result<(), AssistError> {
        let key = (shape.member.clone(), shape.id.clone());
        if !self.shapes.contains_key(&key) {
            self.expire(now);
            if self.shapes.len() >= MAX_SHAPES {
                return Err(AssistError::TooManyShapes);
            }
        }
        self.order += 1;
        self.shapes.insert(key, (self.order, shape));
        Ok(())
    }

    /// Drops expired shapes and idle cursors. Returns whether anything went.
    pub fn expire(&mut self, now: Millis) -> bool {
        let before = self.shapes.len() + self.cursors.len();
        self.shapes
            .retain(|_, (_, s)| s.expires.is_none_or(|t| t > now));
        self.cursors
            .retain(|_, c| now.since(c.updated) < CURSOR_IDLE_MS);
        before != self.shapes.len() + self.cursors.len()
    }

    /// When the next shape expires or cursor goes idle.
    pub fn poll_timeout(&self) -> Option<Millis> {
        let shapes = self.shapes.values().filter_map(|(_, s)| s.expires);
        let cursors = self
            .cursors
            .values()
            .map(|c| c.updated.after(CURSOR_IDLE_MS));
        shapes.chain(cursors).min()
    }

    /// Forgets everything a member drew (they left).
    pub fn remove_member(&mut self, member: &MemberId) {
        let who = member.as_str();
        self.shapes.retain(|(owner, _), _| owner != who);
        self.cursors.remove(who);
        if self.step.as_ref().is_some_and(|s| s.member == who) {
            self.step = None;
        }
    }

    /// The messages that recreate, on a peer link opened later (a late joiner, a fresh rejoin),
    /// what `member` has drawn and still shows at `now`: its live shapes, oldest first, with
    /// their remaining lifetime, then its script step if it set the current one, then its
    /// pointer if it has not gone idle. Numbered with
    /// `seq` 0; number them with [`AssistSender::encode_for_one`](super::AssistSender::encode_for_one).
    pub fn replay(&self, member: &MemberId, now: Millis) -> Vec<AssistMessage> {
        let who = member.as_str();
        let mut out = Vec::new();
        for shape in self
            .live_shapes(now)
            .into_iter()
            .filter(|s| s.member == who)
        {
            // Live means `expires > now`, so a remaining lifetime is never 0 ("until cleared").
            let ttl_ms = shape.expires.map_or(0, |t| t.since(now));
            let (id, color, at) = (shape.id.clone(), shape.color.clone(), shape.at);
            out.push(match shape.kind {
                ShapeKind::Highlight { rect } => AssistMessage::Highlight {
                    id,
                    rect,
                    color,
                    ttl_ms,
                    at,
                    seq: 0,
                },
                ShapeKind::Arrow { from, to } => AssistMessage::Arrow {
                    id,
                    from,
                    to,
                    color,
                    ttl_ms,
                    at,
                    seq: 0,
                },
            });
        }
        if let Some(step) = self.step.as_ref().filter(|s| s.member == who) {
            out.push(AssistMessage::ScriptStep {
                ticket: step.ticket.clone(),
                step: step.step,
                total: step.total,
                title: step.title.clone(),
                seq: 0,
            });
        }
        // A pointer that stays still sends nothing more: without this a link opened after
        // the last move would never show it.
        if let Some(c) = self
            .cursors
            .get(who)
            .filter(|c| now.since(c.updated) < CURSOR_IDLE_MS)
        {
            out.push(AssistMessage::Cursor {
                x: c.x,
                y: c.y,
                at: c.at,
                seq: 0,
            });
        }
        out
    }

    /// Whether [`replay`](Self::replay) would send anything for `member` at `now`.
    pub fn shows_from(&self, member: &MemberId, now: Millis) -> bool {
        let who = member.as_str();
        self.step.as_ref().is_some_and(|s| s.member == who)
            || self
                .shapes
                .values()
                .any(|(_, s)| s.member == who && s.expires.is_none_or(|t| t > now))
            || self
                .cursors
                .get(who)
                .is_some_and(|c| now.since(c.updated) < CURSOR_IDLE_MS)
    }

    /// Shapes not expired at `now`, oldest first.
    fn live_shapes(&self, now: Millis) -> Vec<&Shape> {
        let mut shapes: Vec<&(u64, Shape)> = self
            .shapes
            .values()
            .filter(|(_, s)| s.expires.is_none_or(|t| t > now))
            .collect();
        // At most MAX_SHAPES entries, nearly in order already: an insertion sort is plenty, and
        // far less code in the browser build than the standard sorts.
        for i in 1..shapes.len() {
            let mut j = i;
            while j > 0 && shapes[j - 1].0 > shapes[j].0 {
                shapes.swap(j - 1, j);
                j -= 1;
            }
        }
        shapes.into_iter().map(|(_, s)| s).collect()
    }

    /// What is visible at `now` (expired shapes excluded even before [`expire`](Self::expire)).
    pub fn visible(&self, now: Millis) -> OverlayView {
        OverlayView {
            shapes: self.live_shapes(now).into_iter().cloned().collect(),
            cursors: self
                .cursors
                .values()
                .filter(|c| now.since(c.updated) < CURSOR_IDLE_MS)
                .cloned()
                .collect(),
            step: self.step.clone(),
        }
    }

    /// Number of live shapes (expired ones included until [`expire`](Self::expire)).
    pub fn shape_count(&self) -> usize {
        self.shapes.len()
    }
}
