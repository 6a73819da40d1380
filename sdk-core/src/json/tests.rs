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
fn duplicate_keys_are_refused() {
    let dup = |text: &str| match parse(text) {
        Err(JsonError::DuplicateKey { offset, key }) => (offset, key),
        other => panic!("{text}: {other:?}"),
    };
    assert_eq!(dup(r#"{"k":1,"k":2}"#), (7, "k".to_owned()));
    // Keys compare after unescaping.
    assert_eq!(dup(r#"{"k":1,"\u006b":2}"#).1, "k");
    // Nested, in an array, deep inside.
    assert_eq!(dup(r#"{"a":[{"b":{"c":1,"c":1}}]}"#).1, "c");
    // The same key in sibling objects is fine.
    assert!(parse(r#"{"a":{"k":1},"b":{"k":1}}"#).is_ok());
    let o = obj(r#"{"k":1,"l":2}"#);
    assert_eq!(o.get("k"), Some(&Json::Int(1)));
    assert_eq!(o.len(), 2);
}

#[test]
fn duplicate_keys_in_large_objects_are_refused_without_quadratic_cost() {
    // A 64 KiB frame's worth of distinct keys, then the same with one repeat at the end.
    let keys: Vec<String> = (0..8000).map(|i| format!("\"k{i}\":0")).collect();
    let text = format!("{{{}}}", keys.join(","));
    assert!(text.len() > 60 * 1024);
    let start = std::time::Instant::now();
    assert_eq!(obj(&text).len(), 8000);
    let repeat = format!("{{{},\"k17\":1}}", keys.join(","));
    assert!(matches!(
        parse(&repeat),
        Err(JsonError::DuplicateKey { offset: 0, ref key }) if key == "k17"
    ));
    // Quadratic scanning takes seconds in a debug build; sorting takes milliseconds.
    assert!(
        start.elapsed() < std::time::Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
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
        assert!(
            matches!(err, JsonError::Syntax { reason: r, .. } if r == reason),
            "{text:?}: {err:?}"
        );
        assert!(err.offset() <= text.len());
    }
}

#[test]
fn nesting_is_bounded() {
    let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
    assert!(parse(&ok).is_ok());
    let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
    assert_eq!(
        parse(&deep).unwrap_err(),
        JsonError::Syntax {
            offset: MAX_DEPTH,
            reason: "nested too deeply"
        }
    );
    // Far deeper than any stack would take without the limit.
    let hostile = "[".repeat(60_000);
    assert_eq!(
        parse(&hostile).unwrap_err(),
        JsonError::Syntax {
            offset: MAX_DEPTH,
            reason: "nested too deeply"
        }
    );
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
    assert_eq!(
        parse("-1e400").unwrap_err(),
        JsonError::Syntax {
            offset: 0,
            reason: "number out of range"
        }
    );
}

#[test]
fn hard_numbers_are_exact() {
    for text in [
        "1.7976931348623157e308",
        "-1.7976931348623157e308",
        "2.2250738585072014e-308",
        "2.2250738585072011e-308",
        "4.9406564584124654e-324",
        "2.4703282292062328e-324",
        "2.4703282292062327e-324",
        "9007199254740993",
        "-9007199254740993",
        "9007199254740992.5",
        "0.1000000000000000055511151231257827021181583404541015625",
        "1.00000000000000011102230246251565404236316680908203125",
        "1.00000000000000011102230246251565404236316680908203124",
        "1.00000000000000011102230246251565404236316680908203126",
        "7.4109846876186981626485318930233205854758970392148714663837852375101326090531312779794975454245398856969484704316857659638998506553390969459816219401617281718945106978546710679176872575177347315553307795408549809608457500958111373034747658096871009590975442271004757307809711118935784838675653998783503015228055934046593739791790738723868299395818481660169122019456499931289798411362062484498678713572180352209017023903285791732520220528974020802906854021606612375549983402671300035812486479041385743401875520901590172592547146296175134159774938718574737870961645638908718119841271673056017045493004705269590165763776884908267986972573366521765567941072508764337560846003984904972149117463085539556354188641513168478436313080237596295773983001708984375e-318",
        "1e23",
        "8.988465674311579e307",
        "1.7976931348623158e308",
        "179769313486231580793728971405301e276",
        "0.000000000000000000000000000000000000000000001e-280",
    ] {
        let want: f64 = text.parse().unwrap();
        let got = f64::from_json(parse(text).unwrap()).unwrap();
        assert_eq!(got.to_bits(), want.to_bits(), "{text}");
    }
    assert_eq!(
        parse("1.7976931348623157e308").unwrap(),
        Json::Num(f64::MAX)
    );
    // Just past the halfway point above the largest f64 rounds to infinity: refused.
    assert!(parse("1.7976931348623159e308").is_err());
    assert!(parse(&format!("1{}", "0".repeat(309))).is_err());
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
    fn numbers_parse_correctly_rounded(x in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
        for text in [format!("{x}"), format!("{x:e}"), format!("{x:.3}"), format!("{x:.17e}"), format!("{x:.25e}")] {
            let want: f64 = text.parse().unwrap();
            let got = f64::from_json(parse(&text).unwrap()).unwrap();
            prop_assert_eq!(got.to_bits(), want.to_bits(), "{}", text);
        }
    }

    #[test]
    fn long_decimals_parse_correctly_rounded(digits in "[1-9][0-9]{15,40}", point in 0usize..40, exp in -340i32..=310) {
        let point = point.min(digits.len());
        let text = format!("{}.{}e{exp}", &digits[..point], &digits[point..]);
        let text = if text.starts_with('.') { format!("0{text}") } else { text };
        let text = text.replace(".e", ".0e");
        let want: f64 = text.parse().unwrap();
        match parse(&text) {
            Ok(v) => prop_assert_eq!(f64::from_json(v).unwrap().to_bits(), want.to_bits(), "{}", text),
            Err(_) => prop_assert!(want.is_infinite(), "{}", text),
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

#[test]
fn parse_take_and_write() {
    let Json::Obj(mut obj) = parse(r#"{"x":0.25,"n":7,"s":"a\nb"}"#).unwrap() else {
        panic!("an object");
    };
    assert_eq!(obj.take("n"), Some(Json::Int(7)));
    assert!(parse(r#"{"n":1,"n":2}"#).is_err());

    let mut out = String::new();
    let mut w = ObjectWriter::new(&mut out);
    w.field("s", "a\nb").coord("x", 0.25);
    w.finish();
    assert_eq!(out, r#"{"s":"a\nb","x":0.25}"#);
}
