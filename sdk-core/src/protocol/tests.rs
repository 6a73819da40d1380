use super::*;
use crate::permissions::Capability;

fn member(id: &str) -> MemberId {
    MemberId::new(id).unwrap()
}

fn client_examples() -> Vec<ClientMessage> {
    vec![
        ClientMessage::Join {
            token: "<jwt>".into(),
            resume_token: None,
        },
        ClientMessage::Join {
            token: "<jwt>".into(),
            resume_token: Some("<resume>".into()),
        },
        ClientMessage::Offer {
            to: Some(member("user_9")),
            sdp: "v=0\r\n".into(),
        },
        ClientMessage::Answer {
            to: None,
            sdp: "v=0\r\n".into(),
        },
        ClientMessage::Candidate {
            to: Some(member("user_9")),
            candidate: IceCandidate {
                candidate: "candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host".into(),
                sdp_mid: Some("0".into()),
                sdp_m_line_index: Some(0),
            },
        },
        ClientMessage::Publish {
            source: Source::Screen,
            stream: Some("s-screen".into()),
        },
        ClientMessage::Unpublish {
            source: Source::Camera,
        },
        ClientMessage::Diagnostics {
            report: r#"{"verdict":"fair","reasons":["high_rtt"]}"#.into(),
        },
        ClientMessage::Consent { recording: true },
        ClientMessage::Recording {
            action: RecordingAction::Start,
            mode: RecordingMode::Cloud,
        },
        ClientMessage::Recording {
            action: RecordingAction::Resume,
            mode: RecordingMode::Local,
        },
        ClientMessage::Recording {
            action: RecordingAction::Pause,
            mode: RecordingMode::Local,
        },
        ClientMessage::QueueNext,
        ClientMessage::Leave,
        ClientMessage::Ping,
    ]
}

fn server_examples() -> Vec<ServerMessage> {
    let agent = MemberInfo {
        id: member("agent_1"),
        role: Role::Host,
        published: vec![],
        diagnostics: None,
        recording_consent: false,
    };
    let user = MemberInfo {
        id: member("user_9"),
        role: Role::Guest,
        published: vec![Published {
            source: Source::Camera,
            stream: Some("s-cam".into()),
        }],
        diagnostics: None,
        recording_consent: true,
    };
    let permissions = Permissions {
        screen: true,
        recording: RecordingPolicy::Cloud,
    };
    vec![
        ServerMessage::Welcome {
            session_id: "s_1".into(),
            member: user.clone(),
            room: RoomId::new("rm_20251003_001").unwrap(),
            members: vec![agent],
            permissions,
            capabilities: Capabilities::for_role(Role::Guest, permissions),
            ice_servers: vec![IceServer {
                urls: vec!["stun:127.0.0.1:3478".into()],
                username: None,
                credential: None,
            }],
            resume_token: "<opaque>".into(),
            resumed: false,
        },
        ServerMessage::MemberJoined { member: user },
        ServerMessage::MemberLeft {
            member: MemberRef {
                id: member("agent_1"),
            },
            reason: LeaveReason::Left,
        },
        ServerMessage::Offer {
            from: member("agent_1"),
            sdp: "v=0\r\n".into(),
        },
        ServerMessage::Answer {
            from: member("user_9"),
            sdp: "v=0\r\n".into(),
        },
        ServerMessage::Candidate {
            from: member("agent_1"),
            candidate: IceCandidate {
                candidate: String::new(),
                sdp_mid: None,
                sdp_m_line_index: None,
            },
        },
        ServerMessage::Published {
            member: member("user_9"),
            source: Source::Screen,
            stream: Some("s-screen".into()),
        },
        ServerMessage::Unpublished {
            member: member("user_9"),
            source: Source::Screen,
        },
        ServerMessage::Queue { position: 2 },
        ServerMessage::Assigned {
            room: RoomId::new("rm_1").unwrap(),
            agent: member("agent_1"),
        },
        ServerMessage::Permissions {
            permissions,
            capabilities: [Capability::PublishCamera].into_iter().collect(),
        },
        ServerMessage::RecordingState {
            mode: RecordingMode::Cloud,
            state: RecordingStatus::Recording,
        },
        ServerMessage::RecordingState {
            mode: RecordingMode::Local,
            state: RecordingStatus::Paused,
        },
        ServerMessage::MemberConsent {
            member: member("user_9"),
            recording: false,
        },
        ServerMessage::MemberDiagnostics {
            member: member("user_9"),
            report: r#"{"verdict":"good"}"#.into(),
        },
        ServerMessage::error(
            ErrorCode::Forbidden,
            "screen sharing is not allowed for this member",
        ),
        ServerMessage::Error {
            code: ErrorCode::BadRequest,
            message: "invalid field".into(),
            reference: Some("offer".into()),
        },
        ServerMessage::Pong,
    ]
}

#[test]
fn client_wire_format() {
    let lines: Vec<String> = client_examples().iter().map(encode_client).collect();
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn server_wire_format() {
    let lines: Vec<String> = server_examples().iter().map(encode_server).collect();
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn every_message_round_trips() {
    for msg in client_examples() {
        assert_eq!(decode_client(&encode_client(&msg)).unwrap(), msg);
    }
    for msg in server_examples() {
        assert_eq!(decode_server(&encode_server(&msg)).unwrap(), msg);
    }
}

/// Every signaling example in DESIGN.md ("Wire protocol"), as written there.
const DESIGN_EXAMPLES: &[&str] = &[
    r#"{"v":1,"type":"join","token":"<jwt>"}"#,
    r#"{"v":1,"type":"join","token":"<jwt>","resume_token":"<from welcome>"}"#,
    r#"{"v":1,"type":"welcome","session_id":"s_1","member":{"id":"user_9","role":"guest"},"room":"rm_20251003_001",
 "members":[{"id":"agent_1","role":"host"}],"permissions":{"screen":true,"recording":"cloud"},
 "ice_servers":[{"urls":["stun:127.0.0.1:3478"]}],"resume_token":"<opaque>"}"#,
    r#"{"v":1,"type":"member_joined","member":{"id":"user_9","role":"guest"}}"#,
    r#"{"v":1,"type":"offer","to":"user_9","sdp":"v=0\r\n…"}"#,
    r#"{"v":1,"type":"offer","from":"agent_1","sdp":"v=0\r\n…"}"#,
    r#"{"v":1,"type":"candidate","to":"user_9","candidate":"candidate:1 1 udp …","sdp_mid":"0","sdp_m_line_index":0}"#,
    r#"{"v":1,"type":"publish","source":"screen"}"#,
    r#"{"v":1,"type":"error","code":"forbidden","message":"screen sharing is not allowed for this member"}"#,
    r#"{"v":1,"type":"member_left","member":{"id":"agent_1"},"reason":"left"}"#,
];

#[test]
fn design_examples_decode() {
    for text in DESIGN_EXAMPLES {
        let want = frame_type(text).unwrap();
        // `to` marks a client frame, `from` a relayed one; the rest by type.
        let kind = if codec::CLIENT_TYPES.contains(&want.as_str()) && !text.contains(r#""from""#) {
            decode_client(text).map(|m| m.kind())
        } else {
            decode_server(text).map(|m| m.kind())
        };
        assert_eq!(kind, Ok(want.as_str()), "{text}");
    }
}

#[test]
fn every_type_name_round_trips() {
    let client: Vec<&str> = client_examples().iter().map(ClientMessage::kind).collect();
    let server: Vec<&str> = server_examples().iter().map(ServerMessage::kind).collect();
    for name in codec::CLIENT_TYPES {
        assert!(client.contains(name), "no client example of {name}");
    }
    for name in codec::SERVER_TYPES {
        assert!(server.contains(name), "no server example of {name}");
    }
    for msg in client_examples() {
        let text = encode_client(&msg);
        assert_eq!(frame_type(&text).as_deref(), Some(msg.kind()));
        assert!(codec::CLIENT_TYPES.contains(&msg.kind()));
        assert_eq!(decode_client(&text).unwrap(), msg);
    }
    for msg in server_examples() {
        let text = encode_server(&msg);
        assert_eq!(frame_type(&text).as_deref(), Some(msg.kind()));
        assert!(codec::SERVER_TYPES.contains(&msg.kind()));
        assert_eq!(decode_server(&text).unwrap(), msg);
    }
}

#[test]
fn duplicate_keys_are_refused() {
    for text in [
        // The server would run `leave`, JSON.parse and serde_json read `ping`.
        r#"{"v":1,"type":"leave","type":"ping"}"#,
        r#"{"v":1,"source":"screen","source":"camera","type":"publish"}"#,
        r#"{"v":1,"v":1,"type":"ping"}"#,
    ] {
        let err = decode_client(text).unwrap_err();
        assert!(
            matches!(err, ProtocolError::DuplicateKey(_)),
            "{text}: {err}"
        );
        assert_eq!(err.code(), ErrorCode::BadRequest);
        assert_eq!(frame_type(text), None, "{text}");
    }
    let err = decode_client(r#"{"v":1,"type":"leave","type":"ping"}"#).unwrap_err();
    assert_eq!(err.to_string(), r#"duplicate key "type""#);
    // Nested: a member with two ids.
    let nested =
        r#"{"v":1,"type":"member_joined","member":{"id":"user_9","role":"guest","id":"agent_1"}}"#;
    let err = decode_server(nested).unwrap_err();
    assert_eq!(err, ProtocolError::DuplicateKey(r#""id""#.into()));
    assert_eq!(err.code(), ErrorCode::BadRequest);
    // Inside an ignored field too: the frame as a whole is ambiguous.
    let ignored = r#"{"v":1,"type":"ping","future":{"x":1,"x":2}}"#;
    assert!(matches!(
        decode_client(ignored),
        Err(ProtocolError::DuplicateKey(_))
    ));
    // Assist messages go through the same parser.
    let assist = r#"{"t":"cursor","x":0.5,"x":0.9,"y":0.4}"#;
    assert!(matches!(
        crate::assist::AssistMessage::decode(assist),
        Err(crate::assist::AssistError::Malformed(e)) if e.contains("duplicate key")
    ));
}

#[test]
fn unknown_capabilities_are_dropped() {
    let welcome = r#"{"v":1,"type":"welcome","session_id":"s_1","member":{"id":"user_9","role":"guest"},"room":"rm_1","members":[],"permissions":{"screen":true,"recording":"none"},"capabilities":["publish_camera","teleport","share_screen"],"resume_token":"r"}"#;
    let ServerMessage::Welcome { capabilities, .. } = decode_server(welcome).unwrap() else {
        panic!("not a welcome");
    };
    let want: Capabilities = [Capability::PublishCamera, Capability::ShareScreen]
        .into_iter()
        .collect();
    assert_eq!(capabilities, want);
    let perms = r#"{"v":1,"type":"permissions","permissions":{"screen":false,"recording":"none"},"capabilities":["teleport"]}"#;
    assert_eq!(
        decode_server(perms).unwrap(),
        ServerMessage::Permissions {
            permissions: Permissions::default(),
            capabilities: Capabilities::NONE,
        }
    );
    // Still a list of names.
    let bad = r#"{"v":1,"type":"permissions","permissions":{},"capabilities":"annotate"}"#;
    assert!(decode_server(bad).is_err());
}

#[test]
fn unknown_error_codes_decode_as_other() {
    let text =
        r#"{"v":1,"type":"error","code":"payment_required","message":"top up","ref":"join"}"#;
    assert_eq!(
        decode_server(text).unwrap(),
        ServerMessage::Error {
            code: ErrorCode::Other,
            message: "top up".into(),
            reference: Some("join".into()),
        }
    );
    assert_eq!(ErrorCode::Other.as_str(), "other");
    // `from_wire` stays strict, for callers that must refuse.
    assert_eq!(ErrorCode::from_wire("payment_required"), None);
    let bad = r#"{"v":1,"type":"error","code":7,"message":"x"}"#;
    assert!(decode_server(bad).is_err());
}

#[test]
fn unknown_sources_are_skipped_in_member_lists() {
    let text = r#"{"v":1,"type":"member_joined","member":{"id":"user_9","role":"guest","published":[{"source":"hologram","stream":"h"},{"source":"camera","stream":"c"}]}}"#;
    let ServerMessage::MemberJoined { member } = decode_server(text).unwrap() else {
        panic!("not member_joined");
    };
    assert_eq!(
        member.published,
        vec![Published {
            source: Source::Camera,
            stream: Some("c".into()),
        }]
    );
    // A malformed entry is still an error.
    let bad = r#"{"v":1,"type":"member_joined","member":{"id":"user_9","role":"guest","published":[{"source":3}]}}"#;
    assert!(decode_server(bad).is_err());
}

#[test]
fn published_with_an_unknown_source_is_unsupported_not_an_error() {
    let published =
        r#"{"v":1,"type":"published","member":"user_9","source":"hologram","stream":"h"}"#;
    let msg = decode_server(published).unwrap();
    assert_eq!(
        msg,
        ServerMessage::Unsupported {
            kind: "published",
            field: "source",
            value: "hologram".into(),
        }
    );
    assert_eq!(msg.kind(), "published");
    // It cannot be sent: the bare frame it encodes to does not decode.
    assert_eq!(encode_server(&msg), r#"{"v":1,"type":"published"}"#);
    assert!(decode_server(&encode_server(&msg)).is_err());
    let unpublished = r#"{"v":1,"type":"unpublished","member":"user_9","source":"hologram"}"#;
    assert!(matches!(
        decode_server(unpublished).unwrap(),
        ServerMessage::Unsupported {
            kind: "unpublished",
            ..
        }
    ));
    // The rest of the frame is still checked first.
    let bad = r#"{"v":1,"type":"published","member":"bad id!","source":"hologram"}"#;
    assert!(decode_server(bad).is_err());
}

#[test]
fn unknown_leave_reasons_decode_as_other() {
    let text = r#"{"v":1,"type":"member_left","member":{"id":"agent_1"},"reason":"banned"}"#;
    assert_eq!(
        decode_server(text).unwrap(),
        ServerMessage::MemberLeft {
            member: MemberRef {
                id: member("agent_1"),
            },
            reason: LeaveReason::Other,
        }
    );
}

#[test]
fn the_server_stays_strict_about_client_sources() {
    for text in [
        r#"{"v":1,"type":"publish","source":"hologram"}"#,
        r#"{"v":1,"type":"unpublish","source":"hologram"}"#,
        r#"{"v":1,"type":"recording","action":"rewind","mode":"cloud"}"#,
    ] {
        let err = decode_client(text).unwrap_err();
        assert_eq!(err.code(), ErrorCode::BadRequest, "{text}");
    }
}

#[test]
fn wire_names_are_distinct_and_decode() {
    fn check<T: Copy + PartialEq + fmt::Debug + json::ToJson + FromJson>(
        all: &[(T, &str)],
        as_str: fn(T) -> &'static str,
    ) {
        for (i, (v, name)) in all.iter().enumerate() {
            assert_eq!(as_str(*v), *name);
            assert_eq!(json::to_string(v), format!("\"{name}\""));
            assert_eq!(T::from_json(Json::Str((*name).into())).unwrap(), *v);
            assert!(all[..i].iter().all(|(_, n)| n != name), "{name} twice");
        }
    }
    check(ErrorCode::WIRE_NAMES, ErrorCode::as_str);
    check(Role::WIRE_NAMES, Role::as_str);
    check(Source::WIRE_NAMES, Source::as_str);
    check(RecordingPolicy::WIRE_NAMES, RecordingPolicy::as_str);
    check(RecordingMode::WIRE_NAMES, RecordingMode::as_str);
    check(RecordingAction::WIRE_NAMES, RecordingAction::as_str);
    check(RecordingStatus::WIRE_NAMES, RecordingStatus::as_str);
    check(LeaveReason::WIRE_NAMES, LeaveReason::as_str);
    check(Capability::WIRE_NAMES, Capability::as_str);
    assert_eq!(Source::WIRE_NAMES.len(), Source::ALL.len());
    assert_eq!(Capability::WIRE_NAMES.len(), Capability::ALL.len());
}

/// With the `serde` feature, serde reads and writes the same names as the wire codec
/// (`cargo test -p assistrtc-core --features serde`).
#[cfg(feature = "serde")]
#[test]
fn serde_names_match_wire_names() {
    fn check<T>(all: &[(T, &str)], open: bool)
    where
        T: Copy + PartialEq + fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
    {
        for (v, name) in all {
            assert_eq!(serde_json::to_string(v).unwrap(), format!("\"{name}\""));
            assert_eq!(
                serde_json::from_str::<T>(&format!("\"{name}\"")).unwrap(),
                *v
            );
        }
        assert_eq!(
            serde_json::from_str::<T>("\"from_the_future\"").is_ok(),
            open
        );
    }
    check(ErrorCode::WIRE_NAMES, true);
    check(Role::WIRE_NAMES, false);
    check(Source::WIRE_NAMES, false);
    check(RecordingPolicy::WIRE_NAMES, false);
    check(RecordingMode::WIRE_NAMES, false);
    check(RecordingAction::WIRE_NAMES, false);
    check(RecordingStatus::WIRE_NAMES, false);
    check(LeaveReason::WIRE_NAMES, true);
    check(Capability::WIRE_NAMES, false);
    assert_eq!(
        serde_json::from_str::<ErrorCode>("\"payment_required\"").unwrap(),
        ErrorCode::Other
    );
    let caps: Capabilities = serde_json::from_str(r#"["annotate","teleport"]"#).unwrap();
    assert_eq!(caps, [Capability::Annotate].into_iter().collect());
    let perms: Permissions =
        serde_json::from_str(r#"{"screen":true,"recording":"cloud"}"#).unwrap();
    assert_eq!(perms.recording, RecordingPolicy::Cloud);
}

#[test]
fn extra_fields_are_tolerated() {
    let msg = decode_client(r#"{"v":1,"type":"ping","future":{"x":1}}"#).unwrap();
    assert_eq!(msg, ClientMessage::Ping);
}

#[test]
fn malformed_frames_get_typed_errors() {
    let cases: &[(&str, ErrorCode)] = &[
        ("not json", ErrorCode::BadRequest),
        ("[1,2]", ErrorCode::BadRequest),
        (r#"{"type":"ping"}"#, ErrorCode::UnsupportedVersion),
        (r#"{"v":2,"type":"ping"}"#, ErrorCode::UnsupportedVersion),
        (r#"{"v":"1","type":"ping"}"#, ErrorCode::UnsupportedVersion),
        (r#"{"v":1}"#, ErrorCode::BadRequest),
        (r#"{"v":1,"type":"fly"}"#, ErrorCode::BadRequest),
        (r#"{"v":1,"type":"join"}"#, ErrorCode::BadRequest),
        (
            r#"{"v":1,"type":"publish","source":"hologram"}"#,
            ErrorCode::BadRequest,
        ),
        (
            r#"{"v":1,"type":"offer","to":"bad id!","sdp":"v=0"}"#,
            ErrorCode::BadRequest,
        ),
        (
            r#"{"v":1,"type":"offer","sdp":"hello"}"#,
            ErrorCode::BadRequest,
        ),
        (
            r#"{"v":1,"type":"candidate","candidate":"a\nb"}"#,
            ErrorCode::BadRequest,
        ),
    ];
    for (text, code) in cases {
        let err = decode_client(text).unwrap_err();
        assert_eq!(err.code(), *code, "{text}: {err}");
    }
}

#[test]
fn field_errors_name_the_field() {
    let err = decode_client(r#"{"v":1,"type":"offer","to":"bad id!","sdp":"v=0"}"#).unwrap_err();
    assert!(err.to_string().contains("member"), "{err}");
    let err = decode_client(r#"{"v":1,"type":"join"}"#).unwrap_err();
    assert!(err.to_string().contains("token"), "{err}");
}

#[test]
fn size_caps_hold() {
    let big = format!(
        r#"{{"v":1,"type":"ping","pad":"{}"}}"#,
        "x".repeat(MAX_FRAME_BYTES)
    );
    assert_eq!(
        decode_client(&big).unwrap_err(),
        ProtocolError::FrameTooLarge { size: big.len() }
    );
    let sdp = format!("v=0{}", "a".repeat(MAX_SDP_BYTES));
    let offer = encode_client(&ClientMessage::Offer { to: None, sdp });
    assert!(offer.len() <= MAX_FRAME_BYTES);
    assert!(matches!(
        decode_client(&offer),
        Err(ProtocolError::Invalid { field: "sdp", .. })
    ));
    let cand = IceCandidate {
        candidate: "c".repeat(MAX_CANDIDATE_BYTES + 1),
        sdp_mid: None,
        sdp_m_line_index: None,
    };
    let text = encode_client(&ClientMessage::Candidate {
        to: None,
        candidate: cand,
    });
    assert!(matches!(
        decode_client(&text),
        Err(ProtocolError::Invalid {
            field: "candidate",
            ..
        })
    ));
}

#[test]
fn ids_are_checked() {
    assert!(MemberId::new("agent_1").is_ok());
    assert!(RoomId::new("rm_20251003_001").is_ok());
    for bad in ["", "a b", "ü", &"x".repeat(MAX_ID_LEN + 1)] {
        assert!(MemberId::new(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn design_assist_examples_decode() {
    use crate::assist::{AssistMessage, DEFAULT_COLOR, Rect};
    assert_eq!(
        AssistMessage::decode(r#"{"t":"cursor","x":0.5,"y":0.4}"#).unwrap(),
        AssistMessage::Cursor {
            x: 0.5,
            y: 0.4,
            at: 0,
            seq: 0,
        }
    );
    // The kinds as DESIGN lists them, with only the fields it names.
    let highlight = r##"{"t":"highlight","id":"h1","rect":{"x":0.1,"y":0.1,"w":0.2,"h":0.2},"color":"#00ff00","ttl_ms":0}"##;
    assert_eq!(
        AssistMessage::decode(highlight).unwrap(),
        AssistMessage::Highlight {
            id: "h1".into(),
            rect: Rect {
                x: 0.1,
                y: 0.1,
                w: 0.2,
                h: 0.2,
            },
            color: "#00ff00".into(),
            ttl_ms: 0,
            at: 0,
            seq: 0,
        }
    );
    let arrow = r#"{"t":"arrow","id":"a1","from":{"x":0,"y":0},"to":{"x":1,"y":1}}"#;
    assert!(matches!(
        AssistMessage::decode(arrow).unwrap(),
        AssistMessage::Arrow { color, .. } if color == DEFAULT_COLOR
    ));
    for text in [
        r#"{"t":"clear"}"#,
        r#"{"t":"clear","id":"a1"}"#,
        r#"{"t":"script_step","ticket":"T-1","step":1,"total":3,"title":"Open settings"}"#,
    ] {
        assert!(AssistMessage::decode(text).is_ok(), "{text}");
    }
}

#[test]
fn signal_urls_are_derived_from_a_base_or_kept() {
    use super::signal_url;
    assert_eq!(
        signal_url("http://127.0.0.1:8080"),
        "ws://127.0.0.1:8080/v1/signal"
    );
    assert_eq!(
        signal_url("https://a.example/"),
        "wss://a.example/v1/signal"
    );
    assert_eq!(signal_url("ws://h:1/v1/signal"), "ws://h:1/v1/signal");
    assert_eq!(signal_url("wss://h/custom/path"), "wss://h/custom/path");
    // Every trailing `/` goes; a path left after that is kept.
    assert_eq!(signal_url("http://h:1//"), "ws://h:1/v1/signal");
    assert_eq!(signal_url("https://h/base/"), "wss://h/base");
    assert_eq!(signal_url("https://"), "wss:///v1/signal");
}

#[test]
fn api_urls_take_the_origin_of_any_configured_url() {
    use super::api_url;
    let p = "/v1/preflight/config";
    assert_eq!(
        api_url("http://127.0.0.1:8080", p),
        "http://127.0.0.1:8080/v1/preflight/config"
    );
    assert_eq!(api_url("https://h/", p), "https://h/v1/preflight/config");
    assert_eq!(
        api_url("ws://h:1/v1/signal", p),
        "http://h:1/v1/preflight/config"
    );
    assert_eq!(
        api_url("wss://h/v1/signal", p),
        "https://h/v1/preflight/config"
    );
}

#[test]
fn a_shared_report_must_be_a_capped_json_object() {
    let report = |r: &str| ClientMessage::Diagnostics { report: r.into() }.validate();
    assert!(report(r#"{"verdict":"good"}"#).is_ok());
    for bad in ["", "[]", "\"good\"", "{"] {
        let Err(ProtocolError::Invalid { field, .. }) = report(bad) else {
            panic!("{bad:?} accepted");
        };
        assert_eq!(field, "report");
    }
    let big = ["{\"x\":\"", &"a".repeat(MAX_REPORT_BYTES), "\"}"].concat();
    assert!(report(&big).is_err());
    // A member listing carries a shared report and reads it back.
    let listed = r#"{"id":"user_9","role":"guest","diagnostics":"{\"verdict\":\"poor\"}"}"#;
    let m = MemberInfo::from_json(json::parse(listed).unwrap()).unwrap();
    assert_eq!(m.diagnostics.as_deref(), Some(r#"{"verdict":"poor"}"#));
    assert_eq!(json::to_string(&m), listed);
}
