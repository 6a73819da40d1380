//! Timers on the virtual clock: join deadline, grace period, silence, room expiry.

use super::*;

#[test]
fn connections_that_never_join_are_closed() {
    let mut h = Harness::new();
    let conn = h.open();
    assert_eq!(
        h.hub.poll_timeout(),
        Some(T0.after(DEFAULT_JOIN_TIMEOUT_MS))
    );
    h.advance(DEFAULT_JOIN_TIMEOUT_MS - 1);
    assert!(!h.closed.contains(&conn));
    h.advance(1);
    assert_eq!(
        error_code(&h.take(conn)),
        Some((ErrorCode::Unauthorized, Some("join".into())))
    );
    assert!(h.closed.contains(&conn));
    assert_eq!(h.hub.poll_timeout(), None);
}

#[test]
fn dropped_seat_times_out_after_grace() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, _) = h.join("rm_1", "user_9", Role::Guest);
    h.take(agent);
    h.close(guest);
    assert_eq!(h.hub.poll_timeout(), Some(h.now.after(GRACE)));
    assert_eq!(
        h.hub.online_members(&rid("rm_1")),
        Some(vec![id("agent_1")])
    );

    h.advance(GRACE - 1);
    assert!(h.take(agent).is_empty(), "others see nothing inside grace");
    h.advance(1);
    assert_eq!(
        h.take(agent),
        vec![ServerMessage::MemberLeft {
            member: MemberRef { id: id("user_9") },
            reason: LeaveReason::Timeout
        }]
    );
    // Only the agent's silence check is left.
    assert_eq!(
        h.hub.poll_timeout(),
        Some(T0.after(DEFAULT_IDLE_TIMEOUT_MS))
    );

    // The seat is free: a later join is fresh and announced.
    let (_, _) = h.join("rm_1", "user_9", Role::Guest);
    assert!(matches!(
        h.take(agent).as_slice(),
        [ServerMessage::MemberJoined { .. }]
    ));
}

#[test]
fn silent_connections_are_dropped_and_their_seat_held() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, resume) = h.join("rm_1", "user_9", Role::Guest);
    h.take(agent);
    // The agent keeps pinging; the guest goes silent (no FIN: nothing tells the server).
    for _ in 0..2 {
        h.advance(10_000);
        h.send(agent, &ClientMessage::Ping);
    }
    assert!(
        !h.closed.contains(&guest),
        "20 s of silence is still inside the idle limit"
    );
    h.advance(10_000);
    h.send(agent, &ClientMessage::Ping);
    assert!(
        h.closed.contains(&guest),
        "dropped after {DEFAULT_IDLE_TIMEOUT_MS} ms of silence"
    );
    assert!(!h.closed.contains(&agent), "a pinging connection stays");
    assert_eq!(
        h.take(agent),
        vec![ServerMessage::Pong; 3],
        "nothing announced while the seat is held"
    );
    assert_eq!(
        h.hub.online_members(&rid("rm_1")),
        Some(vec![id("agent_1")])
    );

    // Inside the grace period the member resumes; after it, the others see it leave.
    let back = h.join_with(h.token("rm_1", "user_9", Role::Guest), Some(resume));
    assert!(matches!(
        h.take(back).as_slice(),
        [ServerMessage::Welcome { resumed: true, .. }]
    ));
    assert!(h.take(agent).is_empty());
    for _ in 0..3 {
        h.advance(10_000);
        h.send(agent, &ClientMessage::Ping);
    }
    assert!(h.closed.contains(&back), "silent again: dropped again");
    h.advance(GRACE);
    assert!(h.take(agent).contains(&ServerMessage::MemberLeft {
        member: MemberRef { id: id("user_9") },
        reason: LeaveReason::Timeout
    }));
}

#[test]
fn protocol_level_pongs_keep_a_silent_connection_online() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, _) = h.join("rm_1", "user_9", Role::Guest);
    h.take(agent);
    // The guest's page sends nothing (its timers are throttled), but its browser answers the
    // server's WebSocket pings.
    for _ in 0..6 {
        h.advance(10_000);
        h.hub.handle_alive(guest, h.now);
        h.send(agent, &ClientMessage::Ping);
    }
    assert!(!h.closed.contains(&guest), "60 s of answered pings");
    assert_eq!(
        h.hub.online_members(&rid("rm_1")),
        Some(vec![id("agent_1"), id("user_9")])
    );
}

#[test]
fn rooms_go_when_their_tokens_expired_and_nobody_is_left() {
    let mut h = Harness::new();
    let exp = T0.0 / 1000 + 60;
    let members = [("agent_1", Role::Host), ("user_9", Role::Guest)];
    h.room_until("rm_busy", &members, Permissions::default(), exp);
    h.room_until("rm_unused", &members, Permissions::default(), exp);
    let (agent, _) = h.join("rm_busy", "agent_1", Role::Host);
    let (guest, _) = h.join("rm_busy", "user_9", Role::Guest);

    h.advance(59_000);
    assert!(h.removed.is_empty(), "tokens still valid");
    h.advance(1_000);
    // Nobody ever joined this one.
    assert_eq!(h.removed, vec![rid("rm_unused")]);
    assert_eq!(h.hub.online_members(&rid("rm_unused")), None);

    // The busy room stays while anyone is in it, a held seat included.
    h.send(agent, &ClientMessage::Leave);
    h.close(guest);
    assert_eq!(
        h.removed,
        vec![rid("rm_unused")],
        "the guest's seat is held"
    );
    h.advance(GRACE);
    assert_eq!(h.removed, vec![rid("rm_unused"), rid("rm_busy")]);
    assert_eq!(h.hub.online_members(&rid("rm_busy")), None);

    // The id is free again.
    h.room("rm_busy", &members, Permissions::default());
    // Rooms without an expiry never go.
    h.advance(10 * 3_600_000);
    assert_eq!(h.hub.online_members(&rid("rm_1")), Some(vec![]));
}
