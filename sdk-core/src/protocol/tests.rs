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
        ClientMessage::Consent { recording: true },
        ClientMessage::Recording {
            action: RecordingAction::Start,
            mode: RecordingMode::Cloud,
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
    };
    let user = MemberInfo {
        id: member("user_9"),
        role: Role::Guest,
        published: vec![Published {
            source: Source::Camera,
            stream: Some("s-cam".into()),
        }],
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

#[test]
fn design_examples_decode() {
    let welcome = r#"{"v":1,"type":"welcome","session_id":"s_1","member":{"id":"user_9","role":"guest"},"room":"rm_20251003_001",
 "members":[{"id":"agent_1","role":"host"}],"permissions":{"screen":true,"recording":"cloud"},
 "ice_servers":[{"urls":["stun:127.0.0.1:3478"]}],"resume_token":"<opaque>"}"#;
    assert!(matches!(
        decode_server(welcome).unwrap(),
        ServerMessage::Welcome { .. }
    ));
    let left = r#"{"v":1,"type":"member_left","member":{"id":"agent_1"},"reason":"left"}"#;
    assert!(matches!(
        decode_server(left).unwrap(),
        ServerMessage::MemberLeft { .. }
    ));
    let cand = r#"{"v":1,"type":"candidate","to":"user_9","candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host","sdp_mid":"0","sdp_m_line_index":0}"#;
    assert!(matches!(
        decode_client(cand).unwrap(),
        ClientMessage::Candidate { .. }
    ));
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
