//! The baseline: two webrtc-rs peer connections in this process on 127.0.0.1, built like the
//! SDK's links (default codecs and interceptors), with the SDK's two negotiated channels
//! (`assist`: ordered, reliable, id 0; `assist-cursor`: unordered, no retransmits, id 1),
//! signaled by hand (non-trickle: each description after gathering completed). The same wire
//! texts as the SDK's messages, sent one at a time and in a burst; no SDK in the path.
//!
//! The peers run on their own two-worker runtime, as the SDK's links run on the SDK's; the
//! bench's task sends and waits from the bench's runtime, as it does with the SDK.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceGatheringState, Registry, register_default_interceptors,
};

use crate::Options;
use crate::figures::{self, Burst, Figures, Kind, Latency, PACE};

/// Longest gathering, the channels opening, or one set-up call may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Messages sent (and awaited) before measuring.
const WARMUP: usize = 20;

/// Tells when gathering is complete.
struct Handler {
    gathered: watch::Sender<bool>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(true);
        }
    }
}

struct Peer {
    pc: Arc<dyn PeerConnection>,
    gathered: watch::Receiver<bool>,
    /// `assist`, `assist-cursor`.
    channels: [Arc<dyn DataChannel>; 2],
    /// Each channel opened.
    open: [watch::Receiver<bool>; 2],
    /// Text received on either channel, stamped on arrival.
    received: mpsc::UnboundedReceiver<(Instant, String)>,
}

async fn peer() -> Result<Peer, String> {
    let mut media = MediaEngine::default();
    media
        .register_default_codecs()
        .map_err(|e| format!("codecs: {e}"))?;
    let registry = register_default_interceptors(Registry::new(), &mut media)
        .map_err(|e| format!("interceptors: {e}"))?;
    let (gathered_tx, gathered) = watch::channel(false);
    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .with_handler(Arc::new(Handler {
            gathered: gathered_tx,
        }))
        .with_udp_addrs(vec!["127.0.0.1:0".to_owned()])
        .build()
        .await
        .map_err(|e| format!("peer connection: {e}"))?;
    let pc: Arc<dyn PeerConnection> = Arc::new(pc);
    let (tx, received) = mpsc::unbounded_channel();
    let mut channels = Vec::new();
    let mut open = Vec::new();
    for (id, label, ordered, max_retransmits) in [
        (0, "assist", true, None),
        (1, "assist-cursor", false, Some(0)),
    ] {
        let init = RTCDataChannelInit {
            ordered,
            max_retransmits,
            negotiated: Some(id),
            ..Default::default()
        };
        let dc = pc
            .create_data_channel(label, Some(init))
            .await
            .map_err(|e| format!("channel {label}: {e}"))?;
        let (open_tx, open_rx) = watch::channel(false);
        tokio::spawn(drain(dc.clone(), open_tx, tx.clone()));
        channels.push(dc);
        open.push(open_rx);
    }
    let channels: [Arc<dyn DataChannel>; 2] = channels.try_into().ok().expect("two channels");
    let open: [watch::Receiver<bool>; 2] = open.try_into().expect("two channels");
    Ok(Peer {
        pc,
        gathered,
        channels,
        open,
        received,
    })
}

/// Drains one channel's events: tells when it opens, hands on what arrives.
async fn drain(
    dc: Arc<dyn DataChannel>,
    open: watch::Sender<bool>,
    received: mpsc::UnboundedSender<(Instant, String)>,
) {
    while let Some(event) = dc.poll().await {
        match event {
            DataChannelEvent::OnOpen => {
                let _ = open.send(true);
            }
            DataChannelEvent::OnMessage(message) => {
                let at = Instant::now();
                let text = String::from_utf8(message.data.to_vec()).unwrap_or_default();
                let _ = received.send((at, text));
            }
            DataChannelEvent::OnClose => break,
            _ => {}
        }
    }
}

async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> Result<T, String> {
    tokio::time::timeout(SETUP_TIMEOUT, fut)
        .await
        .map_err(|_| format!("plain pair: {what} took over {SETUP_TIMEOUT:?}"))
}

async fn local_description_when_gathered(p: &mut Peer) -> Result<String, String> {
    bounded("gathering", p.gathered.wait_for(|g| *g))
        .await?
        .map_err(|_| "gathering: handler gone".to_owned())?;
    p.pc.local_description()
        .await
        .map(|d| d.sdp)
        .ok_or_else(|| "no local description".to_owned())
}

/// Waits for `text` on `p` (skipping anything else), up to `wait`.
async fn receive(p: &mut Peer, text: &str, wait: Duration) -> Option<Instant> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, p.received.recv()).await {
            Ok(Some((at, got))) if got == text => return Some(at),
            Ok(Some(_)) => {}
            _ => return None,
        }
    }
}

pub(crate) async fn run(options: &Options) -> Result<Figures, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("plain")
        .enable_all()
        .build()
        .map_err(|e| format!("plain pair: runtime: {e}"))?;
    let result = measure(options, runtime.handle()).await;
    runtime.shutdown_background();
    result
}

async fn measure(options: &Options, runtime: &tokio::runtime::Handle) -> Result<Figures, String> {
    use webrtc::peer_connection::RTCSessionDescription;

    let mut figures = Figures::default();
    let started = Instant::now();
    // Built on the plain runtime: the connections' drivers and the channel readers run there.
    let mut a = runtime
        .spawn(peer())
        .await
        .map_err(|e| format!("plain pair: {e}"))??;
    let mut b = runtime
        .spawn(peer())
        .await
        .map_err(|e| format!("plain pair: {e}"))??;
    let offer = bounded("createOffer", a.pc.create_offer(None))
        .await?
        .map_err(|e| format!("createOffer: {e}"))?;
    bounded("setLocalDescription", a.pc.set_local_description(offer))
        .await?
        .map_err(|e| format!("setLocalDescription: {e}"))?;
    let offer = local_description_when_gathered(&mut a).await?;
    let offer = RTCSessionDescription::offer(offer).map_err(|e| format!("offer: {e}"))?;
    bounded("setRemoteDescription", b.pc.set_remote_description(offer))
        .await?
        .map_err(|e| format!("setRemoteDescription: {e}"))?;
    let answer = bounded("createAnswer", b.pc.create_answer(None))
        .await?
        .map_err(|e| format!("createAnswer: {e}"))?;
    bounded("setLocalDescription", b.pc.set_local_description(answer))
        .await?
        .map_err(|e| format!("setLocalDescription: {e}"))?;
    let answer = local_description_when_gathered(&mut b).await?;
    let answer = RTCSessionDescription::answer(answer).map_err(|e| format!("answer: {e}"))?;
    bounded("setRemoteDescription", a.pc.set_remote_description(answer))
        .await?
        .map_err(|e| format!("setRemoteDescription: {e}"))?;
    for p in [&mut a, &mut b] {
        for open in &mut p.open {
            bounded("the channels opening", open.wait_for(|o| *o))
                .await?
                .map_err(|_| "a channel closed before it opened".to_owned())?;
        }
    }
    figures
        .setup
        .push(("both channels open on both sides", started.elapsed()));

    for i in 0..WARMUP {
        let text = figures::wire_text(Kind::Step, i, WARMUP);
        send(&a, 0, &text).await?;
        receive(&mut b, &text, SETUP_TIMEOUT)
            .await
            .ok_or("plain pair: a warm-up message never arrived")?;
    }

    figures.latency = latency(options, &a, &mut b).await?;
    figures
        .bursts
        .push(("plain", burst(options, &a, &mut b).await?));

    for p in [&a, &b] {
        let _ = tokio::time::timeout(Duration::from_secs(5), p.pc.close()).await;
    }
    Ok(figures)
}

async fn send(p: &Peer, channel: usize, text: &str) -> Result<(), String> {
    p.channels[channel]
        .send_text(text)
        .await
        .map_err(|e| format!("plain pair: send: {e}"))
}

async fn latency(
    options: &Options,
    a: &Peer,
    b: &mut Peer,
) -> Result<Vec<(Kind, Latency)>, String> {
    let n = options.count;
    let mut out = Vec::new();
    for kind in Kind::ALL {
        let mut l = Latency::default();
        let channel = usize::from(kind == Kind::Pointer);
        let mut next = Instant::now();
        for i in 0..n {
            let text = figures::wire_text(kind, i, n);
            l.bytes += text.len();
            tokio::time::sleep_until(next.into()).await;
            let sent = Instant::now();
            next = sent + PACE;
            send(a, channel, &text).await?;
            match receive(b, &text, options.wait).await {
                Some(at) => l.samples.push(at.saturating_duration_since(sent)),
                None => l.lost += 1,
            }
        }
        l.bytes /= n.max(1);
        out.push((kind, l));
    }
    Ok(out)
}

/// The burst, as fast as `send_text` takes it; done when the last arrives.
async fn burst(options: &Options, a: &Peer, b: &mut Peer) -> Result<Burst, String> {
    let m = options.burst;
    let texts: Vec<String> = (0..m).map(|i| figures::burst_text(i, m)).collect();
    let bytes = texts.iter().map(String::len).sum();
    let started = Instant::now();
    for text in &texts {
        send(a, 0, text).await?;
    }
    let accepted = started.elapsed();
    let deadline = tokio::time::Instant::now() + options.burst_wait;
    let mut delivered = 0;
    let mut last = None;
    let final_text = texts.last().cloned().unwrap_or_default();
    while last.is_none() {
        match tokio::time::timeout_at(deadline, b.received.recv()).await {
            Ok(Some((at, text))) => {
                delivered += 1;
                if text == final_text {
                    last = Some(at);
                }
            }
            _ => break,
        }
    }
    Ok(Burst {
        sent: m,
        delivered,
        bytes,
        elapsed: last.map_or_else(|| started.elapsed(), |at| at - started),
        accepted,
        complete: last.is_some(),
    })
}
