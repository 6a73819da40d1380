//! The server's URLs from the one an app was given.

/// The server's REST URL for `path` (`/v1/…`) from the URL an app configured: `ws`/`wss`
/// become `http`/`https`, and any path on the configured URL is replaced.
pub fn api_url(url: &str, path: &str) -> String {
    let (scheme, rest) = [
        ("http://", "http://"),
        ("https://", "https://"),
        ("ws://", "http://"),
        ("wss://", "https://"),
    ]
    .iter()
    .find_map(|(from, to)| url.strip_prefix(from).map(|r| (*to, r)))
    .unwrap_or(("", url));
    // A byte scan: `split('/')` brings `memchr` into the browser build for this one use.
    let end = rest.bytes().position(|b| b == b'/').unwrap_or(rest.len());
    let host = rest.get(..end).unwrap_or(rest);
    [scheme, host, path].concat()
}

/// The signaling WebSocket URL for what an app was given: a `ws(s)://host/v1/signal` URL as
/// is, or an `http(s)://host[:port]` base (with or without a trailing `/`) to which the
/// scheme and the `/v1/signal` path are mapped. Every driver connects to what this returns.
pub fn signal_url(url: &str) -> String {
    let (scheme, rest) = if let Some(r) = url.strip_prefix("http://") {
        ("ws://", r)
    } else if let Some(r) = url.strip_prefix("https://") {
        ("wss://", r)
    } else if let Some(r) = url.strip_prefix("ws://") {
        ("ws://", r)
    } else if let Some(r) = url.strip_prefix("wss://") {
        ("wss://", r)
    } else {
        return url.to_owned();
    };
    // Byte scans: `trim_end_matches` and `contains` bring a char searcher and `memchr` into
    // the browser build for this one use.
    let mut end = rest.len();
    while end > 0 && rest.as_bytes()[end - 1] == b'/' {
        end -= 1;
    }
    let rest = rest.get(..end).unwrap_or(rest);
    if rest.bytes().any(|b| b == b'/') {
        [scheme, rest].concat()
    } else {
        [scheme, rest, "/v1/signal"].concat()
    }
}
