use proptest::prelude::*;

use super::*;

fn obj(text: &str) -> Object {
    match parse(text).unwrap() {
        Json::Obj(o) => o,
        other => panic!("not an object: {other:?}"),
    }
}

#[test]
fn parses_every_kind_of_value() {
    let mut o = obj(r#" { "a" : [1, -2, 0.5, 1e2, true, false, null, "x", {}] , "b":{"c":[]} } "#);
    assert_eq!(
        o.take("a"),
        Some(Json::Arr(vec![
            Json::Int(1),
            Json::Num(-2.0),
            Json::Num(0.5),
            Json::Num(100.0),
            Json::Bool(true),
            Json::Bool(false),
            Json::Null,
            Json::Str("x".into()),
            Json::Obj(Object::default()),
        ]))
    );
    let mut b = Object::from_json(o.take("b").unwrap()).unwrap();
    assert_eq!(b.take("c"), Some(Json::Arr(vec![])));
    assert_eq!(o.take("a"), None);
}

#[test]
fn last_duplicate_key_wins() {
    let mut o = obj(r#"{"k":1,"k":2}"#);
    assert_eq!(o.get("k"), Some(&Json::Int(2)));
    assert_eq!(o.take("k"), Some(Json::Int(2)));
}

#[test]
fn string_escapes() {
    let s = String::from_json(parse(r#""a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00""#).unwrap());
    assert_eq!(s.unwrap(), "a\"b\\c/d\u{8}\u{c}\n\r\té😀");
}

#[test]
fn rejects_malformed_text_with_an_offset() {
    for (text, reason) in [
        ("", "unexpected end of input"),
        ("{", "expected a string key"),
        (r#"{"a" 1}"#, "expected `:`"),
        (r#"{"a":1,}"#, "expected a string key"),
        ("[1,]", "unexpected character"),
        ("[1 2]", "expected `,` or `]`"),
        ("01", "trailing characters"),
        ("1.", "invalid number"),
        ("1e", "invalid number"),
        ("-", "invalid number"),
        ("+1", "unexpected character"),
        ("1e999", "number out of range"),
        ("tru", "invalid literal"),
        ("\"abc", "unterminated string"),
        ("\"a\nb\"", "control character in string"),
        (r#""\x""#, "invalid escape"),
        (r#""\u12g4""#, "invalid \\u escape"),
        (r#""\ud800""#, "lone surrogate in string"),
        (r#""\ud800\u0041""#, "lone surrogate in string"),
        (r#""\udc00""#, "lone surrogate in string"),
        ("{} {}", "trailing characters"),
    ] {
        let err = parse(text).unwrap_err();
        assert_eq!(err.reason, reason, "{text:?}");
        assert!(err.offset <= text.len());
    }
}

#[test]
fn nesting_is_bounded() {
    let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
    assert!(parse(&ok).is_ok());
    let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
    assert_eq!(parse(&deep).unwrap_err().reason, "nested too deeply");
    // Far deeper than any stack would take without the limit.
    let hostile = "[".repeat(60_000);
    assert_eq!(parse(&hostile).unwrap_err().reason, "nested too deeply");
}

#[test]
fn number_edges() {
    for (text, want) in [
        ("0", Json::Int(0)),
        ("-0", Json::Num(-0.0)),
        ("0.0", Json::Num(0.0)),
        ("1E2", Json::Num(100.0)),
        ("0.000001", Json::Num(1e-6)),
        (
            "123456789012345678901234567890",
            Json::Num(1.2345678901234568e29),
        ),
        ("0e999999", Json::Num(0.0)),
        ("1e-999999", Json::Num(0.0)),
        ("-2.5e-3", Json::Num(-0.0025)),
    ] {
        assert_eq!(parse(text).unwrap(), want, "{text}");
    }
    assert_eq!(parse("-1e400").unwrap_err().reason, "number out of range");
}

#[test]
fn integers_are_exact_and_typed() {
    assert_eq!(parse("18446744073709551615").unwrap(), Json::Int(u64::MAX));
    // One past u64::MAX is still a number, just not an exact integer.
    assert_eq!(
        parse("18446744073709551616").unwrap(),
        Json::Num(18446744073709551616.0)
    );
    assert_eq!(u32::from_json(Json::Int(5)), Ok(5));
    assert!(u32::from_json(Json::Int(1 << 40)).is_err());
    assert!(u64::from_json(Json::Num(1.5)).is_err());
    assert!(u64::from_json(Json::Num(-1.0)).is_err());
    assert_eq!(
        u64::from_json(Json::Str("1".into())).unwrap_err(),
        "expected a non-negative integer, found a string"
    );
    assert_eq!(f64::from_json(Json::Int(1)), Ok(1.0));
}

#[test]
fn writes_strings_like_standard_json() {
    let s = "q\"b\\s/\u{1}\u{8}\u{c}\n\r\t\u{1f}\u{7f}é😀";
    let mut out = String::new();
    write_str(&mut out, s);
    assert_eq!(out, serde_json::to_string(s).unwrap());
    assert_eq!(String::from_json(parse(&out).unwrap()).unwrap(), s);
}

#[test]
fn writes_objects_in_call_order() {
    let mut out = String::new();
    let mut w = ObjectWriter::new(&mut out);
    w.field("b", &true)
        .field("n", &7u64)
        .opt::<str>("skip", None)
        .opt("s", Some("x"))
        .field("list", &vec![1u32, 2])
        .coord("c", 0.125);
    w.finish();
    assert_eq!(out, r#"{"b":true,"n":7,"s":"x","list":[1,2],"c":0.125}"#);
    assert_eq!(to_string(&Vec::<u64>::new()), "[]");
}

#[test]
fn coordinates_are_shortest_six_decimals() {
    for (x, text) in [
        (0.0, "0"),
        (1.0, "1"),
        (0.5, "0.5"),
        (0.25, "0.25"),
        (0.000125, "0.000125"),
        (0.1 + 0.2, "0.3"),
        (0.123_456_7, "0.123457"),
        (0.000_000_4, "0"),
        (-0.5, "-0.5"),
        (-0.000_000_1, "0"),
        (f64::NAN, "0"),
    ] {
        let mut out = String::new();
        write_coord(&mut out, x);
        assert_eq!(out, text, "{x}");
    }
}

proptest! {
    #[test]
    fn coordinates_decode_to_the_snapped_value(x in -2.0f64..2.0) {
        let mut out = String::new();
        write_coord(&mut out, x);
        let back = f64::from_json(parse(&out).unwrap()).unwrap();
        prop_assert_eq!(back.to_bits(), snap_coord(x).to_bits());
        // Snapping is idempotent, so a relayed coordinate never drifts.
        prop_assert_eq!(snap_coord(back).to_bits(), back.to_bits());
    }

    #[test]
    fn long_numbers_parse_within_a_few_ulps(x in any::<f64>().prop_filter("normal", |x| x.is_normal() && x.abs() > 1e-290)) {
        for text in [format!("{x}"), format!("{x:e}"), format!("{x:.3}"), format!("{x:.17e}"), format!("{x:.25e}")] {
            let want: f64 = text.parse().unwrap();
            let got = f64::from_json(parse(&text).unwrap()).unwrap();
            let tolerance = want.abs() * 8.0 * f64::EPSILON;
            prop_assert!((got - want).abs() <= tolerance, "{}: {} vs {}", text, got, want);
        }
    }

    #[test]
    fn short_decimals_take_the_exact_path(m in 0u64..1_000_000_000_000_000, scale in -22i32..=22) {
        let text = if scale < 0 { format!("{m}e{scale}") } else { format!("{m}e+{scale}") };
        let want: f64 = text.parse().unwrap();
        let got = f64::from_json(parse(&text).unwrap()).unwrap();
        prop_assert_eq!(got.to_bits(), want.to_bits(), "{}", text);
    }

    #[test]
    fn strings_round_trip_and_match_standard_json(s in any::<String>()) {
        let mut out = String::new();
        write_str(&mut out, &s);
        prop_assert_eq!(&out, &serde_json::to_string(&s).unwrap());
        prop_assert_eq!(String::from_json(parse(&out).unwrap()).unwrap(), s);
    }

    #[test]
    fn never_panics_and_agrees_with_standard_json(text in "[\\[\\]{}\",:0-9eE.+\\- tfnrulase\\\\a-z]{0,40}") {
        let ours = parse(&text);
        let theirs: Result<serde_json::Value, _> = serde_json::from_str(&text);
        prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{:?}: {:?} vs {:?}", text, ours, theirs);
    }
}
