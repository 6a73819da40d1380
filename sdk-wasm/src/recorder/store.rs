//! IndexedDB: the chunks of every recording on this device, and what is known of each
//! (who made it where, the server's id, the manifest, done), and what earlier pages left.

use super::*;

#[wasm_bindgen]
extern "C" {
    #[derive(Clone)]
    pub(super) type Idb;
    #[wasm_bindgen(method, catch)]
    pub(super) fn open(this: &Idb, name: &str, version: u32) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch)]
    pub(super) fn transaction(this: &Idb, stores: &str, mode: &str) -> Result<Idb, JsValue>;
    #[wasm_bindgen(method, js_name = objectStore)]
    pub(super) fn object_store(this: &Idb, name: &str) -> Idb;
    #[wasm_bindgen(method, js_name = createObjectStore)]
    pub(super) fn create_object_store(this: &Idb, name: &str) -> JsValue;
    #[wasm_bindgen(method, catch)]
    pub(super) fn put(this: &Idb, value: &JsValue, key: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch, js_name = getAll)]
    pub(super) fn get_all(this: &Idb, range: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch, js_name = get)]
    pub(super) fn get_one(this: &Idb, key: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch, js_name = delete)]
    pub(super) fn delete(this: &Idb, range: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_namespace = IDBKeyRange, js_name = bound)]
    fn key_range(lower: &JsValue, upper: &JsValue) -> JsValue;
}

/// The IndexedDB database chunks are kept in, and its two stores.
pub(super) const DB: &str = "assistrtc-recordings";
pub(super) const CHUNKS: &str = "chunks";
pub(super) const RECORDINGS: &str = "recordings";
/// Whether `target` fires `ok` (`success`, `complete`) or an error: as a promise. IndexedDB
/// requests and transactions have no promises of their own; their handlers are the promise's.
pub(super) fn settled(target: &JsValue, ok: &str) -> Promise {
    Promise::new(&mut |resolve, reject| {
        let _ = Reflect::set(target, &JsValue::from_str(ok), &resolve);
        let _ = Reflect::set(target, &JsValue::from_str("onerror"), &reject);
        let _ = Reflect::set(target, &JsValue::from_str("onabort"), &reject);
    })
}

/// Opens the chunk database (creating its stores on first use).
pub(super) fn open_db() -> Result<Promise, JsValue> {
    let factory: Idb = get(&js_sys::global(), "indexedDB").unchecked_into();
    let request = factory.open(DB, 1)?;
    let upgrade = Closure::once_into_js({
        let request = request.clone();
        move || {
            let db: Idb = get(&request, "result").unchecked_into();
            db.create_object_store(CHUNKS);
            db.create_object_store(RECORDINGS);
        }
    });
    Reflect::set(&request, &JsValue::from_str("onupgradeneeded"), &upgrade)?;
    let opened = settled(&request, "onsuccess");
    Ok(crate::js::then(
        opened,
        Box::new(move |r| r.map(|_| get(&request, "result"))),
    ))
}

/// `[recording, seq]`: chunks of one recording sort together, in order.
pub(super) fn chunk_key(recording: &str, seq: u32) -> JsValue {
    Array::of2(&JsValue::from_str(recording), &JsValue::from(seq)).into()
}

/// Writes `value` under `key` in `store`; resolves when the write is durable.
pub(super) fn write(
    db: &Idb,
    store: &str,
    key: &JsValue,
    value: &JsValue,
) -> Result<Promise, JsValue> {
    let tx = db.transaction(store, "readwrite")?;
    tx.object_store(store).put(value, key)?;
    Ok(settled(&tx, "oncomplete"))
}

/// Every stored chunk of `recording`, in order.
pub(super) fn read_chunks(db: &Idb, recording: &str) -> Result<Promise, JsValue> {
    let tx = db.transaction(CHUNKS, "readonly")?;
    let range = key_range(&chunk_key(recording, 0), &chunk_key(recording, u32::MAX));
    let request = tx.object_store(CHUNKS).get_all(&range)?;
    let done = settled(&request, "onsuccess");
    Ok(crate::js::then(
        done,
        Box::new(move |r| r.map(|_| get(&request, "result"))),
    ))
}

/// `[recording, kind]`: what is known of a recording besides its chunks, one entry per kind
/// (`meta`, `manifest`, `id`, `done`), each written whole, so no write reads another.
pub(super) fn entry_key(recording: &str, kind: &str) -> JsValue {
    Array::of2(&JsValue::from_str(recording), &JsValue::from_str(kind)).into()
}

pub(super) fn put_entry(db: &Idb, recording: &str, kind: &str, fields: &[(&str, JsValue)]) {
    let mut all = vec![
        ("key", JsValue::from_str(recording)),
        ("kind", JsValue::from_str(kind)),
    ];
    all.extend(fields.iter().cloned());
    if let Err(e) = write(
        db,
        RECORDINGS,
        &entry_key(recording, kind),
        &crate::js::obj(&all),
    ) {
        warn_error("cannot keep the recording's state", &e);
    }
}

/// Keeps the manifest and sidecar beside the chunks, so a recording a crash interrupted can
/// be completed from the next page (when the core asks: `RecorderCommand::KeepManifest`).
pub(super) fn keep_manifest(db: &Idb, key: &str, recorder: &assistrtc_core::recorder::Recorder) {
    put_entry(
        db,
        key,
        "manifest",
        &[
            ("manifest", recorder.manifest().to_json_text().into()),
            ("sidecar", recorder.sidecar().to_json_text().into()),
        ],
    );
}

/// Runs `f` with the database once open.
pub(super) fn with_db(f: impl FnOnce(Idb) -> Result<(), JsValue> + 'static) {
    match open_db() {
        Ok(p) => on_settled(
            p,
            Box::new(move |db| {
                if let Err(e) = db.and_then(|db| f(db.unchecked_into())) {
                    warn_error("recording storage", &e);
                }
            }),
        ),
        Err(e) => warn_error("recording storage", &e),
    }
}

/// What an upload reported, kept beside the chunks: the server's id once created (a later
/// page resumes with it), and that it is done (a later page deletes the chunks).
pub(crate) fn on_upload_event(report: &UploadReported) {
    let (kind, fields) = match &report.event {
        UploadEvent::Created { recording } => {
            ("id", vec![("recording", JsValue::from_str(recording))])
        }
        UploadEvent::Done { .. } => ("done", Vec::new()),
        _ => return,
    };
    let key = report.key.clone();
    with_db(move |db| {
        put_entry(&db, &key, kind, &fields);
        Ok(())
    });
}

/// After joining: what earlier pages left on this device, each as the core decides
/// ([`LeftOver`]): uploaded, deleted, or left.
pub(crate) fn resume_uploads(shared: &Rc<Shared>) {
    let handle = shared.handle();
    with_db(move |db| {
        let tx = db.transaction(RECORDINGS, "readonly")?;
        let all = tx.object_store(RECORDINGS).get_all(&JsValue::UNDEFINED)?;
        let got = settled(&all, "onsuccess");
        on_settled(
            got,
            Box::new(move |r| {
                if r.is_err() {
                    return;
                }
                let entries: Array = get(&all, "result").unchecked_into();
                let current = handle
                    .0
                    .upgrade()
                    .and_then(|s| s.state.borrow().recording.as_ref().map(|r| r.key.clone()));
                for stored in stored_recordings(&entries) {
                    if Some(&stored.key) != current.as_ref() {
                        decide(&handle, &db, stored);
                    }
                }
            }),
        );
        Ok(())
    });
}

/// The stored entries grouped into recordings (their chunk sizes are read separately).
pub(super) fn stored_recordings(entries: &Array) -> Vec<StoredRecording> {
    let text = |e: &JsValue, k| get(e, k).as_string().unwrap_or_default();
    let mut out: Vec<StoredRecording> = Vec::new();
    for e in entries.iter() {
        let key = text(&e, "key");
        if !out.iter().any(|l| l.key == key) {
            out.push(StoredRecording {
                key: key.clone(),
                manifest: "{}".into(),
                sidecar: "{}".into(),
                ..StoredRecording::default()
            });
        }
        let Some(l) = out.iter_mut().find(|l| l.key == key) else {
            continue;
        };
        match text(&e, "kind").as_str() {
            "meta" => {
                l.member = text(&e, "member");
                l.room = text(&e, "room");
                l.mime = text(&e, "mime");
            }
            "id" => l.recording = Some(text(&e, "recording")),
            "manifest" => {
                l.manifest = text(&e, "manifest");
                l.sidecar = text(&e, "sidecar");
            }
            "done" => l.done = true,
            _ => {}
        }
    }
    out
}

/// Reads a stored recording's chunk sizes, then does what the core decides.
pub(super) fn decide(handle: &Handle, db: &Idb, mut stored: StoredRecording) {
    let chunks = match read_chunks(db, &stored.key) {
        Ok(p) => p,
        Err(e) => return warn_error("cannot read a left-over recording", &e),
    };
    let (handle, db) = (handle.clone(), db.clone());
    on_settled(
        chunks,
        Box::new(move |r| {
            let Ok(chunks) = r else { return };
            let chunks: Array = chunks.unchecked_into();
            stored.chunks = chunks
                .iter()
                .map(|b| get(&b, "size").as_f64().unwrap_or(0.0) as u64)
                .collect();
            let Some(shared) = handle.0.upgrade() else {
                return;
            };
            let action = shared.state.borrow().call.left_over(&stored);
            match action {
                LeftOver::Forget => forget(&db, &stored.key),
                LeftOver::Resume => {
                    if let Err(e) = shared.command(|call, now| call.resume_stored(stored, now)) {
                        warn_error("a left-over recording cannot be uploaded from here", &e);
                    }
                }
                LeftOver::Keep => {}
            }
        }),
    );
}

/// Deletes a recording's chunks and entries (its upload is done, or it holds nothing).
pub(super) fn forget(db: &Idb, key: &str) {
    let range = |lo: JsValue, hi: JsValue| key_range(&lo, &hi);
    for (store, lo, hi) in [
        (CHUNKS, chunk_key(key, 0), chunk_key(key, u32::MAX)),
        (RECORDINGS, entry_key(key, ""), entry_key(key, "~")),
    ] {
        let deleted = db
            .transaction(store, "readwrite")
            .and_then(|tx| tx.object_store(store).delete(&range(lo, hi)));
        if let Err(e) = deleted {
            warn_error("cannot delete an uploaded recording", &e);
        }
    }
}
