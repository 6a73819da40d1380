//! Session rules: capabilities from the room, not the token; room epochs; `unpublish` of
//! what was never published.

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
