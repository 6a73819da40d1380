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
//!   `u64::MAX`); anything else is an `f64` (see `parse_f64` for its precision); numbers too
//!   large for an `f64` are refused.
//! - Nesting is limited to [`MAX_DEPTH`], so hostile input cannot exhaust the stack.
//! - Duplicate keys are kept as parsed; [`Object::take`] returns the last one, as most JSON
//!   readers do.
//!
//! ```
//! use assistrtc_core::json::{self, Json, ObjectWriter};
//!
//! let mut obj = match json::parse(r#"{"x":0.25,"n":7,"s":"a\nb"}"#).unwrap() {
//!     Json::Obj(obj) => obj,
//!     _ => unreachable!(),
//! };
//! assert_eq!(obj.take("n"), Some(Json::Int(7)));
//!
//! let mut out = String::new();
//! let mut w = ObjectWriter::new(&mut out);
//! w.field("s", "a\nb").coord("x", 0.25);
//! w.finish();
//! assert_eq!(out, r#"{"s":"a\nb","x":0.25}"#);
//! ```

use std::fmt;

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

/// A JSON object's members in input order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object(Vec<(String, Json)>);

impl Object {
    /// Removes and returns the member `key` (the last one, if the key repeats).
    pub fn take(&mut self, key: &str) -> Option<Json> {
        let at = self.0.iter().rposition(|(k, _)| k == key)?;
        Some(self.0.swap_remove(at).1)
    }

    /// The member `key` (the last one, if the key repeats).
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
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
}

impl Json {
    /// The value for an error message: integers and (shortened) strings as written, anything
    /// else by its type.
    pub fn describe(&self) -> String {
        match self {
            Json::Int(n) => to_string(n),
            Json::Str(s) => {
                let mut out = String::from("\"");
                out.extend(s.chars().take(32));
                out.push('"');
                out
            }
            other => other.type_name().to_owned(),
        }
    }
}

/// Where and why a text is not JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// Byte offset of the problem.
    pub offset: usize,
    /// What is wrong.
    pub reason: &'static str,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.reason, self.offset)
    }
}

impl std::error::Error for JsonError {}

/// Parses one JSON value; whitespace may surround it, nothing else may follow it.
pub fn parse(text: &str) -> Result<Json, JsonError> {
    let mut p = Parser { text, at: 0 };
    p.skip_ws();
    let value = p.value(0)?;
    p.skip_ws();
    if p.at != text.len() {
        return Err(p.error("trailing characters"));
    }
    Ok(value)
}

/// Parses a text that must be one JSON object (a wire frame or message): its members, or
/// what is wrong (a [`JsonError`]'s text, or "expected an object").
pub fn parse_object(text: &str) -> Result<Object, String> {
    match parse(text) {
        Ok(Json::Obj(obj)) => Ok(obj),
        Ok(_) => Err("expected an object".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn error(&self, reason: &'static str) -> JsonError {
        JsonError {
            offset: self.at,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        let hit = self.peek() == Some(byte);
        if hit {
            self.at += 1;
        }
        hit
    }

    fn value(&mut self, depth: usize) -> Result<Json, JsonError> {
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(Json::Str),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("unexpected character")),
            None => Err(self.error("unexpected end of input")),
        }
    }

    fn literal(&mut self, word: &'static str, value: Json) -> Result<Json, JsonError> {
        let rest = self.text.as_bytes().get(self.at..).unwrap_or_default();
        if rest.starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.error("invalid literal"))
        }
    }

    fn enter(&self, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        Ok(())
    }

    fn array(&mut self, depth: usize) -> Result<Json, JsonError> {
        self.enter(depth)?;
        self.at += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.eat(b']') {
            return Ok(Json::Arr(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth)?);
            self.skip_ws();
            if self.eat(b']') {
                return Ok(Json::Arr(items));
            }
            if !self.eat(b',') {
                return Err(self.error("expected `,` or `]`"));
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, JsonError> {
        self.enter(depth)?;
        self.at += 1;
        let mut members = Vec::new();
        self.skip_ws();
        if self.eat(b'}') {
            return Ok(Json::Obj(Object(members)));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let key = self.string()?;
            self.skip_ws();
            if !self.eat(b':') {
                return Err(self.error("expected `:`"));
            }
            self.skip_ws();
            let value = self.value(depth)?;
            members.push((key, value));
            self.skip_ws();
            if self.eat(b'}') {
                return Ok(Json::Obj(Object(members)));
            }
            if !self.eat(b',') {
                return Err(self.error("expected `,` or `}`"));
            }
        }
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.at += 1;
        let mut out = String::new();
        loop {
            let start = self.at;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.at += 1;
            }
            // Stopped at an ASCII byte (or the end), so both ends are char boundaries and `get`
            // always succeeds; it is used because it cannot panic (no panic paths in the build).
            out.push_str(self.text.get(start..self.at).unwrap_or_default());
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.at += 1;
                    out.push(self.escape()?);
                }
                Some(_) => return Err(self.error("control character in string")),
                None => return Err(self.error("unterminated string")),
            }
        }
    }

    fn escape(&mut self) -> Result<char, JsonError> {
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.at += 1;
                let unit = self.hex4()?;
                let code = match unit {
                    0xD800..=0xDBFF => {
                        if !(self.eat(b'\\') && self.eat(b'u')) {
                            return Err(self.error("lone surrogate in string"));
                        }
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(self.error("lone surrogate in string"));
                        }
                        0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return Err(self.error("lone surrogate in string")),
                    _ => unit,
                };
                // Surrogates were handled above, so every remaining code is a char.
                return char::from_u32(code).ok_or_else(|| self.error("invalid escape"));
            }
            _ => return Err(self.error("invalid escape")),
        };
        self.at += 1;
        Ok(c)
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut code = 0;
        for _ in 0..4 {
            let digit = match self.peek() {
                Some(b @ b'0'..=b'9') => b - b'0',
                Some(b @ b'a'..=b'f') => b - b'a' + 10,
                Some(b @ b'A'..=b'F') => b - b'A' + 10,
                _ => return Err(self.error("invalid \\u escape")),
            };
            code = code * 16 + u32::from(digit);
            self.at += 1;
        }
        Ok(code)
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        self.at - start
    }

    fn number(&mut self) -> Result<Json, JsonError> {
        let start = self.at;
        let negative = self.eat(b'-');
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error("invalid number")),
        }
        let mut integer = !negative;
        if self.eat(b'.') {
            integer = false;
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            integer = false;
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
        }
        let literal = self.text.as_bytes().get(start..self.at).unwrap_or_default();
        if integer {
            let exact = literal.iter().try_fold(0u64, |n, &d| {
                n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
            });
            if let Some(n) = exact {
                return Ok(Json::Int(n));
            }
        }
        let v = parse_f64(literal);
        if !v.is_finite() {
            return Err(JsonError {
                offset: start,
                reason: "number out of range",
            });
        }
        Ok(Json::Num(v))
    }
}

/// Exact powers of ten representable in an `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A JSON number literal (already checked against the grammar) as an `f64`.
///
/// Literals with up to 15 significant digits and a decimal exponent within ±22 (every
/// coordinate this protocol writes, and most numbers people write) are converted exactly: an
/// integer mantissa and a power of ten that are both exact in an `f64`, so one IEEE multiply or
/// divide rounds correctly. Longer or more extreme literals keep 19 significant digits and scale
/// in steps of 10^22, which is within a few units in the last place: the protocol's only
/// fractional numbers are coordinates, snapped to six decimals anyway. (The standard library's
/// correctly rounded parser would add about 15 KB of tables and code to the browser build.)
fn parse_f64(literal: &[u8]) -> f64 {
    let (negative, body) = match literal.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, literal),
    };
    let mut mantissa: u64 = 0;
    let mut kept = 0;
    let mut scale: i32 = 0;
    let mut fraction = false;
    let mut rest = body;
    while let Some((&b, tail)) = rest.split_first() {
        match b {
            b'0'..=b'9' => {
                let digit = u64::from(b - b'0');
                if mantissa == 0 && digit == 0 {
                    // A leading zero only moves the point.
                    scale -= i32::from(fraction);
                } else if kept < 19 {
                    mantissa = mantissa * 10 + digit;
                    kept += 1;
                    scale -= i32::from(fraction);
                } else {
                    // Beyond 19 digits: integer digits still count for magnitude.
                    scale += i32::from(!fraction);
                }
            }
            b'.' => fraction = true,
            _ => break,
        }
        rest = tail;
    }
    if let Some((_, tail)) = rest.split_first() {
        let (sign, digits) = match tail.split_first() {
            Some((b'-', d)) => (-1, d),
            Some((b'+', d)) => (1, d),
            _ => (1, tail),
        };
        let mut exponent: i32 = 0;
        for &d in digits {
            // Saturate: anything past ±100000 is zero or infinite all the same.
            exponent = (exponent * 10 + i32::from(d - b'0')).min(100_000);
        }
        scale += sign * exponent;
    }
    let mut v = mantissa as f64;
    if mantissa != 0 {
        if kept <= 15 && (-22..=22).contains(&scale) {
            // Exact operands, one correctly rounded operation.
            v = if scale < 0 {
                v / POW10[scale.unsigned_abs() as usize]
            } else {
                v * POW10[scale as usize]
            };
        } else {
            while scale > 22 && v.is_finite() {
                v *= POW10[22];
                scale -= 22;
            }
            while scale < -22 && v != 0.0 {
                v /= POW10[22];
                scale += 22;
            }
            let step = POW10[scale.unsigned_abs().min(22) as usize];
            v = if scale < 0 { v / step } else { v * step };
        }
    }
    if negative { -v } else { v }
}

/// Reads a Rust value out of a parsed [`Json`] value.
pub trait FromJson: Sized {
    /// The value, or what is wrong with the JSON.
    fn from_json(value: Json) -> Result<Self, String>;
}

/// Writes a Rust value as JSON.
pub trait ToJson {
    /// Appends the JSON text to `out`.
    fn write_json(&self, out: &mut String);
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
        match value {
            Json::Arr(items) => {
                // A plain loop: `collect::<Result<Vec<_>, _>>()` costs far more code per `T`.
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(T::from_json(item)?);
                }
                Ok(out)
            }
            other => Err(expected("an array", &other)),
        }
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

impl ToJson for str {
    fn write_json(&self, out: &mut String) {
        write_str(out, self);
    }
}

impl ToJson for String {
    fn write_json(&self, out: &mut String) {
        write_str(out, self);
    }
}

impl ToJson for bool {
    fn write_json(&self, out: &mut String) {
        out.push_str(if *self { "true" } else { "false" });
    }
}

impl ToJson for u64 {
    fn write_json(&self, out: &mut String) {
        write_u64(out, *self);
    }
}

impl ToJson for u32 {
    fn write_json(&self, out: &mut String) {
        write_u64(out, u64::from(*self));
    }
}

impl ToJson for u16 {
    fn write_json(&self, out: &mut String) {
        write_u64(out, u64::from(*self));
    }
}

impl<T: ToJson> ToJson for [T] {
    fn write_json(&self, out: &mut String) {
        out.push('[');
        for (i, item) in self.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            item.write_json(out);
        }
        out.push(']');
    }
}

impl<T: ToJson> ToJson for Vec<T> {
    fn write_json(&self, out: &mut String) {
        self.as_slice().write_json(out);
    }
}

impl<T: ToJson + ?Sized> ToJson for &T {
    fn write_json(&self, out: &mut String) {
        (**self).write_json(out);
    }
}

/// `value` as JSON text.
pub fn to_string(value: &(impl ToJson + ?Sized)) -> String {
    let mut out = String::new();
    value.write_json(&mut out);
    out
}

/// Appends `s` as a quoted JSON string.
pub fn write_str(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        // `b` is ASCII, so `i` and `i + 1` are char boundaries (`get` cannot fail, nor panic).
        out.push_str(s.get(start..i).unwrap_or_default());
        if short.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(short);
        }
        start = i + 1;
    }
    out.push_str(s.get(start..).unwrap_or_default());
    out.push('"');
}

/// Appends `n` in decimal.
pub fn write_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &buf[at..] {
        out.push(char::from(d));
    }
}

/// Steps per unit in which coordinates travel: six decimals, under 1/250 of a pixel across a
/// 4K screen.
pub const COORD_STEPS: u64 = 1_000_000;

/// `x` rounded to the wire's coordinate grid, exactly as the receiver will decode it.
///
/// The assist codec snaps coordinates with this on encode and on decode, so every side holds
/// the same value.
pub fn snap_coord(x: f64) -> f64 {
    if !x.is_finite() {
        // Left for validation to refuse, not turned into a number.
        return x;
    }
    let (negative, steps) = coord_steps(x);
    let v = steps as f64 / COORD_STEPS as f64;
    if negative { -v } else { v }
}

fn coord_steps(x: f64) -> (bool, u64) {
    // NaN and infinities are refused before anything is written; map them to 0 regardless.
    if !x.is_finite() {
        return (false, 0);
    }
    // `as` saturates, so huge values cannot wrap.
    let steps = (x.abs() * COORD_STEPS as f64 + 0.5).floor() as u64;
    (x < 0.0 && steps != 0, steps)
}

/// Appends `x` rounded to six decimals, shortest form (`0.5`, `1`, `0.000125`).
///
/// The decimal is `steps / 10^k` with `steps` < 2^53, which [`parse`] reads back by one correctly
/// rounded division: the receiver gets exactly [`snap_coord`]`(x)`.
pub fn write_coord(out: &mut String, x: f64) {
    let (negative, steps) = coord_steps(x);
    if negative {
        out.push('-');
    }
    write_u64(out, steps / COORD_STEPS);
    let mut frac = steps % COORD_STEPS;
    if frac == 0 {
        return;
    }
    let mut width = 6;
    while frac % 10 == 0 {
        frac /= 10;
        width -= 1;
    }
    out.push('.');
    let mut digits = 1;
    let mut rest = frac / 10;
    while rest > 0 {
        digits += 1;
        rest /= 10;
    }
    for _ in digits..width {
        out.push('0');
    }
    write_u64(out, frac);
}

/// Writes one JSON object, member by member, in call order.
pub struct ObjectWriter<'a> {
    out: &'a mut String,
    empty: bool,
}

impl<'a> ObjectWriter<'a> {
    /// Opens an object at the end of `out`.
    pub fn new(out: &'a mut String) -> Self {
        out.push('{');
        Self { out, empty: true }
    }

    /// Writes `"key":` and returns the buffer for the value.
    pub fn key(&mut self, key: &str) -> &mut String {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        write_str(self.out, key);
        self.out.push(':');
        self.out
    }

    /// A member.
    pub fn field(&mut self, key: &str, value: &(impl ToJson + ?Sized)) -> &mut Self {
        value.write_json(self.key(key));
        self
    }

    /// A member, left out when `value` is `None`.
    pub fn opt<T: ToJson + ?Sized>(&mut self, key: &str, value: Option<&T>) -> &mut Self {
        if let Some(value) = value {
            self.field(key, value);
        }
        self
    }

    /// A coordinate member (see [`write_coord`]).
    pub fn coord(&mut self, key: &str, x: f64) -> &mut Self {
        write_coord(self.key(key), x);
        self
    }

    /// Closes the object.
    pub fn finish(self) {
        self.out.push('}');
    }
}

/// Declares the wire spelling of a fieldless enum: `as_str`, `from_wire`, [`ToJson`] and
/// [`FromJson`].
macro_rules! wire_names {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// The wire spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)+
                }
            }

            /// The value with wire spelling `name`.
            pub fn from_wire(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl $crate::json::ToJson for $ty {
            fn write_json(&self, out: &mut String) {
                $crate::json::write_str(out, self.as_str());
            }
        }

        impl $crate::json::FromJson for $ty {
            fn from_json(value: $crate::json::Json) -> Result<Self, String> {
                let name = String::from_json(value)?;
                Self::from_wire(&name).ok_or_else(|| $crate::json::unknown_name(&name))
            }
        }
    };
}
pub(crate) use wire_names;

pub(crate) fn unknown_name(name: &str) -> String {
    let mut s = String::from("unknown value \"");
    s.extend(name.chars().take(32));
    s.push('"');
    s
}

#[cfg(test)]
mod tests;
