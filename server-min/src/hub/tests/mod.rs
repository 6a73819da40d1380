//! Hub unit tests on a virtual clock: no sockets, no sleeps. The harness is here, the tests
//! are grouped by concern like the hub's own modules.

mod join;
mod relay;
mod seats;
mod session;
mod timers;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};

use assistrtc_core::Millis;
use assistrtc_core::permissions::Capabilities;
use assistrtc_core::protocol::{
    self, ClientMessage, ErrorCode, IceCandidate, IceServer, LeaveReason, MemberId, MemberInfo,
    MemberRef, Permissions, RecordingAction, RecordingMode, RecordingPolicy, RecordingStatus, Role,
    RoomId, ServerMessage, Source,
};

use super::*;
use crate::jwt::{self, Claims};
use crate::store::{MemberSpec, NEVER, RoomDefinition};

const SECRET: &[u8] = b"hub-test-secret";
const T0: Millis = Millis(1_700_000_000_000);
const GRACE: u64 = 5_000;

/// Deterministic "randomness": every token is a different constant byte pattern.
struct Counter(u8);

impl Entropy for Counter {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), EntropyError> {
        self.0 = self.0.wrapping_add(1);
        buf.fill(self.0);
        Ok(())
    }
}

/// A new epoch for every room any harness creates, as the REST API gives each creation.
fn next_epoch() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("epoch-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn id(s: &str) -> MemberId {
    MemberId::new(s).unwrap()
}

fn rid(s: &str) -> RoomId {
    RoomId::new(s).unwrap()
}

struct Harness {
    hub: Hub,
    now: Millis,
    next_conn: u64,
    inbox: BTreeMap<ConnId, Vec<ServerMessage>>,
    closed: BTreeSet<ConnId>,
    removed: Vec<RoomId>,
}

impl Harness {
    fn new() -> Self {
        Self::with_config(|_| {})
    }

    fn with_config(tweak: impl FnOnce(&mut HubConfig)) -> Self {
        let mut config = HubConfig::new(SECRET.to_vec());
        config.resume_grace_ms = GRACE;
        config.ice_servers = vec![IceServer {
            urls: vec!["stun:127.0.0.1:3478".into()],
            username: None,
            credential: None,
        }];
        tweak(&mut config);
        let mut h = Self {
            hub: Hub::with_entropy(config, Box::new(Counter(0))),
            now: T0,
            next_conn: 0,
            inbox: BTreeMap::new(),
            closed: BTreeSet::new(),
            removed: Vec::new(),
        };
        h.room(
            "rm_1",
            &[
                ("agent_1", Role::Host),
                ("user_9", Role::Guest),
                ("watcher", Role::Observer),
            ],
            Permissions {
                screen: true,
                recording: RecordingPolicy::Local,
            },
        );
        h
    }

    fn room(&mut self, room: &str, members: &[(&str, Role)], permissions: Permissions) {
        self.room_until(room, members, permissions, NEVER);
    }

    fn room_until(
        &mut self,
        room: &str,
        members: &[(&str, Role)],
        permissions: Permissions,
        expires_at: u64,
    ) {
        let def = RoomDefinition {
            id: rid(room),
            members: members
                .iter()
                .map(|(m, role)| MemberSpec {
                    id: id(m),
                    role: *role,
                })
                .collect(),
            permissions,
            epoch: next_epoch(),
            expires_at,
        };
        assert!(self.hub.add_room(def));
    }

    /// A token as the REST API would issue it (for the room's current epoch).
    fn token_with(&self, room: &str, member: &str, role: Role, exp: u64) -> String {
        let epoch = self
            .hub
            .rooms
            .get(&rid(room))
            .map(|r| r.def.epoch.clone())
            .unwrap_or_default();
        jwt::issue(
            SECRET,
            &Claims {
                room: rid(room),
                sub: id(member),
                role,
                epoch,
                iat: self.now.0 / 1000,
                exp,
                jti: None,
            },
        )
    }

    fn token(&self, room: &str, member: &str, role: Role) -> String {
        self.token_with(room, member, role, self.now.0 / 1000 + 600)
    }

    fn drain(&mut self) {
        while let Some(out) = self.hub.poll_output() {
            match out {
                HubOutput::Send { conn, msg } => {
                    assert!(!self.closed.contains(&conn), "send after close: {msg:?}");
                    self.inbox.entry(conn).or_default().push(msg);
                }
                HubOutput::Close { conn } => {
                    assert!(self.closed.insert(conn), "closed twice");
                }
                HubOutput::RoomRemoved { room } => self.removed.push(room),
            }
        }
    }

    fn open(&mut self) -> ConnId {
        self.next_conn += 1;
        let conn = ConnId(self.next_conn);
        self.hub.handle_open(conn, self.now);
        self.drain();
        conn
    }

    fn raw(&mut self, conn: ConnId, text: &str) {
        self.hub.handle_frame(conn, text, self.now);
        self.drain();
    }

    fn send(&mut self, conn: ConnId, msg: &ClientMessage) {
        self.raw(conn, &protocol::encode_client(msg));
    }

    fn close(&mut self, conn: ConnId) {
        self.hub.handle_close(conn, self.now);
        self.drain();
    }

    /// Moves the clock forward, firing timers as the driver would. A hub that keeps asking for
    /// a timeout in the past fails the test instead of hanging it.
    fn advance(&mut self, ms: u64) {
        self.now = self.now.after(ms);
        let mut rounds = 0;
        while self.hub.poll_timeout().is_some_and(|t| t <= self.now) {
            rounds += 1;
            assert!(
                rounds < 1000,
                "livelock: a timer stays due at {:?}",
                self.now
            );
            self.hub.handle_timeout(self.now);
        }
        self.drain();
    }

    fn take(&mut self, conn: ConnId) -> Vec<ServerMessage> {
        self.inbox.remove(&conn).unwrap_or_default()
    }

    fn join_with(&mut self, token: String, resume_token: Option<String>) -> ConnId {
        let conn = self.open();
        self.send(
            conn,
            &ClientMessage::Join {
                token,
                resume_token,
            },
        );
        conn
    }

    /// Joins and returns the connection and the resume token from `welcome`.
    fn join(&mut self, room: &str, member: &str, role: Role) -> (ConnId, String) {
        let conn = self.join_with(self.token(room, member, role), None);
        let msgs = self.take(conn);
        match msgs.first() {
            Some(ServerMessage::Welcome { resume_token, .. }) => (conn, resume_token.clone()),
            other => panic!("expected welcome, got {other:?}"),
        }
    }
}

fn offer(to: Option<&str>) -> ClientMessage {
    ClientMessage::Offer {
        to: to.map(id),
        sdp: "v=0\r\n".into(),
    }
}

fn error_code(msgs: &[ServerMessage]) -> Option<(ErrorCode, Option<String>)> {
    msgs.iter().find_map(|m| match m {
        ServerMessage::Error {
            code, reference, ..
        } => Some((*code, reference.clone())),
        _ => None,
    })
}
