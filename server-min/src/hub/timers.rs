//! The hub's timers: join deadlines, silence checks, held seats' grace periods and room
//! expiry, all in one ordered map so that [`Hub::poll_timeout`] is a single deadline.

use assistrtc_core::Millis;
use assistrtc_core::protocol::LeaveReason;

use super::{ConnId, Hub, HubOutput, JoinError, Timer, TimerKey};

impl Hub {
    /// Schedules `timer` at `at`; the key cancels it (`self.timers.remove`).
    pub(super) fn add_timer(&mut self, at: Millis, timer: Timer) -> TimerKey {
        let key = TimerKey {
            at,
            seq: self.next_timer,
        };
        self.next_timer += 1;
        self.timers.insert(key, timer);
        key
    }

    /// Fires every timer due at `now`, earliest first. Every input calls it before anything
    /// else, so a frame is never handled as if a due timer had not fired (a resume token
    /// presented after the grace period finds the seat released).
    pub(super) fn expire(&mut self, now: Millis) {
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
                    // A later expiry (a token issued since) leaves this timer stale.
                    let due = self
                        .rooms
                        .get(&room)
                        .is_some_and(|r| now.0 >= r.def.expires_at.saturating_mul(1000));
                    if !due {
                        continue;
                    }
                    if let Some(r) = self.rooms.get_mut(&room) {
                        r.expired = true;
                    }
                    self.remove_if_done(&room);
                }
            }
        }
    }

    pub(super) fn seen(&mut self, conn: ConnId, now: Millis) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.last_seen = now;
        }
    }

    /// Arms the silence check of a joined connection, `idle_timeout_ms` after its last frame.
    pub(super) fn arm_idle(&mut self, conn: ConnId) {
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
}
