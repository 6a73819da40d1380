//! Peer links: creation, routing of relayed negotiation, stale results, and the two watchdogs
//! (a negotiation that stalls, a link that never connects), each on its own deadline.

use super::*;

/// A peer link mid-negotiation this long is assumed to have lost an offer or answer; it is
/// rolled back and renegotiated with an ICE restart.
pub const NEGOTIATION_TIMEOUT_MS: u64 = 10_000;
/// A link that finished negotiating but is not connected this long after (ICE stuck in `new`
/// or `checking`, or dropped and not back) is restarted with an ICE restart.
pub const CONNECT_TIMEOUT_MS: u64 = 15_000;
/// Restarts (by either watchdog) without reaching connected before the link is given up: one
/// error is reported and the link waits for the other side to renegotiate, instead of
/// disturbing it forever. The last of them replaces the link with a fresh one (a new peer
/// connection, a new generation); the ones before are ICE restarts.
pub const MAX_LINK_RESTARTS: u32 = 3;

/// The session id of an SDP's `o=` line: constant for one peer connection, so a change tells
/// that the other side replaced its link.
pub(crate) fn session_id(sdp: &str) -> Option<&str> {
    // Byte scans: the iterator adaptors cost several times the code in the browser build.
    let b = sdp.as_bytes();
    let start = if b.starts_with(b"o=") {
        2
    } else {
        b.windows(3).position(|w| w == b"\no=")? + 3
    };
    let line = &b[start..];
    let field = line.iter().position(|&c| c == b' ')? + 1;
    let len = line[field..]
        .iter()
        .position(|&c| c == b' ' || c == b'\r' || c == b'\n')
        .unwrap_or(line.len() - field);
    sdp.get(start + field..start + field + len)
}

/// The session's view of one peer link.
#[derive(Debug)]
pub(super) struct Peer {
    pub(super) id: LinkId,
    pub(super) negotiation: Negotiation,
    /// Since when the link has been mid-negotiation.
    busy_since: Option<Millis>,
    /// Since when the link has been negotiated but not connected.
    unconnected_since: Option<Millis>,
    /// Restarts since it was last connected.
    restarts: u32,
    /// Given up after [`MAX_LINK_RESTARTS`]; only the other side's offers revive it.
    given_up: bool,
    /// The platform could not create it: nothing is ever run on it.
    dead: bool,
    /// The `o=` session id of the other side's peer connection, once seen.
    pub(super) remote_session: Option<String>,
}

impl Peer {
    fn new(id: LinkId, polite: bool) -> Self {
        Self {
            id,
            negotiation: Negotiation::new(polite),
            busy_since: None,
            unconnected_since: None,
            restarts: 0,
            given_up: false,
            dead: false,
            remote_session: None,
        }
    }

    /// Updates the watchdog clocks after anything happened on the link.
    fn observe(&mut self, now: Millis) {
        let n = &self.negotiation;
        if n.busy() {
            self.busy_since.get_or_insert(now);
        } else {
            self.busy_since = None;
        }
        let waiting = n.started() && !n.busy() && n.ice() != IceState::Connected;
        if waiting && !self.given_up && !self.dead {
            self.unconnected_since.get_or_insert(now);
        } else {
            self.unconnected_since = None;
        }
        if n.ice() == IceState::Connected {
            self.restarts = 0;
            self.given_up = false;
        }
    }

    /// The other side renegotiates: a link given up gets another chance.
    pub(super) fn revive(&mut self) {
        if self.given_up {
            self.given_up = false;
            self.restarts = MAX_LINK_RESTARTS;
        }
    }

    /// When a watchdog of this link fires.
    pub(super) fn deadline(&self) -> Option<Millis> {
        if self.dead || self.given_up {
            return None;
        }
        let stall = self.busy_since.map(|t| t.after(NEGOTIATION_TIMEOUT_MS));
        let connect = self.unconnected_since.map(|t| t.after(CONNECT_TIMEOUT_MS));
        stall.into_iter().chain(connect).min()
    }
}

impl Session {
    /// The link to `member`, if there is one.
    pub fn link_to(&self, member: &MemberId) -> Option<&LinkId> {
        self.peers.get(member).map(|p| &p.id)
    }

    /// The current links.
    pub fn links(&self) -> impl Iterator<Item = &LinkId> {
        self.peers.values().map(|p| &p.id)
    }

    fn current(&self, link: &LinkId) -> Option<&Peer> {
        self.peers
            .get(link.member()?)
            .filter(|p| p.id == *link && !p.dead)
    }

    /// Whether `link` is current and no offer/answer exchange is in flight on it.
    pub fn link_idle(&self, link: &LinkId) -> bool {
        self.current(link).is_some_and(|p| !p.negotiation.busy())
    }

    /// The ICE state of `link`, if it is current.
    pub fn link_ice(&self, link: &LinkId) -> Option<IceState> {
        self.current(link).map(|p| p.negotiation.ice())
    }

    /// Whether `link` is this session's current link to its target.
    pub fn is_current(&self, link: &LinkId) -> bool {
        self.current(link).is_some()
    }

    pub(super) fn ensure_peer(&mut self, member: &MemberId) {
        if self.peers.contains_key(member) {
            return;
        }
        let Some(me) = &self.me else { return };
        let polite = negotiation::is_polite(&me.member.id, member);
        self.next_generation += 1;
        let id = LinkId {
            target: LinkTarget::Member(member.clone()),
            generation: self.next_generation,
        };
        self.peers
            .insert(member.clone(), Peer::new(id.clone(), polite));
        self.push(Output::Peer {
            link: id,
            command: PeerCommand::Create {
                polite,
                ice_servers: self.ice_servers.clone(),
                relay_only: self.config.relay_only,
            },
        });
    }

    /// Replaces the link to `member` with a fresh one (a new generation); what it had counted
    /// of restarts carries over, so replacing does not reset the bound.
    pub(super) fn replace_peer(&mut self, member: &MemberId) {
        let Some(old) = self.peers.remove(member) else {
            return;
        };
        self.push(Output::Peer {
            link: old.id,
            command: PeerCommand::Close,
        });
        self.ensure_peer(member);
        if let Some(new) = self.peers.get_mut(member) {
            new.restarts = old.restarts;
        }
    }

    pub(super) fn drop_peer(&mut self, member: &MemberId) {
        if let Some(peer) = self.peers.remove(member) {
            self.push(Output::Peer {
                link: peer.id,
                command: PeerCommand::Close,
            });
        }
    }

    pub(super) fn close_all_peers(&mut self) {
        let members: Vec<MemberId> = self.peers.keys().cloned().collect();
        for member in members {
            self.drop_peer(&member);
        }
    }

    /// Runs `f` on the link to `member`. Signaling from a member without a link (one that just
    /// left) is stale and dropped: the server announces every member before relaying for it.
    pub(super) fn with_peer(
        &mut self,
        member: &MemberId,
        f: impl FnOnce(&mut Peer, &mut Vec<Step>),
    ) {
        let mut steps = Vec::new();
        let Some(peer) = self.peers.get_mut(member) else {
            return;
        };
        if peer.dead {
            return;
        }
        f(peer, &mut steps);
        self.run_steps(member, steps);
    }

    pub(super) fn run_steps(&mut self, member: &MemberId, steps: Vec<Step>) {
        let now = self.now;
        let Some(peer) = self.peers.get_mut(member) else {
            return;
        };
        peer.observe(now);
        let link = peer.id.clone();
        for step in steps {
            match step {
                Step::Command(command) => self.push(Output::Peer {
                    link: link.clone(),
                    command,
                }),
                Step::SendOffer(sdp) => self.send_to(
                    member,
                    &ClientMessage::Offer {
                        to: Some(member.clone()),
                        sdp,
                    },
                ),
                Step::SendAnswer(sdp) => self.send_to(
                    member,
                    &ClientMessage::Answer {
                        to: Some(member.clone()),
                        sdp,
                    },
                ),
                Step::SendCandidate(candidate) => self.send_to(
                    member,
                    &ClientMessage::Candidate {
                        to: Some(member.clone()),
                        candidate,
                    },
                ),
            }
        }
        self.refresh_state();
    }

    /// A result or platform event from a link; one for a closed or older link is dropped.
    pub(super) fn on_peer(&mut self, link: LinkId, event: PeerEvent) -> Result<(), SessionError> {
        if self.signal == Signal::Closed {
            return Err(SessionError::Ended);
        }
        let Some(member) = link.member().cloned() else {
            return Ok(());
        };
        let current = self.peers.get(&member).is_some_and(|p| p.id == link);
        if !current {
            self.stale_results += 1;
            return Ok(());
        }
        let mut failure = None;
        self.with_peer(&member, |peer, steps| {
            let n = &mut peer.negotiation;
            match event {
                PeerEvent::NegotiationNeeded => n.negotiation_needed(false, steps),
                PeerEvent::LocalDescription { kind, sdp } => {
                    n.local_description(kind, sdp, steps);
                }
                PeerEvent::RemoteDescriptionApplied => n.remote_description_applied(steps),
                PeerEvent::LocalCandidate(c) => n.local_candidate(c, steps),
                PeerEvent::IceStateChanged(state) => n.ice_state(state, steps),
                PeerEvent::OperationFailed { reason } => {
                    n.operation_failed(steps);
                    failure =
                        Some(["peer link to ", member.as_str(), " failed: ", &reason].concat());
                }
                PeerEvent::CreateFailed { reason } => {
                    peer.dead = true;
                    failure = Some(
                        [
                            "cannot create a peer link to ",
                            member.as_str(),
                            " on this platform: ",
                            &reason,
                        ]
                        .concat(),
                    );
                }
                // Data and tracks are the call's business.
                PeerEvent::ChannelOpened(_)
                | PeerEvent::ChannelClosed(_)
                | PeerEvent::Message { .. }
                | PeerEvent::TrackAdded { .. } => {}
            }
        });
        if let Some(message) = failure {
            self.emit(Event::Error(ErrorReported {
                code: ErrorCode::Internal,
                message,
                reference: None,
            }));
        }
        Ok(())
    }

    /// Asks for an ICE restart on the link to `member`.
    pub fn restart_ice(&mut self, member: &MemberId) -> Result<(), SessionError> {
        self.check_joined()?;
        if !self.peers.contains_key(member) {
            return Err(SessionError::UnknownPeer(member.clone()));
        }
        self.with_peer(member, |peer, steps| {
            peer.negotiation.negotiation_needed(true, steps);
        });
        Ok(())
    }

    /// The earliest link watchdog deadline.
    pub(super) fn links_timeout(&self) -> Option<Millis> {
        self.peers.values().filter_map(Peer::deadline).min()
    }

    /// Fires the link watchdogs due at `now`.
    pub(super) fn check_links(&mut self, now: Millis) {
        let due: Vec<MemberId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.deadline().is_some_and(|t| t <= now))
            .map(|(m, _)| m.clone())
            .collect();
        for member in due {
            let fresh = self
                .peers
                .get(&member)
                .is_some_and(|p| p.restarts + 1 == MAX_LINK_RESTARTS);
            let what = if fresh {
                // ICE restarts did not help: a new peer connection, offered at once (the other
                // side sees a new session and replaces its link too).
                self.replace_peer(&member);
                self.with_peer(&member, |peer, steps| {
                    peer.restarts += 1;
                    peer.negotiation.negotiation_needed(false, steps);
                });
                "did not connect after ICE restarts; replacing it"
            } else {
                let mut what = "";
                self.with_peer(&member, |peer, steps| {
                    let stalled = peer.busy_since.is_some();
                    peer.busy_since = None;
                    peer.unconnected_since = None;
                    peer.restarts += 1;
                    what = if peer.restarts > MAX_LINK_RESTARTS {
                        peer.given_up = true;
                        "did not connect after its restarts; waiting for the other side to \
                         renegotiate"
                    } else if stalled {
                        peer.negotiation.restart_stalled(steps);
                        "stalled mid-negotiation; restarting it"
                    } else {
                        peer.negotiation.negotiation_needed(true, steps);
                        "did not connect in time; restarting ICE"
                    };
                });
                what
            };
            // One message shape for every watchdog outcome.
            self.emit(Event::Error(ErrorReported {
                code: ErrorCode::Internal,
                message: ["the link to ", member.as_str(), " ", what].concat(),
                reference: None,
            }));
        }
    }

    /// After a resume: stable links whose ICE is down missed their restart while the socket
    /// was down; restart them now.
    pub(super) fn kick_disconnected_links(&mut self) {
        let members: Vec<MemberId> = self.peers.keys().cloned().collect();
        for member in members {
            self.with_peer(&member, |peer, steps| {
                peer.negotiation.kick_if_disconnected(steps);
            });
        }
    }
}
