//! The uploader's routes: start an upload, send chunks, complete it.

use assistrtc_core::permissions::{Capabilities, Capability};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::oneshot;

use super::files::ReceiveError;
use super::{
    Actor, CHECKSUM_HEADER, MAX_SMALL_BODY, audit, check_uploader, declared_length, enabled, load,
    member, not_found, now_secs, parse_json, read_body, view, with_store,
};
use crate::rest::{ApiError, AppState, HUB_REPLY_TIMEOUT, blocking, get_room_blocking};
use crate::signal::HubEvent;
use crate::store::{
    ChunkCommit, Completion, NewRecording, RecordingCreate, RecordingState, StoredChunk,
};

/// The longest idempotency key, as the core's uploads make them.
const MAX_IDEMPOTENCY_KEY: usize = 64;

/// `POST /v1/recordings` body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateRequest {
    #[serde(default)]
    mime: Option<String>,
    /// The uploader's name for the recording: a create sent again with it (its answer was
    /// lost) gets the recording the first one made.
    #[serde(default)]
    idempotency_key: Option<String>,
}

/// Plain enough to store, compare and log as it is.
fn valid_key(key: &str) -> bool {
    (1..=MAX_IDEMPOTENCY_KEY).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub(super) async fn create(
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
    if request
        .idempotency_key
        .as_deref()
        .is_some_and(|k| !valid_key(k))
    {
        return Err(ApiError::BadRequest(format!(
            "idempotencyKey: 1 to {MAX_IDEMPOTENCY_KEY} ASCII letters, digits, `_` or `-`"
        )));
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
        idempotency_key: request.idempotency_key,
    };
    let max = recordings.limits.max_per_room;
    let limits = recordings.limits;
    match with_store(&state, move |s| s.create_recording(new, max)).await? {
        RecordingCreate::Created => {}
        RecordingCreate::RoomFull => {
            return Err(ApiError::RecordingLimit(
                "this room has as many recordings as it may",
            ));
        }
        RecordingCreate::Existing(id) => {
            // A retry of a create that went through: the same recording as it is now, and
            // no second audit row (as a retried completion).
            let rec = load(&state, &id).await?;
            return Ok((StatusCode::OK, Json(view(rec, &limits, false))).into_response());
        }
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
    Ok((StatusCode::CREATED, Json(view(rec, &limits, false))).into_response())
}

/// `PUT /v1/recordings/{id}/chunks/{n}`: one chunk, streamed to disk.
pub(super) async fn put_chunk(
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

pub(super) async fn complete(
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
