//! A seat's life after join: held for the grace period when its connection drops, released
//! on leave, replacement or timeout, and the room removed once expired and empty.

use std::collections::VecDeque;

use assistrtc_core::Millis;
use assistrtc_core::protocol::{LeaveReason, MemberRef, RoomId, ServerMessage};

use super::relay::stop_recording;
use super::room::Presence;
use super::{ConnId, ConnState, Hub, HubOutput, Timer};

impl Hub {
    /// The connection of a live seat dropped: hold the seat for the grace period.
    pub(super) fn hold(&mut self, conn: ConnId, room_id: RoomId, idx: usize, now: Millis) {
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
    pub(super) fn release(&mut self, room_id: &RoomId, idx: usize, reason: LeaveReason) {
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
        if room.recording.is_some_and(|r| r.seat == idx) {
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
    pub(super) fn remove_if_done(&mut self, room_id: &RoomId) {
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

    /// Forgets `conn` and tells the driver to close it (after what is queued for it).
    pub(super) fn drop_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            if let ConnState::AwaitingJoin { timer } = c.state {
                self.timers.remove(&timer);
                self.unjoined -= 1;
            }
            if let Some(timer) = c.idle_timer {
                self.timers.remove(&timer);
            }
            self.out.push_back(HubOutput::Close { conn });
        }
    }
}
