//! The network probe: a webrtc-rs client (loopback UDP) gets a preflight token, posts its offer
//! and runs the core's probe train through the server's echo, then a download train back;
//! and the preflight token is good for nothing else, nor is any other token good for it.

use std::sync::Arc;
use std::time::Instant;

use assistrtc_core::Millis;
use assistrtc_core::diagnostics::probe::{ProbeConfig, TrainReceiver, TrainSender};
use assistrtc_core::protocol::{ClientMessage, ErrorCode};
use assistrtc_server::ProbeLimits;
use assistrtc_server::jwt::{self, PreflightClaims};
use assistrtc_server::turn;
use bytes::BytesMut;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::watch;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceGatheringState, RTCSessionDescription, Registry,
    register_default_interceptors,
};

use crate::support::{API_KEY, JWT_SECRET, Server, turn_urls, within};

struct Gathering(watch::Sender<bool>);

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Gathering {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.0.send(true);
        }
    }
}

/// A client peer on loopback with an in-band `probe` channel and its complete offer.
struct ProbeClient {
    pc: Arc<dyn PeerConnection>,
    dc: Arc<dyn DataChannel>,
    offer: String,
}

impl ProbeClient {
    async fn new() -> Self {
        let mut media_engine = MediaEngine::default();
        media_engine.register_default_codecs().unwrap();
        let registry = register_default_interceptors(Registry::new(), &mut media_engine).unwrap();
        let (gathered_tx, mut gathered) = watch::channel(false);
        let pc = PeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_media_engine(media_engine)
            .with_interceptor_registry(registry)
            .with_handler(Arc::new(Gathering(gathered_tx)))
            .with_udp_addrs(vec!["127.0.0.1:0".to_owned()])
            .build()
            .await
            .expect("client peer connection");
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);
        let dc = pc.create_data_channel("probe", None).await.unwrap();
        let offer = pc.create_offer(None).await.unwrap();
        pc.set_local_description(offer).await.unwrap();
        within("client gathering", gathered.wait_for(|g| *g))
            .await
            .unwrap();
        let offer = pc.local_description().await.unwrap().sdp;
        Self { pc, dc, offer }
    }

    async fn next_event(&self) -> DataChannelEvent {
        within("probe channel event", self.dc.poll())
            .await
            .expect("the probe channel is open")
    }

    /// The next text message (binary ones are skipped).
    async fn next_text(&self) -> Value {
        loop {
            if let DataChannelEvent::OnMessage(m) = self.next_event().await
                && m.is_string
            {
                return serde_json::from_slice(&m.data).unwrap();
            }
        }
    }
}

async fn preflight_token(server: &Server) -> String {
    let (status, body) = server.post("/v1/preflight/tokens", Some(API_KEY), "").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// `POST /v1/preflight/probe` with `token` and `offer`; the status and the body as text.
async fn post_probe(server: &Server, token: &str, offer: &str) -> (StatusCode, String) {
    let req = reqwest::Client::new()
        .post(format!("{}/v1/preflight/probe", server.base))
        .bearer_auth(token)
        .header("content-type", "application/sdp")
        .body(offer.to_owned());
    let resp = within("POST probe", req.send()).await.unwrap();
    let status = resp.status();
    (status, within("probe body", resp.text()).await.unwrap())
}

fn error_code(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    v["error"]["code"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn probe_measures_rtt_upload_and_download() {
    let server = Server::start().await;
    let t0 = Instant::now();
    let token = preflight_token(&server).await;
    let client = ProbeClient::new().await;
    let offered = t0.elapsed();
    let (status, answer) = post_probe(&server, &token, &client.offer).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert!(
        answer.contains("a=candidate"),
        "a complete answer: {answer}"
    );
    let answered = t0.elapsed();
    client
        .pc
        .set_remote_description(RTCSessionDescription::answer(answer).unwrap())
        .await
        .unwrap();
    while !matches!(client.next_event().await, DataChannelEvent::OnOpen) {}
    let opened = t0.elapsed();

    // Upload: the client's train, echoed by the server.
    let config = ProbeConfig {
        packets: 100,
        packet_bytes: 1_000,
        rate_kbps: 4_000,
        linger_ms: 1_000,
    };
    let mut sender = TrainSender::new(config);
    let start = Instant::now();
    let now = || Millis(start.elapsed().as_millis() as u64);
    within("upload train", async {
        loop {
            while let Some(p) = sender.poll_transmit(now()) {
                client.dc.send(BytesMut::from(&p[..])).await.unwrap();
            }
            if sender.is_done(now()) {
                break;
            }
            let wake = sender
                .poll_timeout()
                .map_or(start, |at| start + std::time::Duration::from_millis(at.0));
            tokio::select! {
                event = client.dc.poll() => {
                    if let Some(DataChannelEvent::OnMessage(m)) = event
                        && !m.is_string
                    {
                        sender.on_echo(&m.data, now());
                    }
                }
                () = tokio::time::sleep_until(wake.into()) => {}
            }
        }
    })
    .await;
    let uploaded = t0.elapsed();
    assert_eq!(sender.counts(), (100, 100), "every packet echoed");
    let rtt = sender.rtt().expect("round trips measured");
    assert!(rtt.max < 1_000.0, "{rtt:?}");

    client.dc.send_text("result").await.unwrap();
    let upload = client.next_text().await;
    assert_eq!(upload["type"], "upload", "{upload}");
    assert_eq!(upload["received"], 100);
    assert_eq!(upload["lossPct"], 0.0);
    assert!(upload["throughputKbps"].as_f64().unwrap() > 0.0, "{upload}");
    assert!(upload["jitterMs"]["avg"].is_number(), "{upload}");

    // Download: the server's train, measured here and echoed back.
    client.dc.send_text("download").await.unwrap();
    let mut receiver = TrainReceiver::new();
    let done = within("download train", async {
        loop {
            let DataChannelEvent::OnMessage(m) = client.next_event().await else {
                continue;
            };
            if m.is_string {
                return serde_json::from_slice::<Value>(&m.data).unwrap();
            }
            if let Some(echo) = receiver.on_packet(&m.data, now()) {
                client.dc.send(BytesMut::from(&echo[..])).await.unwrap();
            }
        }
    })
    .await;
    let downloaded = t0.elapsed();
    let result = receiver.result();
    let default = ProbeConfig::default();
    assert_eq!(done["type"], "downloadDone", "{done}");
    assert_eq!(done["sent"], default.packets);
    assert_eq!(done["echoed"], default.packets, "{done}");
    assert!(done["rttMs"]["avg"].is_number(), "{done}");
    assert_eq!(result.received, default.packets);
    assert_eq!(result.loss_pct, 0.0);
    assert!(result.throughput_kbps.unwrap() > 0.0, "{result:?}");
    eprintln!(
        "probe timings: offer {offered:?}, answer {answered:?}, open {opened:?}, \
         upload done {uploaded:?} (rtt {rtt:?}, {upload}), download done {downloaded:?} \
         ({result:?})"
    );

    client.pc.close().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn preflight_tokens_admit_to_the_probe_only() {
    let server = Server::start().await;
    let (status, _) = server.post("/v1/preflight/tokens", None, "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = server.post("/v1/preflight/tokens", Some(API_KEY), "").await;
    assert_eq!(status, StatusCode::CREATED);
    let token = body["token"].as_str().unwrap().to_owned();
    let lifetime = body["expiresAt"].as_u64().unwrap() - server.unix_secs();
    assert!(lifetime > 0 && lifetime <= 120, "{body}");

    // Not for signaling, nor for the room API.
    let tokens = server
        .create_room("rm_1", &[("agent_1", "host")], json!({}))
        .await;
    let mut ws = server.connect().await;
    ws.send(&ClientMessage::Join {
        token: token.clone(),
        resume_token: None,
    })
    .await;
    ws.expect_error(ErrorCode::Unauthorized).await;
    let (status, _) = server.get("/v1/rooms/rm_1", Some(&token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = server
        .post(
            "/v1/rooms/rm_1/tokens",
            Some(&token),
            r#"{"memberId":"agent_1"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The probe refuses join tokens, forged and expired preflight tokens, before any offer.
    let offer = "v=0\r\n";
    let forged = jwt::issue_preflight(
        b"another secret",
        &PreflightClaims::new(server.unix_secs(), 120, "p".into()),
    );
    for bad in [tokens["agent_1"].as_str(), forged.as_str(), "", API_KEY] {
        let (status, body) = post_probe(&server, bad, offer).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}: {body}");
        assert_eq!(error_code(&body), "unauthorized");
    }
    // The right token with something else than SDP.
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/preflight/probe", server.base))
        .bearer_auth(&token)
        .json(&json!({"sdp": "v=0"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Garbage SDP is a bad request.
    let (status, body) = post_probe(&server, &token, offer).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    server.advance(120_000);
    let (status, body) = post_probe(&server, &token, offer).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&body), "token_expired");
    server.stop().await;
}

#[tokio::test]
async fn probes_are_capped_per_server_and_per_address() {
    let client = ProbeClient::new().await;
    for (limits, second, code) in [
        (
            ProbeLimits {
                max_sessions: 1,
                max_per_ip: 4,
                ..ProbeLimits::default()
            },
            StatusCode::SERVICE_UNAVAILABLE,
            "server_busy",
        ),
        (
            ProbeLimits {
                max_sessions: 4,
                max_per_ip: 1,
                ..ProbeLimits::default()
            },
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
        ),
    ] {
        let server = Server::start_with(|c| c.probe = limits).await;
        let token = preflight_token(&server).await;
        // The same offer, answered by a session of its own each time: the first holds its
        // slot until it ends (here, at shutdown).
        let (status, body) = post_probe(&server, &token, &client.offer).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = post_probe(&server, &token, &client.offer).await;
        assert_eq!(status, second, "{body}");
        assert_eq!(error_code(&body), code);
        server.stop().await;
    }
    client.pc.close().await.unwrap();
}

#[tokio::test]
async fn a_probe_session_ends_at_its_bound_and_gives_its_slot_back() {
    let limits = ProbeLimits {
        max_per_ip: 1,
        max_duration_ms: 1_500,
        ..ProbeLimits::default()
    };
    let server = Server::start_with(|c| c.probe = limits).await;
    let token = preflight_token(&server).await;
    let client = ProbeClient::new().await;
    let (status, answer) = post_probe(&server, &token, &client.offer).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    client
        .pc
        .set_remote_description(RTCSessionDescription::answer(answer).unwrap())
        .await
        .unwrap();
    while !matches!(client.next_event().await, DataChannelEvent::OnOpen) {}
    let (status, _) = post_probe(&server, &token, &client.offer).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the session holds its slot"
    );

    // The server closes the connection at the bound; the channel closes with it.
    let opened = Instant::now();
    within("the session's end", async {
        while let Some(event) = client.dc.poll().await {
            if matches!(event, DataChannelEvent::OnClose) {
                break;
            }
        }
    })
    .await;
    let closed = opened.elapsed();
    assert!(closed.as_millis() < 3_000, "closed after {closed:?}");
    // Its slot is free again (given back as the session task ends: bounded retries).
    within("the slot given back", async {
        loop {
            let (status, body) = post_probe(&server, &token, &client.offer).await;
            if status == StatusCode::CREATED {
                break;
            }
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    client.pc.close().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn the_check_gets_its_ice_servers_with_turn_credentials_of_its_own() {
    const SECRET: &str = "it-preflight-turn-secret";
    let urls = turn_urls();
    let server = Server::start_with_turn(SECRET).await;
    let get_config = |token: String| {
        let req = reqwest::Client::new()
            .get(format!("{}/v1/preflight/config", server.base))
            .bearer_auth(token);
        async move {
            let resp = within("GET preflight config", req.send()).await.unwrap();
            let status = resp.status();
            (status, within("config body", resp.text()).await.unwrap())
        }
    };

    // Join tokens, the API key and no token are refused.
    let tokens = server
        .create_room("rm_cfg", &[("agent_1", "host")], json!({}))
        .await;
    for bad in [tokens["agent_1"].as_str(), API_KEY, ""] {
        let (status, body) = get_config(bad.to_owned()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}: {body}");
        assert_eq!(error_code(&body), "unauthorized");
    }

    let token = preflight_token(&server).await;
    let now = server.unix_secs();
    let (status, body) = get_config(token.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let config: Value = serde_json::from_str(&body).unwrap();
    let ice = config["ice_servers"].as_array().expect("ice_servers");
    assert_eq!(ice.len(), 2, "STUN, then TURN: {config}");
    // The STUN entry as a welcome has it: urls only.
    let stun = server.stun_addr().unwrap();
    assert_eq!(ice[0], json!({"urls": [format!("stun:{stun}")]}));
    assert_eq!(ice[1]["urls"], json!(urls));
    let username = ice[1]["username"].as_str().expect("a TURN username");
    let credential = ice[1]["credential"].as_str().expect("a TURN credential");
    let jti = jwt::verify_preflight(JWT_SECRET.as_bytes(), &token, now)
        .unwrap()
        .jti;
    assert_eq!(username, format!("{}:preflight-{jti}", now + 900));
    assert_eq!(credential, turn::credential(SECRET.as_bytes(), username));
    server.stop().await;

    // Without TURN: the configured servers only (none here).
    let plain = Server::start().await;
    let token = preflight_token(&plain).await;
    let req = reqwest::Client::new()
        .get(format!("{}/v1/preflight/config", plain.base))
        .bearer_auth(token);
    let resp = within("GET preflight config", req.send()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = within("config body", resp.json()).await.unwrap();
    assert_eq!(body, json!({"ice_servers": []}));
    plain.stop().await;
}
