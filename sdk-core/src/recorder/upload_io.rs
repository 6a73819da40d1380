//! What an [`Upload`](super::Upload) takes in and gives out, its options and its errors.

use super::MAX_PENDING_OUTPUTS;
use crate::session::BackoffConfig;
use crate::text;

/// Names one request, so that the answer to an earlier one is recognised and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// How an upload retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadOptions {
    /// Retry timing. `max_attempts` counts consecutive failed requests before the upload
    /// gives up.
    pub backoff: BackoffConfig,
    /// Seed for retry jitter; give every client a different one.
    pub jitter_seed: u64,
}

impl Default for UploadOptions {
    /// Retries after 0.5 s doubling up to 30 s (each delay jittered down to half), giving up
    /// after 8 failures in a row.
    fn default() -> Self {
        Self {
            backoff: BackoffConfig {
                initial_ms: 500,
                max_ms: 30_000,
                max_attempts: 8,
            },
            jitter_seed: 0x5EED,
        }
    }
}

/// What happened, for [`Upload::handle_input`](super::Upload::handle_input).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UploadInput {
    /// The driver stored chunk `seq` locally. Chunks are numbered from 0 and may be reported
    /// in any order; reporting one again (after a reload) is harmless.
    ChunkStored {
        /// Its number.
        seq: u32,
        /// Its size.
        bytes: u64,
    },
    /// The recording is complete: chunks `0..chunks` make it up. Reporting it again with the
    /// same count is ignored.
    RecordingComplete {
        /// How many chunks; at least 1.
        chunks: u32,
        /// The recording's manifest, a JSON object text
        /// ([`Manifest`](super::Manifest) through `to_json_text`).
        manifest: String,
        /// The assist sidecar, a JSON object text ([`Sidecar`](super::Sidecar) through
        /// `to_json_text`), or empty for none.
        sidecar: String,
    },
    /// The server answered a request.
    Response {
        /// Which request.
        request: RequestId,
        /// The HTTP status.
        status: u16,
        /// The body, as text.
        body: String,
    },
    /// A request got no answer (the network failed, or the driver timed it out).
    NetworkError {
        /// Which request.
        request: RequestId,
        /// What failed, for logs.
        detail: String,
    },
}

/// What the driver must do, or tell the application, from [`Upload::poll_output`](super::Upload::poll_output).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum UploadOutput {
    /// Send this to the server, then report its answer.
    Request(UploadRequest),
    /// Tell the application.
    Event(UploadEvent),
}

/// One HTTP request to the server's recording API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRequest {
    /// Its id, to report its answer with.
    pub id: RequestId,
    /// What to send.
    pub kind: UploadRequestKind,
}

/// What to send. Every request carries `Authorization: Bearer <join token>` of the member who
/// recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UploadRequestKind {
    /// `POST /v1/recordings` with the JSON body `{"mime": mime, "idempotencyKey": key}`: a
    /// new recording, or (`200` rather than `201`) the one this member already created in
    /// this room with `key`, so that a create whose answer was lost can be sent again.
    Create {
        /// The recording's MIME type.
        mime: String,
        /// The upload's key (see [`Upload::new`](super::Upload::new)).
        key: String,
    },
    /// `GET /v1/recordings/{recording}`: which chunks the server holds.
    Status {
        /// The recording's id.
        recording: String,
    },
    /// `PUT /v1/recordings/{recording}/chunks/{seq}`: the bytes of chunk `seq` as stored,
    /// with their SHA-256 in hex as `X-Content-SHA256`.
    PutChunk {
        /// The recording's id.
        recording: String,
        /// The chunk.
        seq: u32,
    },
    /// `POST /v1/recordings/{recording}/complete` with `body` (JSON, sent as it is).
    Complete {
        /// The recording's id.
        recording: String,
        /// `{"chunks":…,"manifest":…,"sidecar":…}`.
        body: String,
    },
}

impl UploadRequestKind {
    /// The HTTP method: `POST`, `GET` or `PUT`.
    pub fn method(&self) -> &'static str {
        match self {
            Self::Create { .. } | Self::Complete { .. } => "POST",
            Self::Status { .. } => "GET",
            Self::PutChunk { .. } => "PUT",
        }
    }

    /// The JSON body of a `POST` (`{"mime","idempotencyKey"}` to create, the completion as
    /// given); `None` for the others (a chunk's body is its bytes).
    pub fn json_body(&self) -> Option<String> {
        match self {
            Self::Create { mime, key } => {
                let mut body = String::new();
                let mut w = crate::json::ObjectWriter::new(&mut body);
                w.field("mime", mime.as_str());
                w.field("idempotencyKey", key.as_str());
                w.finish();
                Some(body)
            }
            Self::Complete { body, .. } => Some(body.clone()),
            Self::Status { .. } | Self::PutChunk { .. } => None,
        }
    }

    /// The path, relative to the server's base URL, e.g. `/v1/recordings/rec_…/chunks/3`.
    pub fn path(&self) -> String {
        const BASE: &str = "/v1/recordings";
        match self {
            Self::Create { .. } => BASE.into(),
            Self::Status { recording } => [BASE, "/", recording].concat(),
            Self::PutChunk { recording, seq } => {
                let seq = text::decimal(u64::from(*seq));
                [BASE, "/", recording, "/chunks/", &seq].concat()
            }
            Self::Complete { recording, .. } => [BASE, "/", recording, "/complete"].concat(),
        }
    }
}

/// Something the application should know about the upload. New variants may be added.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UploadEvent {
    /// The server created the recording. Persist the id: after a reload,
    /// [`Upload::resume`](super::Upload::resume) continues with it.
    Created {
        /// The recording's id.
        recording: String,
    },
    /// The server holds more of the recording.
    Progress {
        /// Chunks the server holds.
        chunks_sent: u32,
        /// Bytes the server holds.
        bytes_sent: u64,
    },
    /// A request failed; it is sent again after `delay_ms`.
    Retrying {
        /// Consecutive failures so far.
        attempt: u32,
        /// Delay before the next try.
        delay_ms: u64,
        /// What failed, for logs: the network's error, or the status and the server's
        /// message.
        reason: String,
    },
    /// The server has the complete recording. The driver may delete its local chunks.
    Done {
        /// The recording's id.
        recording: String,
    },
    /// The upload failed; nothing more is sent. The local chunks are intact.
    Failed {
        /// Why.
        code: UploadFailure,
        /// The server's message, or what went wrong locally.
        message: String,
    },
}

/// Why an upload failed. The string forms are stable API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UploadFailure {
    /// `401`: the token is missing, invalid, or its room or member is gone.
    Unauthorized,
    /// `401 token_expired`: a fresh join token can [resume](super::Upload::resume) the upload.
    TokenExpired,
    /// `403`: this member may not record, or the recording is another member's.
    Forbidden,
    /// `404`: no such recording.
    NotFound,
    /// `404 recordings_disabled`: the server keeps no recordings.
    RecordingsDisabled,
    /// `409`: the server holds different bytes for a chunk, or chunks the completion does not
    /// account for.
    Conflict,
    /// `409 recording_limit`: the room has as many recordings as the server keeps for one
    /// room.
    RecordingLimit,
    /// `413`: a chunk or the recording is larger than the server accepts.
    TooLarge,
    /// `400 checksum_mismatch`: a chunk's bytes do not match the SHA-256 sent with them.
    ChecksumMismatch,
    /// Any other `4xx`.
    BadRequest,
    /// The server answered with a status or a body this upload cannot use.
    BadResponse,
    /// Requests kept failing (network errors, `408`, `429`, `5xx`) until the retries ran
    /// out.
    Unreachable,
}

impl UploadFailure {
    /// The stable string form: `unauthorized`, `token_expired`, `forbidden`, `not_found`,
    /// `recordings_disabled`, `conflict`, `recording_limit`, `too_large`, `checksum_mismatch`,
    /// `bad_request`, `bad_response`, `unreachable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::TokenExpired => "token_expired",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::RecordingsDisabled => "recordings_disabled",
            Self::Conflict => "conflict",
            Self::RecordingLimit => "recording_limit",
            Self::TooLarge => "too_large",
            Self::ChecksumMismatch => "checksum_mismatch",
            Self::BadRequest => "bad_request",
            Self::BadResponse => "bad_response",
            Self::Unreachable => "unreachable",
        }
    }

    /// Every code, for bindings that list them.
    pub const ALL: [UploadFailure; 12] = [
        Self::Unauthorized,
        Self::TokenExpired,
        Self::Forbidden,
        Self::NotFound,
        Self::RecordingsDisabled,
        Self::Conflict,
        Self::RecordingLimit,
        Self::TooLarge,
        Self::ChecksumMismatch,
        Self::BadRequest,
        Self::BadResponse,
        Self::Unreachable,
    ];

    /// The failure a final (not retried) HTTP status means, refined by the error body's
    /// `code`.
    pub(super) fn from_status(status: u16, code: &str) -> Self {
        match (status, code) {
            (401, "token_expired") => Self::TokenExpired,
            (401, _) => Self::Unauthorized,
            (403, _) => Self::Forbidden,
            (404, "recordings_disabled") => Self::RecordingsDisabled,
            (404, _) => Self::NotFound,
            (409, "recording_limit") => Self::RecordingLimit,
            (409, _) => Self::Conflict,
            (413, _) => Self::TooLarge,
            (400, "checksum_mismatch") => Self::ChecksumMismatch,
            (400..=499, _) => Self::BadRequest,
            _ => Self::BadResponse,
        }
    }
}

/// Where an upload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UploadState {
    /// Sending, retrying, or waiting for chunks.
    Uploading,
    /// The server has the complete recording.
    Done,
    /// The upload failed.
    Failed,
}

impl UploadState {
    /// The stable name: `uploading`, `done`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Uploading => "uploading",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }
}

/// Misuse of the upload API. The upload goes on unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
#[non_exhaustive]
pub enum UploadError {
    /// An input after the upload ended.
    Finished {
        /// How it ended.
        state: UploadState,
    },
    /// A chunk number at or past the recording's chunk count.
    ChunkOutOfRange {
        /// The chunk.
        seq: u32,
        /// The count.
        chunks: u32,
    },
    /// A recording of no chunks.
    NoChunks,
    /// The recording was reported complete again with another chunk count.
    CountChanged {
        /// The count reported first.
        declared: u32,
        /// The count reported now.
        got: u32,
    },
    /// The manifest or the sidecar is not a JSON object.
    InvalidMetadata {
        /// `manifest` or `sidecar`.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A recording id to resume that no server would have issued (1 to
    /// [`MAX_RECORDING_ID_BYTES`](super::MAX_RECORDING_ID_BYTES) of ASCII letters, digits, `_` and `-`).
    InvalidId,
    /// An upload key that is not 1 to [`MAX_UPLOAD_KEY_BYTES`](super::MAX_UPLOAD_KEY_BYTES)
    /// ASCII letters, digits, `_` and `-` (the server refuses any other).
    InvalidKey,
    /// Outputs were not drained (see the drive rule on [`Upload`](super::Upload)).
    OutputNotDrained,
    /// The call already uploads the recording under this key.
    AlreadyUploading,
    /// The call uploads no recording under this key.
    NotUploading,
    /// The recording was made in another room than the one joined: its member's token there
    /// is needed.
    OtherRoom,
}

impl UploadError {
    /// The stable code: `finished`, `chunk_out_of_range`, `no_chunks`, `count_changed`,
    /// `invalid_metadata`, `invalid_id`, `invalid_key`, `output_not_drained`,
    /// `already_uploading`, `not_uploading`, `other_room`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::AlreadyUploading => "already_uploading",
            Self::NotUploading => "not_uploading",
            Self::OtherRoom => "other_room",
            Self::Finished { .. } => "finished",
            Self::ChunkOutOfRange { .. } => "chunk_out_of_range",
            Self::NoChunks => "no_chunks",
            Self::CountChanged { .. } => "count_changed",
            Self::InvalidMetadata { .. } => "invalid_metadata",
            Self::InvalidId => "invalid_id",
            Self::InvalidKey => "invalid_key",
            Self::OutputNotDrained => "output_not_drained",
        }
    }

    /// What was refused (also the `Display` text), e.g. `chunk 5 is past the recording's 5
    /// chunks`. Built without `core::fmt`.
    pub fn message(&self) -> String {
        let n = |n: u32| text::decimal(u64::from(n));
        match self {
            Self::Finished { state } => ["the upload is over (", state.as_str(), ")"].concat(),
            Self::ChunkOutOfRange { seq, chunks } => [
                "chunk ",
                &n(*seq),
                " is past the recording's ",
                &n(*chunks),
                " chunks",
            ]
            .concat(),
            Self::NoChunks => "a recording has at least one chunk".into(),
            Self::CountChanged { declared, got } => [
                "the recording was complete with ",
                &n(*declared),
                " chunks, not ",
                &n(*got),
            ]
            .concat(),
            Self::InvalidMetadata { what, reason } => {
                ["the ", what, " is not a JSON object: ", reason].concat()
            }
            Self::InvalidId => "not a recording id".into(),
            Self::InvalidKey => [
                "an upload key is 1 to ",
                &text::decimal(super::MAX_UPLOAD_KEY_BYTES as u64),
                " ASCII letters, digits, `_` and `-`",
            ]
            .concat(),
            Self::AlreadyUploading => "this recording is already uploading".into(),
            Self::NotUploading => "no such recording is uploading".into(),
            Self::OtherRoom => "this recording was made in another room".into(),
            Self::OutputNotDrained => [
                &text::decimal(MAX_PENDING_OUTPUTS as u64),
                " upload outputs are waiting: drain poll_output after every input",
            ]
            .concat(),
        }
    }
}

impl UploadError {
    /// The wire error code for bindings: `conflict` for state, `forbidden` for another room's
    /// recording, `internal` for undrained outputs, `bad_request` otherwise.
    pub fn wire_code(&self) -> crate::protocol::ErrorCode {
        use crate::protocol::ErrorCode;
        match self {
            Self::Finished { .. }
            | Self::CountChanged { .. }
            | Self::AlreadyUploading
            | Self::NotUploading => ErrorCode::Conflict,
            Self::OtherRoom => ErrorCode::Forbidden,
            Self::OutputNotDrained => ErrorCode::Internal,
            Self::ChunkOutOfRange { .. }
            | Self::NoChunks
            | Self::InvalidMetadata { .. }
            | Self::InvalidId
            | Self::InvalidKey => ErrorCode::BadRequest,
        }
    }
}
