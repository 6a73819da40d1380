//! What the native SDK's integration tests share: the real server in-process on loopback, a
//! room with an agent and a customer, an event collector, and bounded polling.

// Each test binary uses part of it.
#![allow(dead_code)]

use std::sync::Mutex;
use std::time::Duration;

use assistrtc_server::{RunningServer, ServerConfig};
use assistrtc_uniffi::api::{CallEvent, CallObserver};

/// Upper bound of every wait.
pub(crate) const WAIT: Duration = Duration::from_secs(20);
pub(crate) const API_KEY: &str = "native-test-key";

/// Collects a client's events.
#[derive(Default)]
pub(crate) struct Events(pub(crate) Mutex<Vec<CallEvent>>);

impl CallObserver for Events {
    fn on_event(&self, event: CallEvent) {
        self.0.lock().unwrap().push(event);
    }
}

pub(crate) async fn start_server() -> RunningServer {
    let mut config = ServerConfig::new(API_KEY, "native-test-secret-0123456789abcdef");
    config.listen = "127.0.0.1:0".parse().unwrap();
    tokio::time::timeout(WAIT, assistrtc_server::start(config))
        .await
        .expect("server starts in time")
        .expect("server starts")
}

/// Creates `room` (with `permissions`, JSON) and returns the agent's and the customer's tokens.
pub(crate) async fn tokens(base: &str, room: &str, permissions: &str) -> (String, String) {
    let body = [
        r#"{"roomId":""#,
        room,
        r#"","members":[{"id":"agent_1","role":"host"},{"id":"user_9","role":"guest"}],"permissions":"#,
        permissions,
        "}",
    ]
    .concat();
    let resp = reqwest::Client::new()
        .post(format!("{base}/v1/rooms"))
        .bearer_auth(API_KEY)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("room created");
    let room: serde_json::Value = resp.json().await.unwrap();
    let token = |i: usize| room["members"][i]["token"].as_str().unwrap().to_owned();
    (token(0), token(1))
}

pub(crate) async fn until<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
