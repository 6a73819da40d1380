//! The call's local recording: the consent gate with what the server relays, the room told
//! of each change, the sidecar, and endings the user did not ask for.

use super::*;
use crate::assist::Rect;
use crate::permissions::Capabilities;
use crate::protocol::{
    LeaveReason, MemberInfo, MemberRef, Permissions, Published, RecordingMode, RecordingPolicy,
    RecordingStatus, Role, RoomId, ServerMessage, encode_server,
};
use crate::recorder::{
    RecordedMedia, RecorderCommand, RecorderEvent, RecorderInput, RecorderOptions, RecorderState,
};

const WEBM: [&str; 1] = ["video/webm;codecs=vp8,opus"];

fn id(s: &str) -> MemberId {
    MemberId::new(s).unwrap()
}

struct Rec {
    call: Call,
    out: Vec<Output>,
    now: u64,
}

/// The welcome to a room that allows local recording: `me` in `role` beside `members`, on
/// seat `session`.
fn welcome(me: &str, role: Role, members: Vec<MemberInfo>, session: &str, resume: &str) -> String {
    let permissions = Permissions {
        screen: true,
        recording: RecordingPolicy::Local,
    };
    encode_server(&ServerMessage::Welcome {
        session_id: session.into(),
        member: MemberInfo {
            id: id(me),
            role,
            published: vec![],
            diagnostics: None,
            recording_consent: false,
        },
        room: RoomId::new("rm_1").unwrap(),
        members,
        permissions,
        capabilities: Capabilities::for_role(role, permissions),
        ice_servers: vec![],
        resume_token: resume.into(),
        resumed: false,
    })
}

/// `me` (a host unless `guest`) joined a room that allows local recording, with `user_9`
/// (a guest publishing its camera, consenting when `customer_consents`).
fn joined(me: &str, guest: bool, customer_consents: bool) -> Rec {
    let role = if guest { Role::Guest } else { Role::Host };
    let other = if guest { "agent_1" } else { "user_9" };
    let members = vec![MemberInfo {
        id: id(other),
        role: if guest { Role::Host } else { Role::Guest },
        published: vec![Published {
            source: Source::Camera,
            stream: Some("s-cam".into()),
        }],
        diagnostics: None,
        recording_consent: customer_consents,
    }];
    let welcome = welcome(me, role, members, "s_1", "rt");
    let mut call = Call::new(CallConfig::new("tok"));
    call.acknowledge_notice();
    call.join(Millis(0)).unwrap();
    call.handle_input(Input::TransportOpened, Millis(1))
        .unwrap();
    call.handle_input(Input::Frame(welcome), Millis(2)).unwrap();
    let mut rec = Rec {
        call,
        out: Vec::new(),
        now: 2,
    };
    rec.drain();
    rec
}

impl Rec {
    fn drain(&mut self) {
        self.out = std::iter::from_fn(|| self.call.poll_output()).collect();
    }

    fn at(&mut self, now: u64) -> Millis {
        self.now = now;
        Millis(now)
    }

    fn frame(&mut self, msg: ServerMessage, now: u64) {
        let now = self.at(now);
        self.call
            .handle_input(Input::Frame(encode_server(&msg)), now)
            .unwrap();
        self.drain();
    }

    fn input(&mut self, input: RecorderInput, now: u64) -> Result<(), CallError> {
        let now = self.at(now);
        let r = self.call.handle_input(Input::Recorder(input), now);
        self.drain();
        r
    }

    fn start(&mut self, now: u64) -> Result<Vec<(MemberId, Source)>, CallError> {
        let now = self.at(now);
        let r = self.call.start_local_recording(
            RecordedMedia::Mixed,
            RecorderOptions::default(),
            &WEBM,
            now,
        );
        self.drain();
        r
    }

    /// What `f` takes from the outputs, in order.
    fn pick<T>(&self, f: impl Fn(&Output) -> Option<T>) -> Vec<T> {
        self.out.iter().filter_map(f).collect()
    }

    fn sent(&self) -> Vec<String> {
        self.pick(|o| match o {
            Output::Send(f) => Some(f.clone()),
            _ => None,
        })
    }

    fn commands(&self) -> Vec<RecorderCommand> {
        self.pick(|o| match o {
            Output::Recorder(c) => Some(c.clone()),
            _ => None,
        })
    }

    fn events(&self) -> Vec<RecorderEvent> {
        self.pick(|o| match o {
            Output::Event(Event::Recording(e)) => Some(e.clone()),
            _ => None,
        })
    }

    fn state(&self) -> RecorderState {
        self.call
            .recorder()
            .map_or(RecorderState::Idle, |r| r.state())
    }
}

fn recording_frame(action: &str) -> String {
    [
        "{\"v\":1,\"type\":\"recording\",\"action\":\"",
        action,
        "\",\"mode\":\"local\"}",
    ]
    .concat()
}

#[test]
fn starting_needs_the_capability_own_consent_and_everyone_present_s() {
    // A guest may not record.
    let mut c = joined("user_9", true, true);
    c.call.set_recording_consent(true, Millis(3)).unwrap();
    assert_eq!(c.start(4).unwrap_err().code(), ErrorCode::Forbidden);

    // Not without one's own consent, nor without the customer's; nothing is sent.
    let mut a = joined("agent_1", false, false);
    let err = a.start(3).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden);
    assert!(a.sent().is_empty());
    a.call.set_recording_consent(true, Millis(4)).unwrap();
    a.drain();
    let err = a.start(5).unwrap_err();
    assert!(matches!(
        err,
        CallError::Recorder(RecorderError::ConsentMissing { ref members }) if members == &[id("user_9")]
    ));
    assert!(a.sent().is_empty());
    assert_eq!(a.state(), RecorderState::Idle);

    // The server relays the customer's consent: now it starts, and the room is told.
    a.frame(
        ServerMessage::MemberConsent {
            member: id("user_9"),
            recording: true,
        },
        6,
    );
    let sources = a.start(7).unwrap();
    assert_eq!(sources, vec![(id("user_9"), Source::Camera)]);
    assert_eq!(a.sent(), vec![recording_frame("start")]);
    assert_eq!(
        a.commands(),
        vec![RecorderCommand::StartMediaRecorder {
            mime: "video/webm;codecs=vp8,opus",
            timeslice_ms: 1_000,
        }]
    );
    assert_eq!(a.state(), RecorderState::Recording);
    // A second start while it runs is a conflict.
    assert_eq!(a.start(8).unwrap_err().code(), ErrorCode::Conflict);
}

fn recording_agent() -> Rec {
    let mut a = joined("agent_1", false, true);
    a.call.set_recording_consent(true, Millis(3)).unwrap();
    a.start(10).unwrap();
    // The server's answer to the start, as it tells everyone.
    a.frame(server_state(RecordingStatus::Recording), 10);
    a
}

fn server_state(state: RecordingStatus) -> ServerMessage {
    ServerMessage::RecordingState {
        mode: RecordingMode::Local,
        state,
    }
}

#[test]
fn a_withdrawal_pauses_it_and_only_everyone_s_consent_resumes_it() {
    let mut a = recording_agent();
    a.input(RecorderInput::ChunkRecorded { bytes: 4_000 }, 1_010)
        .unwrap();
    assert!(
        a.events()
            .iter()
            .any(|e| matches!(e, RecorderEvent::Progress(p) if p.bytes == 4_000))
    );

    a.frame(
        ServerMessage::MemberConsent {
            member: id("user_9"),
            recording: false,
        },
        1_500,
    );
    assert_eq!(a.commands(), vec![RecorderCommand::Pause]);
    assert!(a.events().iter().any(
        |e| matches!(e, RecorderEvent::ConsentPaused(p) if p.member == id("user_9") && p.media_ms == 1_490)
    ));
    // The server paused it for the room itself: nothing to send.
    assert!(a.sent().is_empty());
    a.frame(server_state(RecordingStatus::Paused), 1_500);

    let now = a.at(2_000);
    let err = a.call.resume_local_recording(now).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden);
    a.frame(
        ServerMessage::MemberConsent {
            member: id("user_9"),
            recording: true,
        },
        2_100,
    );
    assert_eq!(a.state(), RecorderState::Paused, "resumes only when asked");
    let now = a.at(2_200);
    a.call.resume_local_recording(now).unwrap();
    a.drain();
    assert_eq!(a.commands(), vec![RecorderCommand::Resume]);
    assert_eq!(a.sent(), vec![recording_frame("resume")]);

    // The user's own pause is told to the room.
    let now = a.at(2_500);
    a.call.pause_local_recording(now).unwrap();
    a.drain();
    assert_eq!(a.sent(), vec![recording_frame("pause")]);

    // Withdrawing one's own consent pauses it too.
    let now = a.at(2_600);
    a.call.resume_local_recording(now).unwrap();
    a.call.set_recording_consent(false, Millis(2_700)).unwrap();
    a.drain();
    assert_eq!(a.state(), RecorderState::Paused);
}

#[test]
fn annotations_shown_during_the_recording_go_into_the_sidecar_at_their_media_time() {
    let mut a = joined("agent_1", false, true);
    a.call.set_recording_consent(true, Millis(3)).unwrap();
    let rect = Rect {
        x: 0.1,
        y: 0.1,
        w: 0.2,
        h: 0.2,
    };
    // A shape on screen before the start is in the sidecar at 0.
    a.call.highlight(rect, "#ff0000", 0, 0, Millis(5)).unwrap();
    a.start(10).unwrap();
    let now = a.at(1_510);
    a.call.highlight(rect, "#00ff00", 0, 0, now).unwrap();
    let now = a.at(1_600);
    a.call.pointer(0.5, 0.5, 0, now).unwrap();
    let sidecar = a.call.recorder().unwrap().sidecar().entries().to_vec();
    let at: Vec<u64> = sidecar.iter().map(|e| e.at_ms).collect();
    assert_eq!(at, vec![0, 1_500], "two highlights, no cursor");
    assert!(sidecar.iter().all(|e| e.member == id("agent_1")));
}

#[test]
fn the_room_is_told_when_it_stops_by_request_by_cap_or_with_the_call() {
    // By request: the platform's last chunk completes it.
    let mut a = recording_agent();
    let now = a.at(3_000);
    a.call.stop_local_recording(now).unwrap();
    a.drain();
    assert_eq!(a.commands(), vec![RecorderCommand::Stop]);
    assert_eq!(a.sent(), vec![recording_frame("stop")]);
    a.input(RecorderInput::ChunkRecorded { bytes: 900 }, 3_020)
        .unwrap();
    a.input(RecorderInput::MediaRecorderStopped, 3_020).unwrap();
    assert!(a.call.recorder().unwrap().is_complete());
    assert!(a.sent().is_empty(), "told once");

    // By the duration cap, on the call's one timer.
    let mut a = joined("agent_1", false, true);
    a.call.set_recording_consent(true, Millis(3)).unwrap();
    let options = RecorderOptions {
        max_duration_ms: Some(5_000),
        ..RecorderOptions::default()
    };
    a.call
        .start_local_recording(RecordedMedia::Local, options, &WEBM, Millis(10))
        .unwrap();
    a.drain();
    let mut fired = Vec::new();
    while let Some(t) = a.call.poll_timeout().filter(|t| t.0 <= 5_010) {
        a.call.handle_timeout(t);
        a.drain();
        fired.extend(a.events());
        if a.sent().contains(&recording_frame("stop")) {
            break;
        }
    }
    assert!(
        fired
            .iter()
            .any(|e| matches!(e, RecorderEvent::CapWarning(_)))
    );
    assert!(
        fired
            .iter()
            .any(|e| matches!(e, RecorderEvent::CapReached(_)))
    );
    assert!(a.sent().contains(&recording_frame("stop")));
    assert_eq!(a.state(), RecorderState::Stopped);

    // With the call: leaving stops it (what was recorded is kept).
    let mut a = recording_agent();
    a.call.leave(Millis(4_000)).unwrap();
    a.drain();
    assert_eq!(a.state(), RecorderState::Stopped);
    assert!(a.commands().contains(&RecorderCommand::Stop));
}

#[test]
fn a_newcomer_without_consent_pauses_it_and_a_leaver_no_longer_counts() {
    let mut a = recording_agent();
    let newcomer = MemberInfo {
        id: id("user_10"),
        role: Role::Guest,
        published: vec![],
        diagnostics: None,
        recording_consent: false,
    };
    a.frame(ServerMessage::MemberJoined { member: newcomer }, 500);
    assert_eq!(a.state(), RecorderState::Paused);
    a.frame(
        ServerMessage::MemberLeft {
            member: MemberRef { id: id("user_10") },
            reason: LeaveReason::Left,
        },
        600,
    );
    let now = a.at(700);
    a.call.resume_local_recording(now).unwrap();
    a.drain();
    assert_eq!(a.state(), RecorderState::Recording);
}

#[test]
fn recorder_inputs_and_commands_without_a_recording_are_conflicts() {
    let mut a = joined("agent_1", false, true);
    let err = a
        .input(RecorderInput::ChunkRecorded { bytes: 1 }, 5)
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Conflict);
    let now = a.at(6);
    assert_eq!(
        a.call.bookmark("x", now).unwrap_err().code(),
        ErrorCode::Conflict
    );
    assert_eq!(
        a.call.stop_local_recording(now).unwrap_err().code(),
        ErrorCode::Conflict
    );
}

#[test]
fn stereo_puts_agents_left_and_customers_right() {
    let a = joined("agent_1", false, true);
    assert_eq!(a.call.stereo_pan(&id("agent_1")), -1.0);
    assert_eq!(a.call.stereo_pan(&id("user_9")), 1.0);
}

mod uploads;

/// The signaling link drops and the seat is gone by the time it is back: a fresh welcome
/// listing `members`. Returns the time of the welcome.
fn fresh_seat(a: &mut Rec, members: Vec<MemberInfo>) -> u64 {
    a.call
        .handle_input(Input::TransportClosed, Millis(100))
        .unwrap();
    a.drain();
    let mut now = 100;
    while !a.out.iter().any(|o| matches!(o, Output::OpenTransport)) {
        let t = a.call.poll_timeout().expect("a reconnect is scheduled");
        now = t.0;
        a.call.handle_timeout(t);
        a.drain();
    }
    a.call
        .handle_input(Input::TransportOpened, Millis(now))
        .unwrap();
    a.drain();
    let fresh = welcome("agent_1", Role::Host, members, "s_2", "rt2");
    a.call
        .handle_input(Input::Frame(fresh), Millis(now + 1))
        .unwrap();
    a.drain();
    now + 1
}

/// The customer withdraws its recording consent at `now`.
fn customer_withdraws(a: &mut Rec, now: u64) {
    a.frame(
        ServerMessage::MemberConsent {
            member: id("user_9"),
            recording: false,
        },
        now,
    );
}

fn customer_listed(consents: bool) -> MemberInfo {
    MemberInfo {
        id: id("user_9"),
        role: Role::Guest,
        published: vec![],
        diagnostics: None,
        recording_consent: consents,
    }
}

#[test]
fn a_fresh_seat_tells_the_server_again_of_a_running_recording() {
    let mut a = recording_agent();
    fresh_seat(&mut a, vec![customer_listed(true)]);
    let sent = a.sent();
    let consent = sent
        .iter()
        .position(|f| f.contains(r#""type":"consent""#))
        .expect("own consent sent again");
    let start = sent
        .iter()
        .position(|f| *f == recording_frame("start"))
        .expect("the recording announced again");
    assert!(consent < start, "{sent:?}");
    assert_eq!(a.state(), RecorderState::Recording);
}

#[test]
fn a_fresh_seat_shows_a_recording_its_recorder_paused_as_paused() {
    let mut a = recording_agent();
    a.call.pause_local_recording(Millis(50)).unwrap();
    a.drain();
    a.sent();
    let now = fresh_seat(&mut a, vec![customer_listed(true)]);
    let sent: Vec<String> = a
        .sent()
        .into_iter()
        .filter(|f| f.contains(r#""type":"recording""#))
        .collect();
    assert_eq!(
        sent,
        vec![recording_frame("start"), recording_frame("pause")]
    );
    assert_eq!(a.state(), RecorderState::Paused);
    // The server knows it again: resuming says so.
    a.frame(server_state(RecordingStatus::Paused), now + 2);
    a.call.resume_local_recording(Millis(now + 5)).unwrap();
    a.drain();
    assert_eq!(a.sent(), vec![recording_frame("resume")]);
}

#[test]
fn a_fresh_seat_leaves_a_recording_paused_for_consent_unannounced() {
    let mut a = recording_agent();
    customer_withdraws(&mut a, 50);
    a.sent();
    fresh_seat(&mut a, vec![customer_listed(false)]);
    assert!(
        !a.sent().iter().any(|f| f.contains(r#""type":"recording""#)),
        "the server would refuse to start it"
    );
    assert_eq!(a.state(), RecorderState::Paused);
}

#[test]
fn a_member_gone_while_the_seat_was_lost_no_longer_holds_the_recording_back() {
    let mut a = recording_agent();
    customer_withdraws(&mut a, 50);
    assert_eq!(a.state(), RecorderState::Paused);
    // Back on a fresh seat: the customer is not in the list any more.
    let now = fresh_seat(&mut a, vec![]);
    assert_eq!(a.call.recorder().unwrap().present(), vec![id("agent_1")]);
    a.call.resume_local_recording(Millis(now + 5)).unwrap();
    a.drain();
    assert_eq!(a.state(), RecorderState::Recording);
    // The server lost the recording with the old seat: it is started there again.
    assert_eq!(a.sent(), vec![recording_frame("start")]);
}

#[test]
fn sources_that_start_or_end_during_the_recording_join_or_leave_it() {
    let mut a = recording_agent();
    // The agent turns its camera on after the start: in, with its span from now.
    let now = a.at(1_000);
    a.call
        .publish(Source::Camera, Some("s-a".into()), now)
        .unwrap();
    a.drain();
    assert_eq!(
        a.commands(),
        vec![RecorderCommand::AddSource {
            member: id("agent_1"),
            source: Source::Camera
        }]
    );
    // The customer's camera track is replaced (a new link): swapped in, no new span.
    let published = ServerMessage::Published {
        member: id("user_9"),
        source: Source::Screen,
        stream: Some("s-scr".into()),
    };
    a.frame(published, 1_500);
    let link = a.call.session().peers().next().cloned().map(|m| LinkId {
        target: crate::session::LinkTarget::Member(m),
        generation: 1,
    });
    let link = link.unwrap();
    let track = PeerEvent::TrackAdded {
        track: "t-scr".into(),
        stream: Some("s-scr".into()),
    };
    let now = a.at(1_600);
    a.call
        .handle_input(Input::Peer { link, event: track }, now)
        .unwrap();
    a.drain();
    assert_eq!(
        a.commands(),
        vec![RecorderCommand::AddSource {
            member: id("user_9"),
            source: Source::Screen
        }]
    );
    a.frame(
        ServerMessage::Unpublished {
            member: id("user_9"),
            source: Source::Screen,
        },
        2_500,
    );
    assert_eq!(
        a.commands(),
        vec![RecorderCommand::RemoveSource {
            member: id("user_9"),
            source: Source::Screen
        }]
    );
    let spans: Vec<(String, Source, u64, Option<u64>)> = a
        .call
        .recorder()
        .unwrap()
        .manifest()
        .sources
        .iter()
        .map(|s| (s.member.as_str().to_owned(), s.source, s.start_ms, s.end_ms))
        .collect();
    assert_eq!(
        spans,
        vec![
            ("user_9".into(), Source::Camera, 0, None),
            ("agent_1".into(), Source::Camera, 990, None),
            ("user_9".into(), Source::Screen, 1_590, Some(2_490)),
        ]
    );
    // A local-only recording takes none of the customer's.
    let mut b = joined("agent_1", false, true);
    b.call.set_recording_consent(true, Millis(3)).unwrap();
    b.call
        .start_local_recording(
            RecordedMedia::Local,
            RecorderOptions::default(),
            &WEBM,
            Millis(10),
        )
        .unwrap();
    b.drain();
    b.frame(
        ServerMessage::Unpublished {
            member: id("user_9"),
            source: Source::Camera,
        },
        20,
    );
    assert!(b.commands().is_empty());
}
