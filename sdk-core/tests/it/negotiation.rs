use assistrtc_core::Millis;
use assistrtc_core::protocol::{Permissions, RecordingPolicy, Source};
use assistrtc_core::session::{Event, SessionState};

use crate::harness::{World, id};

fn room() -> Permissions {
    Permissions {
        screen: true,
        recording: RecordingPolicy::Local,
    }
}

pub(crate) fn call() -> World {
    let mut w = World::new(30_000, room());
    let agent = w.add("rm_1", "agent_1", "host", 1);
    let customer = w.add("rm_1", "user_9", "guest", 2);
    w.run_until(Millis(1_000), |w| {
        w.state(agent) == SessionState::Joined && w.state(customer) == SessionState::Joined
    });
    w
}

#[test]
fn one_side_offers_and_both_connect() {
    let mut w = call();
    w.add_track(1, Source::Camera);
    w.run_until(Millis(1_000), |w| {
        w.state(0) == SessionState::Connected && w.state(1) == SessionState::Connected
    });
    let (agent, customer) = (w.client(0), w.client(1));
    assert!(agent.connected_to(&id("user_9")) && customer.connected_to(&id("agent_1")));
    // Candidates were trickled and applied only after the remote description.
    assert!(!agent.peers[&id("user_9")].candidates_added.is_empty());
    assert!(
        agent
            .peers
            .values()
            .chain(customer.peers.values())
            .all(|p| p.failures.is_empty())
    );
    // The agent knows the track is the customer's camera.
    assert_eq!(
        agent
            .session
            .source_of_stream(&id("user_9"), "user_9-Camera"),
        Some(Source::Camera)
    );
}

#[test]
fn glare_resolves_with_the_polite_side_yielding() {
    let mut w = call();
    // Both add a track in the same round: both offer at once.
    w.add_track(0, Source::Camera);
    w.add_track(1, Source::Screen);
    w.run_until(Millis(1_000), |w| {
        w.client(0).connected_to(&id("user_9"))
            && w.client(1).connected_to(&id("agent_1"))
            && w.client(0).peers[&id("user_9")].applied_remote.len() >= 2
    });
    let agent = &w.client(0).peers[&id("user_9")];
    let customer = &w.client(1).peers[&id("agent_1")];
    // "agent_1" < "user_9": the agent is polite and rolled back; its first offer was never applied.
    assert_eq!(w.client(0).session.is_polite_to(&id("user_9")), Some(true));
    assert_eq!(
        w.client(1).session.is_polite_to(&id("agent_1")),
        Some(false)
    );
    assert!(
        customer
            .applied_remote
            .iter()
            .all(|sdp| !sdp.contains("offer agent_1 #1")),
        "{:?}",
        customer.applied_remote
    );
    // The customer's offer was answered, then the agent re-offered its camera.
    assert!(agent.applied_remote[0].contains("offer user_9 #1"));
    assert!(
        customer
            .applied_remote
            .iter()
            .any(|sdp| sdp.contains("offer agent_1 #2"))
    );
    assert!(
        agent.failures.is_empty() && customer.failures.is_empty(),
        "{:?} {:?}",
        agent.failures,
        customer.failures
    );
    for c in [w.client(0), w.client(1)] {
        assert!(
            !c.has_event(|e| matches!(e, Event::Error(_))),
            "{:?}",
            c.events
        );
    }
}

#[test]
fn late_joiner_learns_what_is_published() {
    let mut w = World::new(30_000, room());
    let customer = w.add("rm_1", "user_9", "guest", 2);
    w.run_until(Millis(1_000), |w| w.state(customer) == SessionState::Joined);
    w.add_track(customer, Source::Screen);
    w.settle();
    let agent = w.add("rm_1", "agent_1", "host", 1);
    w.run_until(Millis(2_000), |w| w.state(agent) == SessionState::Connected);
    assert_eq!(
        w.client(agent)
            .session
            .source_of_stream(&id("user_9"), "user_9-Screen"),
        Some(Source::Screen)
    );
}
