//! Clients, the real hub, the network between them and one virtual clock.

use std::collections::VecDeque;

use assistrtc_core::Millis;
use assistrtc_core::assist::OverlayView;
use assistrtc_core::call::{Call, CallConfig};
use assistrtc_core::protocol::{self, MemberId, Permissions, Role, RoomId};
use assistrtc_core::session::{
    ErrorReported, Event, Input, LinkId, Output, PeerCommand, PeerEvent,
};
use assistrtc_server::hub::{ConnId, Entropy, EntropyError, Hub, HubConfig, HubOutput};
use assistrtc_server::jwt::{self, Claims};
use assistrtc_server::store::{MemberSpec, NEVER, RoomDefinition};

use crate::net::{Netem, Rng, Wire};
use crate::peer::FakePeer;

const SECRET: &[u8] = b"sim-secret";
/// The clock starts at a plausible Unix time: the hub checks token expiry against it.
const T0: Millis = Millis(1_700_000_000_000);
/// Steps one run may take before it is called a livelock.
const MAX_STEPS: usize = 200_000;

/// The epoch of the sim's room `room`: each room is created once per world.
fn epoch(room: &str) -> String {
    format!("sim-{room}")
}

/// A member id from a literal.
pub fn id(s: &str) -> MemberId {
    MemberId::new(s).expect("a valid member id")
}

/// Whether a frame is relayed negotiation (offer, answer, candidate).
fn negotiation(frame: &str) -> bool {
    ["offer", "answer", "candidate"]
        .iter()
        .any(|t| frame.contains(&format!(r#""type":"{t}""#)))
}

/// Seeded "randomness" for the hub's session ids and resume tokens.
struct SeededEntropy(Rng);

impl Entropy for SeededEntropy {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), EntropyError> {
        for b in buf {
            *b = self.0.next() as u8;
        }
        Ok(())
    }
}

/// How the network treats one client's signaling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Frames flow (under the world's [`Netem`]).
    Up,
    /// New connections are refused: the server is unreachable.
    Refused,
    /// The connection stays "open" but every frame both ways is lost.
    Blackhole,
}

/// One member's device: its call, its peer links and what it was told.
pub struct Client {
    /// The member.
    pub id: MemberId,
    /// The call under test.
    pub call: Call,
    /// Its current peer links.
    pub peers: Vec<FakePeer>,
    /// Peer links created so far.
    pub links_created: u32,
    /// Every event the call emitted.
    pub events: Vec<Event>,
    /// How its signaling fares.
    pub mode: Mode,
    /// This platform cannot create peer links (a browser without WebRTC).
    pub create_fails: bool,
    /// Every frame it sent, in order.
    pub sent: Vec<String>,
    conn: Option<ConnId>,
    pending: VecDeque<Input>,
}

impl Client {
    /// The link to `member`, if there is one.
    pub fn peer(&self, member: &str) -> Option<&FakePeer> {
        self.peers
            .iter()
            .find(|p| p.link.member().is_some_and(|m| m.as_str() == member))
    }

    /// The link to `member`, mutable.
    pub fn peer_mut(&mut self, member: &str) -> Option<&mut FakePeer> {
        self.peers
            .iter_mut()
            .find(|p| p.link.member().is_some_and(|m| m.as_str() == member))
    }

    /// Whether ICE is connected on the link to `member`.
    pub fn connected_to(&self, member: &str) -> bool {
        self.peer(member).is_some_and(FakePeer::connected)
    }

    /// Whether an event matching `f` was emitted.
    pub fn has_event(&self, f: impl Fn(&Event) -> bool) -> bool {
        self.events.iter().any(f)
    }

    /// The error events emitted.
    pub fn errors(&self) -> Vec<&ErrorReported> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Error(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    /// What its overlay shows at `now`.
    pub fn overlay(&self, now: Millis) -> OverlayView {
        self.call.overlay(now)
    }

    /// Frames it sent whose `type` is `kind`.
    pub fn sent_of(&self, kind: &str) -> usize {
        let needle = format!(r#""type":"{kind}""#);
        self.sent.iter().filter(|f| f.contains(&needle)).count()
    }
}

/// The world: the hub, its clients, the network, the clock.
pub struct World {
    /// Virtual now.
    pub now: Millis,
    /// The real server hub.
    pub hub: Hub,
    /// The clients, in the order they were added.
    pub clients: Vec<Client>,
    /// Network weather for signaling frames.
    pub net: Netem,
    /// The next offer relayed to this member is lost.
    pub lose_next_offer_to: Option<MemberId>,
    /// DataChannel messages that found no open channel on the other side.
    pub data_lost: u32,
    rng: Rng,
    up: Wire,
    down: Wire,
    next_conn: u64,
    token_ttl_secs: u64,
}

impl World {
    /// A world with a hub configured by `tweak`, network `net`, randomness from `seed`.
    pub fn new(seed: u64, net: Netem, tweak: impl FnOnce(&mut HubConfig)) -> Self {
        let mut config = HubConfig::new(SECRET.to_vec());
        tweak(&mut config);
        let mut rng = Rng::new(seed);
        let entropy = SeededEntropy(Rng::new(rng.next()));
        Self {
            now: T0,
            hub: Hub::with_entropy(config, Box::new(entropy)),
            clients: Vec::new(),
            net,
            lose_next_offer_to: None,
            data_lost: 0,
            rng,
            up: Wire::default(),
            down: Wire::default(),
            next_conn: 0,
            token_ttl_secs: 3_600,
        }
    }

    /// How long join tokens issued from now on are valid.
    pub fn set_token_ttl(&mut self, secs: u64) {
        self.token_ttl_secs = secs;
    }

    /// Milliseconds since the world began.
    pub fn elapsed(&self) -> u64 {
        self.now.since(T0)
    }

    /// Defines room `room` with `members` and `permissions`.
    pub fn room(&mut self, room: &str, members: &[(&str, Role)], permissions: Permissions) {
        let def = RoomDefinition {
            id: RoomId::new(room).expect("a valid room id"),
            members: members
                .iter()
                .map(|(m, role)| MemberSpec {
                    id: id(m),
                    role: *role,
                })
                .collect(),
            permissions,
            epoch: epoch(room),
            expires_at: NEVER,
        };
        assert!(self.hub.add_room(def), "room {room} exists");
    }

    /// A join token for `member` of `room`.
    pub fn token(&self, room: &str, member: &str, role: Role) -> String {
        let iat = self.now.0 / 1000;
        jwt::issue(
            SECRET,
            &Claims {
                room: RoomId::new(room).expect("a valid room id"),
                sub: id(member),
                role,
                epoch: epoch(room),
                iat,
                exp: iat + self.token_ttl_secs,
                jti: None,
            },
        )
    }

    /// Adds a device for `member` and starts its join with `token`. Returns its index.
    pub fn join(&mut self, member: &str, token: String) -> usize {
        let mut config = CallConfig::new(token);
        config.session.jitter_seed = self.rng.next();
        let mut call = Call::new(config);
        call.acknowledge_notice();
        call.join(self.now).expect("a new call joins");
        self.clients.push(Client {
            id: id(member),
            call,
            peers: Vec::new(),
            links_created: 0,
            events: Vec::new(),
            mode: Mode::Up,
            create_fails: false,
            sent: Vec::new(),
            conn: None,
            pending: VecDeque::new(),
        });
        self.clients.len() - 1
    }

    /// Client `i`.
    pub fn client(&self, i: usize) -> &Client {
        &self.clients[i]
    }

    /// Client `i`, mutable (to call its `Call` as an app would; drive the world afterwards).
    pub fn client_mut(&mut self, i: usize) -> &mut Client {
        &mut self.clients[i]
    }

    /// Cuts client `i`'s signaling connection: both ends see the close.
    pub fn drop_signaling(&mut self, i: usize) {
        if let Some(conn) = self.clients[i].conn.take() {
            self.hub.handle_close(conn, self.now);
            self.clients[i].pending.push_back(Input::TransportClosed);
        }
    }

    /// Delivers a raw frame to client `i` as if the server sent it.
    pub fn inject_to_client(&mut self, i: usize, text: &str) {
        self.clients[i]
            .pending
            .push_back(Input::Frame(text.to_owned()));
    }

    /// Sends a raw frame from client `i`'s connection, bypassing its call.
    pub fn inject_to_hub(&mut self, i: usize, text: &str) {
        let conn = self.clients[i].conn.expect("client has a connection");
        self.hub.handle_frame(conn, text, self.now);
    }

    /// One round: every queued thing is delivered once. Returns whether anything happened.
    pub fn step(&mut self) -> bool {
        let mut progressed = false;
        for i in 0..self.clients.len() {
            while let Some(input) = self.clients[i].pending.pop_front() {
                progressed = true;
                let now = self.now;
                let c = &mut self.clients[i];
                if std::env::var_os("SIM_TRACE").is_some() {
                    eprintln!("+{} {} <- {input:?}", now.since(T0), c.id);
                }
                if let Err(e) = c.call.handle_input(input, now) {
                    panic!("{}: input refused: {e}", c.id);
                }
            }
            while let Some(output) = self.clients[i].call.poll_output() {
                progressed = true;
                self.apply(i, output);
            }
        }
        for (conn, frame) in self.up.due(self.now) {
            progressed = true;
            match frame {
                Some(text) => self.hub.handle_frame(conn, &text, self.now),
                None => self.hub.handle_close(conn, self.now),
            }
        }
        while let Some(out) = self.hub.poll_output() {
            progressed = true;
            match out {
                HubOutput::Send { conn, msg } => {
                    let text = protocol::encode_server(&msg);
                    let lossy = negotiation(&text);
                    self.down.send(
                        (conn, Some(text)),
                        lossy,
                        self.now,
                        &self.net,
                        &mut self.rng,
                    );
                }
                HubOutput::Close { conn } => self.down.send_last((conn, None), self.now),
                HubOutput::RoomRemoved { .. } => {}
            }
        }
        for (conn, frame) in self.down.due(self.now) {
            progressed = true;
            let Some(c) = self.clients.iter_mut().find(|c| c.conn == Some(conn)) else {
                continue;
            };
            match frame {
                Some(text) => {
                    let lost = self.lose_next_offer_to.as_ref() == Some(&c.id)
                        && text.contains(r#""type":"offer""#);
                    if lost {
                        self.lose_next_offer_to = None;
                    } else if c.mode != Mode::Blackhole {
                        c.pending.push_back(Input::Frame(text));
                    }
                }
                None => {
                    c.conn = None;
                    c.pending.push_back(Input::TransportClosed);
                }
            }
        }
        progressed |= self.carry_data();
        progressed
    }

    /// Moves DataChannel messages between the two sides of each link.
    fn carry_data(&mut self) -> bool {
        let mut moved = Vec::new();
        for c in &mut self.clients {
            for p in &mut c.peers {
                for (ch, text) in p.outbox.drain(..) {
                    moved.push((c.id.clone(), p.link.clone(), ch, text));
                }
            }
        }
        let any = !moved.is_empty();
        for (from, link, ch, text) in moved {
            let Some(to) = link.member() else { continue };
            let target = self.clients.iter_mut().find(|c| c.id == *to).and_then(|c| {
                let peer = c
                    .peers
                    .iter_mut()
                    .find(|p| p.link.member() == Some(&from))?;
                Some((peer.receive(ch, text), peer.link.clone(), c))
            });
            match target {
                Some((Ok(Some(event)), link, c)) => {
                    c.pending.push_back(Input::Peer { link, event })
                }
                Some((Ok(None), _, _)) => {}
                _ => self.data_lost += 1,
            }
        }
        any
    }

    fn apply(&mut self, i: usize, output: Output) {
        let now = self.now;
        let c = &mut self.clients[i];
        if std::env::var_os("SIM_TRACE").is_some() {
            eprintln!("+{} {}: {output:?}", now.since(T0), c.id);
        }
        match output {
            Output::OpenTransport => {
                if c.mode == Mode::Refused {
                    c.pending.push_back(Input::TransportClosed);
                } else {
                    self.next_conn += 1;
                    let conn = ConnId(self.next_conn);
                    c.conn = Some(conn);
                    self.hub.handle_open(conn, now);
                    c.pending.push_back(Input::TransportOpened);
                }
            }
            Output::CloseTransport => {
                if let Some(conn) = c.conn.take() {
                    self.up.send_last((conn, None), now);
                }
            }
            Output::Send(frame) => {
                c.sent.push(frame.clone());
                if let (Some(conn), Mode::Up) = (c.conn, c.mode) {
                    let lossy = negotiation(&frame);
                    self.up
                        .send((conn, Some(frame)), lossy, now, &self.net, &mut self.rng);
                }
            }
            Output::Peer {
                link,
                command: PeerCommand::Create { .. },
            } => {
                if c.create_fails {
                    c.pending.push_back(Input::Peer {
                        link,
                        event: PeerEvent::CreateFailed {
                            reason: "RTCPeerConnection is not defined".into(),
                        },
                    });
                } else {
                    c.peers.push(FakePeer::new(c.id.clone(), link));
                    c.links_created += 1;
                }
            }
            Output::Peer {
                link,
                command: PeerCommand::Close,
            } => c.peers.retain(|p| p.link != link),
            Output::Peer { link, command } => {
                let Some(peer) = c.peers.iter_mut().find(|p| p.link == link) else {
                    panic!("{}: {command:?} for unknown link {link}", c.id);
                };
                for event in peer.run(command) {
                    c.pending.push_back(Input::Peer {
                        link: link.clone(),
                        event,
                    });
                }
            }
            Output::Event(e) => c.events.push(e),
            // The simulated clients record nothing.
            Output::Recorder(_) | Output::Upload { .. } => {}
        }
    }

    fn next_timeout(&self) -> Option<Millis> {
        self.clients
            .iter()
            .filter_map(|c| c.call.poll_timeout())
            .chain(self.hub.poll_timeout())
            .chain(self.up.next_at())
            .chain(self.down.next_at())
            .min()
    }

    fn fire_timers(&mut self) {
        let now = self.now;
        for c in &mut self.clients {
            if c.call.poll_timeout().is_some_and(|t| t <= now) {
                c.call.handle_timeout(now);
            }
        }
        if self.hub.poll_timeout().is_some_and(|t| t <= now) {
            self.hub.handle_timeout(now);
        }
    }

    /// Runs until `done`, advancing virtual time when idle; panics if it takes more than
    /// `within_ms` of virtual time, or on a livelock.
    pub fn run_until(&mut self, within_ms: u64, mut done: impl FnMut(&World) -> bool) {
        let deadline = self.now.after(within_ms);
        for _ in 0..MAX_STEPS {
            if done(self) {
                return;
            }
            if self.step() {
                continue;
            }
            let Some(next) = self.next_timeout() else {
                panic!("idle with nothing scheduled at +{} ms", self.elapsed());
            };
            assert!(
                next <= deadline,
                "not done within {within_ms} ms (at +{} ms)",
                self.elapsed()
            );
            self.now = self.now.max(next);
            self.fire_timers();
        }
        panic!("livelock: {MAX_STEPS} steps without reaching the goal");
    }

    /// Advances virtual time by `ms`, firing every timer on the way.
    pub fn advance(&mut self, ms: u64) {
        let until = self.now.after(ms);
        loop {
            self.settle();
            match self.next_timeout() {
                Some(next) if next <= until => {
                    self.now = self.now.max(next);
                    self.fire_timers();
                }
                _ => break,
            }
        }
        self.now = until;
        self.settle();
    }

    /// Delivers everything queued without advancing time.
    pub fn settle(&mut self) {
        for _ in 0..MAX_STEPS {
            if !self.step() {
                return;
            }
        }
        panic!("livelock while settling");
    }

    /// Drops every frame in flight (a network outage's backlog).
    pub fn flush_network(&mut self) {
        self.up.clear();
        self.down.clear();
    }

    /// The link ids of client `i`.
    pub fn links_of(&self, i: usize) -> Vec<LinkId> {
        self.clients[i]
            .peers
            .iter()
            .map(|p| p.link.clone())
            .collect()
    }
}
