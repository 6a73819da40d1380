//! Hub unit tests on a virtual clock: no sockets, no sleeps.

use std::collections::{BTreeMap, BTreeSet};

use assistrtc_core::protocol::{IceCandidate, MemberInfo, Permissions, RecordingPolicy, Source};

use super::*;
use crate::jwt::Claims;
use crate::store::MemberSpec;

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
            expires_at,
        };
        assert!(self.hub.add_room(def));
    }

    /// A token as the REST API would issue it (capabilities from the role and the room).
    fn token_with(&self, room: &str, member: &str, role: Role, exp: u64) -> String {
        let permissions = self
            .hub
            .rooms
            .get(&rid(room))
            .map(|r| r.def.permissions)
            .unwrap_or_default();
        jwt::issue(
            SECRET,
            &Claims {
                room: rid(room),
                sub: id(member),
                role,
                caps: Capabilities::for_role(role, permissions),
                iat: self.now.0 / 1000,
                exp,
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

    /// Moves the clock forward, firing timers as the driver would.
    fn advance(&mut self, ms: u64) {
        self.now = self.now.after(ms);
        while self.hub.poll_timeout().is_some_and(|t| t <= self.now) {
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

#[test]
fn join_welcomes_and_announces() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let guest = h.join_with(h.token("rm_1", "user_9", Role::Guest), None);
    let msgs = h.take(guest);
    let [
        ServerMessage::Welcome {
            session_id,
            member,
            room,
            members,
            capabilities,
            ice_servers,
            resume_token,
            resumed,
            permissions,
        },
    ] = msgs.as_slice()
    else {
        panic!("expected one welcome, got {msgs:?}");
    };
    assert!(session_id.starts_with("s_"));
    assert_eq!(member.id, id("user_9"));
    assert_eq!(room, &rid("rm_1"));
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].id, id("agent_1"));
    assert_eq!(members[0].role, Role::Host);
    assert!(permissions.screen);
    assert!(capabilities.contains(assistrtc_core::permissions::Capability::ShareScreen));
    assert_eq!(ice_servers.len(), 1);
    assert_eq!(
        resume_token.len(),
        43,
        "32 bytes, base64url without padding"
    );
    assert!(!resumed);
    assert_eq!(
        h.take(agent),
        vec![ServerMessage::MemberJoined {
            member: MemberInfo {
                id: id("user_9"),
                role: Role::Guest,
                published: vec![],
            }
        }]
    );
    assert_eq!(
        h.hub.online_members(&rid("rm_1")),
        Some(vec![id("agent_1"), id("user_9")])
    );
}

#[test]
fn relays_stamp_from_and_respect_to() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, _) = h.join("rm_1", "user_9", Role::Guest);
    let (watcher, _) = h.join("rm_1", "watcher", Role::Observer);
    h.take(agent);
    h.take(guest);

    h.send(agent, &offer(Some("user_9")));
    assert_eq!(
        h.take(guest),
        vec![ServerMessage::Offer {
            from: id("agent_1"),
            sdp: "v=0\r\n".into()
        }]
    );
    assert!(h.take(watcher).is_empty());
    assert!(h.take(agent).is_empty());

    // Without `to`: everyone else.
    h.send(
        guest,
        &ClientMessage::Candidate {
            to: None,
            candidate: IceCandidate {
                candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host".into(),
                sdp_mid: Some("0".into()),
                sdp_m_line_index: Some(0),
            },
        },
    );
    for conn in [agent, watcher] {
        let msgs = h.take(conn);
        assert!(
            matches!(msgs.as_slice(), [ServerMessage::Candidate { from, .. }] if *from == id("user_9")),
            "{msgs:?}"
        );
    }
    assert!(h.take(guest).is_empty());

    // To someone absent, to oneself, or to a stranger: not_found with ref.
    for to in ["agent_2", "agent_1"] {
        h.send(agent, &offer(Some(to)));
        assert_eq!(
            error_code(&h.take(agent)),
            Some((ErrorCode::NotFound, Some("offer".into())))
        );
    }
}

#[test]
fn rooms_are_isolated() {
    let mut h = Harness::new();
    h.room(
        "rm_2",
        &[("agent_1", Role::Host), ("user_9", Role::Guest)],
        Permissions::default(),
    );
    let (a1, _) = h.join("rm_1", "agent_1", Role::Host);
    let (g1, _) = h.join("rm_1", "user_9", Role::Guest);
    let (a2, _) = h.join("rm_2", "agent_1", Role::Host);
    let (g2, _) = h.join("rm_2", "user_9", Role::Guest);
    // Same member ids in another room: neither join nor relay crosses over.
    assert!(h.take(a1).iter().all(|m| matches!(
        m,
        ServerMessage::MemberJoined { member } if member.id == id("user_9")
    )));
    h.take(a2);
    h.send(a1, &offer(None));
    h.send(a1, &offer(Some("user_9")));
    assert_eq!(h.take(g1).len(), 2);
    assert!(h.take(g2).is_empty());
    assert!(h.take(a2).is_empty());
    h.send(g2, &ClientMessage::Leave);
    assert!(h.take(a1).is_empty());
    assert_eq!(h.take(a2).len(), 1);
}

#[test]
fn first_frame_must_be_a_valid_join() {
    let mut h = Harness::new();
    let expired = h.token_with("rm_1", "user_9", Role::Guest, h.now.0 / 1000);
    let forged = {
        let mut t = h.token("rm_1", "user_9", Role::Guest);
        t.push('x');
        t
    };
    let cases: Vec<(String, ErrorCode)> = vec![
        (r#"{"v":1,"type":"ping"}"#.into(), ErrorCode::Unauthorized),
        ("garbage".into(), ErrorCode::Unauthorized),
        (join_text(&forged), ErrorCode::Unauthorized),
        (join_text(&expired), ErrorCode::TokenExpired),
        // Validly signed but for a room the hub does not know.
        (
            join_text(&h.token("rm_404", "user_9", Role::Guest)),
            ErrorCode::Unauthorized,
        ),
        // Member not in the room, and a role that does not match the definition.
        (
            join_text(&h.token("rm_1", "stranger", Role::Guest)),
            ErrorCode::Unauthorized,
        ),
        (
            join_text(&h.token("rm_1", "user_9", Role::Host)),
            ErrorCode::Unauthorized,
        ),
    ];
    for (text, code) in cases {
        let conn = h.open();
        h.raw(conn, &text);
        assert_eq!(
            error_code(&h.take(conn)),
            Some((code, Some("join".into()))),
            "{text}"
        );
        assert!(h.closed.contains(&conn), "{text}");
    }
    assert_eq!(h.hub.connection_count(), 0);
}

fn join_text(token: &str) -> String {
    protocol::encode_client(&ClientMessage::Join {
        token: token.into(),
        resume_token: None,
    })
}

#[test]
fn connections_that_never_join_are_closed() {
    let mut h = Harness::new();
    let conn = h.open();
    assert_eq!(
        h.hub.poll_timeout(),
        Some(T0.after(DEFAULT_JOIN_TIMEOUT_MS))
    );
    h.advance(DEFAULT_JOIN_TIMEOUT_MS - 1);
    assert!(!h.closed.contains(&conn));
    h.advance(1);
    assert_eq!(
        error_code(&h.take(conn)),
        Some((ErrorCode::Unauthorized, Some("join".into())))
    );
    assert!(h.closed.contains(&conn));
    assert_eq!(h.hub.poll_timeout(), None);
}

#[test]
fn dropped_seat_times_out_after_grace() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, _) = h.join("rm_1", "user_9", Role::Guest);
    h.take(agent);
    h.close(guest);
    assert_eq!(h.hub.poll_timeout(), Some(h.now.after(GRACE)));
    assert_eq!(
        h.hub.online_members(&rid("rm_1")),
        Some(vec![id("agent_1")])
    );

    h.advance(GRACE - 1);
    assert!(h.take(agent).is_empty(), "others see nothing inside grace");
    h.advance(1);
    assert_eq!(
        h.take(agent),
        vec![ServerMessage::MemberLeft {
            member: MemberRef { id: id("user_9") },
            reason: LeaveReason::Timeout
        }]
    );
    // Only the agent's silence check is left.
    assert_eq!(
        h.hub.poll_timeout(),
        Some(T0.after(DEFAULT_IDLE_TIMEOUT_MS))
    );

    // The seat is free: a later join is fresh and announced.
    let (_, _) = h.join("rm_1", "user_9", Role::Guest);
    assert!(matches!(
        h.take(agent).as_slice(),
        [ServerMessage::MemberJoined { .. }]
    ));
}

#[test]
fn resume_inside_grace_keeps_seat_and_flushes_in_order() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let guest = h.join_with(h.token("rm_1", "user_9", Role::Guest), None);
    let (session, token) = match h.take(guest).remove(0) {
        ServerMessage::Welcome {
            session_id,
            resume_token,
            ..
        } => (session_id, resume_token),
        other => panic!("{other:?}"),
    };
    h.take(agent);
    h.send(
        guest,
        &ClientMessage::Publish {
            source: Source::Camera,
            stream: Some("cam".into()),
        },
    );
    h.take(agent);
    h.close(guest);

    h.advance(1_000);
    h.send(agent, &offer(Some("user_9")));
    h.send(
        agent,
        &ClientMessage::Answer {
            to: None,
            sdp: "v=0\r\nanswer".into(),
        },
    );
    assert!(h.take(agent).is_empty(), "buffered, not refused");

    h.advance(GRACE - 1_001);
    let resumed = h.join_with(h.token("rm_1", "user_9", Role::Guest), Some(token.clone()));
    let msgs = h.take(resumed);
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    match &msgs[0] {
        ServerMessage::Welcome {
            session_id,
            resumed,
            resume_token,
            member,
            members,
            ..
        } => {
            assert!(resumed);
            assert_eq!(session_id, &session);
            assert_ne!(resume_token, &token, "a fresh resume token");
            assert_eq!(member.published.len(), 1, "the seat kept its state");
            assert_eq!(members.len(), 1);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(&msgs[1], ServerMessage::Offer { from, .. } if *from == id("agent_1")));
    assert!(matches!(&msgs[2], ServerMessage::Answer { sdp, .. } if sdp.ends_with("answer")));
    assert!(h.take(agent).is_empty(), "no member_left, no member_joined");

    // The hold timer is gone; the old resume token is spent.
    h.advance(GRACE * 2);
    assert!(h.take(agent).is_empty());
    h.send(resumed, &offer(None));
    assert_eq!(h.take(agent).len(), 1);
}

#[test]
fn resume_ignores_expiry_but_fresh_join_does_not() {
    let mut h = Harness::new();
    let exp = h.now.0 / 1000 + 2;
    let guest = h.join_with(h.token_with("rm_1", "user_9", Role::Guest, exp), None);
    let token = match h.take(guest).remove(0) {
        ServerMessage::Welcome { resume_token, .. } => resume_token,
        other => panic!("{other:?}"),
    };
    h.close(guest);
    h.advance(3_000);
    let jwt = h.token_with("rm_1", "user_9", Role::Guest, exp);
    // Expired token, matching resume token: the seat is taken back.
    let again = h.join_with(jwt.clone(), Some(token));
    assert!(matches!(
        h.take(again).first(),
        Some(ServerMessage::Welcome { resumed: true, .. })
    ));
    // Expired token, no resume token: refused.
    let fresh = h.join_with(jwt, None);
    assert_eq!(
        error_code(&h.take(fresh)),
        Some((ErrorCode::TokenExpired, Some("join".into())))
    );
}

#[test]
fn wrong_resume_token_is_a_fresh_join_that_replaces_the_seat() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, _) = h.join("rm_1", "user_9", Role::Guest);
    h.take(agent);
    h.close(guest);
    let again = h.join_with(
        h.token("rm_1", "user_9", Role::Guest),
        Some("not-the-token".into()),
    );
    assert!(matches!(
        h.take(again).first(),
        Some(ServerMessage::Welcome { resumed: false, .. })
    ));
    let msgs = h.take(agent);
    assert!(
        matches!(
            msgs.as_slice(),
            [
                ServerMessage::MemberLeft {
                    reason: LeaveReason::Removed,
                    ..
                },
                ServerMessage::MemberJoined { .. }
            ]
        ),
        "{msgs:?}"
    );
    // The old hold timer went with the old seat.
    h.advance(GRACE);
    assert!(h.take(agent).is_empty());
}

#[test]
fn fresh_join_replaces_a_live_connection() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, _) = h.join("rm_1", "user_9", Role::Guest);
    h.take(agent);
    let (second, _) = h.join("rm_1", "user_9", Role::Guest);
    let old = h.take(guest);
    assert!(
        matches!(
            old.as_slice(),
            [ServerMessage::Error {
                code: ErrorCode::Conflict,
                reference: None,
                ..
            }]
        ),
        "{old:?}"
    );
    assert!(h.closed.contains(&guest));
    assert!(!h.closed.contains(&second));
    let msgs = h.take(agent);
    assert!(matches!(
        msgs.as_slice(),
        [
            ServerMessage::MemberLeft {
                reason: LeaveReason::Removed,
                ..
            },
            ServerMessage::MemberJoined { .. }
        ]
    ));
    // The old connection's close is not a drop of the new seat.
    h.close(guest);
    h.advance(GRACE * 2);
    assert!(h.take(agent).is_empty());
    h.send(second, &ClientMessage::Ping);
    assert_eq!(h.take(second), vec![ServerMessage::Pong]);
}

#[test]
fn resume_while_old_connection_still_open_takes_over_silently() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, token) = h.join("rm_1", "user_9", Role::Guest);
    h.take(agent);
    let again = h.join_with(h.token("rm_1", "user_9", Role::Guest), Some(token));
    assert!(matches!(
        h.take(again).first(),
        Some(ServerMessage::Welcome { resumed: true, .. })
    ));
    assert!(h.closed.contains(&guest));
    assert!(h.take(agent).is_empty());
}

#[test]
fn held_buffer_is_capped_dropping_the_oldest() {
    let mut h = Harness::with_config(|c| c.max_buffered_frames = 3);
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, token) = h.join("rm_1", "user_9", Role::Guest);
    h.close(guest);
    for i in 0..5 {
        h.send(
            agent,
            &ClientMessage::Offer {
                to: Some(id("user_9")),
                sdp: format!("v=0\r\n{i}"),
            },
        );
    }
    let again = h.join_with(h.token("rm_1", "user_9", Role::Guest), Some(token));
    let sdps: Vec<String> = h
        .take(again)
        .into_iter()
        .filter_map(|m| match m {
            ServerMessage::Offer { sdp, .. } => Some(sdp),
            _ => None,
        })
        .collect();
    assert_eq!(sdps, ["v=0\r\n2", "v=0\r\n3", "v=0\r\n4"]);
}

#[test]
fn leave_releases_at_once() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, _) = h.join("rm_1", "user_9", Role::Guest);
    h.take(agent);
    h.send(guest, &ClientMessage::Leave);
    assert!(h.closed.contains(&guest));
    assert_eq!(
        h.take(agent),
        vec![ServerMessage::MemberLeft {
            member: MemberRef { id: id("user_9") },
            reason: LeaveReason::Left
        }]
    );
    h.close(guest);
    assert_eq!(
        h.hub.poll_timeout(),
        Some(T0.after(DEFAULT_IDLE_TIMEOUT_MS)),
        "no hold after leave: only the agent's silence check is pending"
    );
}

#[test]
fn rate_limit_drops_excess_and_reports_once_per_second() {
    let mut h = Harness::with_config(|c| {
        c.rate_limit = RateLimit {
            burst: 5,
            refill_per_sec: 10,
        }
    });
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host); // the join took one token
    for _ in 0..10 {
        h.send(agent, &ClientMessage::Ping);
    }
    let msgs = h.take(agent);
    assert_eq!(
        msgs.iter()
            .filter(|m| matches!(m, ServerMessage::Pong))
            .count(),
        4
    );
    assert_eq!(
        msgs.iter()
            .filter(|m| matches!(
                m,
                ServerMessage::Error {
                    code: ErrorCode::RateLimited,
                    ..
                }
            ))
            .count(),
        1
    );
    assert!(!h.closed.contains(&agent));
    // 500 ms refill five tokens, but the next error waits for the full second.
    h.advance(500);
    for _ in 0..7 {
        h.send(agent, &ClientMessage::Ping);
    }
    let msgs = h.take(agent);
    assert_eq!(msgs, vec![ServerMessage::Pong; 5]);
    h.advance(500);
    for _ in 0..7 {
        h.send(agent, &ClientMessage::Ping);
    }
    let msgs = h.take(agent);
    assert_eq!(msgs.len(), 6, "{msgs:?}");
    assert!(matches!(
        msgs.last(),
        Some(ServerMessage::Error {
            code: ErrorCode::RateLimited,
            ..
        })
    ));
}

#[test]
fn publish_is_authorized_with_the_core_rules() {
    let mut h = Harness::new();
    h.room(
        "rm_noscreen",
        &[("agent_1", Role::Host), ("user_9", Role::Guest)],
        Permissions::default(),
    );
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (watcher, _) = h.join("rm_1", "watcher", Role::Observer);
    h.take(agent);
    for source in Source::ALL {
        h.send(
            watcher,
            &ClientMessage::Publish {
                source,
                stream: None,
            },
        );
        assert_eq!(
            error_code(&h.take(watcher)),
            Some((ErrorCode::Forbidden, Some("publish".into())))
        );
    }
    assert!(h.take(agent).is_empty());

    let (guest, _) = h.join("rm_noscreen", "user_9", Role::Guest);
    h.send(
        guest,
        &ClientMessage::Publish {
            source: Source::Screen,
            stream: None,
        },
    );
    let msgs = h.take(guest);
    assert!(
        matches!(msgs.as_slice(), [ServerMessage::Error { code: ErrorCode::Forbidden, message, .. }]
            if message == "screen sharing is not allowed for this member"),
        "{msgs:?}"
    );

    // Allowed: recorded on the seat, announced, and listed in a later welcome.
    h.send(
        agent,
        &ClientMessage::Publish {
            source: Source::Screen,
            stream: Some("s1".into()),
        },
    );
    assert!(matches!(
        h.take(watcher).as_slice(),
        [ServerMessage::Published {
            source: Source::Screen,
            ..
        }]
    ));
    let late = h.join_with(h.token("rm_1", "user_9", Role::Guest), None);
    match h.take(late).remove(0) {
        ServerMessage::Welcome { members, .. } => {
            let agent = members.iter().find(|m| m.id == id("agent_1")).unwrap();
            assert_eq!(agent.published[0].stream.as_deref(), Some("s1"));
        }
        other => panic!("{other:?}"),
    }
    h.send(
        agent,
        &ClientMessage::Unpublish {
            source: Source::Screen,
        },
    );
    assert!(matches!(
        h.take(late).as_slice(),
        [ServerMessage::Unpublished {
            source: Source::Screen,
            ..
        }]
    ));
}

#[test]
fn local_recording_needs_everyones_consent() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, _) = h.join("rm_1", "user_9", Role::Guest);
    let (watcher, _) = h.join("rm_1", "watcher", Role::Observer);
    let start = ClientMessage::Recording {
        action: RecordingAction::Start,
        mode: RecordingMode::Local,
    };
    h.take(agent);
    h.take(guest);

    h.send(agent, &start);
    let msgs = h.take(agent);
    assert!(
        matches!(msgs.as_slice(), [ServerMessage::Error { code: ErrorCode::Forbidden, message, .. }]
            if message.contains("user_9") && !message.contains("watcher")),
        "{msgs:?}"
    );

    // Guests cannot record at all.
    h.send(guest, &start);
    assert_eq!(
        error_code(&h.take(guest)),
        Some((ErrorCode::Forbidden, Some("recording".into())))
    );

    h.send(guest, &ClientMessage::Consent { recording: true });
    h.send(agent, &start);
    let recording = ServerMessage::RecordingState {
        mode: RecordingMode::Local,
        state: RecordingStatus::Recording,
    };
    for conn in [agent, guest, watcher] {
        assert_eq!(h.take(conn), vec![recording.clone()]);
    }

    h.send(guest, &ClientMessage::Consent { recording: false });
    let stopped = ServerMessage::RecordingState {
        mode: RecordingMode::Local,
        state: RecordingStatus::Stopped,
    };
    for conn in [agent, guest, watcher] {
        assert_eq!(h.take(conn), vec![stopped.clone()]);
    }

    // Cloud is not here yet (this room does not even allow it: forbidden first).
    let cloud = ClientMessage::Recording {
        action: RecordingAction::Start,
        mode: RecordingMode::Cloud,
    };
    h.send(agent, &cloud);
    assert_eq!(
        error_code(&h.take(agent)),
        Some((ErrorCode::Forbidden, Some("recording".into())))
    );
    h.room(
        "rm_cloud",
        &[("agent_1", Role::Host)],
        Permissions {
            screen: false,
            recording: RecordingPolicy::Cloud,
        },
    );
    let (cloud_agent, _) = h.join("rm_cloud", "agent_1", Role::Host);
    h.send(cloud_agent, &cloud);
    let msgs = h.take(cloud_agent);
    assert!(
        matches!(msgs.as_slice(), [ServerMessage::Error { code: ErrorCode::NotFound, message, .. }]
            if message.contains("cloud recording is not available")),
        "{msgs:?}"
    );
}

#[test]
fn queue_next_is_host_only_and_empty() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, _) = h.join("rm_1", "user_9", Role::Guest);
    h.send(guest, &ClientMessage::QueueNext);
    assert_eq!(
        error_code(&h.take(guest)),
        Some((ErrorCode::Forbidden, Some("queue_next".into())))
    );
    h.take(agent);
    h.send(agent, &ClientMessage::QueueNext);
    assert_eq!(
        error_code(&h.take(agent)),
        Some((ErrorCode::NotFound, Some("queue_next".into())))
    );
}

#[test]
fn bad_frames_after_join_keep_the_connection() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let oversize = format!(
        r#"{{"v":1,"type":"offer","sdp":"v=0{}"}}"#,
        "a".repeat(protocol::MAX_FRAME_BYTES)
    );
    let cases = [
        ("not json", ErrorCode::BadRequest, None),
        (
            r#"{"v":2,"type":"ping"}"#,
            ErrorCode::UnsupportedVersion,
            Some("ping"),
        ),
        (
            r#"{"v":1,"type":"fly"}"#,
            ErrorCode::BadRequest,
            Some("fly"),
        ),
        (
            r#"{"v":1,"type":"publish","source":"hologram"}"#,
            ErrorCode::BadRequest,
            Some("publish"),
        ),
        (oversize.as_str(), ErrorCode::BadRequest, None),
    ];
    for (text, code, reference) in cases {
        h.raw(agent, text);
        let msgs = h.take(agent);
        assert_eq!(
            error_code(&msgs),
            Some((code, reference.map(str::to_owned))),
            "{text:.80}"
        );
        for m in &msgs {
            m.validate()
                .expect("error frames stay within the protocol's caps");
        }
    }
    h.hub.handle_binary(agent, h.now);
    h.drain();
    assert_eq!(
        error_code(&h.take(agent)),
        Some((ErrorCode::BadRequest, None))
    );
    h.send(
        agent,
        &ClientMessage::Join {
            token: "x".into(),
            resume_token: None,
        },
    );
    assert_eq!(
        error_code(&h.take(agent)),
        Some((ErrorCode::Conflict, Some("join".into())))
    );
    assert!(!h.closed.contains(&agent));
    h.send(agent, &ClientMessage::Ping);
    assert_eq!(h.take(agent), vec![ServerMessage::Pong]);
}

#[test]
fn long_error_details_are_truncated_to_the_protocol_cap() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let text = format!(
        r#"{{"v":1,"type":"{}","x":1}}"#,
        "é".repeat(2 * MAX_TEXT_BYTES)
    );
    h.raw(agent, &text);
    let msgs = h.take(agent);
    let [msg @ ServerMessage::Error { reference, .. }] = msgs.as_slice() else {
        panic!("{msgs:?}");
    };
    msg.validate().unwrap();
    assert!(reference.as_ref().is_some_and(|r| r.len() <= MAX_ID_LEN));
}

#[test]
fn recorder_leaving_stops_the_recording() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, _) = h.join("rm_1", "user_9", Role::Guest);
    h.send(guest, &ClientMessage::Consent { recording: true });
    h.send(
        agent,
        &ClientMessage::Recording {
            action: RecordingAction::Start,
            mode: RecordingMode::Local,
        },
    );
    h.take(guest);
    // A late joiner learns that the room records.
    let watcher = h.join_with(h.token("rm_1", "watcher", Role::Observer), None);
    let msgs = h.take(watcher);
    assert!(
        matches!(
            msgs.as_slice(),
            [
                ServerMessage::Welcome { .. },
                ServerMessage::RecordingState {
                    state: RecordingStatus::Recording,
                    ..
                }
            ]
        ),
        "{msgs:?}"
    );
    h.send(agent, &ClientMessage::Leave);
    let msgs = h.take(guest);
    assert!(
        matches!(
            msgs.as_slice(),
            [
                ServerMessage::MemberJoined { .. },
                ServerMessage::MemberLeft { .. },
                ServerMessage::RecordingState {
                    state: RecordingStatus::Stopped,
                    ..
                }
            ]
        ),
        "{msgs:?}"
    );
}

#[test]
fn undelivered_frame_waits_in_the_held_seat() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, token) = h.join("rm_1", "user_9", Role::Guest);
    h.take(agent);
    h.send(agent, &offer(Some("user_9")));
    // The driver could not hand the offer to the guest's connection.
    let lost = h.take(guest).remove(0);
    h.hub.handle_undelivered(guest, lost.clone(), h.now);
    h.drain();
    assert_eq!(
        h.hub.online_members(&rid("rm_1")),
        Some(vec![id("agent_1")])
    );
    let again = h.join_with(h.token("rm_1", "user_9", Role::Guest), Some(token));
    let msgs = h.take(again);
    assert!(matches!(
        msgs.first(),
        Some(ServerMessage::Welcome { resumed: true, .. })
    ));
    assert_eq!(msgs.get(1), Some(&lost));
    assert!(h.take(agent).is_empty());
}

#[test]
fn silent_connections_are_dropped_and_their_seat_held() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, resume) = h.join("rm_1", "user_9", Role::Guest);
    h.take(agent);
    // The agent keeps pinging; the guest goes silent (no FIN: nothing tells the server).
    for _ in 0..2 {
        h.advance(10_000);
        h.send(agent, &ClientMessage::Ping);
    }
    assert!(
        !h.closed.contains(&guest),
        "20 s of silence is still inside the idle limit"
    );
    h.advance(10_000);
    h.send(agent, &ClientMessage::Ping);
    assert!(
        h.closed.contains(&guest),
        "dropped after {DEFAULT_IDLE_TIMEOUT_MS} ms of silence"
    );
    assert!(!h.closed.contains(&agent), "a pinging connection stays");
    assert_eq!(
        h.take(agent),
        vec![ServerMessage::Pong; 3],
        "nothing announced while the seat is held"
    );
    assert_eq!(
        h.hub.online_members(&rid("rm_1")),
        Some(vec![id("agent_1")])
    );

    // Inside the grace period the member resumes; after it, the others see it leave.
    let back = h.join_with(h.token("rm_1", "user_9", Role::Guest), Some(resume));
    assert!(matches!(
        h.take(back).as_slice(),
        [ServerMessage::Welcome { resumed: true, .. }]
    ));
    assert!(h.take(agent).is_empty());
    for _ in 0..3 {
        h.advance(10_000);
        h.send(agent, &ClientMessage::Ping);
    }
    assert!(h.closed.contains(&back), "silent again: dropped again");
    h.advance(GRACE);
    assert!(h.take(agent).contains(&ServerMessage::MemberLeft {
        member: MemberRef { id: id("user_9") },
        reason: LeaveReason::Timeout
    }));
}

#[test]
fn held_buffer_is_capped_by_bytes_too() {
    let mut h = Harness::with_config(|c| {
        c.rate_limit = RateLimit {
            burst: 1000,
            refill_per_sec: 1000,
        }
    });
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, token) = h.join("rm_1", "user_9", Role::Guest);
    h.take(agent);
    h.close(guest);
    // 40 offers of 50 KB each: 2 MB, well under the frame cap but over the byte cap.
    let big = "a".repeat(50_000);
    for i in 0..40 {
        h.send(
            agent,
            &ClientMessage::Offer {
                to: Some(id("user_9")),
                sdp: format!("v=0 {i} {big}"),
            },
        );
    }
    let to_agent = h.take(agent);
    assert!(
        to_agent.is_empty(),
        "no errors for the sender: {to_agent:?}"
    );
    let again = h.join_with(h.token("rm_1", "user_9", Role::Guest), Some(token));
    let kept: Vec<usize> = h
        .take(again)
        .into_iter()
        .filter_map(|m| match m {
            ServerMessage::Offer { sdp, .. } => sdp.split(' ').nth(1)?.parse().ok(),
            _ => None,
        })
        .collect();
    let max = room::MAX_BUFFERED_BYTES / 50_000;
    assert!(
        kept.len() <= max && kept.len() >= max - 1,
        "kept {} frames",
        kept.len()
    );
    assert_eq!(*kept.last().unwrap(), 39, "the newest are kept, in order");
    assert!(kept.windows(2).all(|w| w[1] == w[0] + 1));
}

#[test]
fn protocol_level_pongs_keep_a_silent_connection_online() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, _) = h.join("rm_1", "user_9", Role::Guest);
    h.take(agent);
    // The guest's page sends nothing (its timers are throttled), but its browser answers the
    // server's WebSocket pings.
    for _ in 0..6 {
        h.advance(10_000);
        h.hub.handle_alive(guest, h.now);
        h.send(agent, &ClientMessage::Ping);
    }
    assert!(!h.closed.contains(&guest), "60 s of answered pings");
    assert_eq!(
        h.hub.online_members(&rid("rm_1")),
        Some(vec![id("agent_1"), id("user_9")])
    );
}

#[test]
fn rooms_go_when_their_tokens_expired_and_nobody_is_left() {
    let mut h = Harness::new();
    let exp = T0.0 / 1000 + 60;
    let members = [("agent_1", Role::Host), ("user_9", Role::Guest)];
    h.room_until("rm_busy", &members, Permissions::default(), exp);
    h.room_until("rm_unused", &members, Permissions::default(), exp);
    let (agent, _) = h.join("rm_busy", "agent_1", Role::Host);
    let (guest, _) = h.join("rm_busy", "user_9", Role::Guest);

    h.advance(59_000);
    assert!(h.removed.is_empty(), "tokens still valid");
    h.advance(1_000);
    // Nobody ever joined this one.
    assert_eq!(h.removed, vec![rid("rm_unused")]);
    assert_eq!(h.hub.online_members(&rid("rm_unused")), None);

    // The busy room stays while anyone is in it, a held seat included.
    h.send(agent, &ClientMessage::Leave);
    h.close(guest);
    assert_eq!(
        h.removed,
        vec![rid("rm_unused")],
        "the guest's seat is held"
    );
    h.advance(GRACE);
    assert_eq!(h.removed, vec![rid("rm_unused"), rid("rm_busy")]);
    assert_eq!(h.hub.online_members(&rid("rm_busy")), None);

    // The id is free again.
    h.room("rm_busy", &members, Permissions::default());
    // Rooms without an expiry never go.
    h.advance(10 * 3_600_000);
    assert_eq!(h.hub.online_members(&rid("rm_1")), Some(vec![]));
}
