//! Local recording uploads: resumable, chunked, checksummed; played back through signed,
//! expiring URLs; every access audited.
//!
//! The uploader is the member who recorded, with its join token (`Authorization: Bearer
//! <jwt>`, verified as the signaling join verifies it: signature, expiry, the room's current
//! creation, the member's role). The integrator's API key reads, lists and mints playback
//! URLs. Files live under `<data-dir>/recordings/<id>/` (see [`files`]), the index and the
//! audit log in the SQLite store; without `--data-dir` every route answers
//! `404 recordings_disabled` (an upload must outlive the process that took it).
//!
//! | route | who | what |
//! |---|---|---|
//! | `POST /v1/recordings` | member | `{mime?, idempotencyKey?}`: a new upload (`201`, the recording as below); with a key this member already used in this creation of the room, that recording as it is now (`200`, not counted again); `409 recording_limit` once the room has `max_per_room` |
//! | `GET /v1/recordings/{id}` | key or uploader | the recording: `state`, stored `chunks`, limits; what a resumed upload sends next |
//! | `PUT /v1/recordings/{id}/chunks/{n}` | uploader | chunk `n` with `X-Content-SHA256`: `201` stored, `200` the same again, `409` different bytes |
//! | `POST /v1/recordings/{id}/complete` | uploader | `{chunks, manifest, sidecar?}`: checks `0..chunks` are all there and assembles the media |
//! | `GET /v1/recordings?roomId=` | key | a room's recordings |
//! | `POST /v1/recordings/{id}/playback` | key | `{ttlSecs?}` → `{url, expiresAt}` |
//! | `GET /v1/recordings/{id}/media?exp=&sig=` | the URL | the media, with `Range` |
//! | `GET /v1/recordings/{id}/audit` | key | who accessed it |
//!
//! Audited (one row each): create, complete, read, list, playback URL minted, media fetched,
//! audit read. Chunk uploads are not (the recording's `chunks` say what arrived), nor retries
//! answered with what is there (a create under a known key, a repeated completion).

mod access;
mod files;
mod sign;
mod upload;

use std::sync::Arc;
use std::time::Duration;

use assistrtc_core::protocol::RoomId;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

pub(crate) use self::files::RecordingFiles;
pub(crate) use self::sign::PlaybackSigner;
use crate::jwt::{self, Claims};
use crate::rest::{ApiError, AppState, blocking, constant_time_eq};
use crate::store::{AuditEntry, RecordingRecord, RecordingStore, StoreError};

/// Bounds on uploads; every one configurable through [`ServerConfig`](crate::ServerConfig).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordingLimits {
    /// Largest chunk, in bytes. A longer body is refused with `413` as soon as it passes
    /// this (from `Content-Length` before any byte is read).
    pub max_chunk_bytes: u64,
    /// Most chunks per recording (numbers `0..max_chunks`).
    pub max_chunks: u32,
    /// Largest recording, all chunks together, in bytes.
    pub max_recording_bytes: u64,
    /// Largest `complete` body (manifest and sidecar JSON), in bytes.
    pub max_metadata_bytes: usize,
    /// Most recordings per room.
    pub max_per_room: usize,
    /// Longest a playback URL may stay valid, in seconds.
    pub max_playback_ttl_secs: u64,
}

/// Default [`RecordingLimits::max_chunk_bytes`]: 8 MiB.
pub const DEFAULT_MAX_CHUNK_BYTES: u64 = 8 << 20;
/// Default playback URL lifetime when none is asked for.
pub const DEFAULT_PLAYBACK_TTL_SECS: u64 = 300;

impl Default for RecordingLimits {
    fn default() -> Self {
        Self {
            max_chunk_bytes: DEFAULT_MAX_CHUNK_BYTES,
            max_chunks: 100_000,
            // The core recorder's default size cap (1 GiB), with room for its last chunk.
            max_recording_bytes: 2 << 30,
            // A full sidecar (10 000 entries) and an hour's manifest fit.
            max_metadata_bytes: 8 << 20,
            max_per_room: 1_000,
            max_playback_ttl_secs: 3_600,
        }
    }
}

/// What the recording routes need besides the shared state.
#[derive(Debug, Clone)]
pub(crate) struct Recordings {
    pub(crate) files: RecordingFiles,
    pub(crate) limits: RecordingLimits,
    pub(crate) signer: PlaybackSigner,
    /// The server's REST body timeout: a chunk's body must arrive within it.
    pub(crate) body_timeout: Duration,
}

/// The header carrying a chunk's SHA-256 (hex).
const CHECKSUM_HEADER: &str = "x-content-sha256";

/// JSON bodies other than chunks (create, playback) are small.
const MAX_SMALL_BODY: usize = crate::MAX_REST_BODY;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/recordings", post(upload::create).get(access::list))
        .route("/v1/recordings/{id}", get(access::read))
        .route("/v1/recordings/{id}/chunks/{n}", put(upload::put_chunk))
        .route("/v1/recordings/{id}/complete", post(upload::complete))
        .route("/v1/recordings/{id}/playback", post(access::playback))
        .route("/v1/recordings/{id}/media", get(access::media))
        .route("/v1/recordings/{id}/audit", get(access::audit_log))
}

// ---- plumbing -------------------------------------------------------------------------------

fn enabled(state: &AppState) -> Result<&Recordings, ApiError> {
    state
        .inner
        .recordings
        .as_ref()
        .ok_or(ApiError::RecordingsDisabled)
}

/// Runs `f` on the recording store off the async task.
async fn with_store<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&dyn RecordingStore) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = Arc::clone(&state.inner.store);
    let result = blocking(state, move || match store.recordings() {
        Some(recordings) => f(recordings),
        None => Err(StoreError::Storage("no recording store".into())),
    })
    .await?;
    Ok(result?)
}

fn now_secs(state: &AppState) -> u64 {
    state.inner.clock.now().0 / 1000
}

/// Who made a request, as the audit log names it.
enum Actor {
    ApiKey,
    Member(Claims),
    /// Whoever holds a playback URL.
    SignedUrl,
}

impl Actor {
    fn name(&self) -> String {
        match self {
            Self::ApiKey => "api_key".into(),
            Self::Member(c) => format!("member:{}/{}", c.room, c.sub),
            Self::SignedUrl => "signed_url".into(),
        }
    }
}

fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(ApiError::Unauthorized(
            "missing `Authorization: Bearer <token>` header",
        ))
}

/// A member's join token: signature and expiry (the room is checked by the caller).
fn member(state: &AppState, headers: &HeaderMap) -> Result<Claims, ApiError> {
    let token = bearer(headers)?;
    if constant_time_eq(token.as_bytes(), state.inner.api_key.as_bytes()) {
        return Err(ApiError::Unauthorized(
            "uploads take the recording member's join token, not the API key",
        ));
    }
    Ok(jwt::verify(
        &state.inner.jwt_secret,
        token,
        now_secs(state),
    )?)
}

/// The API key, or else a member's join token.
fn key_or_member(state: &AppState, headers: &HeaderMap) -> Result<Actor, ApiError> {
    let token = bearer(headers)?;
    if constant_time_eq(token.as_bytes(), state.inner.api_key.as_bytes()) {
        return Ok(Actor::ApiKey);
    }
    Ok(Actor::Member(jwt::verify(
        &state.inner.jwt_secret,
        token,
        now_secs(state),
    )?))
}

/// Only the member who created the upload, with a token of that creation of the room.
fn check_uploader(claims: &Claims, rec: &RecordingRecord) -> Result<(), ApiError> {
    if claims.room != rec.room || claims.epoch != rec.epoch {
        return Err(ApiError::Forbidden(
            "the token is for another room than this recording's".into(),
        ));
    }
    if claims.sub != rec.member {
        return Err(ApiError::Forbidden(
            "only the member who started the upload may continue it".into(),
        ));
    }
    Ok(())
}

/// Recording ids are generated here: `rec_` and 16 hex digits. Anything else is not found
/// before it comes near the store or a path.
fn valid_id(id: &str) -> Result<(), ApiError> {
    let ok = id
        .strip_prefix("rec_")
        .is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok { Ok(()) } else { Err(not_found(id)) }
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("no recording `{id}`"))
}

async fn load(state: &AppState, id: &str) -> Result<RecordingRecord, ApiError> {
    valid_id(id)?;
    let key = id.to_owned();
    with_store(state, move |s| s.recording(&key))
        .await?
        .ok_or_else(|| not_found(id))
}

async fn audit(
    state: &AppState,
    actor: &Actor,
    action: &str,
    subject: String,
    detail: Option<serde_json::Value>,
) -> Result<(), ApiError> {
    let entry = AuditEntry {
        at: now_secs(state),
        actor: actor.name(),
        action: action.into(),
        subject,
        detail: detail.map(|d| d.to_string()),
    };
    with_store(state, move |s| s.audit(&entry)).await
}

/// Reads a whole small body: at most `limit` bytes, within the body timeout.
async fn read_body(
    recordings: &Recordings,
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let too_large = || ApiError::PayloadTooLarge(format!("the body is larger than {limit} bytes"));
    if declared_length(headers).is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match tokio::time::timeout(recordings.body_timeout, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(too_large()),
        Err(_) => Err(ApiError::RequestTimeout(
            "the request body did not arrive in time",
        )),
    }
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// A JSON body, or `{}` when empty.
fn parse_json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.contains('?') {
            ApiError::BadRequest(format!("invalid body: {inner}"))
        } else {
            ApiError::BadRequest(format!("{path}: {inner}"))
        }
    })?;
    de.end()
        .map_err(|e| ApiError::BadRequest(format!("invalid body: {e}")))?;
    Ok(value)
}

/// Media types served as they are: audio or video, plain characters only; anything else is
/// served as `application/octet-stream`, so an upload can never become a page of this origin.
fn playable_mime(mime: &str) -> Option<&str> {
    let ok = mime.len() <= 127
        && (mime.starts_with("video/") || mime.starts_with("audio/"))
        && mime
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/;=,.+- ".contains(&b));
    ok.then_some(mime)
}

// ---- views ----------------------------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LimitsView {
    max_chunk_bytes: u64,
    max_chunks: u32,
    max_bytes: u64,
}

/// A recording as the API shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RecordingView {
    id: String,
    room_id: RoomId,
    member_id: String,
    state: &'static str,
    created_at: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed_at: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mime: Option<String>,
    /// Total bytes stored.
    bytes: u64,
    /// The numbers of the stored chunks, ascending: what a resumed upload need not send.
    chunks: Vec<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chunk_count: Option<u32>,
    limits: LimitsView,
    /// The room when the upload began: permissions, members, presence and consent.
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    manifest: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sidecar: Option<Box<RawValue>>,
}

fn raw(text: &str) -> Option<Box<RawValue>> {
    RawValue::from_string(text.to_owned()).ok()
}

fn view(rec: RecordingRecord, limits: &RecordingLimits, with_metadata: bool) -> RecordingView {
    let bytes = rec.bytes();
    RecordingView {
        room_id: rec.room,
        member_id: rec.member.to_string(),
        state: rec.state.as_str(),
        created_at: rec.created_at,
        completed_at: rec.completed_at,
        mime: rec.mime,
        bytes,
        chunks: rec.chunks.iter().map(|c| c.n).collect(),
        chunk_count: rec.chunk_count,
        limits: LimitsView {
            max_chunk_bytes: limits.max_chunk_bytes,
            max_chunks: limits.max_chunks,
            max_bytes: limits.max_recording_bytes,
        },
        context: raw(&rec.context),
        manifest: rec
            .manifest
            .as_deref()
            .filter(|_| with_metadata)
            .and_then(raw),
        sidecar: rec
            .sidecar
            .as_deref()
            .filter(|_| with_metadata)
            .and_then(raw),
        id: rec.id,
    }
}

/// Cleans what a crash left behind; run at start. Blocking.
pub(crate) fn clean_partials(files: &RecordingFiles) {
    let removed = files.clean_partials();
    if removed > 0 {
        tracing::info!(removed, "removed unfinished recording files");
    }
}
