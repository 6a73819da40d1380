//! AssistRTC reference server: WebSocket signaling relay and REST room API.
//!
//! - [`clock`]: the time the server runs on; tests inject a virtual one.
//! - [`jwt`]: HS256 join tokens.
//! - [`store`]: room definitions behind the [`store::RoomStore`] trait (in memory for now).
//! - [`hub`]: rooms, seats and relay as a sans-IO state machine, like the core.
//! - `signal` (private): the tokio driver, one task owning the hub.
//! - `rest` (private): the HTTP routes.
//! - `guard` (private): authentication before bodies, body limits, security headers.
//! - `transport` (private): the accept loop with connection caps and timeouts.
//! - `recording` (private): local recording uploads (resumable, checksummed chunks under
//!   `--data-dir`), signed playback URLs, the access audit; limits in [`RecordingLimits`].
//! - `preflight` (private): the preflight token and probe routes.
//! - [`probe`]: the network probe's far end, a webrtc-rs peer per bandwidth test; bounds in
//!   [`ProbeLimits`].
//! - [`turn`]: time-limited TURN credentials for coturn's shared-secret scheme.
//! - [`cli`]: the `assistrtc-server` command line.
//!
//! Start a server in-process (tests, benches, the demo):
//!
//! ```no_run
//! # async fn demo() -> Result<(), assistrtc_server::ServerError> {
//! use assistrtc_server::{ServerConfig, start};
//!
//! let mut config = ServerConfig::new("api-key", "jwt-secret");
//! config.listen = "127.0.0.1:0".parse().unwrap();
//! let server = start(config).await?;
//! println!("listening on http://{}", server.local_addr());
//! server.shutdown().await?;
//! # Ok(())
//! # }
//! ```

pub mod cli;
pub mod clock;
mod guard;
pub mod hub;
pub mod jwt;
mod metrics;
mod preflight;
pub mod probe;
mod recording;
mod rest;
mod signal;
pub mod store;
mod stun;
mod transport;
pub mod turn;

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use assistrtc_core::protocol::IceServer;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::clock::{Clock, SystemClock};
pub use crate::guard::MAX_REST_BODY;
pub use crate::hub::RateLimit;
use crate::hub::{DEFAULT_JOIN_TIMEOUT_MS, DEFAULT_MAX_BUFFERED_FRAMES, Hub, HubConfig};
pub use crate::probe::ProbeLimits;
pub use crate::recording::{DEFAULT_MAX_CHUNK_BYTES, DEFAULT_PLAYBACK_TTL_SECS, RecordingLimits};
pub use crate::rest::{DEMO_GUEST, DEMO_HOST, MAX_MEMBERS, WS_MAX_MESSAGE};
use crate::store::{MemoryRoomStore, RoomStore, SqliteRoomStore, StoreError};
pub use crate::transport::raise_fd_limit;
use crate::turn::{TurnConfig, TurnConfigError};

/// API key used by `--demo` when none is given. Public: never use it outside a local demo.
pub const DEMO_API_KEY: &str = "assistrtc-demo-api-key";
/// JWT secret used by `--demo` when none is given. Public: never use it outside a local demo.
pub const DEMO_JWT_SECRET: &str = "assistrtc-demo-jwt-secret-not-for-production";
/// Default listen address.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
/// Default cap on rooms per API key: far above one server's calls, low enough that a leaked
/// key cannot fill the memory.
pub const DEFAULT_MAX_ROOMS: usize = 10_000;
/// Default lifetime of issued join tokens.
pub const DEFAULT_TOKEN_TTL_SECS: u64 = 600;
/// Default cap on open connections (HTTP and WebSocket together).
pub const DEFAULT_MAX_CONNECTIONS: usize = 8192;
/// Default cap on open connections from one client address (an IPv6 client is its /64).
/// Generous: a whole support centre may share one NAT address.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 256;
/// Default time a client has to send a request head, and to start its next request on a
/// kept-alive connection.
pub const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// Default time a client has to send a whole REST request body.
pub const DEFAULT_BODY_TIMEOUT_MS: u64 = 10_000;

/// Events queued for the hub task before connection tasks wait (backpressure).
const EVENT_QUEUE: usize = 4096;
/// Longest [`RunningServer::shutdown`] waits for each part to stop.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything a server needs to start.
#[derive(Clone)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port (see [`RunningServer::local_addr`]).
    pub listen: SocketAddr,
    /// Key for the REST API (`Authorization: Bearer <key>`).
    pub api_key: String,
    /// HMAC secret join tokens are signed with.
    pub jwt_secret: String,
    /// Directory for persistent state, created if missing: rooms are kept in
    /// `assistrtc.sqlite3` there, so a restart loses no room and their tokens stay valid.
    /// Without it, rooms are kept in memory. Local recording uploads are kept here too
    /// (`recordings/<id>/`, indexed in the same file); without it they are refused with
    /// `404 recordings_disabled`.
    pub data_dir: Option<PathBuf>,
    /// Bounds on local recording uploads.
    pub recording: RecordingLimits,
    /// Demo mode: adds the unauthenticated `POST /v1/demo/rooms`.
    pub demo: bool,
    /// Lifetime of issued join tokens, in seconds; a room is removed once it has passed and
    /// the room is empty.
    pub token_ttl_secs: u64,
    /// How long a dropped member's seat is held for a resume, in milliseconds.
    pub resume_grace_ms: u64,
    /// Most rooms the API key may have at once (rooms created by the demo route count too);
    /// a room counts until its tokens have expired and it is empty.
    pub max_rooms: usize,
    /// Longest a member's session lasts from its join, in seconds: a resume after it is
    /// refused and the client joins again with a fresh token from
    /// `POST /v1/rooms/{id}/tokens`. A live connection is not cut.
    pub session_lifetime_secs: u64,
    /// How long a new WebSocket may take to send `join`, in milliseconds.
    pub join_timeout_ms: u64,
    /// Silence after which a joined WebSocket is dropped and its seat held, in milliseconds.
    /// The server also sends WebSocket pings every third of it, which browsers answer without
    /// running page code, so a tab whose timers are throttled (hidden for long) stays online.
    pub idle_timeout_ms: u64,
    /// ICE servers announced to clients in `welcome`.
    pub ice_servers: Vec<IceServer>,
    /// Where to answer STUN Binding requests (UDP); the server then announces itself as a
    /// STUN server in `welcome` (at the bound address, or at the HTTP listener's host when
    /// bound to an unspecified address such as 0.0.0.0).
    pub stun_listen: Option<SocketAddr>,
    /// TURN servers sharing a secret with this server: each member's `welcome` then carries
    /// one more ICE server entry with these URLs and credentials of its own, issued on
    /// [`ServerConfig::clock`] (see [`turn`]).
    pub turn: Option<TurnConfig>,
    /// Per-connection frame rate limit.
    pub rate_limit: RateLimit,
    /// Frames buffered for a held seat before the oldest are dropped.
    pub max_buffered_frames: usize,
    /// A source checkout whose demo pages (`examples/`), built browser SDK
    /// (`packages-npm/dist`) and benchmark pages (`bench/pages`) are served at `/agent/`,
    /// `/customer/`, `/sdk/` and `/bench/`.
    pub web_root: Option<PathBuf>,
    /// The time the server runs on: hub timers, WebSocket pings, token issue and expiry.
    /// [`SystemClock`] by default; tests pass one they advance themselves.
    pub clock: Arc<dyn Clock>,
    /// Most open connections, HTTP and WebSocket together; more are answered `503` and
    /// closed. Lowered at start if the open-files limit cannot hold it.
    pub max_connections: usize,
    /// Most open connections from one client address (an IPv6 client is its /64).
    pub max_connections_per_ip: usize,
    /// How long a client may take to send a request head, in milliseconds; also how long a
    /// kept-alive connection may sit idle. Real time, not [`ServerConfig::clock`]: it guards
    /// sockets, not sessions.
    pub header_read_timeout_ms: u64,
    /// How long a client may take to send a whole REST request body, in milliseconds (real
    /// time, like the header timeout).
    pub body_timeout_ms: u64,
    /// Bounds on network probes (`POST /v1/preflight/probe`) and the lifetime of preflight
    /// tokens. Probe sessions use [`ServerConfig::ice_servers`] and bind UDP on the host of
    /// [`ServerConfig::listen`].
    pub probe: ProbeLimits,
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("api_key", &"<redacted>")
            .field("jwt_secret", &"<redacted>")
            .field("data_dir", &self.data_dir)
            .field("recording", &self.recording)
            .field("demo", &self.demo)
            .field("token_ttl_secs", &self.token_ttl_secs)
            .field("resume_grace_ms", &self.resume_grace_ms)
            .field("max_rooms", &self.max_rooms)
            .field("session_lifetime_secs", &self.session_lifetime_secs)
            .field("join_timeout_ms", &self.join_timeout_ms)
            .field("idle_timeout_ms", &self.idle_timeout_ms)
            .field("ice_servers", &self.ice_servers)
            .field("stun_listen", &self.stun_listen)
            .field("turn", &self.turn)
            .field("rate_limit", &self.rate_limit)
            .field("max_buffered_frames", &self.max_buffered_frames)
            .field("web_root", &self.web_root)
            .field("max_connections", &self.max_connections)
            .field("max_connections_per_ip", &self.max_connections_per_ip)
            .field("header_read_timeout_ms", &self.header_read_timeout_ms)
            .field("body_timeout_ms", &self.body_timeout_ms)
            .field("probe", &self.probe)
            .finish_non_exhaustive()
    }
}

impl ServerConfig {
    /// Defaults for everything but the secrets.
    pub fn new(api_key: impl Into<String>, jwt_secret: impl Into<String>) -> Self {
        Self {
            listen: DEFAULT_LISTEN,
            api_key: api_key.into(),
            jwt_secret: jwt_secret.into(),
            data_dir: None,
            recording: RecordingLimits::default(),
            demo: false,
            token_ttl_secs: DEFAULT_TOKEN_TTL_SECS,
            resume_grace_ms: hub::DEFAULT_RESUME_GRACE_MS,
            session_lifetime_secs: hub::DEFAULT_SESSION_LIFETIME_MS / 1000,
            max_rooms: DEFAULT_MAX_ROOMS,
            join_timeout_ms: DEFAULT_JOIN_TIMEOUT_MS,
            idle_timeout_ms: hub::DEFAULT_IDLE_TIMEOUT_MS,
            ice_servers: Vec::new(),
            stun_listen: None,
            turn: None,
            rate_limit: RateLimit::default(),
            max_buffered_frames: DEFAULT_MAX_BUFFERED_FRAMES,
            web_root: None,
            clock: Arc::new(SystemClock::new()),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            header_read_timeout_ms: DEFAULT_HEADER_READ_TIMEOUT_MS,
            body_timeout_ms: DEFAULT_BODY_TIMEOUT_MS,
            probe: ProbeLimits::default(),
        }
    }

    /// Demo mode with the fixed, public [`DEMO_API_KEY`] and [`DEMO_JWT_SECRET`].
    pub fn demo() -> Self {
        Self {
            demo: true,
            ..Self::new(DEMO_API_KEY, DEMO_JWT_SECRET)
        }
    }
}

/// Why the server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The API key or JWT secret is empty.
    #[error("the {0} must not be empty")]
    EmptySecret(&'static str),
    /// A connection cap or timeout is zero, which would refuse every client.
    #[error("the {0} must not be zero")]
    ZeroLimit(&'static str),
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The IO error.
        source: io::Error,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The IO error.
        source: io::Error,
    },
    /// A server task failed.
    #[error("server task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// A server task did not stop within the shutdown timeout and was aborted.
    #[error("the {0} did not stop within {SHUTDOWN_TIMEOUT:?}")]
    ShutdownTimeout(&'static str),
    /// The TURN configuration is unusable.
    #[error(transparent)]
    Turn(#[from] TurnConfigError),
    /// The room store under `--data-dir` could not be opened or read.
    #[error(transparent)]
    Store(StoreError),
}

/// A started server. Dropping it also stops the server (without waiting).
#[derive(Debug)]
pub struct RunningServer {
    local_addr: SocketAddr,
    stun_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    http: JoinHandle<()>,
    hub: JoinHandle<()>,
}

impl RunningServer {
    /// The bound address (the real port when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The bound STUN address, when `stun_listen` was set.
    pub fn stun_addr(&self) -> Option<SocketAddr> {
        self.stun_addr
    }

    /// Stops accepting, closes every WebSocket (status 1001, going away), gives HTTP requests
    /// in flight a short grace period (then drops them), and returns once everything has
    /// stopped.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        let _ = self.shutdown.send(true);
        wait_task(self.http, "HTTP server").await?;
        wait_task(self.hub, "signaling hub").await?;
        tracing::info!("server stopped");
        Ok(())
    }
}

async fn wait_task<T>(mut task: JoinHandle<T>, name: &'static str) -> Result<T, ServerError> {
    match tokio::time::timeout(SHUTDOWN_TIMEOUT, &mut task).await {
        Ok(result) => Ok(result?),
        Err(_) => {
            task.abort();
            Err(ServerError::ShutdownTimeout(name))
        }
    }
}

/// Binds the listener and starts serving in background tasks on the current tokio runtime.
///
/// When this returns the socket is bound and accepting.
pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
    let store: Arc<dyn RoomStore> = match &config.data_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| ServerError::DataDir {
                path: dir.clone(),
                source,
            })?;
            let path = dir.join(STATE_FILE);
            let opened = tokio::task::spawn_blocking(move || SqliteRoomStore::open(&path)).await;
            match opened {
                Ok(Ok(store)) => Arc::new(store),
                Ok(Err(e)) => return Err(ServerError::Store(e)),
                Err(e) => return Err(ServerError::Store(StoreError::Storage(e.to_string()))),
            }
        }
        None => Arc::new(MemoryRoomStore::new()),
    };
    start_with_store(config, store).await
}

/// The state file under `--data-dir`.
pub const STATE_FILE: &str = "assistrtc.sqlite3";

/// [`start`] with a given room store.
pub async fn start_with_store(
    config: ServerConfig,
    store: Arc<dyn RoomStore>,
) -> Result<RunningServer, ServerError> {
    if config.api_key.is_empty() {
        return Err(ServerError::EmptySecret("API key"));
    }
    if config.jwt_secret.is_empty() {
        return Err(ServerError::EmptySecret("JWT secret"));
    }
    if config.max_connections == 0 || config.max_connections_per_ip == 0 {
        return Err(ServerError::ZeroLimit("connection cap"));
    }
    if config.header_read_timeout_ms == 0 || config.body_timeout_ms == 0 {
        return Err(ServerError::ZeroLimit("header or body timeout"));
    }
    let r = &config.recording;
    if r.max_chunk_bytes == 0
        || r.max_chunks == 0
        || r.max_recording_bytes == 0
        || r.max_metadata_bytes == 0
        || r.max_per_room == 0
        || r.max_playback_ttl_secs == 0
    {
        return Err(ServerError::ZeroLimit("recording limit"));
    }
    let p = &config.probe;
    if p.max_sessions == 0
        || p.max_per_ip == 0
        || p.max_duration_ms == 0
        || p.max_bytes == 0
        || p.token_ttl_secs == 0
    {
        return Err(ServerError::ZeroLimit("probe limit"));
    }
    if let Some(turn) = &config.turn {
        turn.validate()?;
    }
    if let Some(path) = &config.data_dir {
        std::fs::create_dir_all(path).map_err(|source| ServerError::DataDir {
            path: path.clone(),
            source,
        })?;
    }
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.listen,
        source,
    })?;

    let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);

    let mut ice_servers = config.ice_servers.clone();
    let stun_addr = match config.stun_listen {
        Some(addr) => {
            let socket = tokio::net::UdpSocket::bind(addr)
                .await
                .map_err(|source| ServerError::Bind { addr, source })?;
            let bound = socket
                .local_addr()
                .map_err(|source| ServerError::Bind { addr, source })?;
            let host = if bound.ip().is_unspecified() {
                local_addr.ip()
            } else {
                bound.ip()
            };
            if host.is_unspecified() {
                tracing::warn!(
                    "STUN answers on {bound}, but its public address is unknown: announce it \
                     with --ice-server stun:<host>:{}",
                    bound.port()
                );
            } else {
                ice_servers.insert(
                    0,
                    IceServer {
                        urls: vec![format!("stun:{}", SocketAddr::new(host, bound.port()))],
                        username: None,
                        credential: None,
                    },
                );
            }
            tokio::spawn(stun::serve(socket, shutdown_rx.clone()));
            Some(bound)
        }
        None => None,
    };

    let probes = probe::Probes::new(
        config.probe,
        ice_servers.clone(),
        config.turn.clone(),
        local_addr.ip(),
        shutdown_rx.clone(),
    );
    let mut hub = Hub::new(HubConfig {
        jwt_secret: config.jwt_secret.as_bytes().to_vec(),
        resume_grace_ms: config.resume_grace_ms,
        join_timeout_ms: config.join_timeout_ms,
        session_lifetime_ms: config.session_lifetime_secs.saturating_mul(1000),
        idle_timeout_ms: config.idle_timeout_ms,
        ice_servers,
        turn: config.turn.clone(),
        rate_limit: config.rate_limit,
        max_buffered_frames: config.max_buffered_frames,
        max_unjoined: hub::DEFAULT_MAX_UNJOINED,
    });
    // Rooms kept from before a restart: their tokens (same epoch) join as before.
    let kept = {
        let store = Arc::clone(&store);
        tokio::task::spawn_blocking(move || store.rooms())
            .await
            .map_err(|e| ServerError::Store(StoreError::Storage(e.to_string())))?
            .map_err(ServerError::Store)?
    };
    if !kept.is_empty() {
        tracing::info!(rooms = kept.len(), "rooms restored from the store");
    }
    for def in kept {
        hub.add_room(def);
    }
    let metrics = Arc::new(metrics::Metrics::default());
    let hub = tokio::spawn(signal::run_hub(
        hub,
        events_rx,
        Arc::clone(&config.clock),
        Arc::clone(&store),
        Arc::clone(&metrics),
        shutdown_rx.clone(),
    ));

    let recordings = match (&config.data_dir, store.recordings().is_some()) {
        (Some(dir), true) => {
            let files = recording::RecordingFiles::new(dir);
            let cleaned = files.clone();
            tokio::task::spawn_blocking(move || recording::clean_partials(&cleaned)).await?;
            Some(recording::Recordings {
                files,
                limits: config.recording,
                signer: recording::PlaybackSigner::new(config.jwt_secret.as_bytes()),
                body_timeout: Duration::from_millis(config.body_timeout_ms),
            })
        }
        (Some(_), false) => {
            tracing::warn!("the room store keeps no recording index: recordings are refused");
            None
        }
        (None, _) => None,
    };
    let api_key: Arc<str> = config.api_key.as_str().into();
    let state = rest::AppState::new(rest::Shared {
        api_key: config.api_key,
        jwt_secret: config.jwt_secret.into_bytes(),
        token_ttl_secs: config.token_ttl_secs,
        max_rooms: config.max_rooms,
        store,
        events: events_tx,
        next_conn: AtomicU64::new(1),
        ping_every_ms: (config.idle_timeout_ms / 3).max(1),
        control_rate: config.rate_limit,
        demo_rooms: std::sync::Mutex::new(hub::TokenBucket::full(
            rest::DEMO_ROOM_RATE,
            config.clock.now(),
        )),
        clock: config.clock,
        metrics: Arc::clone(&metrics),
        queued_total: Arc::default(),
        recordings,
        probes,
        body_timeout: Duration::from_millis(config.body_timeout_ms),
    });
    let guard = guard::ApiGuard {
        api_key: Arc::clone(&api_key),
        body_timeout: Duration::from_millis(config.body_timeout_ms),
    };
    let app = rest::router(state, config.demo, config.web_root.as_deref())
        .layer(axum::middleware::from_fn_with_state(
            guard,
            guard::api_request,
        ))
        .layer(axum::middleware::from_fn(guard::security_headers));
    let limits = transport::Limits {
        max_connections: config.max_connections,
        max_connections_per_ip: config.max_connections_per_ip,
        header_read_timeout: Duration::from_millis(config.header_read_timeout_ms),
    };
    let http = tokio::spawn(transport::serve(
        listener,
        app,
        limits,
        metrics,
        shutdown_rx,
    ));
    if let Some(turn) = &config.turn {
        // The URLs and lifetime only: never the secret or a credential.
        tracing::info!(urls = ?turn.urls, ttl_secs = turn.ttl_secs, "issuing TURN credentials");
    }
    tracing::info!(%local_addr, demo = config.demo, "server started");
    Ok(RunningServer {
        local_addr,
        stun_addr,
        shutdown: shutdown_tx,
        http,
        hub,
    })
}
