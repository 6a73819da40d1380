use assistrtc_core::Millis;
use assistrtc_core::permissions::{Capability, PermissionError};
use assistrtc_core::protocol::{
    self, ErrorCode, MAX_FRAME_BYTES, Permissions, ServerMessage, Source,
};
use assistrtc_core::session::{ErrorReported, Event, SessionError, SessionState};

use crate::harness::World;

fn errors(w: &World, i: usize) -> Vec<ErrorReported> {
    w.client(i)
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Error(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

fn guest_room() -> World {
    // No screen permission in this room.
    let mut w = World::new(30_000, Permissions::default());
    w.add("rm_1", "agent_1", "host", 1);
    w.add("rm_1", "user_9", "guest", 2);
    w.run_until(Millis(1_000), |w| {
        w.state(0) == SessionState::Joined && w.state(1) == SessionState::Joined
    });
    w
}

#[test]
fn guest_host_only_actions_are_refused_locally_and_by_the_server() {
    let mut w = guest_room();
    let err = w.clients[1]
        .session
        .publish(Source::Screen, None)
        .unwrap_err();
    assert_eq!(
        err,
        SessionError::Forbidden(PermissionError::Missing(Capability::ShareScreen))
    );
    // A client that skips the local check is refused by the server with `forbidden`.
    w.inject_to_server(1, r#"{"v":1,"type":"publish","source":"screen"}"#);
    w.inject_to_server(1, r#"{"v":1,"type":"queue_next"}"#);
    w.inject_to_server(
        1,
        r#"{"v":1,"type":"recording","action":"start","mode":"local"}"#,
    );
    w.settle();
    let errs = errors(&w, 1);
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(errs.iter().all(|e| e.code == ErrorCode::Forbidden));
    assert_eq!(errs[0].reference.as_deref(), Some("publish"));
    // Nothing reached the agent, and the guest's session goes on.
    assert!(
        !w.client(0)
            .has_event(|e| matches!(e, Event::TrackPublished(_)))
    );
    assert_eq!(w.state(1), SessionState::Joined);
}

#[test]
fn malformed_and_oversize_frames_get_bad_request_and_the_session_goes_on() {
    let mut w = guest_room();
    w.inject_to_server(1, "garbage");
    w.inject_to_server(
        1,
        &format!(
            r#"{{"v":1,"type":"ping","pad":"{}"}}"#,
            "x".repeat(MAX_FRAME_BYTES)
        ),
    );
    w.inject_to_server(1, r#"{"v":9,"type":"ping"}"#);
    w.settle();
    let codes: Vec<ErrorCode> = errors(&w, 1).iter().map(|e| e.code).collect();
    assert_eq!(
        codes,
        vec![
            ErrorCode::BadRequest,
            ErrorCode::BadRequest,
            ErrorCode::UnsupportedVersion
        ]
    );
    // Garbage *from* the server is reported too, and is not fatal.
    w.inject_to_client(1, "{\"v\":1,\"type\":\"welcome\"}");
    w.inject_to_client(1, &"x".repeat(MAX_FRAME_BYTES + 1));
    w.settle();
    assert_eq!(errors(&w, 1).len(), 5);
    // Still working: a publish goes through to the agent.
    w.add_track(1, Source::Camera);
    w.run_until(Millis(5_000), |w| w.state(0) == SessionState::Connected);
    assert!(
        w.client(0)
            .has_event(|e| matches!(e, Event::TrackPublished(p) if p.source == Source::Camera))
    );
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
    let errs = errors(&w, 1);
    assert_eq!(errs[0].code, ErrorCode::RateLimited);
    assert_eq!(errs[0].reference.as_deref(), Some("candidate"));
    assert_eq!(w.state(1), SessionState::Joined);
}
