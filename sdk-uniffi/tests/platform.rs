//! A client on "the app's own WebRTC" (`AssistClient::with_platform`) in a real call with a
//! client on the built-in media, through the real server on loopback. The "platform" here is a
//! Rust implementation of the foreign traits that runs each `LinkCommand` on a webrtc-rs link
//! and reports back through `PeerEvents`, exactly as a Swift or Kotlin app would over Google's
//! WebRTC: so the commands, events and channel ids cross the same API an app implements.

use std::sync::{Arc, Mutex};

use assistrtc_core::assist::Channel;
use assistrtc_core::protocol::{IceCandidate, MemberId};
use assistrtc_core::session::{IceState, LinkId, LinkTarget, PeerCommand, PeerEvent, SdpKind};
use assistrtc_uniffi::WebrtcBackend;
use assistrtc_uniffi::api::{AssistClient, AssistError, CallEvent, ConnectOptions, Rect};
use assistrtc_uniffi::link::{LinkReport, PeerBackend, PeerLink};
use assistrtc_uniffi::platform::{
    IceServerConfig, LinkCommand, LinkEvent, PeerConnection, PeerConnectionFactory, PeerEvents,
    SdpType,
};

mod common;
use common::{Events, start_server, tokens, until};

/// The "app's WebRTC": webrtc-rs links behind the foreign traits.
struct Platform {
    backend: WebrtcBackend,
    commands: Arc<Mutex<Vec<String>>>,
}

struct Connection {
    link: Mutex<Box<dyn PeerLink>>,
    commands: Arc<Mutex<Vec<String>>>,
}

impl PeerConnectionFactory for Platform {
    fn create(
        &self,
        polite: bool,
        _ice_servers: Vec<IceServerConfig>,
        events: Arc<PeerEvents>,
    ) -> Result<Arc<dyn PeerConnection>, AssistError> {
        let (tx, mut reports) = tokio::sync::mpsc::unbounded_channel();
        let id = LinkId {
            target: LinkTarget::Member(MemberId::new("platform").unwrap()),
            generation: 1,
        };
        let link = self
            .backend
            .create(id, polite, &[], tx)
            .map_err(|e| AssistError::Failed {
                code: "internal".into(),
                detail: e,
            })?;
        // The platform's callbacks, reported in the app's own vocabulary.
        tokio::spawn(async move {
            while let Some(report) = reports.recv().await {
                if let LinkReport::Peer(event) = report.report {
                    events.report(to_link_event(event));
                }
            }
        });
        Ok(Arc::new(Connection {
            link: Mutex::new(link),
            commands: self.commands.clone(),
        }))
    }
}

#[async_trait::async_trait]
impl PeerConnection for Connection {
    async fn run(&self, command: LinkCommand) {
        self.commands.lock().unwrap().push(
            format!("{command:?}")
                .split([' ', '{'])
                .next()
                .unwrap()
                .to_owned(),
        );
        self.link.lock().unwrap().command(to_peer_command(command));
    }
}

fn channel(id: u16) -> Channel {
    if id == 0 {
        Channel::Reliable
    } else {
        Channel::Cursor
    }
}

fn to_peer_command(command: LinkCommand) -> PeerCommand {
    match command {
        LinkCommand::CreateOffer { ice_restart } => PeerCommand::CreateOffer { ice_restart },
        LinkCommand::CreateAnswer => PeerCommand::CreateAnswer,
        LinkCommand::Rollback => PeerCommand::Rollback,
        LinkCommand::SetRemoteDescription { kind, sdp } => PeerCommand::SetRemoteDescription {
            kind: match kind {
                SdpType::Offer => SdpKind::Offer,
                SdpType::Answer => SdpKind::Answer,
            },
            sdp,
        },
        LinkCommand::AddIceCandidate {
            candidate,
            sdp_mid,
            sdp_m_line_index,
        } => PeerCommand::AddIceCandidate(IceCandidate {
            candidate,
            sdp_mid,
            sdp_m_line_index,
        }),
        LinkCommand::AddSource { source } => PeerCommand::AddSource(source.into()),
        LinkCommand::RemoveSource { source } => PeerCommand::RemoveSource(source.into()),
        LinkCommand::OpenChannel { id, .. } => {
            PeerCommand::OpenChannel(assistrtc_core::session::ChannelSpec::of(channel(id)))
        }
        LinkCommand::CloseChannels => PeerCommand::CloseChannels,
        LinkCommand::SendData { id, text } => PeerCommand::SendData {
            channel: channel(id),
            payload: text,
        },
        LinkCommand::Close => PeerCommand::Close,
    }
}

fn to_link_event(event: PeerEvent) -> LinkEvent {
    let id = |c: Channel| if c == Channel::Reliable { 0 } else { 1 };
    match event {
        PeerEvent::NegotiationNeeded => LinkEvent::NegotiationNeeded,
        PeerEvent::LocalDescription { kind, sdp } => LinkEvent::LocalDescription {
            kind: match kind {
                SdpKind::Offer => SdpType::Offer,
                SdpKind::Answer => SdpType::Answer,
            },
            sdp,
        },
        PeerEvent::RemoteDescriptionApplied => LinkEvent::RemoteDescriptionApplied,
        PeerEvent::LocalCandidate(c) => LinkEvent::LocalCandidate {
            candidate: c.candidate,
            sdp_mid: c.sdp_mid,
            sdp_m_line_index: c.sdp_m_line_index,
        },
        PeerEvent::IceStateChanged(s) => LinkEvent::IceStateChanged {
            state: match s {
                IceState::New => "new",
                IceState::Checking => "checking",
                IceState::Connected => "connected",
                IceState::Disconnected => "disconnected",
                IceState::Failed => "failed",
                IceState::Closed => "closed",
            }
            .into(),
        },
        PeerEvent::OperationFailed { reason } | PeerEvent::CreateFailed { reason } => {
            LinkEvent::OperationFailed { reason }
        }
        PeerEvent::ChannelOpened(c) => LinkEvent::ChannelOpened { id: id(c) },
        PeerEvent::ChannelClosed(c) => LinkEvent::ChannelClosed { id: id(c) },
        PeerEvent::Message { channel, text } => LinkEvent::Message {
            id: id(channel),
            text,
        },
        PeerEvent::TrackAdded { track, stream } => LinkEvent::TrackAdded { track, stream },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_webrtc_client_calls_a_built_in_one_and_assist_flows() {
    let server = start_server().await;
    let base = format!("http://{}", server.local_addr());
    let (agent_token, customer_token) = tokens(&base, "rm_platform", r#"{"screen":true}"#).await;
    let commands = Arc::new(Mutex::new(Vec::new()));
    let platform = Arc::new(Platform {
        backend: WebrtcBackend::new(),
        commands: commands.clone(),
    });
    let options = |token: String| ConnectOptions {
        url: base.clone(),
        token,
        notice_acknowledged: true,
    };
    let agent = AssistClient::with_platform(options(agent_token), platform).unwrap();
    let customer = AssistClient::new(options(customer_token)).unwrap();
    let seen = Arc::new(Events::default());
    let _observing = customer.set_observer(seen.clone()).unwrap();
    agent.connect().await.unwrap();
    customer.connect().await.unwrap();

    // Only the media side of a platform client is the app's: publishing a file needs the
    // built-in media.
    let refused = agent
        .publish_ivf(assistrtc_uniffi::api::Source::Camera, "x.ivf".into())
        .await
        .unwrap_err();
    assert!(matches!(refused, AssistError::Failed { code, .. } if code == "conflict"));

    // The agent draws on links the "platform" runs: the channels opened there.
    let rect = Rect {
        x: 0.1,
        y: 0.2,
        w: 0.3,
        h: 0.4,
    };
    let id = agent.highlight(rect, "#00aa00".into(), 0, 0).await.unwrap();
    let shape = until(
        "the customer shows the platform client's highlight",
        async || {
            customer
                .overlay()
                .await
                .shapes
                .into_iter()
                .find(|s| s.id == id)
        },
    )
    .await;
    assert_eq!(shape.member, "agent_1");
    assert_eq!(shape.rect, Some(rect));
    assert!(
        seen.0
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, CallEvent::OverlayChanged { .. }))
    );
    // The platform ran the negotiation the SDK asked for, one command at a time.
    let ran = commands.lock().unwrap().clone();
    for expected in ["SetRemoteDescription", "OpenChannel", "SendData"] {
        assert!(
            ran.iter().any(|c| c == expected),
            "{expected} not run: {ran:?}"
        );
    }

    agent.leave().await;
    until("the customer sees the agent leave", async || {
        seen.0
            .lock()
            .unwrap()
            .iter()
            .find(|e| matches!(e, CallEvent::MemberLeft { member, reason } if member == "agent_1" && reason == "left"))
            .cloned()
    })
    .await;
    customer.leave().await;
    tokio::time::timeout(common::WAIT, server.shutdown())
        .await
        .expect("server stops in time")
        .expect("server stops");
}
