//! Size and duration caps: one warning each, then a stop.

use super::tests::{chunk, cmd, drain, recording, state};
use super::*;

#[test]
fn duration_cap_warns_once_then_stops_on_media_time() {
    let options = RecorderOptions {
        max_duration_ms: Some(10_000),
        ..RecorderOptions::default()
    };
    let mut rec = recording(options);
    assert_eq!(rec.poll_timeout(), Some(Millis(10_000))); // 90 % of the cap
    rec.handle_timeout(Millis(9_999));
    assert!(drain(&mut rec).is_empty());
    rec.handle_timeout(Millis(10_000));
    let warning = CapWarning {
        cap: Cap::Duration,
        used: 9_000,
        limit: 10_000,
    };
    assert_eq!(
        drain(&mut rec),
        [RecorderOutput::Event(RecorderEvent::CapWarning(warning))]
    );
    rec.handle_timeout(Millis(10_500));
    assert!(drain(&mut rec).is_empty(), "the warning comes once");
    assert_eq!(rec.poll_timeout(), Some(Millis(11_000)));
    // A pause moves the cap by its length; no second warning after it.
    rec.pause(Millis(10_600)).unwrap();
    assert_eq!(rec.poll_timeout(), None);
    rec.resume(Millis(20_600)).unwrap();
    drain(&mut rec);
    assert_eq!(rec.poll_timeout(), Some(Millis(21_000)));
    rec.handle_timeout(Millis(20_999));
    assert!(drain(&mut rec).is_empty());
    rec.handle_timeout(Millis(21_000));
    let reached = CapReached {
        cap: Cap::Duration,
        used: 10_000,
        limit: 10_000,
    };
    assert_eq!(
        drain(&mut rec),
        [
            RecorderOutput::Event(RecorderEvent::CapReached(reached)),
            cmd(RecorderCommand::Stop),
            state(RecorderState::Stopped, 10_000),
        ]
    );
    assert_eq!(rec.manifest().ended_by, Some(EndCause::DurationCap));
    assert_eq!(rec.poll_timeout(), None);
}

#[test]
fn a_late_timer_or_input_still_stops_at_the_duration_cap() {
    let options = RecorderOptions {
        max_duration_ms: Some(10_000),
        ..RecorderOptions::default()
    };
    let mut rec = recording(options);
    // No timer fired; the next input catches up, stops, and the chunk is the final one.
    chunk(&mut rec, 10, 30_000).unwrap();
    let out = drain(&mut rec);
    assert!(matches!(
        out[0],
        RecorderOutput::Event(RecorderEvent::CapReached(CapReached {
            cap: Cap::Duration,
            ..
        }))
    ));
    assert!(
        !out.iter()
            .any(|o| matches!(o, RecorderOutput::Event(RecorderEvent::CapWarning(_))))
    );
    assert_eq!(rec.state(), RecorderState::Stopped);
    assert_eq!(rec.manifest().chunks.len(), 1);
}

#[test]
fn size_cap_warns_once_then_stops() {
    let options = RecorderOptions {
        max_bytes: Some(1_000),
        ..RecorderOptions::default()
    };
    let mut rec = recording(options);
    let progress = |bytes, duration_ms| {
        RecorderOutput::Event(RecorderEvent::Progress(Progress { bytes, duration_ms }))
    };
    chunk(&mut rec, 300, 2_000).unwrap();
    assert_eq!(drain(&mut rec), [progress(300, 1_000)]);
    chunk(&mut rec, 600, 3_000).unwrap();
    let warning = CapWarning {
        cap: Cap::Size,
        used: 900,
        limit: 1_000,
    };
    assert_eq!(
        drain(&mut rec),
        [
            progress(900, 2_000),
            RecorderOutput::Event(RecorderEvent::CapWarning(warning))
        ]
    );
    chunk(&mut rec, 50, 4_000).unwrap();
    assert_eq!(
        drain(&mut rec),
        [progress(950, 3_000)],
        "the warning comes once"
    );
    chunk(&mut rec, 50, 5_000).unwrap();
    let reached = CapReached {
        cap: Cap::Size,
        used: 1_000,
        limit: 1_000,
    };
    assert_eq!(
        drain(&mut rec),
        [
            progress(1_000, 4_000),
            RecorderOutput::Event(RecorderEvent::CapReached(reached)),
            cmd(RecorderCommand::Stop),
            state(RecorderState::Stopped, 4_000),
        ]
    );
    // The platform's final chunk is kept and reaches no cap again.
    chunk(&mut rec, 80, 5_010).unwrap();
    assert_eq!(drain(&mut rec), [progress(1_080, 4_000)]);
    assert_eq!(rec.manifest().ended_by, Some(EndCause::SizeCap));
}

#[test]
fn a_chunk_that_jumps_past_the_cap_stops_without_a_warning() {
    let options = RecorderOptions {
        max_bytes: Some(1_000),
        ..RecorderOptions::default()
    };
    let mut rec = recording(options);
    chunk(&mut rec, 5_000, 2_000).unwrap();
    let out = drain(&mut rec);
    assert!(
        !out.iter()
            .any(|o| matches!(o, RecorderOutput::Event(RecorderEvent::CapWarning(_))))
    );
    assert_eq!(rec.state(), RecorderState::Stopped);
}
