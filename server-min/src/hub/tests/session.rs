//! Session rules: capabilities from the room, not the token; room epochs; the session
//! lifetime; `unpublish` of what was never published.

use super::*;

/// A correctly signed token whose claims also carry `caps`, as tokens once did: here the
/// guest "may" share its screen.
fn token_with_caps(
    h: &Harness,
    room: &str,
    member: &str,
    role: Role,
    caps: Capabilities,
) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use hmac::Mac as _;

    let epoch = h.hub.rooms.get(&rid(room)).map(|r| r.def.epoch.clone());
    let claims = serde_json::json!({
        "room": room, "sub": member, "role": role, "epoch": epoch, "caps": caps,
        "iat": h.now.0 / 1000, "exp": h.now.0 / 1000 + 600,
    });
    let part = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let input = format!(
        "{}.{}",
        part(&serde_json::json!({"alg": "HS256"})),
        part(&claims)
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET).unwrap();
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

#[test]
fn capabilities_come_from_the_room_not_the_token() {
    let mut h = Harness::new();
    h.room(
        "rm_noscreen",
        &[("agent_1", Role::Host), ("user_9", Role::Guest)],
        Permissions {
            screen: false,
            recording: RecordingPolicy::Local,
        },
    );
    let (agent, _) = h.join("rm_noscreen", "agent_1", Role::Host);
    let generous = Capabilities::for_role(
        Role::Guest,
        Permissions {
            screen: true,
            recording: RecordingPolicy::Local,
        },
    );
    let token = token_with_caps(&h, "rm_noscreen", "user_9", Role::Guest, generous);
    let guest = h.join_with(token, None);
    let msgs = h.take(guest);
    match msgs.first() {
        Some(ServerMessage::Welcome { capabilities, .. }) => assert!(
            !capabilities.contains(assistrtc_core::permissions::Capability::ShareScreen),
            "welcome announces the room's capabilities, not the token's"
        ),
        other => panic!("expected welcome, got {other:?}"),
    }
    h.take(agent);
    h.send(
        guest,
        &ClientMessage::Publish {
            source: Source::Screen,
            stream: None,
        },
    );
    assert_eq!(
        error_code(&h.take(guest)),
        Some((ErrorCode::Forbidden, Some("publish".into())))
    );
    assert_eq!(h.take(agent), [], "the screen is not announced");
}

#[test]
fn a_token_from_before_a_restart_is_refused_by_the_re_created_room() {
    // The first server instance issues a token for rm_1 ...
    let before = Harness::new();
    let old = before.token("rm_1", "user_9", Role::Guest);
    // ... and after a restart the room is created again under the same id.
    let mut h = Harness::new();
    let guest = h.join_with(old, None);
    let msgs = h.take(guest);
    assert_eq!(
        error_code(&msgs),
        Some((ErrorCode::Unauthorized, Some("join".into()))),
        "{msgs:?}"
    );
    let Some(ServerMessage::Error { message, .. }) = msgs.first() else {
        panic!("{msgs:?}");
    };
    assert!(message.contains("re-created"), "{message}");
    assert!(h.closed.contains(&guest));
}

#[test]
fn a_resume_into_a_re_created_room_is_refused() {
    let mut before = Harness::new();
    let (_, resume_token) = before.join("rm_1", "user_9", Role::Guest);
    let old = before.token("rm_1", "user_9", Role::Guest);
    let mut h = Harness::new();
    let guest = h.join_with(old, Some(resume_token));
    let msgs = h.take(guest);
    assert_eq!(
        error_code(&msgs),
        Some((ErrorCode::Unauthorized, Some("join".into()))),
        "{msgs:?}"
    );
}

/// Keeps `conn` alive for `ms` with a ping every 20 s (under the idle limit).
fn keep_alive(h: &mut Harness, conn: ConnId, ms: u64) {
    let mut left = ms;
    while left > 0 {
        let step = left.min(20_000);
        h.advance(step);
        h.send(conn, &ClientMessage::Ping);
        h.take(conn);
        left -= step;
    }
}

#[test]
fn a_resume_after_the_session_lifetime_is_refused() {
    let mut h = Harness::new();
    let (guest, resume_token) = h.join("rm_1", "user_9", Role::Guest);
    // Twelve hours of call, then the connection drops and the client resumes at once.
    keep_alive(&mut h, guest, 12 * 3_600_000);
    h.close(guest);
    let token = h.token("rm_1", "user_9", Role::Guest);
    let again = h.join_with(token, Some(resume_token));
    let msgs = h.take(again);
    assert_eq!(
        error_code(&msgs),
        Some((ErrorCode::TokenExpired, Some("join".into()))),
        "{msgs:?}"
    );
}

#[test]
fn a_resume_inside_the_session_lifetime_still_works() {
    let mut h = Harness::new();
    let (guest, resume_token) = h.join("rm_1", "user_9", Role::Guest);
    keep_alive(&mut h, guest, 3_600_000);
    h.close(guest);
    let token = h.token("rm_1", "user_9", Role::Guest);
    let again = h.join_with(token, Some(resume_token));
    assert!(matches!(
        h.take(again).first(),
        Some(ServerMessage::Welcome { resumed: true, .. })
    ));
}

#[test]
fn the_session_lifetime_is_configurable_and_a_fresh_token_starts_a_new_session() {
    let mut h = Harness::with_config(|c| c.session_lifetime_ms = 60_000);
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, resume_token) = h.join("rm_1", "user_9", Role::Guest);
    h.take(agent);
    keep_alive(&mut h, guest, 40_000);
    h.close(guest);
    // Inside the lifetime: resumed (and a new resume token, which does not extend it).
    let again = h.join_with(h.token("rm_1", "user_9", Role::Guest), Some(resume_token));
    let Some(ServerMessage::Welcome {
        resumed: true,
        resume_token,
        session_id,
        ..
    }) = h.take(again).first().cloned()
    else {
        panic!("expected a resume");
    };
    keep_alive(&mut h, again, 20_000);
    h.close(again);
    let late = h.join_with(h.token("rm_1", "user_9", Role::Guest), Some(resume_token));
    let msgs = h.take(late);
    assert_eq!(
        error_code(&msgs),
        Some((ErrorCode::TokenExpired, Some("join".into()))),
        "{msgs:?}"
    );
    assert!(h.closed.contains(&late));
    // A fresh token joins afresh: a new session.
    let fresh = h.join_with(h.token("rm_1", "user_9", Role::Guest), None);
    match h.take(fresh).first() {
        Some(ServerMessage::Welcome {
            resumed: false,
            session_id: new_session,
            ..
        }) => assert_ne!(new_session, &session_id),
        other => panic!("expected a fresh welcome, got {other:?}"),
    }
    h.take(agent);
}

#[test]
fn unpublish_of_a_source_never_published_is_not_relayed() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, _) = h.join("rm_1", "user_9", Role::Guest);
    h.take(agent);
    h.send(
        guest,
        &ClientMessage::Unpublish {
            source: Source::Camera,
        },
    );
    assert_eq!(
        h.take(agent),
        [],
        "nothing was published, nothing to withdraw"
    );
    assert_eq!(h.take(guest), []);
    // A published source is still withdrawn for everyone.
    h.send(
        guest,
        &ClientMessage::Publish {
            source: Source::Camera,
            stream: None,
        },
    );
    h.send(
        guest,
        &ClientMessage::Unpublish {
            source: Source::Camera,
        },
    );
    let msgs = h.take(agent);
    assert!(
        matches!(msgs.last(), Some(ServerMessage::Unpublished { .. })),
        "{msgs:?}"
    );
}
