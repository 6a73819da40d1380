use assistrtc_core::Millis;
use assistrtc_core::protocol::{LeaveReason, Source};
use assistrtc_core::session::{
    EndReason, Ended, Event, MemberLeft, PeerEvent, Reconnected, SessionState,
};

use crate::harness::{LinkMode, World, id};
use crate::negotiation::call;

fn connected_call() -> World {
    let mut w = call();
    w.add_track(1, Source::Camera);
    w.run_until(Millis(2_000), |w| {
        w.state(0) == SessionState::Connected && w.state(1) == SessionState::Connected
    });
    w
}

#[test]
fn drop_then_resume_inside_grace_keeps_seat_and_links() {
    let mut w = connected_call();
    let created = w.client(1).peers_created;
    let agent_events_before = w.client(0).events.len();
    w.drop_link(1);
    w.settle();
    assert_eq!(w.state(1), SessionState::Reconnecting);
    // While the customer is away the agent restarts ICE: the offer waits on the server.
    w.clients[0].session.restart_ice(&id("user_9")).unwrap();
    w.run_until(Millis(20_000), |w| {
        w.client(1)
            .has_event(|e| matches!(e, Event::Reconnected(_)))
    });
    w.settle();
    let customer = w.client(1);
    assert!(customer.has_event(|e| *e == Event::Reconnected(Reconnected { resumed: true })));
    assert_eq!(customer.peers_created, created, "the peer link was kept");
    assert_eq!(w.state(1), SessionState::Connected);
    // The agent never saw the customer leave or come back.
    let agent = w.client(0);
    assert!(
        !agent.events[agent_events_before..]
            .iter()
            .any(|e| matches!(e, Event::MemberLeft(_) | Event::MemberJoined(_))),
        "{:?}",
        &agent.events[agent_events_before..]
    );
    // The buffered restart offer was delivered and answered after the resume.
    assert!(
        customer.peers[&id("agent_1")]
            .applied_remote
            .iter()
            .any(|s| s.contains("restart"))
    );
    assert!(w.client(0).connected_to(&id("user_9")));
}

#[test]
fn drop_outside_grace_rejoins_fresh_and_renegotiates() {
    let mut w = connected_call();
    w.clients[1].session.set_recording_consent(true).unwrap();
    w.settle();
    w.clients[1].mode = LinkMode::Refused;
    w.drop_link(1);
    // Grace is 30 s; keep the customer away for longer.
    w.advance_to(Millis(40_000));
    assert!(w.client(0).has_event(|e| *e
        == Event::MemberLeft(MemberLeft {
            member: id("user_9"),
            reason: LeaveReason::Timeout
        })));
    assert_eq!(w.state(1), SessionState::Reconnecting);
    w.clients[1].mode = LinkMode::Up;
    w.run_until(Millis(80_000), |w| {
        w.client(1)
            .has_event(|e| *e == Event::Reconnected(Reconnected { resumed: false }))
            && w.state(0) == SessionState::Connected
            && w.state(1) == SessionState::Connected
    });
    // A fresh seat: the agent saw the customer join again and the customer rebuilt its link.
    assert!(
        w.client(0)
            .has_event(|e| matches!(e, Event::MemberJoined(m) if m.member.id == id("user_9")))
    );
    assert!(w.client(1).peers_created >= 2);
    // The new seat was told the consent given before the drop.
    assert_eq!(w.server.consent_of(&id("user_9")), Some(true));
    // Its camera was announced again, so the agent can still label it.
    assert_eq!(
        w.client(0)
            .session
            .source_of_stream(&id("user_9"), "user_9-Camera"),
        Some(Source::Camera)
    );
}

#[test]
fn ping_timeout_detects_a_silent_link_and_recovers() {
    let mut w = connected_call();
    let t0 = w.now;
    w.clients[1].mode = LinkMode::Blackhole;
    w.run_until(Millis(60_000), |w| w.state(1) == SessionState::Reconnecting);
    let detected = w.now.since(t0);
    assert!(
        (25_000..=35_000).contains(&detected),
        "dead link detected after {detected} ms"
    );
    w.clients[1].mode = LinkMode::Up;
    w.run_until(Millis(120_000), |w| {
        w.client(1)
            .has_event(|e| matches!(e, Event::Reconnected(_)))
    });
    assert!(
        w.client(1)
            .has_event(|e| *e == Event::Reconnected(Reconnected { resumed: true }))
    );
}

#[test]
fn unreachable_server_ends_after_bounded_retries() {
    let mut w = connected_call();
    w.clients[1].mode = LinkMode::Refused;
    w.drop_link(1);
    w.run_until(Millis(600_000), |w| w.state(1) == SessionState::Ended);
    let attempts = w
        .client(1)
        .events
        .iter()
        .filter(|e| matches!(e, Event::Reconnecting(_)))
        .count();
    let limit = 12;
    assert_eq!(attempts, limit);
    assert!(w.client(1).has_event(|e| *e
        == Event::Ended(Ended {
            reason: EndReason::ReconnectFailed {
                attempts: limit as u32
            }
        })));
    // Retry delays grew: the last gap is much longer than the first.
    let delays: Vec<u64> = w
        .client(1)
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Reconnecting(r) => Some(r.delay_ms),
            _ => None,
        })
        .collect();
    assert!(
        delays[0] <= 250 && *delays.last().unwrap() >= 5_000,
        "{delays:?}"
    );
    assert_eq!(
        w.client(1).session.poll_timeout(),
        None,
        "an ended session schedules nothing"
    );
}

#[test]
fn peer_events_after_leave_are_refused_not_panics() {
    let mut w = connected_call();
    let link = w.client(1).peers[&id("agent_1")].link.clone();
    w.clients[1].session.leave().unwrap();
    w.settle();
    assert!(w.client(0).has_event(|e| *e
        == Event::MemberLeft(MemberLeft {
            member: id("user_9"),
            reason: LeaveReason::Left
        })));
    let err = w.clients[1]
        .session
        .handle_input(
            assistrtc_core::session::Input::Peer {
                link,
                event: PeerEvent::NegotiationNeeded,
            },
            w.now,
        )
        .unwrap_err();
    assert_eq!(err, assistrtc_core::session::SessionError::Ended);
}

#[test]
fn a_lost_offer_is_renegotiated_by_the_watchdog() {
    let mut w = connected_call();
    let before = w.client(1).peers[&id("agent_1")].applied_remote.len();
    w.lose_next_offer_to = Some(id("user_9"));
    w.clients[0].session.restart_ice(&id("user_9")).unwrap();
    w.settle();
    assert!(w.lose_next_offer_to.is_none(), "the offer was lost");
    // Without the watchdog the agent would wait for an answer forever.
    w.run_until(Millis(60_000), |w| {
        w.client(1).peers[&id("agent_1")].applied_remote.len() > before
            && w.client(0).connected_to(&id("user_9"))
    });
    assert!(
        w.client(0)
            .has_event(|e| matches!(e, Event::Error(r) if r.message.contains("stalled")))
    );
    assert!(
        w.client(1).peers[&id("agent_1")]
            .applied_remote
            .last()
            .unwrap()
            .contains("restart")
    );
    assert_eq!(w.state(0), SessionState::Connected);
    assert!(
        w.client(0).peers.values().all(|p| p.failures.is_empty()),
        "{:?}",
        w.client(0).peers
    );
}
