//! Joining: welcome and announcement, refused first frames, a second join for the same seat.

use super::*;

#[test]
fn join_welcomes_and_announces() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let guest = h.join_with(h.token("rm_1", "user_9", Role::Guest), None);
    let msgs = h.take(guest);
    let [
        ServerMessage::Welcome {
            session_id,
            member,
            room,
            members,
            capabilities,
            ice_servers,
            resume_token,
            resumed,
            permissions,
        },
    ] = msgs.as_slice()
    else {
        panic!("expected one welcome, got {msgs:?}");
    };
    assert!(session_id.starts_with("s_"));
    assert_eq!(member.id, id("user_9"));
    assert_eq!(room, &rid("rm_1"));
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].id, id("agent_1"));
    assert_eq!(members[0].role, Role::Host);
    assert!(permissions.screen);
    assert!(capabilities.contains(assistrtc_core::permissions::Capability::ShareScreen));
    assert_eq!(ice_servers.len(), 1);
    assert_eq!(
        resume_token.len(),
        43,
        "32 bytes, base64url without padding"
    );
    assert!(!resumed);
    assert_eq!(
        h.take(agent),
        vec![ServerMessage::MemberJoined {
            member: MemberInfo {
                id: id("user_9"),
                role: Role::Guest,
                published: vec![],
                diagnostics: None,
                recording_consent: false,
            }
        }]
    );
    assert_eq!(
        h.hub.online_members(&rid("rm_1")),
        Some(vec![id("agent_1"), id("user_9")])
    );
}

#[test]
fn first_frame_must_be_a_valid_join() {
    let mut h = Harness::new();
    let expired = h.token_with("rm_1", "user_9", Role::Guest, h.now.0 / 1000);
    let forged = {
        let mut t = h.token("rm_1", "user_9", Role::Guest);
        t.push('x');
        t
    };
    let cases: Vec<(String, ErrorCode)> = vec![
        (r#"{"v":1,"type":"ping"}"#.into(), ErrorCode::Unauthorized),
        ("garbage".into(), ErrorCode::Unauthorized),
        (join_text(&forged), ErrorCode::Unauthorized),
        (join_text(&expired), ErrorCode::TokenExpired),
        // Validly signed but for a room the hub does not know.
        (
            join_text(&h.token("rm_404", "user_9", Role::Guest)),
            ErrorCode::Unauthorized,
        ),
        // Member not in the room, and a role that does not match the definition.
        (
            join_text(&h.token("rm_1", "stranger", Role::Guest)),
            ErrorCode::Unauthorized,
        ),
        (
            join_text(&h.token("rm_1", "user_9", Role::Host)),
            ErrorCode::Unauthorized,
        ),
    ];
    for (text, code) in cases {
        let conn = h.open();
        h.raw(conn, &text);
        assert_eq!(
            error_code(&h.take(conn)),
            Some((code, Some("join".into()))),
            "{text}"
        );
        assert!(h.closed.contains(&conn), "{text}");
    }
    assert_eq!(h.hub.connection_count(), 0);
}

fn join_text(token: &str) -> String {
    protocol::encode_client(&ClientMessage::Join {
        token: token.into(),
        resume_token: None,
    })
}

#[test]
fn fresh_join_replaces_a_live_connection() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, _) = h.join("rm_1", "user_9", Role::Guest);
    h.take(agent);
    let (second, _) = h.join("rm_1", "user_9", Role::Guest);
    let old = h.take(guest);
    assert!(
        matches!(
            old.as_slice(),
            [ServerMessage::Error {
                code: ErrorCode::Conflict,
                reference: None,
                ..
            }]
        ),
        "{old:?}"
    );
    assert!(h.closed.contains(&guest));
    assert!(!h.closed.contains(&second));
    let msgs = h.take(agent);
    assert!(matches!(
        msgs.as_slice(),
        [
            ServerMessage::MemberLeft {
                reason: LeaveReason::Removed,
                ..
            },
            ServerMessage::MemberJoined { .. }
        ]
    ));
    // The old connection's close is not a drop of the new seat.
    h.close(guest);
    h.advance(GRACE * 2);
    assert!(h.take(agent).is_empty());
    h.send(second, &ClientMessage::Ping);
    assert_eq!(h.take(second), vec![ServerMessage::Pong]);
}

#[test]
fn connections_waiting_for_their_join_are_capped() {
    let mut h = Harness::with_config(|c| c.max_unjoined = 2);
    let (a, b) = (h.open(), h.open());
    // A third unauthenticated connection is refused at once, with a code it can act on.
    let c = h.open();
    assert!(matches!(
        h.take(c).as_slice(),
        [ServerMessage::Error { code: ErrorCode::RateLimited, reference: Some(r), .. }] if r == "join"
    ));
    assert!(h.closed.contains(&c));
    assert!(!h.closed.contains(&a) && !h.closed.contains(&b));
    // One joins and one goes away: two places free up.
    let token = h.token("rm_1", "agent_1", Role::Host);
    h.send(
        a,
        &ClientMessage::Join {
            token,
            resume_token: None,
        },
    );
    h.close(b);
    let (d, e) = (h.open(), h.open());
    assert!(!h.closed.contains(&d) && !h.closed.contains(&e));
    // And the join timeout frees them too.
    h.advance(DEFAULT_JOIN_TIMEOUT_MS);
    let f = h.open();
    assert!(!h.closed.contains(&f));
}

/// The TURN entry a welcome carries, after the configured STUN entry.
fn turn_entry(msgs: &[ServerMessage]) -> IceServer {
    let Some(ServerMessage::Welcome { ice_servers, .. }) = msgs.first() else {
        panic!("expected welcome, got {msgs:?}");
    };
    assert_eq!(ice_servers.len(), 2, "{ice_servers:?}");
    assert_eq!(ice_servers[0].urls, vec!["stun:127.0.0.1:3478".to_owned()]);
    ice_servers[1].clone()
}

#[test]
fn each_welcome_carries_turn_credentials_of_its_own_issued_at_that_time() {
    let mut h = Harness::with_config(|c| {
        c.turn = Some(TurnConfig {
            ttl_secs: 600,
            ..TurnConfig::new(vec!["turn:127.0.0.1:3478".into()], "turn-secret")
        });
    });
    let agent = h.join_with(h.token("rm_1", "agent_1", Role::Host), None);
    let agent_turn = turn_entry(&h.take(agent));
    let guest = h.join_with(h.token("rm_1", "user_9", Role::Guest), None);
    let msgs = h.take(guest);
    let Some(ServerMessage::Welcome { resume_token, .. }) = msgs.first().cloned() else {
        panic!("expected welcome");
    };
    let guest_turn = turn_entry(&msgs);

    let expiry = T0.0 / 1000 + 600;
    assert_eq!(agent_turn.urls, vec!["turn:127.0.0.1:3478".to_owned()]);
    assert_eq!(
        agent_turn.username.as_deref(),
        Some(format!("{expiry}:agent_1").as_str())
    );
    assert_eq!(
        guest_turn.username.as_deref(),
        Some(format!("{expiry}:user_9").as_str())
    );
    let username = guest_turn.username.clone().unwrap();
    assert_eq!(
        guest_turn.credential,
        Some(crate::turn::credential(b"turn-secret", &username))
    );
    assert_ne!(agent_turn.credential, guest_turn.credential);

    // A resume later gets credentials issued then.
    h.advance(10_000);
    h.close(guest);
    let again = h.join_with(h.token("rm_1", "user_9", Role::Guest), Some(resume_token));
    let resumed = turn_entry(&h.take(again));
    assert_eq!(
        resumed.username.as_deref(),
        Some(format!("{}:user_9", expiry + 10).as_str())
    );
}
