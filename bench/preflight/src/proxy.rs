//! The HTTP proxy in front of the server: every request is passed on as it is, except the
//! probe's SDP. In the offer the client's candidates are removed (the server learns the
//! client's address as peer-reflexive from the first check that reaches it, through the
//! relay); in the answer each IPv4 UDP candidate is replaced by its relay stand-in, and every
//! other candidate (IPv6, TCP) is removed. So no path to the server exists but the relay's.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::relay::Relay;

/// The probe route, whose bodies are rewritten.
const PROBE_PATH: &str = "/v1/preflight/probe";
/// Longest the proxy waits for the server.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(10);

/// A running proxy; it stops when dropped.
pub(crate) struct Proxy {
    pub(crate) url: String,
    task: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Upstream {
    base: String,
    http: reqwest::Client,
    relay: Arc<Relay>,
}

/// Starts a proxy on 127.0.0.1 to the server at `base` (`http://host:port`).
pub(crate) async fn start(base: String, relay: Arc<Relay>) -> std::io::Result<Proxy> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let http = reqwest::Client::builder()
        .timeout(UPSTREAM_TIMEOUT)
        .build()
        .map_err(std::io::Error::other)?;
    let app = Router::new()
        .fallback(forward)
        .with_state(Upstream { base, http, relay });
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Proxy { url, task })
}

async fn forward(
    State(up): State<Upstream>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let probe = method == Method::POST && uri.path() == PROBE_PATH;
    let body = if probe {
        Bytes::from(strip_candidates(&String::from_utf8_lossy(&body)))
    } else {
        body
    };
    let mut req = up.http.request(method, [up.base.as_str(), path].concat());
    for name in [header::AUTHORIZATION, header::CONTENT_TYPE] {
        if let Some(v) = headers.get(&name) {
            req = req.header(name, v);
        }
    }
    let resp = match req.body(body).send().await {
        Ok(resp) => resp,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = resp.status();
    let content_type = resp.headers().get(header::CONTENT_TYPE).cloned();
    // Bytes as they are (the browser check loads the SDK's wasm through here); only the
    // probe's answer is read as text.
    let Ok(bytes) = resp.bytes().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let bytes = if probe && status.is_success() {
        match stand_in_candidates(&String::from_utf8_lossy(&bytes), &up.relay).await {
            Ok(text) => Bytes::from(text),
            Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
        }
    } else {
        bytes
    };
    let mut out = (status, bytes).into_response();
    if let Some(ct) = content_type {
        out.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    out
}

/// The SDP lines, without their endings (`\r\n`, or `\n` alone).
fn lines(sdp: &str) -> impl Iterator<Item = &str> {
    sdp.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.is_empty())
}

/// `sdp` without its `a=candidate` lines.
pub(crate) fn strip_candidates(sdp: &str) -> String {
    let mut out = String::with_capacity(sdp.len());
    for line in lines(sdp).filter(|l| !l.starts_with("a=candidate:")) {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out
}

/// The fields of an `a=candidate:` line: foundation, component, transport, priority, address,
/// port, `typ`, type, extensions.
fn candidate_fields(line: &str) -> Option<Vec<&str>> {
    let fields: Vec<&str> = line.strip_prefix("a=candidate:")?.split(' ').collect();
    (fields.len() >= 8).then_some(fields)
}

/// The IPv4 UDP address a candidate line names, if it is one.
pub(crate) fn udp_v4_address(line: &str) -> Option<SocketAddr> {
    let f = candidate_fields(line)?;
    if !f[2].eq_ignore_ascii_case("udp") {
        return None;
    }
    let ip: IpAddr = f[4].parse().ok()?;
    let port: u16 = f[5].parse().ok()?;
    ip.is_ipv4().then_some(SocketAddr::new(ip, port))
}

/// `line` naming `addr` instead of its own address.
pub(crate) fn with_address(line: &str, addr: SocketAddr) -> Option<String> {
    let mut f = candidate_fields(line)?;
    let ip = addr.ip().to_string();
    let port = addr.port().to_string();
    f[4] = &ip;
    f[5] = &port;
    Some(["a=candidate:", &f.join(" ")].concat())
}

/// `answer` with every IPv4 UDP candidate standing in through the relay, the rest removed.
async fn stand_in_candidates(answer: &str, relay: &Relay) -> std::io::Result<String> {
    let mut out = String::with_capacity(answer.len());
    for line in lines(answer) {
        let line = if line.starts_with("a=candidate:") {
            let Some(target) = udp_v4_address(line) else {
                continue;
            };
            let stand_in = relay.stand_in(target).await?;
            let Some(line) = with_address(line, stand_in) else {
                continue;
            };
            line
        } else {
            line.to_owned()
        };
        out.push_str(&line);
        out.push_str("\r\n");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n\
        a=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\n\
        a=candidate:2 1 tcp 1671430143 127.0.0.1 9 typ host tcptype active\r\n\
        a=candidate:3 1 udp 2130706431 ::1 50001 typ host\r\n\
        a=end-of-candidates\r\n";

    #[test]
    fn offers_lose_their_candidates_and_keep_the_rest() {
        assert_eq!(
            strip_candidates(ANSWER),
            "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n\
             a=end-of-candidates\r\n"
        );
    }

    #[test]
    fn only_ipv4_udp_candidates_stand_in() {
        let addrs: Vec<_> = lines(ANSWER).filter_map(udp_v4_address).collect();
        assert_eq!(
            addrs,
            vec!["127.0.0.1:50000".parse::<SocketAddr>().unwrap()]
        );
        let line = lines(ANSWER).nth(2).unwrap();
        assert_eq!(
            with_address(line, "127.0.0.1:40000".parse().unwrap()).unwrap(),
            "a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host"
        );
    }
}
