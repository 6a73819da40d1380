//! Connections that cost a server without doing anything useful, held at a fixed number while
//! legitimate clients join: slow-loris HTTP requests (headers trickled, never finished) and
//! WebSockets that never send `join`. Each one that the server closes is opened again, so the
//! pressure stays constant for the whole measurement.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::sleep;

/// Gap between two header bytes of a slow-loris request.
const TRICKLE: Duration = Duration::from_millis(500);
/// Pause before reopening a connection the server closed (or refused).
const REOPEN: Duration = Duration::from_millis(100);

/// What the attackers saw.
#[derive(Debug, Default)]
pub(crate) struct Attack {
    /// Connections opened, reopenings included.
    pub(crate) opened: AtomicU64,
    /// Connections the server closed (or refused) while held.
    pub(crate) closed_by_server: AtomicU64,
}

/// Starts `slowloris` slow-loris and `idle` never-joining connections against `addr`; they
/// run until `stop` turns true.
pub(crate) fn start(
    addr: SocketAddr,
    slowloris: usize,
    idle: usize,
    stop: watch::Receiver<bool>,
) -> (Arc<Attack>, JoinSet<()>) {
    let stats = Arc::new(Attack::default());
    let mut tasks = JoinSet::new();
    for _ in 0..slowloris {
        tasks.spawn(slow_loris(addr, Arc::clone(&stats), stop.clone()));
    }
    for _ in 0..idle {
        tasks.spawn(never_joins(addr, Arc::clone(&stats), stop.clone()));
    }
    (stats, tasks)
}

async fn slow_loris(addr: SocketAddr, stats: Arc<Attack>, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        let held = async {
            let mut tcp = TcpStream::connect(addr).await.ok()?;
            stats.opened.fetch_add(1, Ordering::Relaxed);
            tcp.write_all(b"POST /v1/rooms HTTP/1.1\r\nHost: bench\r\n")
                .await
                .ok()?;
            // Until a write fails: the server closed the connection.
            loop {
                sleep(TRICKLE).await;
                if tcp.write_all(b"X").await.is_err() {
                    return Some(());
                }
            }
        };
        tokio::select! {
            _ = stop.changed() => return,
            _ = held => {}
        }
        stats.closed_by_server.fetch_add(1, Ordering::Relaxed);
        sleep(REOPEN).await;
    }
}

async fn never_joins(addr: SocketAddr, stats: Arc<Attack>, mut stop: watch::Receiver<bool>) {
    use futures_util::StreamExt as _;
    let url = format!("ws://{addr}/v1/signal");
    while !*stop.borrow() {
        let held = async {
            let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await.ok()?;
            stats.opened.fetch_add(1, Ordering::Relaxed);
            // Read (answering pings) until the server gives up on the missing `join`.
            while let Some(Ok(_)) = ws.next().await {}
            Some(())
        };
        tokio::select! {
            _ = stop.changed() => return,
            _ = held => {}
        }
        stats.closed_by_server.fetch_add(1, Ordering::Relaxed);
        sleep(REOPEN).await;
    }
}
