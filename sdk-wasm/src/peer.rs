//! One `RTCPeerConnection` per remote member, driven by the core's `PeerCommand`s.
//!
//! The link owns its event closures and detaches them and closes the connection on drop.
//! Commands run on the connection's own operations chain, so issuing them in order is enough;
//! each result goes back to the core as a `PeerEvent`.

use std::cell::Cell;
use std::rc::Rc;

use assistrtc_core::protocol::{IceCandidate, IceServer, MemberId};
use assistrtc_core::session::{IceState, PeerCommand, PeerEvent, SdpKind};
use wasm_bindgen::prelude::*;
use web_sys::{
    MediaStream, MediaStreamTrack, RtcConfiguration, RtcIceCandidateInit, RtcIceConnectionState,
    RtcIceServer, RtcPeerConnection, RtcPeerConnectionIceEvent, RtcRtpSender, RtcSdpType,
    RtcSessionDescriptionInit, RtcTrackEvent,
};

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
    fn peer_event(&self, peer: &MemberId, event: PeerEvent);
    /// A remote track arrived.
    fn remote_track(&self, peer: &MemberId, track: MediaStreamTrack, stream: Option<MediaStream>);
}

/// One peer connection and its handlers.
pub(crate) struct PeerLink {
    peer: MemberId,
    pc: RtcPeerConnection,
    observer: Rc<dyn PeerObserver>,
    /// Cleared on drop: results of promises that settle after `close()` are not reported.
    alive: Rc<Cell<bool>>,
    _on_negotiation: Closure<dyn FnMut()>,
    _on_candidate: Closure<dyn FnMut(RtcPeerConnectionIceEvent)>,
    _on_ice_state: Closure<dyn FnMut()>,
    _on_track: Closure<dyn FnMut(RtcTrackEvent)>,
}

fn ice_config(servers: &[IceServer]) -> RtcConfiguration {
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
        peer: MemberId,
        ice_servers: &[IceServer],
        observer: Rc<dyn PeerObserver>,
    ) -> Result<Self, JsValue> {
        let pc = RtcPeerConnection::new_with_configuration(&ice_config(ice_servers))?;

        let on_negotiation = {
            let (obs, id) = (observer.clone(), peer.clone());
            Closure::<dyn FnMut()>::new(move || obs.peer_event(&id, PeerEvent::NegotiationNeeded))
        };
        let on_candidate = {
            let (obs, id) = (observer.clone(), peer.clone());
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
            let (obs, id, pc) = (observer.clone(), peer.clone(), pc.clone());
            Closure::<dyn FnMut()>::new(move || {
                obs.peer_event(
                    &id,
                    PeerEvent::IceStateChanged(ice_state(pc.ice_connection_state())),
                )
            })
        };
        let on_track = {
            let (obs, id) = (observer.clone(), peer.clone());
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
            peer,
            pc,
            observer,
            alive: Rc::new(Cell::new(true)),
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

    pub(crate) fn add_track(&self, track: &MediaStreamTrack, stream: &MediaStream) -> RtcRtpSender {
        self.pc.add_track_0(track, stream)
    }

    pub(crate) fn remove_sender(&self, sender: &RtcRtpSender) {
        self.pc.remove_track(sender);
    }

    /// Runs one command. `Create` and `Close` are the owner's business, not the link's.
    pub(crate) fn run(&self, command: PeerCommand) {
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
                        let event = match result {
                            Ok(_) => PeerEvent::RemoteDescriptionApplied,
                            Err(e) => PeerEvent::OperationFailed {
                                reason: describe(&e),
                            },
                        };
                        report(event);
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
            PeerCommand::Create { .. } | PeerCommand::Close => {}
        }
    }

    /// Reports a late result to the observer while this link lives, and drops it after: an
    /// engine may settle a closed connection's promises, and the core must not take them for
    /// the link that replaced this one.
    fn reporter(&self) -> impl Fn(PeerEvent) + 'static {
        let (obs, id, alive) = (self.observer.clone(), self.peer.clone(), self.alive.clone());
        move |event| {
            if alive.get() {
                obs.peer_event(&id, event);
            }
        }
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
        self.alive.set(false);
        self.pc.set_onnegotiationneeded(None);
        self.pc.set_onicecandidate(None);
        self.pc.set_oniceconnectionstatechange(None);
        self.pc.set_ontrack(None);
        self.pc.close();
    }
}
