//! Relay, authentication and frame handling over real WebSockets.

use assistrtc_core::protocol::{
    ClientMessage, ErrorCode, IceCandidate, LeaveReason, MemberId, Role, ServerMessage, Source,
};
use assistrtc_server::hub::DEFAULT_IDLE_TIMEOUT_MS;
use serde_json::json;

use crate::support::{API_KEY, Server, mint, within};

fn member(id: &str) -> MemberId {
    MemberId::new(id).unwrap()
}

fn candidate(line: &str) -> IceCandidate {
    IceCandidate {
        candidate: line.to_owned(),
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
    }
}

#[tokio::test]
async fn two_members_negotiate_and_another_room_sees_nothing() {
    let server = Server::start().await;
    let perms = json!({"screen": true, "recording": "local"});
    let rm1 = server
        .create_room(
            "rm_1",
            &[("agent_1", "host"), ("user_9", "guest")],
            perms.clone(),
        )
        .await;
    // Same member ids in another room.
    let rm2 = server
        .create_room("rm_2", &[("agent_1", "host"), ("user_9", "guest")], perms)
        .await;

    let (mut agent, welcome) = server.join(&rm1["agent_1"], None).await;
    assert!(welcome.members.is_empty());
    assert!(!welcome.resumed);
    let (mut other, _) = server.join(&rm2["agent_1"], None).await;

    let (mut guest, welcome) = server.join(&rm1["user_9"], None).await;
    assert_eq!(welcome.members, ["agent_1"]);
    match agent.recv().await {
        ServerMessage::MemberJoined { member: m } => {
            assert_eq!(m.id, member("user_9"));
            assert_eq!(m.role, Role::Guest);
        }
        other => panic!("{other:?}"),
    }

    agent
        .send(&ClientMessage::Offer {
            to: Some(member("user_9")),
            sdp: "v=0\r\no=agent".into(),
        })
        .await;
    assert_eq!(
        guest.recv().await,
        ServerMessage::Offer {
            from: member("agent_1"),
            sdp: "v=0\r\no=agent".into()
        }
    );
    guest
        .send(&ClientMessage::Answer {
            to: None,
            sdp: "v=0\r\no=guest".into(),
        })
        .await;
    assert_eq!(
        agent.recv().await,
        ServerMessage::Answer {
            from: member("user_9"),
            sdp: "v=0\r\no=guest".into()
        }
    );
    agent
        .send(&ClientMessage::Candidate {
            to: Some(member("user_9")),
            candidate: candidate("candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host"),
        })
        .await;
    guest
        .send(&ClientMessage::Candidate {
            to: Some(member("agent_1")),
            candidate: candidate("candidate:2 1 udp 2122260223 127.0.0.1 50001 typ host"),
        })
        .await;
    match guest.recv().await {
        ServerMessage::Candidate { from, candidate } => {
            assert_eq!(from, member("agent_1"));
            assert!(candidate.candidate.ends_with("50000 typ host"));
        }
        other => panic!("{other:?}"),
    }
    match agent.recv().await {
        ServerMessage::Candidate { from, .. } => assert_eq!(from, member("user_9")),
        other => panic!("{other:?}"),
    }

    // The member of rm_2 saw none of it.
    other.barrier().await;

    // Addressing someone who is not there is an error for the sender only.
    agent
        .send(&ClientMessage::Offer {
            to: Some(member("ghost")),
            sdp: "v=0".into(),
        })
        .await;
    assert_eq!(
        agent.expect_error(ErrorCode::NotFound).await.as_deref(),
        Some("offer")
    );

    guest.send(&ClientMessage::Leave).await;
    guest.expect_closed().await;
    match agent.recv().await {
        ServerMessage::MemberLeft { member: m, reason } => {
            assert_eq!(m.id, member("user_9"));
            assert_eq!(reason, LeaveReason::Left);
        }
        other => panic!("{other:?}"),
    }
    other.barrier().await;
    server.stop().await;
}

#[tokio::test]
async fn bad_tokens_are_refused_and_closed() {
    let server = Server::start().await;
    let tokens = server
        .create_room("rm_1", &[("agent_1", "host")], json!({}))
        .await;
    let valid = &tokens["agent_1"];
    let epoch =
        assistrtc_server::jwt::verify_signature(crate::support::JWT_SECRET.as_bytes(), valid)
            .unwrap()
            .epoch;

    // Forged: the signature does not match the claims.
    let mut parts: Vec<&str> = valid.split('.').collect();
    let other_claims = mint(
        "rm_1",
        &epoch,
        "agent_1",
        Role::Host,
        server.unix_secs() + 3600,
    );
    let other_payload = other_claims.split('.').nth(1).unwrap().to_owned();
    parts[1] = &other_payload;
    let forged = parts.join(".");
    // Signed with another secret.
    let foreign = assistrtc_server::jwt::issue(
        b"someone-else",
        &assistrtc_server::jwt::verify_signature(crate::support::JWT_SECRET.as_bytes(), valid)
            .unwrap(),
    );
    // Valid signature, but for a room this server does not have, a member not in it, or an
    // earlier room with the same id.
    let earlier = mint(
        "rm_1",
        "0000000000000000",
        "agent_1",
        Role::Host,
        server.unix_secs() + 3600,
    );
    let other_room = mint(
        "rm_2",
        &epoch,
        "agent_1",
        Role::Host,
        server.unix_secs() + 3600,
    );
    let stranger = mint(
        "rm_1",
        &epoch,
        "user_9",
        Role::Guest,
        server.unix_secs() + 3600,
    );
    let expired = mint(
        "rm_1",
        &epoch,
        "agent_1",
        Role::Host,
        server.unix_secs() - 1,
    );

    for (token, code) in [
        (forged.as_str(), ErrorCode::Unauthorized),
        (foreign.as_str(), ErrorCode::Unauthorized),
        ("not-a-token", ErrorCode::Unauthorized),
        (other_room.as_str(), ErrorCode::Unauthorized),
        (stranger.as_str(), ErrorCode::Unauthorized),
        (earlier.as_str(), ErrorCode::Unauthorized),
        (expired.as_str(), ErrorCode::TokenExpired),
    ] {
        let mut client = server.connect().await;
        client
            .send(&ClientMessage::Join {
                token: token.to_owned(),
                resume_token: None,
            })
            .await;
        assert_eq!(client.expect_error(code).await.as_deref(), Some("join"));
        client.expect_closed().await;
    }

    // Anything before join is refused too.
    let mut client = server.connect().await;
    client.send(&ClientMessage::Ping).await;
    client.expect_error(ErrorCode::Unauthorized).await;
    client.expect_closed().await;

    // The valid token still works.
    let (mut agent, _) = server.join(valid, None).await;
    agent.barrier().await;
    server.stop().await;
}

#[tokio::test]
async fn garbage_and_binary_frames_keep_the_session() {
    let server = Server::start().await;
    let tokens = server
        .create_room("rm_1", &[("agent_1", "host")], json!({}))
        .await;
    let (mut agent, _) = server.join(&tokens["agent_1"], None).await;

    agent.send_text("this is not json").await;
    agent.expect_error(ErrorCode::BadRequest).await;

    agent.send_text(r#"{"v":9,"type":"ping"}"#).await;
    agent.expect_error(ErrorCode::UnsupportedVersion).await;

    agent
        .send_text(r#"{"v":1,"type":"publish","source":"hologram"}"#)
        .await;
    assert_eq!(
        agent.expect_error(ErrorCode::BadRequest).await.as_deref(),
        Some("publish")
    );

    // Oversize frames end the connection: see `transport`.

    agent.send_binary(vec![1, 2, 3]).await;
    agent.expect_error(ErrorCode::BadRequest).await;

    agent.barrier().await;
    server.stop().await;
}

#[tokio::test]
async fn publish_follows_role_and_room_permissions() {
    let server = Server::start().await;
    let with_screen = server
        .create_room(
            "rm_screen",
            &[("agent_1", "host"), ("watcher", "observer")],
            json!({"screen": true}),
        )
        .await;
    let without_screen = server
        .create_room(
            "rm_plain",
            &[("agent_1", "host"), ("user_9", "guest")],
            json!({"screen": false}),
        )
        .await;

    let (mut agent, _) = server.join(&with_screen["agent_1"], None).await;
    let (mut watcher, _) = server.join(&with_screen["watcher"], None).await;
    agent.recv().await; // member_joined
    watcher
        .send(&ClientMessage::Publish {
            source: Source::Camera,
            stream: None,
        })
        .await;
    assert_eq!(
        watcher.expect_error(ErrorCode::Forbidden).await.as_deref(),
        Some("publish")
    );
    agent.barrier().await;

    let (mut guest, _) = server.join(&without_screen["user_9"], None).await;
    guest
        .send(&ClientMessage::Publish {
            source: Source::Screen,
            stream: None,
        })
        .await;
    match guest.recv().await {
        ServerMessage::Error { code, message, .. } => {
            assert_eq!(code, ErrorCode::Forbidden);
            assert_eq!(message, "screen sharing is not allowed for this member");
        }
        other => panic!("{other:?}"),
    }
    // A camera is fine, and announced.
    let (mut plain_agent, _) = server.join(&without_screen["agent_1"], None).await;
    guest.recv().await; // member_joined
    guest
        .send(&ClientMessage::Publish {
            source: Source::Camera,
            stream: Some("cam0".into()),
        })
        .await;
    assert_eq!(
        plain_agent.recv().await,
        ServerMessage::Published {
            member: member("user_9"),
            source: Source::Camera,
            stream: Some("cam0".into())
        }
    );
    server.stop().await;
}

#[tokio::test]
async fn excess_frames_are_rate_limited() {
    let server = Server::start_with(|c| {
        c.rate_limit = assistrtc_server::RateLimit {
            burst: 5,
            refill_per_sec: 1,
        }
    })
    .await;
    let tokens = server
        .create_room("rm_1", &[("agent_1", "host")], json!({}))
        .await;
    let (mut agent, _) = server.join(&tokens["agent_1"], None).await;
    for _ in 0..10 {
        agent.send(&ClientMessage::Ping).await;
    }
    let mut pongs = 0;
    loop {
        match agent.recv().await {
            ServerMessage::Pong => pongs += 1,
            ServerMessage::Error { code, .. } => {
                assert_eq!(code, ErrorCode::RateLimited);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    // The join used one token; the server's clock stands still, so none is refilled.
    assert_eq!(pongs, 4);
    // A second later there is one more.
    server.advance(1000);
    agent.send(&ClientMessage::Ping).await;
    assert_eq!(agent.recv().await, ServerMessage::Pong);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_closes_websockets() {
    let server = Server::start().await;
    let tokens = server
        .create_room("rm_1", &[("agent_1", "host")], json!({}))
        .await;
    let (mut agent, _) = server.join(&tokens["agent_1"], None).await;
    within("shutdown", server.stop()).await;
    // 1001 (going away), not 1005 (no status): clients tell a restart from an error.
    agent.expect_close_code(1001).await;
    agent.expect_closed().await;
}

#[tokio::test]
async fn the_server_pings_every_third_of_the_idle_limit() {
    // A page whose timers are throttled sends nothing itself, but its browser answers
    // WebSocket pings. That an answer counts as alive is tested in the hub and the driver's
    // unit tests: over a socket it would race the idle timer against the pong in flight.
    let server = Server::start().await;
    let tokens = server
        .create_room("rm_quiet", &[("user_9", "guest")], json!({}))
        .await;
    let (mut quiet, _) = server.join(&tokens["user_9"], None).await;
    // Two intervals stay inside the idle limit, so no deadline of the hub falls due.
    for _ in 0..2 {
        server.advance(DEFAULT_IDLE_TIMEOUT_MS / 3);
        quiet.await_pings(1).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_answers_nothing_is_dropped_and_its_seat_held() {
    let server = Server::start().await;
    let tokens = server
        .create_room(
            "rm_quiet",
            &[("agent_1", "host"), ("user_9", "guest")],
            json!({}),
        )
        .await;
    let (mut agent, _) = server.join(&tokens["agent_1"], None).await;
    // This client never reads, so it does not even answer the server's pings.
    let (mut silent, _) = server.join(&tokens["user_9"], None).await;
    agent.recv().await; // member_joined

    server.advance(DEFAULT_IDLE_TIMEOUT_MS - 1);
    agent.barrier().await;
    server.advance(1);
    server.wait_offline("rm_quiet", "user_9").await;
    let (status, body) = server.get("/v1/rooms/rm_quiet", Some(API_KEY)).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let agent_online = body["members"][0]["online"] == true;
    assert!(agent_online, "the agent spoke inside the limit: {body}");
    // The seat is held for a resume: the agent sees no member_left.
    agent.barrier().await;
    silent.expect_closed().await;
    server.stop().await;
}
