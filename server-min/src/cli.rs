//! The `assistrtc-server` command line.

use std::io::{self, IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use assistrtc_core::protocol::IceServer;
use clap::Parser;

use crate::turn::{
    DEFAULT_TURN_TTL_SECS, MAX_TURN_TTL_SECS, MIN_TURN_TTL_SECS, TurnConfig, TurnConfigError,
};
use crate::{
    DEFAULT_BODY_TIMEOUT_MS, DEFAULT_HEADER_READ_TIMEOUT_MS, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_CONNECTIONS_PER_IP, DEFAULT_TOKEN_TTL_SECS, DEMO_API_KEY, DEMO_JWT_SECRET,
    ServerConfig, ServerError, hub::DEFAULT_RESUME_GRACE_MS, raise_fd_limit, start,
};

/// AssistRTC reference server: WebSocket signaling at /v1/signal and the room API at /v1/rooms.
#[derive(Debug, Parser)]
#[command(name = "assistrtc-server", version)]
pub struct Args {
    /// Address to listen on (IP:PORT; port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// API key for the REST API (`Authorization: Bearer <key>`). Required unless --demo.
    #[arg(long, env = "ASSISTRTC_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// Secret that signs join tokens (HS256). Required unless --demo.
    #[arg(long, env = "ASSISTRTC_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Directory for server state, created if missing: rooms (SQLite) and local recording
    /// uploads. Without it rooms are kept in memory and recordings are refused.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Largest chunk of a recording upload, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = crate::DEFAULT_MAX_CHUNK_BYTES)]
    pub recording_max_chunk_bytes: u64,

    /// Largest recording upload, all chunks together, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = crate::RecordingLimits::default().max_recording_bytes)]
    pub recording_max_bytes: u64,

    /// Local demo mode: fixed, publicly known dev secrets (unless given) and an
    /// unauthenticated POST /v1/demo/rooms. Never expose a demo server.
    #[arg(long)]
    pub demo: bool,

    /// Lifetime of issued join tokens, in seconds; a room is removed once it has passed and
    /// the room is empty.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_TOKEN_TTL_SECS)]
    pub token_ttl_secs: u64,

    /// How long a dropped member's seat is held for a resume, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_RESUME_GRACE_MS)]
    pub resume_grace_ms: u64,

    /// Most rooms the API key may have at once (the demo route's count too); a room counts
    /// until its tokens have expired and it is empty. More get 429 `rate_limited`.
    #[arg(long, value_name = "N", default_value_t = crate::DEFAULT_MAX_ROOMS)]
    pub max_rooms: usize,

    /// Longest a member's session lasts from its join, in seconds (default 12 h). A resume
    /// after it is refused (`token_expired`) and the client must join again with a fresh
    /// token, which POST /v1/rooms/{id}/tokens issues; a live connection is not cut.
    #[arg(long, value_name = "SECS", default_value_t = crate::hub::DEFAULT_SESSION_LIFETIME_MS / 1000)]
    pub session_lifetime_secs: u64,

    /// Silence after which a joined WebSocket counts as dropped and its seat is held for a
    /// resume (clients ping every 10 s; the server pings every third of this).
    #[arg(long, value_name = "MS", default_value_t = crate::hub::DEFAULT_IDLE_TIMEOUT_MS)]
    pub idle_timeout_ms: u64,

    /// A STUN/TURN server URL announced to clients (stun:, turn: or turns:); repeatable.
    /// TURN URLs need --ice-username and --ice-credential, shared by everyone: prefer
    /// --turn-url with --turn-secret, which gives each member credentials of its own.
    #[arg(long = "ice-server", value_name = "URL")]
    pub ice_servers: Vec<String>,

    /// Answer STUN Binding requests on this UDP address (e.g. 0.0.0.0:3478) and announce this
    /// server as a STUN server to clients.
    #[arg(long, value_name = "ADDR")]
    pub stun_listen: Option<SocketAddr>,

    /// Username for the TURN servers among --ice-server.
    #[arg(long, env = "ASSISTRTC_ICE_USERNAME", value_name = "NAME")]
    pub ice_username: Option<String>,

    /// Credential for the TURN servers among --ice-server.
    #[arg(
        long,
        env = "ASSISTRTC_ICE_CREDENTIAL",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub ice_credential: Option<String>,

    /// A TURN server URL that accepts credentials made with --turn-secret (coturn's
    /// use-auth-secret), e.g. turn:turn.example:3478?transport=udp, turns:turn.example:5349;
    /// repeatable. Each member's welcome carries one entry with all of them and credentials
    /// issued for that member (username `<unix expiry>:<member id>`).
    #[arg(long = "turn-url", value_name = "URL")]
    pub turn_urls: Vec<String>,

    /// Secret shared with the TURN server (coturn's static-auth-secret); needed by --turn-url.
    #[arg(
        long,
        env = "ASSISTRTC_TURN_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub turn_secret: Option<String>,

    /// Lifetime of the TURN credentials in each welcome, in seconds (60 to 86400).
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_TURN_TTL_SECS)]
    pub turn_ttl_secs: u64,

    /// Serve the demo pages, browser SDK and benchmark pages from this source checkout
    /// (`examples/`, `packages-npm/dist`, `bench/pages`) at /agent/, /customer/, /sdk/ and /bench/.
    #[arg(long, value_name = "DIR")]
    pub web_root: Option<PathBuf>,

    /// Most open connections (HTTP and WebSocket together); more are answered 503 and closed.
    /// Lowered at start if the open-files limit cannot hold it.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,

    /// Most open connections from one client address (an IPv6 client is its /64); more are
    /// answered 503 and closed. Clients behind one NAT share it, and behind a reverse proxy
    /// every client has the proxy's address: raise it there.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CONNECTIONS_PER_IP)]
    pub max_connections_per_ip: usize,

    /// How long a client may take to send a request's headers, and how long a kept-alive
    /// HTTP connection may sit idle, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_HEADER_READ_TIMEOUT_MS)]
    pub header_read_timeout_ms: u64,

    /// How long a client may take to send a whole REST request body, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_BODY_TIMEOUT_MS)]
    pub body_timeout_ms: u64,
}

/// Why the command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// No API key without `--demo`.
    #[error(
        "missing API key: pass --api-key or set ASSISTRTC_API_KEY (or use --demo for a local demo)"
    )]
    MissingApiKey,
    /// No JWT secret without `--demo`.
    #[error(
        "missing JWT secret: pass --jwt-secret or set ASSISTRTC_JWT_SECRET (or use --demo for a local demo)"
    )]
    MissingJwtSecret,
    /// An `--ice-server` URL has an unknown scheme.
    #[error("invalid --ice-server {0:?}: expected a stun:, turn: or turns: URL")]
    InvalidIceServer(String),
    /// A TURN URL without `--ice-username` and `--ice-credential`: browsers refuse it.
    #[error("--ice-server {0:?} is a TURN server: pass --ice-username and --ice-credential")]
    TurnWithoutCredentials(String),
    /// `--turn-url` without a shared secret: coturn would refuse every credential.
    #[error(
        "--turn-url needs the TURN shared secret: pass --turn-secret or set ASSISTRTC_TURN_SECRET"
    )]
    TurnUrlWithoutSecret,
    /// A TURN secret without `--turn-url`: nothing would be announced.
    #[error(
        "a TURN secret is set (--turn-secret or ASSISTRTC_TURN_SECRET) but no --turn-url names the TURN server"
    )]
    TurnSecretWithoutUrl,
    /// A `--turn-url` that is not a `turn:` or `turns:` URL.
    #[error(
        "invalid --turn-url {0:?}: expected turn:HOST[:PORT][?transport=udp|tcp] or turns:HOST[:PORT]"
    )]
    InvalidTurnUrl(String),
    /// `--turn-ttl-secs` out of its bounds.
    #[error("--turn-ttl-secs {0} is out of range ({MIN_TURN_TTL_SECS} to {MAX_TURN_TTL_SECS})")]
    TurnTtlOutOfRange(u64),
    /// The server failed.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The runtime, stdout or signal handling failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl CliError {
    /// 2 for configuration mistakes, 1 for failures at run time.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::MissingApiKey
            | Self::MissingJwtSecret
            | Self::InvalidIceServer(_)
            | Self::TurnWithoutCredentials(_)
            | Self::TurnUrlWithoutSecret
            | Self::TurnSecretWithoutUrl
            | Self::InvalidTurnUrl(_)
            | Self::TurnTtlOutOfRange(_) => ExitCode::from(2),
            _ => ExitCode::FAILURE,
        }
    }
}

impl Args {
    /// The server configuration these arguments describe.
    pub fn into_config(self) -> Result<ServerConfig, CliError> {
        let (api_key, jwt_secret) = if self.demo {
            (
                self.api_key.unwrap_or_else(|| DEMO_API_KEY.into()),
                self.jwt_secret.unwrap_or_else(|| DEMO_JWT_SECRET.into()),
            )
        } else {
            (
                self.api_key
                    .filter(|k| !k.is_empty())
                    .ok_or(CliError::MissingApiKey)?,
                self.jwt_secret
                    .filter(|s| !s.is_empty())
                    .ok_or(CliError::MissingJwtSecret)?,
            )
        };
        let credentials = self.ice_username.zip(self.ice_credential);
        let ice_servers = self
            .ice_servers
            .into_iter()
            .map(|url| {
                if url.starts_with("stun:") {
                    Ok(IceServer {
                        urls: vec![url],
                        username: None,
                        credential: None,
                    })
                } else if url.starts_with("turn:") || url.starts_with("turns:") {
                    let Some((username, credential)) = credentials.clone() else {
                        return Err(CliError::TurnWithoutCredentials(url));
                    };
                    Ok(IceServer {
                        urls: vec![url],
                        username: Some(username),
                        credential: Some(credential),
                    })
                } else {
                    Err(CliError::InvalidIceServer(url))
                }
            })
            .collect::<Result<_, _>>()?;
        let turn = match (self.turn_urls, self.turn_secret.filter(|s| !s.is_empty())) {
            (urls, None) if urls.is_empty() => None,
            (_, None) => return Err(CliError::TurnUrlWithoutSecret),
            (urls, Some(_)) if urls.is_empty() => return Err(CliError::TurnSecretWithoutUrl),
            (urls, Some(secret)) => {
                let turn = TurnConfig {
                    urls,
                    secret,
                    ttl_secs: self.turn_ttl_secs,
                };
                turn.validate().map_err(|e| match e {
                    TurnConfigError::NoUrls => CliError::TurnSecretWithoutUrl,
                    TurnConfigError::EmptySecret => CliError::TurnUrlWithoutSecret,
                    TurnConfigError::InvalidUrl(url) => CliError::InvalidTurnUrl(url),
                    TurnConfigError::TtlOutOfRange(ttl) => CliError::TurnTtlOutOfRange(ttl),
                })?;
                Some(turn)
            }
        };
        let mut config = ServerConfig::new(api_key, jwt_secret);
        config.listen = self.listen;
        config.data_dir = self.data_dir;
        config.recording.max_chunk_bytes = self.recording_max_chunk_bytes;
        config.recording.max_recording_bytes = self.recording_max_bytes;
        config.demo = self.demo;
        config.token_ttl_secs = self.token_ttl_secs;
        config.resume_grace_ms = self.resume_grace_ms;
        config.session_lifetime_secs = self.session_lifetime_secs;
        config.max_rooms = self.max_rooms;
        config.idle_timeout_ms = self.idle_timeout_ms;
        config.ice_servers = ice_servers;
        config.stun_listen = self.stun_listen;
        config.turn = turn;
        config.web_root = self.web_root;
        config.max_connections = self.max_connections;
        config.max_connections_per_ip = self.max_connections_per_ip;
        config.header_read_timeout_ms = self.header_read_timeout_ms;
        config.body_timeout_ms = self.body_timeout_ms;
        Ok(config)
    }
}

/// Parses arguments, sets up logging to stderr, runs until SIGINT/SIGTERM.
pub fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::from)
        .and_then(|runtime| runtime.block_on(run(args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

/// Runs the server described by `args` until SIGINT/SIGTERM.
pub async fn run(args: Args) -> Result<(), CliError> {
    let demo = args.demo;
    let config = args.into_config()?;
    if demo {
        warn_demo(&config);
    }
    let pages = config.web_root.is_some();
    // Every connection is a file descriptor: a soft limit of 256 or 1024 would make accept
    // fail for everyone long before the connection caps refuse anyone.
    match raise_fd_limit() {
        Ok(limit) => tracing::debug!(?limit, "open-files limit"),
        Err(e) => tracing::warn!("cannot raise the open-files limit: {e}"),
    }
    // Handlers first: once the line below is printed, SIGTERM means a graceful stop.
    let signal = ShutdownSignal::install()?;
    let server = start(config).await?;
    {
        let mut stdout = io::stdout().lock();
        writeln!(stdout, "listening on http://{}", server.local_addr())?;
        stdout.flush()?;
    }
    if pages {
        // stderr: stdout carries exactly the one `listening on` line scripts wait for.
        eprintln!("{}", demo_pages(&format!("http://{}", server.local_addr())));
    }
    let signalled = signal.wait().await;
    tracing::info!("shutting down");
    let stopped = server.shutdown().await;
    signalled?;
    Ok(stopped?)
}

/// Where the demo pages are. The customer link carries its token in the fragment (`#token=`),
/// which browsers never send to a server, so it stays out of access logs and `Referer`.
fn demo_pages(base: &str) -> String {
    format!(
        "agent console:  {base}/agent/\ncustomer page:  {base}/customer/#token=… (the agent console shows the link)"
    )
}

fn warn_demo(config: &ServerConfig) {
    let key_note = if config.api_key == DEMO_API_KEY {
        format!("API key: {DEMO_API_KEY}")
    } else {
        "API key: (as given)".to_owned()
    };
    eprintln!(
        "\n\
         ###########################################################################\n\
         #  WARNING: DEMO MODE - NOT FOR PRODUCTION                                #\n\
         #  Fixed, publicly known dev secrets; POST /v1/demo/rooms needs no auth.  #\n\
         #  Anyone who can reach this server can create rooms and mint tokens.     #\n\
         ###########################################################################\n\
         {key_note}\n"
    );
}

/// SIGINT or SIGTERM, registered up front.
struct ShutdownSignal {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    fn install() -> io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    async fn wait(mut self) -> io::Result<()> {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => {}
                _ = self.int.recv() => {}
            }
            Ok(())
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &[&str]) -> Result<ServerConfig, CliError> {
        let args = ["assistrtc-server", "--demo"].iter().chain(extra);
        Args::try_parse_from(args)
            .expect("arguments parse")
            .into_config()
    }

    #[test]
    fn the_demo_customer_link_keeps_the_token_in_the_fragment() {
        let pages = demo_pages("http://127.0.0.1:8080");
        assert!(
            pages.contains("http://127.0.0.1:8080/customer/#token="),
            "{pages}"
        );
        assert!(!pages.contains("?token="), "{pages}");
    }

    #[test]
    fn the_session_lifetime_is_in_the_help_and_configurable() {
        use clap::CommandFactory as _;

        let help = Args::command().render_long_help().to_string();
        assert!(help.contains("--session-lifetime-secs"), "{help}");
        assert!(help.contains("[default: 43200]"), "{help}");
        assert!(help.contains("/v1/rooms/{id}/tokens"), "{help}");
        assert_eq!(config(&[]).unwrap().session_lifetime_secs, 12 * 3600);
        let c = config(&["--session-lifetime-secs", "60"]).unwrap();
        assert_eq!(c.session_lifetime_secs, 60);
    }

    #[test]
    fn turn_servers_carry_credentials_and_need_them() {
        let err = config(&["--ice-server", "turn:turn.example:3478"]).unwrap_err();
        assert!(matches!(err, CliError::TurnWithoutCredentials(_)));
        assert_eq!(err.exit_code(), ExitCode::from(2));
        assert!(err.to_string().contains("--ice-credential"), "{err}");

        let c = config(&[
            "--ice-server",
            "stun:stun.example:3478",
            "--ice-server",
            "turns:turn.example:5349",
            "--ice-username",
            "u",
            "--ice-credential",
            "p",
        ])
        .unwrap();
        assert_eq!(c.ice_servers[0].username, None, "STUN needs none");
        assert_eq!(c.ice_servers[1].username.as_deref(), Some("u"));
        assert_eq!(c.ice_servers[1].credential.as_deref(), Some("p"));

        let err = config(&["--ice-server", "http://x"]).unwrap_err();
        assert!(matches!(err, CliError::InvalidIceServer(_)));
    }

    #[test]
    fn turn_urls_and_secret_need_each_other() {
        assert_eq!(config(&[]).unwrap().turn, None);
        let err = config(&["--turn-url", "turn:127.0.0.1:3478"]).unwrap_err();
        assert!(matches!(err, CliError::TurnUrlWithoutSecret), "{err}");
        assert!(err.to_string().contains("--turn-secret"), "{err}");
        assert!(err.to_string().contains("ASSISTRTC_TURN_SECRET"), "{err}");
        assert_eq!(err.exit_code(), ExitCode::from(2));
        let err = config(&["--turn-url", "turn:x", "--turn-secret", ""]).unwrap_err();
        assert!(matches!(err, CliError::TurnUrlWithoutSecret), "{err}");

        let err = config(&["--turn-secret", "s3cret-value"]).unwrap_err();
        assert!(matches!(err, CliError::TurnSecretWithoutUrl), "{err}");
        assert!(err.to_string().contains("--turn-url"), "{err}");
        assert!(!err.to_string().contains("s3cret-value"), "{err}");
        assert_eq!(err.exit_code(), ExitCode::from(2));

        let err = config(&["--turn-url", "stun:x:3478", "--turn-secret", "s"]).unwrap_err();
        assert!(matches!(err, CliError::InvalidTurnUrl(ref u) if u == "stun:x:3478"));
        let err = config(&[
            "--turn-url",
            "turn:x",
            "--turn-secret",
            "s",
            "--turn-ttl-secs",
            "0",
        ])
        .unwrap_err();
        assert!(matches!(err, CliError::TurnTtlOutOfRange(0)), "{err}");
        assert_eq!(err.exit_code(), ExitCode::from(2));

        let c = config(&[
            "--turn-url",
            "turn:127.0.0.1:3478?transport=udp",
            "--turn-url",
            "turn:127.0.0.1:3478?transport=tcp",
            "--turn-secret",
            "s3cret-value",
        ])
        .unwrap();
        let turn = c.turn.expect("TURN configured");
        assert_eq!(turn.urls.len(), 2);
        assert_eq!(turn.secret, "s3cret-value");
        assert_eq!(turn.ttl_secs, DEFAULT_TURN_TTL_SECS);
        assert!(
            c.ice_servers.is_empty(),
            "the TURN entry is issued per member"
        );
    }

    #[test]
    fn transport_limits_have_defaults_and_flags() {
        let c = config(&[]).unwrap();
        assert_eq!(c.max_connections, DEFAULT_MAX_CONNECTIONS);
        assert_eq!(c.max_connections_per_ip, DEFAULT_MAX_CONNECTIONS_PER_IP);
        assert_eq!(c.header_read_timeout_ms, DEFAULT_HEADER_READ_TIMEOUT_MS);
        assert_eq!(c.body_timeout_ms, DEFAULT_BODY_TIMEOUT_MS);
        let c = config(&[
            "--max-connections",
            "100",
            "--max-connections-per-ip",
            "10",
            "--header-read-timeout-ms",
            "2000",
            "--body-timeout-ms",
            "3000",
        ])
        .unwrap();
        assert_eq!(
            (
                c.max_connections,
                c.max_connections_per_ip,
                c.header_read_timeout_ms,
                c.body_timeout_ms
            ),
            (100, 10, 2000, 3000)
        );
    }
}
