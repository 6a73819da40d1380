//! The `assistrtc-server` binary: startup line, demo warning, config errors, SIGTERM.

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Child, Command, Stdio};

use crate::support::within;

const BIN: &str = env!("CARGO_BIN_EXE_assistrtc-server");

/// Kills the child if a test fails half-way.
struct Guard(Option<Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn command() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("ASSISTRTC_API_KEY")
        .env_remove("ASSISTRTC_JWT_SECRET")
        .env_remove("ASSISTRTC_ICE_USERNAME")
        .env_remove("ASSISTRTC_ICE_CREDENTIAL")
        .env_remove("ASSISTRTC_TURN_SECRET")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

#[tokio::test]
async fn missing_secrets_are_a_clear_error() {
    let output = within(
        "binary exits",
        tokio::task::spawn_blocking(|| command().args(["--listen", "127.0.0.1:0"]).output()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("missing API key"), "{stderr}");

    let output = within(
        "binary exits",
        tokio::task::spawn_blocking(|| {
            command()
                .args(["--listen", "127.0.0.1:0", "--api-key", "k"])
                .output()
        }),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("missing JWT secret"), "{stderr}");
}

#[cfg(unix)]
#[tokio::test]
async fn demo_prints_one_listening_line_and_stops_on_sigterm() {
    let mut child = command()
        .args(["--demo", "--listen", "127.0.0.1:0"])
        .args(["--ice-server", "stun:127.0.0.1:3478"])
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let pid = child.id();
    let mut guard = Guard(Some(child));

    let (line, mut reader) = within(
        "listening line",
        tokio::task::spawn_blocking(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            reader.read_line(&mut line).map(|_| (line, reader))
        }),
    )
    .await
    .unwrap()
    .unwrap();
    let url = line
        .strip_suffix('\n')
        .and_then(|l| l.strip_prefix("listening on "))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(!url.ends_with(":0"), "{url}");

    let health = within("healthz", reqwest::get(format!("{url}/healthz")))
        .await
        .unwrap();
    assert_eq!(health.status(), reqwest::StatusCode::OK);
    let demo = within(
        "demo room",
        reqwest::Client::new()
            .post(format!("{url}/v1/demo/rooms"))
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(demo.status(), reqwest::StatusCode::CREATED);

    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let mut child = guard.0.take().unwrap();
    let status = within(
        "graceful exit",
        tokio::task::spawn_blocking(move || child.wait()),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(status.success(), "{status}");

    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "", "exactly one line on stdout");
    let mut err = String::new();
    stderr.read_to_string(&mut err).unwrap();
    assert!(err.contains("WARNING: DEMO MODE"), "{err}");
    assert!(!line.contains("WARNING"));
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_does_not_wait_for_a_half_sent_request() {
    let mut child = command()
        .args(["--demo", "--listen", "127.0.0.1:0"])
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let pid = child.id();
    let mut guard = Guard(Some(child));
    let line = within(
        "listening line",
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        }),
    )
    .await
    .unwrap()
    .unwrap();
    let addr: std::net::SocketAddr = line
        .trim_end()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();

    // A request that stops half-way through its head, then one that completes: the server
    // has accepted the first by the time it answers the second.
    let _half = crate::support::raw_connect(addr, b"POST /v1/rooms HTTP/1.1\r\nhost: it\r\n").await;
    let mut full =
        crate::support::raw_connect(addr, b"GET /healthz HTTP/1.1\r\nhost: it\r\n\r\n").await;
    assert_eq!(crate::support::read_response(&mut full).await.status, 200);

    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let mut child = guard.0.take().unwrap();
    let started = std::time::Instant::now();
    let status = within(
        "graceful exit",
        tokio::task::spawn_blocking(move || child.wait()),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(status.success(), "{status}");
    // The grace for requests in flight is 2 s; the old behaviour waited 10 s.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn turn_flags_without_their_pair_are_a_clear_error() {
    for (args, expected) in [
        (&["--turn-url", "turn:127.0.0.1:3478"][..], "--turn-secret"),
        (&["--turn-secret", "s3cret-turn-value"][..], "no --turn-url"),
    ] {
        let output = within(
            "binary exits",
            tokio::task::spawn_blocking(move || {
                command()
                    .args(["--demo", "--listen", "127.0.0.1:0"])
                    .args(args)
                    .output()
            }),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(output.status.code(), Some(2));
        assert!(output.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{stderr}");
        assert!(!stderr.contains("s3cret-turn-value"), "{stderr}");
    }
}

/// With TURN configured and debug logging, neither the secret nor a credential a member got
/// shows up in the server's output.
#[cfg(unix)]
#[tokio::test]
async fn the_turn_secret_and_credentials_are_never_logged() {
    use assistrtc_core::protocol::{self, ClientMessage, ServerMessage};
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message;

    const SECRET: &str = "s3cret-turn-value";
    let mut child = command()
        .args(["--demo", "--listen", "127.0.0.1:0"])
        .args(["--turn-url", "turn:127.0.0.1:3478?transport=udp"])
        .env("ASSISTRTC_TURN_SECRET", SECRET)
        .env("RUST_LOG", "debug")
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let pid = child.id();
    let mut guard = Guard(Some(child));
    let line = within(
        "listening line",
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        }),
    )
    .await
    .unwrap()
    .unwrap();
    let addr = line
        .trim_end()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();

    let room: serde_json::Value = within(
        "demo room",
        reqwest::Client::new()
            .post(format!("http://{addr}/v1/demo/rooms"))
            .send(),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let token = room["members"][0]["token"].as_str().unwrap().to_owned();
    let (mut ws, _) = within(
        "websocket",
        tokio_tungstenite::connect_async(format!("ws://{addr}/v1/signal")),
    )
    .await
    .unwrap();
    let join = ClientMessage::Join {
        token,
        resume_token: None,
    };
    within(
        "send join",
        ws.send(Message::text(protocol::encode_client(&join))),
    )
    .await
    .unwrap();
    let credential = loop {
        match within("welcome", ws.next()).await {
            Some(Ok(Message::Text(text))) => {
                let Ok(ServerMessage::Welcome { ice_servers, .. }) =
                    protocol::decode_server(text.as_str())
                else {
                    panic!("expected welcome, got {text}");
                };
                break ice_servers[0]
                    .credential
                    .clone()
                    .expect("a TURN credential");
            }
            Some(Ok(_)) => {}
            other => panic!("expected welcome, got {other:?}"),
        }
    };
    drop(ws);

    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let mut child = guard.0.take().unwrap();
    let status = within(
        "graceful exit",
        tokio::task::spawn_blocking(move || child.wait()),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(status.success(), "{status}");
    let mut err = String::new();
    stderr.read_to_string(&mut err).unwrap();
    assert!(err.contains("issuing TURN credentials"), "{err}");
    assert!(err.contains("joined"), "the join was logged: {err}");
    assert!(!err.contains(SECRET), "{err}");
    assert!(!err.contains(&credential), "{err}");
}
