//! The create: its key, its retries, and the room that holds no more recordings.

use super::*;

fn create_body(request: &UploadRequest) -> String {
    assert!(
        matches!(request.kind, UploadRequestKind::Create { .. }),
        "{request:?}"
    );
    request.kind.json_body().unwrap_or_default()
}

#[test]
fn the_create_carries_the_upload_key() {
    let mut up = Upload::new("video/webm", KEY, UploadOptions::default()).unwrap();
    let create = next(&mut up);
    assert_eq!(
        create_body(&create),
        r#"{"mime":"video/webm","idempotencyKey":"rec-m1x2y3z4-abc123"}"#
    );
}

#[test]
fn a_create_whose_answer_was_lost_is_sent_again_under_the_same_key() {
    let mut up = Upload::new("video/webm", KEY, UploadOptions::default()).unwrap();
    stored(&mut up, 0, 10);
    let first = next(&mut up);
    let body = create_body(&first);
    let mut now = 0;
    // The server made the recording each time, but the answer never came back: the
    // network failed, the proxy timed out, the server failed after its commit.
    for fail in 0..3 {
        let request = if fail == 0 {
            first.clone()
        } else {
            next(&mut up)
        };
        assert_eq!(create_body(&request), body, "attempt {fail}");
        match fail {
            0 => network_error(&mut up, request.id, now),
            1 => answer(&mut up, request.id, 408, "", now),
            _ => answer(&mut up, request.id, 503, "", now),
        }
        let (requests, events) = drain(&mut up);
        assert!(requests.is_empty());
        assert!(
            matches!(&events[..], [UploadEvent::Retrying { .. }]),
            "{events:?}"
        );
        now = up.poll_timeout().expect("a retry is due").0;
        up.handle_timeout(Millis(now));
    }
    let again = next(&mut up);
    assert_eq!(create_body(&again), body);
    assert_ne!(again.id, first.id, "a retry is a new request");
    // The server recognises the key: the recording made first, `200` rather than `201`.
    answer(&mut up, again.id, 200, &view("[]", 0, "uploading"), now);
    let (requests, events) = drain(&mut up);
    assert_eq!(
        events,
        [UploadEvent::Created {
            recording: ID.into()
        }]
    );
    assert_eq!(requests[0].kind, put(0));
    assert_eq!(up.recording(), Some(ID));
}

#[test]
fn a_recreated_upload_takes_over_the_chunks_the_server_holds() {
    // After a reload before `Created` was kept: a new upload under the same key, whose
    // create finds the recording, and the chunks the earlier page sent.
    let mut up = Upload::new("video/webm", KEY, UploadOptions::default()).unwrap();
    for seq in 0..3 {
        stored(&mut up, seq, 10);
    }
    let create = next(&mut up);
    answer(&mut up, create.id, 200, &view("[0,1]", 20, "uploading"), 0);
    let (requests, events) = drain(&mut up);
    assert_eq!(
        events,
        [
            UploadEvent::Created {
                recording: ID.into()
            },
            UploadEvent::Progress {
                chunks_sent: 2,
                bytes_sent: 20
            }
        ]
    );
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].kind, put(2));
}

#[test]
fn a_room_with_as_many_recordings_as_it_may_fails_the_create_at_once() {
    let mut up = Upload::new("video/webm", KEY, UploadOptions::default()).unwrap();
    stored(&mut up, 0, 10);
    let create = next(&mut up);
    let body = error(
        "recording_limit",
        "this room has as many recordings as it may",
    );
    answer(&mut up, create.id, 409, &body, 0);
    let (requests, events) = drain(&mut up);
    assert!(requests.is_empty());
    assert_eq!(
        events,
        [UploadEvent::Failed {
            code: UploadFailure::RecordingLimit,
            message: "this room has as many recordings as it may".into()
        }]
    );
    assert_eq!(UploadFailure::RecordingLimit.as_str(), "recording_limit");
    assert_eq!(up.state(), UploadState::Failed);
    assert_eq!(up.poll_timeout(), None, "not retried");
}

#[test]
fn a_key_the_server_would_refuse_is_refused_here() {
    let options = UploadOptions::default();
    let long = "k".repeat(MAX_UPLOAD_KEY_BYTES + 1);
    for key in ["", "rec 1", "rec/1", "récit", "rec\"1", long.as_str()] {
        let err = Upload::new("video/webm", key, options).unwrap_err();
        assert_eq!(err, UploadError::InvalidKey, "{key:?}");
        assert_eq!(err.code(), "invalid_key");
    }
    let longest = "K_-9".repeat(MAX_UPLOAD_KEY_BYTES / 4);
    assert!(Upload::new("video/webm", &longest, options).is_ok());
}
