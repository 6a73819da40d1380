//! The REST room API.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{API_KEY, Server, T0, within};

fn assert_error(body: &Value, code: &str) -> String {
    assert_eq!(body["error"]["code"], code, "{body}");
    body["error"]["message"]
        .as_str()
        .expect("error.message")
        .to_owned()
}

#[tokio::test]
async fn create_room_issues_one_token_per_member() {
    let server = Server::start().await;
    let body = json!({
        "roomId": "rm_1",
        "members": [{"id": "agent_1", "role": "host"}, {"id": "user_9", "role": "guest"}],
        "permissions": {"screen": true, "recording": "cloud"}
    })
    .to_string();
    let (status, created) = server.post("/v1/rooms", Some(API_KEY), &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["roomId"], "rm_1");
    let members = created["members"].as_array().unwrap();
    assert_eq!(members.len(), 2);
    assert_eq!(members[0]["id"], "agent_1");
    assert_eq!(members[0]["role"], "host");
    assert_eq!(members[1]["role"], "guest");

    // Each token verifies and names the room's creation; capabilities are the room's business.
    let claims = assistrtc_server::jwt::verify_signature(
        crate::support::JWT_SECRET.as_bytes(),
        members[1]["token"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(claims.room.as_str(), "rm_1");
    assert_eq!(claims.sub.as_str(), "user_9");
    assert_eq!(claims.epoch.len(), 16, "{}", claims.epoch);
    // Issued on the server's clock.
    assert_eq!(claims.iat, T0.0 / 1000);
    assert_eq!(claims.exp - claims.iat, 600);

    // Same id again: conflict.
    let (status, again) = server.post("/v1/rooms", Some(API_KEY), &body).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&again, "conflict");

    // Read back, with who is online.
    let (_agent, _) = server
        .join(members[0]["token"].as_str().unwrap(), None)
        .await;
    let (status, room) = server.get("/v1/rooms/rm_1", Some(API_KEY)).await;
    assert_eq!(status, StatusCode::OK, "{room}");
    assert_eq!(room["roomId"], "rm_1");
    assert_eq!(
        room["permissions"],
        json!({"screen": true, "recording": "cloud"})
    );
    assert_eq!(
        room["members"],
        json!([
            {"id": "agent_1", "role": "host", "online": true},
            {"id": "user_9", "role": "guest", "online": false}
        ])
    );
    server.stop().await;
}

#[tokio::test]
async fn api_key_is_required() {
    let server = Server::start().await;
    let body = json!({"roomId": "rm_1", "members": [{"id": "a", "role": "host"}]}).to_string();
    for key in [None, Some("wrong-key")] {
        let (status, resp) = server.post("/v1/rooms", key, &body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(!assert_error(&resp, "unauthorized").is_empty());
        let (status, resp) = server.get("/v1/rooms/rm_1", key).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_error(&resp, "unauthorized");
    }
    // Nothing was created.
    let (status, _) = server.get("/v1/rooms/rm_1", Some(API_KEY)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test]
async fn bad_bodies_name_the_field() {
    let server = Server::start().await;
    for (body, field) in [
        (
            r#"{"roomId":"rm_1","members":[{"id":"agent_1","role":"boss"}]}"#,
            "members[0].role: unknown variant `boss`",
        ),
        (
            r#"{"roomId":"rm 1","members":[{"id":"agent_1","role":"host"}]}"#,
            "roomId: ",
        ),
        (
            r#"{"roomId":"rm_1","members":[{"id":"a","role":"host"},{"id":"a","role":"guest"}]}"#,
            "members[1].id: duplicate",
        ),
        (r#"{"roomId":"rm_1","members":[]}"#, "members: "),
        (
            r#"{"roomId":"rm_1","members":[{"id":"a","role":"host"}],"permissions":{"screen":"yes"}}"#,
            "permissions.screen: ",
        ),
        ("{", "invalid body: "),
    ] {
        let (status, resp) = server.post("/v1/rooms", Some(API_KEY), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let message = assert_error(&resp, "bad_request");
        assert!(message.starts_with(field), "{body} → {message}");
    }
    server.stop().await;
}

#[tokio::test]
async fn unknown_rooms_and_routes_are_not_found() {
    let server = Server::start().await;
    for path in ["/v1/rooms/rm_404", "/v1/rooms/not%20an%20id", "/v1/nothing"] {
        let (status, resp) = server.get(path, Some(API_KEY)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_error(&resp, "not_found");
    }
    // The demo routes exist only in demo mode.
    for path in ["/v1/demo/rooms", "/v1/demo/preflight-tokens"] {
        let (status, _) = server.post(path, None, "").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, health) = server.get("/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health, json!({"status": "ok"}));
    server.stop().await;
}

#[tokio::test]
async fn demo_rooms_need_no_key_and_are_joinable() {
    let server = Server::start_with(|c| c.demo = true).await;
    let (status, created) = server.post("/v1/demo/rooms", None, "").await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let room = created["roomId"].as_str().unwrap().to_owned();
    assert!(room.starts_with("demo_"));
    let members = created["members"].as_array().unwrap();
    assert_eq!(members[0]["id"], "agent_1");
    assert_eq!(members[0]["role"], "host");
    assert_eq!(members[1]["id"], "customer_1");
    assert_eq!(members[1]["role"], "guest");

    let (status, def) = server
        .get(&format!("/v1/rooms/{room}"), Some(API_KEY))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        def["permissions"],
        json!({"screen": true, "recording": "local"})
    );

    let (_, second) = server.post("/v1/demo/rooms", None, "").await;
    assert_ne!(second["roomId"], created["roomId"]);

    let (mut agent, _) = server
        .join(members[0]["token"].as_str().unwrap(), None)
        .await;
    agent.barrier().await;

    // The demo customer page's pre-call check gets its preflight token the same way.
    let (status, issued) = server.post("/v1/demo/preflight-tokens", None, "").await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let token = issued["token"].as_str().unwrap();
    let (status, _) = server.get("/v1/preflight/config", Some(token)).await;
    assert_eq!(status, StatusCode::OK, "the token admits to the check");
    server.stop().await;
}

#[tokio::test]
async fn an_empty_room_is_removed_when_its_tokens_expire() {
    let server = Server::start().await;
    let ttl_ms = assistrtc_server::DEFAULT_TOKEN_TTL_SECS * 1000;
    server
        .create_room("rm_short", &[("agent_1", "host")], json!({}))
        .await;
    server.advance(ttl_ms - 1);
    let (status, _) = server.get("/v1/rooms/rm_short", Some(API_KEY)).await;
    assert_eq!(status, StatusCode::OK, "the tokens are still valid");
    server.advance(1);
    // The hub's timer removes it from the store; REST has no event to await, so poll (no time
    // passes on the server's clock meanwhile), bounded by `within`.
    within("expired room removed", async {
        loop {
            let (status, _) = server.get("/v1/rooms/rm_short", Some(API_KEY)).await;
            if status == StatusCode::NOT_FOUND {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    // The id can be taken again.
    server
        .create_room("rm_short", &[("agent_1", "host")], json!({}))
        .await;
    server.stop().await;
}

#[tokio::test]
async fn the_unauthenticated_demo_route_is_paced() {
    let server = Server::start_with(|c| c.demo = true).await;
    let mut created = 0;
    let mut limited = None;
    for _ in 0..25 {
        let (status, body) = server.post("/v1/demo/rooms", None, "").await;
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                limited = Some(body);
                break;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    // The burst is 20; the server's clock stands still, so nothing is refilled meanwhile.
    assert_eq!(created, 20);
    let body = limited.expect("the route is limited");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    // One more a second.
    server.advance(999);
    let (status, _) = server.post("/v1/demo/rooms", None, "").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    server.advance(1);
    let (status, _) = server.post("/v1/demo/rooms", None, "").await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = server.post("/v1/demo/rooms", None, "").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    server.stop().await;
}

#[tokio::test]
async fn a_token_issued_later_keeps_its_room_alive_as_long_as_itself() {
    let server = Server::start().await;
    let ttl_ms = assistrtc_server::DEFAULT_TOKEN_TTL_SECS * 1000;
    server
        .create_room("rm_long", &[("agent_1", "host")], json!({}))
        .await;
    // Half-way through the first tokens' life, the backend gets a fresh one.
    server.advance(ttl_ms / 2);
    let (status, body) = server
        .post(
            "/v1/rooms/rm_long/tokens",
            Some(API_KEY),
            &json!({"memberId": "agent_1"}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let fresh = body["token"].as_str().unwrap().to_owned();
    // Past the first tokens' expiry the empty room is still there, and the fresh token joins.
    server.advance(ttl_ms / 2 + 1_000);
    let (status, _) = server.get("/v1/rooms/rm_long", Some(API_KEY)).await;
    assert_eq!(status, StatusCode::OK, "kept by the later token");
    let (agent, _) = server.join(&fresh, None).await;
    drop(agent);
    server.wait_offline("rm_long", "agent_1").await;
    // At the fresh token's expiry the empty room goes.
    server.advance(ttl_ms / 2);
    within("room removed at the later expiry", async {
        loop {
            let (status, _) = server.get("/v1/rooms/rm_long", Some(API_KEY)).await;
            if status == StatusCode::NOT_FOUND {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    server.stop().await;
}
