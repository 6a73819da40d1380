//! `client.recorder`: records the call on this device with `MediaRecorder`.
//!
//! The core's `Call` decides: consent from everyone present, the format, what is recorded and
//! where each voice sits in stereo, caps, bookmarks and clips, the assist sidecar, telling the
//! room. This builds the recorded stream (a canvas and WebAudio when several pictures or voices
//! are mixed), runs the `MediaRecorder` the call commands, and keeps every chunk in IndexedDB
//! before reporting it, so a crash or a closed tab loses at most the last timeslice.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use assistrtc_core::ToJsonText;
use assistrtc_core::call::{LeftOver, StoredRecording};
use assistrtc_core::protocol::{ErrorCode, MemberId, Source};
use assistrtc_core::recorder::{
    FORMATS, FailureCode, RecordedMedia, RecorderCommand, RecorderInput, RecorderOptions,
    UploadEvent, UploadInput, UploadRequest, UploadRequestKind, tile,
};
use assistrtc_core::session::{Input, UploadReported};
use js_sys::{Array, Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use web_sys::{
    AudioContext, CanvasRenderingContext2d, HtmlCanvasElement, HtmlMediaElement, HtmlVideoElement,
    MediaStream, MediaStreamTrack,
};

use crate::driver::{Handle, Shared, State};
use crate::js::{describe, error, error_name, get, on_settled, warn_error};

mod mix;
mod send;
mod store;

use self::mix::Mixer;
pub(crate) use self::send::send;
use self::store::*;
pub(crate) use self::store::{on_upload_event, resume_uploads};
#[wasm_bindgen]
extern "C" {
    type MediaRecorder;
    #[wasm_bindgen(constructor, catch)]
    fn new(stream: &MediaStream, options: &JsValue) -> Result<MediaRecorder, JsValue>;
    #[wasm_bindgen(static_method_of = MediaRecorder, js_name = isTypeSupported, catch)]
    fn is_type_supported(mime: &str) -> Result<bool, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn start(this: &MediaRecorder, timeslice: f64) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    fn pause(this: &MediaRecorder) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    fn resume(this: &MediaRecorder) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    fn stop(this: &MediaRecorder) -> Result<(), JsValue>;
}

#[wasm_bindgen(typescript_custom_section)]
const TS_RECORDER: &str = r#"
export type RecorderState = "idle" | "recording" | "paused" | "stopped" | "failed";
export interface RecorderStartOptions {
  /** `mixed` (both sides, the default), `local`, `remote` or `screen` (the shared screen and everyone's voice). */
  source?: "mixed" | "local" | "remote" | "screen";
  /** How often a chunk is kept, 100..=60000 ms; default 1000: at most this much is lost when the tab dies. */
  timesliceMs?: number;
  /** Agents' voices on the left channel, the customer's on the right. */
  stereo?: boolean;
  /** Stop at this size (default 1 GiB) or media time (default 2 h); a warning comes at 90 %. */
  maxBytes?: number; maxDurationMs?: number;
  /** Upload to the server as it records (`recorderUpload` events); default `true`. */
  upload?: boolean;
}
export interface RecordingClip { blob: Blob; fromMs: number; toMs: number; }
/** The manifest: every time is media time (ms of recording, pauses excluded). */
export interface RecordingManifest {
  version: number; state: RecorderState; complete: boolean; ended_by?: string;
  mime?: string; container?: string; video_codec?: string; audio_codec?: string;
  timeslice_ms: number; wall_clock_start_ms?: number; duration_ms: number; bytes: number;
  chunks: { seq: number; bytes: number; start_ms: number; end_ms: number }[];
  pauses: { at_ms: number; reason: string }[];
  sources: { member: string; source: Source; start_ms: number; end_ms?: number }[];
  bookmarks: { at_ms: number; label: string }[];
  clips: { from_ms: number; to_ms: number; first_chunk: number; last_chunk: number }[];
}
/** Every annotation and script step shown while recording, at its media time. */
export interface RecordingSidecar {
  version: number;
  entries: { at_ms: number; member: string; message: { t: string; [field: string]: unknown } }[];
  dropped: number;
}
export interface AssistEventMap {
  recorderState: { state: RecorderState; mediaMs: number };
  recorderProgress: { bytes: number; durationMs: number };
  recorderCapWarning: { cap: "size" | "duration"; used: number; limit: number };
  recorderCapReached: { cap: "size" | "duration"; used: number; limit: number };
  /** Someone present withdrew consent (or joined without it): the recording paused. */
  recorderConsentPaused: { member: string; mediaMs: number };
  recorderFailed: { code: "not_supported" | "security" | "encoding" | "storage_full" | "unknown"; detail: string };
  /**
   * The upload of a recording (`key`: its key on this device; `recording`: the server's id).
   * It goes up chunk by chunk while recording; one a closed tab left is resumed after the
   * next `connect()` by the same member in the same room.
   */
  recorderUpload: { key: string; state: "created" | "progress" | "retrying" | "done" | "failed";
    recording?: string; chunksSent?: number; bytesSent?: number; attempt?: number; delayMs?: number;
    reason?: string; code?: string; message?: string };
}
"#;

/// A local recording's browser side: the recorded stream, its `MediaRecorder`, and the chunks
/// on their way to IndexedDB.
pub(crate) struct RecordingMedia {
    /// The IndexedDB key of this recording's chunks.
    key: String,
    stream: MediaStream,
    /// The picture and sound; dropping it stops the drawing and the audio mix.
    mixer: Option<Mixer>,
    recorder: Option<MediaRecorder>,
    db: Option<Idb>,
    /// Chunks not yet written, in order; one write at a time, so they land in order.
    queue: VecDeque<JsValue>,
    writing: bool,
    next_seq: u32,
    /// The platform stopped: once the queue is empty, the core hears of it.
    stopped: bool,
    handlers: Vec<Closure<dyn FnMut(JsValue)>>,
}

impl Drop for RecordingMedia {
    fn drop(&mut self) {
        if let Some(r) = &self.recorder {
            for name in ["onstart", "ondataavailable", "onstop", "onerror"] {
                let _ = Reflect::set(r, &JsValue::from_str(name), &JsValue::NULL);
            }
            let _ = r.stop();
        }
    }
}

/// Runs a command of the call's recorder on the `MediaRecorder`.
pub(crate) fn apply(handle: &Handle, st: &mut State, command: RecorderCommand) {
    if let RecorderCommand::AddSource { member, source }
    | RecorderCommand::RemoveSource { member, source } = &command
    {
        // The mix is taken out while it reads this member's and the remote media.
        let Some(mut mixer) = st.recording.as_mut().and_then(|r| r.mixer.take()) else {
            return;
        };
        if matches!(command, RecorderCommand::AddSource { .. }) {
            if let Err(e) = mixer.add(st, member, *source) {
                warn_error("a source could not join the recording", &e);
            }
        } else {
            mixer.remove(member, *source);
        }
        if let Some(rec) = st.recording.as_mut() {
            rec.mixer = Some(mixer);
        }
        return;
    }
    if command == RecorderCommand::KeepManifest {
        if let (Some(rec), Some(recorder)) = (&st.recording, st.call.recorder())
            && let Some(db) = &rec.db
        {
            keep_manifest(db, &rec.key, recorder);
        }
        return;
    }
    let Some(rec) = st.recording.as_mut() else {
        return;
    };
    let result = match command {
        RecorderCommand::StartMediaRecorder { mime, timeslice_ms } => {
            start_platform(handle, rec, mime, timeslice_ms)
        }
        RecorderCommand::Pause => rec.recorder.as_ref().map_or(Ok(()), |r| r.pause()),
        RecorderCommand::Resume => rec.recorder.as_ref().map_or(Ok(()), |r| r.resume()),
        RecorderCommand::Stop => rec.recorder.as_ref().map_or(Ok(()), |r| r.stop()),
        _ => Ok(()),
    };
    if let Err(e) = result {
        // Reported after the drain, as inputs must wait for it.
        let (handle, detail, e_name) = (handle.clone(), describe(&e), error_name(&e));
        on_settled(
            Promise::resolve(&JsValue::UNDEFINED),
            Box::new(move |_| {
                handle.recorder_input(failure(&e_name, detail));
            }),
        );
    }
}

fn start_platform(
    handle: &Handle,
    rec: &mut RecordingMedia,
    mime: &str,
    timeslice_ms: u64,
) -> Result<(), JsValue> {
    let options = crate::js::obj(&[("mimeType", JsValue::from_str(mime))]);
    let recorder = MediaRecorder::new(&rec.stream, &options)?;
    let on_data = {
        let handle = handle.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let blob = get(&event, "data");
            if get(&blob, "size").as_f64().unwrap_or(0.0) > 0.0 {
                handle.with_recording(|rec| rec.queue.push_back(blob));
                write_next(&handle);
            }
        })
    };
    let on_start = {
        let handle = handle.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |_| {
            handle.recorder_input(RecorderInput::MediaRecorderStarted);
        })
    };
    let on_stop = {
        let handle = handle.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |_| {
            handle.with_recording(|rec| rec.stopped = true);
            write_next(&handle);
        })
    };
    let on_error = {
        let handle = handle.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let e = get(&event, "error");
            handle.recorder_input(failure(&error_name(&e), describe(&e)));
        })
    };
    for (name, f) in [
        ("onstart", &on_start),
        ("ondataavailable", &on_data),
        ("onstop", &on_stop),
        ("onerror", &on_error),
    ] {
        Reflect::set(&recorder, &JsValue::from_str(name), f.as_ref())?;
    }
    rec.handlers = vec![on_start, on_data, on_stop, on_error];
    recorder.start(timeslice_ms as f64)?;
    rec.recorder = Some(recorder);
    Ok(())
}

/// Writes the next queued chunk; reports it to the core once durable; after the last one,
/// reports the platform's stop.
fn write_next(handle: &Handle) {
    enum Next {
        Write(Idb, JsValue, JsValue),
        Stopped,
        Nothing,
    }
    let mut next = Next::Nothing;
    handle.with_recording(|rec| {
        let Some(db) = rec.db.clone() else { return };
        if rec.writing {
            return;
        }
        if let Some(blob) = rec.queue.pop_front() {
            rec.writing = true;
            let key = chunk_key(&rec.key, rec.next_seq);
            rec.next_seq += 1;
            next = Next::Write(db, key, blob);
        } else if std::mem::take(&mut rec.stopped) {
            next = Next::Stopped;
        }
    });
    match next {
        Next::Write(db, key, blob) => {
            let bytes = get(&blob, "size").as_f64().unwrap_or(0.0) as u64;
            let written = write(&db, CHUNKS, &key, &blob);
            let handle = handle.clone();
            let done = Box::new(move |r: Result<JsValue, JsValue>| {
                handle.with_recording(|rec| rec.writing = false);
                match r {
                    Ok(_) => handle.recorder_input(RecorderInput::ChunkRecorded { bytes }),
                    Err(e) => handle.recorder_input(failure(&error_name(&e), describe(&e))),
                }
                write_next(&handle);
            });
            match written {
                Ok(p) => on_settled(p, done),
                Err(e) => done(Err(e)),
            }
        }
        Next::Stopped => {
            handle.with_recording(|rec| rec.mixer = None);
            handle.recorder_input(RecorderInput::MediaRecorderStopped);
        }
        Next::Nothing => {}
    }
}

fn failure(name: &str, detail: String) -> RecorderInput {
    RecorderInput::PlatformError {
        code: FailureCode::of_exception(name),
        detail,
    }
}

impl Handle {
    fn with_recording(&self, f: impl FnOnce(&mut RecordingMedia)) {
        if let Some(shared) = self.0.upgrade() {
            if let Some(rec) = shared.state.borrow_mut().recording.as_mut() {
                f(rec);
            }
        }
    }

    fn recorder_input(&self, input: RecorderInput) {
        if let Some(shared) = self.0.upgrade() {
            shared.feed(Input::Recorder(input));
        }
    }
}

/// `client.recorder`: records the call on this device. Only members with the `record_local`
/// capability may, with the consent of everyone present; every member sees the recording
/// indicator (`recordingChanged`).
#[wasm_bindgen]
pub struct LocalRecorder {
    pub(crate) shared: Rc<Shared>,
}

fn options_of(o: &JsValue) -> Result<(RecordedMedia, RecorderOptions, bool), JsValue> {
    let media = match get(o, "source").as_string() {
        None => RecordedMedia::Mixed,
        Some(name) => RecordedMedia::parse(&name).ok_or_else(|| {
            error(
                ErrorCode::BadRequest,
                &[
                    "unknown source \"",
                    &name,
                    "\": expected mixed, local, remote or screen",
                ]
                .concat(),
            )
        })?,
    };
    let mut options = RecorderOptions::default();
    let num = |key| get(o, key).as_f64().map(|v| v.max(0.0) as u64);
    if let Some(v) = num("timesliceMs") {
        options.timeslice_ms = v;
    }
    if let Some(v) = num("maxBytes") {
        options.max_bytes = Some(v);
    }
    if let Some(v) = num("maxDurationMs") {
        options.max_duration_ms = Some(v);
    }
    options.wall_clock_start_ms = Some(js_sys::Date::now() as u64);
    Ok((media, options, get(o, "stereo").as_bool() == Some(true)))
}

#[wasm_bindgen]
impl LocalRecorder {
    /// Starts recording: `source` is `mixed` (both sides, the default), `local`, `remote` or
    /// `screen`; `stereo: true` puts the agents' voices on the left and the customer's on the
    /// right; `timesliceMs` (default 1000) is how often a chunk is kept. Throws `forbidden`
    /// without the `record_local` capability or without the consent of everyone present
    /// (`members[i].recordingConsent`, and your own), `conflict` while recording, and
    /// `bad_request` for bad options or no supported format. Sources that start later (the
    /// customer shares a screen) join the picture and the sound as they start. Unless
    /// `upload: false`, each chunk goes up to the server as soon as it is kept
    /// (`recorderUpload`).
    pub fn start(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "RecorderStartOptions")] options: Option<
            JsValue,
        >,
    ) -> Result<(), JsValue> {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let (media, opts, stereo) = options_of(&options)?;
        let upload = get(&options, "upload").as_bool() != Some(false);
        let supported: Vec<&str> = FORMATS
            .iter()
            .map(|f| f.mime)
            .filter(|m| MediaRecorder::is_type_supported(m).unwrap_or(false))
            .collect();
        let handle = self.shared.handle();
        {
            let mut st = self.shared.state.borrow_mut();
            if st.call.recorder().is_some_and(|r| {
                matches!(
                    r.state(),
                    assistrtc_core::recorder::RecorderState::Recording
                        | assistrtc_core::recorder::RecorderState::Paused
                )
            }) {
                return Err(error(ErrorCode::Conflict, "already recording"));
            }
            let sources = st.call.recorded_sources(media);
            let (mixer, stream) = Mixer::new(&st, &sources, stereo)?;
            // Unique on this device: the time and a random part, in base 36.
            let b36 = |v: f64| {
                js_sys::Number::from(v.floor())
                    .to_string_with_radix(36)
                    .map_or_else(|_| String::new(), String::from)
            };
            let key = [
                "rec-",
                &b36(js_sys::Date::now()),
                "-",
                &b36(js_sys::Math::random() * 2_176_782_336.0),
            ]
            .concat();
            st.recording = Some(RecordingMedia {
                key,
                stream,
                mixer: Some(mixer),
                recorder: None,
                db: None,
                queue: VecDeque::new(),
                writing: false,
                next_seq: 0,
                stopped: false,
                handlers: Vec::new(),
            });
        }
        let started = self
            .shared
            .command(|call, now| call.start_local_recording(media, opts, &supported, now));
        if let Err(e) = started {
            self.shared.state.borrow_mut().recording = None;
            return Err(e);
        }
        if upload {
            let key = self.key();
            // Cannot fail: a recording runs, and this key is new and plain (the server takes
            // it as the create's idempotency key).
            let _ = self
                .shared
                .command(|call, now| call.upload_local_recording(&key, now));
        }
        // Chunks wait in the queue until the database is open.
        let record = self.record_entry();
        match open_db() {
            Ok(p) => on_settled(
                p,
                Box::new(move |db| match db {
                    Ok(db) => {
                        let db: Idb = db.unchecked_into();
                        if let Some((key, value)) = &record {
                            if let Err(e) = write(&db, RECORDINGS, key, value) {
                                warn_error("cannot note the recording", &e);
                            }
                        }
                        handle.with_recording(|rec| rec.db = Some(db));
                        write_next(&handle);
                    }
                    Err(e) => handle.recorder_input(failure(&error_name(&e), describe(&e))),
                }),
            ),
            Err(e) => handle.recorder_input(failure(&error_name(&e), describe(&e))),
        }
        Ok(())
    }

    /// What this recording is, for the database: who made it where, in which format.
    fn record_entry(&self) -> Option<(JsValue, JsValue)> {
        let st = self.shared.state.borrow();
        let rec = st.recording.as_ref()?;
        let member = st.call.session().member()?.id.as_str().to_owned();
        let room = st.call.session().room()?.as_str().to_owned();
        let mime = st.call.recorder()?.format()?.mime;
        let value = crate::js::obj(&[
            ("key", JsValue::from_str(&rec.key)),
            ("kind", JsValue::from_str("meta")),
            ("member", JsValue::from_str(&member)),
            ("room", JsValue::from_str(&room)),
            ("mime", JsValue::from_str(mime)),
        ]);
        Some((entry_key(&rec.key, "meta"), value))
    }

    /// Pauses the recording (media time stands still); everyone sees it paused.
    pub fn pause(&self) -> Result<(), JsValue> {
        self.shared
            .command(|call, now| call.pause_local_recording(now))
    }

    /// Resumes it; throws `forbidden` while anyone present has not consented.
    pub fn resume(&self) -> Result<(), JsValue> {
        self.shared
            .command(|call, now| call.resume_local_recording(now))
    }

    /// Stops it. The last chunk is kept, then `recorderState` says `stopped` and the
    /// recording is complete (`complete`).
    pub fn stop(&self) -> Result<(), JsValue> {
        self.shared
            .command(|call, now| call.stop_local_recording(now))
    }

    /// Marks the current media time with `label` (1..=128 bytes); returns it, in ms.
    pub fn bookmark(&self, label: &str) -> Result<f64, JsValue> {
        self.shared
            .command(|call, now| call.bookmark(label, now))
            .map(|ms| ms as f64)
    }

    /// The part `fromMs..toMs` (media time) as a playable file: the recording's first chunk
    /// (its header) and the chunks that cover the range. Resolves with `{blob, fromMs, toMs}`;
    /// throws `bad_request` for a range outside what is recorded.
    #[wasm_bindgen(js_name = exportClip, unchecked_return_type = "Promise<RecordingClip>")]
    pub fn export_clip(&self, from_ms: f64, to_ms: f64) -> Result<Promise, JsValue> {
        let clip = self
            .shared
            .command(|call, now| call.clip(from_ms.max(0.0) as u64, to_ms.max(0.0) as u64, now))?;
        let chunks = self.chunks()?;
        let mime = self.mime();
        Ok(crate::js::then(
            chunks,
            Box::new(move |r| {
                let all: Array = r?.unchecked_into();
                let parts = Array::new();
                parts.push(&all.get(0));
                for seq in clip.first_chunk.max(1)..=clip.last_chunk {
                    parts.push(&all.get(seq));
                }
                Ok(crate::js::obj(&[
                    ("blob", blob_of(&parts, &mime)?),
                    ("fromMs", (clip.from_ms as f64).into()),
                    ("toMs", (clip.to_ms as f64).into()),
                ]))
            }),
        ))
    }

    /// The whole recording so far as one `Blob`, from the chunks kept on this device.
    #[wasm_bindgen(unchecked_return_type = "Promise<Blob>")]
    pub fn blob(&self) -> Result<Promise, JsValue> {
        let chunks = self.chunks()?;
        let mime = self.mime();
        Ok(crate::js::then(
            chunks,
            Box::new(move |r| blob_of(&r?.unchecked_into(), &mime)),
        ))
    }

    /// `idle`, `recording`, `paused`, `stopped` or `failed`.
    #[wasm_bindgen(getter, unchecked_return_type = "RecorderState")]
    pub fn state(&self) -> String {
        let st = self.shared.state.borrow();
        st.call
            .recorder()
            .map_or("idle", |r| r.state().as_str())
            .into()
    }

    /// This recording's key on this device (as in `recorderUpload`), once started.
    #[wasm_bindgen(getter, js_name = key)]
    pub fn key_js(&self) -> Option<String> {
        let st = self.shared.state.borrow();
        st.recording.as_ref().map(|r| r.key.clone())
    }

    /// Whether the recording ended and its last chunk is kept.
    #[wasm_bindgen(getter)]
    pub fn complete(&self) -> bool {
        let st = self.shared.state.borrow();
        st.call.recorder().is_some_and(|r| r.is_complete())
    }

    /// The manifest: format, chunks, durations, pauses, each source's span, bookmarks, clips,
    /// on the recording's media time.
    #[wasm_bindgen(unchecked_return_type = "RecordingManifest | undefined")]
    pub fn manifest(&self) -> JsValue {
        let st = self.shared.state.borrow();
        st.call.recorder().map_or(JsValue::UNDEFINED, |r| {
            crate::events::to_value(&r.manifest())
        })
    }

    /// The assist sidecar: every annotation and script step shown while recording, with its
    /// media time, so playback can redraw them.
    #[wasm_bindgen(unchecked_return_type = "RecordingSidecar | undefined")]
    pub fn sidecar(&self) -> JsValue {
        let st = self.shared.state.borrow();
        st.call
            .recorder()
            .map_or(JsValue::UNDEFINED, |r| crate::events::to_value(r.sidecar()))
    }
}

impl LocalRecorder {
    fn key(&self) -> String {
        let st = self.shared.state.borrow();
        st.recording
            .as_ref()
            .map(|r| r.key.clone())
            .unwrap_or_default()
    }

    fn chunks(&self) -> Result<Promise, JsValue> {
        let key = {
            let st = self.shared.state.borrow();
            st.recording
                .as_ref()
                .map(|r| r.key.clone())
                .ok_or_else(|| error(ErrorCode::Conflict, "nothing was recorded"))?
        };
        let opened = open_db()?;
        Ok(crate::js::then(
            opened,
            Box::new(move |db| {
                let db: Idb = db?.unchecked_into();
                Ok(read_chunks(&db, &key)?.into())
            }),
        ))
    }

    fn mime(&self) -> String {
        let st = self.shared.state.borrow();
        st.call
            .recorder()
            .and_then(|r| r.format())
            .map_or("", |f| f.mime)
            .to_owned()
    }
}

fn blob_of(parts: &Array, mime: &str) -> Result<JsValue, JsValue> {
    let blob = get(&js_sys::global(), "Blob");
    let options = crate::js::obj(&[("type", JsValue::from_str(mime))]);
    Reflect::construct(
        blob.unchecked_ref::<Function>(),
        &Array::of2(parts, &options),
    )
}
