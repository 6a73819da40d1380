//! Perfect negotiation for one peer link, without the platform object.
//!
//! This follows the W3C "perfect negotiation" pattern: both sides may offer at any time; on a
//! collision the *impolite* side ignores the incoming offer and the *polite* side rolls back its
//! own and answers. Which side is polite is decided once, deterministically, from the member ids
//! (see [`is_polite`]), so the two sides always disagree as they must.
//!
//! The platform's peer connection runs one operation at a time (its operations chain); this
//! model tracks which result it waits for and drops results that a rollback made stale.

use std::collections::VecDeque;

use crate::protocol::{IceCandidate, MemberId};

use super::{IceState, PeerCommand, SdpKind};

/// Candidates held per peer while no remote description is set; beyond this the oldest go.
pub(crate) const MAX_QUEUED_CANDIDATES: usize = 256;

/// Whether the local side is the polite one towards `remote`: the smaller id is polite.
pub fn is_polite(local: &MemberId, remote: &MemberId) -> bool {
    local < remote
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signaling {
    Stable,
    HaveLocalOffer,
    HaveRemoteOffer,
}

/// One thing the negotiation wants done.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    Command(PeerCommand),
    SendOffer(String),
    SendAnswer(String),
    SendCandidate(IceCandidate),
}

/// Negotiation state of one peer link.
#[derive(Debug)]
pub(crate) struct Negotiation {
    polite: bool,
    signaling: Signaling,
    /// Which local description the platform is producing (a `CreateOffer`/`CreateAnswer`).
    awaiting_local: Option<SdpKind>,
    /// Remote descriptions handed to the platform and not yet applied, in order (its
    /// operations chain applies them one after another).
    applying: VecDeque<SdpKind>,
    remote_set: bool,
    ignore_offer: bool,
    offer_pending: bool,
    restart_pending: bool,
    queued: VecDeque<IceCandidate>,
    ice: IceState,
    started: bool,
}

impl Negotiation {
    pub(crate) fn new(polite: bool) -> Self {
        Self {
            polite,
            signaling: Signaling::Stable,
            awaiting_local: None,
            applying: VecDeque::new(),
            remote_set: false,
            ignore_offer: false,
            offer_pending: false,
            restart_pending: false,
            queued: VecDeque::new(),
            ice: IceState::New,
            started: false,
        }
    }

    pub(crate) fn polite(&self) -> bool {
        self.polite
    }

    pub(crate) fn ice(&self) -> IceState {
        self.ice
    }

    /// Whether any offer/answer exchange has begun on this link.
    pub(crate) fn started(&self) -> bool {
        self.started
    }

    /// Whether an offer/answer exchange is in flight.
    pub(crate) fn busy(&self) -> bool {
        self.awaiting_local.is_some()
            || !self.applying.is_empty()
            || self.signaling != Signaling::Stable
    }

    fn making_offer(&self) -> bool {
        self.awaiting_local == Some(SdpKind::Offer)
    }

    /// The platform needs (re)negotiation, or an ICE restart is wanted.
    pub(crate) fn negotiation_needed(&mut self, ice_restart: bool, out: &mut Vec<Step>) {
        if self.busy() {
            self.offer_pending = true;
            self.restart_pending |= ice_restart;
            return;
        }
        self.started = true;
        self.awaiting_local = Some(SdpKind::Offer);
        out.push(Step::Command(PeerCommand::CreateOffer { ice_restart }));
    }

    /// The platform set a local description of `kind`; `false` if it was stale and ignored.
    pub(crate) fn local_description(
        &mut self,
        kind: SdpKind,
        sdp: String,
        out: &mut Vec<Step>,
    ) -> bool {
        if self.awaiting_local != Some(kind) {
            return false;
        }
        self.awaiting_local = None;
        match kind {
            SdpKind::Offer => {
                self.signaling = Signaling::HaveLocalOffer;
                out.push(Step::SendOffer(sdp));
            }
            SdpKind::Answer => {
                self.signaling = Signaling::Stable;
                out.push(Step::SendAnswer(sdp));
                self.resume_pending(out);
            }
        }
        true
    }

    /// An offer arrived from the remote side.
    pub(crate) fn remote_offer(&mut self, sdp: String, out: &mut Vec<Step>) {
        // As in the W3C pattern: an offer right behind the answer we are applying is no
        // collision (the answer makes us stable first; the platform applies them in order).
        let answer_pending = self.applying.back() == Some(&SdpKind::Answer);
        let ready = !self.making_offer() && (self.signaling == Signaling::Stable || answer_pending);
        let collision = !ready;
        self.ignore_offer = !self.polite && collision;
        if self.ignore_offer {
            return;
        }
        if collision {
            // Polite: give up our offer, answer theirs, and offer ours again afterwards.
            if self.signaling == Signaling::HaveLocalOffer || self.making_offer() {
                out.push(Step::Command(PeerCommand::Rollback));
                self.offer_pending = true;
            }
            self.awaiting_local = None;
            self.signaling = Signaling::Stable;
        }
        self.started = true;
        self.applying.push_back(SdpKind::Offer);
        out.push(Step::Command(PeerCommand::SetRemoteDescription {
            kind: SdpKind::Offer,
            sdp,
        }));
    }

    /// An answer arrived; `false` if no offer of ours awaited one (stale after a rollback).
    pub(crate) fn remote_answer(&mut self, sdp: String, out: &mut Vec<Step>) -> bool {
        if self.signaling != Signaling::HaveLocalOffer || !self.applying.is_empty() {
            return false;
        }
        self.applying.push_back(SdpKind::Answer);
        out.push(Step::Command(PeerCommand::SetRemoteDescription {
            kind: SdpKind::Answer,
            sdp,
        }));
        true
    }

    /// The platform applied the remote description it was given.
    pub(crate) fn remote_description_applied(&mut self, out: &mut Vec<Step>) {
        let Some(kind) = self.applying.pop_front() else {
            return;
        };
        self.remote_set = true;
        self.ignore_offer = false;
        for candidate in std::mem::take(&mut self.queued) {
            out.push(Step::Command(PeerCommand::AddIceCandidate(candidate)));
        }
        match kind {
            SdpKind::Offer => {
                self.signaling = Signaling::HaveRemoteOffer;
                self.awaiting_local = Some(SdpKind::Answer);
                out.push(Step::Command(PeerCommand::CreateAnswer));
            }
            SdpKind::Answer => {
                self.signaling = Signaling::Stable;
                // An offer queued behind this answer goes first; ours waits for stability.
                if self.applying.is_empty() {
                    self.resume_pending(out);
                }
            }
        }
    }

    /// A platform operation failed: forget what was in flight so negotiation can start again.
    pub(crate) fn operation_failed(&mut self, out: &mut Vec<Step>) {
        self.awaiting_local = None;
        self.applying.clear();
        if self.signaling != Signaling::Stable {
            out.push(Step::Command(PeerCommand::Rollback));
            self.signaling = Signaling::Stable;
        }
    }

    /// A candidate arrived from the remote side.
    pub(crate) fn remote_candidate(&mut self, candidate: IceCandidate, out: &mut Vec<Step>) {
        if self.ignore_offer {
            // It belongs to the offer we ignored.
            return;
        }
        if !self.remote_set || !self.applying.is_empty() {
            if self.queued.len() == MAX_QUEUED_CANDIDATES {
                self.queued.pop_front();
            }
            self.queued.push_back(candidate);
            return;
        }
        out.push(Step::Command(PeerCommand::AddIceCandidate(candidate)));
    }

    /// The platform found a local candidate.
    pub(crate) fn local_candidate(&mut self, candidate: IceCandidate, out: &mut Vec<Step>) {
        out.push(Step::SendCandidate(candidate));
    }

    /// The link's ICE state changed; a failure triggers an ICE restart.
    pub(crate) fn ice_state(&mut self, state: IceState, out: &mut Vec<Step>) {
        let was = self.ice;
        self.ice = state;
        if state == IceState::Failed && was != IceState::Failed {
            self.negotiation_needed(true, out);
        }
    }

    /// The link stayed mid-negotiation too long: an offer or answer was lost on the way (a
    /// dead socket, a dropped buffer) and it would wait forever. Roll back and offer again with
    /// an ICE restart.
    pub(crate) fn restart_stalled(&mut self, out: &mut Vec<Step>) {
        self.operation_failed(out);
        self.offer_pending = false;
        self.restart_pending = false;
        self.negotiation_needed(true, out);
    }

    /// After signaling resumed: a stable link whose ICE is not connected missed its restart
    /// while the socket was down; restart now.
    pub(crate) fn kick_if_disconnected(&mut self, out: &mut Vec<Step>) {
        if self.started && !self.busy() && self.ice != IceState::Connected {
            self.negotiation_needed(true, out);
        }
    }

    fn resume_pending(&mut self, out: &mut Vec<Step>) {
        if self.offer_pending {
            self.offer_pending = false;
            let restart = std::mem::take(&mut self.restart_pending);
            self.negotiation_needed(restart, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(n: u32) -> IceCandidate {
        IceCandidate {
            candidate: format!("candidate:{n} 1 udp 1 127.0.0.1 {n} typ host"),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
        }
    }

    #[test]
    fn candidates_wait_for_the_remote_description() {
        let mut n = Negotiation::new(true);
        let mut out = Vec::new();
        n.remote_candidate(cand(1), &mut out);
        n.remote_candidate(cand(2), &mut out);
        assert!(out.is_empty());
        n.remote_offer("v=0".into(), &mut out);
        assert_eq!(out.len(), 1);
        n.remote_candidate(cand(3), &mut out);
        assert_eq!(out.len(), 1, "still applying the offer");
        out.clear();
        n.remote_description_applied(&mut out);
        let adds: Vec<_> = out
            .iter()
            .filter_map(|s| match s {
                Step::Command(PeerCommand::AddIceCandidate(c)) => Some(c.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(adds, vec![cand(1), cand(2), cand(3)]);
        assert_eq!(out.last(), Some(&Step::Command(PeerCommand::CreateAnswer)));
    }

    #[test]
    fn candidate_queue_is_bounded() {
        let mut n = Negotiation::new(true);
        let mut out = Vec::new();
        for i in 0..(MAX_QUEUED_CANDIDATES as u32 + 10) {
            n.remote_candidate(cand(i), &mut out);
        }
        assert_eq!(n.queued.len(), MAX_QUEUED_CANDIDATES);
        assert_eq!(n.queued.front(), Some(&cand(10)), "the oldest went first");
    }

    #[test]
    fn impolite_ignores_a_colliding_offer_and_its_candidates() {
        let mut n = Negotiation::new(false);
        let mut out = Vec::new();
        n.negotiation_needed(false, &mut out);
        out.clear();
        n.remote_offer("v=0".into(), &mut out);
        n.remote_candidate(cand(1), &mut out);
        assert!(out.is_empty());
        // Our offer still completes.
        assert!(n.local_description(SdpKind::Offer, "v=0 mine".into(), &mut out));
        assert_eq!(out, vec![Step::SendOffer("v=0 mine".into())]);
    }

    #[test]
    fn polite_rolls_back_answers_and_offers_again() {
        let mut n = Negotiation::new(true);
        let mut out = Vec::new();
        n.negotiation_needed(false, &mut out);
        n.local_description(SdpKind::Offer, "v=0 mine".into(), &mut out);
        out.clear();
        n.remote_offer("v=0 theirs".into(), &mut out);
        assert_eq!(out[0], Step::Command(PeerCommand::Rollback));
        assert!(matches!(
            out[1],
            Step::Command(PeerCommand::SetRemoteDescription {
                kind: SdpKind::Offer,
                ..
            })
        ));
        out.clear();
        n.remote_description_applied(&mut out);
        out.clear();
        n.local_description(SdpKind::Answer, "v=0 answer".into(), &mut out);
        assert_eq!(out[0], Step::SendAnswer("v=0 answer".into()));
        assert_eq!(
            out[1],
            Step::Command(PeerCommand::CreateOffer { ice_restart: false })
        );
        // The answer to our rolled-back offer, if it ever comes, is ignored.
        assert!(!n.remote_answer("v=0 late".into(), &mut out));
    }

    #[test]
    fn stale_local_offer_after_rollback_is_dropped() {
        let mut n = Negotiation::new(true);
        let mut out = Vec::new();
        n.negotiation_needed(false, &mut out);
        n.remote_offer("v=0 theirs".into(), &mut out);
        out.clear();
        assert!(!n.local_description(SdpKind::Offer, "v=0 stale".into(), &mut out));
        assert!(out.is_empty());
    }

    #[test]
    fn offer_right_behind_our_answer_is_not_a_collision() {
        for polite in [false, true] {
            let mut n = Negotiation::new(polite);
            let mut out = Vec::new();
            n.negotiation_needed(false, &mut out);
            n.local_description(SdpKind::Offer, "v=0 mine".into(), &mut out);
            assert!(n.remote_answer("v=0 answer".into(), &mut out));
            out.clear();
            // Their next offer arrives while our SRD(answer) is still in flight.
            n.remote_offer("v=0 theirs".into(), &mut out);
            assert_eq!(
                out,
                vec![Step::Command(PeerCommand::SetRemoteDescription {
                    kind: SdpKind::Offer,
                    sdp: "v=0 theirs".into()
                })],
                "polite={polite}: applied after the answer, no rollback, not ignored"
            );
            out.clear();
            n.remote_description_applied(&mut out); // the answer
            assert!(
                out.is_empty(),
                "nothing new while their offer is queued: {out:?}"
            );
            n.remote_description_applied(&mut out); // their offer
            assert_eq!(out, vec![Step::Command(PeerCommand::CreateAnswer)]);
            out.clear();
            assert!(n.local_description(SdpKind::Answer, "v=0 ours".into(), &mut out));
            assert!(!n.busy());
        }
    }

    #[test]
    fn a_stalled_offer_is_rolled_back_and_restarted() {
        let mut n = Negotiation::new(false);
        let mut out = Vec::new();
        n.negotiation_needed(false, &mut out);
        n.local_description(SdpKind::Offer, "v=0 mine".into(), &mut out);
        out.clear();
        // The answer never comes.
        n.restart_stalled(&mut out);
        assert_eq!(
            out,
            vec![
                Step::Command(PeerCommand::Rollback),
                Step::Command(PeerCommand::CreateOffer { ice_restart: true })
            ]
        );
    }

    #[test]
    fn ice_failure_restarts_once() {
        let mut n = Negotiation::new(false);
        let mut out = Vec::new();
        n.ice_state(IceState::Failed, &mut out);
        n.ice_state(IceState::Failed, &mut out);
        assert_eq!(
            out,
            vec![Step::Command(PeerCommand::CreateOffer {
                ice_restart: true
            })]
        );
    }

    #[test]
    fn negotiation_while_busy_is_deferred_not_lost() {
        let mut n = Negotiation::new(false);
        let mut out = Vec::new();
        n.negotiation_needed(false, &mut out);
        n.negotiation_needed(true, &mut out);
        assert_eq!(out.len(), 1);
        n.local_description(SdpKind::Offer, "v=0".into(), &mut out);
        n.remote_answer("v=0 a".into(), &mut out);
        out.clear();
        n.remote_description_applied(&mut out);
        assert_eq!(
            out,
            vec![Step::Command(PeerCommand::CreateOffer {
                ice_restart: true
            })]
        );
    }
}
