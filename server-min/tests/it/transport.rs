//! The HTTP transport under abuse: silent and slow clients, connection caps.
//!
//! The transport's timeouts are on real time (they guard sockets, not sessions), so the tests
//! set them short and wait, bounded, for the server to close or answer.

use std::time::Duration;

use tokio::io::AsyncWriteExt as _;

use crate::support::{Server, expect_eof, raw_connect, read_response, within};

const GET_HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: it\r\n\r\n";

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
