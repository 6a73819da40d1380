//! Test server on a virtual clock, clients, and bounded waits.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use assistrtc_core::Millis;
use assistrtc_core::protocol::{self, ClientMessage, MemberId, Role, RoomId, ServerMessage};
use assistrtc_server::clock::{Clock, Sleep};
use assistrtc_server::jwt::{self, Claims};
use assistrtc_server::{RunningServer, ServerConfig};
use futures_util::{SinkExt as _, StreamExt as _};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub(crate) const API_KEY: &str = "it-api-key";
pub(crate) const JWT_SECRET: &str = "it-jwt-secret";
/// Upper bound for any single wait in these tests (real time).
pub(crate) const WAIT: Duration = Duration::from_secs(10);
/// Where the server's clock starts: on a whole second, so that a token's `exp` (seconds) and
/// the hub's room expiry (milliseconds) fall on the same instant.
pub(crate) const T0: Millis = Millis(1_700_000_000_000);

/// The server's time in these tests: it stands still until a test calls [`Server::advance`],
/// so every server deadline fires at a known step. Sockets stay real, and waits for them are
/// bounded on tokio's (real) clock by [`within`].
pub(crate) struct TestClock {
    now: watch::Sender<Millis>,
}

impl TestClock {
    fn new() -> Self {
        Self {
            now: watch::Sender::new(T0),
        }
    }

    fn advance(&self, ms: u64) {
        self.now.send_modify(|now| *now = now.after(ms));
    }
}

impl Clock for TestClock {
    fn now(&self) -> Millis {
        *self.now.borrow()
    }

    fn sleep_until(&self, at: Millis) -> Sleep {
        let mut now = self.now.subscribe();
        Box::pin(async move {
            // The sender lives in the clock, which the server holds while it sleeps on it.
            if now.wait_for(|now| *now >= at).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

/// Awaits `fut`, failing the test with `what` if it takes longer than [`WAIT`].
pub(crate) async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(out) => out,
        Err(_) => panic!("timed out after {WAIT:?}: {what}"),
    }
}

pub(crate) struct Server {
    running: Option<RunningServer>,
    clock: Arc<TestClock>,
    pub(crate) addr: SocketAddr,
    pub(crate) base: String,
    ws_url: String,
    http: reqwest::Client,
}

/// The TURN URLs of [`Server::start_with_turn`]: one relay over UDP and TCP.
pub(crate) fn turn_urls() -> Vec<String> {
    vec![
        "turn:127.0.0.1:3478?transport=udp".to_owned(),
        "turn:127.0.0.1:3478?transport=tcp".to_owned(),
    ]
}

impl Server {
    pub(crate) async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A server that answers STUN itself and hands out TURN credentials (900 s) for the relay
    /// URLs of `turn_urls()`, in coturn's shared-secret scheme with `secret`.
    pub(crate) async fn start_with_turn(secret: &str) -> Self {
        Self::start_with(|c| {
            c.stun_listen = Some("127.0.0.1:0".parse().unwrap());
            c.turn = Some(assistrtc_server::turn::TurnConfig {
                ttl_secs: 900,
                ..assistrtc_server::turn::TurnConfig::new(turn_urls(), secret)
            });
        })
        .await
    }

    pub(crate) async fn start_with(tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let clock = Arc::new(TestClock::new());
        let mut config = ServerConfig::new(API_KEY, JWT_SECRET);
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.clock = clock.clone();
        tweak(&mut config);
        let running = within("server start", assistrtc_server::start(config))
            .await
            .expect("server starts");
        let addr = running.local_addr();
        Self {
            running: Some(running),
            clock,
            addr,
            base: format!("http://{addr}"),
            ws_url: format!("ws://{addr}/v1/signal"),
            http: reqwest::Client::new(),
        }
    }

    /// Moves the server's clock forward; whatever falls due fires on its own.
    ///
    /// Only what the server has already processed is scheduled against the old time: wait for
    /// an effect of the last input (a reply, [`Server::wait_offline`]) before advancing.
    pub(crate) fn advance(&self, ms: u64) {
        self.clock.advance(ms);
    }

    /// Where the server answers STUN, when started with `stun_listen`.
    pub(crate) fn stun_addr(&self) -> Option<SocketAddr> {
        self.running.as_ref().and_then(RunningServer::stun_addr)
    }

    /// The server's time in Unix seconds, as tokens carry it.
    pub(crate) fn unix_secs(&self) -> u64 {
        self.clock.now().0 / 1000
    }

    pub(crate) async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            within("server shutdown", running.shutdown())
                .await
                .expect("clean shutdown");
        }
    }

    /// `POST path` with an optional API key and a raw body.
    pub(crate) async fn post(
        &self,
        path: &str,
        key: Option<&str>,
        body: &str,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        let resp = within("POST", req.send()).await.expect("POST is answered");
        let status = resp.status();
        let body = within("POST body", resp.json::<Value>())
            .await
            .unwrap_or(Value::Null);
        (status, body)
    }

    /// `GET path` with an optional API key.
    pub(crate) async fn get(&self, path: &str, key: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        let resp = within("GET", req.send()).await.expect("GET is answered");
        let status = resp.status();
        let body = within("GET body", resp.json::<Value>())
            .await
            .unwrap_or(Value::Null);
        (status, body)
    }

    /// `GET path` with the API key; the status and the body as text.
    pub(crate) async fn get_text(&self, path: &str) -> (StatusCode, String) {
        let req = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(API_KEY);
        let resp = within("GET", req.send()).await.expect("GET is answered");
        let status = resp.status();
        let body = within("GET body", resp.text()).await.unwrap_or_default();
        (status, body)
    }

    /// Creates a room through the API and returns member id → token.
    pub(crate) async fn create_room(
        &self,
        room: &str,
        members: &[(&str, &str)],
        permissions: Value,
    ) -> HashMap<String, String> {
        let members: Vec<Value> = members
            .iter()
            .map(|(id, role)| json!({"id": id, "role": role}))
            .collect();
        let body = json!({"roomId": room, "members": members, "permissions": permissions});
        let (status, body) = self
            .post("/v1/rooms", Some(API_KEY), &body.to_string())
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["members"]
            .as_array()
            .expect("members array")
            .iter()
            .map(|m| {
                (
                    m["id"].as_str().unwrap().to_owned(),
                    m["token"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    pub(crate) async fn connect(&self) -> Client {
        let (ws, _) = within(
            "websocket connect",
            tokio_tungstenite::connect_async(self.ws_url.as_str()),
        )
        .await
        .expect("websocket handshake");
        Client { ws }
    }

    /// Connects and joins; returns the client and its `welcome`.
    pub(crate) async fn join(&self, token: &str, resume_token: Option<&str>) -> (Client, Welcome) {
        let mut client = self.connect().await;
        client
            .send(&ClientMessage::Join {
                token: token.to_owned(),
                resume_token: resume_token.map(str::to_owned),
            })
            .await;
        let welcome = match client.recv().await {
            ServerMessage::Welcome {
                session_id,
                members,
                resume_token,
                resumed,
                ..
            } => Welcome {
                session_id,
                members: members.into_iter().map(|m| m.id.to_string()).collect(),
                resume_token,
                resumed,
            },
            other => panic!("expected welcome, got {other:?}"),
        };
        (client, welcome)
    }

    /// Waits until the hub no longer counts `member` as online (its drop was processed).
    pub(crate) async fn wait_offline(&self, room: &str, member: &str) {
        within("member goes offline", async {
            loop {
                let (status, body) = self.get(&format!("/v1/rooms/{room}"), Some(API_KEY)).await;
                assert_eq!(status, StatusCode::OK, "{body}");
                let online = body["members"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["id"] == member && m["online"] == true);
                if !online {
                    return;
                }
                tokio::task::yield_now().await;
            }
        })
        .await;
    }
}

/// The parts of `welcome` the tests look at.
#[derive(Debug)]
pub(crate) struct Welcome {
    pub(crate) session_id: String,
    pub(crate) members: Vec<String>,
    pub(crate) resume_token: String,
    pub(crate) resumed: bool,
}

pub(crate) struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    pub(crate) async fn send(&mut self, msg: &ClientMessage) {
        self.send_text(&protocol::encode_client(msg)).await;
    }

    pub(crate) async fn send_text(&mut self, text: &str) {
        within("send", self.ws.send(Message::text(text)))
            .await
            .expect("send succeeds");
    }

    pub(crate) async fn send_binary(&mut self, bytes: Vec<u8>) {
        within("send binary", self.ws.send(Message::binary(bytes)))
            .await
            .expect("send succeeds");
    }

    /// The next server frame (skipping WebSocket pings/pongs); panics on close.
    pub(crate) async fn recv(&mut self) -> ServerMessage {
        loop {
            let frame = within("server frame", self.ws.next()).await;
            match frame {
                Some(Ok(Message::Text(text))) => {
                    return protocol::decode_server(text.as_str())
                        .unwrap_or_else(|e| panic!("undecodable server frame {text}: {e}"));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                other => panic!("expected a server frame, got {other:?}"),
            }
        }
    }

    /// Reads until `n` WebSocket pings arrived (answering each, as every WebSocket client
    /// does), failing on any other frame.
    pub(crate) async fn await_pings(&mut self, n: usize) {
        let mut seen = 0;
        while seen < n {
            match within("websocket ping", self.ws.next()).await {
                Some(Ok(Message::Ping(_))) => seen += 1,
                other => panic!("expected a ping, got {other:?}"),
            }
        }
    }

    /// Expects an `error` frame with `code` and returns its `ref`.
    pub(crate) async fn expect_error(&mut self, code: protocol::ErrorCode) -> Option<String> {
        match self.recv().await {
            ServerMessage::Error {
                code: got,
                reference,
                message,
            } => {
                assert_eq!(got, code, "{message}");
                reference
            }
            other => panic!("expected error {code}, got {other:?}"),
        }
    }

    /// Expects a close frame with `code` (skipping pings and pongs) and returns its reason.
    pub(crate) async fn expect_close_code(&mut self, code: u16) -> String {
        loop {
            match within("close frame", self.ws.next()).await {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(Some(frame)))) => {
                    assert_eq!(u16::from(frame.code), code, "{frame:?}");
                    return frame.reason.to_string();
                }
                other => panic!("expected a close frame with {code}, got {other:?}"),
            }
        }
    }

    /// Sends a WebSocket ping frame.
    pub(crate) async fn send_ping(&mut self) {
        within("send ping", self.ws.send(Message::Ping(Default::default())))
            .await
            .expect("send succeeds");
    }

    /// Expects the server to close the connection with no further frames.
    pub(crate) async fn expect_closed(&mut self) {
        loop {
            match within("server close", self.ws.next()).await {
                // Reading on after the close frame sends our reply and sees the end.
                Some(Ok(Message::Close(_) | Message::Ping(_) | Message::Pong(_))) => {}
                None | Some(Err(_)) => return,
                Some(Ok(other)) => panic!("expected close, got {other:?}"),
            }
        }
    }

    /// `ping` → `pong`, proving nothing else was queued for this client before it.
    pub(crate) async fn barrier(&mut self) {
        self.send(&ClientMessage::Ping).await;
        let next = self.recv().await;
        assert_eq!(
            next,
            ServerMessage::Pong,
            "expected nothing before the pong"
        );
    }

    /// Drops the TCP connection without a close handshake (a network drop).
    pub(crate) fn drop_connection(self) {
        drop(self.ws);
    }
}

/// A token signed with the test secret, for cases the API would never issue.
/// A token signed with the server's secret for the room creation `epoch`.
pub(crate) fn mint(room: &str, epoch: &str, member: &str, role: Role, exp: u64) -> String {
    jwt::issue(
        JWT_SECRET.as_bytes(),
        &Claims {
            room: RoomId::new(room).unwrap(),
            sub: MemberId::new(member).unwrap(),
            role,
            epoch: epoch.to_owned(),
            iat: exp.saturating_sub(600),
            exp,
            jti: None,
        },
    )
}

/// An HTTP answer read off a raw socket.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    /// Header lines, names lower-cased.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Value,
}

impl RawResponse {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Opens a TCP connection to `addr` and writes `bytes` (maybe a partial request).
pub(crate) async fn raw_connect(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut tcp = within("tcp connect", TcpStream::connect(addr))
        .await
        .expect("connects");
    if !bytes.is_empty() {
        within("tcp write", tcp.write_all(bytes))
            .await
            .expect("writes");
    }
    tcp
}

/// Reads one response (head and a `content-length` body) from `tcp`.
pub(crate) async fn read_response(tcp: &mut TcpStream) -> RawResponse {
    within("HTTP response", async {
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = tcp.read(&mut chunk).await.expect("reads");
            assert!(
                n > 0,
                "closed before a response: {:?}",
                String::from_utf8_lossy(&buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8(buf[..head_end].to_vec()).expect("UTF-8 head");
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.trim().to_ascii_lowercase(), v.trim().to_owned())
            })
            .collect();
        let len: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map_or(0, |(_, v)| v.parse().unwrap());
        let mut body = buf[head_end..].to_vec();
        while body.len() < len {
            let mut chunk = [0u8; 4096];
            let n = tcp.read(&mut chunk).await.expect("reads");
            assert!(n > 0, "closed inside the body");
            body.extend_from_slice(&chunk[..n]);
        }
        RawResponse {
            status,
            headers,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        }
    })
    .await
}

/// Waits until the server closes `tcp` (reading and discarding whatever it still sends).
pub(crate) async fn expect_eof(tcp: &mut TcpStream, what: &str) {
    within(what, async {
        let mut sink = [0u8; 4096];
        loop {
            match tcp.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
}
