//! `GET /metrics`: Prometheus text behind the API key, counting what the hub does.

use assistrtc_core::protocol::{ClientMessage, ServerMessage};
use reqwest::StatusCode;
use serde_json::json;

use crate::support::Server;

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_count_sessions_rooms_joins_failures_and_frames() {
    let server = Server::start().await;
    let (status, _) = server.get("/metrics", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let tokens = server
        .create_room(
            "rm_m",
            &[("agent_1", "host"), ("user_9", "guest")],
            json!({}),
        )
        .await;
    let (mut agent, _) = server.join(&tokens["agent_1"], None).await;
    // A refused join.
    let mut bad = server.connect().await;
    bad.send(&ClientMessage::Join {
        token: "not-a-token".into(),
        resume_token: None,
    })
    .await;
    assert!(matches!(bad.recv().await, ServerMessage::Error { .. }));
    // A frame handled (and answered) after both: the gauges are up to date when it returns.
    agent.send(&ClientMessage::Ping).await;
    assert!(matches!(agent.recv().await, ServerMessage::Pong));

    let (status, text) = server.get_text("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(value(&text, "assistrtc_sessions"), Some(1.0), "{text}");
    assert_eq!(value(&text, "assistrtc_rooms"), Some(1.0));
    assert_eq!(value(&text, "assistrtc_joins_total"), Some(1.0));
    assert_eq!(
        value(
            &text,
            "assistrtc_join_failures_total{code=\"unauthorized\"}"
        ),
        Some(1.0),
        "{text}"
    );
    // Join, the refused join and the ping were each a client frame.
    assert!(value(&text, "assistrtc_frame_handling_seconds_count").unwrap() >= 3.0);
    server.stop().await;
}
