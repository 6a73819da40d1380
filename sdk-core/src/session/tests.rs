use super::*;
use crate::protocol::{IceCandidate, MemberRef, RoomId, decode_client, encode_server};

fn id(s: &str) -> MemberId {
    MemberId::new(s).unwrap()
}

fn drain(s: &mut Session) -> Vec<Output> {
    std::iter::from_fn(|| s.poll_output()).collect()
}

fn sent(outputs: &[Output]) -> Vec<ClientMessage> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send(f) => Some(decode_client(f).unwrap()),
            _ => None,
        })
        .collect()
}

fn link(member: &str, generation: u32) -> LinkId {
    LinkId {
        target: LinkTarget::Member(id(member)),
        generation,
    }
}

fn welcome(me: &str, role: Role, others: &[&str], resumed: bool) -> String {
    welcome_in(Permissions::default(), me, role, others, resumed)
}

fn welcome_in(
    permissions: Permissions,
    me: &str,
    role: Role,
    others: &[&str],
    resumed: bool,
) -> String {
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
        members: others
            .iter()
            .map(|o| MemberInfo {
                id: id(o),
                role: Role::Host,
                published: vec![],
                diagnostics: None,
                recording_consent: false,
            })
            .collect(),
        permissions,
        capabilities: Capabilities::for_role(role, permissions),
        ice_servers: vec![],
        resume_token: "rt".into(),
        resumed,
    })
}

fn joined(me: &str, role: Role, others: &[&str]) -> Session {
    let mut s = Session::new(SessionConfig::new("tok"));
    s.join(Millis(0)).unwrap();
    s.handle_input(Input::TransportOpened, Millis(1)).unwrap();
    s.handle_input(Input::Frame(welcome(me, role, others, false)), Millis(2))
        .unwrap();
    drain(&mut s);
    s
}

#[test]
fn join_sends_token_and_reaches_joined() {
    let mut s = Session::new(SessionConfig::new("tok"));
    assert_eq!(s.state(), SessionState::Idle);
    s.join(Millis(0)).unwrap();
    assert_eq!(s.join(Millis(0)), Err(SessionError::AlreadyJoined));
    s.handle_input(Input::TransportOpened, Millis(1)).unwrap();
    let out = drain(&mut s);
    assert_eq!(
        sent(&out),
        vec![ClientMessage::Join {
            token: "tok".into(),
            resume_token: None
        }]
    );
    s.handle_input(
        Input::Frame(welcome("user_9", Role::Guest, &["agent_1"], false)),
        Millis(2),
    )
    .unwrap();
    let out = drain(&mut s);
    assert!(out.contains(&Output::Peer {
        link: link("agent_1", 1),
        command: PeerCommand::Create {
            polite: false,
            ice_servers: vec![],
            relay_only: false,
        }
    }));
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Event(Event::Joined(_))))
    );
    assert_eq!(s.state(), SessionState::Joined);
}

#[test]
fn join_timeout_with_no_welcome_ends_unreachable() {
    let mut s = Session::new(SessionConfig::new("tok"));
    s.join(Millis(0)).unwrap();
    s.handle_input(Input::TransportOpened, Millis(1)).unwrap();
    let deadline = s.poll_timeout().unwrap();
    assert_eq!(deadline, Millis(10_000));
    s.handle_timeout(deadline);
    let out = drain(&mut s);
    assert!(out.contains(&Output::CloseTransport));
    assert!(out.contains(&Output::Event(Event::Ended(Ended {
        reason: EndReason::Unreachable
    }))));
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn rejected_join_ends_with_the_code() {
    let mut s = Session::new(SessionConfig::new("tok"));
    s.join(Millis(0)).unwrap();
    s.handle_input(Input::TransportOpened, Millis(1)).unwrap();
    let err = encode_server(&ServerMessage::error(ErrorCode::TokenExpired, "expired"));
    s.handle_input(Input::Frame(err), Millis(2)).unwrap();
    let out = drain(&mut s);
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Event(Event::Ended(Ended {
            reason: EndReason::Rejected {
                code: ErrorCode::TokenExpired,
                ..
            }
        }))
    )));
    assert_eq!(s.state(), SessionState::Ended);
}

#[test]
fn guest_cannot_publish_screen_without_permission_nor_before_notice() {
    let mut s = joined("user_9", Role::Guest, &["agent_1"]);
    assert_eq!(
        s.publish(Source::Camera, None),
        Err(SessionError::Consent(ConsentError::NoticeNotAcknowledged))
    );
    s.acknowledge_notice();
    let err = s.publish(Source::Screen, None).unwrap_err();
    assert_eq!(
        err,
        SessionError::Forbidden(PermissionError::Missing(
            crate::permissions::Capability::ShareScreen
        ))
    );
    assert_eq!(err.code(), ErrorCode::Forbidden);
    assert!(
        drain(&mut s).is_empty(),
        "nothing is sent for a refused action"
    );
    s.publish(Source::Camera, Some("cam".into())).unwrap();
    assert_eq!(
        sent(&drain(&mut s)),
        vec![ClientMessage::Publish {
            source: Source::Camera,
            stream: Some("cam".into())
        }]
    );
}

#[test]
fn observer_cannot_publish() {
    let mut s = joined("obs_1", Role::Observer, &["agent_1"]);
    s.acknowledge_notice();
    for source in Source::ALL {
        assert!(matches!(
            s.publish(source, None),
            Err(SessionError::Forbidden(_))
        ));
    }
}

#[test]
fn pings_on_interval_and_detects_a_dead_link() {
    let mut s = joined("user_9", Role::Guest, &[]);
    assert_eq!(s.poll_timeout(), Some(Millis(10_002)));
    s.handle_timeout(Millis(10_002));
    assert_eq!(sent(&drain(&mut s)), vec![ClientMessage::Ping]);
    // A pong keeps it alive.
    s.handle_input(
        Input::Frame(encode_server(&ServerMessage::Pong)),
        Millis(10_010),
    )
    .unwrap();
    s.handle_timeout(Millis(20_002));
    assert_eq!(sent(&drain(&mut s)), vec![ClientMessage::Ping]);
    // Then silence: dead once that ping has gone unanswered for ping_timeout.
    let mut now = Millis(20_002);
    let mut guard = 0;
    while s.state() != SessionState::Reconnecting {
        now = s.poll_timeout().unwrap();
        s.handle_timeout(now);
        guard += 1;
        assert!(guard < 10, "no livelock");
    }
    assert_eq!(now, Millis(20_002 + 25_000));
    let out = drain(&mut s);
    assert!(out.contains(&Output::CloseTransport));
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Event(Event::Reconnecting(Reconnecting { attempt: 1, .. }))
    )));
}

#[test]
fn a_late_wakeup_pings_instead_of_declaring_the_link_dead() {
    // A hidden tab: the timer meant for 10 s fires after a minute. The silence was ours.
    let mut s = joined("user_9", Role::Guest, &[]);
    s.handle_timeout(Millis(10_002));
    drain(&mut s);
    s.handle_input(
        Input::Frame(encode_server(&ServerMessage::Pong)),
        Millis(10_010),
    )
    .unwrap();
    s.handle_timeout(Millis(70_000));
    assert_eq!(sent(&drain(&mut s)), vec![ClientMessage::Ping]);
    assert_ne!(s.state(), SessionState::Reconnecting);
    s.handle_input(
        Input::Frame(encode_server(&ServerMessage::Pong)),
        Millis(70_020),
    )
    .unwrap();
    // Another minute asleep: still fine, as every ping was answered.
    s.handle_timeout(Millis(130_000));
    assert_eq!(sent(&drain(&mut s)), vec![ClientMessage::Ping]);
    assert_ne!(s.state(), SessionState::Reconnecting);
    // An unanswered one still ends it, a ping timeout later.
    s.handle_timeout(Millis(155_000));
    assert_eq!(s.state(), SessionState::Reconnecting);
}

#[test]
fn undrained_outputs_are_refused() {
    let mut s = joined("user_9", Role::Guest, &["agent_1"]);
    let mut result = Ok(());
    for i in 0..=MAX_PENDING_OUTPUTS {
        result = s.handle_input(
            Input::Frame(encode_server(&ServerMessage::Pong)),
            Millis(i as u64),
        );
        if result.is_err() {
            break;
        }
        // Each pong adds nothing; force outputs with a peer event instead.
        s.handle_input(
            Input::Peer {
                link: link("agent_1", 1),
                event: PeerEvent::LocalCandidate(IceCandidate {
                    candidate: "candidate:1".into(),
                    sdp_mid: None,
                    sdp_m_line_index: None,
                }),
            },
            Millis(i as u64),
        )
        .ok();
    }
    assert_eq!(result, Err(SessionError::OutputNotDrained));
}

#[test]
fn results_of_unknown_or_replaced_links_are_dropped() {
    let mut s = joined("user_9", Role::Guest, &["agent_1"]);
    for stale in [link("ghost", 1), link("agent_1", 7)] {
        s.handle_input(
            Input::Peer {
                link: stale,
                event: PeerEvent::NegotiationNeeded,
            },
            Millis(5),
        )
        .unwrap();
        assert!(drain(&mut s).is_empty(), "nothing runs for a stale link");
    }
    assert_eq!(s.stale_results(), 2);
    // The current link still works.
    s.handle_input(
        Input::Peer {
            link: link("agent_1", 1),
            event: PeerEvent::NegotiationNeeded,
        },
        Millis(6),
    )
    .unwrap();
    assert!(drain(&mut s).contains(&Output::Peer {
        link: link("agent_1", 1),
        command: PeerCommand::CreateOffer { ice_restart: false }
    }));
}

#[test]
fn leave_closes_everything() {
    let mut s = joined("user_9", Role::Guest, &["agent_1"]);
    s.leave().unwrap();
    let out = drain(&mut s);
    assert_eq!(sent(&out), vec![ClientMessage::Leave]);
    assert!(out.contains(&Output::Peer {
        link: link("agent_1", 1),
        command: PeerCommand::Close
    }));
    assert!(out.contains(&Output::CloseTransport));
    assert_eq!(s.state(), SessionState::Ended);
    assert_eq!(s.leave(), Err(SessionError::Ended));
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn garbage_from_the_server_is_reported_not_fatal() {
    let mut s = joined("user_9", Role::Guest, &[]);
    s.handle_input(Input::Frame("{nope".into()), Millis(5))
        .unwrap();
    let out = drain(&mut s);
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Event(Event::Error(ErrorReported {
            code: ErrorCode::BadRequest,
            ..
        }))
    )));
    assert_eq!(s.state(), SessionState::Joined);
}

#[test]
fn capabilities_of_other_members_follow_their_roles() {
    let s = joined("user_9", Role::Guest, &["agent_1"]);
    let host = s.capabilities_of(&id("agent_1")).unwrap();
    assert!(host.contains(crate::permissions::Capability::Annotate));
    assert_eq!(s.capabilities_of(&id("ghost")), None);
    assert_eq!(
        s.members().collect::<Vec<_>>(),
        vec![(&id("agent_1"), Role::Host)]
    );
}

#[test]
fn frames_held_for_a_member_who_left_meanwhile_are_not_sent_after_resume() {
    let mut s = joined("user_9", Role::Guest, &["agent_1"]);
    // Signaling drops; the link to agent_1 restarts ICE meanwhile: its offer is held.
    s.handle_input(Input::TransportClosed, Millis(10)).unwrap();
    drain(&mut s);
    s.restart_ice(&id("agent_1")).unwrap();
    s.handle_input(
        Input::Peer {
            link: link("agent_1", 1),
            event: PeerEvent::LocalDescription {
                kind: SdpKind::Offer,
                sdp: "v=0 restart".into(),
            },
        },
        Millis(11),
    )
    .unwrap();
    s.set_recording_consent(true).unwrap();
    drain(&mut s);
    // Resumed, and agent_1 has left meanwhile.
    let retry = s.poll_timeout().unwrap();
    s.handle_timeout(retry);
    s.handle_input(Input::TransportOpened, retry).unwrap();
    drain(&mut s);
    s.handle_input(
        Input::Frame(welcome("user_9", Role::Guest, &[], true)),
        retry,
    )
    .unwrap();
    let frames = sent(&drain(&mut s));
    assert!(
        !frames.iter().any(|m| matches!(
            m,
            ClientMessage::Offer { .. } | ClientMessage::Candidate { .. }
        )),
        "nothing for the member who left: {frames:?}"
    );
    // What was not addressed to it still goes.
    assert!(frames.contains(&ClientMessage::Consent { recording: true }));
}

#[test]
fn a_frame_over_the_protocol_limit_is_refused_locally_not_sent() {
    let mut s = joined("user_9", Role::Guest, &["agent_1"]);
    s.handle_input(
        Input::Peer {
            link: link("agent_1", 1),
            event: PeerEvent::NegotiationNeeded,
        },
        Millis(5),
    )
    .unwrap();
    drain(&mut s);
    let huge = format!("v=0\r\n{}", "a=x\r\n".repeat(14_000));
    s.handle_input(
        Input::Peer {
            link: link("agent_1", 1),
            event: PeerEvent::LocalDescription {
                kind: SdpKind::Offer,
                sdp: huge,
            },
        },
        Millis(6),
    )
    .unwrap();
    let out = drain(&mut s);
    assert!(sent(&out).is_empty(), "nothing over the limit goes out");
    assert!(out.iter().any(|o| matches!(o,
        Output::Event(Event::Error(e)) if e.code == ErrorCode::BadRequest
            && e.reference.as_deref() == Some("offer"))));
}

#[test]
fn recording_needs_the_capability_and_own_consent_and_follows_the_server() {
    use crate::protocol::RecordingPolicy;
    let room = Permissions {
        screen: false,
        recording: RecordingPolicy::Local,
    };
    let mut s = Session::new(SessionConfig::new("tok"));
    s.join(Millis(0)).unwrap();
    s.handle_input(Input::TransportOpened, Millis(1)).unwrap();
    let w = welcome_in(room, "agent_1", Role::Host, &["user_9"], false);
    s.handle_input(Input::Frame(w), Millis(2)).unwrap();
    drain(&mut s);

    // No cloud recording in this room; no local recording before consenting.
    let cloud = s.request_recording(RecordingAction::Start, RecordingMode::Cloud);
    assert_eq!(cloud.unwrap_err().code(), ErrorCode::Forbidden);
    let no_consent = s.request_recording(RecordingAction::Start, RecordingMode::Local);
    assert!(matches!(
        no_consent,
        Err(SessionError::Consent(ConsentError::RecordingNotConsented))
    ));
    assert!(sent(&drain(&mut s)).is_empty());

    s.set_recording_consent(true).unwrap();
    s.request_recording(RecordingAction::Start, RecordingMode::Local)
        .unwrap();
    let start = ClientMessage::Recording {
        action: RecordingAction::Start,
        mode: RecordingMode::Local,
    };
    assert!(sent(&drain(&mut s)).contains(&start));
    // Only the server's word changes the state.
    assert_eq!(s.recording(RecordingMode::Local), RecordingStatus::Stopped);
    let state = encode_server(&ServerMessage::RecordingState {
        mode: RecordingMode::Local,
        state: RecordingStatus::Recording,
    });
    s.handle_input(Input::Frame(state), Millis(3)).unwrap();
    assert_eq!(
        s.recording(RecordingMode::Local),
        RecordingStatus::Recording
    );
    assert_eq!(s.recording(RecordingMode::Cloud), RecordingStatus::Stopped);

    // A guest may not record at all.
    let mut guest = Session::new(SessionConfig::new("tok"));
    guest.join(Millis(0)).unwrap();
    guest
        .handle_input(Input::TransportOpened, Millis(1))
        .unwrap();
    let w = welcome_in(room, "user_9", Role::Guest, &["agent_1"], false);
    guest.handle_input(Input::Frame(w), Millis(2)).unwrap();
    guest.set_recording_consent(true).unwrap();
    let refused = guest.request_recording(RecordingAction::Start, RecordingMode::Local);
    assert_eq!(refused.unwrap_err().code(), ErrorCode::Forbidden);
}

#[test]
fn end_reasons_carry_wire_or_local_codes() {
    use crate::local_error::{Code, LocalErrorCode};
    assert_eq!(EndReason::Left.code(), None);
    assert_eq!(
        EndReason::Unreachable.code(),
        Some(Code::Local(LocalErrorCode::Unreachable))
    );
    assert_eq!(
        EndReason::ReconnectFailed { attempts: 8 }
            .code()
            .map(|c| c.as_str()),
        Some("unreachable")
    );
    let rejected = EndReason::Rejected {
        code: ErrorCode::TokenExpired,
        message: "expired".into(),
    };
    assert_eq!(rejected.code(), Some(Code::Wire(ErrorCode::TokenExpired)));
}

#[test]
fn a_report_shared_before_joining_goes_with_the_join_and_to_every_fresh_seat() {
    let report = r#"{"verdict":"fair","reasons":["high_rtt"]}"#;
    let shared = ClientMessage::Diagnostics {
        report: report.into(),
    };
    let mut s = Session::new(SessionConfig::new("tok"));
    s.share_diagnostics(report.into()).unwrap();
    s.join(Millis(0)).unwrap();
    s.handle_input(Input::TransportOpened, Millis(1)).unwrap();
    assert!(
        !sent(&drain(&mut s)).contains(&shared),
        "not before welcome"
    );
    s.handle_input(
        Input::Frame(welcome("user_9", Role::Guest, &["agent_1"], false)),
        Millis(2),
    )
    .unwrap();
    assert!(sent(&drain(&mut s)).contains(&shared));
    // A bad report is refused locally, with the protocol's reason, and nothing is sent.
    let err = s.share_diagnostics("not json".into()).unwrap_err();
    assert_eq!(err.code(), ErrorCode::BadRequest);
    assert!(err.message().contains("report"), "{}", err.message());
    assert!(sent(&drain(&mut s)).is_empty());
}

#[test]
fn reports_of_others_arrive_with_the_listing_and_as_events_and_leave_with_them() {
    let mut s = joined("agent_1", Role::Host, &["user_9"]);
    let frame = encode_server(&ServerMessage::MemberDiagnostics {
        member: id("user_9"),
        report: r#"{"verdict":"poor"}"#.into(),
    });
    s.handle_input(Input::Frame(frame), Millis(5)).unwrap();
    let got = drain(&mut s);
    assert!(got.iter().any(|o| matches!(
        o,
        Output::Event(Event::MemberDiagnostics(MemberDiagnostics { member, report }))
            if member == &id("user_9") && report == r#"{"verdict":"poor"}"#
    )));
    assert_eq!(
        s.diagnostics_of(&id("user_9")),
        Some(r#"{"verdict":"poor"}"#)
    );
    // From a member not in the room: ignored.
    let stranger = encode_server(&ServerMessage::MemberDiagnostics {
        member: id("ghost_1"),
        report: "{}".into(),
    });
    s.handle_input(Input::Frame(stranger), Millis(6)).unwrap();
    assert_eq!(s.diagnostics_of(&id("ghost_1")), None);
    let left = encode_server(&ServerMessage::MemberLeft {
        member: MemberRef { id: id("user_9") },
        reason: LeaveReason::Left,
    });
    s.handle_input(Input::Frame(left), Millis(7)).unwrap();
    assert_eq!(s.diagnostics_of(&id("user_9")), None);

    // A member joining with a report already shared (it re-joined) carries it in its listing.
    let member = MemberInfo {
        id: id("user_9"),
        role: Role::Guest,
        published: vec![],
        diagnostics: Some(r#"{"verdict":"good"}"#.into()),
        recording_consent: false,
    };
    let frame = encode_server(&ServerMessage::MemberJoined { member });
    s.handle_input(Input::Frame(frame), Millis(8)).unwrap();
    assert_eq!(
        s.diagnostics_of(&id("user_9")),
        Some(r#"{"verdict":"good"}"#)
    );
}

#[test]
fn other_members_recording_consent_is_tracked_from_listings_and_changes() {
    let mut s = joined("agent_1", Role::Host, &["user_9"]);
    assert!(!s.recording_consent_of(&id("user_9")));
    let consent = |member: &str, recording| {
        Input::Frame(encode_server(&ServerMessage::MemberConsent {
            member: id(member),
            recording,
        }))
    };
    s.handle_input(consent("user_9", true), Millis(5)).unwrap();
    assert!(s.recording_consent_of(&id("user_9")));
    assert!(drain(&mut s).iter().any(|o| matches!(o,
        Output::Event(Event::MemberConsent(MemberConsent { member, granted: true }))
            if member == &id("user_9"))));
    // From a member not in the room: ignored, and not reported.
    s.handle_input(consent("ghost_1", true), Millis(6)).unwrap();
    assert!(!s.recording_consent_of(&id("ghost_1")));
    assert!(drain(&mut s).is_empty());
    s.handle_input(consent("user_9", false), Millis(7)).unwrap();
    assert!(!s.recording_consent_of(&id("user_9")));

    // Leaving forgets it; a listing that says so brings it back.
    s.handle_input(consent("user_9", true), Millis(8)).unwrap();
    let left = encode_server(&ServerMessage::MemberLeft {
        member: MemberRef { id: id("user_9") },
        reason: LeaveReason::Left,
    });
    s.handle_input(Input::Frame(left), Millis(9)).unwrap();
    assert!(!s.recording_consent_of(&id("user_9")));
    let member = MemberInfo {
        id: id("user_9"),
        role: Role::Guest,
        published: vec![],
        diagnostics: None,
        recording_consent: true,
    };
    let frame = encode_server(&ServerMessage::MemberJoined { member });
    s.handle_input(Input::Frame(frame), Millis(10)).unwrap();
    assert!(s.recording_consent_of(&id("user_9")));
}

#[test]
fn a_relay_only_session_asks_for_relay_only_links() {
    let mut config = SessionConfig::new("tok");
    config.relay_only = true;
    let mut s = Session::new(config);
    s.join(Millis(0)).unwrap();
    s.handle_input(Input::TransportOpened, Millis(1)).unwrap();
    s.handle_input(
        Input::Frame(welcome("user_9", Role::Guest, &["agent_1"], false)),
        Millis(2),
    )
    .unwrap();
    assert!(drain(&mut s).iter().any(|o| matches!(
        o,
        Output::Peer {
            command: PeerCommand::Create {
                relay_only: true,
                ..
            },
            ..
        }
    )));
}
