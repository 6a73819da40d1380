//! State under `--data-dir` survives a restart: rooms, their epochs and so their tokens.

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{API_KEY, Server};

/// A fresh directory for one test, removed when dropped.
struct DataDir(PathBuf);

impl DataDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("assistrtc-it-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn rooms_and_their_tokens_survive_a_restart() {
    let dir = DataDir::new("restart");
    let server = Server::start_with(|c| c.data_dir = Some(dir.0.clone())).await;
    let tokens = server
        .create_room(
            "rm_kept",
            &[("agent_1", "host"), ("user_9", "guest")],
            json!({"screen": true}),
        )
        .await;
    let (agent, before) = server.join(&tokens["agent_1"], None).await;
    drop(agent);
    server.stop().await;
    let db = dir.0.join(assistrtc_server::STATE_FILE);
    // Both tokens were recorded by id.
    let issued: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM issued_tokens WHERE room_id = 'rm_kept'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(issued, 2);

    // A new process on the same directory: the room is there, and the old tokens join it.
    let server = Server::start_with(|c| c.data_dir = Some(dir.0.clone())).await;
    let (status, body) = server.get("/v1/rooms/rm_kept", Some(API_KEY)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["permissions"]["screen"], true);
    // The agent comes back with its token and the resume token the old process gave it: the
    // seat is not held any more, so it joins afresh (its links are rebuilt), not refused.
    let (_agent, after) = server
        .join(&tokens["agent_1"], Some(&before.resume_token))
        .await;
    assert!(!after.resumed);
    let (_customer, _) = server.join(&tokens["user_9"], None).await;
    // The id is still taken: the room was not lost.
    let (status, _) = server
        .post(
            "/v1/rooms",
            Some(API_KEY),
            &json!({"roomId": "rm_kept", "members": [{"id": "a", "role": "host"}]}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    server.stop().await;
}
