//! An upload's requests to the server, the chunks read back and checksummed.

use super::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = digest)]
    fn digest(algorithm: &str, data: &JsValue) -> Promise;
}

/// Sends one request of an upload: the chunk read back from IndexedDB and checksummed for a
/// `PutChunk`; the answer (or the failure to reach the server) goes back to the call.
pub(crate) fn send(handle: &Handle, st: &mut State, key: String, request: UploadRequest) {
    let url = assistrtc_core::protocol::api_url(&st.url, &request.kind.path());
    let bearer = JsValue::from_str(&["Bearer ", st.call.session().token()].concat());
    let method = request.kind.method();
    let id = request.id;
    let reply = {
        let (handle, key) = (handle.clone(), key.clone());
        move |r: Result<(u16, String), JsValue>| {
            let input = match r {
                Ok((status, body)) => UploadInput::Response {
                    request: id,
                    status,
                    body,
                },
                Err(e) => UploadInput::NetworkError {
                    request: id,
                    detail: describe(&e),
                },
            };
            if let Some(shared) = handle.0.upgrade() {
                shared.feed(Input::Upload { key, input });
            }
        }
    };
    let json = |body: &str| {
        init(
            method,
            crate::js::obj(&[
                ("authorization", bearer.clone()),
                ("content-type", JsValue::from_str("application/json")),
            ]),
            JsValue::from_str(body),
        )
    };
    if let Some(body) = request.kind.json_body() {
        return crate::js::fetch_text(&url, &json(&body), Box::new(reply));
    }
    match request.kind {
        UploadRequestKind::PutChunk { seq, .. } => with_db(move |db| {
            let tx = db.transaction(CHUNKS, "readonly")?;
            let read = tx.object_store(CHUNKS).get_one(&chunk_key(&key, seq))?;
            let got = settled(&read, "onsuccess");
            on_settled(
                got,
                Box::new(move |r| {
                    let blob = match r.map(|_| get(&read, "result")) {
                        Ok(b) if !b.is_undefined() => b,
                        Ok(_) => {
                            return reply(Err(error(ErrorCode::NotFound, "the chunk is gone")));
                        }
                        Err(e) => return reply(Err(e)),
                    };
                    let bytes: Promise = Reflect::get(&blob, &JsValue::from_str("arrayBuffer"))
                        .and_then(|f| f.unchecked_ref::<Function>().call0(&blob))
                        .map_or_else(|e| Promise::reject(&e), |p| p.unchecked_into());
                    let hashed =
                        crate::js::then(bytes, Box::new(|b| Ok(digest("SHA-256", &b?).into())));
                    on_settled(
                        hashed,
                        Box::new(move |h| match h {
                            Ok(hash) => {
                                let hex = hex(&js_sys::Uint8Array::new(&hash).to_vec());
                                let headers = crate::js::obj(&[
                                    ("authorization", bearer),
                                    ("x-content-sha256", JsValue::from_str(&hex)),
                                ]);
                                let init = init(method, headers, blob);
                                crate::js::fetch_text(&url, &init, Box::new(reply));
                            }
                            Err(e) => reply(Err(e)),
                        }),
                    );
                }),
            );
            Ok(())
        }),
        _ => {
            let headers = crate::js::obj(&[("authorization", bearer.clone())]);
            let init = init(method, headers, JsValue::UNDEFINED);
            crate::js::fetch_text(&url, &init, Box::new(reply));
        }
    }
}

pub(super) fn init(method: &str, headers: JsValue, body: JsValue) -> JsValue {
    crate::js::obj(&[
        ("method", JsValue::from_str(method)),
        ("headers", headers),
        ("body", body),
    ])
}

pub(super) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}
