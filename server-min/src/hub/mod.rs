//! The rooms and the relay, as a sans-IO state machine.
//!
//! [`Hub`] does no IO, spawns nothing and reads no clock: the driver (see `signal`) feeds it
//! connection events with the current time and drains what it wants sent. The drive rule is
//! the core's: **after every `handle_*` call, drain [`Hub::poll_output`] until `None`, then
//! sleep until [`Hub::poll_timeout`] (or the next input) and call [`Hub::handle_timeout`].**
//!
//! ```
//! use assistrtc_core::Millis;
//! use assistrtc_server::hub::{ConnId, Hub, HubConfig, HubOutput};
//!
//! let mut hub = Hub::new(HubConfig::new(b"secret".to_vec()));
//! let now = Millis(1_700_000_000_000);
//! hub.handle_open(ConnId(1), now);
//! hub.handle_frame(ConnId(1), r#"{"v":1,"type":"ping"}"#, now);
//! // Not joined yet: the hub refuses and closes.
//! assert!(matches!(hub.poll_output(), Some(HubOutput::Send { .. })));
//! assert_eq!(hub.poll_output(), Some(HubOutput::Close { conn: ConnId(1) }));
//! assert_eq!(hub.poll_output(), None);
//! ```
//!
//! `now` is milliseconds since the Unix epoch (the driver anchors a monotonic clock there), so
//! the same value checks token expiry (`exp` is in seconds) and schedules timers.
//!
//! Semantics, in short:
//! - The first frame must be a `join`; anything else, or a token that is forged, expired, or
//!   for a room or member that does not exist, gets an `error` and the connection is closed.
//! - Relayed `offer`/`answer`/`candidate` carry the sender in `from` and never leave the room.
//! - A dropped connection's seat is held for the grace period; whatever would have been sent
//!   to it is buffered (up to [`HubConfig::max_buffered_frames`] and about 1 MiB, oldest
//!   dropped first) and

//!   flushed after the `welcome {resumed: true}` of a `join` that presents the seat's
//!   `resume_token`. A resume does not re-check token expiry: the seat was authorized when it
//!   was taken and the signature still proves who is asking.
//! - After join, a bad frame gets an `error` and the connection stays open.

mod rate;
mod room;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, VecDeque};

use assistrtc_core::Millis;
use assistrtc_core::permissions::{Capabilities, authorize};
use assistrtc_core::protocol::{
    self, ClientMessage, ErrorCode, IceServer, LeaveReason, MAX_ID_LEN, MAX_TEXT_BYTES, MemberId,
    MemberRef, RecordingAction, RecordingMode, RecordingStatus, Role, RoomId, ServerMessage,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub use self::rate::RateLimit;
pub(crate) use self::rate::TokenBucket;
use self::room::{Presence, Room, Seat};
use crate::jwt::{self, JwtError};
use crate::store::{NEVER, RoomDefinition};

/// Default time a dropped member's seat is held for a resume.
pub const DEFAULT_RESUME_GRACE_MS: u64 = 30_000;
/// Default time a new connection has to send its `join`.
pub const DEFAULT_JOIN_TIMEOUT_MS: u64 = 10_000;
/// Silence after which a joined connection counts as dropped: three of the client's 10 s
/// pings. Without it a connection that vanished without a FIN (a closed laptop, a lost
/// network) would keep a live seat forever and the others would never see the member leave.
pub const DEFAULT_IDLE_TIMEOUT_MS: u64 = 30_000;
/// Default cap on frames buffered for a held seat.
pub const DEFAULT_MAX_BUFFERED_FRAMES: usize = 256;
/// At most one `rate_limited` error per connection per this many milliseconds.
const RATE_ERROR_INTERVAL_MS: u64 = 1000;

/// Identifies one WebSocket connection; chosen by the driver, unique for the hub's lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// What the hub wants the driver to do.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub enum HubOutput {
    /// Send `msg` on connection `conn`.
    Send {
        /// The connection.
        conn: ConnId,
        /// The frame.
        msg: ServerMessage,
    },
    /// Close connection `conn` after sending what was queued for it; the hub has forgotten it.
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// The room expired and emptied; the hub has forgotten it (remove it from the store).
    RoomRemoved {
        /// The room.
        room: RoomId,
    },
}

/// How the hub behaves.
#[derive(Clone)]
pub struct HubConfig {
    /// HMAC secret the join tokens are signed with.
    pub jwt_secret: Vec<u8>,
    /// How long a dropped member's seat is held for a resume, in milliseconds.
    pub resume_grace_ms: u64,
    /// How long a new connection may take to send `join`, in milliseconds.
    pub join_timeout_ms: u64,
    /// Silence after which a joined connection is dropped (its seat held), in milliseconds.
    pub idle_timeout_ms: u64,
    /// ICE servers announced in `welcome`.
    pub ice_servers: Vec<IceServer>,
    /// Per-connection frame rate limit.
    pub rate_limit: RateLimit,
    /// Frames kept for a held seat; beyond this the oldest are dropped.
    pub max_buffered_frames: usize,
}

impl std::fmt::Debug for HubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubConfig")
            .field("jwt_secret", &"<redacted>")
            .field("resume_grace_ms", &self.resume_grace_ms)
            .field("join_timeout_ms", &self.join_timeout_ms)
            .field("idle_timeout_ms", &self.idle_timeout_ms)
            .field("ice_servers", &self.ice_servers)
            .field("rate_limit", &self.rate_limit)
            .field("max_buffered_frames", &self.max_buffered_frames)
            .finish()
    }
}

impl HubConfig {
    /// Defaults for everything but the secret.
    pub fn new(jwt_secret: Vec<u8>) -> Self {
        Self {
            jwt_secret,
            resume_grace_ms: DEFAULT_RESUME_GRACE_MS,
            join_timeout_ms: DEFAULT_JOIN_TIMEOUT_MS,
            idle_timeout_ms: DEFAULT_IDLE_TIMEOUT_MS,
            ice_servers: Vec::new(),
            rate_limit: RateLimit::default(),
            max_buffered_frames: DEFAULT_MAX_BUFFERED_FRAMES,
        }
    }
}

/// The system random source failed.
#[derive(Debug, thiserror::Error)]
#[error("system random source failed: {0}")]
pub struct EntropyError(#[from] getrandom::Error);

/// Where resume tokens get their randomness; swap it in tests if determinism matters.
pub trait Entropy: Send {
    /// Fills `buf` with random bytes.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), EntropyError>;
}

/// The operating system's random source.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), EntropyError> {
        Ok(getrandom::fill(buf)?)
    }
}

/// Why a connection was refused a seat (every variant ends the connection).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    /// The first frame was not a valid `join`.
    #[error("the first frame must be a valid join: {0}")]
    NotJoin(String),
    /// The token failed verification.
    #[error(transparent)]
    Token(#[from] JwtError),
    /// The token names a room this server does not have.
    #[error("the token is for a room that does not exist")]
    UnknownRoom(RoomId),
    /// The token's member is not in the room definition (or has another role there).
    #[error("the token does not match a member of this room")]
    NotAMember(MemberId),
    /// No `join` arrived in time.
    #[error("no join within {0} ms")]
    Timeout(u64),
    /// A resume token could not be generated.
    #[error("internal error")]
    Entropy(#[from] EntropyError),
}

impl JoinError {
    /// The wire error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Token(e) => e.code(),
            Self::Entropy(_) => ErrorCode::Internal,
            _ => ErrorCode::Unauthorized,
        }
    }
}

/// Orders timers by deadline, then by creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct TimerKey {
    at: Millis,
    seq: u64,
}

enum Timer {
    /// Release a held seat.
    Hold { room: RoomId, seat: usize },
    /// Close a connection that never joined.
    Join { conn: ConnId },
    /// Check whether a joined connection went silent.
    Idle { conn: ConnId },
    /// A room's tokens expired: remove it once empty.
    Expire { room: RoomId },
}

struct Conn {
    state: ConnState,
    bucket: TokenBucket,
    rate_error_at: Option<Millis>,
    /// When the last frame arrived.
    last_seen: Millis,
    /// The pending silence check (one per joined connection, re-armed lazily when it fires).
    idle_timer: Option<TimerKey>,
}

enum ConnState {
    AwaitingJoin { timer: TimerKey },
    Joined { room: RoomId, seat: usize },
}

/// All rooms and connections of one server, driven by its owner.
pub struct Hub {
    config: HubConfig,
    entropy: Box<dyn Entropy>,
    rooms: HashMap<RoomId, Room>,
    conns: HashMap<ConnId, Conn>,
    timers: BTreeMap<TimerKey, Timer>,
    next_timer: u64,
    next_session: u64,
    out: VecDeque<HubOutput>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("rooms", &self.rooms.len())
            .field("conns", &self.conns.len())
            .field("timers", &self.timers.len())
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// A hub with no rooms, using the OS random source for resume tokens.
    pub fn new(config: HubConfig) -> Self {
        Self::with_entropy(config, Box::new(OsEntropy))
    }

    /// A hub with a custom random source.
    pub fn with_entropy(config: HubConfig, entropy: Box<dyn Entropy>) -> Self {
        Self {
            config,
            entropy,
            rooms: HashMap::new(),
            conns: HashMap::new(),
            timers: BTreeMap::new(),
            next_timer: 0,
            next_session: 0,
            out: VecDeque::new(),
        }
    }

    // ------------------------------------------------------------------ commands, getters

    /// Makes a room joinable. Returns `false` (and changes nothing) if the id is known.
    ///
    /// At `def.expires_at` (when its tokens expire) the room is removed, or as soon as its
    /// last member is gone after that, with [`HubOutput::RoomRemoved`].
    pub fn add_room(&mut self, def: RoomDefinition) -> bool {
        if self.rooms.contains_key(&def.id) {
            return false;
        }
        if def.expires_at != NEVER {
            let at = Millis(def.expires_at.saturating_mul(1000));
            self.add_timer(
                at,
                Timer::Expire {
                    room: def.id.clone(),
                },
            );
        }
        self.rooms.insert(def.id.clone(), Room::new(def));
        true
    }

    /// Members of `room` with a live connection (held seats are not online), or `None` if the
    /// hub does not know the room.
    pub fn online_members(&self, room: &RoomId) -> Option<Vec<MemberId>> {
        self.rooms.get(room).map(Room::online)
    }

    /// Number of open connections (joined or not).
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    // ------------------------------------------------------------------ inputs

    /// A connection opened.
    pub fn handle_open(&mut self, conn: ConnId, now: Millis) {
        self.expire(now);
        if self.conns.contains_key(&conn) {
            tracing::warn!(
                conn = conn.0,
                "connection id reused; ignoring the second open"
            );
            return;
        }
        let timer = self.add_timer(now.after(self.config.join_timeout_ms), Timer::Join { conn });
        self.conns.insert(
            conn,
            Conn {
                state: ConnState::AwaitingJoin { timer },
                bucket: TokenBucket::full(self.config.rate_limit, now),
                rate_error_at: None,
                last_seen: now,
                idle_timer: None,
            },
        );
    }

    /// A text frame arrived on `conn`.
    pub fn handle_frame(&mut self, conn: ConnId, text: &str, now: Millis) {
        self.expire(now);
        self.seen(conn, now);
        if !self.admit(conn, now) {
            return;
        }
        let decoded = protocol::decode_client(text);
        self.on_message(conn, decoded.map_err(|e| (e, text)), now);
    }

    /// The connection answered a protocol-level ping (or sent one): it is alive, though no
    /// frame arrived. Keeps a joined connection from being dropped as idle.
    pub fn handle_alive(&mut self, conn: ConnId, now: Millis) {
        self.expire(now);
        self.seen(conn, now);
    }

    /// A binary frame arrived on `conn`; the protocol is text only.
    pub fn handle_binary(&mut self, conn: ConnId, now: Millis) {
        self.expire(now);
        self.seen(conn, now);
        if !self.admit(conn, now) {
            return;
        }
        let reason = "binary frames are not supported; send JSON text frames";
        match self.conns.get(&conn).map(|c| &c.state) {
            Some(ConnState::AwaitingJoin { .. }) => {
                self.reject(conn, JoinError::NotJoin(reason.into()));
            }
            Some(ConnState::Joined { .. }) => {
                self.send_error(conn, ErrorCode::BadRequest, reason, None);
            }
            None => {}
        }
    }

    /// `conn` closed (by the peer or the network). A joined member's seat is held for the
    /// grace period.
    pub fn handle_close(&mut self, conn: ConnId, now: Millis) {
        self.expire(now);
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        if let Some(timer) = c.idle_timer {
            self.timers.remove(&timer);
        }
        match c.state {
            ConnState::AwaitingJoin { timer } => {
                self.timers.remove(&timer);
            }
            ConnState::Joined { room, seat } => self.hold(conn, room, seat, now),
        }
    }

    /// The driver could not hand `msg` to `conn` (its queue is full or the connection task is
    /// gone) and is dropping the connection: the seat is held as in [`Hub::handle_close`] and
    /// `msg` becomes the first buffered frame, so a resume still gets it.
    pub fn handle_undelivered(&mut self, conn: ConnId, msg: ServerMessage, now: Millis) {
        let seat = match self.conns.get(&conn).map(|c| &c.state) {
            Some(ConnState::Joined { room, seat }) => Some((room.clone(), *seat)),
            _ => None,
        };
        self.handle_close(conn, now);
        let Some((room_id, idx)) = seat else {
            return;
        };
        let max_buffered = self.config.max_buffered_frames;
        if let Some(room) = self.rooms.get_mut(&room_id) {
            if matches!(
                room.seat(idx),
                Some(Seat {
                    presence: Presence::Held { .. },
                    ..
                })
            ) {
                room.deliver(idx, msg, &mut self.out, max_buffered);
            }
        }
    }

    /// Fires the timers due at `now`: held seats expire, connections that never joined close.
    pub fn handle_timeout(&mut self, now: Millis) {
        self.expire(now);
    }

    // ------------------------------------------------------------------ outputs

    /// The next thing to do, in order.
    pub fn poll_output(&mut self) -> Option<HubOutput> {
        self.out.pop_front()
    }

    /// When [`Hub::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.timers.keys().next().map(|k| k.at)
    }

    // ------------------------------------------------------------------ internals

    fn add_timer(&mut self, at: Millis, timer: Timer) -> TimerKey {
        let key = TimerKey {
            at,
            seq: self.next_timer,
        };
        self.next_timer += 1;
        self.timers.insert(key, timer);
        key
    }

    fn expire(&mut self, now: Millis) {
        loop {
            let Some(entry) = self.timers.first_entry() else {
                return;
            };
            if entry.key().at > now {
                return;
            }
            match entry.remove() {
                Timer::Hold { room, seat } => {
                    tracing::info!(%room, seat, "resume grace period over; releasing seat");
                    self.release(&room, seat, LeaveReason::Timeout);
                }
                Timer::Join { conn } => {
                    let ms = self.config.join_timeout_ms;
                    self.reject(conn, JoinError::Timeout(ms));
                }
                Timer::Idle { conn } => self.check_idle(conn, now),
                Timer::Expire { room } => {
                    if let Some(r) = self.rooms.get_mut(&room) {
                        r.expired = true;
                    }
                    self.remove_if_done(&room);
                }
            }
        }
    }

    fn seen(&mut self, conn: ConnId, now: Millis) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.last_seen = now;
        }
    }

    /// Arms the silence check of a joined connection, `idle_timeout_ms` after its last frame.
    fn arm_idle(&mut self, conn: ConnId) {
        let Some(last_seen) = self.conns.get(&conn).map(|c| c.last_seen) else {
            return;
        };
        let key = self.add_timer(
            last_seen.after(self.config.idle_timeout_ms),
            Timer::Idle { conn },
        );
        if let Some(c) = self.conns.get_mut(&conn) {
            c.idle_timer = Some(key);
        }
    }

    /// A joined connection's silence check is due: drop it (holding the seat for a resume) if
    /// nothing arrived for `idle_timeout_ms`, else check again that long after its last frame.
    fn check_idle(&mut self, conn: ConnId, now: Millis) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.idle_timer = None;
        if now.since(c.last_seen) < self.config.idle_timeout_ms {
            self.arm_idle(conn);
            return;
        }
        tracing::info!(
            conn = conn.0,
            idle_ms = now.since(c.last_seen),
            "connection silent; dropping it and holding its seat"
        );
        self.handle_close(conn, now);
        self.out.push_back(HubOutput::Close { conn });
    }

    /// Rate limiting: `true` if the frame may be processed.
    fn admit(&mut self, conn: ConnId, now: Millis) -> bool {
        let limit = self.config.rate_limit;
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        if c.bucket.take(limit, now) {
            return true;
        }
        let report = c
            .rate_error_at
            .is_none_or(|at| now.since(at) >= RATE_ERROR_INTERVAL_MS);
        if report {
            c.rate_error_at = Some(now);
            tracing::debug!(conn = conn.0, "rate limited");
            self.send_error(
                conn,
                ErrorCode::RateLimited,
                "too many frames; slow down (excess frames are dropped)",
                None,
            );
        }
        false
    }

    fn send(&mut self, conn: ConnId, msg: ServerMessage) {
        self.out.push_back(HubOutput::Send { conn, msg });
    }

    fn send_error(
        &mut self,
        conn: ConnId,
        code: ErrorCode,
        message: impl Into<String>,
        reference: Option<&str>,
    ) {
        self.send(
            conn,
            ServerMessage::Error {
                code,
                message: truncate(message.into(), MAX_TEXT_BYTES),
                reference: reference.map(|r| truncate(r.to_owned(), MAX_ID_LEN)),
            },
        );
    }

    /// Forgets `conn` and tells the driver to close it (after what is queued for it).
    fn drop_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            if let ConnState::AwaitingJoin { timer } = c.state {
                self.timers.remove(&timer);
            }
            if let Some(timer) = c.idle_timer {
                self.timers.remove(&timer);
            }
            self.out.push_back(HubOutput::Close { conn });
        }
    }

    /// Refuses a connection that has no seat: `error` with `ref: "join"`, then close.
    fn reject(&mut self, conn: ConnId, err: JoinError) {
        tracing::info!(conn = conn.0, code = %err.code(), "join refused: {err}");
        self.send_error(conn, err.code(), err.to_string(), Some("join"));
        self.drop_conn(conn);
    }

    fn on_message(
        &mut self,
        conn: ConnId,
        decoded: Result<ClientMessage, (protocol::ProtocolError, &str)>,
        now: Millis,
    ) {
        let joined = match self.conns.get(&conn).map(|c| &c.state) {
            None => return,
            Some(ConnState::AwaitingJoin { .. }) => None,
            Some(ConnState::Joined { room, seat }) => Some((room.clone(), *seat)),
        };
        match (joined, decoded) {
            (None, Err((e, _))) => self.reject(conn, JoinError::NotJoin(e.to_string())),
            (
                None,
                Ok(ClientMessage::Join {
                    token,
                    resume_token,
                }),
            ) => self.on_join(conn, &token, resume_token.as_deref(), now),
            (None, Ok(msg)) => {
                let reason = format!("got `{}` before `join`", msg.kind());
                self.reject(conn, JoinError::NotJoin(reason));
            }
            (Some(_), Err((e, text))) => {
                let reference = protocol::frame_type(text);
                tracing::debug!(conn = conn.0, "bad frame: {e}");
                self.send_error(conn, e.code(), e.to_string(), reference.as_deref());
            }
            (Some((room, seat)), Ok(msg)) => self.on_joined_message(conn, &room, seat, msg),
        }
    }

    fn new_resume_token(&mut self) -> Result<String, EntropyError> {
        let mut bytes = [0u8; 32];
        self.entropy.fill(&mut bytes)?;
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }

    fn on_join(&mut self, conn: ConnId, token: &str, resume_token: Option<&str>, now: Millis) {
        let claims = match jwt::verify_signature(&self.config.jwt_secret, token) {
            Ok(claims) => claims,
            Err(e) => return self.reject(conn, e.into()),
        };
        let Some(room) = self.rooms.get(&claims.room) else {
            return self.reject(conn, JoinError::UnknownRoom(claims.room));
        };
        let Some(idx) = room
            .index_of(&claims.sub)
            .filter(|&i| room.def.members[i].role == claims.role)
        else {
            return self.reject(conn, JoinError::NotAMember(claims.sub));
        };
        // Held seats whose grace ran out were released by `expire` at the top of this input,
        // so a matching token here is always inside the grace period.
        let resumable = match (resume_token, room.seat(idx)) {
            (Some(presented), Some(seat)) => {
                constant_time_eq(presented.as_bytes(), seat.resume_token.as_bytes())
            }
            _ => false,
        };
        if !resumable {
            if let Err(e) = jwt::check_expiry(&claims, now.0 / 1000) {
                return self.reject(conn, e.into());
            }
        }
        let fresh_token = match self.new_resume_token() {
            Ok(t) => t,
            Err(e) => return self.reject(conn, e.into()),
        };
        if resumable {
            self.resume(conn, &claims.room, idx, fresh_token);
        } else {
            self.fresh_join(conn, &claims.room, idx, claims.caps, fresh_token);
        }
    }

    /// Marks `conn` joined to `room`/`seat`, cancelling its join timer.
    fn seat_conn(&mut self, conn: ConnId, room: &RoomId, seat: usize) {
        if let Some(c) = self.conns.get_mut(&conn) {
            let old = std::mem::replace(
                &mut c.state,
                ConnState::Joined {
                    room: room.clone(),
                    seat,
                },
            );
            if let ConnState::AwaitingJoin { timer } = old {
                self.timers.remove(&timer);
            }
        }
        if self
            .conns
            .get(&conn)
            .is_some_and(|c| c.idle_timer.is_none())
        {
            self.arm_idle(conn);
        }
    }

    fn fresh_join(
        &mut self,
        conn: ConnId,
        room_id: &RoomId,
        idx: usize,
        caps: Capabilities,
        resume_token: String,
    ) {
        let Some(room) = self.rooms.get(room_id) else {
            return;
        };
        if let Some(old) = room.seat(idx) {
            // The member joins afresh while holding a seat: the new connection wins.
            let old_conn = match old.presence {
                Presence::Live(c) => Some(c),
                Presence::Held { .. } => None,
            };
            tracing::info!(room = %room_id, member = %room.member_id(idx), "seat replaced by a fresh join");
            if let Some(old_conn) = old_conn {
                self.send_error(
                    old_conn,
                    ErrorCode::Conflict,
                    "replaced by a new connection",
                    None,
                );
            }
            self.release(room_id, idx, LeaveReason::Removed);
        }
        self.next_session += 1;
        let session_id = format!("s_{}", self.next_session);
        self.seat_conn(conn, room_id, idx);
        let max_buffered = self.config.max_buffered_frames;
        let Some(room) = self.rooms.get_mut(room_id) else {
            return;
        };
        room.seats[idx] = Some(Seat {
            session_id,
            caps,
            resume_token,
            presence: Presence::Live(conn),
            published: Vec::new(),
            consent: false,
        });
        tracing::info!(room = %room_id, member = %room.member_id(idx), conn = conn.0, "joined");
        let welcome = welcome(room, idx, &self.config.ice_servers, false);
        self.out.push_back(HubOutput::Send { conn, msg: welcome });
        let joined = ServerMessage::MemberJoined {
            member: room.info(idx),
        };
        room.broadcast(Some(idx), &joined, &mut self.out, max_buffered);
        if room.recording.is_some() {
            // Whoever arrives during a recording is told at once.
            self.send(
                conn,
                ServerMessage::RecordingState {
                    mode: RecordingMode::Local,
                    state: RecordingStatus::Recording,
                },
            );
        }
    }

    fn resume(&mut self, conn: ConnId, room_id: &RoomId, idx: usize, resume_token: String) {
        let Some(seat) = self.rooms.get_mut(room_id).and_then(|r| r.seat_mut(idx)) else {
            return;
        };
        seat.resume_token = resume_token;
        let buffered = match std::mem::replace(&mut seat.presence, Presence::Live(conn)) {
            Presence::Live(old) => {
                // The old connection is still open to us (e.g. a half-open TCP connection the
                // client already gave up on): the resume takes over silently.
                self.drop_conn(old);
                VecDeque::new()
            }
            Presence::Held {
                timer,
                buffer,
                dropped,
                ..
            } => {
                self.timers.remove(&timer);
                if dropped > 0 {
                    tracing::warn!(room = %room_id, seat = idx, dropped, "frames for held seat were dropped");
                }
                buffer
            }
        };
        self.seat_conn(conn, room_id, idx);
        let Some(room) = self.rooms.get(room_id) else {
            return;
        };
        tracing::info!(room = %room_id, member = %room.member_id(idx), conn = conn.0, buffered = buffered.len(), "resumed");
        let welcome = welcome(room, idx, &self.config.ice_servers, true);
        self.send(conn, welcome);
        for msg in buffered {
            self.send(conn, msg);
        }
    }

    /// The connection of a live seat dropped: hold the seat for the grace period.
    fn hold(&mut self, conn: ConnId, room_id: RoomId, idx: usize, now: Millis) {
        let is_live = self
            .rooms
            .get(&room_id)
            .and_then(|r| r.seat(idx))
            .is_some_and(|s| matches!(s.presence, Presence::Live(c) if c == conn));
        if !is_live {
            return;
        }
        let at = now.after(self.config.resume_grace_ms);
        let timer = self.add_timer(
            at,
            Timer::Hold {
                room: room_id.clone(),
                seat: idx,
            },
        );
        if let Some(seat) = self.rooms.get_mut(&room_id).and_then(|r| r.seat_mut(idx)) {
            seat.presence = Presence::Held {
                timer,
                buffer: VecDeque::new(),
                bytes: 0,
                dropped: 0,
            };
        }
        tracing::info!(room = %room_id, seat = idx, conn = conn.0, "connection dropped; holding seat");
    }

    /// Frees a seat: its connection (if any) is closed and the others get `member_left`.
    fn release(&mut self, room_id: &RoomId, idx: usize, reason: LeaveReason) {
        let max_buffered = self.config.max_buffered_frames;
        let Some(room) = self.rooms.get_mut(room_id) else {
            return;
        };
        let Some(seat) = room.seats.get_mut(idx).and_then(Option::take) else {
            return;
        };
        let member = room.member_id(idx).clone();
        let left = ServerMessage::MemberLeft {
            member: MemberRef { id: member },
            reason,
        };
        room.broadcast(Some(idx), &left, &mut self.out, max_buffered);
        if room.recording == Some(idx) {
            stop_recording(room, &mut self.out, max_buffered);
        }
        match seat.presence {
            Presence::Live(conn) => self.drop_conn(conn),
            Presence::Held { timer, dropped, .. } => {
                self.timers.remove(&timer);
                if dropped > 0 {
                    tracing::warn!(room = %room_id, seat = idx, dropped, "frames for held seat were dropped");
                }
            }
        }
        self.remove_if_done(room_id);
    }

    /// Removes an expired room once nobody is in it (no live and no held seat).
    fn remove_if_done(&mut self, room_id: &RoomId) {
        let done = self
            .rooms
            .get(room_id)
            .is_some_and(|r| r.expired && r.seats.iter().all(Option::is_none));
        if done {
            self.rooms.remove(room_id);
            tracing::info!(room = %room_id, "room expired; removed");
            self.out.push_back(HubOutput::RoomRemoved {
                room: room_id.clone(),
            });
        }
    }

    fn on_joined_message(
        &mut self,
        conn: ConnId,
        room_id: &RoomId,
        idx: usize,
        msg: ClientMessage,
    ) {
        let max_buffered = self.config.max_buffered_frames;
        let Some(room) = self.rooms.get_mut(room_id) else {
            return;
        };
        let role = room.def.members[idx].role;
        let me = room.member_id(idx).clone();
        let Some(seat) = room.seat_mut(idx) else {
            return;
        };
        if let Err(e) = authorize(role, seat.caps, &msg) {
            tracing::debug!(room = %room_id, member = %me, "forbidden {}: {e}", msg.kind());
            return self.send_error(conn, e.code(), e.user_message(), Some(msg.kind()));
        }
        let kind = msg.kind();
        match msg {
            ClientMessage::Join { .. } => {
                self.send_error(conn, ErrorCode::Conflict, "already joined", Some(kind));
            }
            ClientMessage::Offer { to, sdp } => {
                let relayed = ServerMessage::Offer { from: me, sdp };
                self.relay(conn, room_id, idx, to, relayed, kind);
            }
            ClientMessage::Answer { to, sdp } => {
                let relayed = ServerMessage::Answer { from: me, sdp };
                self.relay(conn, room_id, idx, to, relayed, kind);
            }
            ClientMessage::Candidate { to, candidate } => {
                let relayed = ServerMessage::Candidate {
                    from: me,
                    candidate,
                };
                self.relay(conn, room_id, idx, to, relayed, kind);
            }
            ClientMessage::Publish { source, stream } => {
                seat.published.retain(|p| p.source != source);
                seat.published.push(protocol::Published {
                    source,
                    stream: stream.clone(),
                });
                let msg = ServerMessage::Published {
                    member: me,
                    source,
                    stream,
                };
                room.broadcast(Some(idx), &msg, &mut self.out, max_buffered);
            }
            ClientMessage::Unpublish { source } => {
                seat.published.retain(|p| p.source != source);
                let msg = ServerMessage::Unpublished { member: me, source };
                room.broadcast(Some(idx), &msg, &mut self.out, max_buffered);
            }
            ClientMessage::Consent { recording } => {
                seat.consent = recording;
                if !recording && role != Role::Observer && room.recording.is_some() {
                    tracing::info!(room = %room_id, member = %me, "consent withdrawn; recording stops");
                    stop_recording(room, &mut self.out, max_buffered);
                }
            }
            ClientMessage::Recording { action, mode } => {
                self.on_recording(conn, room_id, idx, action, mode);
            }
            ClientMessage::QueueNext => {
                self.send_error(
                    conn,
                    ErrorCode::NotFound,
                    "no customer is waiting",
                    Some(kind),
                );
            }
            ClientMessage::Leave => {
                tracing::info!(room = %room_id, member = %me, "left");
                self.release(room_id, idx, LeaveReason::Left);
            }
            ClientMessage::Ping => self.send(conn, ServerMessage::Pong),
            other => {
                let reason = format!("`{}` is not supported by this server", other.kind());
                self.send_error(conn, ErrorCode::BadRequest, reason, Some(kind));
            }
        }
    }

    fn relay(
        &mut self,
        conn: ConnId,
        room_id: &RoomId,
        idx: usize,
        to: Option<MemberId>,
        msg: ServerMessage,
        kind: &str,
    ) {
        let max_buffered = self.config.max_buffered_frames;
        let Some(room) = self.rooms.get_mut(room_id) else {
            return;
        };
        let Some(to) = to else {
            room.broadcast(Some(idx), &msg, &mut self.out, max_buffered);
            return;
        };
        let target = room
            .index_of(&to)
            .filter(|&t| t != idx && room.seat(t).is_some());
        match target {
            Some(t) => room.deliver(t, msg, &mut self.out, max_buffered),
            None => {
                let reason = format!("member `{to}` is not in the room");
                self.send_error(conn, ErrorCode::NotFound, reason, Some(kind));
            }
        }
    }

    fn on_recording(
        &mut self,
        conn: ConnId,
        room_id: &RoomId,
        idx: usize,
        action: RecordingAction,
        mode: RecordingMode,
    ) {
        let max_buffered = self.config.max_buffered_frames;
        if mode == RecordingMode::Cloud {
            return self.send_error(
                conn,
                ErrorCode::NotFound,
                "cloud recording is not available on this server yet",
                Some("recording"),
            );
        }
        let Some(room) = self.rooms.get_mut(room_id) else {
            return;
        };
        match action {
            RecordingAction::Start => {
                let missing: Vec<String> = room
                    .present_except(Some(idx))
                    .into_iter()
                    .filter(|&i| room.def.members[i].role != Role::Observer)
                    .filter(|&i| room.seat(i).is_some_and(|s| !s.consent))
                    .map(|i| room.member_id(i).to_string())
                    .collect();
                if !missing.is_empty() {
                    let reason = format!("recording needs consent from {}", missing.join(", "));
                    return self.send_error(conn, ErrorCode::Forbidden, reason, Some("recording"));
                }
                room.recording = Some(idx);
                tracing::info!(room = %room_id, seat = idx, "local recording started");
                let msg = ServerMessage::RecordingState {
                    mode: RecordingMode::Local,
                    state: RecordingStatus::Recording,
                };
                room.broadcast(None, &msg, &mut self.out, max_buffered);
            }
            RecordingAction::Stop => {
                tracing::info!(room = %room_id, seat = idx, "local recording stopped");
                stop_recording(room, &mut self.out, max_buffered);
            }
        }
    }
}

fn welcome(room: &Room, idx: usize, ice_servers: &[IceServer], resumed: bool) -> ServerMessage {
    let (session_id, caps, resume_token) = room
        .seat(idx)
        .map(|s| (s.session_id.clone(), s.caps, s.resume_token.clone()))
        .unwrap_or_default();
    ServerMessage::Welcome {
        session_id,
        member: room.info(idx),
        room: room.def.id.clone(),
        members: room
            .present_except(Some(idx))
            .into_iter()
            .map(|i| room.info(i))
            .collect(),
        permissions: room.def.permissions,
        capabilities: caps,
        ice_servers: ice_servers.to_vec(),
        resume_token,
        resumed,
    }
}

/// Ends the room's local recording and tells everyone present (including the recorder).
fn stop_recording(room: &mut Room, out: &mut VecDeque<HubOutput>, max_buffered: usize) {
    room.recording = None;
    let msg = ServerMessage::RecordingState {
        mode: RecordingMode::Local,
        state: RecordingStatus::Stopped,
    };
    room.broadcast(None, &msg, out, max_buffered);
}

/// Compares secrets without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Cuts `s` to at most `max` bytes on a character boundary.
fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}
