//! A peer connection model strict where a browser is strict.
//!
//! Session descriptions are text with one line per section: `m=video stream=<id>` for each
//! local source and `m=application` when DataChannels exist. What it models, as Chromium does:
//! - signaling states: an offer applied in `have-local-offer` without a rollback fails, a
//!   `createAnswer` without a remote offer fails;
//! - `negotiationneeded` when tracks or the first DataChannels were added, fired once stable;
//! - negotiated DataChannels open once the data section is in both descriptions and ICE is
//!   connected; a message reaches the other side only if its channel with that id exists and
//!   is open there;
//! - rolling back the offer that added the data section leaves the channels made for it dead:
//!   they never open and ask for no new negotiation;
//! - ICE connects when both descriptions are set, unless [`FakePeer::block_ice`] holds it in
//!   `new` until an ICE restart.

use assistrtc_core::assist::Channel;
use assistrtc_core::protocol::{IceCandidate, MemberId, Source};
use assistrtc_core::session::{ChannelSpec, IceState, LinkId, PeerCommand, PeerEvent, SdpKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signaling {
    Stable,
    HaveLocalOffer,
    HaveRemoteOffer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChannelState {
    Created,
    Open,
    /// Made for a data section that was rolled back: never opens.
    Dead,
}

#[derive(Debug)]
struct DataChannel {
    spec: ChannelSpec,
    state: ChannelState,
}

/// One side of a peer link.
#[derive(Debug)]
pub struct FakePeer {
    /// The member owning this side.
    pub owner: MemberId,
    /// The core's id for it.
    pub link: LinkId,
    signaling: Signaling,
    local: Option<String>,
    remote: Option<String>,
    /// The descriptions of the last stable state, restored by a rollback.
    stable: (Option<String>, Option<String>),
    /// Sources this side sends.
    sources: Vec<Source>,
    channels: Vec<DataChannel>,
    /// The data section is in a completed exchange.
    data_negotiated: bool,
    /// The pending local offer adds the data section.
    offer_adds_data: bool,
    /// The sources in the last completed exchange.
    negotiated_sources: Vec<Source>,
    /// ICE stays `new` until an ICE restart completes.
    ice_blocked: bool,
    /// ICE never connects on this peer connection, restarts or not.
    ice_broken: bool,
    restart_pending: bool,
    /// ICE state.
    pub ice: IceState,
    /// Remote streams already announced with a track.
    remote_streams: Vec<String>,
    offers: u32,
    /// Every remote description applied, in order.
    pub applied_remote: Vec<String>,
    /// Candidates added.
    pub candidates_added: Vec<String>,
    /// Operations that failed, with why.
    pub failures: Vec<String>,
    /// Messages this side sent on an open channel, for the world to carry: (channel id, text).
    pub(crate) outbox: Vec<(u16, String)>,
    /// Messages written to a channel that was not open (lost, as a browser would throw).
    pub sent_while_closed: u32,
    /// Messages that arrived before this side's channel opened.
    held: Vec<(u16, String)>,
}

impl FakePeer {
    pub(crate) fn new(owner: MemberId, link: LinkId) -> Self {
        Self {
            owner,
            link,
            signaling: Signaling::Stable,
            local: None,
            remote: None,
            stable: (None, None),
            sources: Vec::new(),
            channels: Vec::new(),
            data_negotiated: false,
            offer_adds_data: false,
            negotiated_sources: Vec::new(),
            ice_blocked: false,
            ice_broken: false,
            restart_pending: false,
            ice: IceState::New,
            remote_streams: Vec::new(),
            offers: 0,
            applied_remote: Vec::new(),
            candidates_added: Vec::new(),
            failures: Vec::new(),
            outbox: Vec::new(),
            sent_while_closed: 0,
            held: Vec::new(),
        }
    }

    /// Holds ICE in `new` until an ICE restart (a link whose candidates never arrive).
    pub fn block_ice(&mut self) {
        self.ice_blocked = true;
    }

    /// Breaks this peer connection's ICE for good: only a fresh link connects.
    pub fn break_ice(&mut self) {
        self.ice_broken = true;
    }

    /// Whether ICE is connected.
    pub fn connected(&self) -> bool {
        self.ice == IceState::Connected
    }

    /// Whether the channel is open on this side.
    pub fn channel_open(&self, channel: Channel) -> bool {
        self.channels
            .iter()
            .any(|c| c.spec.channel == channel && c.state == ChannelState::Open)
    }

    /// Whether any channel was left dead by a rollback.
    pub fn has_dead_channels(&self) -> bool {
        self.channels.iter().any(|c| c.state == ChannelState::Dead)
    }

    fn stream(&self, source: Source) -> String {
        format!("{}-{}", self.owner, source.as_str())
    }

    fn live_channels(&self) -> bool {
        self.channels.iter().any(|c| c.state != ChannelState::Dead)
    }

    fn description(&self, kind: &str, data: bool, restart: bool) -> String {
        // The `o=` session id is constant for one peer connection, as browsers write it.
        let mut sdp = format!(
            "v=0\r\no=- {}.{} {} IN IP4 127.0.0.1\r\ns={kind}\r\n",
            self.owner, self.link.generation, self.offers
        );
        for s in &self.sources {
            sdp.push_str(&format!("m=video stream={}\r\n", self.stream(*s)));
        }
        if data {
            sdp.push_str("m=application\r\n");
        }
        if restart {
            sdp.push_str("a=ice-restart\r\n");
        }
        sdp
    }

    fn fail(&mut self, why: String) -> Vec<PeerEvent> {
        self.failures.push(why.clone());
        vec![PeerEvent::OperationFailed { reason: why }]
    }

    /// Runs one command; returns what the platform reports.
    pub(crate) fn run(&mut self, command: PeerCommand) -> Vec<PeerEvent> {
        let mut events = Vec::new();
        match command {
            PeerCommand::Create { .. } => unreachable!("created by the world"),
            PeerCommand::CreateOffer { ice_restart } => {
                if self.signaling != Signaling::Stable {
                    return self.fail("createOffer outside stable".into());
                }
                self.offers += 1;
                self.restart_pending |= ice_restart;
                let data = self.live_channels();
                self.offer_adds_data = data && !self.data_negotiated;
                let sdp = self.description("offer", data, ice_restart);
                self.local = Some(sdp.clone());
                self.signaling = Signaling::HaveLocalOffer;
                events.push(PeerEvent::LocalDescription {
                    kind: SdpKind::Offer,
                    sdp,
                });
                events.push(PeerEvent::LocalCandidate(IceCandidate {
                    candidate: format!("candidate:{} 1 udp 1 127.0.0.1 9 typ host", self.offers),
                    sdp_mid: Some("0".into()),
                    sdp_m_line_index: Some(0),
                }));
            }
            PeerCommand::CreateAnswer => {
                if self.signaling != Signaling::HaveRemoteOffer {
                    return self.fail("createAnswer without a remote offer".into());
                }
                let data = self
                    .remote
                    .as_deref()
                    .is_some_and(|r| r.contains("m=application"));
                let sdp = self.description("answer", data, false);
                self.local = Some(sdp.clone());
                self.signaling = Signaling::Stable;
                events.push(PeerEvent::LocalDescription {
                    kind: SdpKind::Answer,
                    sdp,
                });
                self.on_stable(&mut events);
            }
            PeerCommand::Rollback => match self.signaling {
                Signaling::HaveLocalOffer => {
                    self.signaling = Signaling::Stable;
                    self.local = self.stable.0.clone();
                    if self.offer_adds_data {
                        for c in &mut self.channels {
                            c.state = ChannelState::Dead;
                        }
                    }
                    self.offer_adds_data = false;
                    self.restart_pending = false;
                    // What the rolled-back offer carried still needs negotiating.
                    self.on_stable(&mut events);
                }
                Signaling::HaveRemoteOffer => {
                    self.signaling = Signaling::Stable;
                    self.remote = self.stable.1.clone();
                    self.on_stable(&mut events);
                }
                Signaling::Stable => {}
            },
            PeerCommand::SetRemoteDescription { kind, sdp } => {
                match (kind, self.signaling) {
                    (SdpKind::Offer, Signaling::Stable) => {
                        self.signaling = Signaling::HaveRemoteOffer;
                    }
                    (SdpKind::Answer, Signaling::HaveLocalOffer) => {
                        // An answer to another offer (a late or repeated one) does not match
                        // this offer's sections, and the browser refuses it.
                        let data = |d: &str| d.contains("m=application");
                        if self.local.as_deref().is_some_and(|l| data(l) != data(&sdp)) {
                            return self.fail("the answer does not match the offer".into());
                        }
                        self.signaling = Signaling::Stable;
                        if sdp.contains("a=ice-restart") || self.restart_pending {
                            self.restart_pending = false;
                            self.ice_blocked = false;
                            self.ice = IceState::Checking;
                        }
                    }
                    (kind, state) => {
                        return self.fail(format!("setRemoteDescription({kind:?}) in {state:?}"));
                    }
                }
                if kind == SdpKind::Offer && sdp.contains("a=ice-restart") {
                    self.ice_blocked = false;
                    self.ice = IceState::Checking;
                }
                for line in sdp.lines() {
                    if let Some(stream) = line.strip_prefix("m=video stream=") {
                        if !self.remote_streams.iter().any(|s| s == stream) {
                            self.remote_streams.push(stream.to_owned());
                            events.push(PeerEvent::TrackAdded {
                                track: format!("{stream}/video"),
                                stream: Some(stream.to_owned()),
                            });
                        }
                    }
                }
                self.remote = Some(sdp.clone());
                self.applied_remote.push(sdp);
                events.push(PeerEvent::RemoteDescriptionApplied);
                if self.signaling == Signaling::Stable {
                    self.offer_adds_data = false;
                    self.on_stable(&mut events);
                }
            }
            PeerCommand::AddIceCandidate(c) => {
                if self.remote.is_none() {
                    return self.fail("addIceCandidate before a remote description".into());
                }
                self.candidates_added.push(c.candidate);
            }
            PeerCommand::AddSource(source) => {
                let was = self.dirty();
                if !self.sources.contains(&source) {
                    self.sources.push(source);
                }
                self.renegotiate(was, &mut events);
            }
            PeerCommand::RemoveSource(source) => {
                let was = self.dirty();
                self.sources.retain(|s| *s != source);
                self.renegotiate(was, &mut events);
            }
            PeerCommand::OpenChannel(spec) => {
                if self.channels.iter().any(|c| c.spec.id == spec.id) {
                    return self.fail(format!("a channel with id {} exists", spec.id));
                }
                let was = self.dirty();
                self.channels.push(DataChannel {
                    spec,
                    state: ChannelState::Created,
                });
                if self.data_negotiated {
                    self.open_channels(&mut events);
                } else {
                    self.renegotiate(was, &mut events);
                }
            }
            PeerCommand::CloseChannels => self.channels.clear(),
            PeerCommand::SendData { channel, payload } => {
                match self
                    .channels
                    .iter()
                    .find(|c| c.spec.channel == channel && c.state == ChannelState::Open)
                {
                    Some(c) => self.outbox.push((c.spec.id, payload)),
                    None => self.sent_while_closed += 1,
                }
            }
            PeerCommand::Close => {
                self.ice = IceState::Closed;
                self.channels.clear();
            }
        }
        events
    }

    /// A message from the other side on channel `id`. Delivered if that channel is open here;
    /// held until it opens if it exists but waits for the association (the sender's side saw
    /// it come up first); lost if there is no live channel with that id.
    pub(crate) fn receive(&mut self, id: u16, text: String) -> Result<Option<PeerEvent>, ()> {
        let c = self
            .channels
            .iter()
            .find(|c| c.spec.id == id && c.state != ChannelState::Dead)
            .ok_or(())?;
        if c.state == ChannelState::Open {
            return Ok(Some(PeerEvent::Message {
                channel: c.spec.channel,
                text,
            }));
        }
        self.held.push((id, text));
        Ok(None)
    }

    /// Whether something local is not in a completed exchange yet.
    fn dirty(&self) -> bool {
        let waiting_data = self
            .channels
            .iter()
            .any(|c| c.state == ChannelState::Created)
            && !self.data_negotiated;
        let same = self.sources.len() == self.negotiated_sources.len()
            && self
                .sources
                .iter()
                .all(|s| self.negotiated_sources.contains(s));
        !same || waiting_data
    }

    /// Like a browser, fires `negotiationneeded` when a change makes the link need it, and
    /// only when stable (the rest is checked when it becomes stable).
    fn renegotiate(&mut self, was_dirty: bool, events: &mut Vec<PeerEvent>) {
        if !was_dirty && self.dirty() && self.signaling == Signaling::Stable {
            events.push(PeerEvent::NegotiationNeeded);
        }
    }

    fn on_stable(&mut self, events: &mut Vec<PeerEvent>) {
        self.stable = (self.local.clone(), self.remote.clone());
        let both = |s: &Option<String>| s.as_deref().is_some_and(|d| d.contains("m=application"));
        if both(&self.local) && both(&self.remote) {
            self.data_negotiated = true;
        }
        if let Some(local) = &self.local {
            let owner = self.owner.as_str();
            self.negotiated_sources = Source::ALL
                .into_iter()
                .filter(|s| local.contains(&format!("stream={owner}-{}\r", s.as_str())))
                .collect();
        }
        let ready = self.local.is_some() && self.remote.is_some();
        if ready && !self.ice_blocked && !self.ice_broken && self.ice != IceState::Connected {
            self.ice = IceState::Connected;
            events.push(PeerEvent::IceStateChanged(IceState::Connected));
        }
        self.open_channels(events);
        if self.dirty() {
            events.push(PeerEvent::NegotiationNeeded);
        }
    }

    fn open_channels(&mut self, events: &mut Vec<PeerEvent>) {
        if !(self.data_negotiated && self.ice == IceState::Connected) {
            return;
        }
        for c in &mut self.channels {
            if c.state == ChannelState::Created {
                c.state = ChannelState::Open;
                events.push(PeerEvent::ChannelOpened(c.spec.channel));
            }
        }
        let held = std::mem::take(&mut self.held);
        for (id, text) in held {
            if let Some(c) = self.channels.iter().find(|c| c.spec.id == id) {
                events.push(PeerEvent::Message {
                    channel: c.spec.channel,
                    text,
                });
            }
        }
    }
}
