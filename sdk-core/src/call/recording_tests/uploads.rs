//! Uploads from the call: the running recording, left-overs, nothing recorded.

use super::*;
use crate::recorder::{RequestId, UploadEvent, UploadInput, UploadRequest, UploadRequestKind};

const ID: &str = "rec_0123456789abcdef";

fn view(chunks: &str) -> String {
    [
        r#"{"id":""#,
        ID,
        r#"","state":"uploading","bytes":0,"chunks":"#,
        chunks,
        "}",
    ]
    .concat()
}

impl Rec {
    fn requests(&self) -> Vec<(String, UploadRequest)> {
        self.pick(|o| match o {
            Output::Upload { key, request } => Some((key.clone(), request.clone())),
            _ => None,
        })
    }

    fn upload_events(&self) -> Vec<UploadEvent> {
        self.pick(|o| match o {
            Output::Event(Event::Upload(u)) => Some(u.event.clone()),
            _ => None,
        })
    }

    /// The one request out, answered.
    fn answer(&mut self, status: u16, body: &str, now: u64) -> UploadRequest {
        let mut requests = self.requests();
        assert_eq!(requests.len(), 1, "{requests:?}");
        let (key, request) = requests.remove(0);
        let input = UploadInput::Response {
            request: request.id,
            status,
            body: body.into(),
        };
        let now = self.at(now);
        self.call
            .handle_input(Input::Upload { key, input }, now)
            .unwrap();
        self.drain();
        request
    }
}

fn path(r: &UploadRequest) -> String {
    [r.kind.method(), " ", &r.kind.path()].concat()
}

#[test]
fn the_running_recording_uploads_chunk_by_chunk_and_completes_after_the_call_ends() {
    let mut a = recording_agent();
    let now = a.at(20);
    a.call.upload_local_recording("k1", now).unwrap();
    a.drain();
    assert_eq!(a.call.uploads().collect::<Vec<_>>(), vec!["k1"]);
    let create = a.answer(201, &view("[]"), 1_000);
    assert_eq!(path(&create), "POST /v1/recordings");
    assert!(
        matches!(&create.kind, UploadRequestKind::Create { mime, key } if mime == WEBM[0] && key == "k1"),
        "the storage key is the create's key: {create:?}"
    );
    assert!(
        a.upload_events()
            .iter()
            .any(|e| matches!(e, UploadEvent::Created { recording } if recording == ID))
    );
    assert!(a.requests().is_empty(), "nothing stored yet");
    a.input(RecorderInput::ChunkRecorded { bytes: 700 }, 1_010)
        .unwrap();
    let put = a.answer(201, "{}", 1_030);
    assert_eq!(
        path(&put),
        "PUT /v1/recordings/rec_0123456789abcdef/chunks/0"
    );

    // The agent leaves: the recording stops, its last chunk arrives after the end.
    a.call.leave(Millis(2_000)).unwrap();
    a.drain();
    a.input(RecorderInput::ChunkRecorded { bytes: 300 }, 2_010)
        .unwrap();
    let pending = a.requests();
    a.input(RecorderInput::MediaRecorderStopped, 2_010).unwrap();
    a.out.extend(
        pending
            .into_iter()
            .map(|(key, request)| Output::Upload { key, request }),
    );
    // The server fails once: the retry comes on the call's timer, after the end.
    let put = a.answer(503, "{}", 2_020);
    assert!(matches!(
        put.kind,
        UploadRequestKind::PutChunk { seq: 1, .. }
    ));
    let retry = a.call.poll_timeout().expect("a retry is due");
    a.call.handle_timeout(retry);
    a.drain();
    let put = a.answer(201, "{}", retry.0);
    assert!(matches!(
        put.kind,
        UploadRequestKind::PutChunk { seq: 1, .. }
    ));
    let complete = a.answer(200, &view("[0,1]"), retry.0 + 10);
    let UploadRequestKind::Complete { body, .. } = &complete.kind else {
        panic!("{complete:?}");
    };
    assert!(body.starts_with(r#"{"chunks":2,"manifest":{"#), "{body}");
    assert!(body.contains(r#""bytes":1000"#), "{body}");
    assert!(
        a.upload_events()
            .iter()
            .any(|e| matches!(e, UploadEvent::Done { .. }))
    );
    assert_eq!(a.call.uploads().count(), 0);
    assert_eq!(a.call.poll_timeout(), None);
}

#[test]
fn a_left_over_recording_resumes_in_its_own_room_only() {
    let mut a = joined("agent_1", false, true);
    let resume = |a: &mut Rec, room: &str| {
        let now = a.at(10);
        let r = a.call.resume_upload(
            "k0",
            room,
            Some(ID),
            WEBM[0],
            &[500, 400, 300],
            r#"{"state":"recording"}"#.into(),
            r#"{"entries":[]}"#.into(),
            now,
        );
        a.drain();
        r
    };
    let err = resume(&mut a, "rm_other").unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden);
    assert!(a.requests().is_empty());
    resume(&mut a, "rm_1").unwrap();
    // The server has chunk 0 already: the rest goes, then the completion.
    let status = a.answer(200, &view("[0]"), 20);
    assert_eq!(path(&status), "GET /v1/recordings/rec_0123456789abcdef");
    let pending = a.requests();
    assert_eq!(
        resume(&mut a, "rm_1").unwrap_err().code(),
        ErrorCode::Conflict
    );
    a.out = pending
        .into_iter()
        .map(|(key, request)| Output::Upload { key, request })
        .collect();
    let put = a.answer(201, "{}", 30);
    assert!(matches!(
        put.kind,
        UploadRequestKind::PutChunk { seq: 1, .. }
    ));
    let put = a.answer(201, "{}", 40);
    assert!(matches!(
        put.kind,
        UploadRequestKind::PutChunk { seq: 2, .. }
    ));
    a.answer(200, &view("[0,1,2]"), 50);
    assert!(
        a.upload_events()
            .iter()
            .any(|e| matches!(e, UploadEvent::Done { .. }))
    );
    // An answer for an upload that is not there is a conflict.
    let input = UploadInput::Response {
        request: RequestId(99),
        status: 200,
        body: String::new(),
    };
    let err = a.call.handle_input(
        Input::Upload {
            key: "k0".into(),
            input,
        },
        Millis(60),
    );
    assert_eq!(err.unwrap_err().code(), ErrorCode::Conflict);
}

#[test]
fn a_left_over_never_created_creates_again_under_its_key() {
    // The tab closed after the create went out, before its answer: the next page creates
    // again under the same key, and the server answers with the recording it made.
    let mut a = joined("agent_1", false, true);
    let now = a.at(10);
    a.call
        .resume_upload(
            "k0",
            "rm_1",
            None,
            WEBM[0],
            &[500],
            "{}".into(),
            "{}".into(),
            now,
        )
        .unwrap();
    a.drain();
    let create = a.answer(200, &view("[0]"), 20);
    let body = create.kind.json_body().unwrap_or_default();
    assert!(body.contains(r#""idempotencyKey":"k0""#), "{body}");
    let complete = a.answer(200, &view("[0]"), 30);
    assert!(matches!(complete.kind, UploadRequestKind::Complete { .. }));
}

#[test]
fn a_key_the_server_would_refuse_starts_no_upload() {
    let mut a = recording_agent();
    let now = a.at(20);
    let err = a
        .call
        .upload_local_recording("my recording", now)
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::BadRequest);
    a.drain();
    assert!(a.requests().is_empty());
    assert_eq!(a.call.uploads().count(), 0);
}

#[test]
fn what_the_device_kept_is_resumed_forgotten_or_left() {
    use crate::call::{LeftOver, StoredRecording};
    let mut a = joined("agent_1", false, true);
    let kept = StoredRecording {
        key: "k9".into(),
        member: "agent_1".into(),
        room: "rm_1".into(),
        mime: WEBM[0].into(),
        recording: Some(ID.into()),
        manifest: "{}".into(),
        sidecar: "{}".into(),
        done: false,
        chunks: vec![100, 200],
    };
    assert_eq!(a.call.left_over(&kept), LeftOver::Resume);
    let other = |f: fn(&mut StoredRecording)| {
        let mut s = kept.clone();
        f(&mut s);
        s
    };
    assert_eq!(
        a.call.left_over(&other(|s| s.done = true)),
        LeftOver::Forget
    );
    assert_eq!(
        a.call.left_over(&other(|s| s.chunks.clear())),
        LeftOver::Forget
    );
    assert_eq!(
        a.call.left_over(&other(|s| s.member = "agent_2".into())),
        LeftOver::Keep
    );
    assert_eq!(
        a.call.left_over(&other(|s| s.room = "rm_2".into())),
        LeftOver::Keep
    );
    // Another member's, even done: not this member's to delete.
    assert_eq!(
        a.call.left_over(&other(|s| {
            s.member = "agent_2".into();
            s.done = true;
        })),
        LeftOver::Keep
    );
    let now = a.at(10);
    a.call.resume_stored(kept.clone(), now).unwrap();
    a.drain();
    assert_eq!(a.call.left_over(&kept), LeftOver::Keep, "uploading already");
    assert_eq!(a.requests().len(), 1);
}

#[test]
fn a_recording_of_nothing_uploads_nothing() {
    let mut a = recording_agent();
    let now = a.at(20);
    a.call.upload_local_recording("k1", now).unwrap();
    a.drain();
    a.call.stop_local_recording(Millis(30)).unwrap();
    a.input(RecorderInput::MediaRecorderStopped, 40).unwrap();
    assert_eq!(a.call.uploads().count(), 0);
}
