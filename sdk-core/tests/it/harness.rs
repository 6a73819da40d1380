//! A deterministic world for sessions: a virtual clock, an in-memory model of the signaling
//! server, and fake peer connections that follow the browser's signaling-state rules strictly
//! (an offer applied in `have-local-offer` without a rollback fails, as it must).
//!
//! Nothing sleeps; `World::run_until` advances to the next timeout when idle and panics on a
//! livelock instead of hanging.

use std::collections::{BTreeMap, VecDeque};

use assistrtc_core::Millis;
use assistrtc_core::permissions::{Capabilities, authorize};
use assistrtc_core::protocol::{
    self, ClientMessage, ErrorCode, LeaveReason, MemberId, MemberInfo, MemberRef, Permissions,
    Published, Role, RoomId, ServerMessage, Source,
};
use assistrtc_core::session::{
    Event, IceState, Input, LinkId, Output, PeerCommand, PeerEvent, SdpKind, Session,
    SessionConfig, SessionState,
};

pub(crate) fn id(s: &str) -> MemberId {
    MemberId::new(s).unwrap()
}

/// Tokens in this model are `room/member/role`; the real server uses JWTs.
pub(crate) fn token(room: &str, member: &str, role: &str) -> String {
    format!("{room}/{member}/{role}")
}

// ---------------------------------------------------------------- fake peer connection

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signaling {
    Stable,
    HaveLocalOffer,
    HaveRemoteOffer,
}

#[derive(Debug)]
pub(crate) struct FakePeer {
    pub(crate) owner: MemberId,
    pub(crate) link: LinkId,
    pub(crate) signaling: Signaling,
    pub(crate) local: Option<String>,
    pub(crate) remote: Option<String>,
    /// Every remote description applied, in order.
    pub(crate) applied_remote: Vec<String>,
    pub(crate) candidates_added: Vec<String>,
    pub(crate) failures: Vec<String>,
    pub(crate) ice: IceState,
    offers: u32,
    restart: bool,
}

impl FakePeer {
    fn new(owner: MemberId, link: LinkId) -> Self {
        Self {
            owner,
            link,
            signaling: Signaling::Stable,
            local: None,
            remote: None,
            applied_remote: Vec::new(),
            candidates_added: Vec::new(),
            failures: Vec::new(),
            ice: IceState::New,
            offers: 0,
            restart: false,
        }
    }

    /// Runs one command; returns the events the platform would report.
    fn run(&mut self, command: PeerCommand) -> Vec<PeerEvent> {
        let mut events = Vec::new();
        let fail = |peer: &mut Self, why: &str| {
            peer.failures.push(why.to_string());
            vec![PeerEvent::OperationFailed {
                reason: why.to_string(),
            }]
        };
        match command {
            PeerCommand::Create { .. } => unreachable!("handled by the client"),
            PeerCommand::CreateOffer { ice_restart } => {
                if self.signaling != Signaling::Stable {
                    return fail(self, "createOffer outside stable");
                }
                self.offers += 1;
                self.restart |= ice_restart;
                let sdp = format!(
                    "v=0 offer {} #{}{}",
                    self.owner,
                    self.offers,
                    if ice_restart { " restart" } else { "" }
                );
                self.local = Some(sdp.clone());
                self.signaling = Signaling::HaveLocalOffer;
                events.push(PeerEvent::LocalDescription {
                    kind: SdpKind::Offer,
                    sdp,
                });
                events.push(PeerEvent::LocalCandidate(protocol::IceCandidate {
                    candidate: format!(
                        "candidate:{} 1 udp 1 127.0.0.1 {} typ host",
                        self.offers,
                        1000 + self.offers
                    ),
                    sdp_mid: Some("0".into()),
                    sdp_m_line_index: Some(0),
                }));
            }
            PeerCommand::CreateAnswer => {
                if self.signaling != Signaling::HaveRemoteOffer {
                    return fail(self, "createAnswer without a remote offer");
                }
                let sdp = format!("v=0 answer {}", self.owner);
                self.local = Some(sdp.clone());
                self.signaling = Signaling::Stable;
                events.push(PeerEvent::LocalDescription {
                    kind: SdpKind::Answer,
                    sdp,
                });
                events.extend(self.connect_if_ready());
            }
            PeerCommand::Rollback if self.signaling == Signaling::HaveLocalOffer => {
                self.signaling = Signaling::Stable;
            }
            PeerCommand::SetRemoteDescription { kind, sdp } => {
                match (kind, self.signaling) {
                    (SdpKind::Offer, Signaling::Stable) => {
                        self.signaling = Signaling::HaveRemoteOffer
                    }
                    (SdpKind::Answer, Signaling::HaveLocalOffer) => {
                        self.signaling = Signaling::Stable
                    }
                    (kind, state) => {
                        return fail(
                            self,
                            &format!("setRemoteDescription({kind:?}) in {state:?}"),
                        );
                    }
                }
                self.remote = Some(sdp.clone());
                self.applied_remote.push(sdp);
                events.push(PeerEvent::RemoteDescriptionApplied);
                events.extend(self.connect_if_ready());
            }
            PeerCommand::AddIceCandidate(c) => {
                if self.remote.is_none() {
                    return fail(self, "addIceCandidate before a remote description");
                }
                self.candidates_added.push(c.candidate);
            }
            PeerCommand::Close => self.ice = IceState::Closed,
            // Media and data are not modelled here.
            _ => {}
        }
        events
    }

    fn connect_if_ready(&mut self) -> Option<PeerEvent> {
        let ready =
            self.signaling == Signaling::Stable && self.local.is_some() && self.remote.is_some();
        if ready && (self.ice != IceState::Connected || self.restart) {
            self.restart = false;
            self.ice = IceState::Connected;
            return Some(PeerEvent::IceStateChanged(IceState::Connected));
        }
        None
    }
}

// ---------------------------------------------------------------- model server

type ConnId = u64;

struct Seat {
    role: Role,
    room: String,
    conn: Option<ConnId>,
    resume_token: String,
    held_until: Option<Millis>,
    buffered: Vec<ServerMessage>,
    published: Vec<Published>,
    consent: bool,
}

/// The server's relay rules in miniature: rooms, seats held for a grace period, relay with
/// `from` stamped, capability checks, `bad_request` for malformed frames.
pub(crate) struct ModelServer {
    pub(crate) grace_ms: u64,
    pub(crate) permissions: Permissions,
    seats: BTreeMap<MemberId, Seat>,
    conns: BTreeMap<ConnId, Option<MemberId>>,
    next_conn: ConnId,
    resumes: u64,
    out: VecDeque<(ConnId, String)>,
    closes: Vec<ConnId>,
}

impl ModelServer {
    fn new(grace_ms: u64, permissions: Permissions) -> Self {
        Self {
            grace_ms,
            permissions,
            seats: BTreeMap::new(),
            conns: BTreeMap::new(),
            next_conn: 1,
            resumes: 0,
            out: VecDeque::new(),
            closes: Vec::new(),
        }
    }

    fn open(&mut self) -> ConnId {
        let c = self.next_conn;
        self.next_conn += 1;
        self.conns.insert(c, None);
        c
    }

    fn send(&mut self, conn: ConnId, msg: &ServerMessage) {
        self.out.push_back((conn, protocol::encode_server(msg)));
    }

    fn deliver(&mut self, member: &MemberId, msg: ServerMessage) {
        let Some(seat) = self.seats.get_mut(member) else {
            return;
        };
        match seat.conn {
            Some(c) => self.out.push_back((c, protocol::encode_server(&msg))),
            None => seat.buffered.push(msg),
        }
    }

    fn others(&self, me: &MemberId) -> Vec<MemberId> {
        let room = &self.seats[me].room;
        self.seats
            .iter()
            .filter(|(id, s)| *id != me && &s.room == room)
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn info(&self, id: &MemberId) -> MemberInfo {
        let s = &self.seats[id];
        MemberInfo {
            id: id.clone(),
            role: s.role,
            published: s.published.clone(),
        }
    }

    fn frame(&mut self, conn: ConnId, text: &str) {
        let msg = match protocol::decode_client(text) {
            Ok(m) => m,
            Err(e) => {
                let reference = protocol::frame_type(text);
                self.send(
                    conn,
                    &ServerMessage::Error {
                        code: e.code(),
                        message: e.to_string(),
                        reference,
                    },
                );
                return;
            }
        };
        let Some(me) = self.conns.get(&conn).cloned() else {
            return;
        };
        let Some(me) = me else {
            return self.join(conn, msg);
        };
        let role = self.seats[&me].role;
        let caps = Capabilities::for_role(role, self.permissions);
        if let Err(e) = authorize(role, caps, &msg) {
            let reply = ServerMessage::Error {
                code: e.code(),
                message: e.user_message(),
                reference: Some(msg.kind().into()),
            };
            return self.send(conn, &reply);
        }
        match msg {
            ClientMessage::Offer { to, sdp } => self.relay(&me, to, |from| ServerMessage::Offer {
                from,
                sdp: sdp.clone(),
            }),
            ClientMessage::Answer { to, sdp } => {
                self.relay(&me, to, |from| ServerMessage::Answer {
                    from,
                    sdp: sdp.clone(),
                })
            }
            ClientMessage::Candidate { to, candidate } => {
                self.relay(&me, to, |from| ServerMessage::Candidate {
                    from,
                    candidate: candidate.clone(),
                })
            }
            ClientMessage::Publish { source, stream } => {
                let seat = self.seats.get_mut(&me).unwrap();
                seat.published.retain(|p| p.source != source);
                seat.published.push(Published {
                    source,
                    stream: stream.clone(),
                });
                self.relay(&me, None, |member| ServerMessage::Published {
                    member,
                    source,
                    stream: stream.clone(),
                });
            }
            ClientMessage::Ping => self.send(conn, &ServerMessage::Pong),
            ClientMessage::Consent { recording } => {
                if let Some(seat) = self.seats.get_mut(&me) {
                    seat.consent = recording;
                }
            }
            ClientMessage::Leave => {
                self.release(&me, LeaveReason::Left);
                self.conns.remove(&conn);
                self.closes.push(conn);
            }
            ClientMessage::Join { .. } => self.send(
                conn,
                &ServerMessage::error(ErrorCode::Conflict, "already joined").with_ref("join"),
            ),
            _ => self.send(
                conn,
                &ServerMessage::error(ErrorCode::NotFound, "not in this model"),
            ),
        }
    }

    fn relay(
        &mut self,
        from: &MemberId,
        to: Option<MemberId>,
        msg: impl Fn(MemberId) -> ServerMessage,
    ) {
        let targets = match to {
            Some(t) => vec![t],
            None => self.others(from),
        };
        for t in targets {
            self.deliver(&t, msg(from.clone()));
        }
    }

    fn join(&mut self, conn: ConnId, msg: ClientMessage) {
        let ClientMessage::Join {
            token,
            resume_token,
        } = msg
        else {
            self.send(
                conn,
                &ServerMessage::error(ErrorCode::Unauthorized, "join first"),
            );
            self.closes.push(conn);
            return;
        };
        let parts: Vec<&str> = token.split('/').collect();
        let role = match parts.get(2) {
            Some(&"host") => Role::Host,
            Some(&"guest") => Role::Guest,
            Some(&"observer") => Role::Observer,
            _ => {
                self.send(
                    conn,
                    &ServerMessage::error(ErrorCode::Unauthorized, "bad token"),
                );
                self.closes.push(conn);
                return;
            }
        };
        let (room, member) = (parts[0].to_string(), id(parts[1]));
        self.conns.insert(conn, Some(member.clone()));
        let resumable = self
            .seats
            .get(&member)
            .is_some_and(|s| Some(&s.resume_token) == resume_token.as_ref());
        self.resumes += 1;
        let fresh_token = format!("rt-{}-{}", member, self.resumes);
        if resumable {
            let seat = self.seats.get_mut(&member).unwrap();
            seat.conn = Some(conn);
            seat.held_until = None;
            seat.resume_token = fresh_token.clone();
            let buffered = std::mem::take(&mut seat.buffered);
            self.welcome(conn, &member, fresh_token, true);
            for m in buffered {
                self.send(conn, &m);
            }
        } else {
            if self.seats.contains_key(&member) {
                self.release(&member, LeaveReason::Removed);
            }
            self.seats.insert(
                member.clone(),
                Seat {
                    role,
                    room,
                    conn: Some(conn),
                    resume_token: fresh_token.clone(),
                    held_until: None,
                    buffered: Vec::new(),
                    published: Vec::new(),
                    consent: false,
                },
            );
            self.welcome(conn, &member, fresh_token, false);
            let info = self.info(&member);
            for other in self.others(&member) {
                self.deliver(
                    &other,
                    ServerMessage::MemberJoined {
                        member: info.clone(),
                    },
                );
            }
        }
    }

    fn welcome(&mut self, conn: ConnId, member: &MemberId, resume_token: String, resumed: bool) {
        let seat = &self.seats[member];
        let members = self.others(member).iter().map(|o| self.info(o)).collect();
        let msg = ServerMessage::Welcome {
            session_id: format!("s-{member}"),
            member: self.info(member),
            room: RoomId::new(seat.room.clone()).unwrap(),
            members,
            permissions: self.permissions,
            capabilities: Capabilities::for_role(seat.role, self.permissions),
            ice_servers: vec![],
            resume_token,
            resumed,
        };
        self.send(conn, &msg);
    }

    fn release(&mut self, member: &MemberId, reason: LeaveReason) {
        let others = self.others(member);
        self.seats.remove(member);
        for o in others {
            self.deliver(
                &o,
                ServerMessage::MemberLeft {
                    member: MemberRef { id: member.clone() },
                    reason,
                },
            );
        }
    }

    fn closed(&mut self, conn: ConnId, now: Millis) {
        if let Some(Some(member)) = self.conns.remove(&conn) {
            if let Some(seat) = self.seats.get_mut(&member) {
                if seat.conn == Some(conn) {
                    seat.conn = None;
                    seat.held_until = Some(now.after(self.grace_ms));
                }
            }
        }
    }

    /// Whether the seat of `member` holds recording consent.
    pub(crate) fn consent_of(&self, member: &MemberId) -> Option<bool> {
        self.seats.get(member).map(|s| s.consent)
    }

    fn timeout(&self) -> Option<Millis> {
        self.seats.values().filter_map(|s| s.held_until).min()
    }

    fn handle_timeout(&mut self, now: Millis) {
        let expired: Vec<MemberId> = self
            .seats
            .iter()
            .filter(|(_, s)| s.held_until.is_some_and(|t| t <= now))
            .map(|(m, _)| m.clone())
            .collect();
        for m in expired {
            self.release(&m, LeaveReason::Timeout);
        }
    }
}

trait WithRef {
    fn with_ref(self, r: &str) -> Self;
}

impl WithRef for ServerMessage {
    fn with_ref(self, r: &str) -> Self {
        match self {
            ServerMessage::Error { code, message, .. } => ServerMessage::Error {
                code,
                message,
                reference: Some(r.into()),
            },
            other => other,
        }
    }
}

// ---------------------------------------------------------------- clients and the world

/// How the network treats one client's signaling link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkMode {
    /// Frames flow.
    Up,
    /// New connections are refused (server unreachable).
    Refused,
    /// The connection stays "open" but every frame both ways is lost.
    Blackhole,
}

pub(crate) struct Client {
    pub(crate) id: MemberId,
    pub(crate) session: Session,
    pub(crate) peers: BTreeMap<MemberId, FakePeer>,
    pub(crate) peers_created: u32,
    pub(crate) events: Vec<Event>,
    pub(crate) sources: Vec<Source>,
    pub(crate) mode: LinkMode,
    conn: Option<ConnId>,
    pending: VecDeque<Input>,
}

impl Client {
    pub(crate) fn has_event(&self, f: impl Fn(&Event) -> bool) -> bool {
        self.events.iter().any(f)
    }

    pub(crate) fn connected_to(&self, other: &MemberId) -> bool {
        self.peers
            .get(other)
            .is_some_and(|p| p.ice == IceState::Connected && p.signaling == Signaling::Stable)
    }
}

pub(crate) struct World {
    pub(crate) now: Millis,
    pub(crate) server: ModelServer,
    pub(crate) clients: Vec<Client>,
    /// Frames on the wire from clients to the server; `None` is the close, which arrives after
    /// the frames sent before it, as on a real socket.
    to_server: VecDeque<(ConnId, Option<String>)>,
    /// The next relayed offer to this member is lost in transit.
    pub(crate) lose_next_offer_to: Option<MemberId>,
}

impl World {
    pub(crate) fn new(grace_ms: u64, permissions: Permissions) -> Self {
        Self {
            now: Millis(0),
            server: ModelServer::new(grace_ms, permissions),
            clients: Vec::new(),
            to_server: VecDeque::new(),
            lose_next_offer_to: None,
        }
    }

    /// Adds a client and starts its join. Returns its index.
    pub(crate) fn add(&mut self, room: &str, member: &str, role: &str, seed: u64) -> usize {
        let mut config = SessionConfig::new(token(room, member, role));
        config.jitter_seed = seed;
        let mut session = Session::new(config);
        session.acknowledge_notice();
        session.join(self.now).unwrap();
        self.clients.push(Client {
            id: id(member),
            session,
            peers: BTreeMap::new(),
            peers_created: 0,
            events: Vec::new(),
            sources: Vec::new(),
            mode: LinkMode::Up,
            conn: None,
            pending: VecDeque::new(),
        });
        self.clients.len() - 1
    }

    pub(crate) fn client(&self, i: usize) -> &Client {
        &self.clients[i]
    }

    /// Publishes `source` and lets every peer link renegotiate, like adding a track does.
    pub(crate) fn add_track(&mut self, i: usize, source: Source) {
        let c = &mut self.clients[i];
        c.session
            .publish(source, Some(format!("{}-{source:?}", c.id)))
            .unwrap();
        c.sources.push(source);
        let links: Vec<LinkId> = c.peers.values().map(|p| p.link.clone()).collect();
        for link in links {
            c.pending.push_back(Input::Peer {
                link,
                event: PeerEvent::NegotiationNeeded,
            });
        }
    }

    /// Sends a raw text frame from client `i`, bypassing its session (a buggy or hostile client).
    pub(crate) fn inject_to_server(&mut self, i: usize, text: &str) {
        let conn = self.clients[i].conn.expect("client has a connection");
        self.to_server.push_back((conn, Some(text.to_string())));
    }

    /// Delivers a raw text frame to client `i` as if the server sent it.
    pub(crate) fn inject_to_client(&mut self, i: usize, text: &str) {
        self.clients[i]
            .pending
            .push_back(Input::Frame(text.to_string()));
    }

    /// Cuts client `i`'s signaling link: both ends see the close.
    pub(crate) fn drop_link(&mut self, i: usize) {
        if let Some(conn) = self.clients[i].conn.take() {
            self.server.closed(conn, self.now);
            self.clients[i].pending.push_back(Input::TransportClosed);
        }
    }

    /// One round: every queued thing is delivered once. Returns whether anything happened.
    pub(crate) fn step(&mut self) -> bool {
        let mut progressed = false;
        // Client side: deliver inputs, then drain outputs.
        for i in 0..self.clients.len() {
            while let Some(input) = self.clients[i].pending.pop_front() {
                progressed = true;
                let now = self.now;
                let c = &mut self.clients[i];
                if let Err(e) = c.session.handle_input(input, now) {
                    panic!("{}: handle_input refused: {e}", c.id);
                }
            }
            while let Some(output) = self.clients[i].session.poll_output() {
                progressed = true;
                self.apply(i, output);
            }
        }
        // Wire: client → server.
        while let Some((conn, frame)) = self.to_server.pop_front() {
            progressed = true;
            match frame {
                Some(text) => self.server.frame(conn, &text),
                None => self.server.closed(conn, self.now),
            }
        }
        // Wire: server → clients.
        while let Some((conn, text)) = self.server.out.pop_front() {
            progressed = true;
            if let Some(c) = self.clients.iter_mut().find(|c| c.conn == Some(conn)) {
                let lost = self.lose_next_offer_to.as_ref() == Some(&c.id)
                    && text.contains(r#""type":"offer""#);
                if lost {
                    self.lose_next_offer_to = None;
                } else if c.mode != LinkMode::Blackhole {
                    c.pending.push_back(Input::Frame(text));
                }
            }
        }
        for conn in std::mem::take(&mut self.server.closes) {
            progressed = true;
            if let Some(c) = self.clients.iter_mut().find(|c| c.conn == Some(conn)) {
                c.conn = None;
                c.pending.push_back(Input::TransportClosed);
            }
        }
        progressed
    }

    fn apply(&mut self, i: usize, output: Output) {
        let c = &mut self.clients[i];
        match output {
            Output::OpenTransport => {
                if c.mode == LinkMode::Refused {
                    c.pending.push_back(Input::TransportClosed);
                } else {
                    c.conn = Some(self.server.open());
                    c.pending.push_back(Input::TransportOpened);
                }
            }
            Output::CloseTransport => {
                if let Some(conn) = c.conn.take() {
                    self.to_server.push_back((conn, None));
                }
            }
            Output::Send(frame) => {
                if let (Some(conn), true) = (c.conn, c.mode == LinkMode::Up) {
                    self.to_server.push_back((conn, Some(frame)));
                }
            }
            Output::Peer {
                link,
                command: PeerCommand::Create { .. },
            } => {
                let peer = link.member().unwrap().clone();
                c.peers
                    .insert(peer, FakePeer::new(c.id.clone(), link.clone()));
                c.peers_created += 1;
                if !c.sources.is_empty() {
                    c.pending.push_back(Input::Peer {
                        link,
                        event: PeerEvent::NegotiationNeeded,
                    });
                }
            }
            Output::Peer {
                link,
                command: PeerCommand::Close,
            } => {
                c.peers.remove(link.member().unwrap());
            }
            Output::Peer { link, command } => {
                let peer = link.member().unwrap();
                let fake = c
                    .peers
                    .get_mut(peer)
                    .filter(|p| p.link == link)
                    .unwrap_or_else(|| panic!("{}: command for unknown link {link}", c.id));
                for event in fake.run(command) {
                    c.pending.push_back(Input::Peer {
                        link: link.clone(),
                        event,
                    });
                }
            }
            Output::Event(e) => c.events.push(e),
        }
    }

    fn next_timeout(&self) -> Option<Millis> {
        self.clients
            .iter()
            .filter_map(|c| c.session.poll_timeout())
            .chain(self.server.timeout())
            .min()
    }

    /// Runs until `done`, advancing virtual time when idle. Panics after `max_steps` (livelock)
    /// or when time would pass `deadline`.
    pub(crate) fn run_until(&mut self, deadline: Millis, mut done: impl FnMut(&World) -> bool) {
        for _ in 0..10_000 {
            if done(self) {
                return;
            }
            if self.step() {
                continue;
            }
            let Some(next) = self.next_timeout() else {
                panic!("idle with nothing scheduled at {:?}", self.now);
            };
            assert!(
                next <= deadline,
                "deadline {deadline:?} passed (next timer {next:?})"
            );
            self.now = self.now.max(next);
            for c in &mut self.clients {
                if c.session.poll_timeout().is_some_and(|t| t <= self.now) {
                    c.session.handle_timeout(self.now);
                }
            }
            if self.server.timeout().is_some_and(|t| t <= self.now) {
                self.server.handle_timeout(self.now);
            }
        }
        panic!("livelock: 10000 steps without reaching the goal");
    }

    /// Runs every queued message to quiescence without advancing time.
    pub(crate) fn settle(&mut self) {
        for _ in 0..10_000 {
            if !self.step() {
                return;
            }
        }
        panic!("livelock while settling");
    }

    /// Advances virtual time to `t`, firing every timer on the way.
    pub(crate) fn advance_to(&mut self, t: Millis) {
        loop {
            self.settle();
            match self.next_timeout() {
                Some(next) if next <= t => {
                    self.now = self.now.max(next);
                    for c in &mut self.clients {
                        if c.session.poll_timeout().is_some_and(|x| x <= self.now) {
                            c.session.handle_timeout(self.now);
                        }
                    }
                    if self.server.timeout().is_some_and(|x| x <= self.now) {
                        self.server.handle_timeout(self.now);
                    }
                }
                _ => break,
            }
        }
        self.now = t;
        self.settle();
    }

    pub(crate) fn state(&self, i: usize) -> SessionState {
        self.clients[i].session.state()
    }
}
