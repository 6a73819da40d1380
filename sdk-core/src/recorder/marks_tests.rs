//! Bookmarks, clips and sources on media time.

use super::tests::{CHROME, chunk, member, recording};
use super::*;
use crate::protocol::Source;

#[test]
fn clips_must_be_non_empty_and_within_what_was_recorded() {
    let mut rec = recording(RecorderOptions::default());
    assert_eq!(
        rec.clip(0, 10),
        Err(RecorderError::InvalidClip { recorded_ms: 0 })
    );
    for t in [2_000, 3_000, 4_000] {
        chunk(&mut rec, 10, t).unwrap();
    }
    // Recording runs on to 3 500 ms of media, but chunks cover 3 000.
    rec.handle_timeout(Millis(4_500));
    let beyond = RecorderError::InvalidClip { recorded_ms: 3_000 };
    assert_eq!(rec.clip(2_000, 3_500), Err(beyond.clone()));
    assert_eq!(beyond.code(), "invalid_clip");
    assert_eq!(
        beyond.message(),
        "a clip must be non-empty and within the recorded 0-3000 ms"
    );
    assert_eq!(rec.clip(1_500, 1_500), Err(beyond.clone()));
    assert_eq!(rec.clip(2_000, 1_000), Err(beyond));
    let clip = rec.clip(1_000, 2_500).unwrap();
    assert_eq!((clip.first_chunk, clip.last_chunk), (1, 2));
    let whole = rec.clip(0, 3_000).unwrap();
    assert_eq!((whole.first_chunk, whole.last_chunk), (0, 2));
    assert_eq!(rec.manifest().clips, [clip, whole]);
}

#[test]
fn bookmark_labels_and_counts_are_bounded() {
    let mut rec = recording(RecorderOptions::default());
    assert_eq!(
        rec.bookmark("", Millis(1_000)),
        Err(RecorderError::InvalidLabel)
    );
    let long = "x".repeat(MAX_LABEL_BYTES + 1);
    assert_eq!(
        rec.bookmark(&long, Millis(1_000)),
        Err(RecorderError::InvalidLabel)
    );
    assert_eq!(
        RecorderError::InvalidLabel.message(),
        "a bookmark label must be 1-128 bytes"
    );
    for _ in 0..MAX_BOOKMARKS {
        rec.bookmark("b", Millis(1_000)).unwrap();
    }
    let err = rec.bookmark("b", Millis(1_000)).unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        ("too_many", "the recording holds too many bookmarks".into())
    );
}

#[test]
fn sources_are_placed_on_media_time() {
    let mut rec = Recorder::new();
    let started = |m: &str, s| RecorderInput::SourceStarted {
        member: member(m),
        source: s,
    };
    let ended = |m: &str, s| RecorderInput::SourceEnded {
        member: member(m),
        source: s,
    };
    rec.handle_input(started("agent_1", Source::Camera), Millis(0))
        .unwrap();
    rec.handle_input(started("agent_1", Source::Microphone), Millis(0))
        .unwrap();
    rec.handle_input(ended("agent_1", Source::Microphone), Millis(0))
        .unwrap(); // never recorded
    rec.start(RecorderOptions::default(), &CHROME, Millis(1_000))
        .unwrap();
    rec.handle_input(started("user_9", Source::Screen), Millis(3_000))
        .unwrap();
    rec.handle_input(started("user_9", Source::Screen), Millis(3_500))
        .unwrap(); // already on
    rec.handle_input(ended("user_9", Source::Screen), Millis(6_000))
        .unwrap();
    rec.stop(Millis(7_000)).unwrap();
    rec.handle_input(started("user_9", Source::Camera), Millis(8_000))
        .unwrap(); // too late
    let spans: Vec<_> = rec
        .manifest()
        .sources
        .iter()
        .map(|s| (s.member.as_str().to_owned(), s.source, s.start_ms, s.end_ms))
        .collect();
    assert_eq!(
        spans,
        [
            ("agent_1".to_owned(), Source::Camera, 0, None),
            ("user_9".to_owned(), Source::Screen, 2_000, Some(5_000)),
        ]
    );
}
