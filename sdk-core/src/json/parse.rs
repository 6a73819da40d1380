//! Text to [`Json`]: the grammar, string escapes, and the duplicate-key rule.

use super::number::parse_f64;
use super::{Json, JsonError, MAX_DEPTH, Object};

/// Objects up to this many members are checked for duplicate keys as each key arrives (a
/// linear scan: wire objects have a handful of members); larger ones once, at their end, by
/// sorting, so a 64 KiB frame of thousands of keys costs `n log n`, not `n²`.
const SCAN_LIMIT: usize = 16;

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

/// Parses a text that must be one JSON object (a wire frame or message): its members, or a
/// typed error.
pub fn parse_obj(text: &str) -> Result<Object, JsonError> {
    match parse(text)? {
        Json::Obj(obj) => Ok(obj),
        _ => Err(JsonError::NotAnObject),
    }
}

/// Like [`parse_obj`], with the error as text (its [`message`](JsonError::message)).
pub fn parse_object(text: &str) -> Result<Object, String> {
    parse_obj(text).map_err(|e| e.message())
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn error(&self, reason: &'static str) -> JsonError {
        JsonError::Syntax {
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
        let start = self.at;
        self.at += 1;
        let mut members: Vec<(String, Json)> = Vec::new();
        self.skip_ws();
        if self.eat(b'}') {
            return Ok(Json::Obj(Object(members)));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let key_at = self.at;
            let key = self.string()?;
            if members.len() < SCAN_LIMIT && members.iter().any(|(k, _)| *k == key) {
                return Err(JsonError::DuplicateKey {
                    offset: key_at,
                    key,
                });
            }
            self.skip_ws();
            if !self.eat(b':') {
                return Err(self.error("expected `:`"));
            }
            self.skip_ws();
            let value = self.value(depth)?;
            members.push((key, value));
            self.skip_ws();
            if self.eat(b'}') {
                if members.len() > SCAN_LIMIT {
                    check_distinct(&members, start)?;
                }
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
            return Err(JsonError::Syntax {
                offset: start,
                reason: "number out of range",
            });
        }
        Ok(Json::Num(v))
    }
}

/// An in-place heap sort: `n log n` like the standard sorts, in a fraction of their code in
/// the browser build (they bring several specialised kernels).
fn heap_sort(keys: &mut [&str]) {
    fn sift_down(keys: &mut [&str], mut root: usize, end: usize) {
        loop {
            let mut child = 2 * root + 1;
            if child >= end {
                return;
            }
            if child + 1 < end && keys[child] < keys[child + 1] {
                child += 1;
            }
            if keys[root] >= keys[child] {
                return;
            }
            keys.swap(root, child);
            root = child;
        }
    }
    let n = keys.len();
    for root in (0..n / 2).rev() {
        sift_down(keys, root, n);
    }
    for end in (1..n).rev() {
        keys.swap(0, end);
        sift_down(keys, 0, end);
    }
}

/// Refuses a large object whose keys repeat: sorts references to the keys and compares
/// neighbours.
fn check_distinct(members: &[(String, Json)], start: usize) -> Result<(), JsonError> {
    let mut keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
    heap_sort(&mut keys);
    let mut prev: Option<&str> = None;
    for key in keys {
        if prev == Some(key) {
            // The position of the repeat is gone after sorting; the object's is enough to
            // find it.
            return Err(JsonError::DuplicateKey {
                offset: start,
                key: key.to_owned(),
            });
        }
        prev = Some(key);
    }
    Ok(())
}
