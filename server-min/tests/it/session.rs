//! Session rules over the real transport: room epochs across a restart, token refresh, the
//! demo key's pacing, the room cap, room ids.

use assistrtc_core::protocol::{ClientMessage, ErrorCode, Source};
use assistrtc_server::DEMO_API_KEY;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{API_KEY, Server, within};

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
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = server
        .post("/v1/rooms/rm_2/tokens", Some(API_KEY), &body)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test]
async fn the_public_demo_key_is_paced_like_the_demo_route() {
    let server = Server::start_with(|c| {
        c.demo = true;
        c.api_key = DEMO_API_KEY.into();
    })
    .await;
    let mut created = 0;
    let mut limited = false;
    for i in 0..25 {
        let body = json!({"roomId": format!("rm_{i}"), "members": [{"id": "a", "role": "host"}]});
        let (status, body) = server
            .post("/v1/rooms", Some(DEMO_API_KEY), &body.to_string())
            .await;
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(body["error"]["code"], "rate_limited", "{body}");
                limited = true;
                break;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(limited, "the public key is not a way around the pacing");
    assert_eq!(created, 20, "the same budget as the demo route");
    // Both share it: the demo route is out of rooms too.
    let (status, _) = server.post("/v1/demo/rooms", None, "").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    server.stop().await;
}

#[tokio::test]
async fn the_api_key_has_a_room_cap() {
    let server = Server::start_with(|c| c.max_rooms = 2).await;
    server
        .create_room("rm_1", &[("a", "host")], json!({}))
        .await;
    server
        .create_room("rm_2", &[("a", "host")], json!({}))
        .await;
    let body = json!({"roomId": "rm_3", "members": [{"id": "a", "role": "host"}]});
    let (status, body) = server
        .post("/v1/rooms", Some(API_KEY), &body.to_string())
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited");
    // Once the tokens expire the empty rooms go and free their places.
    server.advance(assistrtc_server::DEFAULT_TOKEN_TTL_SECS * 1000);
    // Removed by the hub's timer; no event to await, so poll (no server time passes).
    within("expired room removed", async {
        while server.get("/v1/rooms/rm_1", Some(API_KEY)).await.0 != StatusCode::NOT_FOUND {
            tokio::task::yield_now().await;
        }
    })
    .await;
    server
        .create_room("rm_3", &[("a", "host")], json!({}))
        .await;
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
