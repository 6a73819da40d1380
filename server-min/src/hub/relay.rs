//! Frames from joined members: relayed negotiation, publish, consent, local recording.

use std::collections::VecDeque;

use assistrtc_core::permissions::authorize;
use assistrtc_core::protocol::{
    self, ClientMessage, ErrorCode, LeaveReason, MemberId, RecordingAction, RecordingMode, Role,
    RoomId, ServerMessage,
};

use super::room::{LocalRecording, Room};
use super::{ConnId, Hub, HubOutput};

impl Hub {
    /// A frame from a joined member, checked against its role and capabilities first.
    pub(super) fn on_joined_message(
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
                let before = seat.published.len();
                seat.published.retain(|p| p.source != source);
                if seat.published.len() == before {
                    // Nothing to withdraw: relaying it would let a member make the others
                    // tear down what they never set up, as often as it likes.
                    return;
                }
                let msg = ServerMessage::Unpublished { member: me, source };
                room.broadcast(Some(idx), &msg, &mut self.out, max_buffered);
            }
            ClientMessage::Consent { recording } => {
                if seat.consent == recording {
                    return;
                }
                seat.consent = recording;
                let msg = ServerMessage::MemberConsent {
                    member: me.clone(),
                    recording,
                };
                room.broadcast(Some(idx), &msg, &mut self.out, max_buffered);
                if !recording && role != Role::Observer && room.recording.is_some() {
                    tracing::info!(room = %room_id, member = %me, "consent withdrawn; recording pauses");
                    room.pause_recording(&mut self.out, max_buffered);
                }
            }
            ClientMessage::Diagnostics { report } => {
                seat.diagnostics = Some(report.clone());
                let msg = ServerMessage::MemberDiagnostics { member: me, report };
                room.broadcast(Some(idx), &msg, &mut self.out, max_buffered);
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

    /// Forwards a negotiation frame to `to`, or to everyone else in the room without it.
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

    /// Local recording starts only with the consent of every non-observer present; cloud
    /// recording is not available yet.
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
        let running = room.recording.filter(|r| r.seat == idx);
        match (action, running) {
            (RecordingAction::Start, _) | (RecordingAction::Resume, Some(_)) => {
                let missing: Vec<String> = room
                    .without_consent(Some(idx))
                    .into_iter()
                    .map(|i| room.member_id(i).to_string())
                    .collect();
                if !missing.is_empty() {
                    let reason = format!("recording needs consent from {}", missing.join(", "));
                    return self.send_error(conn, ErrorCode::Forbidden, reason, Some("recording"));
                }
                room.recording = Some(LocalRecording {
                    seat: idx,
                    paused: false,
                });
                tracing::info!(room = %room_id, seat = idx, ?action, "local recording runs");
                room.broadcast_recording(&mut self.out, max_buffered);
            }
            (RecordingAction::Pause, Some(_)) => {
                tracing::info!(room = %room_id, seat = idx, "local recording paused");
                room.pause_recording(&mut self.out, max_buffered);
            }
            (RecordingAction::Stop, Some(_)) => {
                tracing::info!(room = %room_id, seat = idx, "local recording stopped");
                stop_recording(room, &mut self.out, max_buffered);
            }
            (_, None) => self.send_error(
                conn,
                ErrorCode::Conflict,
                "this member is not recording",
                Some("recording"),
            ),
        }
    }
}

/// Ends the room's local recording and tells everyone present (including the recorder).
pub(super) fn stop_recording(room: &mut Room, out: &mut VecDeque<HubOutput>, max_buffered: usize) {
    room.recording = None;
    room.broadcast_recording(out, max_buffered);
}
