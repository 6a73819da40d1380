//! Uploading one local recording to the server: [`Upload`].

use std::collections::VecDeque;

use super::*;
use crate::Millis;
use crate::json::{self, FromJson, Json, ObjectWriter};
use crate::text;

/// The longest recording id accepted, in bytes (the server's are `rec_` and 16 hex digits).
pub const MAX_RECORDING_ID_BYTES: usize = 64;

/// The longest upload key, in bytes (the server refuses longer ones).
pub const MAX_UPLOAD_KEY_BYTES: usize = 64;

/// The request in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Create,
    Status,
    Put(u32),
    Complete,
}

/// What the server's recording view says.
struct View {
    id: Option<String>,
    chunks: Vec<u32>,
    bytes: u64,
    complete: bool,
}

/// One local recording's upload to the server, as a sans-IO state machine.
///
/// It owns no HTTP client, storage or timer. It decides what to send and when; its
/// driver sends it (`fetch`, with the member's join token as `Authorization: Bearer`), reads
/// chunks from its store (IndexedDB) and hashes them (SHA-256):
///
/// - Inputs ([`Upload::handle_input`]): chunks the driver stored, the end of the recording
///   with its manifest and sidecar, and the answer to each request.
/// - Outputs ([`Upload::poll_output`]): [`UploadRequest`]s for the server's recording API
///   ([`UploadRequestKind::method`] and [`path`](UploadRequestKind::path) say where) and
///   [`UploadEvent`]s for the application.
/// - One timer ([`Upload::poll_timeout`] / [`Upload::handle_timeout`]) for retries.
///
/// **Order:** one request in flight at a time. Create the recording (unless
/// [resumed](Upload::resume): then ask which chunks the server holds), put every stored chunk
/// the server does not hold in chunk order, and complete once the recording is complete and
/// the server holds chunks `0..chunks`. Chunks stored meanwhile wait their turn; an answer to
/// any request but the one in flight is ignored.
///
/// **Retries:** a network error, `408`, `429` or a `5xx` is retried after a jittered,
/// exponential delay ([`UploadOptions::backoff`]); after
/// [`max_attempts`](crate::session::BackoffConfig::max_attempts) consecutive failures the upload fails with
/// [`UploadFailure::Unreachable`]. Any other status is final ([`UploadEvent::Failed`] with the
/// server's reason), among them `409 recording_limit` when the room has as many recordings as
/// the server keeps ([`UploadFailure::RecordingLimit`]). Every request may be retried: chunks
/// and the completion are idempotent on the server, and the create carries the upload's key,
/// so a create sent again after its answer was lost gets the recording the first one made.
///
/// **Drive rule** (as the [`Recorder`](super::Recorder)'s): after every `handle_*` call, drain
/// `poll_output` until `None`, then arm one timer for `poll_timeout`. Outputs left undrained
/// past [`MAX_PENDING_OUTPUTS`] make the next input fail with
/// [`UploadError::OutputNotDrained`]. One `Upload` uploads one recording.
///
/// ```
/// use assistrtc_core::Millis;
/// use assistrtc_core::recorder::{
///     Upload, UploadInput, UploadOptions, UploadOutput, UploadRequestKind,
/// };
///
/// // The key names this recording among the member's uploads in this room.
/// let mut up = Upload::new("video/webm", "rec-1", UploadOptions::default()).unwrap();
/// // The driver stored chunk 0 (and keeps doing so while the recording runs).
/// up.handle_input(UploadInput::ChunkStored { seq: 0, bytes: 4096 }, Millis(0)).unwrap();
/// let manifest = r#"{"duration_ms":2000}"#.to_owned();
/// let done = UploadInput::RecordingComplete { chunks: 1, manifest, sidecar: String::new() };
/// up.handle_input(done, Millis(0)).unwrap();
/// // A stand-in for `fetch`: the server's answer to each request.
/// let answer = |kind: &UploadRequestKind| match kind {
///     UploadRequestKind::Create { .. } => (201, r#"{"id":"rec_00000000000000aa","chunks":[]}"#),
///     UploadRequestKind::PutChunk { .. } => (201, "{}"), // with the chunk and its SHA-256
///     _ => (200, "{}"),
/// };
/// let mut now = Millis(0);
/// loop {
///     let mut sent = None;
///     while let Some(output) = up.poll_output() {
///         match output {
///             UploadOutput::Request(request) => {
///                 println!("{} {}", request.kind.method(), request.kind.path());
///                 sent = Some((request.id, answer(&request.kind)));
///             }
///             // Persist the id on `Created`, so a reload can `Upload::resume`.
///             UploadOutput::Event(event) => println!("{event:?}"),
///         }
///     }
///     match (sent, up.poll_timeout()) {
///         (Some((request, (status, body))), _) => {
///             now = now.after(50);
///             let response = UploadInput::Response { request, status, body: body.into() };
///             up.handle_input(response, now).unwrap();
///         }
///         (None, Some(at)) => up.handle_timeout(at), // a retry is due then
///         (None, None) => break,
///     }
/// }
/// assert_eq!(up.recording(), Some("rec_00000000000000aa"));
/// assert_eq!((up.chunks_sent(), up.bytes_sent()), (1, 4096));
/// assert!(up.is_done());
/// ```
#[derive(Debug, Clone)]
pub struct Upload {
    options: UploadOptions,
    /// SplitMix64 state for retry jitter.
    jitter: u64,
    mime: String,
    /// The create's idempotency key; empty when resumed (a resumed upload never creates).
    key: String,
    recording: Option<String>,
    state: UploadState,
    /// Whether the server said which chunks it holds (by creating, or answering the status).
    synced: bool,
    in_flight: Option<(RequestId, Step)>,
    last_request: u64,
    retry_at: Option<Millis>,
    /// Consecutive failed requests.
    failures: u32,
    /// Stored chunks the server does not hold: `(seq, bytes)`, ascending by `seq`.
    pending: VecDeque<(u32, u64)>,
    /// Chunks the server holds, ascending.
    acked: Vec<u32>,
    bytes_sent: u64,
    /// The chunk count and the `complete` body, once the recording is complete.
    completion: Option<(u32, String)>,
    outputs: VecDeque<UploadOutput>,
    now: Millis,
}

impl Upload {
    /// A new upload: it starts by creating the recording (a [`UploadRequestKind::Create`] is
    /// waiting in [`poll_output`](Self::poll_output)).
    ///
    /// `key` (1 to [`MAX_UPLOAD_KEY_BYTES`] ASCII letters, digits, `_` and `-`) names this
    /// recording among the uploads of its member in its room, and must never name another:
    /// the server answers a create with a key it has seen from this member in this room with
    /// the recording made then. So a create retried after its answer was lost, or made again
    /// by a new `Upload` after a reload (give it the same key), finds the recording instead of
    /// leaving an empty one behind.
    pub fn new(mime: &str, key: &str, options: UploadOptions) -> Result<Self, UploadError> {
        if !plain(key, MAX_UPLOAD_KEY_BYTES) {
            return Err(UploadError::InvalidKey);
        }
        Ok(Self::start(None, mime, key, options))
    }

    /// Continues the upload of `recording_id` (after a reload, or with a fresh token): it
    /// starts by asking the server which chunks it holds, and sends only the others.
    pub fn resume(recording_id: &str, options: UploadOptions) -> Result<Self, UploadError> {
        if !valid_id(recording_id) {
            return Err(UploadError::InvalidId);
        }
        Ok(Self::start(Some(recording_id.into()), "", "", options))
    }

    fn start(recording: Option<String>, mime: &str, key: &str, options: UploadOptions) -> Self {
        let mut upload = Self {
            options,
            jitter: options.jitter_seed,
            mime: mime.into(),
            key: key.into(),
            recording,
            state: UploadState::Uploading,
            synced: false,
            in_flight: None,
            last_request: 0,
            retry_at: None,
            failures: 0,
            pending: VecDeque::new(),
            acked: Vec::new(),
            bytes_sent: 0,
            completion: None,
            outputs: VecDeque::new(),
            now: Millis(0),
        };
        upload.pump();
        upload
    }

    // ---- getters ----

    /// The state.
    pub fn state(&self) -> UploadState {
        self.state
    }

    /// Whether the server has the complete recording.
    pub fn is_done(&self) -> bool {
        self.state == UploadState::Done
    }

    /// The recording's id, once created (or from [`resume`](Self::resume)).
    pub fn recording(&self) -> Option<&str> {
        self.recording.as_deref()
    }

    /// Chunks the server holds.
    pub fn chunks_sent(&self) -> u32 {
        u32::try_from(self.acked.len()).unwrap_or(u32::MAX)
    }

    /// Bytes the server holds.
    pub fn bytes_sent(&self) -> u64 {
        self.bytes_sent
    }

    // ---- drive ----

    /// Feeds what happened. See the drive rule on [`Upload`].
    pub fn handle_input(&mut self, input: UploadInput, now: Millis) -> Result<(), UploadError> {
        if self.outputs.len() >= MAX_PENDING_OUTPUTS {
            return Err(UploadError::OutputNotDrained);
        }
        self.now = self.now.max(now);
        if self.state != UploadState::Uploading {
            return Err(UploadError::Finished { state: self.state });
        }
        match input {
            UploadInput::ChunkStored { seq, bytes } => self.chunk_stored(seq, bytes)?,
            UploadInput::RecordingComplete {
                chunks,
                manifest,
                sidecar,
            } => self.recording_complete(chunks, &manifest, &sidecar)?,
            UploadInput::Response {
                request,
                status,
                body,
            } => {
                if let Some(step) = self.answered(request) {
                    self.on_response(step, status, &body);
                }
            }
            UploadInput::NetworkError { request, detail } => {
                if self.answered(request).is_some() {
                    self.retry(detail);
                }
            }
        }
        self.pump();
        Ok(())
    }

    /// The next request or event, or `None` when drained.
    pub fn poll_output(&mut self) -> Option<UploadOutput> {
        self.outputs.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next: a retry's time.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.retry_at
    }

    /// Runs whatever is due at `now`: sends the request a retry waits for.
    pub fn handle_timeout(&mut self, now: Millis) {
        self.now = self.now.max(now);
        if self.retry_at.is_some_and(|at| at <= self.now) {
            self.retry_at = None;
            self.pump();
        }
    }

    // ---- inputs ----

    fn chunk_stored(&mut self, seq: u32, bytes: u64) -> Result<(), UploadError> {
        if let Some((chunks, _)) = self.completion {
            if seq >= chunks {
                return Err(UploadError::ChunkOutOfRange { seq, chunks });
            }
        }
        if self.acked.binary_search(&seq).is_ok() {
            return Ok(());
        }
        match self.pending.binary_search_by_key(&seq, |c| c.0) {
            Ok(at) => self.pending[at].1 = bytes,
            Err(at) => self.pending.insert(at, (seq, bytes)),
        }
        Ok(())
    }

    fn recording_complete(
        &mut self,
        chunks: u32,
        manifest: &str,
        sidecar: &str,
    ) -> Result<(), UploadError> {
        if let Some((declared, _)) = self.completion {
            return if declared == chunks {
                Ok(())
            } else {
                Err(UploadError::CountChanged {
                    declared,
                    got: chunks,
                })
            };
        }
        if chunks == 0 {
            return Err(UploadError::NoChunks);
        }
        if let Some(&(seq, _)) = self.pending.back().filter(|c| c.0 >= chunks) {
            return Err(UploadError::ChunkOutOfRange { seq, chunks });
        }
        let object = |what: &'static str, text: &str| {
            json::parse_object(text).map_err(|reason| UploadError::InvalidMetadata { what, reason })
        };
        object("manifest", manifest)?;
        let sidecar = sidecar.trim();
        if !sidecar.is_empty() {
            object("sidecar", sidecar)?;
        }
        let mut body = String::with_capacity(manifest.len() + sidecar.len() + 48);
        let mut w = ObjectWriter::new(&mut body);
        w.field("chunks", &chunks);
        w.key("manifest").push_str(manifest.trim());
        if !sidecar.is_empty() {
            w.key("sidecar").push_str(sidecar);
        }
        w.finish();
        self.completion = Some((chunks, body));
        Ok(())
    }

    /// The step `request` was, if it is the one in flight; it no longer is.
    fn answered(&mut self, request: RequestId) -> Option<Step> {
        match self.in_flight {
            Some((id, step)) if id == request => {
                self.in_flight = None;
                Some(step)
            }
            _ => None,
        }
    }

    fn on_response(&mut self, step: Step, status: u16, body: &str) {
        let (code, message) = match status {
            200..=299 => return self.on_success(step, body),
            _ => error_body(body),
        };
        let mut reason = String::from("HTTP ");
        text::push_decimal(&mut reason, u64::from(status));
        if matches!(status, 408 | 429 | 500..=599) {
            if !message.is_empty() {
                reason.push_str(": ");
                reason.push_str(&message);
            }
            return self.retry(reason);
        }
        let failure = UploadFailure::from_status(status, &code);
        self.fail(failure, if message.is_empty() { reason } else { message });
    }

    fn on_success(&mut self, step: Step, body: &str) {
        self.failures = 0;
        let view = match step {
            Step::Put(seq) => return self.acked(seq),
            Step::Complete => return self.done(),
            Step::Create => read_view(body, true, false),
            Step::Status => read_view(body, false, true),
        };
        let mut view = match view {
            Ok(view) => view,
            Err(reason) => {
                let what = if step == Step::Create {
                    "the answer to create: "
                } else {
                    "the recording's status: "
                };
                return self.fail(UploadFailure::BadResponse, [what, &reason].concat());
            }
        };
        if let Some(id) = view.id.take().filter(|_| step == Step::Create) {
            self.recording = Some(id.clone());
            self.event(UploadEvent::Created { recording: id });
        }
        self.synced = true;
        view.chunks.sort_unstable();
        view.chunks.dedup();
        self.acked = view.chunks;
        let acked = &self.acked;
        self.pending.retain(|c| acked.binary_search(&c.0).is_err());
        self.bytes_sent = view.bytes;
        if view.complete {
            self.done();
        } else if !self.acked.is_empty() {
            self.progress();
        }
    }

    fn acked(&mut self, seq: u32) {
        if let Err(at) = self.acked.binary_search(&seq) {
            self.acked.insert(at, seq);
        }
        if let Ok(at) = self.pending.binary_search_by_key(&seq, |c| c.0) {
            let bytes = self.pending.remove(at).map_or(0, |c| c.1);
            self.bytes_sent = self.bytes_sent.saturating_add(bytes);
        }
        self.progress();
    }

    /// A request failed in a way worth another try, unless the tries ran out.
    fn retry(&mut self, reason: String) {
        let backoff = self.options.backoff;
        self.failures = self.failures.saturating_add(1);
        if self.failures >= backoff.max_attempts {
            let message = [
                "gave up after ",
                &text::decimal(u64::from(self.failures)),
                " failed attempts; the last: ",
                &reason,
            ]
            .concat();
            return self.fail(UploadFailure::Unreachable, message);
        }
        // "Equal jitter", as the session's reconnects: half the exponential delay fixed, half
        // random, so retries never bunch at zero and clients never synchronise.
        let exp = backoff
            .initial_ms
            .saturating_mul(1u64 << (self.failures - 1).min(32))
            .min(backoff.max_ms);
        let half = exp / 2;
        let delay_ms = half + splitmix(&mut self.jitter) % (exp - half + 1);
        self.retry_at = Some(self.now.after(delay_ms));
        self.event(UploadEvent::Retrying {
            attempt: self.failures,
            delay_ms,
            reason,
        });
    }

    // ---- outputs ----

    /// Sends the next request, unless one is in flight, a retry waits, or nothing is due.
    fn pump(&mut self) {
        if self.state != UploadState::Uploading || self.in_flight.is_some() {
            return;
        }
        if self.retry_at.is_some() {
            return;
        }
        let Some(recording) = &self.recording else {
            let (mime, key) = (self.mime.clone(), self.key.clone());
            return self.request(Step::Create, UploadRequestKind::Create { mime, key });
        };
        let recording = recording.clone();
        let (step, kind) = if !self.synced {
            (Step::Status, UploadRequestKind::Status { recording })
        } else if let Some(&(seq, _)) = self.pending.front() {
            (
                Step::Put(seq),
                UploadRequestKind::PutChunk { recording, seq },
            )
        } else {
            match &self.completion {
                Some((chunks, body)) if self.holds_all(*chunks) => {
                    let body = body.clone();
                    (
                        Step::Complete,
                        UploadRequestKind::Complete { recording, body },
                    )
                }
                _ => return,
            }
        };
        self.request(step, kind);
    }

    /// Whether the server holds chunks `0..chunks` (`acked` is ascending and distinct).
    fn holds_all(&self, chunks: u32) -> bool {
        let last = chunks.saturating_sub(1);
        self.acked.get(last as usize) == Some(&last)
    }

    fn request(&mut self, step: Step, kind: UploadRequestKind) {
        self.last_request += 1;
        let id = RequestId(self.last_request);
        self.in_flight = Some((id, step));
        self.outputs
            .push_back(UploadOutput::Request(UploadRequest { id, kind }));
    }

    fn progress(&mut self) {
        self.event(UploadEvent::Progress {
            chunks_sent: self.chunks_sent(),
            bytes_sent: self.bytes_sent,
        });
    }

    fn done(&mut self) {
        self.state = UploadState::Done;
        self.retry_at = None;
        let recording = self.recording.clone().unwrap_or_default();
        self.event(UploadEvent::Done { recording });
    }

    fn fail(&mut self, code: UploadFailure, message: String) {
        self.state = UploadState::Failed;
        self.retry_at = None;
        self.event(UploadEvent::Failed { code, message });
    }

    fn event(&mut self, event: UploadEvent) {
        self.outputs.push_back(UploadOutput::Event(event));
    }
}

/// Reads the server's recording view: `id` (required by create), `chunks` (required by the
/// status), `bytes`, and whether `state` is `complete`.
fn read_view(body: &str, need_id: bool, need_chunks: bool) -> Result<View, String> {
    let mut obj = json::parse_object(body)?;
    let id = match obj.take("id") {
        Some(Json::Str(id)) if valid_id(&id) => Some(id),
        None if !need_id => None,
        _ => return Err("`id` is missing or not a recording id".into()),
    };
    let chunks = match obj.take("chunks") {
        Some(list) => Vec::<u32>::from_json(list).map_err(|e| ["chunks: ", &e].concat())?,
        None if !need_chunks => Vec::new(),
        None => return Err("`chunks` is missing".into()),
    };
    let bytes = match obj.take("bytes") {
        Some(Json::Int(n)) => n,
        _ => 0,
    };
    let complete = matches!(obj.get("state"), Some(Json::Str(s)) if s == "complete");
    Ok(View {
        id,
        chunks,
        bytes,
        complete,
    })
}

/// `code` and `message` from an error body, `{"error": {"code", "message"}}` (or the two at
/// the top level); empty when absent.
fn error_body(body: &str) -> (String, String) {
    let Ok(mut obj) = json::parse_object(body) else {
        return (String::new(), String::new());
    };
    if let Some(Json::Obj(inner)) = obj.take("error") {
        obj = inner;
    }
    let mut text = |key: &str| match obj.take(key) {
        Some(Json::Str(s)) => s,
        _ => String::new(),
    };
    (text("code"), text("message"))
}

fn valid_id(id: &str) -> bool {
    plain(id, MAX_RECORDING_ID_BYTES)
}

/// 1 to `max` ASCII letters, digits, `_` and `-`: safe in a path and in JSON as it is.
fn plain(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// SplitMix64, as the session's reconnect jitter: tiny, good enough for spreading retries.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
#[path = "upload_tests.rs"]
mod tests;
