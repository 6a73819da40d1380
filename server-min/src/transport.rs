//! The HTTP/1.1 accept loop: connection caps, header and idle timeouts, graceful shutdown.
//!
//! `axum::serve` has no header-read timeout and no connection cap, and its graceful shutdown
//! waits for every connection, even one that stopped half-way through a request. This loop
//! serves the same router with hyper's HTTP/1.1 connection builder instead:
//!
//! - a request head must arrive within `header_read_timeout`; the same timer runs while a
//!   keep-alive connection waits for its next request, so it is also the idle timeout;
//! - each connection holds a slot, per client IP and in total, for as long as its socket is
//!   open, including after a WebSocket upgrade (the slot travels inside the socket). Beyond a
//!   cap the connection is answered `503` with a JSON error and closed;
//! - on shutdown the listener closes, idle connections close at once, requests in flight get
//!   [`SHUTDOWN_GRACE`], and whatever is left is dropped.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::metrics::Metrics;

/// How long requests in flight may still run once shutdown starts.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Largest request head (and read buffer) per connection; hyper's default is ~400 KiB.
const MAX_HEAD_BYTES: usize = 32 * 1024;
/// Refused connections being answered at once; beyond this they are closed unanswered, so
/// that refusing costs no more than a bounded number of sockets.
const MAX_REFUSING: usize = 64;
/// How long a refused connection is kept to deliver its `503` before it is closed.
const REFUSE_LINGER: Duration = Duration::from_secs(1);
/// Least time between two log lines about refused connections.
const REFUSE_LOG_EVERY: Duration = Duration::from_secs(1);
/// Pause after an accept error such as running out of file descriptors, which would
/// otherwise repeat at once.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// File descriptors kept free of connections: the listener, logs, the data directory.
const FD_RESERVE: u64 = 64;

/// Caps and timeouts of the accept loop (from [`crate::ServerConfig`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_connections: usize,
    pub(crate) max_connections_per_ip: usize,
    pub(crate) header_read_timeout: Duration,
}

/// Serves `app` on `listener` until `stop` turns `true` (or its sender is dropped).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let max_connections = clamp_to_fd_limit(limits.max_connections);
    let slots = Arc::new(Slots::new(max_connections, limits.max_connections_per_ip));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    let (drain_tx, drain_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    let mut refused = RefusalLog::default();
    loop {
        let (tcp, peer) = tokio::select! {
            () = async { let _ = stop.wait_for(|stop| *stop).await; } => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let slot = match slots.take(peer.ip()) {
            Ok(slot) => slot,
            Err(cap) => {
                refused.note(cap, peer);
                metrics.connection_refused(matches!(cap, Cap::PerIp(_)));
                refuse(tcp, cap, &refusing);
                continue;
            }
        };
        // Signaling frames are small and latency-bound: without TCP_NODELAY a frame written
        // while the previous one is unacknowledged waits for the peer's delayed ACK (~40 ms).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
        let io = TokioIo::new(Counted { tcp, _slot: slot });
        // Each request carries the client's address (`ConnectInfo`), for per-address limits.
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            // A `Router` is always ready: it needs no `poll_ready` before `call`.
            let mut app = app.clone();
            async move { tower_service::Service::call(&mut app, request).await }
        });
        let conn = http.serve_connection(io, service).with_upgrades();
        let mut drain = drain_rx.clone();
        conns.spawn(async move {
            tokio::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                () = async { let _ = drain.wait_for(|drain| *drain).await; } => {
                    // Idle connections close now; one in a request finishes it first.
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, "HTTP connection ended: {e}");
            }
        });
    }
    drop(listener);
    let _ = drain_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = conns.len(),
            "HTTP requests still unfinished {SHUTDOWN_GRACE:?} after shutdown; closing them"
        );
        conns.shutdown().await;
    }
}

/// Which cap refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cap {
    Total(usize),
    PerIp(usize),
}

impl Cap {
    fn message(self) -> String {
        match self {
            Self::Total(n) => format!("the server is at its limit of {n} connections; retry later"),
            Self::PerIp(n) => {
                format!("too many connections from your address (limit {n}); retry later")
            }
        }
    }
}

/// Open connections, in total and per client address.
struct Slots {
    max_total: usize,
    max_per_ip: usize,
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

impl Slots {
    fn new(max_total: usize, max_per_ip: usize) -> Self {
        Self {
            max_total,
            max_per_ip,
            counts: Mutex::default(),
        }
    }

    fn take(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Cap> {
        let ip = client_key(ip);
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if counts.total >= self.max_total {
            return Err(Cap::Total(self.max_total));
        }
        let per_ip = counts.per_ip.entry(ip).or_default();
        if *per_ip >= self.max_per_ip {
            return Err(Cap::PerIp(self.max_per_ip));
        }
        *per_ip += 1;
        counts.total += 1;
        Ok(Slot {
            slots: Arc::clone(self),
            ip,
        })
    }
}

/// What counts as one client: the address, or for IPv6 its /64 (one subscriber's network
/// usually has a whole /64, so a per-address cap would not hold).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// One open connection; gives its place back when dropped.
struct Slot {
    slots: Arc<Slots>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self
            .slots
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        counts.total -= 1;
        if let Some(n) = counts.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&self.ip);
            }
        }
    }
}

/// A socket holding its [`Slot`]. hyper hands the socket itself to an upgraded WebSocket, so
/// the slot is held until the WebSocket closes, not only while HTTP runs on it.
struct Counted {
    tcp: TcpStream,
    _slot: Slot,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }
}

/// Answers a refused connection `503` with the REST error shape and closes it, without
/// reading the request. The close waits briefly for the peer to read the answer: closing a
/// socket with unread input resets it, and the peer could lose the answer.
fn refuse(mut tcp: TcpStream, cap: Cap, refusing: &Arc<Semaphore>) {
    let Ok(permit) = Arc::clone(refusing).try_acquire_owned() else {
        // Already answering many: close unanswered rather than hold more sockets.
        return;
    };
    let body = serde_json::json!({
        "error": {
            "code": assistrtc_core::protocol::ErrorCode::RateLimited.as_str(),
            "message": cap.message(),
        }
    })
    .to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    tokio::spawn(async move {
        let _permit = permit;
        let _ = tokio::time::timeout(REFUSE_LINGER, async {
            tcp.write_all(response.as_bytes()).await?;
            tcp.shutdown().await?;
            let mut sink = [0u8; 1024];
            while tcp.read(&mut sink).await? > 0 {}
            io::Result::Ok(())
        })
        .await;
    });
}

/// Logs refused connections at most once per [`REFUSE_LOG_EVERY`], with how many there were.
#[derive(Default)]
struct RefusalLog {
    last: Option<Instant>,
    unlogged: u64,
}

impl RefusalLog {
    fn note(&mut self, cap: Cap, peer: SocketAddr) {
        self.unlogged += 1;
        let now = Instant::now();
        if self.last.is_some_and(|last| now - last < REFUSE_LOG_EVERY) {
            return;
        }
        let refused = std::mem::take(&mut self.unlogged);
        self.last = Some(now);
        match cap {
            Cap::Total(limit) => {
                tracing::warn!(
                    %peer,
                    limit,
                    refused,
                    "connection cap reached; refusing connections"
                );
            }
            Cap::PerIp(limit) => {
                tracing::warn!(
                    %peer,
                    limit,
                    refused,
                    "per-address connection cap reached; refusing connections"
                );
            }
        }
    }
}

/// Raises the soft limit on open files to the hard limit, so that the connection cap, not
/// the process's descriptor table, is what bounds connections. Returns the new soft limit
/// (`None`: unlimited).
#[cfg(unix)]
pub fn raise_fd_limit() -> io::Result<Option<u64>> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current == limit.maximum {
        return Ok(limit.current);
    }
    limit.current = limit.maximum;
    setrlimit(Resource::Nofile, limit)?;
    Ok(limit.current)
}

/// Without `setrlimit` there is nothing to raise.
#[cfg(not(unix))]
pub fn raise_fd_limit() -> io::Result<Option<u64>> {
    Ok(None)
}

/// The connection cap, lowered if the open-files limit could not hold it: refusing with a
/// `503` beats failing `accept` for everyone, `/healthz` included.
fn clamp_to_fd_limit(max_connections: usize) -> usize {
    #[cfg(unix)]
    {
        let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        if let Some(soft) = soft {
            let room =
                usize::try_from(soft.saturating_sub(FD_RESERVE).max(1)).unwrap_or(usize::MAX);
            if max_connections > room {
                tracing::warn!(
                    max_connections,
                    open_files_limit = soft,
                    "the open-files limit cannot hold the connection cap; lowering it to {room}"
                );
                return room;
            }
        }
    }
    max_connections
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_count_per_client_and_in_total_and_come_back() {
        let slots = Arc::new(Slots::new(3, 2));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let a1 = slots.take(a).unwrap();
        let _a2 = slots.take(a).unwrap();
        assert_eq!(slots.take(a).err(), Some(Cap::PerIp(2)));
        let _b1 = slots.take(b).unwrap();
        assert_eq!(slots.take(b).err(), Some(Cap::Total(3)));
        drop(a1);
        let _a3 = slots.take(a).unwrap();
    }

    #[test]
    fn an_ipv6_client_is_its_64() {
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let other: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert_eq!(client_key(one), client_key(other));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(client_key(mapped), "192.0.2.1".parse::<IpAddr>().unwrap());
    }
}
