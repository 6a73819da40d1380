use proptest::prelude::*;

use super::*;
use crate::Millis;
use crate::permissions::Capabilities;
use crate::protocol::{ErrorCode, MemberId, Permissions, Role};

fn agent() -> MemberId {
    MemberId::new("agent_1").unwrap()
}

fn host() -> Capabilities {
    Capabilities::for_role(Role::Host, Permissions::default())
}

#[test]
fn wire_format_is_compact_and_versioned() {
    let msg = AssistMessage::Cursor {
        x: 0.5,
        y: 0.4,
        at: 1200,
        seq: 3,
    };
    assert_eq!(
        msg.encode().unwrap(),
        r#"{"v":1,"t":"cursor","x":0.5,"y":0.4,"at":1200,"seq":3}"#
    );
    let hl = AssistMessage::Highlight {
        id: "s1".into(),
        rect: Rect {
            x: 0.1,
            y: 0.2,
            w: 0.3,
            h: 0.4,
        },
        color: "#ff0000".into(),
        ttl_ms: 5000,
        at: 0,
        seq: 1,
    };
    assert_eq!(
        hl.encode().unwrap(),
        r##"{"v":1,"t":"highlight","id":"s1","rect":{"x":0.1,"y":0.2,"w":0.3,"h":0.4},"color":"#ff0000","ttl_ms":5000,"at":0,"seq":1}"##
    );
    // The design's minimal cursor (no v) still decodes... once it has its required fields.
    assert!(AssistMessage::decode(r#"{"t":"cursor","x":0.5,"y":0.4,"at":0,"seq":1}"#).is_ok());
}

#[test]
fn invalid_messages_get_typed_errors() {
    type Check = fn(&AssistError) -> bool;
    let cases: &[(&str, Check)] = &[
        ("{", |e| matches!(e, AssistError::Malformed(_))),
        (r#"{"v":2,"t":"cursor","x":0,"y":0,"at":0,"seq":1}"#, |e| {
            matches!(e, AssistError::UnsupportedVersion(_))
        }),
        (r#"{"t":"laser","x":0}"#, |e| {
            matches!(e, AssistError::UnknownKind(_))
        }),
        (r#"{"t":"cursor","x":1.5,"y":0,"at":0,"seq":1}"#, |e| {
            matches!(e, AssistError::OutOfRange { field: "cursor" })
        }),
        (r#"{"t":"cursor","x":"a","y":0,"at":0,"seq":1}"#, |e| {
            matches!(e, AssistError::Malformed(_))
        }),
        (
            r##"{"t":"highlight","id":"a","rect":{"x":0.9,"y":0,"w":0.2,"h":0.1},"color":"#000000","ttl_ms":1,"at":0,"seq":1}"##,
            |e| matches!(e, AssistError::OutOfRange { field: "rect" }),
        ),
        (
            r#"{"t":"arrow","id":"a","from":{"x":0,"y":0},"to":{"x":1,"y":1},"color":"red","ttl_ms":1,"at":0,"seq":1}"#,
            |e| matches!(e, AssistError::BadColor(_)),
        ),
        (
            r#"{"t":"script_step","ticket":"T1","step":4,"total":3,"title":"x","seq":1}"#,
            |e| matches!(e, AssistError::OutOfRange { field: "step" }),
        ),
    ];
    for (text, check) in cases {
        let err = AssistMessage::decode(text).unwrap_err();
        assert!(check(&err), "{text}: {err:?}");
    }
    let big = format!(
        r#"{{"t":"clear","id":"{}","at":0,"seq":1}}"#,
        "x".repeat(MAX_MESSAGE_BYTES)
    );
    assert!(matches!(
        AssistMessage::decode(&big),
        Err(AssistError::Oversize { .. })
    ));
    // NaN cannot be written in JSON, but an API caller can pass one.
    let nan = AssistMessage::Cursor {
        x: f64::NAN,
        y: 0.0,
        at: 0,
        seq: 1,
    };
    assert_eq!(
        nan.encode().unwrap_err(),
        AssistError::NotANumber { field: "cursor" }
    );
    let mut sender = AssistSender::new(16);
    assert_eq!(
        sender.pointer(f64::NAN, 0.5, 0, Millis(0)),
        Err(AssistError::NotANumber { field: "cursor" })
    );
}

#[test]
fn cursor_moves_coalesce_to_one_per_frame() {
    let mut s = AssistSender::new(16);
    // 120 Hz for one second: 8 ms apart.
    let mut sent = Vec::new();
    for i in 0..120u64 {
        let now = Millis(i * 8);
        s.handle_timeout(now);
        s.pointer((i as f64) / 200.0, 0.5, i * 8, now).unwrap();
        while let Some(t) = s.poll_transmit() {
            assert_eq!(t.channel, Channel::Cursor);
            sent.push((now, AssistMessage::decode(&t.payload).unwrap()));
        }
    }
    // At most one per 16 ms; never a backlog: at most one pending.
    assert!(sent.len() <= 60 && sent.len() >= 55, "{}", sent.len());
    for w in sent.windows(2) {
        assert!(w[1].0.since(w[0].0) >= 16);
    }
    // The latest position wins: the last pending move is flushed at its deadline.
    let due = s.poll_timeout().unwrap();
    s.handle_timeout(due);
    let last = AssistMessage::decode(&s.poll_transmit().unwrap().payload).unwrap();
    assert!(matches!(last, AssistMessage::Cursor { x, .. } if (x - 119.0 / 200.0).abs() < 1e-12));
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn overlay_applies_expires_and_clears() {
    let mut s = AssistSender::new(16);
    let mut o = Overlay::default();
    let a = s
        .highlight(
            Rect {
                x: 0.1,
                y: 0.1,
                w: 0.2,
                h: 0.2,
            },
            "#ff0000",
            1000,
            10,
        )
        .unwrap();
    let b = s
        .arrow(
            Point { x: 0.0, y: 0.0 },
            Point { x: 0.5, y: 0.5 },
            "#00ff00",
            0,
            20,
        )
        .unwrap();
    s.script_step("T-42", 2, 5, "Open the settings").unwrap();
    while let Some(t) = s.poll_transmit() {
        assert_eq!(t.channel, Channel::Reliable);
        assert!(
            o.apply_text(&agent(), host(), &t.payload, Millis(0))
                .unwrap()
        );
    }
    let v = o.visible(Millis(500));
    assert_eq!(
        v.shapes.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        vec![a.as_str(), b.as_str()]
    );
    assert_eq!(v.shapes[0].at, 10, "frame-anchored");
    assert_eq!(v.step.as_ref().unwrap().step, 2);
    assert_eq!(o.poll_timeout(), Some(Millis(1000)));
    assert_eq!(
        o.visible(Millis(1000)).shapes.len(),
        1,
        "the highlight expired by TTL"
    );
    assert!(o.expire(Millis(1000)));
    s.clear(None, 30).unwrap();
    let t = s.poll_transmit().unwrap();
    assert!(
        o.apply_text(&agent(), host(), &t.payload, Millis(1100))
            .unwrap()
    );
    assert!(o.visible(Millis(1100)).shapes.is_empty());
}

#[test]
fn members_without_annotate_are_rejected() {
    let guest = Capabilities::for_role(Role::Guest, Permissions::default());
    let mut o = Overlay::default();
    let user = MemberId::new("user_9").unwrap();
    let err = o
        .apply_text(
            &user,
            guest,
            r#"{"t":"cursor","x":0.5,"y":0.5,"at":0,"seq":1}"#,
            Millis(0),
        )
        .unwrap_err();
    assert_eq!(err, AssistError::NotAllowed("user_9".into()));
    assert_eq!(err.code(), ErrorCode::Forbidden);
    assert!(o.visible(Millis(0)).cursors.is_empty());
}

#[test]
fn late_cursor_moves_are_dropped_and_idle_cursors_hide() {
    let mut o = Overlay::default();
    let m = |x: f64, seq| AssistMessage::Cursor {
        x,
        y: 0.5,
        at: 0,
        seq,
    };
    assert!(o.apply(&agent(), host(), m(0.3, 5), Millis(0)).unwrap());
    assert!(!o.apply(&agent(), host(), m(0.1, 4), Millis(1)).unwrap());
    assert_eq!(o.visible(Millis(1)).cursors[0].x, 0.3);
    assert!(o.visible(Millis(CURSOR_IDLE_MS)).cursors.is_empty());
}

#[test]
fn live_shapes_are_capped() {
    let mut s = AssistSender::new(16);
    let mut o = Overlay::default();
    for _ in 0..MAX_SHAPES {
        s.highlight(
            Rect {
                x: 0.0,
                y: 0.0,
                w: 0.1,
                h: 0.1,
            },
            "#123456",
            0,
            0,
        )
        .unwrap();
        let t = s.poll_transmit().unwrap();
        o.apply_text(&agent(), host(), &t.payload, Millis(0))
            .unwrap();
    }
    s.highlight(
        Rect {
            x: 0.0,
            y: 0.0,
            w: 0.1,
            h: 0.1,
        },
        "#123456",
        0,
        0,
    )
    .unwrap();
    let t = s.poll_transmit().unwrap();
    assert_eq!(
        o.apply_text(&agent(), host(), &t.payload, Millis(0)),
        Err(AssistError::TooManyShapes)
    );
    assert_eq!(o.shape_count(), MAX_SHAPES);
}

fn unit() -> impl Strategy<Value = f64> {
    (0u32..=1000).prop_map(|n| f64::from(n) / 1000.0)
}

fn message() -> impl Strategy<Value = AssistMessage> {
    let id = "[a-z0-9]{1,12}";
    let color = "#[0-9a-f]{6}";
    prop_oneof![
        (unit(), unit(), any::<u32>(), any::<u32>()).prop_map(|(x, y, at, seq)| {
            AssistMessage::Cursor {
                x,
                y,
                at: at.into(),
                seq: seq.into(),
            }
        }),
        (
            id,
            unit(),
            unit(),
            unit(),
            unit(),
            color,
            0u64..MAX_TTL_MS,
            any::<u32>()
        )
            .prop_map(
                |(id, x, y, w, h, color, ttl_ms, at)| AssistMessage::Highlight {
                    id,
                    rect: Rect {
                        x: x * 0.5,
                        y: y * 0.5,
                        w: w * 0.5,
                        h: h * 0.5
                    },
                    color,
                    ttl_ms,
                    at: at.into(),
                    seq: 1,
                }
            ),
        (id, unit(), unit(), unit(), unit(), color).prop_map(|(id, a, b, c, d, color)| {
            AssistMessage::Arrow {
                id,
                from: Point { x: a, y: b },
                to: Point { x: c, y: d },
                color,
                ttl_ms: 0,
                at: 0,
                seq: 2,
            }
        }),
        proptest::option::of(id).prop_map(|id| AssistMessage::Clear { id, at: 0, seq: 3 }),
        ("[A-Z0-9-]{1,10}", 1u32..10, ".{0,40}").prop_map(|(ticket, step, title)| {
            AssistMessage::ScriptStep {
                ticket,
                step,
                total: step + 1,
                title,
                seq: 4,
            }
        }),
    ]
}

proptest! {
    #[test]
    fn encode_decode_round_trips(msg in message()) {
        let text = msg.encode().unwrap();
        prop_assert_eq!(AssistMessage::decode(&text).unwrap(), msg);
    }

    #[test]
    fn decode_never_panics(text in ".{0,300}") {
        let _ = AssistMessage::decode(&text);
    }

    #[test]
    fn decode_never_panics_on_near_valid_json(x in any::<f64>(), t in "[a-z_]{0,12}", n in any::<i64>()) {
        let text = format!(r#"{{"t":"{t}","x":{x},"y":{n},"at":{n},"seq":{n},"id":"{t}","step":{n},"total":{n}}}"#);
        let _ = AssistMessage::decode(&text);
    }

    #[test]
    fn overlay_invariants_hold(msgs in proptest::collection::vec((message(), 0u64..10_000), 0..200)) {
        let mut o = Overlay::default();
        let mut now = Millis(0);
        for (msg, step) in msgs {
            now = now.after(step);
            let _ = o.apply(&agent(), host(), msg, now);
            prop_assert!(o.shape_count() <= MAX_SHAPES);
            let v = o.visible(now);
            prop_assert!(v.shapes.iter().all(|s| s.expires.is_none_or(|t| t > now)));
            // After expiring at `now`, the next deadline is strictly in the future.
            o.expire(now);
            if let Some(t) = o.poll_timeout() {
                prop_assert!(t > now);
            }
            prop_assert_eq!(o.visible(now).shapes.len(), o.shape_count());
        }
    }
}

#[test]
fn coordinates_travel_on_a_six_decimal_grid() {
    for i in 1..2000u32 {
        let x = f64::from(i) / 2001.0;
        let msg = AssistMessage::Cursor {
            x,
            y: 1.0 - x,
            at: 0,
            seq: 1,
        };
        let text = msg.encode().unwrap();
        let back = AssistMessage::decode(&text).unwrap();
        let p = Point { x, y: 1.0 - x }.snapped();
        let snapped = AssistMessage::Cursor {
            x: p.x,
            y: p.y,
            at: 0,
            seq: 1,
        };
        assert_eq!(back, snapped, "x = {x}");
        // Relaying a decoded message never drifts.
        assert_eq!(back.encode().unwrap(), text);
        // Another implementation writing full precision is read onto the same grid.
        let foreign = format!(r#"{{"t":"cursor","x":{x},"y":{},"at":0,"seq":1}}"#, 1.0 - x);
        assert_eq!(AssistMessage::decode(&foreign).unwrap(), snapped, "x = {x}");
    }
}

#[test]
fn sender_snaps_what_it_sends() {
    let mut s = AssistSender::new(8);
    s.pointer(1.0 / 3.0, 2.0 / 3.0, 0, Millis(0)).unwrap();
    let t = s.poll_transmit().unwrap();
    assert_eq!(
        t.payload,
        r#"{"v":1,"t":"cursor","x":0.333333,"y":0.666667,"at":0,"seq":1}"#
    );
}

#[test]
fn replay_recreates_what_a_member_still_shows_on_a_new_link() {
    let other = MemberId::new("agent_2").unwrap();
    let mut sender = AssistSender::new(8);
    let mut here = Overlay::default();
    let rect = Rect {
        x: 0.1,
        y: 0.1,
        w: 0.2,
        h: 0.2,
    };
    let tail = Point { x: 0.5, y: 0.5 };
    sender.highlight(rect, "#ff0000", 10_000, 7).unwrap();
    sender.arrow(tail, tail, "#00ff00", 0, 8).unwrap();
    sender.highlight(rect, "#0000ff", 1_000, 9).unwrap();
    sender.script_step("T-1", 2, 3, "Reboot").unwrap();
    while let Some(t) = sender.poll_transmit() {
        here.apply_text(&agent(), host(), &t.payload, Millis(0))
            .unwrap();
    }
    // Someone else's shape is theirs to replay.
    let theirs = AssistMessage::Clear {
        id: None,
        at: 0,
        seq: 1,
    };
    here.apply(&other, host(), theirs, Millis(0)).unwrap();

    // At 4 s the 1 s highlight is gone, the 10 s one has 6 s left.
    let now = Millis(4_000);
    let replay = here.replay(&agent(), now);
    assert_eq!(replay.len(), 3);
    assert!(matches!(
        replay[0],
        AssistMessage::Highlight {
            ttl_ms: 6_000,
            at: 7,
            ..
        }
    ));
    assert!(matches!(
        replay[1],
        AssistMessage::Arrow {
            ttl_ms: 0,
            at: 8,
            ..
        }
    ));
    assert!(matches!(
        replay[2],
        AssistMessage::ScriptStep { step: 2, .. }
    ));

    // A receiver that saw nothing before ends up showing the same, expiring at the same time.
    let mut there = Overlay::default();
    let seq_before = sender.encode_for_one(replay[0].clone()).unwrap();
    for msg in replay {
        let payload = sender.encode_for_one(msg).unwrap();
        there.apply_text(&agent(), host(), &payload, now).unwrap();
    }
    assert!(seq_before.contains(r#""seq":5"#), "{seq_before}");
    assert_eq!(there.visible(now), here.visible(now));
    assert_eq!(
        there.visible(Millis(10_000)).shapes.len(),
        here.visible(Millis(10_000)).shapes.len()
    );
    assert!(here.replay(&other, now).is_empty());
}

#[test]
fn shows_from_matches_replay() {
    let mut o = Overlay::default();
    let mut s = AssistSender::new(8);
    assert!(!o.shows_from(&agent(), Millis(0)));
    let rect = Rect {
        x: 0.0,
        y: 0.0,
        w: 0.5,
        h: 0.5,
    };
    s.highlight(rect, "#ff0000", 1_000, 0).unwrap();
    let t = s.poll_transmit().unwrap();
    o.apply_text(&agent(), host(), &t.payload, Millis(0))
        .unwrap();
    assert!(o.shows_from(&agent(), Millis(999)));
    assert!(!o.shows_from(&agent(), Millis(1_000)));
    assert!(o.replay(&agent(), Millis(1_000)).is_empty());
}
