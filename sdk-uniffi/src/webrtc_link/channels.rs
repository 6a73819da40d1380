//! The DataChannels of one link, created as the core's `OpenChannel` says (negotiated id,
//! ordering, retransmits). One task per channel drains its events into reports.
//!
//! A negotiated id can be created again only once its SCTP stream is gone. webrtc-rs reports a
//! channel closed as soon as either side starts the stream reset (the local `close` or the
//! peer's reset request), while the reset answer is still on its way; that answer unregisters
//! whatever stream then holds the id, so a channel re-created at once is closed by it. An
//! `OpenChannel` therefore waits (bounded) for the previous channel of its id to close, then
//! [`RESET_SETTLE`] more for the reset exchange to finish.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use assistrtc_core::assist::Channel;
use assistrtc_core::session::{ChannelSpec, PeerEvent};
use tokio::sync::watch;
use webrtc::data_channel::{
    DataChannel, DataChannelEvent, RTCDataChannelInit, RTCDataChannelState,
};
use webrtc::peer_connection::PeerConnection;

use super::events::Reporter;

/// How long an `OpenChannel` waits for the previous channel of its id to close.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// How long after that close the stream reset exchange is given to finish (a round trip).
const RESET_SETTLE: Duration = Duration::from_millis(500);

/// What the channel task and the link share about one channel.
#[derive(Default)]
struct State {
    /// It opened: its SCTP stream exists until the close completes.
    opened: AtomicBool,
    /// The link forgot it: its events are no longer reported.
    detached: AtomicBool,
}

impl State {
    /// Reports the open once, whoever sees it first.
    fn report_open(&self, channel: Channel, reporter: &Reporter) {
        if !self.opened.swap(true, Ordering::AcqRel) && !self.detached.load(Ordering::Acquire) {
            reporter.peer(PeerEvent::ChannelOpened(channel));
        }
    }
}

struct Entry {
    spec: ChannelSpec,
    dc: Arc<dyn DataChannel>,
    state: Arc<State>,
    /// When the channel closed (or its event stream ended).
    closed: watch::Receiver<Option<Instant>>,
}

/// The link's channels.
#[derive(Default)]
pub(crate) struct Channels {
    open: Vec<Entry>,
    closing: Vec<Entry>,
}

impl Channels {
    /// Creates the negotiated channel of `spec`; `ChannelOpened` is reported when it opens.
    pub(crate) async fn open(
        &mut self,
        pc: &dyn PeerConnection,
        spec: ChannelSpec,
        reporter: &Reporter,
    ) -> Result<(), String> {
        self.wait_closed(spec.id).await;
        let init = RTCDataChannelInit {
            ordered: spec.ordered,
            max_retransmits: spec.max_retransmits,
            negotiated: Some(spec.id),
            ..Default::default()
        };
        let dc = pc
            .create_data_channel(spec.label, Some(init))
            .await
            .map_err(|e| format!("cannot create channel {}: {e}", spec.label))?;
        let state = Arc::new(State::default());
        // webrtc-rs fires `OnOpen` for negotiated channels when the association comes up;
        // one created on a live association is open at once and gets no event (a browser
        // fires `open` either way), so it is reported here.
        if dc.ready_state().await.ok() == Some(RTCDataChannelState::Open) {
            state.report_open(spec.channel, reporter);
        }
        let (closed_tx, closed) = watch::channel(None);
        tokio::spawn(drain(
            dc.clone(),
            spec.channel,
            state.clone(),
            reporter.clone(),
            closed_tx,
        ));
        self.open.push(Entry {
            spec,
            dc,
            state,
            closed,
        });
        Ok(())
    }

    /// Sends `text` on `channel` if it is one of ours.
    pub(crate) async fn send(&self, channel: Channel, text: &str) -> Result<(), String> {
        let Some(entry) = self.open.iter().find(|e| e.spec.channel == channel) else {
            return Err(format!("channel {} is not open", channel.label()));
        };
        entry
            .dc
            .send_text(text)
            .await
            .map_err(|e| format!("send on {} failed: {e}", channel.label()))
    }

    /// Closes and forgets every channel; their events are no longer reported.
    pub(crate) async fn close(&mut self) {
        for entry in std::mem::take(&mut self.open) {
            entry.state.detached.store(true, Ordering::Release);
            if let Err(e) = entry.dc.close().await {
                tracing::debug!("closing channel {}: {e}", entry.spec.label);
            }
            self.closing.push(entry);
        }
    }

    /// Waits (bounded) until no earlier channel holds the stream id `id`; one still listed
    /// as open (closed by the peer, or never closed) is forgotten and closed first.
    async fn wait_closed(&mut self, id: u16) {
        let (mut same, others): (Vec<Entry>, Vec<Entry>) = std::mem::take(&mut self.closing)
            .into_iter()
            .partition(|e| e.spec.id == id);
        self.closing = others;
        let (stale, open): (Vec<Entry>, Vec<Entry>) = std::mem::take(&mut self.open)
            .into_iter()
            .partition(|e| e.spec.id == id);
        self.open = open;
        for entry in stale {
            entry.state.detached.store(true, Ordering::Release);
            let _ = entry.dc.close().await;
            same.push(entry);
        }
        for mut entry in same {
            // A channel that never opened has no SCTP stream to wait for.
            if !entry.state.opened.load(Ordering::Acquire) {
                continue;
            }
            let wait = entry.closed.wait_for(Option::is_some);
            let closed_at = match tokio::time::timeout(CLOSE_WAIT, wait).await {
                Ok(Ok(at)) => *at,
                _ => {
                    tracing::warn!("channel {} did not close in time", entry.spec.label);
                    None
                }
            };
            if let Some(at) = closed_at {
                tokio::time::sleep_until((at + RESET_SETTLE).into()).await;
            }
        }
    }
}

/// Reports one channel's events until it closes.
async fn drain(
    dc: Arc<dyn DataChannel>,
    channel: Channel,
    state: Arc<State>,
    reporter: Reporter,
    closed: watch::Sender<Option<Instant>>,
) {
    let report = |event: PeerEvent| {
        if !state.detached.load(Ordering::Acquire) {
            reporter.peer(event);
        }
    };
    while let Some(event) = dc.poll().await {
        match event {
            DataChannelEvent::OnOpen => state.report_open(channel, &reporter),
            DataChannelEvent::OnMessage(message) => {
                // Binary input becomes empty text, which the core refuses with a typed error.
                let text = if message.is_string {
                    String::from_utf8(message.data.to_vec()).unwrap_or_default()
                } else {
                    String::new()
                };
                report(PeerEvent::Message { channel, text });
            }
            DataChannelEvent::OnClose => {
                report(PeerEvent::ChannelClosed(channel));
                break;
            }
            _ => {}
        }
    }
    let _ = closed.send(Some(Instant::now()));
}
