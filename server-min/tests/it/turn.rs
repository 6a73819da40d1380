//! TURN credentials: the scheme itself, what `welcome` carries, and a real coturn accepting
//! them (started from the repo's `coturn/turnserver.conf`, on loopback).

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use assistrtc_core::Millis;
use assistrtc_core::protocol::{ClientMessage, IceServer, ServerMessage};
use assistrtc_server::clock::SystemClock;
use assistrtc_server::turn::{self, TurnConfig};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac as _};
use serde_json::json;
use sha1::Sha1;

use crate::support::{Server, T0, WAIT, turn_urls};
use crate::turn_client::{Transport, TurnClient};

const SECRET: &str = "it-turn-shared-secret";

#[test]
fn the_credential_is_coturns_hmac_sha1_and_expires_ttl_after_the_servers_now() {
    // Computed once, independently:
    //   printf '%s' '1700003600:user_9' | openssl dgst -sha1 -hmac 'north-wind-shared-secret' -binary | base64
    assert_eq!(
        turn::credential(b"north-wind-shared-secret", "1700003600:user_9"),
        "G9oNGKjFbcSEwA6bBpPBYk4lbQ0="
    );
    let config = TurnConfig::new(
        vec!["turn:127.0.0.1:3478?transport=udp".into()],
        "north-wind-shared-secret",
    );
    // The clock's milliseconds, floored to seconds, plus the default hour.
    for now in [Millis(1_700_000_000_000), Millis(1_700_000_000_999)] {
        let server = config.ice_server("user_9", now);
        assert_eq!(server.urls, config.urls);
        assert_eq!(server.username.as_deref(), Some("1700003600:user_9"));
        assert_eq!(
            server.credential.as_deref(),
            Some("G9oNGKjFbcSEwA6bBpPBYk4lbQ0=")
        );
    }
    let later = config.ice_server("user_9", Millis(1_700_000_042_000));
    assert_eq!(later.username.as_deref(), Some("1700003642:user_9"));
}

/// The `ice_servers` of `member`'s welcome.
async fn welcome_ice_servers(server: &Server, token: &str) -> Vec<IceServer> {
    let mut ws = server.connect().await;
    ws.send(&ClientMessage::Join {
        token: token.to_owned(),
        resume_token: None,
    })
    .await;
    let ServerMessage::Welcome { ice_servers, .. } = ws.recv().await else {
        panic!("expected welcome");
    };
    ice_servers
}

/// base64(HMAC-SHA1(secret, username)), written out here rather than through the server's code.
fn expected_credential(secret: &str, username: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(username.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn each_welcome_carries_turn_credentials_issued_on_the_servers_clock() {
    let urls = turn_urls();
    let server = Server::start_with_turn(SECRET).await;
    let tokens = server
        .create_room(
            "rm_turn",
            &[("agent_1", "host"), ("user_9", "guest")],
            json!({}),
        )
        .await;

    let agent = welcome_ice_servers(&server, &tokens["agent_1"]).await;
    server.advance(7_000);
    let guest = welcome_ice_servers(&server, &tokens["user_9"]).await;

    for (ice, member, expiry) in [
        (&agent, "agent_1", T0.0 / 1000 + 900),
        (&guest, "user_9", T0.0 / 1000 + 7 + 900),
    ] {
        assert_eq!(ice.len(), 2, "STUN, then TURN: {ice:?}");
        let stun = server.stun_addr().unwrap();
        assert_eq!(ice[0].urls, vec![format!("stun:{stun}")]);
        assert_eq!(ice[1].urls, urls);
        let username = ice[1].username.clone().expect("a TURN username");
        assert_eq!(username, format!("{expiry}:{member}"));
        assert_eq!(
            ice[1].credential.as_deref(),
            Some(expected_credential(SECRET, &username).as_str())
        );
    }
    server.stop().await;
}

/// A coturn `turnserver` started from the repo's configuration on a free loopback port,
/// killed (and its files removed) when dropped, even when the test fails.
struct Coturn {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Coturn {
    /// The configuration the README documents.
    fn config() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("coturn/turnserver.conf")
    }

    /// Starts coturn and waits (bounded) until it answers on UDP and TCP. Panics with the
    /// reason and coturn's log when it cannot be started: this test never skips.
    async fn start(secret: &str) -> Self {
        let mut last_log = String::new();
        for attempt in 0..3 {
            let port = free_port();
            let dir = std::env::temp_dir().join(format!(
                "assistrtc-coturn-{}-{port}-{attempt}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).expect("temp dir for coturn");
            let log = File::create(dir.join("turnserver.log")).expect("coturn log file");
            let spawned = Command::new("turnserver")
                .arg("-c")
                .arg(Self::config())
                .args(["--listening-port", &port.to_string()])
                .args(["--static-auth-secret", secret])
                .arg("--pidfile")
                .arg(dir.join("turnserver.pid"))
                // Its own (empty) user database, not the system one.
                .arg("--userdb")
                .arg(dir.join("turndb"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log file handle"))
                .stderr(log)
                .spawn();
            let child = match spawned {
                Ok(child) => child,
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    panic!(
                        "cannot start coturn's `turnserver` ({e}): install it with \
                         `apt-get install -y --no-install-recommends coturn` \
                         (`cargo xtask test` does)"
                    );
                }
            };
            let mut coturn = Self { child, port, dir };
            match coturn.wait_ready().await {
                Ok(()) => return coturn,
                Err(why) => {
                    last_log = format!("{why}\n{}", coturn.log());
                    drop(coturn);
                }
            }
        }
        panic!("coturn did not come up on loopback after 3 attempts:\n{last_log}");
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + WAIT;
        for transport in [Transport::Udp, Transport::Tcp] {
            loop {
                if let Ok(Some(status)) = self.child.try_wait() {
                    return Err(format!("turnserver exited at start: {status}"));
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "turnserver not answering {transport:?} within {WAIT:?}"
                    ));
                }
                if let Ok(mut client) = TurnClient::connect(self.addr(), transport).await
                    && client.binding(Duration::from_millis(200)).await
                {
                    break;
                }
                // Not listening yet (a refused TCP connect returns at once).
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::new(Ipv4Addr::LOCALHOST.into(), self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("turnserver.log")).unwrap_or_default()
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- coturn log ---\n{}", self.log());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loopback port free for both UDP and TCP right now.
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The TURN entry of `member`'s welcome on `server`: its username and credential.
async fn turn_credentials(server: &Server, room: &str, member: &str) -> (String, String) {
    let tokens = server
        .create_room(room, &[(member, "host")], json!({}))
        .await;
    let ice = welcome_ice_servers(server, &tokens[member]).await;
    let turn = ice
        .iter()
        .find(|s| s.urls.iter().any(|u| u.starts_with("turn:")))
        .unwrap_or_else(|| panic!("no TURN entry in {ice:?}"));
    (
        turn.username.clone().unwrap(),
        turn.credential.clone().unwrap(),
    )
}

#[tokio::test]
async fn a_real_coturn_grants_allocations_to_welcome_credentials_and_refuses_bad_ones() {
    let coturn = Coturn::start(SECRET).await;
    let urls = vec![
        format!("turn:{}?transport=udp", coturn.addr()),
        format!("turn:{}?transport=tcp", coturn.addr()),
    ];

    // Credentials from a real welcome, issued on real time (coturn checks the expiry
    // against its own clock).
    let server = Server::start_with(|c| {
        c.clock = Arc::new(SystemClock::new());
        c.turn = Some(TurnConfig::new(urls.clone(), SECRET));
    })
    .await;
    let (username, password) = turn_credentials(&server, "rm_coturn", "agent_1").await;
    assert!(username.ends_with(":agent_1"), "{username}");

    for transport in [Transport::Udp, Transport::Tcp] {
        let mut client = TurnClient::connect(coturn.addr(), transport).await.unwrap();
        let relayed = client
            .allocate(&username, &password)
            .await
            .unwrap_or_else(|code| {
                panic!("coturn refused the welcome's credentials over {transport:?}: {code}")
            });
        assert_eq!(relayed.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST), "relay-ip");
        // The test configuration relays to loopback peers only.
        assert_eq!(
            client.create_permission(Ipv4Addr::LOCALHOST.into()).await,
            Ok(())
        );
        assert_eq!(
            client
                .create_permission(Ipv4Addr::new(10, 0, 0, 1).into())
                .await,
            Err(403),
            "a private peer must be refused"
        );
    }

    // A wrong credential for a valid username: 401.
    let mut client = TurnClient::connect(coturn.addr(), Transport::Udp)
        .await
        .unwrap();
    let wrong = expected_credential("not-the-secret", &username);
    assert_eq!(client.allocate(&username, &wrong).await, Err(401));
    server.stop().await;

    // An expired credential, from a real welcome of a server whose clock stands in 2023
    // (the tests' virtual clock): signed with the right secret, refused for its expiry.
    let past = Server::start_with(|c| c.turn = Some(TurnConfig::new(urls.clone(), SECRET))).await;
    let (old_username, old_password) = turn_credentials(&past, "rm_coturn_old", "user_9").await;
    assert_eq!(old_username, format!("{}:user_9", T0.0 / 1000 + 3600));
    let mut client = TurnClient::connect(coturn.addr(), Transport::Tcp)
        .await
        .unwrap();
    assert_eq!(
        client.allocate(&old_username, &old_password).await,
        Err(401)
    );
    past.stop().await;
    drop(coturn);
}
