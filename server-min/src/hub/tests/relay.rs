//! Frames of joined members: relay, isolation, publish, recording, bad frames, rate limit.

use super::*;

#[test]
fn relays_stamp_from_and_respect_to() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, _) = h.join("rm_1", "user_9", Role::Guest);
    let (watcher, _) = h.join("rm_1", "watcher", Role::Observer);
    h.take(agent);
    h.take(guest);

    h.send(agent, &offer(Some("user_9")));
    assert_eq!(
        h.take(guest),
        vec![ServerMessage::Offer {
            from: id("agent_1"),
            sdp: "v=0\r\n".into()
        }]
    );
    assert!(h.take(watcher).is_empty());
    assert!(h.take(agent).is_empty());

    // Without `to`: everyone else.
    h.send(
        guest,
        &ClientMessage::Candidate {
            to: None,
            candidate: IceCandidate {
                candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host".into(),
                sdp_mid: Some("0".into()),
                sdp_m_line_index: Some(0),
            },
        },
    );
    for conn in [agent, watcher] {
        let msgs = h.take(conn);
        assert!(
            matches!(msgs.as_slice(), [ServerMessage::Candidate { from, .. }] if *from == id("user_9")),
            "{msgs:?}"
        );
    }
    assert!(h.take(guest).is_empty());

    // To someone absent, to oneself, or to a stranger: not_found with ref.
    for to in ["agent_2", "agent_1"] {
        h.send(agent, &offer(Some(to)));
        assert_eq!(
            error_code(&h.take(agent)),
            Some((ErrorCode::NotFound, Some("offer".into())))
        );
    }
}

#[test]
fn rooms_are_isolated() {
    let mut h = Harness::new();
    h.room(
        "rm_2",
        &[("agent_1", Role::Host), ("user_9", Role::Guest)],
        Permissions::default(),
    );
    let (a1, _) = h.join("rm_1", "agent_1", Role::Host);
    let (g1, _) = h.join("rm_1", "user_9", Role::Guest);
    let (a2, _) = h.join("rm_2", "agent_1", Role::Host);
    let (g2, _) = h.join("rm_2", "user_9", Role::Guest);
    // Same member ids in another room: neither join nor relay crosses over.
    assert!(h.take(a1).iter().all(|m| matches!(
        m,
        ServerMessage::MemberJoined { member } if member.id == id("user_9")
    )));
    h.take(a2);
    h.send(a1, &offer(None));
    h.send(a1, &offer(Some("user_9")));
    assert_eq!(h.take(g1).len(), 2);
    assert!(h.take(g2).is_empty());
    assert!(h.take(a2).is_empty());
    h.send(g2, &ClientMessage::Leave);
    assert!(h.take(a1).is_empty());
    assert_eq!(h.take(a2).len(), 1);
}

#[test]
fn publish_is_authorized_with_the_core_rules() {
    let mut h = Harness::new();
    h.room(
        "rm_noscreen",
        &[("agent_1", Role::Host), ("user_9", Role::Guest)],
        Permissions::default(),
    );
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (watcher, _) = h.join("rm_1", "watcher", Role::Observer);
    h.take(agent);
    for source in Source::ALL {
        h.send(
            watcher,
            &ClientMessage::Publish {
                source,
                stream: None,
            },
        );
        assert_eq!(
            error_code(&h.take(watcher)),
            Some((ErrorCode::Forbidden, Some("publish".into())))
        );
    }
    assert!(h.take(agent).is_empty());

    let (guest, _) = h.join("rm_noscreen", "user_9", Role::Guest);
    h.send(
        guest,
        &ClientMessage::Publish {
            source: Source::Screen,
            stream: None,
        },
    );
    let msgs = h.take(guest);
    assert!(
        matches!(msgs.as_slice(), [ServerMessage::Error { code: ErrorCode::Forbidden, message, .. }]
            if message == "screen sharing is not allowed for this member"),
        "{msgs:?}"
    );

    // Allowed: recorded on the seat, announced, and listed in a later welcome.
    h.send(
        agent,
        &ClientMessage::Publish {
            source: Source::Screen,
            stream: Some("s1".into()),
        },
    );
    assert!(matches!(
        h.take(watcher).as_slice(),
        [ServerMessage::Published {
            source: Source::Screen,
            ..
        }]
    ));
    let late = h.join_with(h.token("rm_1", "user_9", Role::Guest), None);
    match h.take(late).remove(0) {
        ServerMessage::Welcome { members, .. } => {
            let agent = members.iter().find(|m| m.id == id("agent_1")).unwrap();
            assert_eq!(agent.published[0].stream.as_deref(), Some("s1"));
        }
        other => panic!("{other:?}"),
    }
    h.send(
        agent,
        &ClientMessage::Unpublish {
            source: Source::Screen,
        },
    );
    assert!(matches!(
        h.take(late).as_slice(),
        [ServerMessage::Unpublished {
            source: Source::Screen,
            ..
        }]
    ));
}

#[test]
fn local_recording_needs_everyones_consent() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, _) = h.join("rm_1", "user_9", Role::Guest);
    let (watcher, _) = h.join("rm_1", "watcher", Role::Observer);
    let start = ClientMessage::Recording {
        action: RecordingAction::Start,
        mode: RecordingMode::Local,
    };
    h.take(agent);
    h.take(guest);

    h.send(agent, &start);
    let msgs = h.take(agent);
    assert!(
        matches!(msgs.as_slice(), [ServerMessage::Error { code: ErrorCode::Forbidden, message, .. }]
            if message.contains("user_9") && !message.contains("watcher")),
        "{msgs:?}"
    );

    // Guests cannot record at all.
    h.send(guest, &start);
    assert_eq!(
        error_code(&h.take(guest)),
        Some((ErrorCode::Forbidden, Some("recording".into())))
    );

    h.send(guest, &ClientMessage::Consent { recording: true });
    let granted = ServerMessage::MemberConsent {
        member: id("user_9"),
        recording: true,
    };
    for conn in [agent, watcher] {
        assert_eq!(h.take(conn), vec![granted.clone()]);
    }
    h.send(agent, &start);
    let recording = ServerMessage::RecordingState {
        mode: RecordingMode::Local,
        state: RecordingStatus::Recording,
    };
    for conn in [agent, guest, watcher] {
        assert_eq!(h.take(conn), vec![recording.clone()]);
    }

    // A withdrawal pauses the recording for everyone; the recorder also learns who.
    h.send(guest, &ClientMessage::Consent { recording: false });
    let withdrawn = ServerMessage::MemberConsent {
        member: id("user_9"),
        recording: false,
    };
    let paused = ServerMessage::RecordingState {
        mode: RecordingMode::Local,
        state: RecordingStatus::Paused,
    };
    for conn in [agent, watcher] {
        assert_eq!(h.take(conn), vec![withdrawn.clone(), paused.clone()]);
    }
    assert_eq!(h.take(guest), vec![paused.clone()]);
    // The same consent again changes nothing and is not relayed.
    h.send(guest, &ClientMessage::Consent { recording: false });
    assert_eq!(h.take(agent), vec![]);

    // Resuming needs everyone's consent again, as a start does.
    let resume = ClientMessage::Recording {
        action: RecordingAction::Resume,
        mode: RecordingMode::Local,
    };
    h.send(agent, &resume);
    assert_eq!(
        error_code(&h.take(agent)),
        Some((ErrorCode::Forbidden, Some("recording".into())))
    );
    h.send(guest, &ClientMessage::Consent { recording: true });
    for conn in [agent, watcher] {
        assert_eq!(h.take(conn), vec![granted.clone()]);
    }
    h.send(agent, &resume);
    for conn in [agent, guest, watcher] {
        assert_eq!(h.take(conn), vec![recording.clone()]);
    }

    // Only the recorder pauses, resumes or stops its recording.
    let pause = ClientMessage::Recording {
        action: RecordingAction::Pause,
        mode: RecordingMode::Local,
    };
    let stop = ClientMessage::Recording {
        action: RecordingAction::Stop,
        mode: RecordingMode::Local,
    };
    h.room(
        "rm_2",
        &[("agent_1", Role::Host), ("agent_2", Role::Host)],
        Permissions {
            screen: false,
            recording: RecordingPolicy::Local,
        },
    );
    let (a1, _) = h.join("rm_2", "agent_1", Role::Host);
    let (a2, _) = h.join("rm_2", "agent_2", Role::Host);
    h.send(a2, &ClientMessage::Consent { recording: true });
    h.send(a1, &start);
    h.take(a1);
    h.take(a2);
    for msg in [&pause, &resume, &stop] {
        h.send(a2, msg);
        assert_eq!(
            error_code(&h.take(a2)),
            Some((ErrorCode::Conflict, Some("recording".into())))
        );
    }
    h.send(a1, &pause);
    for conn in [a1, a2] {
        assert_eq!(h.take(conn), vec![paused.clone()]);
    }
    h.send(a1, &stop);
    let stopped = ServerMessage::RecordingState {
        mode: RecordingMode::Local,
        state: RecordingStatus::Stopped,
    };
    for conn in [a1, a2] {
        assert_eq!(h.take(conn), vec![stopped.clone()]);
    }
    h.send(a1, &stop);
    assert_eq!(
        error_code(&h.take(a1)),
        Some((ErrorCode::Conflict, Some("recording".into())))
    );

    // Cloud is not here yet (this room does not even allow it: forbidden first).
    let cloud = ClientMessage::Recording {
        action: RecordingAction::Start,
        mode: RecordingMode::Cloud,
    };
    h.send(agent, &cloud);
    assert_eq!(
        error_code(&h.take(agent)),
        Some((ErrorCode::Forbidden, Some("recording".into())))
    );
    h.room(
        "rm_cloud",
        &[("agent_1", Role::Host)],
        Permissions {
            screen: false,
            recording: RecordingPolicy::Cloud,
        },
    );
    let (cloud_agent, _) = h.join("rm_cloud", "agent_1", Role::Host);
    h.send(cloud_agent, &cloud);
    let msgs = h.take(cloud_agent);
    assert!(
        matches!(msgs.as_slice(), [ServerMessage::Error { code: ErrorCode::NotFound, message, .. }]
            if message.contains("cloud recording is not available")),
        "{msgs:?}"
    );
}

#[test]
fn recorder_leaving_stops_the_recording() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, _) = h.join("rm_1", "user_9", Role::Guest);
    h.send(guest, &ClientMessage::Consent { recording: true });
    h.send(
        agent,
        &ClientMessage::Recording {
            action: RecordingAction::Start,
            mode: RecordingMode::Local,
        },
    );
    h.take(guest);
    // A late joiner learns that the room records.
    let watcher = h.join_with(h.token("rm_1", "watcher", Role::Observer), None);
    let msgs = h.take(watcher);
    assert!(
        matches!(
            msgs.as_slice(),
            [
                ServerMessage::Welcome { .. },
                ServerMessage::RecordingState {
                    state: RecordingStatus::Recording,
                    ..
                }
            ]
        ),
        "{msgs:?}"
    );
    // A member who must consent, arriving on a fresh seat without consent, pauses it.
    h.send(guest, &ClientMessage::Leave);
    let guest = h.join_with(h.token("rm_1", "user_9", Role::Guest), None);
    let msgs = h.take(guest);
    assert!(
        matches!(
            msgs.as_slice(),
            [
                ServerMessage::Welcome { .. },
                ServerMessage::RecordingState {
                    state: RecordingStatus::Recording,
                    ..
                },
                ServerMessage::RecordingState {
                    state: RecordingStatus::Paused,
                    ..
                }
            ]
        ),
        "{msgs:?}"
    );
    h.send(agent, &ClientMessage::Leave);
    let msgs = h.take(guest);
    assert!(
        matches!(
            msgs.as_slice(),
            [
                ServerMessage::MemberLeft { .. },
                ServerMessage::RecordingState {
                    state: RecordingStatus::Stopped,
                    ..
                }
            ]
        ),
        "{msgs:?}"
    );
}

#[test]
fn queue_next_is_host_only_and_empty() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let (guest, _) = h.join("rm_1", "user_9", Role::Guest);
    h.send(guest, &ClientMessage::QueueNext);
    assert_eq!(
        error_code(&h.take(guest)),
        Some((ErrorCode::Forbidden, Some("queue_next".into())))
    );
    h.take(agent);
    h.send(agent, &ClientMessage::QueueNext);
    assert_eq!(
        error_code(&h.take(agent)),
        Some((ErrorCode::NotFound, Some("queue_next".into())))
    );
}

#[test]
fn bad_frames_after_join_keep_the_connection() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let oversize = format!(
        r#"{{"v":1,"type":"offer","sdp":"v=0{}"}}"#,
        "a".repeat(protocol::MAX_FRAME_BYTES)
    );
    let cases = [
        ("not json", ErrorCode::BadRequest, None),
        (
            r#"{"v":2,"type":"ping"}"#,
            ErrorCode::UnsupportedVersion,
            Some("ping"),
        ),
        (
            r#"{"v":1,"type":"fly"}"#,
            ErrorCode::BadRequest,
            Some("fly"),
        ),
        (
            r#"{"v":1,"type":"publish","source":"hologram"}"#,
            ErrorCode::BadRequest,
            Some("publish"),
        ),
        (oversize.as_str(), ErrorCode::BadRequest, None),
    ];
    for (text, code, reference) in cases {
        h.raw(agent, text);
        let msgs = h.take(agent);
        assert_eq!(
            error_code(&msgs),
            Some((code, reference.map(str::to_owned))),
            "{text:.80}"
        );
        for m in &msgs {
            m.validate()
                .expect("error frames stay within the protocol's caps");
        }
    }
    h.hub.handle_binary(agent, h.now);
    h.drain();
    assert_eq!(
        error_code(&h.take(agent)),
        Some((ErrorCode::BadRequest, None))
    );
    h.send(
        agent,
        &ClientMessage::Join {
            token: "x".into(),
            resume_token: None,
        },
    );
    assert_eq!(
        error_code(&h.take(agent)),
        Some((ErrorCode::Conflict, Some("join".into())))
    );
    assert!(!h.closed.contains(&agent));
    h.send(agent, &ClientMessage::Ping);
    assert_eq!(h.take(agent), vec![ServerMessage::Pong]);
}

#[test]
fn long_error_details_are_truncated_to_the_protocol_cap() {
    let mut h = Harness::new();
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    let text = format!(
        r#"{{"v":1,"type":"{}","x":1}}"#,
        "é".repeat(2 * MAX_TEXT_BYTES)
    );
    h.raw(agent, &text);
    let msgs = h.take(agent);
    let [msg @ ServerMessage::Error { reference, .. }] = msgs.as_slice() else {
        panic!("{msgs:?}");
    };
    msg.validate().unwrap();
    assert!(reference.as_ref().is_some_and(|r| r.len() <= MAX_ID_LEN));
}

#[test]
fn rate_limit_drops_excess_and_reports_once_per_second() {
    let mut h = Harness::with_config(|c| {
        c.rate_limit = RateLimit {
            burst: 5,
            refill_per_sec: 10,
        }
    });
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host); // the join took one token
    for _ in 0..10 {
        h.send(agent, &ClientMessage::Ping);
    }
    let msgs = h.take(agent);
    assert_eq!(
        msgs.iter()
            .filter(|m| matches!(m, ServerMessage::Pong))
            .count(),
        4
    );
    assert_eq!(
        msgs.iter()
            .filter(|m| matches!(
                m,
                ServerMessage::Error {
                    code: ErrorCode::RateLimited,
                    ..
                }
            ))
            .count(),
        1
    );
    assert!(!h.closed.contains(&agent));
    // 500 ms refill five tokens, but the next error waits for the full second.
    h.advance(500);
    for _ in 0..7 {
        h.send(agent, &ClientMessage::Ping);
    }
    let msgs = h.take(agent);
    assert_eq!(msgs, vec![ServerMessage::Pong; 5]);
    h.advance(500);
    for _ in 0..7 {
        h.send(agent, &ClientMessage::Ping);
    }
    let msgs = h.take(agent);
    assert_eq!(msgs.len(), 6, "{msgs:?}");
    assert!(matches!(
        msgs.last(),
        Some(ServerMessage::Error {
            code: ErrorCode::RateLimited,
            ..
        })
    ));
}

#[test]
fn a_shared_report_reaches_the_others_and_later_joiners_and_a_bad_one_is_refused() {
    let mut h = Harness::new();
    let (guest, _) = h.join("rm_1", "user_9", Role::Guest);
    let (agent, _) = h.join("rm_1", "agent_1", Role::Host);
    h.take(guest);
    h.take(agent);
    let report = r#"{"verdict":"fair","reasons":["udp_blocked"]}"#;
    h.send(
        guest,
        &ClientMessage::Diagnostics {
            report: report.into(),
        },
    );
    assert_eq!(
        h.take(agent),
        vec![ServerMessage::MemberDiagnostics {
            member: id("user_9"),
            report: report.into(),
        }]
    );
    assert!(h.take(guest).is_empty(), "not echoed to the sender");

    // Not a JSON object: refused by the codec's rules, nobody hears of it.
    h.raw(guest, r#"{"v":1,"type":"diagnostics","report":"[1,2]"}"#);
    assert_eq!(
        error_code(&h.take(guest)),
        Some((ErrorCode::BadRequest, Some("diagnostics".into())))
    );
    assert!(h.take(agent).is_empty());

    // An agent joining later finds it in the welcome's listing.
    let watcher = h.join_with(h.token("rm_1", "watcher", Role::Observer), None);
    let msgs = h.take(watcher);
    let Some(ServerMessage::Welcome { members, .. }) = msgs.first() else {
        panic!("{msgs:?}");
    };
    let user = members.iter().find(|m| m.id == id("user_9")).unwrap();
    assert_eq!(user.diagnostics.as_deref(), Some(report));
}
