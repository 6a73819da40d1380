//! The upload's state machine against a scripted server, on virtual time.

use super::*;

const ID: &str = "rec_0123456789abcdef";
/// The upload's key, as the browser makes them.
const KEY: &str = "rec-m1x2y3z4-abc123";
const MANIFEST: &str = r#"{"duration_ms":2000,"bytes":300}"#;
const SIDECAR: &str = r#"{"entries":[]}"#;

fn view(chunks: &str, bytes: u64, state: &str) -> String {
    [
        r#"{"id":""#,
        ID,
        r#"","state":""#,
        state,
        r#"","bytes":"#,
        &bytes.to_string(),
        r#","chunks":"#,
        chunks,
        r#","limits":{"maxChunkBytes":8388608,"maxChunks":100000,"maxBytes":2147483648}}"#,
    ]
    .concat()
}

fn error(code: &str, message: &str) -> String {
    [
        r#"{"error":{"code":""#,
        code,
        r#"","message":""#,
        message,
        r#""}}"#,
    ]
    .concat()
}

fn drain(up: &mut Upload) -> (Vec<UploadRequest>, Vec<UploadEvent>) {
    let (mut requests, mut events) = (Vec::new(), Vec::new());
    while let Some(output) = up.poll_output() {
        match output {
            UploadOutput::Request(r) => requests.push(r),
            UploadOutput::Event(e) => events.push(e),
        }
    }
    (requests, events)
}

/// The one request outputs hold (events are dropped).
fn next(up: &mut Upload) -> UploadRequest {
    let (mut requests, _) = drain(up);
    assert_eq!(requests.len(), 1, "{requests:?}");
    requests.remove(0)
}

fn answer(up: &mut Upload, request: RequestId, status: u16, body: &str, now: u64) {
    let input = UploadInput::Response {
        request,
        status,
        body: body.into(),
    };
    up.handle_input(input, Millis(now)).unwrap();
}

fn network_error(up: &mut Upload, request: RequestId, now: u64) {
    let input = UploadInput::NetworkError {
        request,
        detail: "connection reset".into(),
    };
    up.handle_input(input, Millis(now)).unwrap();
}

fn stored(up: &mut Upload, seq: u32, bytes: u64) {
    up.handle_input(UploadInput::ChunkStored { seq, bytes }, Millis(0))
        .unwrap();
}

fn complete(up: &mut Upload, chunks: u32) -> Result<(), UploadError> {
    let input = UploadInput::RecordingComplete {
        chunks,
        manifest: MANIFEST.into(),
        sidecar: SIDECAR.into(),
    };
    up.handle_input(input, Millis(0))
}

fn put(seq: u32) -> UploadRequestKind {
    UploadRequestKind::PutChunk {
        recording: ID.into(),
        seq,
    }
}

/// A fresh upload whose create was answered; its outputs drained.
fn created() -> Upload {
    let mut up = Upload::new("video/webm", KEY, UploadOptions::default()).unwrap();
    let create = next(&mut up);
    answer(&mut up, create.id, 201, &view("[]", 0, "uploading"), 0);
    drain(&mut up);
    up
}

/// Answers the put of `seq` (which must be the request waiting) with 201.
fn ack(up: &mut Upload, seq: u32) {
    let request = next(up);
    assert_eq!(request.kind, put(seq));
    answer(up, request.id, 201, "{}", 0);
}

fn failed(events: &[UploadEvent]) -> Option<UploadFailure> {
    events.iter().find_map(|e| match e {
        UploadEvent::Failed { code, .. } => Some(*code),
        _ => None,
    })
}

#[test]
fn fresh_upload_end_to_end() {
    let mut up = Upload::new("video/webm", KEY, UploadOptions::default()).unwrap();
    let create = next(&mut up);
    assert_eq!(
        create.kind,
        UploadRequestKind::Create {
            mime: "video/webm".into(),
            key: KEY.into(),
        }
    );
    assert_eq!(
        (create.kind.method(), create.kind.path().as_str()),
        ("POST", "/v1/recordings")
    );
    assert_eq!(up.recording(), None);
    answer(&mut up, create.id, 201, &view("[]", 0, "uploading"), 10);
    let (requests, events) = drain(&mut up);
    assert_eq!(
        events,
        [UploadEvent::Created {
            recording: ID.into()
        }]
    );
    assert!(requests.is_empty(), "no chunk stored yet");
    assert_eq!(up.recording(), Some(ID));

    stored(&mut up, 0, 100);
    let put0 = next(&mut up);
    assert_eq!(put0.kind, put(0));
    assert_eq!(
        (put0.kind.method(), put0.kind.path().as_str()),
        ("PUT", "/v1/recordings/rec_0123456789abcdef/chunks/0")
    );
    stored(&mut up, 1, 200);
    assert_eq!(up.poll_output(), None, "one request at a time");
    answer(&mut up, put0.id, 201, r#"{"n":0}"#, 20);
    let (requests, events) = drain(&mut up);
    assert_eq!(
        events,
        [UploadEvent::Progress {
            chunks_sent: 1,
            bytes_sent: 100
        }]
    );
    assert_eq!(requests[0].kind, put(1));
    answer(&mut up, requests[0].id, 201, "{}", 30);
    let (requests, events) = drain(&mut up);
    assert_eq!(
        events,
        [UploadEvent::Progress {
            chunks_sent: 2,
            bytes_sent: 300
        }]
    );
    assert!(requests.is_empty(), "not complete yet");

    complete(&mut up, 2).unwrap();
    let done = next(&mut up);
    let body = [
        r#"{"chunks":2,"manifest":"#,
        MANIFEST,
        r#","sidecar":"#,
        SIDECAR,
        "}",
    ]
    .concat();
    assert_eq!(
        done.kind,
        UploadRequestKind::Complete {
            recording: ID.into(),
            body
        }
    );
    assert_eq!(
        (done.kind.method(), done.kind.path().as_str()),
        ("POST", "/v1/recordings/rec_0123456789abcdef/complete")
    );
    answer(&mut up, done.id, 200, &view("[0,1]", 300, "complete"), 40);
    let (requests, events) = drain(&mut up);
    assert!(requests.is_empty());
    assert_eq!(
        events,
        [UploadEvent::Done {
            recording: ID.into()
        }]
    );
    assert!(up.is_done());
    assert_eq!(up.poll_timeout(), None);
    assert_eq!((up.chunks_sent(), up.bytes_sent()), (2, 300));
}

#[test]
fn chunks_stored_before_and_during_the_create_queue_up_in_order() {
    let mut up = Upload::new("video/webm", KEY, UploadOptions::default()).unwrap();
    stored(&mut up, 1, 20);
    let create = next(&mut up);
    stored(&mut up, 0, 10);
    stored(&mut up, 2, 30);
    assert_eq!(up.poll_output(), None, "the create is still in flight");
    answer(&mut up, create.id, 201, &view("[]", 0, "uploading"), 0);
    let (requests, events) = drain(&mut up);
    assert_eq!(
        events,
        [UploadEvent::Created {
            recording: ID.into()
        }]
    );
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].kind, put(0));
    answer(&mut up, requests[0].id, 201, "{}", 0);
    ack(&mut up, 1);
    ack(&mut up, 2);
    assert_eq!((up.chunks_sent(), up.bytes_sent()), (3, 60));
}

#[test]
fn a_lower_chunk_stored_while_a_put_is_in_flight_goes_next() {
    let mut up = created();
    stored(&mut up, 1, 10);
    let put1 = next(&mut up);
    assert_eq!(put1.kind, put(1));
    stored(&mut up, 0, 10);
    stored(&mut up, 1, 10); // reported again: no second put
    answer(&mut up, put1.id, 201, "{}", 0);
    ack(&mut up, 0);
    assert_eq!(drain(&mut up).0, []);
    assert_eq!(up.chunks_sent(), 2);
}

#[test]
fn resume_skips_the_chunks_the_server_holds() {
    let mut up = Upload::resume(ID, UploadOptions::default()).unwrap();
    let status = next(&mut up);
    assert_eq!(
        status.kind,
        UploadRequestKind::Status {
            recording: ID.into()
        }
    );
    assert_eq!(
        (status.kind.method(), status.kind.path().as_str()),
        ("GET", "/v1/recordings/rec_0123456789abcdef")
    );
    for seq in 0..5 {
        stored(&mut up, seq, 10);
    }
    complete(&mut up, 5).unwrap();
    assert_eq!(up.poll_output(), None);
    answer(
        &mut up,
        status.id,
        200,
        &view("[3,0,1]", 30, "uploading"),
        0,
    );
    let (requests, events) = drain(&mut up);
    assert_eq!(
        events,
        [UploadEvent::Progress {
            chunks_sent: 3,
            bytes_sent: 30
        }],
        "no Created: the id is known"
    );
    assert_eq!(requests[0].kind, put(2));
    answer(&mut up, requests[0].id, 201, "{}", 0);
    ack(&mut up, 4);
    let done = next(&mut up);
    assert!(matches!(done.kind, UploadRequestKind::Complete { .. }));
    answer(&mut up, done.id, 200, "{}", 0);
    assert!(up.is_done());
    assert_eq!((up.chunks_sent(), up.bytes_sent()), (5, 50));
}

#[test]
fn resuming_a_complete_recording_is_done_at_once() {
    let mut up = Upload::resume(ID, UploadOptions::default()).unwrap();
    let status = next(&mut up);
    stored(&mut up, 0, 10);
    answer(&mut up, status.id, 200, &view("[0]", 10, "complete"), 0);
    let (requests, events) = drain(&mut up);
    assert!(requests.is_empty());
    assert_eq!(
        events,
        [UploadEvent::Done {
            recording: ID.into()
        }]
    );
}

#[test]
fn a_repeated_chunk_answered_200_counts_as_sent() {
    let mut up = created();
    stored(&mut up, 0, 10);
    stored(&mut up, 1, 10);
    let put0 = next(&mut up);
    answer(&mut up, put0.id, 200, r#"{"n":0}"#, 0);
    let (requests, events) = drain(&mut up);
    assert_eq!(
        events,
        [UploadEvent::Progress {
            chunks_sent: 1,
            bytes_sent: 10
        }]
    );
    assert_eq!(requests[0].kind, put(1));
}

#[test]
fn a_409_on_a_chunk_fails_with_conflict() {
    let mut up = created();
    stored(&mut up, 0, 10);
    let put0 = next(&mut up);
    let body = error("conflict", "chunk 0: different bytes");
    answer(&mut up, put0.id, 409, &body, 0);
    let (requests, events) = drain(&mut up);
    assert!(requests.is_empty());
    assert_eq!(
        events,
        [UploadEvent::Failed {
            code: UploadFailure::Conflict,
            message: "chunk 0: different bytes".into()
        }]
    );
    assert_eq!(up.state(), UploadState::Failed);
    assert_eq!(up.poll_timeout(), None);
    let err = up
        .handle_input(UploadInput::ChunkStored { seq: 1, bytes: 1 }, Millis(0))
        .unwrap_err();
    assert_eq!(
        err,
        UploadError::Finished {
            state: UploadState::Failed
        }
    );
    assert_eq!(err.code(), "finished");
}

#[test]
fn client_errors_are_final_with_their_code() {
    let cases = [
        (401, "unauthorized", UploadFailure::Unauthorized),
        (401, "token_expired", UploadFailure::TokenExpired),
        (403, "forbidden", UploadFailure::Forbidden),
        (404, "not_found", UploadFailure::NotFound),
        (
            404,
            "recordings_disabled",
            UploadFailure::RecordingsDisabled,
        ),
        (409, "conflict", UploadFailure::Conflict),
        (409, "recording_limit", UploadFailure::RecordingLimit),
        (413, "bad_request", UploadFailure::TooLarge),
        (400, "checksum_mismatch", UploadFailure::ChecksumMismatch),
        (400, "bad_request", UploadFailure::BadRequest),
        (415, "bad_request", UploadFailure::BadRequest),
        (302, "", UploadFailure::BadResponse),
    ];
    for (status, code, expected) in cases {
        let mut up = created();
        stored(&mut up, 0, 10);
        let put0 = next(&mut up);
        answer(&mut up, put0.id, status, &error(code, "refused"), 0);
        let (requests, events) = drain(&mut up);
        assert!(requests.is_empty(), "{status} {code}");
        assert_eq!(failed(&events), Some(expected), "{status} {code}");
        assert_eq!(up.poll_timeout(), None, "{status} {code}: no retry");
    }
    // Without a usable body the status is the message.
    let mut up = Upload::new("video/webm", KEY, UploadOptions::default()).unwrap();
    let create = next(&mut up);
    answer(&mut up, create.id, 403, "<html>", 0);
    assert_eq!(
        drain(&mut up).1,
        [UploadEvent::Failed {
            code: UploadFailure::Forbidden,
            message: "HTTP 403".into()
        }]
    );
}

/// The delays of `failures` consecutive failures of the waiting request, each retried when
/// due; the request waiting at the end is returned.
fn fail_times(up: &mut Upload, failures: u32, now: &mut u64) -> (Vec<u64>, UploadRequest) {
    let mut delays = Vec::new();
    let mut request = next(up);
    for i in 0..failures {
        if i % 2 == 0 {
            let body = error("internal", "disk trouble");
            answer(up, request.id, 503, &body, *now);
        } else {
            network_error(up, request.id, *now);
        }
        let (requests, events) = drain(up);
        assert!(requests.is_empty(), "no request before the delay");
        let Some(UploadEvent::Retrying {
            attempt, delay_ms, ..
        }) = events.first().cloned()
        else {
            panic!("{events:?}");
        };
        assert_eq!(attempt, i + 1);
        assert_eq!(up.poll_timeout(), Some(Millis(*now + delay_ms)));
        up.handle_timeout(Millis(*now + delay_ms - 1));
        assert_eq!(up.poll_output(), None, "not yet");
        *now += delay_ms;
        up.handle_timeout(Millis(*now));
        assert_eq!(up.poll_timeout(), None);
        let again = next(up);
        assert_ne!(again.id, request.id, "a retry is a new request");
        assert_eq!(again.kind, request.kind);
        request = again;
        delays.push(delay_ms);
    }
    (delays, request)
}

#[test]
fn server_and_network_errors_are_retried_with_backoff() {
    let mut up = created();
    stored(&mut up, 0, 10);
    stored(&mut up, 1, 10);
    let mut now = 1_000;
    let (delays, put0) = fail_times(&mut up, 3, &mut now);
    // 500 ms doubling, each jittered into its upper half.
    for (delay, exp) in delays.iter().zip([500, 1_000, 2_000]) {
        assert!((exp / 2..=exp).contains(delay), "{delays:?}");
    }
    assert_eq!(put0.kind, put(0));
    answer(&mut up, put0.id, 201, "{}", now);
    let (requests, events) = drain(&mut up);
    assert_eq!(
        events,
        [UploadEvent::Progress {
            chunks_sent: 1,
            bytes_sent: 10
        }]
    );
    assert_eq!(requests[0].kind, put(1));
    // A success starts the count again: the next failure waits the first delay.
    answer(&mut up, requests[0].id, 500, "", now);
    let (_, events) = drain(&mut up);
    assert!(
        matches!(
            &events[..],
            [UploadEvent::Retrying { attempt: 1, delay_ms: 250..=500, reason }]
                if reason == "HTTP 500"
        ),
        "{events:?}"
    );
}

#[test]
fn rate_limits_and_request_timeouts_are_retried() {
    for status in [408, 429] {
        let mut up = Upload::new("video/webm", KEY, UploadOptions::default()).unwrap();
        let create = next(&mut up);
        answer(
            &mut up,
            create.id,
            status,
            &error("rate_limited", "slow down"),
            0,
        );
        let (requests, events) = drain(&mut up);
        assert!(requests.is_empty());
        let reason = ["HTTP ", &status.to_string(), ": slow down"].concat();
        assert!(
            matches!(&events[..], [UploadEvent::Retrying { attempt: 1, reason: r, .. }] if *r == reason),
            "{events:?}"
        );
        up.handle_timeout(up.poll_timeout().unwrap());
        assert!(matches!(
            next(&mut up).kind,
            UploadRequestKind::Create { .. }
        ));
    }
}

#[test]
fn gives_up_after_max_attempts() {
    let mut up = created();
    stored(&mut up, 0, 10);
    let mut now = 0;
    let (delays, last) = fail_times(&mut up, 7, &mut now);
    let caps = [500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000];
    assert_eq!(delays.len(), caps.len());
    for (delay, exp) in delays.iter().zip(caps) {
        assert!((exp / 2..=exp).contains(delay), "{delays:?}");
    }
    network_error(&mut up, last.id, now);
    let (requests, events) = drain(&mut up);
    assert!(requests.is_empty());
    assert_eq!(
        events,
        [UploadEvent::Failed {
            code: UploadFailure::Unreachable,
            message: "gave up after 8 failed attempts; the last: connection reset".into()
        }]
    );
    assert_eq!(up.poll_timeout(), None);
}

#[test]
fn jitter_follows_the_seed() {
    let delays = |seed| {
        let options = UploadOptions {
            jitter_seed: seed,
            ..UploadOptions::default()
        };
        let mut up = Upload::new("video/webm", KEY, options).unwrap();
        let mut now = 0;
        fail_times(&mut up, 5, &mut now).0
    };
    assert_eq!(delays(1), delays(1));
    assert_ne!(delays(1), delays(2), "clients spread apart");
}

#[test]
fn answers_to_other_requests_are_ignored() {
    let mut up = created();
    stored(&mut up, 0, 10);
    let put0 = next(&mut up);
    answer(&mut up, RequestId(put0.id.0 + 7), 201, "{}", 0);
    assert_eq!(up.poll_output(), None);
    assert_eq!(up.chunks_sent(), 0);
    // A request that failed and was retried: its late answer changes nothing.
    network_error(&mut up, put0.id, 0);
    drain(&mut up);
    up.handle_timeout(up.poll_timeout().unwrap());
    let retry = next(&mut up);
    answer(&mut up, put0.id, 409, &error("conflict", "stale"), 0);
    network_error(&mut up, put0.id, 0);
    assert_eq!(up.poll_output(), None);
    assert_eq!(up.state(), UploadState::Uploading);
    answer(&mut up, retry.id, 201, "{}", 0);
    assert_eq!(up.chunks_sent(), 1);
}

#[test]
fn unusable_answers_fail_with_bad_response() {
    let cases: [(bool, &str, &str); 5] = [
        (false, "not json", "the answer to create: "),
        (false, r#"{"chunks":[]}"#, "the answer to create: `id`"),
        (
            false,
            r#"{"id":"../../v1/rooms","chunks":[]}"#,
            "the answer to create: `id`",
        ),
        (
            true,
            r#"{"id":"rec_0123456789abcdef"}"#,
            "the recording's status: `chunks` is missing",
        ),
        (
            true,
            r#"{"chunks":[0,"1"]}"#,
            "the recording's status: chunks: expected",
        ),
    ];
    for (resume, body, prefix) in cases {
        let mut up = if resume {
            Upload::resume(ID, UploadOptions::default()).unwrap()
        } else {
            Upload::new("video/webm", KEY, UploadOptions::default()).unwrap()
        };
        let first = next(&mut up);
        answer(&mut up, first.id, 200, body, 0);
        let (requests, events) = drain(&mut up);
        assert!(requests.is_empty(), "{body}");
        let [UploadEvent::Failed { code, message }] = &events[..] else {
            panic!("{body}: {events:?}");
        };
        assert_eq!(*code, UploadFailure::BadResponse, "{body}");
        assert!(message.starts_with(prefix), "{body}: {message}");
    }
}

#[test]
fn complete_waits_for_every_chunk() {
    let mut up = created();
    stored(&mut up, 0, 10);
    ack(&mut up, 0);
    stored(&mut up, 2, 10);
    complete(&mut up, 3).unwrap();
    ack(&mut up, 2);
    assert_eq!(drain(&mut up).0, [], "chunk 1 is not stored yet");
    stored(&mut up, 1, 10);
    let put1 = next(&mut up);
    assert_eq!(put1.kind, put(1));
    answer(&mut up, put1.id, 201, "{}", 0);
    let done = next(&mut up);
    assert!(
        matches!(&done.kind, UploadRequestKind::Complete { body, .. } if body.starts_with(r#"{"chunks":3,"#))
    );
    // The completion is retried like any request, and its answer ends the upload.
    answer(&mut up, done.id, 502, "", 0);
    drain(&mut up);
    up.handle_timeout(up.poll_timeout().unwrap());
    let again = next(&mut up);
    assert_eq!(again.kind, done.kind);
    answer(&mut up, again.id, 200, "{}", 0);
    assert!(up.is_done());
}

#[test]
fn the_sidecar_may_be_left_out() {
    let mut up = created();
    stored(&mut up, 0, 10);
    ack(&mut up, 0);
    let input = UploadInput::RecordingComplete {
        chunks: 1,
        manifest: MANIFEST.into(),
        sidecar: String::new(),
    };
    up.handle_input(input, Millis(0)).unwrap();
    let UploadRequestKind::Complete { body, .. } = next(&mut up).kind else {
        panic!("not a completion");
    };
    assert_eq!(body, [r#"{"chunks":1,"manifest":"#, MANIFEST, "}"].concat());
}

#[test]
fn misuse_is_refused_with_a_code() {
    assert_eq!(
        Upload::resume("../admin", UploadOptions::default()).unwrap_err(),
        UploadError::InvalidId
    );
    assert!(Upload::resume("", UploadOptions::default()).is_err());

    let mut up = created();
    assert_eq!(complete(&mut up, 0), Err(UploadError::NoChunks));
    stored(&mut up, 3, 10);
    let err = complete(&mut up, 3).unwrap_err();
    assert_eq!(err, UploadError::ChunkOutOfRange { seq: 3, chunks: 3 });
    assert_eq!(err.message(), "chunk 3 is past the recording's 3 chunks");

    let mut up = created();
    let bad = UploadInput::RecordingComplete {
        chunks: 1,
        manifest: "[1]".into(),
        sidecar: String::new(),
    };
    let err = up.handle_input(bad, Millis(0)).unwrap_err();
    assert_eq!(err.code(), "invalid_metadata");
    let bad = UploadInput::RecordingComplete {
        chunks: 1,
        manifest: MANIFEST.into(),
        sidecar: "{".into(),
    };
    let err = up.handle_input(bad, Millis(0)).unwrap_err();
    assert!(
        err.message()
            .starts_with("the sidecar is not a JSON object: ")
    );

    complete(&mut up, 2).unwrap();
    complete(&mut up, 2).unwrap();
    let err = complete(&mut up, 3).unwrap_err();
    assert_eq!(
        err,
        UploadError::CountChanged {
            declared: 2,
            got: 3
        }
    );
    assert_eq!(err.code(), "count_changed");
    let err = up
        .handle_input(UploadInput::ChunkStored { seq: 2, bytes: 1 }, Millis(0))
        .unwrap_err();
    assert_eq!(err.code(), "chunk_out_of_range");
    assert_eq!(up.poll_output(), None, "refused inputs change nothing");
}

#[test]
fn undrained_outputs_refuse_inputs() {
    let mut up = created();
    for seq in 0..40 {
        stored(&mut up, seq, 1);
    }
    // Request ids are sequential: answer each put without draining its outputs (a progress
    // event and the next put each time).
    let mut id = 2;
    let err = loop {
        let input = UploadInput::Response {
            request: RequestId(id),
            status: 201,
            body: "{}".into(),
        };
        if let Err(err) = up.handle_input(input, Millis(0)) {
            break err;
        }
        id += 1;
        assert!(id < 40, "never refused");
    };
    assert_eq!(err, UploadError::OutputNotDrained);
    assert_eq!(up.chunks_sent(), 32);
    drain(&mut up);
    answer(&mut up, RequestId(id), 201, "{}", 0);
    assert_eq!(up.chunks_sent(), 33);
}

#[test]
fn failure_codes_are_stable() {
    let names: Vec<&str> = UploadFailure::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        names,
        [
            "unauthorized",
            "token_expired",
            "forbidden",
            "not_found",
            "recordings_disabled",
            "conflict",
            "recording_limit",
            "too_large",
            "checksum_mismatch",
            "bad_request",
            "bad_response",
            "unreachable"
        ]
    );
}

#[test]
fn posts_carry_their_json_body_and_the_others_none() {
    let create = UploadRequestKind::Create {
        mime: "video/webm;codecs=vp8,opus".into(),
        key: KEY.into(),
    };
    assert_eq!(
        create.json_body().as_deref(),
        Some(r#"{"mime":"video/webm;codecs=vp8,opus","idempotencyKey":"rec-m1x2y3z4-abc123"}"#)
    );
    let complete = UploadRequestKind::Complete {
        recording: ID.into(),
        body: r#"{"chunks":1}"#.into(),
    };
    assert_eq!(complete.json_body().as_deref(), Some(r#"{"chunks":1}"#));
    let put = UploadRequestKind::PutChunk {
        recording: ID.into(),
        seq: 0,
    };
    assert_eq!(put.json_body(), None);
}

#[path = "upload_create_tests.rs"]
mod create;
