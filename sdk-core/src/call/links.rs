//! The call's side of one peer link: its data section, assist channels, what waits for them,
//! and remote tracks not yet labelled.
//!
//! Which side adds the data section: the impolite side (the one that never rolls back its
//! offer in a collision). The polite side creates its channels only once a remote description
//! carrying a data section has been applied, so the two sides never both add it and an offer
//! that adds it is never rolled back by perfect negotiation. The impolite side opens the
//! channels, when its link is not mid-negotiation, at the first of: ICE connected (media flows
//! by then, so the extra negotiation delays no frame), something to send or replay, or
//! [`DATA_OPEN_DELAY_MS`] after the link was created (a call without media still gets them).
//! If the offer that added them is rolled back anyway (the negotiation watchdog, a failed
//! operation), the channels are closed and created again before the next offer, because a
//! rolled-back data section leaves channels that never open.

use std::collections::VecDeque;

use crate::Millis;
use crate::assist::Channel;
use crate::session::{ChannelSpec, IceState, PeerCommand, SdpKind};

/// Reliable assist messages held per link until its channel opens; beyond this the oldest
/// goes, and the application is told.
pub const MAX_QUEUED_MESSAGES: usize = 256;
/// How long after a link is created the impolite side opens the assist channels if nothing
/// else (ICE connecting, a message to send) opened them first.
pub const DATA_OPEN_DELAY_MS: u64 = 1_500;
/// Remote tracks held per link until a `published` labels them.
const MAX_HELD_TRACKS: usize = 16;

/// Whether an SDP carries a data section (`m=application`).
pub(crate) fn has_data_section(sdp: &str) -> bool {
    // A plain window scan: `str::contains` links a large substring searcher into the wasm.
    sdp.as_bytes().starts_with(b"m=application")
        || sdp.as_bytes().windows(14).any(|w| w == b"\nm=application")
}

/// What became of an assist message for one link.
pub(crate) enum Outgoing {
    /// Send it now.
    Send,
    /// Kept until the channel opens (or covered by the replay when channels are created).
    Held,
    /// Queued, and the queue dropped its oldest message to make room.
    Dropped,
}

#[derive(Debug)]
pub(crate) struct LinkData {
    polite: bool,
    /// The assist channels were created on the platform link.
    created: bool,
    /// The data section they need is in a completed offer/answer exchange.
    committed: bool,
    /// An applied remote description carried a data section.
    remote_data: bool,
    /// Whether each channel (reliable, cursor) is open.
    open: [bool; 2],
    /// Remote descriptions handed to the platform, in order: (kind, carries data).
    applying: VecDeque<(SdpKind, bool)>,
    /// Reliable messages waiting for the channel.
    queue: VecDeque<String>,
    /// The latest cursor move not yet sent.
    cursor: Option<String>,
    /// Something was to be sent before the channels existed.
    wanted: bool,
    /// When the impolite side opens the channels at the latest.
    open_at: Option<Millis>,
    /// Remote tracks waiting for a label: (track id, stream id).
    held_tracks: Vec<(String, Option<String>)>,
}

impl LinkData {
    pub(crate) fn new(polite: bool, now: Millis) -> Self {
        Self {
            polite,
            created: false,
            committed: false,
            remote_data: false,
            open: [false; 2],
            applying: VecDeque::new(),
            queue: VecDeque::new(),
            cursor: None,
            wanted: false,
            open_at: (!polite).then(|| now.after(DATA_OPEN_DELAY_MS)),
            held_tracks: Vec::new(),
        }
    }

    pub(crate) fn timeout(&self) -> Option<Millis> {
        self.open_at.filter(|_| !self.created)
    }

    /// Whether the assist channels should be created now (see the module docs).
    pub(crate) fn wants_channels(
        &mut self,
        idle: bool,
        ice: Option<IceState>,
        shows: bool,
        now: Millis,
    ) -> bool {
        if self.created {
            return false;
        }
        if self.remote_data {
            return true;
        }
        if self.open_at.is_some_and(|t| now >= t) {
            // Due: it stays wanted until the link is idle; the timer is spent either way.
            self.open_at = None;
            self.wanted = true;
        }
        if self.polite || !idle {
            return false;
        }
        self.wanted || shows || ice == Some(IceState::Connected)
    }

    /// Creates the channels; `replay` goes first on the reliable one.
    pub(crate) fn open_channels(&mut self, replay: Vec<String>) -> Vec<PeerCommand> {
        self.created = true;
        self.open_at = None;
        self.wanted = false;
        for payload in replay.into_iter().rev() {
            self.queue.push_front(payload);
        }
        while self.queue.len() > MAX_QUEUED_MESSAGES {
            self.queue.pop_back();
        }
        vec![
            PeerCommand::OpenChannel(ChannelSpec::of(Channel::Reliable)),
            PeerCommand::OpenChannel(ChannelSpec::of(Channel::Cursor)),
        ]
    }

    /// An assist message to send on this link.
    pub(crate) fn outgoing(&mut self, channel: Channel, payload: &str) -> Outgoing {
        if self.created && self.open[index(channel)] {
            return Outgoing::Send;
        }
        match channel {
            Channel::Cursor => {
                self.cursor = Some(payload.to_owned());
                self.wanted = true;
                Outgoing::Held
            }
            // Before the channels exist, the replay made when they are created carries it.
            Channel::Reliable if !self.created => {
                self.wanted = true;
                Outgoing::Held
            }
            Channel::Reliable => {
                self.queue.push_back(payload.to_owned());
                if self.queue.len() > MAX_QUEUED_MESSAGES {
                    self.queue.pop_front();
                    return Outgoing::Dropped;
                }
                Outgoing::Held
            }
        }
    }

    /// A channel opened: what waited for it, in order.
    pub(crate) fn channel_opened(&mut self, channel: Channel) -> Vec<(Channel, String)> {
        if !self.created {
            return Vec::new();
        }
        self.open[index(channel)] = true;
        match channel {
            Channel::Reliable => self
                .queue
                .drain(..)
                .map(|p| (Channel::Reliable, p))
                .collect(),
            Channel::Cursor => self
                .cursor
                .take()
                .map(|p| (Channel::Cursor, p))
                .into_iter()
                .collect(),
        }
    }

    pub(crate) fn channel_closed(&mut self, channel: Channel) {
        self.open[index(channel)] = false;
    }

    /// A remote description of `kind` goes to the platform.
    pub(crate) fn remote_pending(&mut self, kind: SdpKind, data: bool) {
        self.applying.push_back((kind, data));
    }

    /// The platform applied the oldest remote description it was given.
    pub(crate) fn remote_applied(&mut self) {
        let Some((kind, data)) = self.applying.pop_front() else {
            return;
        };
        if data {
            self.remote_data = true;
            if kind == SdpKind::Answer && self.created {
                self.committed = true;
            }
        }
    }

    /// A platform operation failed: the descriptions in flight will not be applied.
    pub(crate) fn operation_failed(&mut self) {
        self.applying.clear();
    }

    /// The platform set a local description.
    pub(crate) fn local_set(&mut self, kind: SdpKind) {
        if kind == SdpKind::Answer && self.created && self.remote_data {
            self.committed = true;
        }
    }

    /// The local description was rolled back: channels whose data section was not yet agreed
    /// are closed, and the impolite side creates them again for its next offer.
    pub(crate) fn rolled_back(&mut self) -> Vec<PeerCommand> {
        self.applying.clear();
        if !self.created || self.committed {
            return Vec::new();
        }
        self.created = false;
        self.open = [false; 2];
        let mut commands = vec![PeerCommand::CloseChannels];
        if self.remote_data || self.polite {
            // Channels we made for their data section; they come back with its next offer.
            self.remote_data = false;
        } else {
            commands.extend(self.open_channels(Vec::new()));
        }
        commands
    }

    pub(crate) fn hold_track(&mut self, track: String, stream: Option<String>) {
        if self.held_tracks.len() == MAX_HELD_TRACKS {
            self.held_tracks.remove(0);
        }
        self.held_tracks.push((track, stream));
    }

    /// Takes the held tracks of media stream `stream`.
    pub(crate) fn take_tracks(&mut self, stream: Option<&str>) -> Vec<(String, Option<String>)> {
        let Some(stream) = stream else {
            return Vec::new();
        };
        let mut taken = Vec::new();
        self.held_tracks.retain(|(t, s)| {
            let hit = s.as_deref() == Some(stream);
            if hit {
                taken.push((t.clone(), s.clone()));
            }
            !hit
        });
        taken
    }
}

fn index(channel: Channel) -> usize {
    match channel {
        Channel::Reliable => 0,
        Channel::Cursor => 1,
    }
}
