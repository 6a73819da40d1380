//! Held seats: resume, what is buffered while away, leaving.

use super::*;

#[test]
fn resume_inside_grace_keeps_seat_and_flushes_in_order() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let guest = h.join_with(h.token("rm_1", "user_9", Role::Guest), None);
    let (session, token) = match h.take(guest).remove(0) {
        ServerMessage::Welcome {
            session_id,
            resume_token,
            ..
        } => (session_id, resume_token),
        other => panic!("{other:?}"),
    };
    h.take(agent);
    h.send(
        guest,
        &ClientMessage::Publish {
            source: Source::Camera,
            stream: Some("cam".into()),
        },
    );
    h.take(agent);
    h.close(guest);

    h.advance(1_000);
    h.send(agent, &offer(Some("user_9")));
    h.send(
        agent,
        &ClientMessage::Answer {
            to: None,
            sdp: "v=0\r\nanswer".into(),
        },
    );
    assert!(h.take(agent).is_empty(), "buffered, not refused");

    h.advance(GRACE - 1_001);
    let resumed = h.join_with(h.token("rm_1", "user_9", Role::Guest), Some(token.clone()));
    let msgs = h.take(resumed);
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    match &msgs[0] {
        ServerMessage::Welcome {
            session_id,
            resumed,
            resume_token,
            member,
            members,
            ..
        } => {
            assert!(resumed);
            assert_eq!(session_id, &session);
            assert_ne!(resume_token, &token, "a fresh resume token");
            assert_eq!(member.published.len(), 1, "the seat kept its state");
            assert_eq!(members.len(), 1);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(&msgs[1], ServerMessage::Offer { from, .. } if *from == id("agent_1")));
    assert!(matches!(&msgs[2], ServerMessage::Answer { sdp, .. } if sdp.ends_with("answer")));
    assert!(h.take(agent).is_empty(), "no member_left, no member_joined");

    // The hold timer is gone; the old resume token is spent.
    h.advance(GRACE * 2);
    assert!(h.take(agent).is_empty());
    h.send(resumed, &offer(None));
    assert_eq!(h.take(agent).len(), 1);
}

#[test]
fn resume_ignores_expiry_but_fresh_join_does_not() {
    let mut h = Harness::new();
    let exp = h.now.0 / 1000 + 2;
    let guest = h.join_with(h.token_with("rm_1", "user_9", Role::Guest, exp), None);
    let token = match h.take(guest).remove(0) {
        ServerMessage::Welcome { resume_token, .. } => resume_token,
        other => panic!("{other:?}"),
    };
    h.close(guest);
    h.advance(3_000);
    let jwt = h.token_with("rm_1", "user_9", Role::Guest, exp);
    // Expired token, matching resume token: the seat is taken back.
    let again = h.join_with(jwt.clone(), Some(token));
    assert!(matches!(
        h.take(again).first(),
        Some(ServerMessage::Welcome { resumed: true, .. })
    ));
    // Expired token, no resume token: refused.
    let fresh = h.join_with(jwt, None);
    assert_eq!(
        error_code(&h.take(fresh)),
        Some((ErrorCode::TokenExpired, Some("join".into())))
    );
}

#[test]
fn wrong_resume_token_is_a_fresh_join_that_replaces_the_seat() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, _) = h.join("rm_1", "user_9", Role::Guest);
    h.take(agent);
    h.close(guest);
    let again = h.join_with(
        h.token("rm_1", "user_9", Role::Guest),
        Some("not-the-token".into()),
    );
    assert!(matches!(
        h.take(again).first(),
        Some(ServerMessage::Welcome { resumed: false, .. })
    ));
    let msgs = h.take(agent);
    assert!(
        matches!(
            msgs.as_slice(),
            [
                ServerMessage::MemberLeft {
                    reason: LeaveReason::Removed,
                    ..
                },
                ServerMessage::MemberJoined { .. }
            ]
        ),
        "{msgs:?}"
    );
    // The old hold timer went with the old seat.
    h.advance(GRACE);
    assert!(h.take(agent).is_empty());
}

#[test]
fn resume_while_old_connection_still_open_takes_over_silently() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, token) = h.join("rm_1", "user_9", Role::Guest);
    h.take(agent);
    let again = h.join_with(h.token("rm_1", "user_9", Role::Guest), Some(token));
    assert!(matches!(
        h.take(again).first(),
        Some(ServerMessage::Welcome { resumed: true, .. })
    ));
    assert!(h.closed.contains(&guest));
    assert!(h.take(agent).is_empty());
}

#[test]
fn held_buffer_is_capped_dropping_the_oldest() {
    let mut h = Harness::with_config(|c| c.max_buffered_frames = 3);
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, token) = h.join("rm_1", "user_9", Role::Guest);
    h.close(guest);
    for i in 0..5 {
        h.send(
            agent,
            &ClientMessage::Offer {
                to: Some(id("user_9")),
                sdp: format!("v=0\r\n{i}"),
            },
        );
    }
    let again = h.join_with(h.token("rm_1", "user_9", Role::Guest), Some(token));
    let sdps: Vec<String> = h
        .take(again)
        .into_iter()
        .filter_map(|m| match m {
            ServerMessage::Offer { sdp, .. } => Some(sdp),
            _ => None,
        })
        .collect();
    assert_eq!(sdps, ["v=0\r\n2", "v=0\r\n3", "v=0\r\n4"]);
}

#[test]
fn held_buffer_is_capped_by_bytes_too() {
    let mut h = Harness::with_config(|c| {
        c.rate_limit = RateLimit {
            burst: 1000,
            refill_per_sec: 1000,
        }
    });
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, token) = h.join("rm_1", "user_9", Role::Guest);
    h.take(agent);
    h.close(guest);
    // 40 offers of 50 KB each: 2 MB, well under the frame cap but over the byte cap.
    let big = "a".repeat(50_000);
    for i in 0..40 {
        h.send(
            agent,
            &ClientMessage::Offer {
                to: Some(id("user_9")),
                sdp: format!("v=0 {i} {big}"),
            },
        );
    }
    let to_agent = h.take(agent);
    assert!(
        to_agent.is_empty(),
        "no errors for the sender: {to_agent:?}"
    );
    let again = h.join_with(h.token("rm_1", "user_9", Role::Guest), Some(token));
    let kept: Vec<usize> = h
        .take(again)
        .into_iter()
        .filter_map(|m| match m {
            ServerMessage::Offer { sdp, .. } => sdp.split(' ').nth(1)?.parse().ok(),
            _ => None,
        })
        .collect();
    let max = room::MAX_BUFFERED_BYTES / 50_000;
    assert!(
        kept.len() <= max && kept.len() >= max - 1,
        "kept {} frames",
        kept.len()
    );
    assert_eq!(*kept.last().unwrap(), 39, "the newest are kept, in order");
    assert!(kept.windows(2).all(|w| w[1] == w[0] + 1));
}

#[test]
fn undelivered_frame_waits_in_the_held_seat() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, token) = h.join("rm_1", "user_9", Role::Guest);
    h.take(agent);
    h.send(agent, &offer(Some("user_9")));
    // The driver could not hand the offer to the guest's connection.
    let lost = h.take(guest).remove(0);
    h.hub.handle_undelivered(guest, lost.clone(), h.now);
    h.drain();
    assert_eq!(
        h.hub.online_members(&rid("rm_1")),
        Some(vec![id("agent_1")])
    );
    let again = h.join_with(h.token("rm_1", "user_9", Role::Guest), Some(token));
    let msgs = h.take(again);
    assert!(matches!(
        msgs.first(),
        Some(ServerMessage::Welcome { resumed: true, .. })
    ));
    assert_eq!(msgs.get(1), Some(&lost));
    assert!(h.take(agent).is_empty());
}

#[test]
fn leave_releases_at_once() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, _) = h.join("rm_1", "user_9", Role::Guest);
    h.take(agent);
    h.send(guest, &ClientMessage::Leave);
    assert!(h.closed.contains(&guest));
    assert_eq!(
        h.take(agent),
        vec![ServerMessage::MemberLeft {
            member: MemberRef { id: id("user_9") },
            reason: LeaveReason::Left
        }]
    );
    h.close(guest);
    assert_eq!(
        h.hub.poll_timeout(),
        Some(T0.after(DEFAULT_IDLE_TIMEOUT_MS)),
        "no hold after leave: only the agent's silence check is pending"
    );
}
