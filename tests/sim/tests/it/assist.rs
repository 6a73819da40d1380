//! Assist at every moment of a link's life, and the links that must recover.

use assistrtc_core::assist::{Point, Rect};
use assistrtc_core::protocol::{Role, Source};
use assistrtc_core::session::{CONNECT_TIMEOUT_MS, Event, MAX_LINK_RESTARTS};
use assistrtc_sim::{Netem, World, id};

use crate::calls::{both_connected, call, call_with, enter, publish, rm_1, room, seeds};

/// Room `rm_1` where the larger id (`user_9`, the impolite side) is the host who annotates,
/// so both data-section roles can be exercised.
fn draw_all(w: &mut World, i: usize) {
    let now = w.now;
    let call = &mut w.client_mut(i).call;
    call.pointer(0.4, 0.6, 0, now).unwrap();
    call.highlight(
        Rect {
            x: 0.2,
            y: 0.2,
            w: 0.3,
            h: 0.3,
        },
        "#ff0000",
        0,
        0,
        now,
    )
    .unwrap();
    call.arrow(
        Point { x: 0.1, y: 0.1 },
        Point { x: 0.2, y: 0.2 },
        "#0000ff",
        0,
        0,
        now,
    )
    .unwrap();
    call.script_step("T-7", 1, 3, "Open settings", now).unwrap();
}

fn sees_all(w: &World, i: usize) -> bool {
    let v = w.client(i).overlay(w.now);
    v.shapes.len() == 2
        && v.cursors.len() == 1
        && v.step.as_ref().is_some_and(|s| s.ticket == "T-7")
}

#[test]
fn drawn_while_the_link_negotiates_reaches_the_customer() {
    // Every moment from the customer's publish to a settled link: draw at each step count.
    for steps in 0..12 {
        let mut w = call();
        publish(&mut w, 1, Source::Screen);
        for _ in 0..steps {
            w.step();
        }
        draw_all(&mut w, 0);
        w.run_until(10_000, |w| sees_all(w, 1));
        for c in &w.clients {
            for p in &c.peers {
                assert!(!p.has_dead_channels(), "{}: dead channels", c.id);
            }
        }
    }
}

#[test]
fn a_pointer_that_stays_still_is_shown_once_the_cursor_channel_opens() {
    let mut w = call();
    let now = w.now;
    w.client_mut(0).call.pointer(0.25, 0.75, 0, now).unwrap();
    w.run_until(10_000, |w| w.client(1).overlay(w.now).cursors.len() == 1);
    let c = &w.client(1).overlay(w.now).cursors[0];
    assert!((c.x - 0.25).abs() < 1e-9 && (c.y - 0.75).abs() < 1e-9);
}

#[test]
fn drawn_before_the_customer_joins_is_replayed_without_any_media() {
    let mut w = rm_1(7, Netem::CLEAN);
    enter(&mut w, "agent_1");
    w.run_until(5_000, |w| w.client(0).call.session().member().is_some());
    let now = w.now;
    let call = &mut w.client_mut(0).call;
    call.highlight(
        Rect {
            x: 0.2,
            y: 0.2,
            w: 0.3,
            h: 0.3,
        },
        "#ff0000",
        0,
        0,
        now,
    )
    .unwrap();
    call.script_step("T-8", 2, 3, "Restart", now).unwrap();
    enter(&mut w, "user_9");
    w.run_until(10_000, |w| {
        let v = w.client(1).overlay(w.now);
        v.shapes.len() == 1 && v.step.is_some()
    });
}

#[test]
fn drawn_after_a_resume_and_during_an_ice_restart_arrives() {
    let mut w = call();
    publish(&mut w, 1, Source::Screen);
    w.run_until(5_000, both_connected);
    w.drop_signaling(0);
    w.run_until(30_000, |w| {
        w.client(0)
            .has_event(|e| matches!(e, Event::Reconnected(_)))
    });
    let now = w.now;
    w.client_mut(0)
        .call
        .restart_ice(&id("user_9"), now)
        .unwrap();
    draw_all(&mut w, 0);
    w.run_until(10_000, |w| sees_all(w, 1));
}

#[test]
fn the_impolite_side_annotates_too() {
    // Here the host is the larger id: it adds the data section itself when it draws.
    let mut w = World::new(8, Netem::CLEAN, |_| {});
    w.room("rm_2", &[("amy", Role::Guest), ("zed", Role::Host)], room());
    let t = w.token("rm_2", "amy", Role::Guest);
    w.join("amy", t);
    let t = w.token("rm_2", "zed", Role::Host);
    w.join("zed", t);
    w.run_until(5_000, |w| {
        w.client(1).call.session().link_to(&id("amy")).is_some()
    });
    publish(&mut w, 0, Source::Screen);
    w.step();
    draw_all(&mut w, 1);
    w.run_until(10_000, |w| sees_all(w, 0));
}

#[test]
fn a_lost_data_offer_is_rolled_back_and_the_channels_made_again() {
    let mut w = call();
    // The customer's first offer carries only media, and its data offer follows once ICE is
    // up: lose that one.
    publish(&mut w, 1, Source::Screen);
    w.run_until(5_000, both_connected);
    w.lose_next_offer_to = Some(id("agent_1"));
    draw_all(&mut w, 0);
    w.run_until(20_000, |w| sees_all(w, 1));
    assert!(w.lose_next_offer_to.is_none(), "the data offer was lost");
}

#[test]
fn a_link_whose_ice_never_starts_is_restarted_within_the_bound() {
    let mut w = call();
    w.client_mut(0).peer_mut("user_9").unwrap().block_ice();
    w.client_mut(1).peer_mut("agent_1").unwrap().block_ice();
    let start = w.elapsed();
    publish(&mut w, 1, Source::Screen);
    w.run_until(CONNECT_TIMEOUT_MS + 5_000, both_connected);
    assert!(w.elapsed() - start >= CONNECT_TIMEOUT_MS);
    assert!(
        w.client(0)
            .errors()
            .iter()
            .chain(w.client(1).errors().iter())
            .any(|e| e.message.contains("did not connect in time"))
    );
}

#[test]
fn a_device_without_webrtc_gets_one_error_and_the_other_side_is_left_alone() {
    let mut w = rm_1(9, Netem::CLEAN);
    enter(&mut w, "agent_1");
    let customer = enter(&mut w, "user_9");
    w.client_mut(customer).create_fails = true;
    w.run_until(5_000, |w| w.client(1).call.session().member().is_some());
    publish(&mut w, 0, Source::Camera);
    w.advance(10 * 60_000);
    assert_eq!(w.client(1).errors().len(), 1, "{:?}", w.client(1).errors());
    // The agent restarts a bounded number of times, then waits.
    let offers = w.client(0).sent_of("offer");
    assert!(
        offers <= 1 + MAX_LINK_RESTARTS as usize,
        "{offers} offers to a device that cannot answer"
    );
    let before = w.client(0).sent_of("offer");
    w.advance(10 * 60_000);
    assert_eq!(w.client(0).sent_of("offer"), before, "it stopped for good");
}

#[test]
fn assist_converges_under_network_weather() {
    let net = Netem {
        delay_ms: 30,
        jitter_ms: 80,
        loss: 0.0,
        duplicate: 0.05,
    };
    for seed in seeds() {
        eprintln!("seed {seed}");
        let mut w = call_with(200 + seed, net, |_| {});
        publish(&mut w, 1, Source::Screen);
        for _ in 0..(seed % 7) {
            w.step();
        }
        draw_all(&mut w, 0);
        w.run_until(60_000, |w| sees_all(w, 1));
    }
}

#[test]
fn a_link_that_ice_restarts_cannot_fix_is_replaced_on_both_sides() {
    let mut w = call();
    publish(&mut w, 1, Source::Screen);
    w.client_mut(0).peer_mut("user_9").unwrap().break_ice();
    w.client_mut(1).peer_mut("agent_1").unwrap().break_ice();
    draw_all(&mut w, 0);
    // The pointer went idle long before; the shapes and the step are replayed on the new link.
    w.run_until(4 * CONNECT_TIMEOUT_MS, |w| {
        let v = w.client(1).overlay(w.now);
        both_connected(w) && v.shapes.len() == 2 && v.step.is_some()
    });
    for (i, other) in [(0, "user_9"), (1, "agent_1")] {
        let link = &w.client(i).peer(other).unwrap().link;
        assert!(link.generation > 1, "{}: still on {link}", w.client(i).id);
    }
    assert!(w.client(0).has_event(
        |e| matches!(e, Event::TrackAdded(t) if t.source == Source::Screen && t.link.generation > 1)
    ));
}
