//! The call's policies, fed by hand: what a driver would see at each moment of a link's life.

use super::*;
use crate::assist::AssistMessage;
use crate::permissions::Capabilities;
use crate::protocol::{
    MemberInfo, Permissions, Published, Role, RoomId, ServerMessage, encode_server,
};
use crate::session::{IceState, LinkTarget, SdpKind};

fn id(s: &str) -> MemberId {
    MemberId::new(s).unwrap()
}

fn welcome(
    me: &str,
    role: Role,
    other: &str,
    other_role: Role,
    published: Vec<Published>,
) -> String {
    let permissions = Permissions::default();
    encode_server(&ServerMessage::Welcome {
        session_id: "s_1".into(),
        member: MemberInfo {
            id: id(me),
            role,
            published: vec![],
            diagnostics: None,
            recording_consent: false,
        },
        room: RoomId::new("rm_1").unwrap(),
        members: vec![MemberInfo {
            id: id(other),
            role: other_role,
            published,
            diagnostics: None,
            recording_consent: false,
        }],
        permissions,
        capabilities: Capabilities::for_role(role, permissions),
        ice_servers: vec![],
        resume_token: "rt".into(),
        resumed: false,
    })
}

struct Fixture {
    call: Call,
    link: LinkId,
    out: Vec<Output>,
}

/// `me` joined with `other` present; the link to `other` exists. `agent_1` < `user_9`, so the
/// agent is the polite side.
fn joined(me: &str, role: Role, other: &str, other_role: Role) -> Fixture {
    let mut call = Call::new(CallConfig::new("tok"));
    call.acknowledge_notice();
    call.join(Millis(0)).unwrap();
    call.handle_input(Input::TransportOpened, Millis(1))
        .unwrap();
    let frame = welcome(me, role, other, other_role, vec![]);
    call.handle_input(Input::Frame(frame), Millis(2)).unwrap();
    let out: Vec<Output> = std::iter::from_fn(|| call.poll_output()).collect();
    let link = LinkId {
        target: LinkTarget::Member(id(other)),
        generation: 1,
    };
    assert!(out.iter().any(
        |o| matches!(o, Output::Peer { link: l, command: PeerCommand::Create { .. } } if *l == link)
    ));
    Fixture { call, link, out }
}

fn agent() -> Fixture {
    joined("agent_1", Role::Host, "user_9", Role::Guest)
}

fn customer() -> Fixture {
    joined("user_9", Role::Guest, "agent_1", Role::Host)
}

impl Fixture {
    fn peer(&mut self, event: PeerEvent, now: u64) {
        let link = self.link.clone();
        self.call
            .handle_input(Input::Peer { link, event }, Millis(now))
            .unwrap();
        self.drain();
    }

    fn drain(&mut self) {
        self.out = std::iter::from_fn(|| self.call.poll_output()).collect();
    }

    fn commands(&self) -> Vec<PeerCommand> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::Peer { link, command } if *link == self.link => Some(command.clone()),
                _ => None,
            })
            .collect()
    }

    fn opened_channels(&self) -> usize {
        self.commands()
            .iter()
            .filter(|c| matches!(c, PeerCommand::OpenChannel(_)))
            .count()
    }

    fn sent_data(&self) -> Vec<(Channel, String)> {
        self.commands()
            .into_iter()
            .filter_map(|c| match c {
                PeerCommand::SendData { channel, payload } => Some((channel, payload)),
                _ => None,
            })
            .collect()
    }

    fn errors(&self) -> Vec<String> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::Event(Event::Error(e)) => Some(e.message.clone()),
                _ => None,
            })
            .collect()
    }

    /// Runs one offer/answer exchange started by this side up to its stable end.
    fn offer_answered(&mut self, now: u64, answer_sdp: &str) {
        self.peer(PeerEvent::NegotiationNeeded, now);
        assert!(
            self.commands()
                .contains(&PeerCommand::CreateOffer { ice_restart: false })
        );
        self.peer(
            PeerEvent::LocalDescription {
                kind: SdpKind::Offer,
                sdp: "v=0 offer".into(),
            },
            now,
        );
        self.remote("answer", answer_sdp, now);
        self.peer(PeerEvent::RemoteDescriptionApplied, now);
    }

    /// A relayed offer or answer from the other side.
    fn remote(&mut self, kind: &str, sdp: &str, now: u64) {
        let from = self.link.member().unwrap().as_str().to_owned();
        let frame = format!(
            r#"{{"v":1,"type":"{kind}","from":"{from}","sdp":"{}"}}"#,
            sdp.replace('\n', "\\n").replace('\r', "\\r")
        );
        self.call
            .handle_input(Input::Frame(frame), Millis(now))
            .unwrap();
        self.drain();
    }
}

const DATA_SDP: &str =
    "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n";
const MEDIA_SDP: &str = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n";

#[test]
fn the_polite_side_never_adds_the_data_section_itself() {
    let mut a = agent();
    assert_eq!(a.call.session().is_polite_to(&id("user_9")), Some(true));
    // Drawing while the link is negotiating (bug: the channels it made died in the rollback).
    a.peer(PeerEvent::NegotiationNeeded, 10);
    a.call
        .highlight(
            Rect {
                x: 0.1,
                y: 0.1,
                w: 0.2,
                h: 0.2,
            },
            "#ff0000",
            0,
            0,
            Millis(11),
        )
        .unwrap();
    a.drain();
    assert_eq!(a.opened_channels(), 0, "{:?}", a.out);
    // Its own view shows the shape at once (local echo).
    assert_eq!(a.call.overlay(Millis(12)).shapes.len(), 1);
    // Far past the open delay, connected: still waiting for the other side's data section.
    a.peer(PeerEvent::IceStateChanged(IceState::Connected), 5_000);
    a.call.handle_timeout(Millis(5_001));
    a.drain();
    assert_eq!(a.opened_channels(), 0);
}

#[test]
fn the_polite_side_opens_its_channels_once_a_data_section_is_applied_and_replays() {
    let mut a = agent();
    a.call
        .highlight(
            Rect {
                x: 0.1,
                y: 0.1,
                w: 0.2,
                h: 0.2,
            },
            "#ff0000",
            0,
            0,
            Millis(5),
        )
        .unwrap();
    a.call.pointer(0.5, 0.5, 0, Millis(6)).unwrap();
    a.drain();
    a.remote("offer", DATA_SDP, 20);
    a.peer(PeerEvent::RemoteDescriptionApplied, 21);
    let commands = a.commands();
    assert_eq!(a.opened_channels(), 2, "{commands:?}");
    assert!(commands.contains(&PeerCommand::CreateAnswer));
    assert_eq!(
        commands.iter().find_map(|c| match c {
            PeerCommand::OpenChannel(spec) if spec.channel == Channel::Cursor => Some(*spec),
            _ => None,
        }),
        Some(ChannelSpecCheck::cursor())
    );
    // Nothing is sent before the channels open; then the replay, and the latest pointer.
    assert!(a.sent_data().is_empty());
    a.peer(PeerEvent::ChannelOpened(Channel::Reliable), 30);
    let sent = a.sent_data();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(matches!(
        AssistMessage::decode(&sent[0].1).unwrap(),
        AssistMessage::Highlight { .. }
    ));
    // What this member shows includes its pointer (a link made later still sees it).
    assert!(matches!(
        AssistMessage::decode(&sent[1].1).unwrap(),
        AssistMessage::Cursor { .. }
    ));
    a.peer(PeerEvent::ChannelOpened(Channel::Cursor), 31);
    let sent = a.sent_data();
    assert_eq!(
        sent.len(),
        1,
        "the pointer that stayed still is sent on open"
    );
    assert_eq!(sent[0].0, Channel::Cursor);
}

/// The expected cursor channel parameters, spelled out.
struct ChannelSpecCheck;
impl ChannelSpecCheck {
    fn cursor() -> crate::session::ChannelSpec {
        crate::session::ChannelSpec {
            channel: Channel::Cursor,
            label: "assist-cursor",
            id: 1,
            ordered: false,
            max_retransmits: Some(0),
        }
    }
}

#[test]
fn the_impolite_side_opens_the_channels_when_ice_connects_not_mid_negotiation() {
    let mut c = customer();
    assert_eq!(c.call.session().is_polite_to(&id("agent_1")), Some(false));
    c.peer(PeerEvent::NegotiationNeeded, 10);
    c.peer(
        PeerEvent::LocalDescription {
            kind: SdpKind::Offer,
            sdp: "v=0 offer".into(),
        },
        11,
    );
    c.peer(PeerEvent::IceStateChanged(IceState::Connected), 12);
    assert_eq!(c.opened_channels(), 0, "still waiting for the answer");
    c.remote("answer", MEDIA_SDP, 13);
    c.peer(PeerEvent::RemoteDescriptionApplied, 14);
    assert_eq!(
        c.opened_channels(),
        2,
        "stable and connected: add the data section"
    );
}

#[test]
fn the_impolite_side_opens_the_channels_after_a_delay_without_media() {
    let mut c = customer();
    let at = c.call.poll_timeout().unwrap();
    assert_eq!(at, Millis(2 + DATA_OPEN_DELAY_MS));
    c.call.handle_timeout(at);
    c.drain();
    assert_eq!(c.opened_channels(), 2);
}

#[test]
fn a_rolled_back_data_offer_gets_fresh_channels_before_the_next_offer() {
    // The impolite side (the larger id) may annotate here.
    let mut c = joined("user_9", Role::Host, "agent_1", Role::Guest);
    c.call.handle_timeout(Millis(2 + DATA_OPEN_DELAY_MS));
    c.drain();
    assert_eq!(c.opened_channels(), 2);
    c.call
        .script_step("T-1", 1, 3, "Open settings", Millis(1_600))
        .unwrap();
    c.drain();
    // The offer carrying the data section is lost; the watchdog rolls it back.
    c.peer(PeerEvent::NegotiationNeeded, 1_600);
    c.peer(
        PeerEvent::LocalDescription {
            kind: SdpKind::Offer,
            sdp: DATA_SDP.into(),
        },
        1_601,
    );
    let mut due = Millis(0);
    for _ in 0..5 {
        due = c.call.poll_timeout().unwrap();
        c.call.handle_timeout(due);
        c.drain();
        if c.commands().contains(&PeerCommand::Rollback) {
            break;
        }
    }
    assert_eq!(due, Millis(1_600 + crate::session::NEGOTIATION_TIMEOUT_MS));
    let commands = c.commands();
    let rollback = commands
        .iter()
        .position(|c| *c == PeerCommand::Rollback)
        .unwrap();
    let close = commands
        .iter()
        .position(|c| *c == PeerCommand::CloseChannels)
        .unwrap();
    let reopen = commands
        .iter()
        .rposition(|c| matches!(c, PeerCommand::OpenChannel(_)))
        .unwrap();
    let offer = commands
        .iter()
        .position(|c| *c == PeerCommand::CreateOffer { ice_restart: true })
        .unwrap();
    assert!(
        rollback < close && close < reopen && reopen < offer,
        "{commands:?}"
    );
    // The script step queued for the dead channels is still delivered on the new ones.
    c.remote("answer", DATA_SDP, due.0 + 10);
    c.peer(PeerEvent::RemoteDescriptionApplied, due.0 + 11);
    c.peer(PeerEvent::ChannelOpened(Channel::Reliable), due.0 + 20);
    let sent = c.sent_data();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(matches!(
        AssistMessage::decode(&sent[0].1).unwrap(),
        AssistMessage::ScriptStep { .. }
    ));
}

#[test]
fn the_negotiation_watchdog_fires_on_its_own_deadline() {
    let mut c = customer();
    c.peer(PeerEvent::NegotiationNeeded, 100);
    // The next timer is the watchdog (10 s after the link went busy), not the 10 s ping tick
    // that would have checked it only at 20 s.
    let mut now = 100;
    for _ in 0..10 {
        let due = c.call.poll_timeout().unwrap();
        assert!(due.0 <= 100 + crate::session::NEGOTIATION_TIMEOUT_MS);
        c.call.handle_timeout(due);
        c.drain();
        now = due.0;
        if c.commands()
            .contains(&PeerCommand::CreateOffer { ice_restart: true })
        {
            break;
        }
    }
    assert_eq!(now, 100 + crate::session::NEGOTIATION_TIMEOUT_MS);
    assert!(c.errors().iter().any(|e| e.contains("stalled")));
}

#[test]
fn a_negotiated_link_that_never_connects_is_restarted_replaced_then_given_up() {
    let mut a = agent();
    a.offer_answered(10, MEDIA_SDP);
    // ICE stays `new`: no candidate ever arrives.
    let (mut ice_restarts, mut replaced, mut given_up) = (0, false, false);
    for _ in 0..40 {
        let Some(due) = a.call.poll_timeout() else {
            break;
        };
        a.call.handle_timeout(due);
        a.drain();
        let fresh = a.out.iter().find_map(|o| match o {
            Output::Peer {
                link,
                command: PeerCommand::Create { .. },
            } if link.generation > a.link.generation => Some(link.clone()),
            _ => None,
        });
        if let Some(link) = fresh {
            replaced = true;
            a.link = link;
        }
        let offered = a.commands().iter().find_map(|c| match c {
            PeerCommand::CreateOffer { ice_restart } => Some(*ice_restart),
            _ => None,
        });
        if let Some(ice_restart) = offered {
            ice_restarts += usize::from(ice_restart);
            // The offer is answered, and still nothing connects.
            a.peer(
                PeerEvent::LocalDescription {
                    kind: SdpKind::Offer,
                    sdp: "v=0 restart".into(),
                },
                due.0,
            );
            a.remote("answer", MEDIA_SDP, due.0 + 1);
            a.peer(PeerEvent::RemoteDescriptionApplied, due.0 + 2);
        }
        if a.errors()
            .iter()
            .any(|e| e.contains("waiting for the other side"))
        {
            given_up = true;
            break;
        }
    }
    // ICE restarts first, then one fresh link, then it waits.
    assert_eq!(ice_restarts, crate::session::MAX_LINK_RESTARTS as usize - 1);
    assert!(replaced, "a fresh link was tried");
    assert_eq!(a.link.generation, 2);
    assert!(given_up);
    let next = a.call.poll_timeout().unwrap();
    a.call.handle_timeout(next);
    a.drain();
    assert!(
        !a.commands()
            .iter()
            .any(|c| matches!(c, PeerCommand::CreateOffer { .. }))
    );
}

#[test]
fn a_platform_without_webrtc_ends_that_link_with_one_error_and_never_retries() {
    let mut c = customer();
    c.peer(
        PeerEvent::CreateFailed {
            reason: "RTCPeerConnection is not defined".into(),
        },
        5,
    );
    assert_eq!(c.errors().len(), 1);
    assert!(c.errors()[0].contains("cannot create a peer link"));
    // The other side's offers are not answered on a link that does not exist.
    c.remote("offer", MEDIA_SDP, 10);
    assert!(c.commands().is_empty(), "{:?}", c.out);
    for _ in 0..10 {
        let Some(due) = c.call.poll_timeout() else {
            break;
        };
        c.call.handle_timeout(due);
        c.drain();
        assert!(c.commands().is_empty(), "{:?}", c.out);
        assert!(c.errors().is_empty());
    }
}

#[test]
fn results_of_a_replaced_link_are_dropped_in_the_core() {
    let mut c = customer();
    let stale = LinkId {
        target: LinkTarget::Member(id("agent_1")),
        generation: 99,
    };
    c.call
        .handle_input(
            Input::Peer {
                link: stale,
                event: PeerEvent::NegotiationNeeded,
            },
            Millis(5),
        )
        .unwrap();
    c.drain();
    assert!(c.out.is_empty());
    assert_eq!(c.call.session().stale_results(), 1);
}

#[test]
fn assist_is_checked_on_send_and_on_receive() {
    let mut c = customer();
    // A guest may not annotate.
    let err = c.call.pointer(0.5, 0.5, 0, Millis(5)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden);
    // Nor is what a guest's peer sends drawn: here the agent receives from the guest.
    let mut a = agent();
    a.peer(
        PeerEvent::Message {
            channel: Channel::Reliable,
            text: r##"{"t":"highlight","id":"s1","rect":{"x":0.1,"y":0.1,"w":0.2,"h":0.2},"color":"#ff0000","ttl_ms":0,"at":0,"seq":1}"##.into(),
        },
        10,
    );
    assert!(a.call.overlay(Millis(10)).shapes.is_empty());
    assert!(a.errors()[0].contains("user_9"));
    // The customer draws what the agent sends.
    c.peer(
        PeerEvent::Message {
            channel: Channel::Cursor,
            text: r#"{"t":"cursor","x":0.5,"y":0.4,"at":0,"seq":1}"#.into(),
        },
        12,
    );
    assert!(
        c.out
            .iter()
            .any(|o| matches!(o, Output::Event(Event::OverlayChanged(v)) if v.cursors.len() == 1))
    );
}

#[test]
fn tracks_are_held_until_published_labels_them() {
    let mut a = agent();
    a.peer(
        PeerEvent::TrackAdded {
            track: "t1".into(),
            stream: Some("st-screen".into()),
        },
        10,
    );
    assert!(
        !a.out
            .iter()
            .any(|o| matches!(o, Output::Event(Event::TrackAdded(_))))
    );
    a.call
        .handle_input(
            Input::Frame(
                r#"{"v":1,"type":"published","member":"user_9","source":"screen","stream":"st-screen"}"#
                    .into(),
            ),
            Millis(11),
        )
        .unwrap();
    a.drain();
    let added: Vec<&TrackAdded> = a
        .out
        .iter()
        .filter_map(|o| match o {
            Output::Event(Event::TrackAdded(t)) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(added.len(), 1);
    assert_eq!(
        (added[0].source, added[0].track.as_str()),
        (Source::Screen, "t1")
    );
    assert_eq!(
        a.call.source_of_track("t1"),
        Some((&id("user_9"), Source::Screen))
    );
}

#[test]
fn published_sources_go_on_links_created_later_and_leave_on_unpublish() {
    let mut call = Call::new(CallConfig::new("tok"));
    call.acknowledge_notice();
    call.join(Millis(0)).unwrap();
    call.handle_input(Input::TransportOpened, Millis(1))
        .unwrap();
    let alone = welcome("user_9", Role::Guest, "agent_1", Role::Host, vec![]);
    call.handle_input(Input::Frame(alone), Millis(2)).unwrap();
    call.publish(Source::Camera, Some("cam".into()), Millis(3))
        .unwrap();
    let out: Vec<Output> = std::iter::from_fn(|| call.poll_output()).collect();
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Peer {
            command: PeerCommand::AddSource(Source::Camera),
            ..
        }
    )));
    call.unpublish(Source::Camera, Millis(4)).unwrap();
    let out: Vec<Output> = std::iter::from_fn(|| call.poll_output()).collect();
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Peer {
            command: PeerCommand::RemoveSource(Source::Camera),
            ..
        }
    )));
}

#[test]
fn a_failed_remote_description_does_not_shift_the_data_section_record() {
    let mut a = agent();
    // A remote offer fails to apply (a malformed one); the next, with a data section, works.
    a.remote("offer", MEDIA_SDP, 10);
    a.peer(
        PeerEvent::OperationFailed {
            reason: "setRemoteDescription failed".into(),
        },
        11,
    );
    a.remote("offer", DATA_SDP, 20);
    a.peer(PeerEvent::RemoteDescriptionApplied, 21);
    assert_eq!(a.opened_channels(), 2, "{:?}", a.out);
}
