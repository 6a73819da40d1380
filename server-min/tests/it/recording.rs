//! Local recording uploads: resumable chunks, completion, signed playback, audit.

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

use crate::support::{API_KEY, Server, raw_connect, read_response, within};

/// A fresh directory for one test, removed when dropped.
struct DataDir(PathBuf);

impl DataDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("assistrtc-it-rec-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Bytes of chunk `n`: distinct per chunk, and not all the same size.
fn chunk_bytes(n: u8) -> Vec<u8> {
    (0..1000 + usize::from(n) * 37)
        .map(|i| (i as u8).wrapping_mul(n + 1))
        .collect()
}

struct Http {
    base: String,
    client: reqwest::Client,
}

impl Http {
    fn new(server: &Server) -> Self {
        Self {
            base: server.base.clone(),
            client: reqwest::Client::new(),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = within("request", req.send()).await.expect("answered");
        let status = resp.status();
        let body = within("body", resp.json::<Value>())
            .await
            .unwrap_or(Value::Null);
        (status, body)
    }

    async fn post(&self, path: &str, bearer: &str, body: Value) -> (StatusCode, Value) {
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(bearer)
            .header("content-type", "application/json")
            .body(body.to_string());
        self.send(req).await
    }

    async fn get(&self, path: &str, bearer: &str) -> (StatusCode, Value) {
        let req = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(bearer);
        self.send(req).await
    }

    /// `PUT` chunk `n` with the given checksum header.
    async fn put_chunk(
        &self,
        id: &str,
        n: u32,
        token: &str,
        bytes: &[u8],
        checksum: &str,
    ) -> (StatusCode, Value) {
        let req = self
            .client
            .put(format!("{}/v1/recordings/{id}/chunks/{n}", self.base))
            .bearer_auth(token)
            .header("x-content-sha256", checksum)
            .body(bytes.to_vec());
        self.send(req).await
    }

    /// `GET` a media URL: status, content type and bytes.
    async fn media(&self, url: &str, range: Option<&str>) -> (StatusCode, String, Vec<u8>) {
        let mut req = self.client.get(format!("{}{url}", self.base));
        if let Some(range) = range {
            req = req.header("range", range);
        }
        let resp = within("media", req.send()).await.expect("answered");
        let status = resp.status();
        let mime = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = within("media body", resp.bytes()).await.expect("body");
        (status, mime, bytes.to_vec())
    }
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

async fn start(dir: &DataDir) -> Server {
    let path = dir.0.clone();
    Server::start_with(|c| {
        c.data_dir = Some(path);
        c.recording.max_chunk_bytes = 4096;
    })
    .await
}

async fn room(server: &Server, id: &str) -> std::collections::HashMap<String, String> {
    server
        .create_room(
            id,
            &[("agent_1", "host"), ("user_9", "guest")],
            json!({"screen": true, "recording": "local"}),
        )
        .await
}

async fn create(http: &Http, token: &str) -> String {
    let (status, rec) = http
        .post(
            "/v1/recordings",
            token,
            json!({"mime": "video/webm;codecs=vp8,opus"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rec}");
    assert_eq!(rec["state"], "uploading");
    assert_eq!(rec["chunks"], json!([]));
    rec["id"].as_str().unwrap().to_owned()
}

fn manifest() -> Value {
    json!({"version": 1, "state": "stopped", "complete": true, "mime": "video/webm;codecs=vp8,opus",
           "duration_ms": 3000, "bytes": 3111})
}

#[tokio::test]
async fn chunks_upload_out_of_order_complete_and_play_back_identically() {
    let dir = DataDir::new("roundtrip");
    let server = start(&dir).await;
    let http = Http::new(&server);
    let tokens = room(&server, "rm_rec").await;
    let agent = &tokens["agent_1"];
    let id = create(&http, agent).await;

    let chunks: Vec<Vec<u8>> = (0..3).map(chunk_bytes).collect();
    // Out of order: 2, then 0.
    for n in [2u32, 0] {
        let bytes = &chunks[n as usize];
        let (status, body) = http.put_chunk(&id, n, agent, bytes, &sha(bytes)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["sha256"], sha(bytes));
    }
    // What a resumed upload sees: 0 and 2 are stored.
    let (status, rec) = http.get(&format!("/v1/recordings/{id}"), agent).await;
    assert_eq!(status, StatusCode::OK, "{rec}");
    assert_eq!(rec["chunks"], json!([0, 2]));
    assert_eq!(rec["limits"]["maxChunkBytes"], 4096);
    // The consent record: the room's members as they were (nobody had joined).
    assert_eq!(rec["context"]["members"][0]["id"], "agent_1");
    assert_eq!(rec["context"]["members"][1]["consented"], false);

    // A wrong checksum is refused, and nothing is stored.
    let (status, body) = http
        .put_chunk(&id, 1, agent, &chunks[1], &sha(b"other"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(code(&body), "checksum_mismatch");
    // Completing now names the missing chunk.
    let done = json!({"chunks": 3, "manifest": manifest(), "sidecar": {"version": 1, "entries": [], "dropped": 0}});
    let (status, body) = http
        .post(
            &format!("/v1/recordings/{id}/complete"),
            agent,
            done.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("1"),
        "{body}"
    );

    let (status, _) = http
        .put_chunk(&id, 1, agent, &chunks[1], &sha(&chunks[1]))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // The same chunk again: idempotent. Other bytes under its number: a conflict.
    let (status, _) = http
        .put_chunk(&id, 1, agent, &chunks[1], &sha(&chunks[1]))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = http
        .put_chunk(&id, 1, agent, &chunks[2], &sha(&chunks[2]))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(code(&body), "conflict");
    // No playback before completion.
    let (status, _) = http
        .post(&format!("/v1/recordings/{id}/playback"), API_KEY, json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (status, rec) = http
        .post(
            &format!("/v1/recordings/{id}/complete"),
            agent,
            done.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rec}");
    assert_eq!(rec["state"], "complete");
    assert_eq!(rec["chunkCount"], 3);
    assert_eq!(rec["manifest"], manifest());
    assert_eq!(rec["mime"], "video/webm;codecs=vp8,opus");
    // The completion's answer was lost: the retry gets it again.
    let (status, _) = http
        .post(&format!("/v1/recordings/{id}/complete"), agent, done)
        .await;
    assert_eq!(status, StatusCode::OK);
    // The manifest is kept as uploaded (field order included).
    let (_, rec) = http.get(&format!("/v1/recordings/{id}"), API_KEY).await;
    assert_eq!(rec["manifest"], manifest());
    assert_eq!(rec["sidecar"]["version"], 1);
    // Listed under its room.
    let (status, list) = http.get("/v1/recordings?roomId=rm_rec", API_KEY).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["recordings"][0]["id"], id.as_str());

    // Playback: a signed URL, the concatenated chunks byte for byte, with Range.
    let (status, minted) = http
        .post(
            &format!("/v1/recordings/{id}/playback"),
            API_KEY,
            json!({"ttlSecs": 60}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    let url = minted["url"].as_str().unwrap().to_owned();
    let whole: Vec<u8> = chunks.concat();
    let (status, mime, bytes) = http.media(&url, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mime, "video/webm;codecs=vp8,opus");
    assert_eq!(bytes, whole);
    let (status, _, bytes) = http.media(&url, Some("bytes=1000-1099")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(bytes, whole[1000..1100]);
    // The chunk files are gone; the media file holds them.
    assert!(!dir.0.join(format!("recordings/{id}/0.chunk")).exists());

    // Tampered, or for another recording, or expired: refused.
    let tampered = url.replace("exp=", "exp=1");
    let (status, _, _) = http.media(&tampered, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = http
        .media(&format!("/v1/recordings/{id}/media"), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    server.advance(60_000);
    let resp = within(
        "expired media",
        reqwest::get(format!("{}{url}", server.base)),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(code(&body), "token_expired");
    // Longer than the bound: refused.
    let (status, _) = http
        .post(
            &format!("/v1/recordings/{id}/playback"),
            API_KEY,
            json!({"ttlSecs": 3601}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Every access is in the audit log.
    let (status, log) = http
        .get(&format!("/v1/recordings/{id}/audit"), API_KEY)
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let actions: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "recording.create",
            "recording.read",
            "recording.complete",
            "recording.read",
            "recording.playback_url",
            "recording.media",
            "recording.media",
            "recording.audit_read",
        ],
        "{log}"
    );
    assert_eq!(log["entries"][0]["actor"], "member:rm_rec/agent_1");
    assert_eq!(log["entries"][3]["actor"], "api_key");
    assert_eq!(log["entries"][5]["actor"], "signed_url");
    assert_eq!(log["entries"][6]["detail"]["range"], "bytes=1000-1099");
    server.stop().await;
    // The same rows in the state file.
    let db = rusqlite::Connection::open(dir.0.join(assistrtc_server::STATE_FILE)).unwrap();
    let rows: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM audit WHERE subject = ?1",
            [format!("recording:{id}")],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 8);
}

#[tokio::test]
async fn uploads_are_for_the_recording_member_of_the_room() {
    let dir = DataDir::new("auth");
    let server = start(&dir).await;
    let http = Http::new(&server);
    let tokens = room(&server, "rm_a").await;
    let other = room(&server, "rm_b").await;
    let agent = &tokens["agent_1"];

    // The API key, no token, a guest (who may not record): refused.
    let (status, body) = http.post("/v1/recordings", API_KEY, json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = http
        .post("/v1/recordings", &tokens["user_9"], json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(code(&body), "forbidden");

    let id = create(&http, agent).await;
    let bytes = chunk_bytes(0);
    // A token of another room, or of another member of this one.
    for token in [&other["agent_1"], &tokens["user_9"]] {
        let (status, body) = http.put_chunk(&id, 0, token, &bytes, &sha(&bytes)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let (status, _) = http.get(&format!("/v1/recordings/{id}"), token).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    // Reads and playback are the API key's; a member token cannot list or mint.
    let (status, _) = http.get("/v1/recordings?roomId=rm_a", agent).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = http
        .post(&format!("/v1/recordings/{id}/playback"), agent, json!({}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // No checksum header, an unknown recording.
    let req = http
        .client
        .put(format!("{}/v1/recordings/{id}/chunks/0", server.base))
        .bearer_auth(agent)
        .body(bytes.clone());
    let (status, body) = http.send(req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = http
        .put_chunk("rec_0000000000000000", 0, agent, &bytes, &sha(&bytes))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // An expired join token.
    server.advance(601_000);
    let (status, body) = http.put_chunk(&id, 0, agent, &bytes, &sha(&bytes)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(code(&body), "token_expired");
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_chunk_is_refused_before_its_end() {
    let dir = DataDir::new("size");
    let server = start(&dir).await;
    let http = Http::new(&server);
    let tokens = room(&server, "rm_size").await;
    let agent = &tokens["agent_1"];
    let id = create(&http, agent).await;

    // Declared too long: refused from the header.
    let big = vec![7u8; 4097];
    let (status, body) = http.put_chunk(&id, 0, agent, &big, &sha(&big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");

    // Chunked, never ending: refused once past the limit, while the body is still open.
    let head = format!(
        "PUT /v1/recordings/{id}/chunks/0 HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {agent}\r\n\
         x-content-sha256: {}\r\ntransfer-encoding: chunked\r\n\r\n",
        sha(b"")
    );
    let mut tcp = raw_connect(server.addr, head.as_bytes()).await;
    let piece = [1u8; 1024];
    for _ in 0..5 {
        let mut frame = format!("{:x}\r\n", piece.len()).into_bytes();
        frame.extend_from_slice(&piece);
        frame.extend_from_slice(b"\r\n");
        within("write", tcp.write_all(&frame)).await.unwrap();
    }
    let resp = read_response(&mut tcp).await;
    assert_eq!(resp.status, 413, "{:?}", resp.body);
    assert_eq!(resp.header("connection"), Some("close"));
    // Nothing was kept, not even a temporary file.
    let (_, rec) = http.get(&format!("/v1/recordings/{id}"), agent).await;
    assert_eq!(rec["chunks"], json!([]));
    let leftovers = std::fs::read_dir(dir.0.join(format!("recordings/{id}")))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(leftovers, 0);
    server.stop().await;
}

#[tokio::test]
async fn an_upload_resumes_after_a_server_restart() {
    let dir = DataDir::new("restart");
    let server = start(&dir).await;
    let http = Http::new(&server);
    let tokens = room(&server, "rm_resume").await;
    let agent = tokens["agent_1"].clone();
    let id = create(&http, &agent).await;
    let chunks: Vec<Vec<u8>> = (0..4).map(chunk_bytes).collect();
    for n in [0u32, 1] {
        let bytes = &chunks[n as usize];
        let (status, _) = http.put_chunk(&id, n, &agent, bytes, &sha(bytes)).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    server.stop().await;
    // A crash left a partial chunk behind: the new process clears it.
    let partial = dir
        .0
        .join(format!("recordings/{id}/2.0123456789abcdef.part"));
    std::fs::write(&partial, b"half a chunk").unwrap();

    let server = start(&dir).await;
    let http = Http::new(&server);
    assert!(!partial.exists());
    let (status, rec) = http.get(&format!("/v1/recordings/{id}"), &agent).await;
    assert_eq!(status, StatusCode::OK, "{rec}");
    assert_eq!(rec["chunks"], json!([0, 1]));
    // The tab sends what is missing (and chunk 1 again, unsure whether it arrived).
    for n in [1u32, 2, 3] {
        let bytes = &chunks[n as usize];
        let (status, body) = http.put_chunk(&id, n, &agent, bytes, &sha(bytes)).await;
        assert!(status.is_success(), "{status} {body}");
    }
    let (status, body) = http
        .post(
            &format!("/v1/recordings/{id}/complete"),
            &agent,
            json!({"chunks": 4, "manifest": manifest()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, minted) = http
        .post(&format!("/v1/recordings/{id}/playback"), API_KEY, json!({}))
        .await;
    let (status, _, bytes) = http.media(minted["url"].as_str().unwrap(), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, chunks.concat());
    server.stop().await;
}

/// A create under `key` (none if empty): the status and the recording's id, if any.
async fn create_keyed(http: &Http, token: &str, key: &str) -> (StatusCode, Value) {
    let mut body = json!({"mime": "video/webm"});
    if !key.is_empty() {
        body["idempotencyKey"] = key.into();
    }
    http.post("/v1/recordings", token, body).await
}

#[tokio::test]
async fn a_create_sent_again_under_its_key_gets_the_same_recording() {
    let dir = DataDir::new("idem");
    let path = dir.0.clone();
    let server = Server::start_with(|c| {
        c.data_dir = Some(path);
        c.recording.max_per_room = 2;
    })
    .await;
    let http = Http::new(&server);
    let tokens = server
        .create_room(
            "rm_idem",
            &[("agent_1", "host"), ("agent_2", "host")],
            json!({"screen": true, "recording": "local"}),
        )
        .await;
    let (a1, a2) = (&tokens["agent_1"], &tokens["agent_2"]);

    let (status, first) = create_keyed(&http, a1, "rec-m1x2y3z4-abc123").await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let id = first["id"].as_str().unwrap().to_owned();
    let bytes = chunk_bytes(0);
    let (status, _) = http.put_chunk(&id, 0, a1, &bytes, &sha(&bytes)).await;
    assert_eq!(status, StatusCode::CREATED);
    // The answer was lost and the create is sent again: the same recording, as it is now.
    let (status, again) = create_keyed(&http, a1, "rec-m1x2y3z4-abc123").await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], id.as_str());
    assert_eq!(again["state"], "uploading");
    assert_eq!(again["chunks"], json!([0]));
    // Another member's same key is another recording, its own; and it fits in the room's
    // two, so the retry above did not count.
    let (status, other) = create_keyed(&http, a2, "rec-m1x2y3z4-abc123").await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    assert_ne!(other["id"], id.as_str());
    assert_eq!(other["memberId"], "agent_2");
    assert_eq!(other["chunks"], json!([]));

    // The room is full: a known key still answers, anything new is refused for good.
    let (status, again) = create_keyed(&http, a1, "rec-m1x2y3z4-abc123").await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], id.as_str());
    for (token, key) in [(a1, "rec-other"), (a2, "")] {
        let (status, body) = create_keyed(&http, token, key).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(code(&body), "recording_limit");
    }
    let (_, list) = http.get("/v1/recordings?roomId=rm_idem", API_KEY).await;
    assert_eq!(
        list["recordings"].as_array().map(Vec::len),
        Some(2),
        "{list}"
    );
    // One creation in the audit log.
    let (_, log) = http
        .get(&format!("/v1/recordings/{id}/audit"), API_KEY)
        .await;
    let creates = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "recording.create")
        .count();
    assert_eq!(creates, 1, "{log}");
    server.stop().await;
}

#[tokio::test]
async fn an_idempotency_key_is_short_and_plain() {
    let dir = DataDir::new("idem-key");
    let server = start(&dir).await;
    let http = Http::new(&server);
    let tokens = room(&server, "rm_key").await;
    let agent = &tokens["agent_1"];
    let long = "k".repeat(65);
    for key in [
        json!(""),
        json!("a b"),
        json!("rec/1"),
        json!(long),
        json!(12),
    ] {
        let (status, body) = http
            .post("/v1/recordings", agent, json!({"idempotencyKey": key}))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{key}: {body}");
        assert_eq!(code(&body), "bad_request");
    }
    let (status, body) = create_keyed(&http, agent, &"K_-9".repeat(16)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Nothing was created by the refused ones.
    let (_, list) = http.get("/v1/recordings?roomId=rm_key", API_KEY).await;
    assert_eq!(
        list["recordings"].as_array().map(Vec::len),
        Some(1),
        "{list}"
    );
    server.stop().await;
}

#[tokio::test]
async fn without_a_data_dir_recordings_are_refused() {
    let server = Server::start().await;
    let http = Http::new(&server);
    let tokens = room(&server, "rm_mem").await;
    let (status, body) = http
        .post("/v1/recordings", &tokens["agent_1"], json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(code(&body), "recordings_disabled");
    let (status, body) = http.get("/v1/recordings?roomId=rm_mem", API_KEY).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    server.stop().await;
}

#[tokio::test]
async fn the_openapi_document_lists_the_recording_routes() {
    let server = Server::start().await;
    let (status, text) = server.get_text("/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_str(&text).unwrap();
    for (path, method) in [
        ("/v1/recordings", "post"),
        ("/v1/recordings", "get"),
        ("/v1/recordings/{id}", "get"),
        ("/v1/recordings/{id}/chunks/{n}", "put"),
        ("/v1/recordings/{id}/complete", "post"),
        ("/v1/recordings/{id}/playback", "post"),
        ("/v1/recordings/{id}/media", "get"),
        ("/v1/recordings/{id}/audit", "get"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    server.stop().await;
}
