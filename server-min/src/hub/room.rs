//! One room inside the hub: its definition, its seats, and delivery to them.

use std::collections::VecDeque;

use assistrtc_core::Millis;
use assistrtc_core::permissions::Capabilities;
use assistrtc_core::protocol::{
    MemberId, MemberInfo, Published, RecordingMode, RecordingStatus, Role, ServerMessage,
};

use super::{ConnId, HubOutput, TimerKey};
use crate::store::RoomDefinition;

/// A room the hub knows: the definition plus who currently holds a seat.
pub(super) struct Room {
    pub(super) def: RoomDefinition,
    /// Parallel to `def.members`: `Some` while that member is present (live or held).
    pub(super) seats: Vec<Option<Seat>>,
    /// The running local recording, if any.
    pub(super) recording: Option<LocalRecording>,
    /// Its tokens expired: it goes as soon as it is empty.
    pub(super) expired: bool,
}

/// A local recording in progress: who records it and whether it is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct LocalRecording {
    /// The seat that started it; only it may pause, resume or stop it.
    pub(super) seat: usize,
    /// Paused by its recorder, or because someone present withdrew consent or arrived
    /// without it. It goes on only by an explicit resume with everyone's consent.
    pub(super) paused: bool,
}

impl LocalRecording {
    pub(super) fn status(self) -> RecordingStatus {
        if self.paused {
            RecordingStatus::Paused
        } else {
            RecordingStatus::Recording
        }
    }
}

/// A member's place in a room; it outlives a dropped connection for the grace period.
pub(super) struct Seat {
    pub(super) session_id: String,
    /// When the session began (its fresh join); resumes keep it, so the session lifetime
    /// counts from here.
    pub(super) joined_at: Millis,
    pub(super) caps: Capabilities,
    pub(super) resume_token: String,
    pub(super) presence: Presence,
    pub(super) published: Vec<Published>,
    /// Whether the member consents to being recorded.
    pub(super) consent: bool,
    /// The pre-call report the member shared (JSON text, validated by the codec); it lives as
    /// long as the seat.
    pub(super) diagnostics: Option<String>,
}

/// Whether a seat's member is connected now or away inside the resume grace period (not to
/// be confused with the client core's peer links).
pub(super) enum Presence {
    /// Frames go straight to this connection.
    Live(ConnId),
    /// The connection dropped; frames wait here until a resume or the timer fires.
    Held {
        timer: TimerKey,
        buffer: VecDeque<ServerMessage>,
        /// Approximate wire size of `buffer` (see [`frame_size`]).
        bytes: usize,
        dropped: u64,
    },
}

impl Room {
    pub(super) fn new(def: RoomDefinition) -> Self {
        let seats = def.members.iter().map(|_| None).collect();
        Self {
            def,
            seats,
            recording: None,
            expired: false,
        }
    }

    /// The non-observers present, other than `except`, who have not consented to recording.
    pub(super) fn without_consent(&self, except: Option<usize>) -> Vec<usize> {
        self.present_except(except)
            .into_iter()
            .filter(|&i| self.def.members[i].role != Role::Observer)
            .filter(|&i| self.seat(i).is_some_and(|s| !s.consent))
            .collect()
    }

    /// Pauses the running local recording, if it runs, and tells everyone present.
    pub(super) fn pause_recording(&mut self, out: &mut VecDeque<HubOutput>, max_buffered: usize) {
        let Some(rec) = &mut self.recording else {
            return;
        };
        if rec.paused {
            return;
        }
        rec.paused = true;
        self.broadcast_recording(out, max_buffered);
    }

    /// Tells everyone present the local recording's state.
    pub(super) fn broadcast_recording(
        &mut self,
        out: &mut VecDeque<HubOutput>,
        max_buffered: usize,
    ) {
        let state = self
            .recording
            .map_or(RecordingStatus::Stopped, LocalRecording::status);
        let msg = ServerMessage::RecordingState {
            mode: RecordingMode::Local,
            state,
        };
        self.broadcast(None, &msg, out, max_buffered);
    }

    pub(super) fn index_of(&self, member: &MemberId) -> Option<usize> {
        self.def.members.iter().position(|m| &m.id == member)
    }

    pub(super) fn member_id(&self, idx: usize) -> &MemberId {
        &self.def.members[idx].id
    }

    pub(super) fn seat(&self, idx: usize) -> Option<&Seat> {
        self.seats.get(idx).and_then(Option::as_ref)
    }

    pub(super) fn seat_mut(&mut self, idx: usize) -> Option<&mut Seat> {
        self.seats.get_mut(idx).and_then(Option::as_mut)
    }

    /// Indices of present seats other than `except`, in definition order.
    pub(super) fn present_except(&self, except: Option<usize>) -> Vec<usize> {
        self.seats
            .iter()
            .enumerate()
            .filter(|(i, s)| s.is_some() && Some(*i) != except)
            .map(|(i, _)| i)
            .collect()
    }

    pub(super) fn info(&self, idx: usize) -> MemberInfo {
        let spec = &self.def.members[idx];
        MemberInfo {
            id: spec.id.clone(),
            role: spec.role,
            published: self
                .seat(idx)
                .map(|s| s.published.clone())
                .unwrap_or_default(),
            diagnostics: self.seat(idx).and_then(|s| s.diagnostics.clone()),
            recording_consent: self.seat(idx).is_some_and(|s| s.consent),
        }
    }

    /// Sends `msg` to the member at `idx`: now if live, into the buffer if held.
    pub(super) fn deliver(
        &mut self,
        idx: usize,
        msg: ServerMessage,
        out: &mut VecDeque<HubOutput>,
        max_buffered: usize,
    ) {
        let room = &self.def.id;
        let member = &self.def.members[idx].id;
        let Some(seat) = self.seats.get_mut(idx).and_then(Option::as_mut) else {
            return;
        };
        match &mut seat.presence {
            Presence::Live(conn) => out.push_back(HubOutput::Send { conn: *conn, msg }),
            Presence::Held {
                buffer,
                bytes,
                dropped,
                ..
            } => {
                *bytes += frame_size(&msg);
                buffer.push_back(msg);
                // Both a frame and a byte cap: a few dozen full-size SDPs must not pin many MB
                // per held seat.
                while buffer.len() > max_buffered
                    || (*bytes > MAX_BUFFERED_BYTES && buffer.len() > 1)
                {
                    let Some(old) = buffer.pop_front() else { break };
                    *bytes -= frame_size(&old);
                    *dropped += 1;
                    if *dropped == 1 {
                        tracing::warn!(
                            %room, %member, max_buffered, max_bytes = MAX_BUFFERED_BYTES,
                            "buffer for held seat is full; dropping the oldest frames"
                        );
                    }
                }
            }
        }
    }

    /// Sends `msg` to every present member except `except`.
    pub(super) fn broadcast(
        &mut self,
        except: Option<usize>,
        msg: &ServerMessage,
        out: &mut VecDeque<HubOutput>,
        max_buffered: usize,
    ) {
        for idx in self.present_except(except) {
            self.deliver(idx, msg.clone(), out, max_buffered);
        }
    }

    /// Members whose seat has a live connection, in definition order.
    pub(super) fn online(&self) -> Vec<MemberId> {
        self.seats
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                matches!(
                    s,
                    Some(Seat {
                        presence: Presence::Live(_),
                        ..
                    })
                )
            })
            .map(|(i, _)| self.def.members[i].id.clone())
            .collect()
    }
}

/// Bytes a held seat may buffer (on top of the frame cap); the oldest frames go first.
pub(super) const MAX_BUFFERED_BYTES: usize = 1 << 20;

/// The approximate wire size of a frame: its large strings plus a fixed envelope allowance.
/// Deterministic, so the same frame counts the same when it leaves the buffer.
pub(super) fn frame_size(msg: &ServerMessage) -> usize {
    const ENVELOPE: usize = 96;
    ENVELOPE
        + match msg {
            ServerMessage::Offer { sdp, .. } | ServerMessage::Answer { sdp, .. } => sdp.len(),
            ServerMessage::Candidate { candidate, .. } => candidate.candidate.len(),
            ServerMessage::Error { message, .. } => message.len(),
            ServerMessage::Welcome { members, .. } => members.len() * ENVELOPE,
            _ => 0,
        }
}
