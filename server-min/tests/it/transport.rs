//! The HTTP and WebSocket transport under abuse: bodies, silent and slow clients, connection
//! caps, oversize and flooding WebSocket frames, and page headers.
//!
//! The transport's timeouts are on real time (they guard sockets, not sessions), so the tests
//! set them short and wait, bounded, for the server to close or answer.

use std::path::PathBuf;
use std::time::Duration;

use assistrtc_core::protocol::ErrorCode;
use assistrtc_server::{MAX_REST_BODY, RateLimit, WS_MAX_MESSAGE};
use serde_json::json;
use tokio::io::AsyncWriteExt as _;

use crate::support::{API_KEY, Server, expect_eof, raw_connect, read_response, within};

fn post_head(key: Option<&str>, content_length: usize) -> Vec<u8> {
    let auth = key.map_or(String::new(), |k| format!("authorization: Bearer {k}\r\n"));
    format!(
        "POST /v1/rooms HTTP/1.1\r\nhost: it\r\ncontent-type: application/json\r\n{auth}\
         content-length: {content_length}\r\n\r\n"
    )
    .into_bytes()
}

const GET_HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: it\r\n\r\n";

#[tokio::test]
async fn the_api_key_is_checked_before_the_body_is_read() {
    let server = Server::start().await;
    // The head promises a body that never comes: the answer must not wait for it.
    for key in [None, Some("wrong-key")] {
        let mut tcp = raw_connect(server.addr, &post_head(key, 1000)).await;
        let resp = read_response(&mut tcp).await;
        assert_eq!(resp.status, 401, "{resp:?}");
        assert_eq!(resp.body["error"]["code"], "unauthorized", "{resp:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn rest_bodies_over_64_kib_get_a_json_413() {
    let server = Server::start().await;
    let mut tcp = raw_connect(server.addr, &post_head(Some(API_KEY), MAX_REST_BODY + 1)).await;
    let resp = read_response(&mut tcp).await;
    assert_eq!(resp.status, 413, "{resp:?}");
    assert_eq!(resp.body["error"]["code"], "bad_request", "{resp:?}");
    assert!(
        resp.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("65536"),
        "{resp:?}"
    );
    // A room of 64 members is far below the limit.
    let members: Vec<_> = (0..64)
        .map(|i| json!({"id": format!("member_{i:02}"), "role": "guest"}))
        .collect();
    let body = json!({"roomId": "rm_big", "members": members}).to_string();
    let (status, created) = server.post("/v1/rooms", Some(API_KEY), &body).await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{created}");
    server.stop().await;
}

#[tokio::test]
async fn a_stalled_rest_body_times_out_with_a_json_408() {
    let server = Server::start_with(|c| c.body_timeout_ms = 200).await;
    let mut head = post_head(Some(API_KEY), 100);
    head.extend_from_slice(b"{\"roomId\":");
    let mut tcp = raw_connect(server.addr, &head).await;
    let resp = read_response(&mut tcp).await;
    assert_eq!(resp.status, 408, "{resp:?}");
    assert_eq!(resp.body["error"]["code"], "bad_request", "{resp:?}");
    expect_eof(&mut tcp, "closed after the timeout").await;
    server.stop().await;
}

#[tokio::test]
async fn silent_slow_and_idle_connections_are_closed() {
    let server = Server::start_with(|c| c.header_read_timeout_ms = 300).await;
    let mut silent = raw_connect(server.addr, b"").await;
    let mut partial = raw_connect(server.addr, b"GET /healthz HTTP/1.1\r\nhost: it\r\n").await;
    let mut idle = raw_connect(server.addr, GET_HEALTHZ).await;
    assert_eq!(read_response(&mut idle).await.status, 200);
    expect_eof(&mut silent, "a silent connection is closed").await;
    expect_eof(&mut partial, "a half-sent head is cut off").await;
    expect_eof(&mut idle, "an idle kept-alive connection is closed").await;

    // Slow loris: a header byte now and then does not extend the deadline.
    let mut loris = raw_connect(server.addr, b"GET /healthz HTTP/1.1\r\n").await;
    within("a slow loris is cut off", async {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tick.tick().await;
            if loris.write_all(b"x").await.is_err() {
                return;
            }
        }
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn connections_over_the_per_address_cap_get_a_json_503() {
    let server = Server::start_with(|c| c.max_connections_per_ip = 2).await;
    // A WebSocket keeps its slot after the upgrade.
    let ws = server.connect().await;
    let held = raw_connect(server.addr, b"").await;
    let mut third = raw_connect(server.addr, GET_HEALTHZ).await;
    let resp = read_response(&mut third).await;
    assert_eq!(resp.status, 503, "{resp:?}");
    assert_eq!(resp.body["error"]["code"], "rate_limited", "{resp:?}");
    assert_eq!(resp.header("retry-after"), Some("1"));
    expect_eof(&mut third, "a refused connection is closed").await;

    // Slots come back when connections close.
    ws.drop_connection();
    drop(held);
    within("a slot is free again", async {
        loop {
            let mut tcp = raw_connect(server.addr, GET_HEALTHZ).await;
            if read_response(&mut tcp).await.status == 200 {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn connections_over_the_total_cap_get_a_json_503() {
    let server = Server::start_with(|c| c.max_connections = 1).await;
    let _held = raw_connect(server.addr, b"").await;
    let mut second = raw_connect(server.addr, GET_HEALTHZ).await;
    let resp = read_response(&mut second).await;
    assert_eq!(resp.status, 503, "{resp:?}");
    let message = resp.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("limit of 1 connections"), "{message}");
    server.stop().await;
}

#[tokio::test]
async fn an_oversize_frame_ends_the_connection_with_1009_before_and_after_join() {
    let server = Server::start().await;
    let mut anonymous = server.connect().await;
    anonymous.send_text(&"a".repeat(WS_MAX_MESSAGE + 1)).await;
    let reason = anonymous.expect_close_code(1009).await;
    assert!(reason.contains("64 KiB"), "{reason}");

    let tokens = server
        .create_room("rm_1", &[("agent_1", "host")], json!({}))
        .await;
    let (mut agent, _) = server.join(&tokens["agent_1"], None).await;
    // Exactly at the limit is still a frame the hub answers.
    agent.send_text(&"a".repeat(WS_MAX_MESSAGE)).await;
    agent.expect_error(ErrorCode::BadRequest).await;
    agent.send_text(&"a".repeat(WS_MAX_MESSAGE + 1)).await;
    agent.expect_close_code(1009).await;
    server.stop().await;
}

#[tokio::test]
async fn a_ping_flood_closes_the_connection_with_a_reason() {
    let server = Server::start_with(|c| {
        c.rate_limit = RateLimit {
            burst: 5,
            refill_per_sec: 1,
        }
    })
    .await;
    let tokens = server
        .create_room("rm_1", &[("agent_1", "host")], json!({}))
        .await;
    let (mut agent, _) = server.join(&tokens["agent_1"], None).await;
    // Within the budget pings are answered and the session goes on.
    for _ in 0..5 {
        agent.send_ping().await;
    }
    agent.barrier().await;
    // The server's clock stands still: nothing is refilled, and one more is a flood.
    agent.send_ping().await;
    let reason = agent.expect_close_code(1008).await;
    assert!(reason.contains("control frames"), "{reason}");
    server.stop().await;
}

/// A web root in the temp directory, removed when dropped.
struct WebRoot(PathBuf);

impl WebRoot {
    fn new() -> Self {
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).unwrap();
        let name: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let root = std::env::temp_dir().join(format!("assistrtc-it-web-{name}"));
        for (dir, file, text) in [
            (
                "examples/web-agent",
                "index.html",
                "<!doctype html><title>agent</title>",
            ),
            ("examples/web-agent", "app.js", "export {};"),
            (
                "bench/pages",
                "raw.html",
                "<!doctype html><title>bench</title>",
            ),
        ] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
            std::fs::write(root.join(dir).join(file), text).unwrap();
        }
        Self(root)
    }
}

impl Drop for WebRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn pages_carry_security_headers() {
    let root = WebRoot::new();
    let dir = root.0.clone();
    let server = Server::start_with(|c| c.web_root = Some(dir)).await;
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let req = http.get(format!("{}{path}", server.base)).send();
        async move { within("GET page", req).await.expect("answered") }
    };

    let page = get("/agent/").await;
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    let h = page.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["cache-control"], "no-cache");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        csp.contains("script-src 'self' 'wasm-unsafe-eval'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");

    let script = get("/agent/app.js").await;
    assert_eq!(script.headers()["x-content-type-options"], "nosniff");
    assert!(script.headers().get("cache-control").is_none());

    // The benchmark pages keep inline scripts; they still may not be framed.
    let bench = get("/bench/raw.html").await;
    let csp = bench.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    server.stop().await;
}
