//! Rules both sides apply, and input the real hub and the call refuse without stopping.

use assistrtc_core::permissions::{Capability, PermissionError};
use assistrtc_core::protocol::{
    self, ErrorCode, MAX_FRAME_BYTES, Permissions, Role, ServerMessage, Source,
};
use assistrtc_core::session::{Event, PeerEvent, SessionError, SessionState};
use assistrtc_sim::{Netem, World};

use crate::calls::{call, publish};

/// A room without screen sharing.
fn guest_room() -> World {
    let mut w = World::new(11, Netem::CLEAN, |_| {});
    let room = Permissions::default();
    w.room(
        "rm_1",
        &[("agent_1", Role::Host), ("user_9", Role::Guest)],
        room,
    );
    let t = w.token("rm_1", "agent_1", Role::Host);
    w.join("agent_1", t);
    let t = w.token("rm_1", "user_9", Role::Guest);
    w.join("user_9", t);
    w.run_until(5_000, |w| {
        w.client(0).call.state() == SessionState::Joined
            && w.client(1).call.state() == SessionState::Joined
    });
    w
}

#[test]
fn host_only_actions_are_refused_locally_and_by_the_hub() {
    let mut w = guest_room();
    let now = w.now;
    let err = w
        .client_mut(1)
        .call
        .publish(Source::Screen, None, now)
        .unwrap_err();
    assert_eq!(
        err,
        SessionError::Forbidden(PermissionError::Missing(Capability::ShareScreen)).into()
    );
    // A client that skips the local check is refused by the hub with `forbidden`.
    w.inject_to_hub(1, r#"{"v":1,"type":"publish","source":"screen"}"#);
    w.inject_to_hub(1, r#"{"v":1,"type":"queue_next"}"#);
    w.inject_to_hub(
        1,
        r#"{"v":1,"type":"recording","action":"start","mode":"local"}"#,
    );
    w.settle();
    let errs = w.client(1).errors();
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(
        errs.iter().all(|e| e.code == ErrorCode::Forbidden),
        "{errs:?}"
    );
    assert_eq!(errs[0].reference.as_deref(), Some("publish"));
    assert!(
        !w.client(0)
            .has_event(|e| matches!(e, Event::TrackPublished(_)))
    );
    assert_eq!(w.client(1).call.state(), SessionState::Joined);
}

#[test]
fn malformed_frames_get_typed_errors_and_the_call_goes_on() {
    let mut w = guest_room();
    w.inject_to_hub(1, "garbage");
    w.inject_to_hub(1, r#"{"v":9,"type":"ping"}"#);
    w.inject_to_hub(1, r#"{"v":1,"type":"leave","type":"ping"}"#);
    w.settle();
    let codes: Vec<ErrorCode> = w.client(1).errors().iter().map(|e| e.code).collect();
    assert_eq!(
        codes,
        vec![
            ErrorCode::BadRequest,
            ErrorCode::UnsupportedVersion,
            ErrorCode::BadRequest
        ]
    );
    // The duplicate `type` did not make the hub run `leave`.
    assert!(!w.client(0).has_event(|e| matches!(e, Event::MemberLeft(_))));
    // Garbage from the server is reported too, and is not fatal.
    w.inject_to_client(1, r#"{"v":1,"type":"welcome"}"#);
    w.inject_to_client(1, &"x".repeat(MAX_FRAME_BYTES + 1));
    w.settle();
    assert_eq!(w.client(1).errors().len(), 5);
    publish(&mut w, 1, Source::Camera);
    w.run_until(5_000, |w| {
        w.client(0).call.state() == SessionState::Connected
    });
}

#[test]
fn server_error_frames_are_surfaced_with_their_reference() {
    let mut w = guest_room();
    let frame = protocol::encode_server(&ServerMessage::Error {
        code: ErrorCode::RateLimited,
        message: "slow down".into(),
        reference: Some("candidate".into()),
    });
    w.inject_to_client(1, &frame);
    w.settle();
    let errs = w.client(1).errors();
    assert_eq!(errs[0].code, ErrorCode::RateLimited);
    assert_eq!(errs[0].reference.as_deref(), Some("candidate"));
    assert_eq!(w.client(1).call.state(), SessionState::Joined);
}

#[test]
fn link_results_after_leaving_are_refused_not_panics() {
    let mut w = call();
    let link = w.links_of(1)[0].clone();
    let now = w.now;
    w.client_mut(1).call.leave(now).unwrap();
    w.settle();
    assert!(w.client(0).has_event(|e| matches!(e, Event::MemberLeft(_))));
    let err = w
        .client_mut(1)
        .call
        .handle_input(
            assistrtc_core::session::Input::Peer {
                link,
                event: PeerEvent::NegotiationNeeded,
            },
            now,
        )
        .unwrap_err();
    assert_eq!(err, SessionError::Ended.into());
}
