//! The JSON parser reads the same value as serde_json, or refuses what serde_json refuses;
//! the allowed differences: repeated keys (refused here, last wins there) and nesting past
//! this parser's depth limit.
#![no_main]

use assistrtc_core::json::{self, Json, JsonError};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let ours = json::parse(text);
    let theirs = serde_json::from_str::<Value>(text);
    match (&ours, &theirs) {
        (Ok(a), Ok(b)) => assert!(same(a, b), "{text:?}: {a:?} vs {b:?}"),
        (Err(_), Err(_)) => {}
        (Err(JsonError::DuplicateKey { .. }), Ok(_)) => {}
        (Err(JsonError::Syntax { reason: "nested too deeply", .. }), Ok(_)) => {}
        _ => panic!("{text:?}: {ours:?} vs {theirs:?}"),
    }
});

fn same(ours: &Json, theirs: &Value) -> bool {
    match (ours, theirs) {
        (Json::Null, Value::Null) => true,
        (Json::Bool(a), Value::Bool(b)) => a == b,
        (Json::Int(a), Value::Number(b)) => b.as_u64() == Some(*a),
        (Json::Num(a), Value::Number(b)) => {
            // serde_json keeps negative integers as i64; here they are f64.
            let b = match (b.as_i64(), b.as_f64()) {
                (Some(i), _) => i as f64,
                (None, Some(f)) => f,
                _ => return false,
            };
            a.to_bits() == b.to_bits()
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
