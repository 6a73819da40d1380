//! Session rules over the real transport: room epochs across a restart, token refresh, room
//! ids.

use assistrtc_core::protocol::{ClientMessage, ErrorCode, Source};
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{API_KEY, Server};

#[tokio::test]
async fn a_room_re_created_after_a_restart_refuses_the_old_tokens() {
    let first = Server::start().await;
    let old = first
        .create_room(
            "rm_1",
            &[("agent_1", "host"), ("user_9", "guest")],
            json!({"screen": true}),
        )
        .await;
    first.stop().await;

    // Rooms are in memory: after the restart the same id is free and created without screen.
    let second = Server::start().await;
    let new = second
        .create_room(
            "rm_1",
            &[("agent_1", "host"), ("user_9", "guest")],
            json!({"screen": false}),
        )
        .await;
    let mut stale = second.connect().await;
    stale
        .send(&ClientMessage::Join {
            token: old["user_9"].clone(),
            resume_token: None,
        })
        .await;
    let reference = stale.expect_error(ErrorCode::Unauthorized).await;
    assert_eq!(reference.as_deref(), Some("join"));
    stale.expect_closed().await;

    // The new token works, and the room's rules apply: no screen for the guest.
    let (mut guest, _) = second.join(&new["user_9"], None).await;
    guest
        .send(&ClientMessage::Publish {
            source: Source::Screen,
            stream: None,
        })
        .await;
    guest.expect_error(ErrorCode::Forbidden).await;
    second.stop().await;
}

#[tokio::test]
async fn a_fresh_token_is_issued_for_a_member_of_an_existing_room() {
    let server = Server::start().await;
    server
        .create_room(
            "rm_1",
            &[("agent_1", "host"), ("user_9", "guest")],
            json!({}),
        )
        .await;
    let body = json!({"memberId": "user_9"}).to_string();
    let (status, _) = server.post("/v1/rooms/rm_1/tokens", None, &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, issued) = server
        .post("/v1/rooms/rm_1/tokens", Some(API_KEY), &body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    assert_eq!(issued["id"], "user_9");
    assert_eq!(issued["role"], "guest");
    let token = issued["token"].as_str().expect("token").to_owned();
    let (_guest, welcome) = server.join(&token, None).await;
    assert!(!welcome.resumed);

    let stranger = json!({"memberId": "nobody"}).to_string();
    let (status, _) = server
        .post("/v1/rooms/rm_1/tokens", Some(API_KEY), &stranger)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .post("/v1/rooms/rm_2/tokens", Some(API_KEY), &body)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test]
async fn room_ids_made_of_dots_are_refused() {
    let server = Server::start().await;
    for id in [".", "..", "..."] {
        let body = json!({"roomId": id, "members": [{"id": "a", "role": "host"}]});
        let (status, body) = server
            .post("/v1/rooms", Some(API_KEY), &body.to_string())
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{id}: {body}");
        assert_eq!(body["error"]["code"], "bad_request");
    }
    // Dots inside an id are fine.
    server
        .create_room("rm.1", &[("agent_1", "host")], json!({}))
        .await;
    server.stop().await;
}
