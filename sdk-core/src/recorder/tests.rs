//! The recorder's state machine, edge by edge, on virtual time.

use super::*;
use crate::protocol::{MemberId, Role};

const VP9: &str = "video/webm;codecs=vp9,opus";
const VP8: &str = "video/webm;codecs=vp8,opus";
const MP4: &str = "video/mp4";
const MP4_CODECS: &str = "video/mp4;codecs=avc1,mp4a.40.2";
pub(super) const CHROME: [&str; 4] = [VP9, VP8, MP4_CODECS, MP4];

pub(super) fn member(id: &str) -> MemberId {
    MemberId::new(id).unwrap()
}

/// The outputs waiting, but for [`RecorderCommand::KeepManifest`] (see `keeps`).
pub(super) fn drain(rec: &mut Recorder) -> Vec<RecorderOutput> {
    std::iter::from_fn(|| rec.poll_output())
        .filter(|o| *o != cmd(RecorderCommand::KeepManifest))
        .collect()
}

/// How many [`RecorderCommand::KeepManifest`] wait (the other outputs are dropped).
fn keeps(rec: &mut Recorder) -> usize {
    std::iter::from_fn(|| rec.poll_output())
        .filter(|o| *o == cmd(RecorderCommand::KeepManifest))
        .count()
}

pub(super) fn present(rec: &mut Recorder, id: &str, role: Role, consented: bool, now: u64) {
    let input = RecorderInput::MemberPresent {
        member: member(id),
        role,
        consented,
    };
    rec.handle_input(input, Millis(now)).unwrap();
}

pub(super) fn consent(rec: &mut Recorder, id: &str, granted: bool, now: u64) {
    let input = RecorderInput::ConsentChanged {
        member: member(id),
        granted,
    };
    rec.handle_input(input, Millis(now)).unwrap();
}

pub(super) fn chunk(rec: &mut Recorder, bytes: u64, now: u64) -> Result<(), RecorderError> {
    rec.handle_input(RecorderInput::ChunkRecorded { bytes }, Millis(now))
}

/// An agent and a customer who both consent, recording since t = 1 000, outputs drained.
pub(super) fn recording(options: RecorderOptions) -> Recorder {
    let mut rec = Recorder::new();
    present(&mut rec, "agent_1", Role::Host, true, 0);
    present(&mut rec, "user_9", Role::Guest, true, 0);
    rec.start(options, &CHROME, Millis(1_000)).unwrap();
    drain(&mut rec);
    rec
}

pub(super) fn state(s: RecorderState, media_ms: u64) -> RecorderOutput {
    RecorderOutput::Event(RecorderEvent::StateChanged(StateChanged {
        state: s,
        media_ms,
    }))
}

pub(super) fn cmd(c: RecorderCommand) -> RecorderOutput {
    RecorderOutput::Command(c)
}

pub(super) fn invalid(action: &'static str, state: RecorderState) -> RecorderError {
    RecorderError::InvalidState { action, state }
}

#[test]
fn start_commands_the_platform_and_records() {
    let mut rec = Recorder::new();
    present(&mut rec, "agent_1", Role::Host, true, 0);
    assert!(drain(&mut rec).is_empty());
    rec.start(RecorderOptions::default(), &CHROME, Millis(500))
        .unwrap();
    assert_eq!(
        drain(&mut rec),
        [
            cmd(RecorderCommand::StartMediaRecorder {
                mime: VP9,
                timeslice_ms: 1_000
            }),
            state(RecorderState::Recording, 0),
        ]
    );
    assert_eq!(rec.state(), RecorderState::Recording);
    assert_eq!(rec.media_time(Millis(2_500)), 2_000);
}

#[test]
fn format_is_the_first_preferred_one_the_platform_supports() {
    let pick = |supported: &[&str]| choose_format(supported).map(|f| f.mime);
    assert_eq!(pick(&CHROME), Ok(VP9));
    assert_eq!(pick(&[MP4, VP8]), Ok(VP8)); // our order, not the caller's
    // Safari records no WebM.
    let safari = choose_format(&[MP4_CODECS, MP4]).unwrap();
    assert_eq!(
        (
            safari.mime,
            safari.container,
            safari.video_codec,
            safari.audio_codec
        ),
        (MP4_CODECS, "mp4", "h264", "aac")
    );
    let bare = choose_format(&[MP4]).unwrap();
    assert_eq!(
        (bare.container, bare.video_codec, bare.audio_codec),
        ("mp4", "h264", "aac")
    );
    // Unknown entries are ignored; none known is a typed error.
    assert_eq!(
        pick(&["video/x-matroska", "video/webm"]),
        Err(RecorderError::NoSupportedFormat)
    );
    assert_eq!(pick(&[]), Err(RecorderError::NoSupportedFormat));
    assert_eq!(
        RecorderError::NoSupportedFormat.code(),
        "unsupported_format"
    );
}

#[test]
fn start_without_a_supported_format_stays_idle() {
    let mut rec = Recorder::new();
    let none: [&str; 0] = [];
    let err = rec
        .start(RecorderOptions::default(), &none, Millis(0))
        .unwrap_err();
    assert_eq!(err, RecorderError::NoSupportedFormat);
    assert_eq!(rec.state(), RecorderState::Idle);
    assert!(drain(&mut rec).is_empty());
    rec.start(RecorderOptions::default(), &[MP4], Millis(10))
        .unwrap();
    assert_eq!(rec.format().unwrap().container, "mp4");
}

#[test]
fn every_refused_transition_says_state_and_action() {
    let mut rec = Recorder::new();
    let now = Millis(0);
    assert_eq!(rec.pause(now), Err(invalid("pause", RecorderState::Idle)));
    assert_eq!(rec.resume(now), Err(invalid("resume", RecorderState::Idle)));
    assert_eq!(rec.stop(now), Err(invalid("stop", RecorderState::Idle)));
    assert_eq!(
        rec.bookmark("x", now),
        Err(invalid("bookmark", RecorderState::Idle))
    );
    assert_eq!(
        chunk(&mut rec, 1, 0),
        Err(invalid("chunk", RecorderState::Idle))
    );
    let stopped = rec.handle_input(RecorderInput::MediaRecorderStopped, now);
    assert_eq!(stopped, Err(invalid("finish", RecorderState::Idle)));

    let mut rec = recording(RecorderOptions::default());
    let now = Millis(2_000);
    let again = rec.start(RecorderOptions::default(), &CHROME, now);
    assert_eq!(again, Err(invalid("start", RecorderState::Recording)));
    assert_eq!(
        rec.resume(now),
        Err(invalid("resume", RecorderState::Recording))
    );
    rec.pause(now).unwrap();
    assert_eq!(rec.pause(now), Err(invalid("pause", RecorderState::Paused)));
    rec.stop(now).unwrap();
    for (r, action) in [
        (rec.pause(now), "pause"),
        (rec.resume(now), "resume"),
        (rec.stop(now), "stop"),
        (rec.start(RecorderOptions::default(), &CHROME, now), "start"),
    ] {
        assert_eq!(r, Err(invalid(action, RecorderState::Stopped)));
    }
    let e = invalid("resume", RecorderState::Stopped);
    assert_eq!(
        (e.code(), e.message()),
        ("invalid_state", "cannot resume while stopped".into())
    );
    assert_eq!(e.to_string(), e.message());
}

#[test]
fn pause_and_resume_exclude_the_paused_span_from_media_time() {
    let mut rec = recording(RecorderOptions::default());
    rec.pause(Millis(3_000)).unwrap();
    assert_eq!(
        drain(&mut rec),
        [
            cmd(RecorderCommand::Pause),
            state(RecorderState::Paused, 2_000)
        ]
    );
    assert_eq!(rec.media_time(Millis(9_000)), 2_000);
    // A chunk in flight when pausing covers no media time; a bookmark sits at the pause.
    chunk(&mut rec, 100, 3_010).unwrap();
    assert_eq!(rec.bookmark("paused here", Millis(5_000)), Ok(2_000));
    rec.resume(Millis(10_000)).unwrap();
    assert_eq!(
        drain(&mut rec)[..2],
        [
            RecorderOutput::Event(RecorderEvent::Progress(Progress {
                bytes: 100,
                duration_ms: 2_000
            })),
            cmd(RecorderCommand::Resume),
        ]
    );
    chunk(&mut rec, 100, 11_000).unwrap();
    let m = rec.manifest();
    assert_eq!(m.duration_ms, 3_000);
    assert_eq!(
        m.chunks
            .iter()
            .map(|c| (c.start_ms, c.end_ms))
            .collect::<Vec<_>>(),
        [(0, 2_000), (2_000, 3_000)]
    );
    assert_eq!(
        m.pauses,
        [Pause {
            at_ms: 2_000,
            reason: PauseReason::User
        }]
    );
}

#[test]
fn stop_takes_the_final_chunk_then_completes() {
    let mut rec = recording(RecorderOptions::default());
    chunk(&mut rec, 500, 2_000).unwrap();
    rec.pause(Millis(2_500)).unwrap();
    rec.stop(Millis(4_000)).unwrap(); // from paused
    assert_eq!(
        drain(&mut rec)[3..],
        [
            cmd(RecorderCommand::Stop),
            state(RecorderState::Stopped, 1_500)
        ]
    );
    assert!(!rec.is_complete());
    chunk(&mut rec, 200, 4_050).unwrap();
    rec.handle_input(RecorderInput::MediaRecorderStopped, Millis(4_060))
        .unwrap();
    assert!(rec.is_complete());
    assert_eq!(
        chunk(&mut rec, 1, 4_100),
        Err(invalid("chunk", RecorderState::Stopped))
    );
    let m = rec.manifest();
    assert_eq!(
        (m.bytes, m.duration_ms, m.ended_by),
        (700, 1_500, Some(EndCause::User))
    );
    assert_eq!((m.chunks[1].start_ms, m.chunks[1].end_ms), (1_000, 1_500));
    assert_eq!(rec.poll_timeout(), None);
}

#[test]
fn a_platform_error_fails_the_recording_and_keeps_what_was_recorded() {
    let mut rec = recording(RecorderOptions::default());
    chunk(&mut rec, 10, 2_000).unwrap();
    drain(&mut rec);
    let error = RecorderInput::PlatformError {
        code: FailureCode::StorageFull,
        detail: "quota".into(),
    };
    rec.handle_input(error.clone(), Millis(3_000)).unwrap();
    let failed = Failed {
        code: FailureCode::StorageFull,
        detail: "quota".into(),
    };
    assert_eq!(
        drain(&mut rec),
        [
            RecorderOutput::Event(RecorderEvent::Failed(failed)),
            cmd(RecorderCommand::Stop),
            state(RecorderState::Failed, 2_000),
        ]
    );
    rec.handle_input(error, Millis(3_001)).unwrap(); // reported twice: once is enough
    assert!(drain(&mut rec).is_empty());
    chunk(&mut rec, 5, 3_010).unwrap(); // the platform's last chunk
    rec.handle_input(RecorderInput::MediaRecorderStopped, Millis(3_020))
        .unwrap();
    let m = rec.manifest();
    assert_eq!(
        (m.state, m.complete, m.ended_by, m.bytes),
        (RecorderState::Failed, true, Some(EndCause::Failed), 15)
    );
    assert_eq!(
        rec.resume(Millis(4_000)),
        Err(invalid("resume", RecorderState::Failed))
    );

    let mut idle = Recorder::new();
    let early = RecorderInput::PlatformError {
        code: FailureCode::Unknown,
        detail: String::new(),
    };
    assert_eq!(
        idle.handle_input(early, Millis(0)),
        Err(invalid("fail", RecorderState::Idle))
    );
    assert_eq!(
        FailureCode::ALL.map(FailureCode::as_str),
        [
            "not_supported",
            "security",
            "encoding",
            "storage_full",
            "unknown"
        ]
    );
}

#[test]
fn the_platform_stopping_on_its_own_ends_the_recording() {
    let mut rec = recording(RecorderOptions::default());
    rec.handle_input(RecorderInput::MediaRecorderStopped, Millis(5_000))
        .unwrap();
    // Already stopped: no `Stop` command.
    assert_eq!(drain(&mut rec), [state(RecorderState::Stopped, 4_000)]);
    assert!(rec.is_complete());
    assert_eq!(rec.manifest().ended_by, Some(EndCause::SourceEnded));
}

#[test]
fn undrained_outputs_refuse_further_input() {
    let mut rec = recording(RecorderOptions {
        max_bytes: None,
        ..RecorderOptions::default()
    });
    // Each chunk: its progress and a keep of the manifest.
    for i in 0..MAX_PENDING_OUTPUTS as u64 / 2 {
        chunk(&mut rec, 1, 2_000 + i).unwrap();
    }
    assert_eq!(
        chunk(&mut rec, 1, 3_000),
        Err(RecorderError::OutputNotDrained)
    );
    assert_eq!(
        rec.pause(Millis(3_000)),
        Err(RecorderError::OutputNotDrained)
    );
    assert_eq!(
        std::iter::from_fn(|| rec.poll_output()).count(),
        MAX_PENDING_OUTPUTS
    );
    rec.pause(Millis(3_000)).unwrap();
}

#[test]
fn options_out_of_range_are_refused_by_field() {
    let base = RecorderOptions::default();
    for (options, field) in [
        (
            RecorderOptions {
                timeslice_ms: 99,
                ..base
            },
            "timeslice_ms",
        ),
        (
            RecorderOptions {
                timeslice_ms: 60_001,
                ..base
            },
            "timeslice_ms",
        ),
        (
            RecorderOptions {
                max_bytes: Some(0),
                ..base
            },
            "max_bytes",
        ),
        (
            RecorderOptions {
                max_duration_ms: Some(0),
                ..base
            },
            "max_duration_ms",
        ),
        (
            RecorderOptions {
                warn_at_percent: 0,
                ..base
            },
            "warn_at_percent",
        ),
        (
            RecorderOptions {
                warn_at_percent: 100,
                ..base
            },
            "warn_at_percent",
        ),
    ] {
        let mut rec = Recorder::new();
        assert_eq!(
            rec.start(options, &CHROME, Millis(0)),
            Err(RecorderError::InvalidOptions { field })
        );
    }
    let e = RecorderError::InvalidOptions { field: "max_bytes" };
    assert_eq!(e.message(), "recorder option `max_bytes` is out of range");
    // No caps at all: no timer.
    let free = RecorderOptions {
        max_bytes: None,
        max_duration_ms: None,
        ..base
    };
    assert_eq!(recording(free).poll_timeout(), None);
}

#[test]
fn time_never_runs_backwards() {
    let mut rec = recording(RecorderOptions::default());
    chunk(&mut rec, 1, 5_000).unwrap();
    chunk(&mut rec, 1, 4_000).unwrap(); // a stale clock reading
    let m = rec.manifest();
    assert_eq!((m.chunks[1].start_ms, m.chunks[1].end_ms), (4_000, 4_000));
    assert_eq!(rec.media_time(Millis(0)), 4_000);
}

#[test]
fn composed_pictures_sit_side_by_side_in_equal_columns() {
    use super::tile;
    assert_eq!(tile(0, 1), Some((0.0, 0.0, 1.0, 1.0)));
    assert_eq!(tile(1, 2), Some((0.5, 0.0, 0.5, 1.0)));
    assert_eq!(tile(2, 2), None);
}

#[test]
fn media_time_counts_from_the_platform_s_real_start() {
    let mut rec = Recorder::new();
    let me = MemberId::new("agent_1").unwrap();
    let present = RecorderInput::MemberPresent {
        member: me,
        role: Role::Host,
        consented: true,
    };
    rec.handle_input(present, Millis(0)).unwrap();
    rec.start(
        RecorderOptions::default(),
        &["video/webm;codecs=vp8,opus"],
        Millis(0),
    )
    .unwrap();
    // Marked while the platform had not begun yet: before the file's first frame.
    assert_eq!(rec.bookmark("early", Millis(400)), Ok(400));
    rec.handle_input(RecorderInput::MediaRecorderStarted, Millis(1_200))
        .unwrap();
    assert_eq!(rec.media_time(Millis(1_200)), 0);
    assert_eq!(rec.bookmark("late", Millis(1_700)), Ok(500));
    rec.handle_input(RecorderInput::ChunkRecorded { bytes: 10 }, Millis(2_200))
        .unwrap();
    // A second report (or one after chunks) changes nothing.
    rec.handle_input(RecorderInput::MediaRecorderStarted, Millis(2_300))
        .unwrap();
    let m = rec.manifest();
    assert_eq!(m.chunks[0].end_ms, 1_000);
    assert_eq!(
        m.bookmarks.iter().map(|b| b.at_ms).collect::<Vec<_>>(),
        vec![0, 500]
    );
    assert_eq!(rec.media_time(Millis(2_300)), 1_100);
}

#[test]
fn the_manifest_is_kept_after_each_early_chunk_then_every_interval_or_mark() {
    let mut rec = recording(RecorderOptions {
        max_bytes: None,
        max_duration_ms: None,
        ..RecorderOptions::default()
    });
    let mut now = 2_000;
    for _ in 0..KEEP_EVERY_CHUNK_UP_TO {
        chunk(&mut rec, 10, now).unwrap();
        assert_eq!(keeps(&mut rec), 1, "every early chunk");
        now += 1_000;
    }
    // Past them: not after each chunk, but once the interval has passed since the last keep.
    let kept_at = now - 1_000;
    while now - kept_at < KEEP_INTERVAL_MS {
        chunk(&mut rec, 10, now).unwrap();
        assert_eq!(keeps(&mut rec), 0, "at {now}");
        now += 1_000;
    }
    chunk(&mut rec, 10, now).unwrap();
    assert_eq!(keeps(&mut rec), 1);
    // A bookmark is kept with the next chunk, whatever the interval.
    now += 1_000;
    rec.bookmark("here", Millis(now)).unwrap();
    chunk(&mut rec, 10, now + 500).unwrap();
    assert_eq!(keeps(&mut rec), 1);
    chunk(&mut rec, 10, now + 1_500).unwrap();
    assert_eq!(keeps(&mut rec), 0);
    // The end is always kept.
    rec.stop(Millis(now + 2_000)).unwrap();
    chunk(&mut rec, 10, now + 2_010).unwrap();
    keeps(&mut rec);
    rec.handle_input(RecorderInput::MediaRecorderStopped, Millis(now + 2_010))
        .unwrap();
    assert_eq!(keeps(&mut rec), 1, "the final manifest");
    assert!(rec.is_complete());
}
