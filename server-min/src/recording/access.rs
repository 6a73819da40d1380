//! The integrator's routes (reads, lists, playback URLs, the audit log) and the media
//! behind a signed URL.

use assistrtc_core::protocol::RoomId;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::{
    Actor, DEFAULT_PLAYBACK_TTL_SECS, MAX_SMALL_BODY, RecordingView, audit, check_uploader,
    enabled, key_or_member, load, not_found, now_secs, parse_json, playable_mime, read_body, view,
    with_store,
};
use crate::rest::{ApiError, AppState, check_api_key};
use crate::store::RecordingState;

/// `GET /v1/recordings/{id}`: for the API key or the uploader (to resume).
pub(super) async fn read(
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
pub(super) async fn list(
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

pub(super) async fn playback(
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
pub(super) async fn media(
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
pub(super) async fn audit_log(
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
