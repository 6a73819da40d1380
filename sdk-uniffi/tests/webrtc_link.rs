//! Two webrtc-rs links in one process on loopback, signaled by hand: descriptions and
//! candidates are forwarded the way the core would (candidates held until the receiving side
//! has a remote description). Every wait is bounded.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use assistrtc_core::assist::Channel;
use assistrtc_core::protocol::{IceCandidate, MemberId, Source};
use assistrtc_core::session::{
    ChannelSpec, IceState, LinkId, LinkTarget, PeerCommand, PeerEvent, SdpKind,
};
use assistrtc_uniffi::WebrtcBackend;
use assistrtc_uniffi::link::{LinkReport, PeerBackend, PeerLink, RemoteTrack, Report};
use tokio::sync::mpsc::{self, UnboundedReceiver};

const A: usize = 0;
const B: usize = 1;
const NAMES: [&str; 2] = ["A", "B"];

struct Side {
    backend: WebrtcBackend,
    link: Option<Box<dyn PeerLink>>,
    reports: UnboundedReceiver<Report>,
    /// A remote description is applied: candidates can be added.
    remote_set: bool,
    /// Candidates for this side, held until `remote_set`.
    held: Vec<IceCandidate>,
    tracks: Vec<RemoteTrack>,
}

impl Side {
    fn new(name: &str, generation: u32) -> Self {
        let backend = WebrtcBackend::with_udp_addrs(vec!["127.0.0.1:0".to_owned()]);
        let (tx, reports) = mpsc::unbounded_channel();
        let link = LinkId {
            target: LinkTarget::Member(MemberId::new(name).unwrap()),
            generation,
        };
        let link = backend.create(link, name == "b", &[], tx).unwrap();
        Self {
            backend,
            link: Some(link),
            reports,
            remote_set: false,
            held: Vec::new(),
            tracks: Vec::new(),
        }
    }

    fn run(&self, command: PeerCommand) {
        self.link.as_ref().expect("link dropped").command(command);
    }
}

/// Both sides and the hand-played signaling.
struct Pair {
    sides: [Side; 2],
    /// Forward descriptions to the other side (offer → set + answer, answer → set).
    forward: bool,
    /// Descriptions not forwarded, per side that made them.
    descriptions: [Vec<(SdpKind, String)>; 2],
    /// Everything reported, in order.
    log: Vec<(usize, PeerEvent)>,
    started: Instant,
}

impl Pair {
    fn new() -> Self {
        Self {
            sides: [Side::new("a", 1), Side::new("b", 1)],
            forward: true,
            descriptions: [Vec::new(), Vec::new()],
            log: Vec::new(),
            started: Instant::now(),
        }
    }

    fn run(&self, side: usize, command: PeerCommand) {
        self.sides[side].run(command);
    }

    fn open_channels(&self, side: usize) {
        for channel in [Channel::Reliable, Channel::Cursor] {
            self.run(side, PeerCommand::OpenChannel(ChannelSpec::of(channel)));
        }
    }

    /// Handles reports until `done` says so, or panics after `limit`.
    async fn until(
        &mut self,
        what: &str,
        limit: Duration,
        mut done: impl FnMut(usize, &PeerEvent) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let [a, b] = &mut self.sides;
            let next = tokio::time::timeout_at(deadline, async {
                tokio::select! {
                    r = a.reports.recv() => (A, r),
                    r = b.reports.recv() => (B, r),
                }
            })
            .await;
            let Ok((side, report)) = next else {
                panic!(
                    "timed out after {limit:?} waiting for {what}; reports: {:#?}",
                    self.log
                );
            };
            let Some(report) = report else {
                panic!("{} ended its reports while waiting for {what}", NAMES[side]);
            };
            let event = match report.report {
                LinkReport::Track(track) => {
                    self.sides[side].tracks.push(track);
                    continue;
                }
                LinkReport::Peer(event) => event,
            };
            self.handle(side, &event);
            if std::env::var_os("LINK_TRACE").is_some() {
                let text = format!("{event:?}");
                println!(
                    "{:>8.1?} {} {}",
                    self.started.elapsed(),
                    NAMES[side],
                    &text[..text.len().min(160)]
                );
            }
            let finished = done(side, &event);
            self.log.push((side, event));
            if finished {
                return;
            }
        }
    }

    fn handle(&mut self, side: usize, event: &PeerEvent) {
        let other = 1 - side;
        match event {
            PeerEvent::LocalCandidate(c) => {
                if self.sides[other].remote_set {
                    self.run(other, PeerCommand::AddIceCandidate(c.clone()));
                } else {
                    self.sides[other].held.push(c.clone());
                }
            }
            PeerEvent::RemoteDescriptionApplied => {
                self.sides[side].remote_set = true;
                for c in std::mem::take(&mut self.sides[side].held) {
                    self.run(side, PeerCommand::AddIceCandidate(c));
                }
            }
            PeerEvent::LocalDescription { kind, sdp } if self.forward => {
                self.run(
                    other,
                    PeerCommand::SetRemoteDescription {
                        kind: *kind,
                        sdp: sdp.clone(),
                    },
                );
                if *kind == SdpKind::Offer {
                    self.run(other, PeerCommand::CreateAnswer);
                }
            }
            PeerEvent::LocalDescription { kind, sdp } => {
                self.descriptions[side].push((*kind, sdp.clone()));
            }
            PeerEvent::OperationFailed { reason } => {
                panic!("{} failed: {reason}", NAMES[side]);
            }
            _ => {}
        }
    }

    /// Waits until both sides are connected and both channels are open on both sides.
    async fn until_connected_with_channels(&mut self, what: &str) {
        let mut connected = [false; 2];
        let mut open = [[false; 2]; 2];
        self.until(what, Duration::from_secs(20), |side, event| {
            match event {
                PeerEvent::IceStateChanged(state) => {
                    connected[side] = *state == IceState::Connected
                }
                PeerEvent::ChannelOpened(c) => open[side][index(*c)] = true,
                _ => {}
            }
            connected == [true; 2] && open == [[true; 2]; 2]
        })
        .await;
    }

    /// Sends `count` messages each way on the reliable channel; all arrive, in order.
    async fn exchange(&mut self, tag: &str, count: usize) {
        for side in [A, B] {
            for i in 0..count {
                self.run(
                    side,
                    PeerCommand::SendData {
                        channel: Channel::Reliable,
                        payload: format!("{tag}-{}-{i}", NAMES[side]),
                    },
                );
            }
        }
        let mut got: [Vec<String>; 2] = [Vec::new(), Vec::new()];
        self.until("the messages", Duration::from_secs(10), |side, event| {
            if let PeerEvent::Message { channel, text } = event {
                assert_eq!(*channel, Channel::Reliable);
                got[side].push(text.clone());
            }
            got[A].len() >= count && got[B].len() >= count
        })
        .await;
        for side in [A, B] {
            let sender = NAMES[1 - side];
            let expected: Vec<String> = (0..count).map(|i| format!("{tag}-{sender}-{i}")).collect();
            assert_eq!(got[side], expected, "{} received", NAMES[side]);
        }
    }

    fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// The first offer side A made in `log`.
fn offer_of_a(log: &[(usize, PeerEvent)]) -> String {
    log.iter()
        .find_map(|(side, e)| match e {
            PeerEvent::LocalDescription {
                kind: SdpKind::Offer,
                sdp,
            } if *side == A => Some(sdp.clone()),
            _ => None,
        })
        .expect("side A made an offer")
}

fn index(channel: Channel) -> usize {
    match channel {
        Channel::Reliable => 0,
        Channel::Cursor => 1,
    }
}

/// A 2 s, 15 fps VP8 test pattern, made once per test run.
fn test_pattern() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let path =
            std::env::temp_dir().join(format!("assistrtc-pattern-{}.ivf", std::process::id()));
        let status = Command::new("ffmpeg")
            .args(["-y", "-loglevel", "error", "-f", "lavfi", "-i"])
            .arg("testsrc=size=320x240:rate=15")
            .args(["-t", "2", "-c:v", "libvpx", "-b:v", "200k"])
            .arg(&path)
            .status()
            .expect("ffmpeg is installed");
        assert!(status.success(), "ffmpeg failed");
        path
    })
    .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offer_answer_connects_and_carries_messages_both_ways() {
    let mut pair = Pair::new();
    pair.open_channels(A);
    pair.open_channels(B);
    pair.run(A, PeerCommand::CreateOffer { ice_restart: false });
    pair.until_connected_with_channels("connected with channels")
        .await;
    let connected = pair.elapsed();
    pair.exchange("hello", 50).await;
    println!(
        "connected with channels in {connected:?}, 100 messages by {:?}",
        pair.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_vp8_source_reaches_the_other_side() {
    let mut pair = Pair::new();
    let track = pair.sides[A].backend.publish(Source::Camera, "cam-stream");
    let _playback = assistrtc_uniffi::play_ivf(track.clone(), &test_pattern(), true).unwrap();
    pair.run(A, PeerCommand::AddSource(Source::Camera));
    pair.open_channels(A);
    pair.open_channels(B);
    pair.run(A, PeerCommand::CreateOffer { ice_restart: false });
    let mut added = None;
    pair.until(
        "the remote track",
        Duration::from_secs(20),
        |side, event| {
            if let PeerEvent::TrackAdded { track, stream } = event {
                assert_eq!(side, B);
                added = Some((track.clone(), stream.clone()));
            }
            added.is_some()
        },
    )
    .await;
    let (id, stream) = added.unwrap();
    assert_eq!(stream.as_deref(), Some("cam-stream"));
    assert_eq!(id, track.track_id());
    let remote = pair.sides[B]
        .tracks
        .pop()
        .expect("a Track report before TrackAdded");
    assert_eq!(remote.id, id);
    assert_eq!(remote.kind, "video");
    let deadline = Instant::now() + Duration::from_secs(10);
    while remote.counters.frames.load(Ordering::Relaxed) <= 10 {
        assert!(Instant::now() < deadline, "frames: {:?}", remote.counters);
        // Keep handling reports (candidates) while media flows.
        let _ = tokio::time::timeout(
            Duration::from_millis(100),
            pair.until("nothing", Duration::from_secs(3600), |_, _| true),
        )
        .await;
    }
    println!(
        "track after {:?}: {} frames, {} packets, {} bytes",
        pair.elapsed(),
        remote.counters.frames.load(Ordering::Relaxed),
        remote.counters.packets.load(Ordering::Relaxed),
        remote.counters.bytes.load(Ordering::Relaxed),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polite_side_rolls_back_its_offer_in_a_glare() {
    let mut pair = Pair::new();
    pair.forward = false;
    // Both offer at once, with channels made for their own offers.
    pair.open_channels(A);
    pair.run(A, PeerCommand::CreateOffer { ice_restart: false });
    pair.open_channels(B);
    pair.run(B, PeerCommand::CreateOffer { ice_restart: false });
    let mut offers = [false; 2];
    pair.until("both offers", Duration::from_secs(5), |side, event| {
        if let PeerEvent::LocalDescription { kind, .. } = event {
            assert_eq!(*kind, SdpKind::Offer);
            offers[side] = true;
        }
        offers == [true; 2]
    })
    .await;
    // A is polite: it drops its offer (and the channels made for it, as the core does) and
    // answers B's.
    let (_, offer_b) = pair.descriptions[B].pop().unwrap();
    pair.run(A, PeerCommand::Rollback);
    pair.run(A, PeerCommand::CloseChannels);
    pair.run(
        A,
        PeerCommand::SetRemoteDescription {
            kind: SdpKind::Offer,
            sdp: offer_b,
        },
    );
    pair.open_channels(A);
    pair.run(A, PeerCommand::CreateAnswer);
    pair.until("A's answer", Duration::from_secs(5), |side, event| {
        side == A && matches!(event, PeerEvent::LocalDescription { .. })
    })
    .await;
    let (kind, answer) = pair.descriptions[A].pop().unwrap();
    assert_eq!(kind, SdpKind::Answer);
    pair.run(
        B,
        PeerCommand::SetRemoteDescription {
            kind: SdpKind::Answer,
            sdp: answer,
        },
    );
    pair.forward = true;
    pair.until_connected_with_channels("connected after the rollback")
        .await;
    pair.exchange("after-glare", 10).await;
    println!(
        "glare resolved, connected and exchanged by {:?}",
        pair.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ice_restart_renegotiates_and_stays_connected() {
    let mut pair = Pair::new();
    pair.open_channels(A);
    pair.open_channels(B);
    pair.run(A, PeerCommand::CreateOffer { ice_restart: false });
    pair.until_connected_with_channels("connected").await;
    let first = pair.log.len();
    let restart_at = pair.elapsed();
    pair.run(A, PeerCommand::CreateOffer { ice_restart: true });
    let mut answered = false;
    pair.until(
        "the restart answer",
        Duration::from_secs(10),
        |side, event| {
            answered |= side == A && *event == PeerEvent::RemoteDescriptionApplied;
            answered
        },
    )
    .await;
    let offer = offer_of_a(&pair.log[first..]);
    let ufrag = |sdp: &str| {
        sdp.lines()
            .find(|l| l.starts_with("a=ice-ufrag:"))
            .map(str::to_owned)
    };
    let first_offer = offer_of_a(&pair.log[..first]);
    assert_ne!(
        ufrag(&offer),
        ufrag(&first_offer),
        "a restart offer has new credentials"
    );
    // Whatever ICE went through, it is connected afterwards and the channels still work.
    pair.exchange("after-restart", 10).await;
    let states: Vec<_> = pair.log[first..]
        .iter()
        .filter_map(|(side, e)| match e {
            PeerEvent::IceStateChanged(s) => Some((NAMES[*side], *s)),
            _ => None,
        })
        .collect();
    assert!(
        !states
            .iter()
            .any(|(_, s)| matches!(s, IceState::Failed | IceState::Closed)),
        "{states:?}"
    );
    println!(
        "restart at {restart_at:?}, messages after it by {:?}; ICE states after: {states:?}",
        pair.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_close_and_reopen_on_a_live_association() {
    let mut pair = Pair::new();
    pair.open_channels(A);
    pair.open_channels(B);
    pair.run(A, PeerCommand::CreateOffer { ice_restart: false });
    pair.until_connected_with_channels("connected").await;
    pair.exchange("before", 5).await;
    let reopen_at = pair.elapsed();
    // A closes and re-creates its channels; its `OpenChannel`s wait until the old streams are
    // reset. B sees the close, forgets its channels and re-creates them too.
    pair.run(A, PeerCommand::CloseChannels);
    pair.open_channels(A);
    let mut open = [[true; 2]; 2];
    let mut b_closed = [false; 2];
    pair.until(
        "B sees the close",
        Duration::from_secs(10),
        |side, event| {
            match event {
                PeerEvent::ChannelOpened(c) => open[side][index(*c)] = true,
                PeerEvent::ChannelClosed(c) => {
                    assert_eq!(side, B, "A forgot its channels: no close is reported");
                    b_closed[index(*c)] = true;
                    open[side][index(*c)] = false;
                }
                _ => {}
            }
            b_closed == [true; 2]
        },
    )
    .await;
    pair.run(B, PeerCommand::CloseChannels);
    pair.open_channels(B);
    pair.until(
        "the channels again",
        Duration::from_secs(15),
        |side, event| {
            match event {
                PeerEvent::ChannelOpened(c) => open[side][index(*c)] = true,
                PeerEvent::ChannelClosed(c) => panic!("{} closed {c:?} again", NAMES[side]),
                _ => {}
            }
            open == [[true; 2]; 2]
        },
    )
    .await;
    let reopened = pair.elapsed();
    pair.exchange("after", 5).await;
    println!("reopened in {:?}", reopened - reopen_at);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_link_ends_its_task() {
    let mut pair = Pair::new();
    pair.open_channels(A);
    pair.open_channels(B);
    pair.run(A, PeerCommand::CreateOffer { ice_restart: false });
    pair.until_connected_with_channels("connected").await;
    let dropped_at = Instant::now();
    pair.sides[A].link = None;
    // A's task ends: every sender of its reports is gone, with no report before that.
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        let mut late = Vec::new();
        while let Some(report) = pair.sides[A].reports.recv().await {
            late.push(report);
        }
        late
    })
    .await
    .expect("A's reports end after the drop");
    let late: Vec<_> = end.into_iter().map(|r| format!("{:?}", r.report)).collect();
    assert!(late.is_empty(), "reports after the drop: {late:?}");
    let task_ended = dropped_at.elapsed();
    // B notices.
    let mut seen = None;
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(report) = pair.sides[B].reports.recv().await {
            if let LinkReport::Peer(
                e @ (PeerEvent::ChannelClosed(_)
                | PeerEvent::IceStateChanged(
                    IceState::Disconnected | IceState::Failed | IceState::Closed,
                )),
            ) = report.report
            {
                seen = Some(e);
                return;
            }
        }
    })
    .await
    .expect("B notices the closed link");
    println!(
        "A's task ended {task_ended:?} after the drop; B saw {seen:?} after {:?}",
        dropped_at.elapsed()
    );
}
