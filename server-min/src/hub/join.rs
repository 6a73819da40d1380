//! Joining: the first frame of a connection, token checks, fresh joins and resumes.

use std::collections::VecDeque;

use assistrtc_core::Millis;
use assistrtc_core::permissions::Capabilities;
use assistrtc_core::protocol::{
    self, ClientMessage, ErrorCode, IceServer, LeaveReason, MemberId, RecordingMode, Role, RoomId,
    ServerMessage,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::room::{Presence, Room, Seat};
use super::{ConnId, ConnState, EntropyError, Hub, HubConfig, HubOutput, JoinError};
use crate::jwt;

impl Hub {
    /// Routes a frame by the connection's state: before `join` only a valid `join` is
    /// accepted, after it the frame goes to [`Hub::on_joined_message`].
    pub(super) fn on_message(
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

    /// Refuses a connection that has no seat: `error` with `ref: "join"`, then close.
    pub(super) fn reject(&mut self, conn: ConnId, err: JoinError) {
        tracing::info!(conn = conn.0, code = %err.code(), "join refused: {err}");
        self.send_error(conn, err.code(), err.to_string(), Some("join"));
        self.drop_conn(conn);
    }

    /// 32 random bytes, base64url: the secret a dropped member presents to take its seat back.
    fn new_resume_token(&mut self) -> Result<String, EntropyError> {
        let mut bytes = [0u8; 32];
        self.entropy.fill(&mut bytes)?;
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Verifies the token and seats the connection: a resume if it presents the held seat's
    /// resume token, else a fresh join (replacing whoever holds the seat).
    fn on_join(&mut self, conn: ConnId, token: &str, resume_token: Option<&str>, now: Millis) {
        let claims = match jwt::verify_signature(&self.config.jwt_secret, token) {
            Ok(claims) => claims,
            Err(e) => return self.reject(conn, e.into()),
        };
        let Some(room) = self.rooms.get(&claims.room) else {
            return self.reject(conn, JoinError::UnknownRoom(claims.room));
        };
        // Checked before the resume token too: the tokens of an earlier room with this id must
        // not open the new one in any way.
        if claims.epoch != room.def.epoch {
            return self.reject(conn, JoinError::StaleRoom(claims.room));
        }
        let Some(idx) = room
            .index_of(&claims.sub)
            .filter(|&i| room.def.members[i].role == claims.role)
        else {
            return self.reject(conn, JoinError::NotAMember(claims.sub));
        };
        // Rights come from the room as it is defined now, never from the token.
        let caps = Capabilities::for_role(room.def.members[idx].role, room.def.permissions);
        // Held seats whose grace ran out were released by `expire` at the top of this input,
        // so a matching token here is always inside the grace period.
        let resumable = match (resume_token, room.seat(idx)) {
            (Some(presented), Some(seat)) => {
                constant_time_eq(presented.as_bytes(), seat.resume_token.as_bytes())
            }
            _ => false,
        };
        if resumable {
            // A resume skips the token's expiry (the seat was authorized when it was taken),
            // so the session itself must end somewhere: resume tokens are renewed on every
            // resume and would otherwise keep a seat forever.
            let lifetime_ms = self.config.session_lifetime_ms;
            if room
                .seat(idx)
                .is_some_and(|s| now.since(s.joined_at) >= lifetime_ms)
            {
                return self.reject(conn, JoinError::SessionOver { lifetime_ms });
            }
        } else if let Err(e) = jwt::check_expiry(&claims, now.0 / 1000) {
            return self.reject(conn, e.into());
        }
        let fresh_token = match self.new_resume_token() {
            Ok(t) => t,
            Err(e) => return self.reject(conn, e.into()),
        };
        if resumable {
            self.resume(conn, &claims.room, idx, fresh_token, now);
        } else {
            self.fresh_join(conn, &claims.room, idx, caps, fresh_token, now);
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
                self.unjoined -= 1;
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

    /// Takes the seat afresh: a new session, `welcome` to the member, `member_joined` to the
    /// others.
    fn fresh_join(
        &mut self,
        conn: ConnId,
        room_id: &RoomId,
        idx: usize,
        caps: Capabilities,
        resume_token: String,
        now: Millis,
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
            joined_at: now,
            caps,
            resume_token,
            presence: Presence::Live(conn),
            published: Vec::new(),
            consent: false,
            diagnostics: None,
        });
        tracing::info!(room = %room_id, member = %room.member_id(idx), conn = conn.0, "joined");
        let ice_servers = ice_servers_for(&self.config, room.member_id(idx), now);
        let welcome = welcome(room, idx, ice_servers, false);
        self.out.push_back(HubOutput::Send { conn, msg: welcome });
        let joined = ServerMessage::MemberJoined {
            member: room.info(idx),
        };
        room.broadcast(Some(idx), &joined, &mut self.out, max_buffered);
        if let Some(rec) = room.recording {
            // Whoever arrives during a recording is told at once; one who may not be recorded
            // without consent, and has not given it on this fresh seat, pauses it.
            let msg = ServerMessage::RecordingState {
                mode: RecordingMode::Local,
                state: rec.status(),
            };
            self.out.push_back(HubOutput::Send { conn, msg });
            if room.def.members[idx].role != Role::Observer {
                room.pause_recording(&mut self.out, max_buffered);
            }
        }
    }

    /// Gives the seat back to a new connection: `welcome {resumed: true}`, then what was
    /// buffered; the others see nothing.
    fn resume(
        &mut self,
        conn: ConnId,
        room_id: &RoomId,
        idx: usize,
        resume_token: String,
        now: Millis,
    ) {
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
        let ice_servers = ice_servers_for(&self.config, room.member_id(idx), now);
        let welcome = welcome(room, idx, ice_servers, true);
        self.send(conn, welcome);
        for msg in buffered {
            self.send(conn, msg);
        }
    }
}

/// The ICE servers announced to `member` at `now`: the configured ones, then the TURN entry
/// with credentials issued for this member now (a fresh pair in every `welcome`).
fn ice_servers_for(config: &HubConfig, member: &MemberId, now: Millis) -> Vec<IceServer> {
    let mut servers = config.ice_servers.clone();
    if let Some(turn) = &config.turn {
        servers.push(turn.ice_server(member.as_str(), now));
    }
    servers
}

/// The `welcome` for the member at `idx`, listing the others present.
fn welcome(room: &Room, idx: usize, ice_servers: Vec<IceServer>, resumed: bool) -> ServerMessage {
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
        ice_servers,
        resume_token,
        resumed,
    }
}

/// Compares secrets without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
