//! One `RTCPeerConnection` per link, running the core's `PeerCommand`s.
//!
//! The link owns its event closures, its senders and its DataChannels, and detaches the
//! closures and closes the connection on drop. Commands run on the connection's own
//! operations chain, so issuing them in order is the driver contract; each result goes back
//! to the core as a `PeerEvent` with the link's id, and the core drops results of a link it
//! closed or replaced.

use std::rc::Rc;

use assistrtc_core::protocol::{IceCandidate, IceServer, Source};
use assistrtc_core::session::{IceState, LinkId, PeerCommand, PeerEvent, SdpKind};
use assistrtc_core::vecmap::VecMap;
use wasm_bindgen::prelude::*;
use web_sys::{
    MediaStream, MediaStreamTrack, RtcConfiguration, RtcIceCandidateInit, RtcIceConnectionState,
    RtcIceServer, RtcIceTransportPolicy, RtcPeerConnection, RtcPeerConnectionIceEvent,
    RtcRtpSender, RtcRtpTransceiverDirection, RtcRtpTransceiverInit, RtcSdpType,
    RtcSessionDescriptionInit, RtcTrackEvent,
};

use crate::channels::{ChannelObserver, Channels};
use crate::driver::LocalMedia;
use crate::js::{describe, on_settled, warn_error};

#[wasm_bindgen]
extern "C" {
    /// The two `RTCPeerConnection` methods web-sys lacks.
    #[wasm_bindgen(extends = RtcPeerConnection, js_name = RTCPeerConnection)]
    type PeerConnectionExt;
    // The argument-less form creates the right description inside the operations chain, so a
    // remote offer arriving meanwhile cannot make it fail (perfect negotiation relies on it).
    #[wasm_bindgen(method, js_name = setLocalDescription)]
    fn set_local_description_implicit(this: &PeerConnectionExt) -> js_sys::Promise;
    #[wasm_bindgen(method, js_name = restartIce)]
    fn restart_ice(this: &PeerConnectionExt);
}

/// Where a link reports what happened.
pub(crate) trait PeerObserver {
    /// A result or platform event for the core.
    fn peer_event(&self, link: &LinkId, event: PeerEvent);
    /// A remote track arrived.
    fn remote_track(&self, link: &LinkId, track: MediaStreamTrack, stream: Option<MediaStream>);
}

/// Reports one link's channel events as peer events.
struct LinkChannels {
    link: LinkId,
    observer: Rc<dyn PeerObserver>,
}

impl ChannelObserver for LinkChannels {
    fn channel_event(&self, event: PeerEvent) {
        self.observer.peer_event(&self.link, event);
    }
}

/// One peer connection and its handlers.
pub(crate) struct PeerLink {
    id: LinkId,
    pc: RtcPeerConnection,
    observer: Rc<dyn PeerObserver>,
    senders: VecMap<Source, Vec<RtcRtpSender>>,
    channels: Channels,
    _on_negotiation: Closure<dyn FnMut()>,
    _on_candidate: Closure<dyn FnMut(RtcPeerConnectionIceEvent)>,
    _on_ice_state: Closure<dyn FnMut()>,
    _on_track: Closure<dyn FnMut(RtcTrackEvent)>,
}

/// The `RTCConfiguration` for `servers`; relay candidates only when `relay_only`.
pub(crate) fn ice_config(servers: &[IceServer], relay_only: bool) -> RtcConfiguration {
    let config = RtcConfiguration::new();
    let list = js_sys::Array::new();
    for s in servers {
        let server = RtcIceServer::new();
        let urls: js_sys::Array = s.urls.iter().map(|u| JsValue::from_str(u)).collect();
        server.set_urls(&urls);
        if let Some(u) = &s.username {
            server.set_username(u);
        }
        if let Some(c) = &s.credential {
            server.set_credential(c);
        }
        list.push(&server);
    }
    config.set_ice_servers(&list);
    if relay_only {
        config.set_ice_transport_policy(RtcIceTransportPolicy::Relay);
    }
    config
}

fn ice_state(state: RtcIceConnectionState) -> IceState {
    match state {
        RtcIceConnectionState::Checking => IceState::Checking,
        RtcIceConnectionState::Connected | RtcIceConnectionState::Completed => IceState::Connected,
        RtcIceConnectionState::Disconnected => IceState::Disconnected,
        RtcIceConnectionState::Failed => IceState::Failed,
        RtcIceConnectionState::Closed => IceState::Closed,
        _ => IceState::New,
    }
}

impl PeerLink {
    pub(crate) fn new(
        id: LinkId,
        ice_servers: &[IceServer],
        relay_only: bool,
        observer: Rc<dyn PeerObserver>,
    ) -> Result<Self, JsValue> {
        let pc = RtcPeerConnection::new_with_configuration(&ice_config(ice_servers, relay_only))?;

        let on_negotiation = {
            let (obs, id) = (observer.clone(), id.clone());
            Closure::<dyn FnMut()>::new(move || obs.peer_event(&id, PeerEvent::NegotiationNeeded))
        };
        let on_candidate = {
            let (obs, id) = (observer.clone(), id.clone());
            Closure::<dyn FnMut(RtcPeerConnectionIceEvent)>::new(
                move |e: RtcPeerConnectionIceEvent| {
                    // `null` marks the end of gathering; trickle needs no end marker here.
                    let Some(c) = e.candidate() else { return };
                    if c.candidate().is_empty() {
                        return;
                    }
                    obs.peer_event(
                        &id,
                        PeerEvent::LocalCandidate(IceCandidate {
                            candidate: c.candidate(),
                            sdp_mid: c.sdp_mid(),
                            sdp_m_line_index: c.sdp_m_line_index(),
                        }),
                    );
                },
            )
        };
        let on_ice_state = {
            let (obs, id, pc) = (observer.clone(), id.clone(), pc.clone());
            Closure::<dyn FnMut()>::new(move || {
                obs.peer_event(
                    &id,
                    PeerEvent::IceStateChanged(ice_state(pc.ice_connection_state())),
                )
            })
        };
        let on_track = {
            let (obs, id) = (observer.clone(), id.clone());
            Closure::<dyn FnMut(RtcTrackEvent)>::new(move |e: RtcTrackEvent| {
                let stream = e.streams().get(0).dyn_into::<MediaStream>().ok();
                obs.remote_track(&id, e.track(), stream);
            })
        };
        pc.set_onnegotiationneeded(Some(on_negotiation.as_ref().unchecked_ref()));
        pc.set_onicecandidate(Some(on_candidate.as_ref().unchecked_ref()));
        pc.set_oniceconnectionstatechange(Some(on_ice_state.as_ref().unchecked_ref()));
        pc.set_ontrack(Some(on_track.as_ref().unchecked_ref()));

        Ok(Self {
            id,
            pc,
            observer,
            senders: VecMap::default(),
            channels: Channels::default(),
            _on_negotiation: on_negotiation,
            _on_candidate: on_candidate,
            _on_ice_state: on_ice_state,
            _on_track: on_track,
        })
    }

    /// The underlying connection (for stats and tests).
    pub(crate) fn connection(&self) -> &RtcPeerConnection {
        &self.pc
    }

    /// Runs one command. `Create` and `Close` are the owner's business, not the link's.
    pub(crate) fn run(&mut self, command: PeerCommand, local: &VecMap<Source, LocalMedia>) {
        let pc = self.pc.clone();
        match command {
            PeerCommand::CreateOffer { ice_restart } => {
                if ice_restart {
                    pc.unchecked_ref::<PeerConnectionExt>().restart_ice();
                }
                self.local_description(SdpKind::Offer);
            }
            PeerCommand::CreateAnswer => self.local_description(SdpKind::Answer),
            PeerCommand::Rollback => {
                let init = RtcSessionDescriptionInit::new(RtcSdpType::Rollback);
                // A rollback with nothing to roll back is harmless.
                on_settled(pc.set_local_description(&init), Box::new(|_| {}));
            }
            PeerCommand::SetRemoteDescription { kind, sdp } => {
                let init = RtcSessionDescriptionInit::new(match kind {
                    SdpKind::Offer => RtcSdpType::Offer,
                    SdpKind::Answer => RtcSdpType::Answer,
                });
                init.set_sdp(&sdp);
                let report = self.reporter();
                on_settled(
                    pc.set_remote_description(&init),
                    Box::new(move |result| {
                        report(match result {
                            Ok(_) => PeerEvent::RemoteDescriptionApplied,
                            Err(e) => PeerEvent::OperationFailed {
                                reason: describe(&e),
                            },
                        });
                    }),
                );
            }
            PeerCommand::AddIceCandidate(c) => {
                let init = RtcIceCandidateInit::new(&c.candidate);
                init.set_sdp_mid(c.sdp_mid.as_deref());
                init.set_sdp_m_line_index(c.sdp_m_line_index);
                on_settled(
                    pc.add_ice_candidate_with_opt_rtc_ice_candidate_init(Some(&init)),
                    Box::new(|result| {
                        // Candidates of a superseded ICE generation fail harmlessly; log only.
                        if let Err(e) = result {
                            warn_error("addIceCandidate failed", &e);
                        }
                    }),
                );
            }
            PeerCommand::AddSource(source) => {
                if let Some(media) = local.get(&source) {
                    let senders = self.senders.get_or_default(source);
                    let init = RtcRtpTransceiverInit::new();
                    init.set_direction(RtcRtpTransceiverDirection::Sendrecv);
                    init.set_streams(&js_sys::Array::of1(&media.stream));
                    // A transceiver of our own, not `addTrack`'s: after the polite side rolls
                    // back a colliding offer, Chromium reuses `addTrack` transceivers for the
                    // remote offer's sections, and their receivers then stay muted, silent,
                    // for good although media arrives. Ours are never reused that way, so the
                    // remote media gets fresh receivers.
                    for track in media.tracks() {
                        senders.push(
                            pc.add_transceiver_with_media_stream_track_and_init(&track, &init)
                                .sender(),
                        );
                    }
                }
            }
            PeerCommand::RemoveSource(source) => {
                for sender in self.senders.remove(&source).unwrap_or_default() {
                    pc.remove_track(&sender);
                }
            }
            PeerCommand::OpenChannel(spec) => {
                let observer = Rc::new(LinkChannels {
                    link: self.id.clone(),
                    observer: self.observer.clone(),
                });
                if let Err(e) = self.channels.open(&pc, spec, observer) {
                    self.observer.peer_event(
                        &self.id,
                        PeerEvent::OperationFailed {
                            reason: describe(&e),
                        },
                    );
                }
            }
            PeerCommand::CloseChannels => self.channels.close(),
            PeerCommand::SendData { channel, payload } => self.channels.send(channel, &payload),
            PeerCommand::Create { .. } | PeerCommand::Close => {}
        }
    }

    /// Reports a late result to the observer; the core drops it if the link is gone.
    fn reporter(&self) -> impl Fn(PeerEvent) + 'static {
        let (obs, id) = (self.observer.clone(), self.id.clone());
        move |event| obs.peer_event(&id, event)
    }

    fn local_description(&self, kind: SdpKind) {
        let pc = self.pc.clone();
        let promise = pc
            .unchecked_ref::<PeerConnectionExt>()
            .set_local_description_implicit();
        let report = self.reporter();
        on_settled(
            promise,
            Box::new(move |result| {
                let event = match result {
                    Ok(_) => match pc.local_description() {
                        Some(d) => PeerEvent::LocalDescription { kind, sdp: d.sdp() },
                        None => PeerEvent::OperationFailed {
                            reason: "no local description after setLocalDescription".into(),
                        },
                    },
                    Err(e) => PeerEvent::OperationFailed {
                        reason: describe(&e),
                    },
                };
                report(event);
            }),
        );
    }
}

impl Drop for PeerLink {
    fn drop(&mut self) {
        self.channels.close();
        self.pc.set_onnegotiationneeded(None);
        self.pc.set_onicecandidate(None);
        self.pc.set_oniceconnectionstatechange(None);
        self.pc.set_ontrack(None);
        self.pc.close();
    }
}
