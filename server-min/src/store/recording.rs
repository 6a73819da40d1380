//! The recording index and the access audit: what the resumable upload keeps in the store.
//!
//! The media itself is in files under `--data-dir` (see the server's `recording` module);
//! the store holds which chunks arrived (size and SHA-256 each), the room as it was when the
//! upload began (members, permissions, consent), and, once complete, the manifest and sidecar.

use std::io;

use assistrtc_core::protocol::{MemberId, RoomId};

use super::StoreError;

/// Where an upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingState {
    /// Chunks are arriving.
    Uploading,
    /// Every chunk arrived and the media file is assembled.
    Complete,
}

impl RecordingState {
    /// `uploading` or `complete`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Uploading => "uploading",
            Self::Complete => "complete",
        }
    }

    fn parse(s: &str) -> Self {
        if s == "complete" {
            Self::Complete
        } else {
            Self::Uploading
        }
    }
}

/// A recording as `POST /v1/recordings` creates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecording {
    /// Its id (server-generated, safe as a file name).
    pub id: String,
    /// The room it was made in.
    pub room: RoomId,
    /// The creation of the room (its epoch): only tokens of that creation may upload.
    pub epoch: String,
    /// The member who uploads it.
    pub member: MemberId,
    /// Unix seconds.
    pub created_at: u64,
    /// The room as it was at creation, JSON: members and roles, permissions, and who was
    /// present and had consented to recording.
    pub context: String,
    /// The media type the uploader announced, if any (the manifest's wins on completion).
    pub mime: Option<String>,
    /// The uploader's name for it, if it gave one (checked by the caller: short and plain):
    /// a second create with it, by the same member in the same creation of the room, gets
    /// this recording back instead of a new one.
    pub idempotency_key: Option<String>,
}

/// One stored chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChunk {
    /// Its number, from 0.
    pub n: u32,
    /// Its size.
    pub bytes: u64,
    /// SHA-256 of its bytes, lower-case hex.
    pub sha256: String,
}

/// A recording in the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingRecord {
    /// See [`NewRecording`].
    pub id: String,
    /// See [`NewRecording`].
    pub room: RoomId,
    /// See [`NewRecording`].
    pub epoch: String,
    /// See [`NewRecording`].
    pub member: MemberId,
    /// See [`NewRecording`].
    pub created_at: u64,
    /// See [`NewRecording`].
    pub context: String,
    /// The media type: announced at creation, then the manifest's.
    pub mime: Option<String>,
    /// See [`NewRecording`].
    pub idempotency_key: Option<String>,
    /// Where the upload stands.
    pub state: RecordingState,
    /// The stored chunks, by number.
    pub chunks: Vec<StoredChunk>,
    /// Once complete: how many chunks it has.
    pub chunk_count: Option<u32>,
    /// Once complete: Unix seconds.
    pub completed_at: Option<u64>,
    /// Once complete: the manifest JSON as uploaded.
    pub manifest: Option<String>,
    /// Once complete: the assist sidecar JSON as uploaded, if one was.
    pub sidecar: Option<String>,
}

impl RecordingRecord {
    /// Total size of the stored chunks.
    pub fn bytes(&self) -> u64 {
        self.chunks.iter().map(|c| c.bytes).sum()
    }
}

/// What [`RecordingStore::create_recording`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordingCreate {
    /// Stored as a new recording.
    Created,
    /// The same member created a recording with the same idempotency key in the same
    /// creation of the room before: nothing was stored, this is its id.
    Existing(String),
    /// The room already has `max_per_room` recordings; nothing was stored.
    RoomFull,
}

/// What [`RecordingStore::commit_chunk`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkCommit {
    /// Stored: the file was placed and the chunk recorded.
    Stored,
    /// The same chunk (same SHA-256) was stored before; nothing changed.
    Identical,
    /// A different chunk with this number was stored before, or the recording is complete.
    Conflict(&'static str),
    /// Storing it would take the recording past `max_bytes`.
    TooLarge,
    /// No such recording.
    NotFound,
}

/// What completes a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// Chunks `0..chunk_count` must be exactly the stored ones.
    pub chunk_count: u32,
    /// The manifest JSON.
    pub manifest: String,
    /// The sidecar JSON, if any.
    pub sidecar: Option<String>,
    /// The media type to serve it with.
    pub mime: Option<String>,
    /// Unix seconds.
    pub completed_at: u64,
}

/// One access to a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Unix seconds.
    pub at: u64,
    /// Who: `api_key`, `member:<room>/<member>`, or `signed_url`.
    pub actor: String,
    /// What: `recording.create`, `recording.read`, … (see the REST documentation).
    pub action: String,
    /// On what: `recording:<id>` or `room:<id>`.
    pub subject: String,
    /// More, as JSON, if any.
    pub detail: Option<String>,
}

/// The recording index and the audit log. Synchronous like [`RoomStore`](super::RoomStore):
/// callers on async tasks use `spawn_blocking`.
pub trait RecordingStore: Send + Sync {
    /// Adds a recording, unless its member already made one with its idempotency key in
    /// this creation of the room (then that one's id, whether or not the room is full now),
    /// or its room already has `max_per_room` recordings.
    fn create_recording(
        &self,
        rec: NewRecording,
        max_per_room: usize,
    ) -> Result<RecordingCreate, StoreError>;
    /// The recording with `id`, if any.
    fn recording(&self, id: &str) -> Result<Option<RecordingRecord>, StoreError>;
    /// The recordings of `room`, oldest first.
    fn recordings_of_room(&self, room: &RoomId) -> Result<Vec<RecordingRecord>, StoreError>;
    /// Records chunk `chunk` of recording `id` unless a chunk with its number is stored
    /// already, or the recording is complete, or it would grow past `max_bytes`. `place`
    /// puts the chunk's file where it belongs; it runs (once) only when the chunk is new,
    /// serialized with every other commit, before the chunk is recorded, so a crash between
    /// the two leaves a file nobody acknowledged (written again on the retry).
    fn commit_chunk(
        &self,
        id: &str,
        chunk: &StoredChunk,
        max_bytes: u64,
        place: &mut dyn FnMut() -> io::Result<()>,
    ) -> Result<ChunkCommit, StoreError>;
    /// Marks the recording complete if its stored chunks are exactly `0..chunk_count` and it
    /// is still uploading; returns the record as it is afterwards (complete or not: the
    /// caller compares), or `None` if there is no such recording.
    fn complete_recording(
        &self,
        id: &str,
        done: &Completion,
    ) -> Result<Option<RecordingRecord>, StoreError>;
    /// Appends an access to the audit log.
    fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// The audit log of `subject`, oldest first.
    fn audit_of(&self, subject: &str) -> Result<Vec<AuditEntry>, StoreError>;
}

pub(super) fn state_of(s: &str) -> RecordingState {
    RecordingState::parse(s)
}
