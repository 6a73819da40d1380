//! The consent gate: start, withdrawal, newcomers, explicit resume.

use super::tests::{CHROME, cmd, consent, drain, member, present, recording, state};
use super::*;
use crate::protocol::Role;

#[test]
fn start_needs_the_consent_of_everyone_present_but_observers() {
    let mut rec = Recorder::new();
    present(&mut rec, "agent_1", Role::Host, true, 0);
    present(&mut rec, "user_9", Role::Guest, false, 0);
    present(&mut rec, "super_1", Role::Observer, false, 0);
    present(&mut rec, "user_10", Role::Guest, false, 0);
    let err = rec
        .start(RecorderOptions::default(), &CHROME, Millis(0))
        .unwrap_err();
    assert_eq!(
        err,
        RecorderError::ConsentMissing {
            members: vec![member("user_9"), member("user_10")]
        }
    );
    assert_eq!(err.code(), "consent_missing");
    assert_eq!(err.wire_code(), crate::protocol::ErrorCode::Forbidden);
    assert_eq!(
        err.message(),
        "recording consent is missing from user_9, user_10"
    );
    assert_eq!(rec.state(), RecorderState::Idle);
    consent(&mut rec, "user_9", true, 0);
    rec.handle_input(
        RecorderInput::MemberLeft {
            member: member("user_10"),
        },
        Millis(0),
    )
    .unwrap();
    rec.start(RecorderOptions::default(), &CHROME, Millis(0))
        .unwrap();
}

#[test]
fn a_withdrawal_pauses_says_who_and_resumes_only_when_asked() {
    let mut rec = recording(RecorderOptions::default());
    consent(&mut rec, "user_9", false, 4_000);
    let paused = ConsentPaused {
        member: member("user_9"),
        media_ms: 3_000,
    };
    assert_eq!(
        drain(&mut rec),
        [
            cmd(RecorderCommand::Pause),
            state(RecorderState::Paused, 3_000),
            RecorderOutput::Event(RecorderEvent::ConsentPaused(paused)),
        ]
    );
    let missing = RecorderError::ConsentMissing {
        members: vec![member("user_9")],
    };
    assert_eq!(rec.resume(Millis(5_000)), Err(missing));
    assert_eq!(rec.missing_consent(), [member("user_9")]);
    // Consent again: still paused until someone resumes.
    consent(&mut rec, "user_9", true, 6_000);
    assert!(drain(&mut rec).is_empty());
    assert_eq!(rec.state(), RecorderState::Paused);
    rec.resume(Millis(7_000)).unwrap();
    assert_eq!(rec.media_time(Millis(8_000)), 4_000);
    assert_eq!(rec.manifest().pauses[0].reason, PauseReason::Consent);
}

#[test]
fn a_newcomer_without_consent_pauses_and_leaving_unblocks() {
    let mut rec = recording(RecorderOptions::default());
    // An observer needs no consent.
    present(&mut rec, "super_1", Role::Observer, false, 1_500);
    assert!(drain(&mut rec).is_empty());
    present(&mut rec, "user_10", Role::Guest, false, 2_000);
    let out = drain(&mut rec);
    let paused = ConsentPaused {
        member: member("user_10"),
        media_ms: 1_000,
    };
    assert_eq!(
        out.last(),
        Some(&RecorderOutput::Event(RecorderEvent::ConsentPaused(paused)))
    );
    // A second one while paused: nothing more to pause.
    present(&mut rec, "user_11", Role::Guest, false, 2_100);
    assert!(drain(&mut rec).is_empty());
    for id in ["user_10", "user_11"] {
        rec.handle_input(
            RecorderInput::MemberLeft { member: member(id) },
            Millis(2_500),
        )
        .unwrap();
    }
    rec.resume(Millis(3_000)).unwrap();
    assert_eq!(rec.state(), RecorderState::Recording);
}

#[test]
fn a_withdrawal_while_paused_by_the_user_blocks_resume_quietly() {
    let mut rec = recording(RecorderOptions::default());
    rec.pause(Millis(2_000)).unwrap();
    drain(&mut rec);
    consent(&mut rec, "agent_1", false, 2_500);
    assert!(drain(&mut rec).is_empty());
    assert!(matches!(
        rec.resume(Millis(3_000)),
        Err(RecorderError::ConsentMissing { .. })
    ));
    // Consent for a member never reported present changes nothing.
    consent(&mut rec, "ghost", false, 3_000);
    assert_eq!(rec.missing_consent(), [member("agent_1")]);
    // Re-reporting a consenting member as present does not pause.
    consent(&mut rec, "agent_1", true, 3_100);
    rec.resume(Millis(3_200)).unwrap();
    present(&mut rec, "agent_1", Role::Host, true, 3_300);
    assert_eq!(rec.state(), RecorderState::Recording);
}
