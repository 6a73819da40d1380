//! HTTP routes: the room API, health, the signaling upgrade, and demo helpers.
//!
//! Errors are JSON `{"error":{"code":"…","message":"…"}}` with the protocol's stable codes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use assistrtc_core::protocol::{ErrorCode, MemberId, Permissions, RecordingPolicy, Role, RoomId};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::clock::Clock;
use crate::hub::{ConnId, RateLimit, TokenBucket};
use crate::jwt::{self, Claims, JwtError};
use crate::signal::{self, HubEvent};
use crate::store::{self, IssuedToken, MemberSpec, NEVER, RoomDefinition, RoomStore, StoreError};

/// Most members a room may list.
pub const MAX_MEMBERS: usize = 64;
/// WebSocket read buffer per connection (small: most sessions are idle).
const WS_READ_BUFFER: usize = 4 * 1024;
/// Largest WebSocket message (and frame), the protocol's 64 KiB: the WebSocket layer refuses
/// a longer frame from its header, before buffering it, and ends the connection (1009).
/// So a connection that has not joined yet holds at most one such partial frame, for at most
/// the join timeout, and such connections are bounded by the connection caps.
pub const WS_MAX_MESSAGE: usize = assistrtc_core::protocol::MAX_FRAME_BYTES;
/// How long a REST call waits for the hub task.
pub(crate) const HUB_REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// A REST failure, rendered as `{"error":{"code","message"}}`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A join token that does not verify (`unauthorized`) or has expired (`token_expired`).
    #[error("{0}")]
    Token(#[from] JwtError),
    #[error("{0}")]
    Forbidden(String),
    /// A signed link whose time is over (`token_expired`, 403).
    #[error("{0}")]
    LinkExpired(&'static str),
    #[error("{0}")]
    BadRequest(String),
    /// A body whose SHA-256 is not the one announced (`checksum_mismatch`, 400).
    #[error("{0}")]
    ChecksumMismatch(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    RateLimited(&'static str),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    RequestTimeout(&'static str),
    /// The server keeps no recordings: started without `--data-dir` (`recordings_disabled`,
    /// 404: the feature is not there, as a route that does not exist; not a 5xx, which would
    /// read as a failure of the server).
    #[error("this server keeps no recordings: start it with --data-dir")]
    RecordingsDisabled,
    /// The room has as many recordings as the server keeps for one (`recording_limit`, 409:
    /// final, unlike a rate limit, as waiting frees nothing).
    #[error("{0}")]
    RecordingLimit(&'static str),
    /// The server has no room for another network probe now (`server_busy`, 503).
    #[error("{0}")]
    ServerBusy(&'static str),
    /// The body is not of the media type the route takes (`bad_request`, 415).
    #[error("{0}")]
    UnsupportedMediaType(&'static str),
    #[error("{0}")]
    Internal(&'static str),
}

impl ApiError {
    /// The stable code: the protocol's error codes, plus `checksum_mismatch`,
    /// `recordings_disabled`, `recording_limit` and `server_busy`, which only the REST API
    /// answers.
    fn code(&self) -> String {
        let wire = match self {
            Self::ChecksumMismatch(_) => return "checksum_mismatch".into(),
            Self::RecordingsDisabled => return "recordings_disabled".into(),
            Self::RecordingLimit(_) => return "recording_limit".into(),
            Self::ServerBusy(_) => return "server_busy".into(),
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::Token(e) => e.code(),
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::LinkExpired(_) => ErrorCode::TokenExpired,
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::Store(StoreError::Full { .. }) => ErrorCode::RateLimited,
            Self::Store(StoreError::Storage(_)) => ErrorCode::Internal,
            Self::Store(_) => ErrorCode::Conflict,
            Self::RateLimited(_) => ErrorCode::RateLimited,
            Self::PayloadTooLarge(_) | Self::RequestTimeout(_) | Self::UnsupportedMediaType(_) => {
                ErrorCode::BadRequest
            }
            Self::Internal(_) => ErrorCode::Internal,
        };
        wire.as_str().to_owned()
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) | Self::Token(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::LinkExpired(_) => StatusCode::FORBIDDEN,
            Self::BadRequest(_) | Self::ChecksumMismatch(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) | Self::RecordingLimit(_) => StatusCode::CONFLICT,
            Self::Store(StoreError::Full { .. }) => StatusCode::TOO_MANY_REQUESTS,
            Self::Store(StoreError::Storage(_)) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Store(_) => StatusCode::CONFLICT,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::RecordingsDisabled => StatusCode::NOT_FOUND,
            Self::ServerBusy(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

#[derive(Serialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
            },
        };
        let mut response = (self.status(), Json(body)).into_response();
        if matches!(self, Self::Unauthorized(_) | Self::Token(_)) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        if matches!(self, Self::PayloadTooLarge(_) | Self::RequestTimeout(_)) {
            // The rest of the body may still be on its way: do not read it as a next request.
            response.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

/// Everything the handlers share; cheap to clone.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) inner: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) api_key: String,
    pub(crate) jwt_secret: Vec<u8>,
    pub(crate) token_ttl_secs: u64,
    /// Rooms the API key may have at once (the demo route's rooms count too).
    pub(crate) max_rooms: usize,
    pub(crate) store: Arc<dyn RoomStore>,
    pub(crate) events: mpsc::Sender<HubEvent>,
    pub(crate) next_conn: AtomicU64,
    /// How often each WebSocket is pinged at the protocol level, in milliseconds.
    pub(crate) ping_every_ms: u64,
    /// Budget of WebSocket control frames (pings, pongs) per connection.
    pub(crate) control_rate: RateLimit,
    /// Paces the unauthenticated demo route (see [`DEMO_ROOM_RATE`]).
    pub(crate) demo_rooms: Mutex<TokenBucket>,
    /// Issues tokens (`iat`, `exp`) and paces the demo route.
    pub(crate) clock: Arc<dyn Clock>,
    /// What `GET /metrics` shows.
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
    /// Bytes queued for every WebSocket together (see `signal::Backlog`).
    pub(crate) queued_total: Arc<std::sync::atomic::AtomicUsize>,
    /// Local recording uploads, when the server keeps them (`--data-dir`).
    pub(crate) recordings: Option<crate::recording::Recordings>,
    /// The network probe's sessions (`POST /v1/preflight/probe`).
    pub(crate) probes: crate::probe::Probes,
    /// Longest a request body may take to arrive (the probe reads its own).
    pub(crate) body_timeout: Duration,
}

/// `POST /v1/demo/rooms` needs no key: at most this many rooms back to back, then one a
/// second, so that a demo server reachable by others cannot be filled (rooms also expire
/// with their tokens). `POST /v1/rooms` with the public [`DEMO_API_KEY`](crate::DEMO_API_KEY)
/// spends the same budget.
pub(crate) const DEMO_ROOM_RATE: RateLimit = RateLimit {
    burst: 20,
    refill_per_sec: 1,
};

impl AppState {
    pub(crate) fn new(shared: Shared) -> Self {
        Self {
            inner: Arc::new(shared),
        }
    }
}

/// Static paths served from a web root: URL prefix → directory inside the checkout.
pub(crate) const WEB_PATHS: [(&str, &str); 5] = [
    ("/sdk", "packages-npm/dist"),
    ("/agent", "examples/web-agent"),
    ("/customer", "examples/web-customer"),
    ("/shared", "examples/shared"),
    ("/bench", "bench/pages"),
];

/// The routes; `demo` adds `POST /v1/demo/rooms` and `POST /v1/demo/preflight-tokens`; `web_root` adds the demo pages and SDK.
pub(crate) fn router(state: AppState, demo: bool, web_root: Option<&std::path::Path>) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/rooms", post(create_room))
        .route("/v1/rooms/{id}", get(get_room))
        .route("/v1/rooms/{id}/tokens", post(issue_token))
        .route("/v1/openapi.json", get(openapi))
        .route("/metrics", get(metrics))
        .route("/v1/signal", get(signal_upgrade))
        .merge(crate::recording::routes())
        .merge(crate::preflight::routes());
    if demo {
        router = router
            .route("/v1/demo/rooms", post(create_demo_room))
            .route(
                "/v1/demo/preflight-tokens",
                post(crate::preflight::issue_demo_preflight_token),
            );
    }
    if let Some(root) = web_root {
        for (prefix, dir) in WEB_PATHS {
            router =
                router.nest_service(prefix, tower_http::services::ServeDir::new(root.join(dir)));
        }
        router = router.route(
            "/",
            get(|| async { axum::response::Redirect::temporary("/agent/") }),
        );
    }
    router
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .with_state(state)
}

/// The REST API's OpenAPI 3.1 document, checked against the running server by the test
/// command (schemathesis).
const OPENAPI: &str = include_str!("../openapi.json");

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// Prometheus text; behind the API key (scrapers send it as a bearer token), as the counts
/// describe the service's use.
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    check_api_key(&state, &headers)?;
    let (reply, answer) = oneshot::channel();
    state
        .inner
        .events
        .send(HubEvent::Stats { reply })
        .await
        .map_err(|_| ApiError::Internal("the server is shutting down"))?;
    let (connections, sessions, rooms) = tokio::time::timeout(HUB_REPLY_TIMEOUT, answer)
        .await
        .map_err(|_| ApiError::Internal("the signaling hub did not answer in time"))?
        .map_err(|_| ApiError::Internal("the server is shutting down"))?;
    state.inner.metrics.set_gauges(connections, sessions, rooms);
    let body = state.inner.metrics.render();
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response())
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn signal_upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    let conn = ConnId(state.inner.next_conn.fetch_add(1, Ordering::Relaxed));
    let events = state.inner.events.clone();
    let ping_every_ms = state.inner.ping_every_ms;
    let clock = Arc::clone(&state.inner.clock);
    let control_rate = state.inner.control_rate;
    let queued_total = Arc::clone(&state.inner.queued_total);
    ws.read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(WS_MAX_MESSAGE)
        .max_frame_size(WS_MAX_MESSAGE)
        .on_failed_upgrade(move |e| tracing::debug!(conn = conn.0, "websocket upgrade failed: {e}"))
        .on_upgrade(move |socket| {
            signal::connection(
                socket,
                conn,
                events,
                clock,
                ping_every_ms,
                control_rate,
                queued_total,
            )
        })
}

/// Runs a store call off the async task (a store on disk may block).
pub(crate) async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let started = std::time::Instant::now();
    let r = tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError::Internal("a room store call failed"));
    state.inner.metrics.store_call(started.elapsed());
    r
}

pub(crate) async fn get_room_blocking(
    state: &AppState,
    id: &RoomId,
) -> Result<Option<RoomDefinition>, ApiError> {
    let (store, id) = (Arc::clone(&state.inner.store), id.clone());
    Ok(blocking(state, move || store.get_room(&id)).await??)
}

pub(crate) fn check_api_key(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    check_bearer(&state.inner.api_key, headers)
}

/// Checks `Authorization: Bearer <api_key>` (also used before a body is read, see `guard`).
pub(crate) fn check_bearer(api_key: &str, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::Unauthorized(
            "missing `Authorization: Bearer <api key>` header",
        ));
    };
    let presented = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(key) if constant_time_eq(key.as_bytes(), api_key.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::Unauthorized("invalid API key")),
        None => Err(ApiError::Unauthorized(
            "the Authorization header must be `Bearer <api key>`",
        )),
    }
}

/// Takes one room from the demo budget ([`DEMO_ROOM_RATE`]).
pub(crate) fn pace_demo(state: &AppState) -> Result<(), ApiError> {
    let now = state.inner.clock.now();
    let allowed = state
        .inner
        .demo_rooms
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take(DEMO_ROOM_RATE, now);
    if allowed {
        Ok(())
    } else {
        Err(ApiError::RateLimited(
            "too many demo rooms; try again in a second",
        ))
    }
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `POST /v1/rooms` body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateRoomRequest {
    room_id: RoomId,
    members: Vec<MemberSpec>,
    #[serde(default)]
    permissions: Permissions,
}

/// `POST /v1/rooms` answer: one token per member.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateRoomResponse {
    room_id: RoomId,
    members: Vec<IssuedMember>,
}

#[derive(Serialize)]
struct IssuedMember {
    id: MemberId,
    role: Role,
    token: String,
}

/// `GET /v1/rooms/{id}` answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RoomResponse {
    room_id: RoomId,
    members: Vec<RoomMember>,
    permissions: Permissions,
}

#[derive(Serialize)]
struct RoomMember {
    id: MemberId,
    role: Role,
    /// Whether the member has a live signaling connection now.
    online: bool,
}

fn parse_create(body: &[u8]) -> Result<RoomDefinition, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let request: CreateRoomRequest = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // `.` is the root; `?` marks an unknown position (e.g. the body ended early).
        if path == "." || path.contains('?') {
            ApiError::BadRequest(format!("invalid body: {inner}"))
        } else {
            ApiError::BadRequest(format!("{path}: {inner}"))
        }
    })?;
    de.end()
        .map_err(|e| ApiError::BadRequest(format!("invalid body: {e}")))?;
    // The protocol allows dots in ids; a room id becomes a file name once recordings are
    // written, and `.`, `..` (or more dots) would name a directory instead.
    if request.room_id.as_str().bytes().all(|b| b == b'.') {
        return Err(ApiError::BadRequest(
            "roomId: a room id cannot consist of dots only".into(),
        ));
    }
    if request.members.is_empty() {
        return Err(ApiError::BadRequest(
            "members: a room needs at least one member".into(),
        ));
    }
    if request.members.len() > MAX_MEMBERS {
        return Err(ApiError::BadRequest(format!(
            "members: at most {MAX_MEMBERS} members per room"
        )));
    }
    for (i, member) in request.members.iter().enumerate() {
        if request.members[..i].iter().any(|m| m.id == member.id) {
            return Err(ApiError::BadRequest(format!(
                "members[{i}].id: duplicate member id `{}`",
                member.id
            )));
        }
    }
    Ok(RoomDefinition {
        id: request.room_id,
        members: request.members,
        permissions: request.permissions,
        // Both set by `create`.
        epoch: String::new(),
        expires_at: NEVER,
    })
}

/// Stores the room under a new epoch, makes it joinable, and issues one token per member.
async fn create(state: &AppState, mut def: RoomDefinition) -> Result<Response, ApiError> {
    let iat = state.inner.clock.now().0 / 1000;
    let exp = iat.saturating_add(state.inner.token_ttl_secs);
    // The room lives as long as its tokens (and then until its last member is gone).
    def.expires_at = exp;
    def.epoch = store::new_epoch().map_err(|_| ApiError::Internal("no randomness"))?;
    let (store, max_rooms, stored) = (
        Arc::clone(&state.inner.store),
        state.inner.max_rooms,
        def.clone(),
    );
    blocking(state, move || store.create_room(stored, max_rooms)).await??;
    // The hub hears of the room before the client gets its tokens: a join sent after this
    // response is queued behind this event.
    state
        .inner
        .events
        .send(HubEvent::RoomCreated(def.clone()))
        .await
        .map_err(|_| ApiError::Internal("the server is shutting down"))?;
    let (members, ids): (Vec<IssuedMember>, Vec<IssuedToken>) = def
        .members
        .iter()
        .map(|m| issue_for(state, &def, m, iat, exp))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .unzip();
    let store = Arc::clone(&state.inner.store);
    blocking(state, move || store.record_tokens(&ids)).await??;
    tracing::info!(room = %def.id, members = def.members.len(), "room created");
    let body = CreateRoomResponse {
        room_id: def.id,
        members,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// A token for member `m` of the room `def` (this creation of it: its epoch), and the record
/// of it for the store.
fn issue_for(
    state: &AppState,
    def: &RoomDefinition,
    m: &MemberSpec,
    iat: u64,
    exp: u64,
) -> Result<(IssuedMember, IssuedToken), ApiError> {
    let jti = store::new_epoch().map_err(|_| ApiError::Internal("no randomness"))?;
    let token = jwt::issue(
        &state.inner.jwt_secret,
        &Claims {
            room: def.id.clone(),
            sub: m.id.clone(),
            role: m.role,
            epoch: def.epoch.clone(),
            iat,
            exp,
            jti: Some(jti.clone()),
        },
    );
    let record = IssuedToken {
        jti,
        room: def.id.clone(),
        member: m.id.clone(),
        epoch: def.epoch.clone(),
        expires_at: exp,
    };
    Ok((
        IssuedMember {
            id: m.id.clone(),
            role: m.role,
            token,
        },
        record,
    ))
}

async fn create_room(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_api_key(&state, &headers)?;
    let def = parse_create(&body)?;
    if state.inner.api_key == crate::DEMO_API_KEY {
        // The demo key is published: with it this route is as open as the demo route, so it
        // spends the same budget.
        pace_demo(&state)?;
    }
    create(&state, def).await
}

/// `POST /v1/rooms/{id}/tokens` body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IssueTokenRequest {
    member_id: MemberId,
}

/// `POST /v1/rooms/{id}/tokens`: a fresh token for one member of an existing room, answered
/// as `{"id","role","token"}`.
///
/// This is how a long call goes on: join tokens are short-lived and a session ends
/// [`session_lifetime_secs`](crate::ServerConfig::session_lifetime_secs) after its join, so
/// the integrator's backend asks for a fresh token and the client joins again with it. The
/// token is for the room as it is now (its current epoch and the member's current role).
async fn issue_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_api_key(&state, &headers)?;
    let not_found = || ApiError::NotFound(format!("no room `{id}`"));
    let room_id = RoomId::new(id.clone()).map_err(|_| not_found())?;
    let request: IssueTokenRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("invalid body: {e}")))?;
    let Some(def) = get_room_blocking(&state, &room_id).await? else {
        return Err(not_found());
    };
    let Some(member) = def.member(&request.member_id) else {
        // The room (the resource) exists; the body names someone who is not in it.
        return Err(ApiError::BadRequest(format!(
            "memberId: no member `{}` in room `{id}`",
            request.member_id
        )));
    };
    let iat = state.inner.clock.now().0 / 1000;
    let exp = iat.saturating_add(state.inner.token_ttl_secs);
    let (issued, record) = issue_for(&state, &def, member, iat, exp)?;
    let store = Arc::clone(&state.inner.store);
    blocking(&state, move || store.record_tokens(&[record])).await??;
    // The room lives as long as the tokens issued for it: this one included.
    let (store, id_for_store) = (Arc::clone(&state.inner.store), room_id.clone());
    blocking(&state, move || store.extend_room(&id_for_store, exp)).await??;
    state
        .inner
        .events
        .send(HubEvent::RoomExtended {
            room: room_id,
            expires_at: exp,
        })
        .await
        .map_err(|_| ApiError::Internal("the server is shutting down"))?;
    tracing::info!(room = %def.id, member = %member.id, "token issued");
    Ok((StatusCode::CREATED, Json(issued)).into_response())
}

async fn get_room(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<RoomResponse>, ApiError> {
    check_api_key(&state, &headers)?;
    let not_found = || ApiError::NotFound(format!("no room `{id}`"));
    let room_id = RoomId::new(id.clone()).map_err(|_| not_found())?;
    let Some(def) = get_room_blocking(&state, &room_id).await? else {
        return Err(not_found());
    };
    let (reply, answer) = oneshot::channel();
    state
        .inner
        .events
        .send(HubEvent::Online {
            room: room_id,
            reply,
        })
        .await
        .map_err(|_| ApiError::Internal("the server is shutting down"))?;
    let online = match tokio::time::timeout(HUB_REPLY_TIMEOUT, answer).await {
        Ok(Ok(online)) => online.unwrap_or_default(),
        Ok(Err(_)) => return Err(ApiError::Internal("the server is shutting down")),
        Err(_) => {
            return Err(ApiError::Internal(
                "the signaling hub did not answer in time",
            ));
        }
    };
    Ok(Json(RoomResponse {
        room_id: def.id,
        members: def
            .members
            .into_iter()
            .map(|m| RoomMember {
                online: online.contains(&m.id),
                id: m.id,
                role: m.role,
            })
            .collect(),
        permissions: def.permissions,
    }))
}

/// Members of a demo room.
pub const DEMO_HOST: &str = "agent_1";
/// Members of a demo room.
pub const DEMO_GUEST: &str = "customer_1";

/// `POST /v1/demo/rooms` (demo mode only, no auth): a fresh room with a host and a guest.
async fn create_demo_room(State(state): State<AppState>) -> Result<Response, ApiError> {
    pace_demo(&state)?;
    let mut random = [0u8; 6];
    getrandom::fill(&mut random).map_err(|_| ApiError::Internal("no randomness"))?;
    let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let id = RoomId::new(format!("demo_{suffix}"))
        .map_err(|_| ApiError::Internal("bad generated room id"))?;
    let member = |id: &str, role| -> Result<MemberSpec, ApiError> {
        Ok(MemberSpec {
            id: MemberId::new(id).map_err(|_| ApiError::Internal("bad demo member id"))?,
            role,
        })
    };
    let def = RoomDefinition {
        id,
        members: vec![
            member(DEMO_HOST, Role::Host)?,
            member(DEMO_GUEST, Role::Guest)?,
        ],
        permissions: Permissions {
            screen: true,
            recording: RecordingPolicy::Local,
        },
        // Both set by `create`.
        epoch: String::new(),
        expires_at: NEVER,
    };
    create(&state, def).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(body: &str) -> String {
        match parse_create(body.as_bytes()) {
            Err(ApiError::BadRequest(m)) => m,
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("accepted {body}"),
        }
    }

    #[test]
    fn create_body_errors_name_the_field() {
        let ok = r#"{"roomId":"rm_1","members":[{"id":"agent_1","role":"host"}],"permissions":{"screen":true,"recording":"cloud"}}"#;
        let def = parse_create(ok.as_bytes()).unwrap();
        assert_eq!(def.permissions.recording, RecordingPolicy::Cloud);

        let m = bad(r#"{"roomId":"rm_1","members":[{"id":"a","role":"boss"}]}"#);
        assert!(
            m.starts_with("members[0].role: unknown variant `boss`"),
            "{m}"
        );
        let m = bad(r#"{"roomId":"rm 1","members":[{"id":"a","role":"host"}]}"#);
        assert!(m.starts_with("roomId: "), "{m}");
        let m = bad(
            r#"{"roomId":"rm_1","members":[{"id":"a","role":"host"},{"id":"a/b","role":"guest"}]}"#,
        );
        assert!(m.starts_with("members[1].id: "), "{m}");
        let m = bad(
            r#"{"roomId":"rm_1","members":[{"id":"a","role":"host"},{"id":"a","role":"guest"}]}"#,
        );
        assert!(m.starts_with("members[1].id: duplicate"), "{m}");
        for dots in [".", "..", "..."] {
            let m = bad(&format!(
                r#"{{"roomId":"{dots}","members":[{{"id":"a","role":"host"}}]}}"#
            ));
            assert!(m.starts_with("roomId: "), "{m}");
        }
        let m = bad(r#"{"roomId":"rm_1","members":[]}"#);
        assert!(m.starts_with("members: "), "{m}");
        let m = bad(
            r#"{"roomId":"rm_1","members":[{"id":"a","role":"host"}],"permissions":{"recording":"tape"}}"#,
        );
        assert!(m.starts_with("permissions.recording: "), "{m}");
        let m = bad(r#"{"members":[{"id":"a","role":"host"}]}"#);
        assert!(m.contains("roomId"), "{m}");
        let m = bad("not json");
        assert!(m.starts_with("invalid body: "), "{m}");
        let m = bad(r#"{"roomId":"rm_1","members":[{"id":"a","role":"host"}]} trailing"#);
        assert!(m.starts_with("invalid body: "), "{m}");
    }
}
