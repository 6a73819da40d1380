//! A small JSON codec for the wire types.
//!
//! The browser SDK ships this crate as WebAssembly, where a general serialization framework
//! costs more code than the whole session logic. The wire types are few and fixed, so they read
//! and write themselves through this module: [`parse`] builds a [`Json`] tree that decoders take
//! apart field by field, and [`ObjectWriter`] writes objects in a fixed field order (the wire
//! snapshots pin that order).
//!
//! - Strings: full JSON escapes on input (surrogate pairs joined, lone surrogates refused); on
//!   output `"`, `\`, and control characters are escaped, everything else is written as is.
//! - Numbers: a non-negative integer literal is read exactly as [`Json::Int`] (up to
//!   `u64::MAX`); anything else is the nearest `f64` (correctly rounded, ties to even, like
//!   `str::parse::<f64>`); numbers too large for an `f64` are refused.
//! - Nesting is limited to [`MAX_DEPTH`], so hostile input cannot exhaust the stack.
//! - Duplicate keys are refused ([`JsonError::DuplicateKey`]), in every object, nested too:
//!   readers disagree on which one wins, so a frame with two `type`s could mean one thing to
//!   this peer and another to a proxy or a peer in another language.
//!
//! (Crate-private: its round trip is shown by `tests::parse_take_and_write`.)

mod names;
mod number;
mod parse;
mod write;

pub(crate) use names::{WireName, unknown_name, wire_enum};

use crate::text;
pub use parse::{parse, parse_obj, parse_object};
pub use write::{COORD_STEPS, ObjectWriter, ToJson, snap_coord, to_string, write_coord, write_str};

/// Deepest accepted nesting of arrays and objects.
pub const MAX_DEPTH: usize = 32;

/// A parsed JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A non-negative integer literal (no fraction, no exponent) that fits a `u64`.
    Int(u64),
    /// Any other number.
    Num(f64),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object.
    Obj(Object),
}

/// A JSON object's members in input order; the parser guarantees the keys are distinct.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object(Vec<(String, Json)>);

impl Object {
    /// Removes and returns the member `key`.
    pub fn take(&mut self, key: &str) -> Option<Json> {
        let at = self.0.iter().position(|(k, _)| k == key)?;
        // Keys are distinct, so member order no longer matters once one is taken.
        Some(self.0.swap_remove(at).1)
    }

    /// The member `key`.
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the object has no members.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The members, in input order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Json)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }
}

impl Json {
    /// A short name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Int(_) | Json::Num(_) => "a number",
            Json::Str(_) => "a string",
            Json::Arr(_) => "an array",
            Json::Obj(_) => "an object",
        }
    }

    /// The value for an error message: integers and (shortened) strings as written, anything
    /// else by its type.
    pub fn describe(&self) -> String {
        match self {
            Json::Int(n) => to_string(n),
            Json::Str(s) => quoted(s),
            other => other.type_name().to_owned(),
        }
    }
}

/// `s` in quotes, cut to 32 characters: enough to recognise a value in an error message
/// without echoing a whole hostile frame.
pub(crate) fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    out.extend(s.chars().take(32));
    out.push('"');
    out
}

/// Why a text is not acceptable JSON, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
#[non_exhaustive]
pub enum JsonError {
    /// The text breaks the JSON grammar (or a limit: depth, number range).
    Syntax {
        /// Byte offset of the problem.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// An object has the same key twice (after unescaping).
    DuplicateKey {
        /// Byte offset of the second occurrence (of the object, for large objects).
        offset: usize,
        /// The repeated key.
        key: String,
    },
    /// The text is JSON, but not the object it must be.
    NotAnObject,
}

impl JsonError {
    /// What is wrong, and where (also the `Display` text), e.g. `expected ':' at byte 7`.
    /// Built without `core::fmt`, like every message on the browser's paths.
    pub fn message(&self) -> String {
        let (mut out, offset) = match self {
            Self::Syntax { offset, reason } => (String::from(*reason), *offset),
            Self::DuplicateKey { offset, key } => {
                (["duplicate key ", &quoted(key)].concat(), *offset)
            }
            Self::NotAnObject => return "expected an object".into(),
        };
        out.push_str(" at byte ");
        text::push_decimal(&mut out, offset as u64);
        out
    }

    /// Byte offset of the problem (0 for [`JsonError::NotAnObject`]).
    pub fn offset(&self) -> usize {
        match self {
            Self::Syntax { offset, .. } | Self::DuplicateKey { offset, .. } => *offset,
            Self::NotAnObject => 0,
        }
    }
}

/// Reads a Rust value out of a parsed [`Json`] value.
pub trait FromJson: Sized {
    /// The value, or what is wrong with the JSON.
    fn from_json(value: Json) -> Result<Self, String>;
}

fn expected(what: &str, got: &Json) -> String {
    let mut s = String::from("expected ");
    s.push_str(what);
    s.push_str(", found ");
    s.push_str(got.type_name());
    s
}

impl FromJson for String {
    fn from_json(value: Json) -> Result<Self, String> {
        match value {
            Json::Str(s) => Ok(s),
            other => Err(expected("a string", &other)),
        }
    }
}

impl FromJson for bool {
    fn from_json(value: Json) -> Result<Self, String> {
        match value {
            Json::Bool(b) => Ok(b),
            other => Err(expected("a boolean", &other)),
        }
    }
}

impl FromJson for u64 {
    fn from_json(value: Json) -> Result<Self, String> {
        match value {
            Json::Int(n) => Ok(n),
            other => Err(expected("a non-negative integer", &other)),
        }
    }
}

impl FromJson for u32 {
    fn from_json(value: Json) -> Result<Self, String> {
        u64::from_json(value)?
            .try_into()
            .map_err(|_| "integer out of range".to_owned())
    }
}

impl FromJson for u16 {
    fn from_json(value: Json) -> Result<Self, String> {
        u64::from_json(value)?
            .try_into()
            .map_err(|_| "integer out of range".to_owned())
    }
}

impl FromJson for f64 {
    fn from_json(value: Json) -> Result<Self, String> {
        match value {
            Json::Int(n) => Ok(n as f64),
            Json::Num(v) => Ok(v),
            other => Err(expected("a number", &other)),
        }
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(value: Json) -> Result<Self, String> {
        let mut out = Vec::new();
        for_each_item(value, &mut |item| {
            out.push(T::from_json(item)?);
            Ok(())
        })?;
        Ok(out)
    }
}

/// Runs `f` on each item of an array, in order, up to the first error. One body for every
/// `Vec<T>` read: the loop, the error paths and the drop of the items left after an error
/// were each instantiated again per `T`.
fn for_each_item(value: Json, f: &mut dyn FnMut(Json) -> Result<(), String>) -> Result<(), String> {
    match value {
        Json::Arr(items) => items.into_iter().try_for_each(f),
        other => Err(expected("an array", &other)),
    }
}

impl FromJson for Object {
    fn from_json(value: Json) -> Result<Self, String> {
        match value {
            Json::Obj(obj) => Ok(obj),
            other => Err(expected("an object", &other)),
        }
    }
}

impl FromJson for Json {
    fn from_json(value: Json) -> Result<Self, String> {
        Ok(value)
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod value_tests;
