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
//! | `POST /v1/recordings` | member | a new upload (`201`, the recording as below) |
//! | `GET /v1/recordings/{id}` | key or uploader | the recording: `state`, stored `chunks`, limits; what a resumed upload sends next |
//! | `PUT /v1/recordings/{id}/chunks/{n}` | uploader | chunk `n` with `X-Content-SHA256`: `201` stored, `200` the same again, `409` different bytes |
//! | `POST /v1/recordings/{id}/complete` | uploader | `{chunks, manifest, sidecar?}`: checks `0..chunks` are all there and assembles the media |
//! | `GET /v1/recordings?roomId=` | key | a room's recordings |
//! | `POST /v1/recordings/{id}/playback` | key | `{ttlSecs?}` → `{url, expiresAt}` |
//! | `GET /v1/recordings/{id}/media?exp=&sig=` | the URL | the media, with `Range` |
//! | `GET /v1/recordings/{id}/audit` | key | who accessed it |
//!
//! Audited (one row each): create, complete, read, list, playback URL minted, media fetched,
//! audit read. Chunk uploads are not (the recording's `chunks` say what arrived).

mod files;
mod sign;

use std::sync::Arc;
use std::time::Duration;

use assistrtc_core::permissions::{Capabilities, Capability};
use assistrtc_core::protocol::RoomId;
use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::oneshot;

use self::files::ReceiveError;
pub(crate) use self::files::RecordingFiles;
pub(crate) use self::sign::PlaybackSigner;
use crate::jwt::{self, Claims};
use crate::rest::{
    ApiError, AppState, HUB_REPLY_TIMEOUT, blocking, check_api_key, constant_time_eq,
    get_room_blocking,
};
use crate::signal::HubEvent;
use crate::store::{
    AuditEntry, ChunkCommit, Completion, NewRecording, RecordingRecord, RecordingState,
    RecordingStore, StoreError, StoredChunk,
};

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

/// JSON bodies other than chunks (create, playback) are small.
const MAX_SMALL_BODY: usize = crate::MAX_REST_BODY;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/recordings", post(create).get(list))
        .route("/v1/recordings/{id}", get(read))
        .route("/v1/recordings/{id}/chunks/{n}", put(put_chunk))
        .route("/v1/recordings/{id}/complete", post(complete))
        .route("/v1/recordings/{id}/playback", post(playback))
        .route("/v1/recordings/{id}/media", get(media))
        .route("/v1/recordings/{id}/audit", get(audit_log))
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

// ---- handlers -------------------------------------------------------------------------------

/// `POST /v1/recordings` body.
#[derive(Deserialize)]
struct CreateRequest {
    #[serde(default)]
    mime: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let claims = member(&state, &headers)?;
    let recordings = enabled(&state)?;
    let bytes = read_body(recordings, &headers, body, MAX_SMALL_BODY).await?;
    let request: CreateRequest = parse_json(&bytes)?;
    if request.mime.as_deref().is_some_and(|m| m.len() > 255) {
        return Err(ApiError::BadRequest("mime: at most 255 characters".into()));
    }
    // As the signaling join: the room as it is now, this creation of it, this member in
    // this role; rights from the room's definition, not from the token.
    let room_gone = || ApiError::Unauthorized("the token's room does not exist (any more)");
    let def = get_room_blocking(&state, &claims.room)
        .await?
        .ok_or_else(room_gone)?;
    if def.epoch != claims.epoch {
        return Err(room_gone());
    }
    let Some(spec) = def.member(&claims.sub).filter(|m| m.role == claims.role) else {
        return Err(ApiError::Unauthorized(
            "the token's member is not in the room",
        ));
    };
    if !Capabilities::for_role(spec.role, def.permissions).contains(Capability::RecordLocal) {
        return Err(ApiError::Forbidden(
            "this member may not record in this room".into(),
        ));
    }
    let (reply, answer) = oneshot::channel();
    state
        .inner
        .events
        .send(HubEvent::Consent {
            room: claims.room.clone(),
            reply,
        })
        .await
        .map_err(|_| ApiError::Internal("the server is shutting down"))?;
    let consent = tokio::time::timeout(HUB_REPLY_TIMEOUT, answer)
        .await
        .map_err(|_| ApiError::Internal("the signaling hub did not answer in time"))?
        .map_err(|_| ApiError::Internal("the server is shutting down"))?
        .unwrap_or_default();
    let members: Vec<serde_json::Value> = def
        .members
        .iter()
        .map(|m| {
            let c = consent.iter().find(|c| c.member == m.id);
            serde_json::json!({
                "id": m.id,
                "role": m.role,
                "present": c.is_some_and(|c| c.present),
                "consented": c.is_some_and(|c| c.consented),
            })
        })
        .collect();
    let created_at = now_secs(&state);
    let context = serde_json::json!({
        "permissions": def.permissions,
        "members": members,
        "at": created_at,
    });
    let id = format!(
        "rec_{}",
        crate::store::new_epoch().map_err(|_| ApiError::Internal("no randomness"))?
    );
    let new = NewRecording {
        id: id.clone(),
        room: claims.room.clone(),
        epoch: claims.epoch.clone(),
        member: claims.sub.clone(),
        created_at,
        context: context.to_string(),
        mime: request.mime,
    };
    let max = recordings.limits.max_per_room;
    if !with_store(&state, move |s| s.create_recording(new, max)).await? {
        return Err(ApiError::RateLimited(
            "this room has as many recordings as it may",
        ));
    }
    let actor = Actor::Member(claims);
    audit(
        &state,
        &actor,
        "recording.create",
        format!("recording:{id}"),
        None,
    )
    .await?;
    tracing::info!(recording = %id, "recording upload started");
    let rec = load(&state, &id).await?;
    let limits = recordings.limits;
    Ok((StatusCode::CREATED, Json(view(rec, &limits, false))).into_response())
}

/// `GET /v1/recordings/{id}`: for the API key or the uploader (to resume).
async fn read(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<RecordingView>, ApiError> {
    let actor = key_or_member(&state, &headers)?;
    let recordings = enabled(&state)?;
    let rec = load(&state, &id).await?;
    if let Actor::Member(claims) = &actor {
        check_uploader(claims, &rec)?;
    }
    audit(
        &state,
        &actor,
        "recording.read",
        format!("recording:{id}"),
        None,
    )
    .await?;
    Ok(Json(view(rec, &recordings.limits, true)))
}

/// `GET /v1/recordings?roomId=…` (API key): a room's recordings, without their metadata.
async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    check_api_key(&state, &headers)?;
    let recordings = enabled(&state)?;
    let room = query_param(query.as_deref(), "roomId")
        .ok_or_else(|| ApiError::BadRequest("roomId: the query parameter is required".into()))?;
    let room = RoomId::new(room).map_err(|e| ApiError::BadRequest(format!("roomId: {e}")))?;
    let key = room.clone();
    let recs = with_store(&state, move |s| s.recordings_of_room(&key)).await?;
    audit(
        &state,
        &Actor::ApiKey,
        "recording.list",
        format!("room:{room}"),
        None,
    )
    .await?;
    let limits = recordings.limits;
    let views: Vec<RecordingView> = recs.into_iter().map(|r| view(r, &limits, false)).collect();
    Ok(Json(serde_json::json!({ "recordings": views })))
}

/// The value of `name` in a query string (no percent-decoding: the values the recording
/// routes take never need it).
fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `PUT /v1/recordings/{id}/chunks/{n}`: one chunk, streamed to disk.
async fn put_chunk(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, n)): Path<(String, String)>,
    body: Body,
) -> Result<Response, ApiError> {
    let claims = member(&state, &headers)?;
    let recordings = enabled(&state)?.clone();
    let limits = recordings.limits;
    let n: u32 = n
        .parse()
        .ok()
        .filter(|&n| n < limits.max_chunks)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "the chunk number must be an integer from 0 to {}",
                limits.max_chunks - 1
            ))
        })?;
    let expected = headers
        .get(CHECKSUM_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase)
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "the `{CHECKSUM_HEADER}` header must hold the chunk's SHA-256 in hex"
            ))
        })?;
    let too_large = || {
        ApiError::PayloadTooLarge(format!(
            "a chunk is at most {} bytes",
            limits.max_chunk_bytes
        ))
    };
    let declared = declared_length(&headers);
    if declared.is_some_and(|len| len > limits.max_chunk_bytes) {
        return Err(too_large());
    }
    let rec = load(&state, &id).await?;
    check_uploader(&claims, &rec)?;
    let over_total = || {
        ApiError::PayloadTooLarge(format!(
            "a recording is at most {} bytes",
            limits.max_recording_bytes
        ))
    };
    if declared.is_some_and(|len| rec.bytes().saturating_add(len) > limits.max_recording_bytes) {
        return Err(over_total());
    }
    let received = recordings
        .files
        .receive(
            &id,
            n,
            body,
            limits.max_chunk_bytes,
            recordings.body_timeout,
        )
        .await
        .map_err(|e| match e {
            ReceiveError::TooLarge => too_large(),
            ReceiveError::Timeout => ApiError::RequestTimeout("the chunk did not arrive in time"),
            ReceiveError::Body => ApiError::BadRequest("the chunk body broke off".into()),
            ReceiveError::Io(e) => {
                tracing::error!(recording = %id, "cannot write chunk: {e}");
                ApiError::Internal("cannot write the chunk")
            }
        })?;
    let temp = received.temp.clone();
    let discard = |temp: std::path::PathBuf| async move {
        let _ = tokio::fs::remove_file(temp).await;
    };
    if received.sha256 != expected {
        discard(temp).await;
        return Err(ApiError::ChecksumMismatch(format!(
            "the chunk's SHA-256 is {}, not {expected}",
            received.sha256
        )));
    }
    let chunk = StoredChunk {
        n,
        bytes: received.bytes,
        sha256: received.sha256,
    };
    let (files, key, stored) = (recordings.files.clone(), id.clone(), chunk.clone());
    let placed_from = temp.clone();
    let outcome = with_store(&state, move |s| {
        s.commit_chunk(&key, &stored, limits.max_recording_bytes, &mut || {
            files.place(&placed_from, &key, n)
        })
    })
    .await;
    let status = match outcome {
        Ok(ChunkCommit::Stored) => StatusCode::CREATED,
        Ok(ChunkCommit::Identical) => {
            discard(temp).await;
            StatusCode::OK
        }
        other => {
            discard(temp).await;
            return Err(match other {
                Ok(ChunkCommit::Conflict(why)) => ApiError::Conflict(format!("chunk {n}: {why}")),
                Ok(ChunkCommit::TooLarge) => over_total(),
                Ok(ChunkCommit::NotFound) => not_found(&id),
                Err(e) => e,
                Ok(ChunkCommit::Stored | ChunkCommit::Identical) => {
                    unreachable!("handled above")
                }
            });
        }
    };
    let body = serde_json::json!({ "n": n, "bytes": chunk.bytes, "sha256": chunk.sha256 });
    Ok((status, Json(body)).into_response())
}

/// The header carrying a chunk's SHA-256 (hex).
pub(crate) const CHECKSUM_HEADER: &str = "x-content-sha256";

/// `POST /v1/recordings/{id}/complete` body.
#[derive(Deserialize)]
struct CompleteRequest<'a> {
    chunks: u32,
    #[serde(borrow)]
    manifest: &'a RawValue,
    #[serde(default, borrow)]
    sidecar: Option<&'a RawValue>,
}

/// The one manifest field the server reads.
#[derive(Deserialize)]
struct ManifestHead {
    #[serde(default)]
    mime: Option<serde_json::Value>,
}

fn is_object(raw: &RawValue) -> bool {
    raw.get().trim_start().starts_with('{')
}

async fn complete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let claims = member(&state, &headers)?;
    let recordings = enabled(&state)?.clone();
    let limits = recordings.limits;
    let bytes = read_body(&recordings, &headers, body, limits.max_metadata_bytes).await?;
    let request: CompleteRequest<'_> = parse_json(&bytes)?;
    if !is_object(request.manifest) {
        return Err(ApiError::BadRequest(
            "manifest: must be a JSON object".into(),
        ));
    }
    let sidecar = request.sidecar.filter(|s| s.get().trim() != "null");
    if sidecar.is_some_and(|s| !is_object(s)) {
        return Err(ApiError::BadRequest(
            "sidecar: must be a JSON object".into(),
        ));
    }
    if request.chunks == 0 || request.chunks > limits.max_chunks {
        return Err(ApiError::BadRequest(format!(
            "chunks: from 1 to {}",
            limits.max_chunks
        )));
    }
    let head: ManifestHead = serde_json::from_str(request.manifest.get())
        .map_err(|e| ApiError::BadRequest(format!("manifest: {e}")))?;
    let mime = match head.mime {
        Some(serde_json::Value::String(m)) if m.len() <= 255 => Some(m),
        None => None,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "manifest.mime: must be a string of at most 255 characters".into(),
            ));
        }
    };
    let done = Completion {
        chunk_count: request.chunks,
        manifest: request.manifest.get().to_owned(),
        sidecar: sidecar.map(|s| s.get().to_owned()),
        mime,
        completed_at: now_secs(&state),
    };
    let rec = load(&state, &id).await?;
    check_uploader(&claims, &rec)?;
    let actor = Actor::Member(claims);
    if rec.state == RecordingState::Complete {
        // A retry of the completion that went through (its answer was lost) is answered
        // again; any other completion of a complete recording is a conflict.
        let same = rec.chunk_count == Some(done.chunk_count)
            && rec.manifest.as_deref() == Some(done.manifest.as_str())
            && rec.sidecar == done.sidecar;
        if !same {
            return Err(ApiError::Conflict(
                "the recording is complete, with another manifest".into(),
            ));
        }
        return Ok(Json(view(rec, &limits, true)).into_response());
    }
    let stored: Vec<u32> = rec.chunks.iter().map(|c| c.n).collect();
    let missing: Vec<String> = (0..done.chunk_count)
        .filter(|n| stored.binary_search(n).is_err())
        .take(20)
        .map(|n| n.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::Conflict(format!(
            "chunks missing: {}{}",
            missing.join(", "),
            if missing.len() == 20 { ", …" } else { "" }
        )));
    }
    if stored.last().is_some_and(|&last| last >= done.chunk_count) {
        return Err(ApiError::Conflict(format!(
            "chunks past {} are stored; complete with the real count",
            done.chunk_count - 1
        )));
    }
    let (files, key, count) = (recordings.files.clone(), id.clone(), done.chunk_count);
    let assembled = blocking(&state, move || files.assemble(&key, count))
        .await?
        .map_err(|e| {
            tracing::error!(recording = %id, "cannot assemble: {e}");
            ApiError::Internal("cannot assemble the recording")
        })?;
    if assembled != rec.bytes() {
        tracing::error!(recording = %id, assembled, indexed = rec.bytes(), "chunk files differ from the index");
        return Err(ApiError::Internal("the stored chunks do not add up"));
    }
    let key = id.clone();
    let after = with_store(&state, move |s| s.complete_recording(&key, &done))
        .await?
        .ok_or_else(|| not_found(&id))?;
    if after.state != RecordingState::Complete {
        return Err(ApiError::Conflict(
            "the chunks changed while completing; try again".into(),
        ));
    }
    let (files, key) = (recordings.files.clone(), id.clone());
    blocking(&state, move || files.remove_chunks(&key, count)).await?;
    audit(
        &state,
        &actor,
        "recording.complete",
        format!("recording:{id}"),
        Some(serde_json::json!({ "chunks": count, "bytes": assembled })),
    )
    .await?;
    tracing::info!(recording = %id, bytes = assembled, "recording complete");
    Ok(Json(view(after, &limits, true)).into_response())
}

/// `POST /v1/recordings/{id}/playback` body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlaybackRequest {
    #[serde(default)]
    ttl_secs: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlaybackUrl {
    /// Relative to the server: `/v1/recordings/{id}/media?exp=…&sig=…`.
    url: String,
    /// Unix seconds.
    expires_at: u64,
}

async fn playback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    check_api_key(&state, &headers)?;
    let recordings = enabled(&state)?.clone();
    let bytes = read_body(&recordings, &headers, body, MAX_SMALL_BODY).await?;
    let request: PlaybackRequest = parse_json(&bytes)?;
    let max = recordings.limits.max_playback_ttl_secs;
    let ttl = request
        .ttl_secs
        .unwrap_or(DEFAULT_PLAYBACK_TTL_SECS.min(max));
    if ttl == 0 || ttl > max {
        return Err(ApiError::BadRequest(format!("ttlSecs: from 1 to {max}")));
    }
    let rec = load(&state, &id).await?;
    if rec.state != RecordingState::Complete {
        return Err(ApiError::Conflict(
            "the recording is not complete yet".into(),
        ));
    }
    let expires_at = now_secs(&state).saturating_add(ttl);
    let sig = recordings.signer.sign(&id, expires_at);
    audit(
        &state,
        &Actor::ApiKey,
        "recording.playback_url",
        format!("recording:{id}"),
        Some(serde_json::json!({ "expiresAt": expires_at })),
    )
    .await?;
    let body = PlaybackUrl {
        url: format!("/v1/recordings/{id}/media?exp={expires_at}&sig={sig}"),
        expires_at,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /v1/recordings/{id}/media?exp=…&sig=…`: the signed URL is the credential.
async fn media(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let recordings = enabled(&state)?.clone();
    let query = request.uri().query();
    let (Some(exp), Some(sig)) = (query_param(query, "exp"), query_param(query, "sig")) else {
        return Err(ApiError::Unauthorized(
            "a media URL carries `exp` and `sig`: mint one with POST /v1/recordings/{id}/playback",
        ));
    };
    let exp: u64 = exp
        .parse()
        .map_err(|_| ApiError::Forbidden("the playback signature is invalid".into()))?;
    if !recordings.signer.verify(&id, exp, sig) {
        return Err(ApiError::Forbidden(
            "the playback signature is invalid".into(),
        ));
    }
    if now_secs(&state) >= exp {
        return Err(ApiError::LinkExpired("the playback URL has expired"));
    }
    let rec = load(&state, &id).await?;
    if rec.state != RecordingState::Complete {
        return Err(not_found(&id));
    }
    let range = request
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    audit(
        &state,
        &Actor::SignedUrl,
        "recording.media",
        format!("recording:{id}"),
        range.map(|r| serde_json::json!({ "range": r })),
    )
    .await?;
    let path = recordings.files.media(&id);
    let served = tower_http::services::ServeFile::new(path)
        .try_call(request)
        .await
        .map_err(|e| {
            tracing::error!(recording = %id, "cannot serve media: {e}");
            ApiError::Internal("cannot read the recording")
        })?;
    let mut response = served.map(Body::new);
    let mime = rec
        .mime
        .as_deref()
        .and_then(playable_mime)
        .unwrap_or("application/octet-stream");
    if response.status().is_success() {
        if let Ok(value) = HeaderValue::from_str(mime) {
            response.headers_mut().insert(header::CONTENT_TYPE, value);
        }
    }
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}

/// `GET /v1/recordings/{id}/audit` (API key): every access, oldest first.
async fn audit_log(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    check_api_key(&state, &headers)?;
    enabled(&state)?;
    load(&state, &id).await?;
    audit(
        &state,
        &Actor::ApiKey,
        "recording.audit_read",
        format!("recording:{id}"),
        None,
    )
    .await?;
    let subject = format!("recording:{id}");
    let entries = with_store(&state, move |s| s.audit_of(&subject)).await?;
    let entries: Vec<serde_json::Value> = entries
        .into_iter()
        .map(|e| {
            serde_json::json!({
                "at": e.at,
                "actor": e.actor,
                "action": e.action,
                "detail": e.detail.as_deref().and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok()),
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "entries": entries })))
}

/// Cleans what a crash left behind; run at start. Blocking.
pub(crate) fn clean_partials(files: &RecordingFiles) {
    let removed = files.clean_partials();
    if removed > 0 {
        tracing::info!(removed, "removed unfinished recording files");
    }
}
