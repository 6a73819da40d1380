//! Rooms for the benchmark, created through `POST /v1/rooms`.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt as _;
use serde_json::{Value, json};

/// One room's join tokens: host `a` and guest `b`.
pub(crate) struct PairTokens {
    pub(crate) a: String,
    pub(crate) b: String,
}

/// Longest one `POST /v1/rooms` may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Creates `count` rooms `bench_<first + i>` (members `a`/host, `b`/guest), `concurrency`
/// requests in flight, and returns their tokens in order.
pub(crate) async fn create_rooms(
    addr: SocketAddr,
    api_key: &str,
    first: usize,
    count: usize,
    concurrency: usize,
) -> Result<Vec<PairTokens>, String> {
    let client = reqwest::Client::builder()
        // Loopback only: never go through a proxy from the environment.
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .pool_max_idle_per_host(concurrency)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let url = format!("http://{addr}/v1/rooms");
    let mut results = futures_util::stream::iter(first..first + count)
        .map(|i| create_room(&client, &url, api_key, i))
        .buffered(concurrency);
    let mut rooms = Vec::with_capacity(count);
    while let Some(result) = results.next().await {
        rooms.push(result?);
    }
    Ok(rooms)
}

async fn create_room(
    client: &reqwest::Client,
    url: &str,
    api_key: &str,
    i: usize,
) -> Result<PairTokens, String> {
    let body = json!({
        "roomId": format!("bench_{i}"),
        "members": [{"id": "a", "role": "host"}, {"id": "b", "role": "guest"}],
        "permissions": {"screen": true},
    });
    let response = client
        .post(url)
        .bearer_auth(api_key)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("POST /v1/rooms (room {i}): {e}"))?;
    let status = response.status();
    let answer: Value = response
        .json()
        .await
        .map_err(|e| format!("POST /v1/rooms (room {i}): {status}, unreadable body: {e}"))?;
    if !status.is_success() {
        return Err(format!("POST /v1/rooms (room {i}): {status} {answer}"));
    }
    let token = |id: &str| {
        answer["members"]
            .as_array()
            .and_then(|ms| ms.iter().find(|m| m["id"] == id))
            .and_then(|m| m["token"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| format!("POST /v1/rooms (room {i}): no token for `{id}` in {answer}"))
    };
    Ok(PairTokens {
        a: token("a")?,
        b: token("b")?,
    })
}
