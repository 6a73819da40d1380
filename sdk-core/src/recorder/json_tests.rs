//! The manifest's and the sidecar's JSON, pinned by snapshots.

use super::tests::{drain, member, recording};
use super::*;
use crate::ToJsonText;
use crate::assist::{Point, Rect};
use crate::protocol::{Role, Source};

fn highlight(id: &str, seq: u64) -> AssistMessage {
    AssistMessage::Highlight {
        id: id.into(),
        rect: Rect {
            x: 0.1,
            y: 0.2,
            w: 0.3,
            h: 0.25,
        },
        color: "#ff3b30".into(),
        ttl_ms: 5_000,
        at: 1_234,
        seq,
    }
}

/// A recording with every kind of manifest entry: sources, chunks, a user pause, a consent
/// pause, bookmarks, a clip; stopped by the user and complete.
fn full_recording() -> Recorder {
    let options = RecorderOptions {
        wall_clock_start_ms: Some(1_759_485_600_000),
        ..RecorderOptions::default()
    };
    let mut rec = Recorder::new();
    let input = |rec: &mut Recorder, input, now| rec.handle_input(input, Millis(now)).unwrap();
    input(
        &mut rec,
        RecorderInput::MemberPresent {
            member: member("agent_1"),
            role: Role::Host,
            consented: true,
        },
        0,
    );
    input(
        &mut rec,
        RecorderInput::MemberPresent {
            member: member("user_9"),
            role: Role::Guest,
            consented: true,
        },
        0,
    );
    input(
        &mut rec,
        RecorderInput::SourceStarted {
            member: member("user_9"),
            source: Source::Screen,
        },
        0,
    );
    rec.start(options, &["video/webm;codecs=vp9,opus"], Millis(1_000))
        .unwrap();
    input(
        &mut rec,
        RecorderInput::ChunkRecorded { bytes: 150_000 },
        2_000,
    );
    input(
        &mut rec,
        RecorderInput::SourceStarted {
            member: member("agent_1"),
            source: Source::Camera,
        },
        2_500,
    );
    rec.bookmark("customer opens settings", Millis(2_600))
        .unwrap();
    input(
        &mut rec,
        RecorderInput::ChunkRecorded { bytes: 120_000 },
        3_000,
    );
    rec.pause(Millis(3_200)).unwrap();
    rec.resume(Millis(8_000)).unwrap();
    input(
        &mut rec,
        RecorderInput::ChunkRecorded { bytes: 90_000 },
        8_800,
    );
    input(
        &mut rec,
        RecorderInput::ConsentChanged {
            member: member("user_9"),
            granted: false,
        },
        9_000,
    );
    input(
        &mut rec,
        RecorderInput::ConsentChanged {
            member: member("user_9"),
            granted: true,
        },
        12_000,
    );
    rec.resume(Millis(12_500)).unwrap();
    input(
        &mut rec,
        RecorderInput::SourceEnded {
            member: member("agent_1"),
            source: Source::Camera,
        },
        13_000,
    );
    rec.bookmark("error \"E42\" shown", Millis(13_500)).unwrap();
    input(
        &mut rec,
        RecorderInput::ChunkRecorded { bytes: 110_000 },
        13_800,
    );
    rec.clip(1_500, 3_500).unwrap();
    rec.stop(Millis(14_000)).unwrap();
    input(
        &mut rec,
        RecorderInput::ChunkRecorded { bytes: 20_000 },
        14_030,
    );
    input(&mut rec, RecorderInput::MediaRecorderStopped, 14_040);
    drain(&mut rec);
    rec
}

#[test]
fn manifest_json() {
    let json = full_recording().manifest().to_json_text();
    insta::assert_snapshot!(json);
    // Valid JSON, and the same text every time.
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["duration_ms"], 4_700);
    assert_eq!(json, full_recording().manifest().to_json_text());
}

#[test]
fn manifest_json_before_start_and_while_recording() {
    let idle = Recorder::new().manifest().to_json_text();
    let mut rec = recording(RecorderOptions::default());
    rec.handle_input(RecorderInput::ChunkRecorded { bytes: 42 }, Millis(1_500))
        .unwrap();
    let running = rec.manifest().to_json_text();
    insta::assert_snapshot!([idle, running].join("\n"));
}

#[test]
fn sidecar_json() {
    let mut rec = recording(RecorderOptions::default());
    let agent = member("agent_1");
    let idle = Recorder::new().record_assist(&agent, &highlight("s0", 0), Millis(0));
    assert!(!idle, "nothing is recorded before start");
    let cursor = AssistMessage::Cursor {
        x: 0.5,
        y: 0.5,
        at: 0,
        seq: 1,
    };
    assert!(
        !rec.record_assist(&agent, &cursor, Millis(1_100)),
        "cursor moves are left out"
    );
    assert!(rec.record_assist(&agent, &highlight("s1", 2), Millis(1_500)));
    let arrow = AssistMessage::Arrow {
        id: "s2".into(),
        from: Point { x: 0.2, y: 0.2 },
        to: Point { x: 0.4, y: 0.35 },
        color: "#00ff00".into(),
        ttl_ms: 0,
        at: 1_600,
        seq: 3,
    };
    assert!(rec.record_assist(&agent, &arrow, Millis(2_000)));
    rec.pause(Millis(2_500)).unwrap();
    let step = AssistMessage::ScriptStep {
        ticket: "T-1001".into(),
        step: 2,
        total: 5,
        title: "Open \"Settings\"".into(),
        seq: 4,
    };
    assert!(
        rec.record_assist(&agent, &step, Millis(4_000)),
        "kept at the paused position"
    );
    rec.resume(Millis(6_000)).unwrap();
    let clear = AssistMessage::Clear {
        id: Some("s1".into()),
        at: 2_100,
        seq: 5,
    };
    assert!(rec.record_assist(&agent, &clear, Millis(6_500)));
    let invalid = AssistMessage::Clear {
        id: Some(String::new()),
        at: 0,
        seq: 6,
    };
    assert!(!rec.record_assist(&agent, &invalid, Millis(6_600)));
    let json = rec.sidecar().to_json_text();
    insta::assert_snapshot!(json);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let at: Vec<u64> = value["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["at_ms"].as_u64().unwrap())
        .collect();
    assert_eq!(at, [500, 1_000, 1_500, 2_000]);
    // Each message reads back as it was shown.
    let first = serde_json::to_string(&value["entries"][0]["message"]).unwrap();
    assert_eq!(AssistMessage::decode(&first).unwrap(), highlight("s1", 2));
}

#[test]
fn sidecar_is_bounded() {
    let mut rec = recording(RecorderOptions::default());
    let agent = member("agent_1");
    for i in 0..MAX_SIDECAR_ENTRIES as u64 + 3 {
        rec.record_assist(
            &agent,
            &AssistMessage::Clear {
                id: None,
                at: 0,
                seq: i,
            },
            Millis(1_000),
        );
    }
    assert_eq!(rec.sidecar().entries().len(), MAX_SIDECAR_ENTRIES);
    assert_eq!(rec.sidecar().dropped(), 3);
}
