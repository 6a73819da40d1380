//! The child processes of a run: the reference server and coturn, on loopback, on free ports.
//! Both are killed when their handle is dropped (`kill_on_drop`), so every way out of the
//! bench (an error, a panic, Ctrl-C) ends them; every wait for them is bounded.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::{Instant, timeout};

/// The API key and JWT secret the bench's servers run with.
pub(crate) const API_KEY: &str = "bench-preflight-api-key";
const JWT_SECRET: &str = "bench-preflight-jwt-secret";
/// The secret shared by the server and coturn.
pub(crate) const TURN_SECRET: &str = "bench-preflight-turn-secret";
/// coturn's relay ports: above Linux's ephemeral range (32768–60999), so no client socket
/// has one and the relay's gate can tell TURN traffic from the client's own.
pub(crate) const TURN_RELAY_PORTS: RangeInclusive<u16> = 61_000..=61_999;
/// Longest a child process may take to come up.
const START_WAIT: Duration = Duration::from_secs(10);

/// The reference server, started with `--listen 127.0.0.1:0`.
pub(crate) struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub(crate) base: String,
}

impl Server {
    /// Starts `bin` with TURN `urls` (and the shared secret) when there are any, serving the
    /// browser SDK from `web_root` when given.
    pub(crate) async fn start(
        bin: &Path,
        turn_urls: &[String],
        web_root: Option<&Path>,
    ) -> Result<Self, String> {
        let mut cmd = Command::new(bin);
        cmd.args(["--listen", "127.0.0.1:0", "--api-key", API_KEY])
            .args(["--jwt-secret", JWT_SECRET]);
        if let Some(root) = web_root {
            cmd.arg("--web-root").arg(root);
        }
        for url in turn_urls {
            cmd.args(["--turn-url", url]);
        }
        if !turn_urls.is_empty() {
            cmd.args(["--turn-secret", TURN_SECRET]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let stdout = child.stdout.take().ok_or("no server stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let base = timeout(START_WAIT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("listening on ") {
                    return Some(url.trim().to_owned());
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .ok_or("the server did not say where it listens")?;
        // Keep its stdout drained so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { child, base })
    }

    /// A preflight token for the check.
    pub(crate) async fn preflight_token(&self) -> Result<String, String> {
        let resp = reqwest::Client::new()
            .post(format!("{}/v1/preflight/tokens", self.base))
            .bearer_auth(API_KEY)
            .timeout(START_WAIT)
            .send()
            .await
            .map_err(|e| format!("preflight token: {e}"))?;
        let body: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| format!("preflight token: {e}"))?;
        body["token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no token in {body}"))
    }

    /// Stops the server and waits for it (bounded).
    pub(crate) async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = timeout(START_WAIT, self.child.wait()).await;
    }
}

/// Which listeners coturn runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TurnListeners {
    /// UDP and TCP on its port.
    UdpAndTcp,
    /// TCP only on its port (no UDP client listener).
    TcpOnly,
    /// No UDP client listener, and a second listener for TLS (which also takes plain TCP),
    /// with a self-signed certificate.
    TcpAndTls,
}

/// A coturn `turnserver` from the repo's configuration, on free loopback ports.
pub(crate) struct Coturn {
    child: Child,
    /// The main listener.
    pub(crate) port: u16,
    /// The TLS listener, when asked for.
    pub(crate) tls_port: Option<u16>,
    dir: PathBuf,
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Configuration keys the bench sets itself.
const OVERRIDDEN: [&str; 6] = [
    "min-port",
    "max-port",
    "no-tls",
    "no-dtls",
    "listening-port",
    "log-file",
];

impl Coturn {
    /// Starts coturn from `config` (the repo's file, with the bench's ports and listeners),
    /// waiting (bounded) until it answers; three attempts on fresh ports.
    pub(crate) async fn start(config: &Path, listeners: TurnListeners) -> Result<Self, String> {
        let base = std::fs::read_to_string(config)
            .map_err(|e| format!("coturn configuration {}: {e}", config.display()))?;
        let mut last = String::new();
        for attempt in 0..3 {
            let port = free_port();
            let tls_port = (listeners == TurnListeners::TcpAndTls).then(free_port);
            let dir = std::env::temp_dir().join(format!(
                "assistrtc-bench-coturn-{}-{port}-{attempt}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).map_err(|e| format!("coturn dir: {e}"))?;
            let conf = Self::write_config(&base, &dir, listeners, tls_port)?;
            let log = std::fs::File::create(dir.join("turnserver.log"))
                .map_err(|e| format!("coturn log: {e}"))?;
            let log_err = log.try_clone().map_err(|e| format!("coturn log: {e}"))?;
            let child = Command::new("turnserver")
                .arg("-c")
                .arg(&conf)
                .args(["--listening-port", &port.to_string()])
                .args(["--static-auth-secret", TURN_SECRET])
                .arg("--pidfile")
                .arg(dir.join("turnserver.pid"))
                .arg("--userdb")
                .arg(dir.join("turndb"))
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_err)
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("cannot start coturn's turnserver: {e}"))?;
            let mut coturn = Self {
                child,
                port,
                tls_port,
                dir,
            };
            match coturn.wait_ready(listeners).await {
                Ok(()) => return Ok(coturn),
                Err(why) => {
                    let log = std::fs::read_to_string(coturn.dir.join("turnserver.log"))
                        .unwrap_or_default();
                    last = format!("{why}\n{log}");
                }
            }
        }
        Err(format!("coturn did not come up: {last}"))
    }

    fn write_config(
        base: &str,
        dir: &Path,
        listeners: TurnListeners,
        tls_port: Option<u16>,
    ) -> Result<PathBuf, String> {
        let mut conf: String = base
            .lines()
            .filter(|l| {
                let key = l.split('=').next().unwrap_or_default().trim();
                !OVERRIDDEN.contains(&key)
            })
            .map(|l| [l, "\n"].concat())
            .collect();
        conf.push_str(&format!(
            "min-port={}\nmax-port={}\nno-dtls\nlog-file=stdout\n",
            TURN_RELAY_PORTS.start(),
            TURN_RELAY_PORTS.end()
        ));
        if listeners != TurnListeners::UdpAndTcp {
            conf.push_str("no-udp\n");
        }
        match tls_port {
            Some(tls) => {
                let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
                self_signed(&cert, &key)?;
                conf.push_str(&format!(
                    "tls-listening-port={tls}\ncert={}\npkey={}\n",
                    cert.display(),
                    key.display()
                ));
            }
            None => conf.push_str("no-tls\n"),
        }
        let path = dir.join("turnserver.conf");
        std::fs::write(&path, conf).map_err(|e| format!("coturn configuration: {e}"))?;
        Ok(path)
    }

    async fn wait_ready(&mut self, listeners: TurnListeners) -> Result<(), String> {
        let deadline = Instant::now() + START_WAIT;
        let tcp_port = self.tls_port.unwrap_or(self.port);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("turnserver exited at start: {status}"));
            }
            let tcp = TcpStream::connect((Ipv4Addr::LOCALHOST, tcp_port))
                .await
                .is_ok();
            let udp = listeners != TurnListeners::UdpAndTcp || stun_answers(self.port).await;
            if tcp && udp {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("turnserver not answering within {START_WAIT:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The loopback address of `port`.
    pub(crate) fn addr(port: u16) -> SocketAddr {
        SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port)
    }
}

/// Whether a STUN binding request to `port` on loopback is answered within 200 ms.
async fn stun_answers(port: u16) -> bool {
    let Ok(socket) = tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await else {
        return false;
    };
    // Binding request: type 0x0001, length 0, the magic cookie, a transaction id.
    let mut request = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    request.extend_from_slice(b"bench-ready!");
    if socket
        .send_to(&request, (Ipv4Addr::LOCALHOST, port))
        .await
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 512];
    matches!(
        timeout(Duration::from_millis(200), socket.recv(&mut buf)).await,
        Ok(Ok(n)) if n >= 20 && buf[0..2] == [0x01, 0x01]
    )
}

/// A self-signed certificate for 127.0.0.1, for coturn's TLS listener.
fn self_signed(cert: &Path, key: &Path) -> Result<(), String> {
    let out = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=127.0.0.1"])
        .arg("-keyout")
        .arg(key)
        .arg("-out")
        .arg(cert)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run openssl for a test certificate: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "openssl: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A loopback port free for both UDP and TCP right now.
pub(crate) fn free_port() -> u16 {
    loop {
        let Ok(udp) = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)) else {
            continue;
        };
        let Ok(addr) = udp.local_addr() else {
            continue;
        };
        if TcpListener::bind(addr).is_ok() {
            return addr.port();
        }
    }
}
