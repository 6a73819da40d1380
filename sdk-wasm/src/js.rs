//! Small helpers for building JS values and errors, logging, and continuing JS promises.

use assistrtc_core::local_error::Code;
use assistrtc_core::protocol::{ErrorCode, Source};
use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;

/// Builds a plain JS object from key/value pairs.
pub(crate) fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&o, &JsValue::from_str(k), v);
    }
    o.into()
}

/// Reads `o[key]`, `undefined` if absent or `o` is not an object.
pub(crate) fn get(o: &JsValue, key: &str) -> JsValue {
    if !o.is_object() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(o, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// An `Error` with a stable `code` property (a wire or a local code), the shape every SDK
/// failure takes.
pub(crate) fn error(code: impl Into<Code>, message: &str) -> JsValue {
    coded_error(code.into(), message)
}

/// The body of [`error`], once for every kind of code.
#[inline(never)]
fn coded_error(code: Code, message: &str) -> JsValue {
    let e = js_sys::Error::new(message);
    let _ = Reflect::set(
        &e,
        &JsValue::from_str("code"),
        &JsValue::from_str(code.as_str()),
    );
    e.into()
}

/// Wraps a failure thrown by a browser API (a `DOMException`, usually) with our code, keeping
/// the browser's own name and message.
pub(crate) fn browser_error(code: impl Into<Code>, what: &str, cause: &JsValue) -> JsValue {
    let e = error(code, &[what, " failed: ", &describe(cause)].concat());
    let _ = Reflect::set(&e, &JsValue::from_str("cause"), cause);
    e
}

/// The `name` of a thrown value (`NotAllowedError`, …), empty when it has none. Read as a
/// property: in Firefox a `DOMException` is not an `instanceof Error`.
pub(crate) fn error_name(e: &JsValue) -> String {
    get(e, "name").as_string().unwrap_or_default()
}

/// A thrown JS value as text: `Name: message` for an error object (an `Error` or a
/// `DOMException`), the string itself for a string.
pub(crate) fn describe(e: &JsValue) -> String {
    if let Some(text) = e.as_string() {
        return text;
    }
    match get(e, "message").as_string() {
        Some(message) => [error_name(e).as_str(), ": ", &message].concat(),
        None => "unknown error".to_owned(),
    }
}

pub(crate) fn parse_source(value: &str) -> Result<Source, JsValue> {
    Source::from_wire(value).ok_or_else(|| {
        error(
            ErrorCode::BadRequest,
            &[
                "unknown source \"",
                value,
                "\": expected camera, microphone or screen",
            ]
            .concat(),
        )
    })
}

pub(crate) fn warn(message: &str) {
    web_sys::console::warn_1(&JsValue::from_str(message));
}

/// Logs `assistrtc: <what>` with the thrown value itself, so the console shows its stack.
pub(crate) fn warn_error(what: &str, e: &JsValue) {
    web_sys::console::warn_3(
        &JsValue::from_str("assistrtc:"),
        &JsValue::from_str(what),
        e,
    );
}

/// Milliseconds on the page's monotonic clock.
pub(crate) fn now_ms() -> u64 {
    performance_now() as u64
}

/// `navigator.mediaDevices`, `None` where it is missing: outside a secure context (https or
/// localhost) and in browsers without capture.
pub(crate) fn media_devices() -> Option<web_sys::MediaDevices> {
    NAVIGATOR
        .with(|n| n.media_devices().ok())
        .filter(|d| !d.is_undefined())
}

/// `globalThis[key]`.
pub(crate) fn global(key: &str) -> JsValue {
    GLOBAL_THIS.with(|g| get(g, key))
}

// The page's globals, read directly: `web_sys::window()` would find the global object and
// check that it is a `Window` first, code the shipped wasm pays for at every use.
#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
    /// `setTimeout(callback, delay)`: the timer's id.
    #[wasm_bindgen(catch, js_name = setTimeout)]
    pub(crate) fn set_timeout(callback: &JsValue, delay: i32) -> Result<i32, JsValue>;
    #[wasm_bindgen(js_name = clearTimeout)]
    pub(crate) fn clear_timeout(id: i32);
    #[wasm_bindgen(thread_local_v2, js_name = navigator)]
    static NAVIGATOR: web_sys::Navigator;
    #[wasm_bindgen(thread_local_v2, js_name = globalThis)]
    static GLOBAL_THIS: JsValue;
}

/// Runs `done` with the promise's outcome once it settles. Every platform call goes through
/// this one continuation (boxed callbacks, not an `async` block each), and it is a plain
/// `promise.then(…, …)`: the shipped wasm carries no futures executor.
///
/// One Rust closure serves both outcomes, bound to `true` (resolved) and `false` (rejected).
/// A promise settles once, so exactly one of them runs, and the closure frees itself after
/// that one call.
pub(crate) fn on_settled(
    promise: js_sys::Promise,
    done: Box<dyn FnOnce(Result<JsValue, JsValue>)>,
) {
    let settled = Closure::once_into_js(move |ok: bool, value: JsValue| {
        done(if ok { Ok(value) } else { Err(value) })
    });
    let settled: &Callback = settled.unchecked_ref();
    promise.unchecked_ref::<Thenable>().then_both(
        &settled.bind_first(&JsValue::UNDEFINED, &JsValue::TRUE),
        &settled.bind_first(&JsValue::UNDEFINED, &JsValue::FALSE),
    );
}

#[wasm_bindgen]
extern "C" {
    /// A promise, seen only for its `then`.
    type Thenable;
    /// `promise.then(resolved, rejected)`, its result unused.
    #[wasm_bindgen(method, js_name = then)]
    fn then_both(this: &Thenable, resolved: &JsValue, rejected: &JsValue);
    /// A JS function, seen only for its `bind`.
    type Callback;
    /// `f.bind(this_arg, first)`: `f` with its first argument fixed.
    #[wasm_bindgen(method, js_name = bind)]
    fn bind_first(this: &Callback, this_arg: &JsValue, first: &JsValue) -> JsValue;
}

/// What a continuation of a JS promise returns: `Ok` resolves, `Err` rejects.
pub(crate) type Then = Box<dyn FnOnce(Result<JsValue, JsValue>) -> Result<JsValue, JsValue>>;

/// A promise for `next` applied to `promise`'s outcome (JS `promise.then(next, next)`), through
/// [`on_settled`], so no closure is handed to JS that could outlive its owner.
pub(crate) fn then(promise: js_sys::Promise, next: Then) -> js_sys::Promise {
    let mut pending = Some((promise, next));
    js_sys::Promise::new(&mut |resolve, reject| {
        // The executor runs exactly once, synchronously.
        let Some((promise, next)) = pending.take() else {
            return;
        };
        on_settled(
            promise,
            Box::new(move |result| {
                let _ = match next(result) {
                    Ok(v) => resolve.call1(&JsValue::UNDEFINED, &v),
                    Err(e) => reject.call1(&JsValue::UNDEFINED, &e),
                };
            }),
        );
    })
}

#[cfg(any(feature = "preflight", feature = "recorder"))]
#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = fetch)]
    fn fetch_with(url: &str, init: &JsValue) -> js_sys::Promise;
    type Response;
    #[wasm_bindgen(method, getter)]
    fn status(this: &Response) -> u16;
    #[wasm_bindgen(method)]
    fn text(this: &Response) -> js_sys::Promise;
}

/// What a `fetch` gives: `(status, body text)`, or `Err` when the server could not be reached.
#[cfg(any(feature = "preflight", feature = "recorder"))]
pub(crate) type Fetched = Box<dyn FnOnce(Result<(u16, String), JsValue>)>;

/// A `fetch`; `done` gets what it gave.
#[cfg(any(feature = "preflight", feature = "recorder"))]
pub(crate) fn fetch_text(url: &str, init: &JsValue, done: Fetched) {
    on_settled(
        fetch_with(url, init),
        Box::new(move |sent| match sent {
            Err(e) => done(Err(e)),
            Ok(resp) => {
                let resp: Response = resp.unchecked_into();
                let status = resp.status();
                on_settled(
                    resp.text(),
                    Box::new(move |text| {
                        done(text.map(|t| (status, t.as_string().unwrap_or_default())))
                    }),
                );
            }
        }),
    );
}
