//! Assist messages on the wire: compact JSON, versioned, validated.

use super::AssistError;
use crate::json::{self, FromJson, Json, ObjectWriter, ToJson};
use crate::protocol::fields::{Fields, Read};

/// Assist protocol version.
pub const ASSIST_VERSION: u64 = 1;
/// Largest accepted assist message, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 2048;
/// Longest accepted shape id, ticket id or color string.
pub const MAX_ID_BYTES: usize = 64;
/// Longest accepted script step title.
pub const MAX_TITLE_BYTES: usize = 256;
/// The color of a highlight or arrow that does not name one.
pub const DEFAULT_COLOR: &str = "#ff3b30";
/// Longest accepted shape lifetime (one hour); `0` means "until cleared".
pub const MAX_TTL_MS: u64 = 3_600_000;

/// A point on the shared surface, normalised: `(0,0)` top-left, `(1,1)` bottom-right.
///
/// Coordinates travel with six decimals; [`AssistMessage::encode`] and
/// [`AssistMessage::decode`] snap them to that grid, so sender, receiver and any relay in between
/// hold the same values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Horizontal, 0..=1.
    pub x: f64,
    /// Vertical, 0..=1.
    pub y: f64,
}

/// A rectangle on the shared surface, normalised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    /// Left edge, 0..=1.
    pub x: f64,
    /// Top edge, 0..=1.
    pub y: f64,
    /// Width; `x + w` ≤ 1.
    pub w: f64,
    /// Height; `y + h` ≤ 1.
    pub h: f64,
}

/// One assist message. `at` is the media time (ms) of the frame it was drawn on, so the receiver
/// and a recording can line it up; `seq` orders messages from one sender.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AssistMessage {
    /// Where the agent points. Sent on the unordered channel; only the latest matters.
    Cursor {
        /// Horizontal position.
        x: f64,
        /// Vertical position.
        y: f64,
        /// Media time of the frame.
        at: u64,
        /// Sender sequence number.
        seq: u64,
    },
    /// A highlighted box.
    Highlight {
        /// Shape id, unique per sender.
        id: String,
        /// The box.
        rect: Rect,
        /// `#rrggbb`.
        color: String,
        /// Lifetime in ms; `0` keeps it until cleared.
        ttl_ms: u64,
        /// Media time of the frame.
        at: u64,
        /// Sender sequence number.
        seq: u64,
    },
    /// An arrow.
    Arrow {
        /// Shape id.
        id: String,
        /// Tail.
        from: Point,
        /// Head.
        to: Point,
        /// `#rrggbb`.
        color: String,
        /// Lifetime in ms; `0` keeps it until cleared.
        ttl_ms: u64,
        /// Media time of the frame.
        at: u64,
        /// Sender sequence number.
        seq: u64,
    },
    /// Removes one shape, or every shape of the sender when `id` is absent.
    Clear {
        /// The shape to remove.
        id: Option<String>,
        /// Media time of the frame.
        at: u64,
        /// Sender sequence number.
        seq: u64,
    },
    /// The current step of a support script, shown to both sides.
    ScriptStep {
        /// Ticket id.
        ticket: String,
        /// 1-based step.
        step: u32,
        /// Number of steps.
        total: u32,
        /// Step title.
        title: String,
        /// Sender sequence number.
        seq: u64,
    },
}

impl Point {
    /// This point on the wire's coordinate grid.
    pub fn snapped(self) -> Self {
        Point {
            x: json::snap_coord(self.x),
            y: json::snap_coord(self.y),
        }
    }
}

impl Rect {
    /// This rectangle on the wire's coordinate grid.
    pub fn snapped(self) -> Self {
        Rect {
            x: json::snap_coord(self.x),
            y: json::snap_coord(self.y),
            w: json::snap_coord(self.w),
            h: json::snap_coord(self.h),
        }
    }
}

impl ToJson for Point {
    fn write_json(&self, out: &mut String) {
        let mut w = ObjectWriter::new(out);
        w.coord("x", self.x).coord("y", self.y);
        w.finish();
    }
}

impl ToJson for Rect {
    fn write_json(&self, out: &mut String) {
        let mut w = ObjectWriter::new(out);
        w.coord("x", self.x)
            .coord("y", self.y)
            .coord("w", self.w)
            .coord("h", self.h);
        w.finish();
    }
}

impl FromJson for Point {
    fn from_json(value: Json) -> Result<Self, String> {
        Fields::nested(value, |f| {
            Ok(Point {
                x: f.req("x")?,
                y: f.req("y")?,
            })
        })
    }
}

impl FromJson for Rect {
    fn from_json(value: Json) -> Result<Self, String> {
        Fields::nested(value, |f| {
            Ok(Rect {
                x: f.req("x")?,
                y: f.req("y")?,
                w: f.req("w")?,
                h: f.req("h")?,
            })
        })
    }
}

impl AssistMessage {
    /// The wire name of the kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Cursor { .. } => "cursor",
            Self::Highlight { .. } => "highlight",
            Self::Arrow { .. } => "arrow",
            Self::Clear { .. } => "clear",
            Self::ScriptStep { .. } => "script_step",
        }
    }

    /// The sender sequence number.
    pub fn seq(&self) -> u64 {
        match self {
            Self::Cursor { seq, .. }
            | Self::Highlight { seq, .. }
            | Self::Arrow { seq, .. }
            | Self::Clear { seq, .. }
            | Self::ScriptStep { seq, .. } => *seq,
        }
    }

    /// `seq` mutably, whatever the kind.
    fn seq_mut(&mut self) -> &mut u64 {
        match self {
            Self::Cursor { seq, .. }
            | Self::Highlight { seq, .. }
            | Self::Arrow { seq, .. }
            | Self::Clear { seq, .. }
            | Self::ScriptStep { seq, .. } => seq,
        }
    }

    /// This message with sequence number `seq`.
    pub fn with_seq(mut self, seq: u64) -> Self {
        *self.seq_mut() = seq;
        self
    }

    /// Snaps every coordinate to the wire grid (six decimals).
    pub fn snap(&mut self) {
        match self {
            Self::Cursor { x, y, .. } => {
                *x = json::snap_coord(*x);
                *y = json::snap_coord(*y);
            }
            Self::Highlight { rect, .. } => *rect = rect.snapped(),
            Self::Arrow { from, to, .. } => {
                *from = from.snapped();
                *to = to.snapped();
            }
            Self::Clear { .. } | Self::ScriptStep { .. } => {}
        }
    }

    /// Checks ranges, lengths and syntax.
    pub fn validate(&self) -> Result<(), AssistError> {
        match self {
            Self::Cursor { x, y, .. } => check_point("cursor", Point { x: *x, y: *y }),
            Self::Highlight {
                id,
                rect,
                color,
                ttl_ms,
                ..
            } => {
                check_id("id", id)?;
                check_color(color)?;
                check_ttl(*ttl_ms)?;
                check_rect(rect)
            }
            Self::Arrow {
                id,
                from,
                to,
                color,
                ttl_ms,
                ..
            } => {
                check_id("id", id)?;
                check_color(color)?;
                check_ttl(*ttl_ms)?;
                check_point("from", *from)?;
                check_point("to", *to)
            }
            Self::Clear { id, .. } => id.as_deref().map_or(Ok(()), |id| check_id("id", id)),
            Self::ScriptStep {
                ticket,
                step,
                total,
                title,
                ..
            } => {
                check_id("ticket", ticket)?;
                if title.len() > MAX_TITLE_BYTES {
                    return Err(AssistError::TooLong {
                        field: "title",
                        max: MAX_TITLE_BYTES,
                    });
                }
                if *total == 0 || *step == 0 || step > total {
                    return Err(AssistError::OutOfRange { field: "step" });
                }
                Ok(())
            }
        }
    }

    /// Encodes to compact JSON (`{"v":1,"t":…}`), validating first.
    pub fn encode(&self) -> Result<String, AssistError> {
        // Validate what the receiver will decode: the coordinates as snapped to the grid.
        let mut msg = self.clone();
        msg.snap();
        msg.validate()?;
        let mut text = String::with_capacity(64);
        let mut w = ObjectWriter::new(&mut text);
        w.field("v", &ASSIST_VERSION).field("t", msg.kind());
        msg.write_fields(&mut w);
        w.finish();
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(AssistError::Oversize { size: text.len() });
        }
        Ok(text)
    }

    /// Decodes and validates one message. `v` may be omitted (it then means 1).
    pub fn decode(text: &str) -> Result<Self, AssistError> {
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(AssistError::Oversize { size: text.len() });
        }
        let mut obj = json::parse_object(text).map_err(AssistError::Malformed)?;
        match obj.take("v") {
            None | Some(Json::Int(ASSIST_VERSION)) => {}
            Some(v) => return Err(AssistError::UnsupportedVersion(v.describe())),
        }
        let kind = match obj.take("t") {
            Some(Json::Str(t)) => t,
            Some(other) => return Err(AssistError::UnknownKind(other.describe())),
            None => return Err(AssistError::UnknownKind("missing".into())),
        };
        let mut fields = Fields::new(obj);
        let read = Self::from_fields(&kind, &mut fields);
        let mut msg = fields
            .finish(read)
            .map_err(|(field, e)| AssistError::Malformed([field, ": ", &e].concat()))?
            .ok_or_else(|| AssistError::UnknownKind(Json::Str(kind).describe()))?;
        // Whatever precision the sender wrote, both sides hold grid values.
        msg.snap();
        msg.validate()?;
        Ok(msg)
    }

    fn write_fields(&self, w: &mut ObjectWriter<'_>) {
        match self {
            Self::Cursor { x, y, at, seq } => {
                w.coord("x", *x)
                    .coord("y", *y)
                    .field("at", at)
                    .field("seq", seq);
            }
            Self::Highlight {
                id,
                rect,
                color,
                ttl_ms,
                at,
                seq,
            } => {
                w.field("id", id)
                    .field("rect", rect)
                    .field("color", color)
                    .field("ttl_ms", ttl_ms)
                    .field("at", at)
                    .field("seq", seq);
            }
            Self::Arrow {
                id,
                from,
                to,
                color,
                ttl_ms,
                at,
                seq,
            } => {
                w.field("id", id)
                    .field("from", from)
                    .field("to", to)
                    .field("color", color)
                    .field("ttl_ms", ttl_ms)
                    .field("at", at)
                    .field("seq", seq);
            }
            Self::Clear { id, at, seq } => {
                w.opt("id", id.as_ref()).field("at", at).field("seq", seq);
            }
            Self::ScriptStep {
                ticket,
                step,
                total,
                title,
                seq,
            } => {
                w.field("ticket", ticket)
                    .field("step", step)
                    .field("total", total)
                    .field("title", title)
                    .field("seq", seq);
            }
        }
    }

    /// The message of kind `kind` from its fields; `None` for an unknown kind.
    ///
    /// Fields added after the first version are optional, so the design's minimal messages
    /// (`{"t":"cursor","x":0.5,"y":0.4}`) decode: `at` and `seq` default to 0, `color` to
    /// [`DEFAULT_COLOR`], `ttl_ms` to 0 (until cleared).
    fn from_fields(kind: &str, f: &mut Fields) -> Read<Option<Self>> {
        Ok(Some(match kind {
            "cursor" => Self::Cursor {
                x: f.req("x")?,
                y: f.req("y")?,
                at: f.or_default("at")?,
                seq: f.or_default("seq")?,
            },
            "highlight" => Self::Highlight {
                id: f.req("id")?,
                rect: f.req("rect")?,
                color: f.opt("color")?.unwrap_or_else(|| DEFAULT_COLOR.to_owned()),
                ttl_ms: f.or_default("ttl_ms")?,
                at: f.or_default("at")?,
                seq: f.or_default("seq")?,
            },
            "arrow" => Self::Arrow {
                id: f.req("id")?,
                from: f.req("from")?,
                to: f.req("to")?,
                color: f.opt("color")?.unwrap_or_else(|| DEFAULT_COLOR.to_owned()),
                ttl_ms: f.or_default("ttl_ms")?,
                at: f.or_default("at")?,
                seq: f.or_default("seq")?,
            },
            "clear" => Self::Clear {
                id: f.opt("id")?,
                at: f.or_default("at")?,
                seq: f.or_default("seq")?,
            },
            "script_step" => Self::ScriptStep {
                ticket: f.req("ticket")?,
                step: f.req("step")?,
                total: f.req("total")?,
                title: f.req("title")?,
                seq: f.or_default("seq")?,
            },
            _ => return Ok(None),
        }))
    }
}

fn unit(field: &'static str, v: f64) -> Result<(), AssistError> {
    if v.is_nan() {
        return Err(AssistError::NotANumber { field });
    }
    if !(0.0..=1.0).contains(&v) {
        return Err(AssistError::OutOfRange { field });
    }
    Ok(())
}

fn check_point(field: &'static str, p: Point) -> Result<(), AssistError> {
    unit(field, p.x)?;
    unit(field, p.y)
}

fn check_rect(r: &Rect) -> Result<(), AssistError> {
    for v in [r.x, r.y, r.w, r.h] {
        unit("rect", v)?;
    }
    // Slack for rounding at the far edge: each of `x` and `w` may have been snapped up by half
    // a grid step.
    const SLACK: f64 = 2.0 / json::COORD_STEPS as f64;
    if r.x + r.w > 1.0 + SLACK || r.y + r.h > 1.0 + SLACK {
        return Err(AssistError::OutOfRange { field: "rect" });
    }
    Ok(())
}

fn check_id(field: &'static str, id: &str) -> Result<(), AssistError> {
    if id.is_empty() || id.len() > MAX_ID_BYTES {
        return Err(AssistError::TooLong {
            field,
            max: MAX_ID_BYTES,
        });
    }
    Ok(())
}

fn check_color(color: &str) -> Result<(), AssistError> {
    let ok = match color.as_bytes() {
        [b'#', hex @ ..] => hex.len() == 6 && hex.iter().all(u8::is_ascii_hexdigit),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(AssistError::BadColor(color.chars().take(16).collect()))
    }
}

fn check_ttl(ttl: u64) -> Result<(), AssistError> {
    if ttl > MAX_TTL_MS {
        return Err(AssistError::OutOfRange { field: "ttl_ms" });
    }
    Ok(())
}
