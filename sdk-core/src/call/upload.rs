//! Uploading local recordings from the call: the running recording as it records (each chunk
//! as soon as the driver has stored it), and recordings an earlier page or process left
//! unfinished. Each upload is the core's [`Upload`], named by the driver's storage key, which is
//! also the upload's key on the server (so it follows [`Upload::new`]'s rules); its requests go
//! out as [`Output::Upload`], the answers come back as [`Input::Upload`], its events as
//! [`Event::Upload`]. The call's one timer covers their retries.

use super::{Call, CallError};
use crate::Millis;
use crate::ToJsonText;
use crate::recorder::{
    RecorderError, RecorderState, Upload, UploadError, UploadInput, UploadOptions, UploadOutput,
    UploadState,
};
use crate::session::{Event, Output, SessionError, UploadReported};

/// A recording as the driver's storage kept it (an earlier page's or process's), for
/// [`Call::left_over`] to decide on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredRecording {
    /// The driver's storage key.
    pub key: String,
    /// Who recorded it.
    pub member: String,
    /// Where.
    pub room: String,
    /// Its format.
    pub mime: String,
    /// The server's id, once the upload created it there.
    pub recording: Option<String>,
    /// The last manifest kept with it (a JSON object).
    pub manifest: String,
    /// The last sidecar kept with it (a JSON object).
    pub sidecar: String,
    /// The server has all of it.
    pub done: bool,
    /// The stored chunks' sizes, in order.
    pub chunks: Vec<u64>,
}

/// What to do with a [`StoredRecording`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeftOver {
    /// Upload it: [`Call::resume_upload`].
    Resume,
    /// Delete it from the device: the server has it, or it holds nothing.
    Forget,
    /// Leave it: another member's, another room's (its member's token there is needed), or
    /// uploading already.
    Keep,
}

/// One upload the call drives.
pub(super) struct Uploading {
    key: String,
    upload: Upload,
    /// Fed from the running recorder (chunk by chunk, then its completion).
    live: bool,
    /// Chunks of the live recording already handed to the upload.
    fed: usize,
}

impl Call {
    /// Uploads the local recording to the server as it records, under the driver's storage
    /// `key` (chunk `n` is the `n`th the recorder reported): each chunk goes up as soon as it
    /// is stored, and the recording is completed with its manifest and sidecar once it is.
    /// Refused (`conflict`) without a recording, or when `key` is already uploading;
    /// (`bad_request`) when `key` is not 1 to 64 ASCII letters, digits, `_` and `-`. The key
    /// must be this recording's alone: the server takes a create under a key it knows (from
    /// this member in this room) for the same recording again.
    pub fn upload_local_recording(&mut self, key: &str, now: Millis) -> Result<(), CallError> {
        self.now = self.now.max(now);
        let mime = self
            .recorder()
            .and_then(|r| r.format())
            .map(|f| f.mime)
            .ok_or(RecorderError::InvalidState {
                action: "upload",
                state: RecorderState::Idle,
            })?;
        self.check_new_upload(key)?;
        let upload = Upload::new(mime, key, self.upload_options())?;
        self.uploads.push(Uploading {
            key: key.to_owned(),
            upload,
            live: true,
            fed: 0,
        });
        self.after(now);
        Ok(())
    }

    /// Continues (or starts) uploading a recording an earlier page or process left behind:
    /// made in `room` (it must be the room joined: a recording goes to its own room, with
    /// a token of its member), known to the server as `recording` once created, in format
    /// `mime`, with the stored chunks' sizes in order and the last manifest and sidecar kept
    /// with them. The server keeps what it already has; a recording whose create went out but
    /// whose id never came back is found again by its `key`, the one it was uploaded under.
    #[allow(clippy::too_many_arguments)]
    pub fn resume_upload(
        &mut self,
        key: &str,
        room: &str,
        recording: Option<&str>,
        mime: &str,
        chunk_sizes: &[u64],
        manifest: String,
        sidecar: String,
        now: Millis,
    ) -> Result<(), CallError> {
        self.now = self.now.max(now);
        match self.session.room() {
            None => return Err(SessionError::NotJoined.into()),
            Some(r) if r.as_str() != room => return Err(UploadError::OtherRoom.into()),
            Some(_) => {}
        }
        self.check_new_upload(key)?;
        let mut upload = match recording {
            Some(id) => Upload::resume(id, self.upload_options())?,
            None => Upload::new(mime, key, self.upload_options())?,
        };
        for (seq, bytes) in chunk_sizes.iter().enumerate() {
            let seq = u32::try_from(seq).unwrap_or(u32::MAX);
            upload.handle_input(UploadInput::ChunkStored { seq, bytes: *bytes }, self.now)?;
        }
        let chunks = u32::try_from(chunk_sizes.len()).unwrap_or(u32::MAX);
        upload.handle_input(
            UploadInput::RecordingComplete {
                chunks,
                manifest,
                sidecar,
            },
            self.now,
        )?;
        self.uploads.push(Uploading {
            key: key.to_owned(),
            upload,
            live: false,
            fed: 0,
        });
        self.after(now);
        Ok(())
    }

    /// What to do with a recording the device kept: see [`LeftOver`].
    pub fn left_over(&self, stored: &StoredRecording) -> LeftOver {
        let mine = self
            .session
            .member()
            .is_some_and(|m| m.id.as_str() == stored.member);
        let here = self
            .session
            .room()
            .is_some_and(|r| r.as_str() == stored.room);
        if !mine || self.uploads.iter().any(|u| u.key == stored.key) {
            LeftOver::Keep
        } else if stored.done || stored.chunks.is_empty() {
            LeftOver::Forget
        } else if here {
            LeftOver::Resume
        } else {
            LeftOver::Keep
        }
    }

    /// Uploads a recording the device kept ([`LeftOver::Resume`]); see
    /// [`resume_upload`](Self::resume_upload).
    pub fn resume_stored(&mut self, stored: StoredRecording, now: Millis) -> Result<(), CallError> {
        self.resume_upload(
            &stored.key,
            &stored.room,
            stored.recording.as_deref(),
            &stored.mime,
            &stored.chunks,
            stored.manifest,
            stored.sidecar,
            now,
        )
    }

    /// The storage keys of the uploads in progress.
    pub fn uploads(&self) -> impl Iterator<Item = &str> {
        self.uploads.iter().map(|u| u.key.as_str())
    }

    // ---- internals ----

    fn check_new_upload(&self, key: &str) -> Result<(), CallError> {
        if self.uploads.iter().any(|u| u.key == key) {
            return Err(UploadError::AlreadyUploading.into());
        }
        Ok(())
    }

    fn upload_options(&self) -> UploadOptions {
        UploadOptions {
            jitter_seed: self.session.jitter_seed(),
            ..UploadOptions::default()
        }
    }

    /// The answer to an upload's request.
    pub(super) fn on_upload_input(
        &mut self,
        key: &str,
        input: UploadInput,
    ) -> Result<(), CallError> {
        let now = self.now;
        match self.uploads.iter_mut().find(|u| u.key == key) {
            Some(u) => Ok(u.upload.handle_input(input, now)?),
            None => Err(UploadError::NotUploading.into()),
        }
    }

    /// Hands the live upload what the recorder stored since, and its end: completed once the
    /// platform delivered its last chunk, or with what was kept when the recorder failed.
    pub(super) fn feed_live_upload(&mut self) {
        let Some(rec) = self.recording.as_ref().map(|r| &r.recorder) else {
            return;
        };
        let Some(u) = self.uploads.iter_mut().find(|u| u.live) else {
            return;
        };
        let ended = rec.is_complete() || rec.state() == RecorderState::Failed;
        let chunks = rec.chunks();
        let now = self.now;
        for c in &chunks[u.fed.min(chunks.len())..] {
            let input = UploadInput::ChunkStored {
                seq: c.seq,
                bytes: c.bytes,
            };
            let _ = u.upload.handle_input(input, now);
        }
        u.fed = chunks.len();
        if !ended {
            return;
        }
        u.live = false;
        if chunks.is_empty() {
            // Nothing was recorded: there is nothing to upload.
            let key = u.key.clone();
            self.uploads.retain(|u| u.key != key);
            return;
        }
        let input = UploadInput::RecordingComplete {
            chunks: u32::try_from(chunks.len()).unwrap_or(u32::MAX),
            manifest: rec.manifest().to_json_text(),
            sidecar: rec.sidecar().to_json_text(),
        };
        let _ = u.upload.handle_input(input, now);
    }

    /// Moves the uploads' requests and events to the call's outputs; forgets finished ones.
    pub(super) fn drain_uploads(&mut self) {
        for u in &mut self.uploads {
            while let Some(output) = u.upload.poll_output() {
                let key = u.key.clone();
                self.outputs.push_back(match output {
                    UploadOutput::Request(request) => Output::Upload { key, request },
                    UploadOutput::Event(event) => {
                        Output::Event(Event::Upload(UploadReported { key, event }))
                    }
                });
            }
        }
        self.uploads
            .retain(|u| u.live || u.upload.state() == UploadState::Uploading);
    }

    /// The earliest retry of any upload.
    pub(super) fn uploads_timeout(&self) -> Option<Millis> {
        self.uploads
            .iter()
            .filter_map(|u| u.upload.poll_timeout())
            .min()
    }

    pub(super) fn uploads_handle_timeout(&mut self, now: Millis) {
        for u in &mut self.uploads {
            u.upload.handle_timeout(now);
        }
    }
}
