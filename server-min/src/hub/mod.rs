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
//! - A token is for one creation of a room: its `epoch` must be the room's
//!   ([`RoomDefinition::epoch`]), so the tokens of an earlier room with the same id (before a
//!   restart, or before it expired and was created again) are refused with `unauthorized`.
//! - A member's capabilities are computed from the room's current definition (its role there
//!   and the room's permissions), never taken from the token.
//! - Relayed `offer`/`answer`/`candidate` carry the sender in `from` and never leave the room.
//! - A dropped connection's seat is held for the grace period; whatever would have been sent
//!   to it is buffered (up to [`HubConfig::max_buffered_frames`] and about 1 MiB, oldest
//!   dropped first) and flushed after the `welcome {resumed: true}` of a `join` that presents the seat's
//!   `resume_token`. A resume does not re-check token expiry: the seat was authorized when it
//!   was taken and the signature still proves who is asking. It is refused, though, once the
//!   session (counted from its fresh join) is older than [`HubConfig::session_lifetime_ms`]
//!   (12 h by default): the client then joins afresh with a new token.
//! - After join, a bad frame gets an `error` and the connection stays open.

mod join;
mod rate;
mod relay;
mod room;
mod seats;
#[cfg(test)]
mod tests;
mod timers;

use std::collections::{BTreeMap, HashMap, VecDeque};

use assistrtc_core::Millis;
use assistrtc_core::protocol::{
    self, ErrorCode, IceServer, MAX_ID_LEN, MAX_TEXT_BYTES, MemberId, RoomId, ServerMessage,
};

pub use self::rate::RateLimit;
pub(crate) use self::rate::TokenBucket;
use self::room::{Presence, Room, Seat};
use crate::jwt::JwtError;
use crate::store::{NEVER, RoomDefinition};
use crate::turn::TurnConfig;

/// Default time a dropped member's seat is held for a resume.
pub const DEFAULT_RESUME_GRACE_MS: u64 = 30_000;
/// Default time a new connection has to send its `join`.
pub const DEFAULT_JOIN_TIMEOUT_MS: u64 = 10_000;
/// Silence after which a joined connection counts as dropped: three of the client's 10 s
/// pings. Without it a connection that vanished without a FIN (a closed laptop, a lost
/// network) would keep a live seat forever and the others would never see the member leave.
pub const DEFAULT_IDLE_TIMEOUT_MS: u64 = 30_000;
/// Default session lifetime: 12 hours, longer than any support call. A session is one fresh
/// join and the resumes that follow it; a resume after this long is refused.
pub const DEFAULT_SESSION_LIFETIME_MS: u64 = 12 * 60 * 60 * 1000;
/// Default cap on connections waiting for their `join`: 1024 × 64 KiB bounds what they can
/// hold to 64 MiB.
pub const DEFAULT_MAX_UNJOINED: usize = 1024;
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
    /// Longest a session lasts from its fresh join, in milliseconds: a resume after it is
    /// refused with `token_expired`, and the client joins again with a fresh token (the
    /// REST API issues one per member: `POST /v1/rooms/{id}/tokens`). A live connection is
    /// not cut when it passes.
    pub session_lifetime_ms: u64,
    /// Silence after which a joined connection is dropped (its seat held), in milliseconds.
    pub idle_timeout_ms: u64,
    /// ICE servers announced in `welcome`.
    pub ice_servers: Vec<IceServer>,
    /// TURN servers sharing a secret with this server: every `welcome` also carries their
    /// entry, with credentials issued for that member at that time.
    pub turn: Option<TurnConfig>,
    /// Per-connection frame rate limit.
    pub rate_limit: RateLimit,
    /// Frames kept for a held seat; beyond this the oldest are dropped.
    pub max_buffered_frames: usize,
    /// Connections that may wait for their `join` at once. Before it, nobody is known: this
    /// bounds what unauthenticated connections can hold (each at most one partial 64 KiB
    /// frame for the join timeout); beyond it a new connection is refused at once.
    pub max_unjoined: usize,
}

impl std::fmt::Debug for HubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubConfig")
            .field("jwt_secret", &"<redacted>")
            .field("resume_grace_ms", &self.resume_grace_ms)
            .field("join_timeout_ms", &self.join_timeout_ms)
            .field("session_lifetime_ms", &self.session_lifetime_ms)
            .field("idle_timeout_ms", &self.idle_timeout_ms)
            .field("ice_servers", &self.ice_servers)
            .field("turn", &self.turn)
            .field("rate_limit", &self.rate_limit)
            .field("max_buffered_frames", &self.max_buffered_frames)
            .field("max_unjoined", &self.max_unjoined)
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
            session_lifetime_ms: DEFAULT_SESSION_LIFETIME_MS,
            idle_timeout_ms: DEFAULT_IDLE_TIMEOUT_MS,
            ice_servers: Vec::new(),
            turn: None,
            rate_limit: RateLimit::default(),
            max_buffered_frames: DEFAULT_MAX_BUFFERED_FRAMES,
            max_unjoined: DEFAULT_MAX_UNJOINED,
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
    /// The token was issued for an earlier room with the same id (its epoch is not the
    /// room's): the room was created again since, e.g. after a restart.
    #[error(
        "the token is for an earlier room with this id (the room was re-created); get a fresh token"
    )]
    StaleRoom(RoomId),
    /// The token's member is not in the room definition (or has another role there).
    #[error("the token does not match a member of this room")]
    NotAMember(MemberId),
    /// A resume came after the session lifetime ([`HubConfig::session_lifetime_ms`]).
    #[error(
        "the session is over (sessions last {lifetime_ms} ms from their join); join again with a fresh token"
    )]
    SessionOver {
        /// The configured lifetime.
        lifetime_ms: u64,
    },
    /// No `join` arrived in time.
    #[error("no join within {0} ms")]
    Timeout(u64),
    /// Too many connections are waiting for their `join`.
    #[error("too many connections are waiting to join (at most {0}); retry later")]
    Crowded(usize),
    /// A resume token could not be generated.
    #[error("internal error")]
    Entropy(#[from] EntropyError),
}

impl JoinError {
    /// The wire error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Token(e) => e.code(),
            // Like an expired token: the client needs a fresh one to come back.
            Self::SessionOver { .. } => ErrorCode::TokenExpired,
            Self::Entropy(_) => ErrorCode::Internal,
            Self::Crowded(_) => ErrorCode::RateLimited,
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
    /// Connections in [`ConnState::AwaitingJoin`].
    unjoined: usize,
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

/// A member's presence and recording consent ([`Hub::recording_consent`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberConsent {
    /// The member.
    pub member: MemberId,
    /// Whether it holds a seat now.
    pub present: bool,
    /// Whether it consents to being recorded (`consent {recording: true}`).
    pub consented: bool,
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
            unjoined: 0,
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

    /// Moves `room`'s expiry to `expires_at` (Unix seconds) if that is later: a token issued
    /// for it later keeps it alive as long as that token. Returns whether it changed.
    pub fn extend_room(&mut self, room: &RoomId, expires_at: u64) -> bool {
        let Some(r) = self.rooms.get_mut(room) else {
            return false;
        };
        if r.def.expires_at == NEVER || expires_at <= r.def.expires_at {
            return false;
        }
        r.def.expires_at = expires_at;
        r.expired = false;
        let at = Millis(expires_at.saturating_mul(1000));
        self.add_timer(at, Timer::Expire { room: room.clone() });
        true
    }

    /// Members of `room` with a live connection (held seats are not online), or `None` if the
    /// hub does not know the room.
    pub fn online_members(&self, room: &RoomId) -> Option<Vec<MemberId>> {
        self.rooms.get(room).map(Room::online)
    }

    /// Each member of the room in definition order: whether it holds a seat (live or inside
    /// the resume grace) and whether it consents to recording, as the hub knows now; `None`
    /// for an unknown room. A recording keeps this as its consent record.
    pub fn recording_consent(&self, room: &RoomId) -> Option<Vec<MemberConsent>> {
        let room = self.rooms.get(room)?;
        Some(
            room.def
                .members
                .iter()
                .enumerate()
                .map(|(i, m)| MemberConsent {
                    member: m.id.clone(),
                    present: room.seat(i).is_some(),
                    consented: room.seat(i).is_some_and(|s| s.consent),
                })
                .collect(),
        )
    }

    /// Number of open connections (joined or not).
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Number of joined connections.
    pub fn session_count(&self) -> usize {
        self.conns
            .values()
            .filter(|c| matches!(c.state, ConnState::Joined { .. }))
            .count()
    }

    /// Number of rooms the hub knows.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
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
        let crowded = self.unjoined >= self.config.max_unjoined;
        self.unjoined += 1;
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
        if crowded {
            self.reject(conn, JoinError::Crowded(self.config.max_unjoined));
        }
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
                self.unjoined -= 1;
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

    // ------------------------------------------------------------------ shared helpers
    // The rest of the state machine is in `join` (first frame, fresh join, resume), `relay`
    // (frames of joined members), `seats` (hold, release, room removal) and `timers`.

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
