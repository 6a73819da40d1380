//! The parser against serde_json on generated JSON texts: the same VALUE, not only the same
//! accept/reject. The one allowed difference: objects with a repeated key (after unescaping),
//! which serde_json reads (last wins) and this parser refuses.

use proptest::prelude::*;
use serde_json::Value;

use super::*;

/// One piece of a string: its text and how it is written.
#[derive(Debug, Clone)]
enum Piece {
    /// Written as is.
    Raw(char),
    /// Written as `\uXXXX` (a surrogate pair outside the BMP), hex in either case.
    Unicode(char, bool),
    /// One of the short escapes.
    Short(char),
}

#[derive(Debug, Clone)]
enum Gen {
    Null,
    Bool(bool),
    Num(String),
    Str(Vec<Piece>),
    Arr(Vec<Gen>),
    Obj(Vec<(Vec<Piece>, Gen)>),
}

fn piece() -> impl Strategy<Value = Piece> {
    let raw = any::<char>().prop_filter("not special", |c| !matches!(c, '"' | '\\') && *c >= ' ');
    prop_oneof![
        4 => raw.prop_map(Piece::Raw),
        2 => (any::<char>(), any::<bool>()).prop_map(|(c, upper)| Piece::Unicode(c, upper)),
        1 => prop::sample::select(vec!['"', '\\', '/', '\u{8}', '\u{c}', '\n', '\r', '\t'])
            .prop_map(Piece::Short),
    ]
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?(0|[1-9][0-9]{0,22})(\\.[0-9]{1,22})?([eE][+-]?[0-9]{1,2})?",
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_flat_map(|x| prop::sample::select(vec![
                format!("{x:?}"),
                format!("{x:e}"),
                format!("{x:E}"),
                format!("{x:.20e}"),
            ])),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        // Past u64::MAX: a number, not an integer.
        "[1-9][0-9]{20,40}",
        prop::sample::select(vec![
            "-0",
            "-0.0",
            "0e0",
            "-0e-5",
            "1.7976931348623157e308",
            "-1.7976931348623157e308",
            "5e-324",
            "2.2250738585072014e-308",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "1E+2",
            "1e-2",
            "100e-2",
        ])
        .prop_map(str::to_owned),
    ]
}

fn key() -> impl Strategy<Value = Vec<Piece>> {
    prop_oneof![
        // A few short keys, so repeats happen, sometimes spelled differently.
        (
            prop::sample::select(vec!['a', 'b', 'c']),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(c, escaped, upper)| vec![if escaped {
                Piece::Unicode(c, upper)
            } else {
                Piece::Raw(c)
            }]),
        prop::collection::vec(piece(), 0..6),
    ]
}

fn value() -> impl Strategy<Value = Gen> {
    let leaf = prop_oneof![
        Just(Gen::Null),
        any::<bool>().prop_map(Gen::Bool),
        number().prop_map(Gen::Num),
        prop::collection::vec(piece(), 0..12).prop_map(Gen::Str),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Gen::Arr),
            prop::collection::vec((key(), inner), 0..6).prop_map(Gen::Obj),
        ]
    })
}

fn write_pieces(out: &mut String, pieces: &[Piece]) {
    out.push('"');
    for p in pieces {
        match *p {
            Piece::Raw(c) => out.push(c),
            Piece::Unicode(c, upper) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let hex = format!("\\u{unit:04x}");
                    out.push_str(&if upper {
                        hex.to_uppercase().replace("\\U", "\\u")
                    } else {
                        hex
                    });
                }
            }
            Piece::Short(c) => out.push_str(match c {
                '"' => "\\\"",
                '\\' => "\\\\",
                '/' => "\\/",
                '\u{8}' => "\\b",
                '\u{c}' => "\\f",
                '\n' => "\\n",
                '\r' => "\\r",
                _ => "\\t",
            }),
        }
    }
    out.push('"');
}

fn text_of(pieces: &[Piece]) -> String {
    pieces
        .iter()
        .map(|p| match *p {
            Piece::Raw(c) | Piece::Unicode(c, _) | Piece::Short(c) => c,
        })
        .collect()
}

/// Writes `g` with whitespace taken from `ws` in turn; true if some object repeats a key.
fn write(out: &mut String, g: &Gen, ws: &mut impl Iterator<Item = &'static str>) -> bool {
    fn pad(out: &mut String, ws: &mut impl Iterator<Item = &'static str>) {
        out.push_str(ws.next().unwrap_or(""));
    }
    match g {
        Gen::Null => out.push_str("null"),
        Gen::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Gen::Num(n) => out.push_str(n),
        Gen::Str(p) => write_pieces(out, p),
        Gen::Arr(items) => {
            out.push('[');
            let mut dup = false;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                pad(out, ws);
                dup |= write(out, item, ws);
                pad(out, ws);
            }
            out.push(']');
            return dup;
        }
        Gen::Obj(members) => {
            out.push('{');
            let mut dup = false;
            let mut seen = Vec::new();
            for (i, (k, v)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let name = text_of(k);
                dup |= seen.contains(&name);
                seen.push(name);
                pad(out, ws);
                write_pieces(out, k);
                pad(out, ws);
                out.push(':');
                pad(out, ws);
                dup |= write(out, v, ws);
                pad(out, ws);
            }
            out.push('}');
            return dup;
        }
    }
    false
}

/// Whether our value and serde_json's are the same, numbers bit for bit.
fn same(ours: &Json, theirs: &Value) -> bool {
    match (ours, theirs) {
        (Json::Null, Value::Null) => true,
        (Json::Bool(a), Value::Bool(b)) => a == b,
        (Json::Int(a), Value::Number(b)) => b.as_u64() == Some(*a),
        (Json::Num(a), Value::Number(b)) => {
            // serde_json keeps negative integers as i64; this parser has them as f64 (a u64
            // past its range is an f64 on both sides).
            let b = match (b.as_i64(), b.as_f64()) {
                (Some(i), _) => i as f64,
                (None, Some(f)) => f,
                _ => return false,
            };
            !b.is_nan() && a.to_bits() == b.to_bits()
        }
        (Json::Str(a), Value::String(b)) => a == b,
        (Json::Arr(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Json::Obj(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same(v, w)))
        }
        _ => false,
    }
}

const WS: [&str; 6] = ["", "", "", " ", "\n\t", "\r\n  "];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn values_match_serde_json(g in value(), ws in prop::collection::vec(prop::sample::select(WS.to_vec()), 64)) {
        let mut text = String::new();
        let mut ws = ws.into_iter().cycle();
        let dup = write(&mut text, &g, &mut ws);
        let ours = parse(&text);
        let theirs: Result<Value, _> = serde_json::from_str(&text);
        if dup {
            prop_assert!(matches!(ours, Err(JsonError::DuplicateKey { .. })), "{}: {:?}", text, ours);
            return Ok(());
        }
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => prop_assert!(same(a, b), "{}: {:?} vs {:?}", text, a, b),
            // Both refuse: a number past f64::MAX (or, never generated, anything else).
            (Err(_), Err(_)) => {}
            _ => prop_assert!(false, "{}: {:?} vs {:?}", text, ours, theirs),
        }
    }
}

#[test]
fn negative_zero_and_the_largest_f64_match_serde_json() {
    for text in ["-0", "-0.0", "1.7976931348623157e308", "[-0,{\"a\":-0e3}]"] {
        let ours = parse(text).unwrap();
        let theirs: Value = serde_json::from_str(text).unwrap();
        assert!(same(&ours, &theirs), "{text}: {ours:?} vs {theirs:?}");
    }
    assert_eq!(parse("-0").unwrap(), Json::Num(-0.0));
    assert!(matches!(parse("-0").unwrap(), Json::Num(z) if z.is_sign_negative()));
}
