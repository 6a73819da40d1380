//! The preflight routes: a short-lived token for the network check, and the probe it admits to.
//!
//! - `POST /v1/preflight/tokens` (API key) → `201 {"token","expiresAt"}`: a preflight token
//!   ([`PreflightClaims`]), valid at most two minutes, good for the probe only: the signaling
//!   join, the room routes and the recording routes refuse it.
//! - `POST /v1/preflight/probe` (`Authorization: Bearer <preflight token>`, body: the SDP
//!   offer as `application/sdp`) → `201` with the SDP answer as `application/sdp`; the session
//!   then runs on the DataChannel (see [`crate::probe`]). A join token is refused (401).
//! - `GET /v1/preflight/config` (`Authorization: Bearer <preflight token>`) → `200
//!   {"ice_servers":[{"urls":[…],"username"?,"credential"?}]}`: the ICE servers the check
//!   tries a relayed path through, in the shape of the signaling `welcome`'s `ice_servers`.
//!   The TURN entry carries credentials issued now to `preflight-<jti>` (the token's id), for
//!   the same lifetime as a member's.

use std::net::SocketAddr;

use assistrtc_core::protocol::IceServer;
use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;

use crate::jwt::{self, PreflightClaims};
use crate::probe::{MAX_OFFER_BYTES, ProbeError};
use crate::rest::{ApiError, AppState, check_api_key};
use crate::store;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/preflight/tokens", post(issue_preflight_token))
        .route("/v1/preflight/probe", post(probe))
        .route("/v1/preflight/config", get(config))
}

/// `POST /v1/preflight/tokens` answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PreflightToken {
    token: String,
    /// Unix seconds.
    expires_at: u64,
}

async fn issue_preflight_token(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_api_key(&state, &headers)?;
    let jti = store::new_epoch().map_err(|_| ApiError::Internal("no randomness"))?;
    let iat = state.inner.clock.now().0 / 1000;
    let claims = PreflightClaims::new(iat, state.inner.probes.limits().token_ttl_secs, jti);
    let token = jwt::issue_preflight(&state.inner.jwt_secret, &claims);
    let body = PreflightToken {
        token,
        expires_at: claims.exp,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// The preflight token of `Authorization: Bearer <token>`.
fn check_preflight(state: &AppState, headers: &HeaderMap) -> Result<PreflightClaims, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(ApiError::Unauthorized(
            "the Authorization header must be `Bearer <preflight token>`",
        ))?;
    let now = state.inner.clock.now().0 / 1000;
    Ok(jwt::verify_preflight(&state.inner.jwt_secret, token, now)?)
}

/// `GET /v1/preflight/config` answer: `ice_servers` as the wire protocol's `welcome` has them.
#[derive(Serialize)]
struct PreflightConfig {
    ice_servers: Vec<IceServerJson>,
}

/// One ICE server, snake_case; STUN entries have no username or credential.
#[derive(Serialize)]
struct IceServerJson {
    urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    credential: Option<String>,
}

impl From<IceServer> for IceServerJson {
    fn from(s: IceServer) -> Self {
        Self {
            urls: s.urls,
            username: s.username,
            credential: s.credential,
        }
    }
}

/// The TURN user a preflight token's credentials are issued to. The jti is ours (the token is
/// verified), but coturn splits the username at `:`, so only id characters are kept.
fn turn_user(jti: &str) -> String {
    let id: String = jti
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        .take(64)
        .collect();
    ["preflight-", &id].concat()
}

async fn config(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let claims = check_preflight(&state, &headers)?;
    let now = state.inner.clock.now();
    let ice_servers = state
        .inner
        .probes
        .client_ice_servers(&turn_user(&claims.jti), now)
        .into_iter()
        .map(IceServerJson::from)
        .collect();
    Ok((StatusCode::OK, Json(PreflightConfig { ice_servers })).into_response())
}

async fn probe(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // The token first: no body is read for a caller without one.
    check_preflight(&state, &headers)?;
    let sdp_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/sdp"));
    if !sdp_type {
        return Err(ApiError::UnsupportedMediaType(
            "the body must be the SDP offer as `application/sdp`",
        ));
    }
    let read = tokio::time::timeout(
        state.inner.body_timeout,
        axum::body::to_bytes(body, MAX_OFFER_BYTES),
    )
    .await;
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            return Err(ApiError::PayloadTooLarge(format!(
                "the offer is larger than {MAX_OFFER_BYTES} bytes"
            )));
        }
        Err(_) => {
            return Err(ApiError::RequestTimeout(
                "the request body did not arrive in time",
            ));
        }
    };
    let offer = String::from_utf8(bytes.to_vec())
        .map_err(|_| ApiError::BadRequest("the offer is not UTF-8".into()))?;
    let answer = state
        .inner
        .probes
        .start(peer.ip(), offer)
        .await
        .map_err(|e| match e {
            ProbeError::ServerBusy => {
                ApiError::ServerBusy("too many network probes on this server; try again shortly")
            }
            ProbeError::TooManyFromAddress => ApiError::RateLimited(
                "too many network probes from this address; try again shortly",
            ),
            ProbeError::BadOffer(reason) => {
                ApiError::BadRequest(format!("the offer is not usable: {reason}"))
            }
            ProbeError::Internal(reason) => {
                tracing::warn!("probe: {reason}");
                ApiError::Internal("the probe connection could not be set up")
            }
        })?;
    Ok((
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/sdp")],
        answer,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::turn_user;

    #[test]
    fn the_turn_user_keeps_id_characters_only() {
        assert_eq!(turn_user("0a1b2c3d4e5f6a7b"), "preflight-0a1b2c3d4e5f6a7b");
        // coturn reads `<expiry>:<user>`: a `:` must not reach it.
        assert_eq!(turn_user("1:x y/z"), "preflight-1xyz");
    }
}
