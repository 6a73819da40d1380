//! Rust values to JSON text: strings, integers, coordinates, and objects member by member.

use crate::text::push_decimal;

/// Writes a Rust value as JSON.
pub trait ToJson {
    /// Appends the JSON text to `out`.
    fn write_json(&self, out: &mut String);
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
        push_decimal(out, *self);
    }
}

impl ToJson for u32 {
    fn write_json(&self, out: &mut String) {
        push_decimal(out, u64::from(*self));
    }
}

impl ToJson for u16 {
    fn write_json(&self, out: &mut String) {
        push_decimal(out, u64::from(*self));
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
/// The decimal is `steps / 10^k` with `steps` < 2^53, which [`parse`](super::parse) reads back by one correctly
/// rounded division: the receiver gets exactly [`snap_coord`]`(x)`.
pub fn write_coord(out: &mut String, x: f64) {
    let (negative, steps) = coord_steps(x);
    if negative {
        out.push('-');
    }
    push_decimal(out, steps / COORD_STEPS);
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
    push_decimal(out, frac);
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
