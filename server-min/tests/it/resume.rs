//! Seats survive a dropped connection for the grace period.

use assistrtc_core::protocol::{ClientMessage, LeaveReason, MemberId, ServerMessage};
use serde_json::json;

use crate::support::Server;

/// Short against the idle limit, so that only the held seat's timer falls due.
const GRACE: u64 = 5_000;

fn member(id: &str) -> MemberId {
    MemberId::new(id).unwrap()
}

#[tokio::test]
async fn resume_inside_grace_keeps_the_seat_and_delivers_what_was_missed() {
    let server = Server::start_with(|c| c.resume_grace_ms = GRACE).await;
    let tokens = server
        .create_room(
            "rm_1",
            &[("agent_1", "host"), ("user_9", "guest")],
            json!({"screen": true}),
        )
        .await;
    let (mut agent, _) = server.join(&tokens["agent_1"], None).await;
    let (guest, welcome) = server.join(&tokens["user_9"], None).await;
    agent.recv().await; // member_joined

    guest.drop_connection();
    // The drop is processed (on the clock's current time) before the clock moves.
    server.wait_offline("rm_1", "user_9").await;
    server.advance(GRACE - 1);

    // Sent while the guest is away: held for it, not refused.
    agent
        .send(&ClientMessage::Offer {
            to: Some(member("user_9")),
            sdp: "v=0\r\nwhile-away".into(),
        })
        .await;
    agent.barrier().await;

    let (mut guest, resumed) = server
        .join(&tokens["user_9"], Some(&welcome.resume_token))
        .await;
    assert!(resumed.resumed);
    assert_eq!(resumed.session_id, welcome.session_id);
    assert_ne!(resumed.resume_token, welcome.resume_token);
    assert_eq!(resumed.members, ["agent_1"]);
    assert_eq!(
        guest.recv().await,
        ServerMessage::Offer {
            from: member("agent_1"),
            sdp: "v=0\r\nwhile-away".into()
        }
    );

    // The agent saw neither member_left nor member_joined.
    agent.barrier().await;
    guest.barrier().await;
    server.stop().await;
}

#[tokio::test]
async fn after_grace_the_others_see_a_timeout() {
    let server = Server::start_with(|c| c.resume_grace_ms = GRACE).await;
    let tokens = server
        .create_room(
            "rm_1",
            &[("agent_1", "host"), ("user_9", "guest")],
            json!({}),
        )
        .await;
    let (mut agent, _) = server.join(&tokens["agent_1"], None).await;
    let (guest, welcome) = server.join(&tokens["user_9"], None).await;
    agent.recv().await; // member_joined

    guest.drop_connection();
    server.wait_offline("rm_1", "user_9").await;
    server.advance(GRACE - 1);
    // Every frame first fires what is due at the server's time: nothing is yet.
    agent.barrier().await;
    server.advance(1);
    match agent.recv().await {
        ServerMessage::MemberLeft { member: m, reason } => {
            assert_eq!(m.id, member("user_9"));
            assert_eq!(reason, LeaveReason::Timeout);
        }
        other => panic!("{other:?}"),
    }

    // The old resume token is worthless now: the join is fresh and announced.
    let (_guest, again) = server
        .join(&tokens["user_9"], Some(&welcome.resume_token))
        .await;
    assert!(!again.resumed);
    assert_ne!(again.session_id, welcome.session_id);
    assert!(matches!(
        agent.recv().await,
        ServerMessage::MemberJoined { .. }
    ));
    server.stop().await;
}

#[tokio::test]
async fn a_second_fresh_join_replaces_the_first_connection() {
    let server = Server::start().await;
    let tokens = server
        .create_room(
            "rm_1",
            &[("agent_1", "host"), ("user_9", "guest")],
            json!({}),
        )
        .await;
    let (mut agent, _) = server.join(&tokens["agent_1"], None).await;
    let (mut first, _) = server.join(&tokens["user_9"], None).await;
    agent.recv().await; // member_joined
    let (mut second, _) = server.join(&tokens["user_9"], None).await;

    match first.recv().await {
        ServerMessage::Error {
            code, reference, ..
        } => {
            assert_eq!(code, assistrtc_core::protocol::ErrorCode::Conflict);
            assert_eq!(reference, None);
        }
        other => panic!("{other:?}"),
    }
    first.expect_closed().await;
    assert!(matches!(
        agent.recv().await,
        ServerMessage::MemberLeft {
            reason: LeaveReason::Removed,
            ..
        }
    ));
    assert!(matches!(
        agent.recv().await,
        ServerMessage::MemberJoined { .. }
    ));
    second.barrier().await;
    server.stop().await;
}
