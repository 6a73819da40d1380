//! `client.assist`: pointer, highlight, arrow, clear, script step. The core's `AssistSender`
//! validates, numbers and coalesces; the driver puts the result on the assist channels.

use std::rc::Rc;

use assistrtc_core::Millis;
use assistrtc_core::assist::{AssistError, Point, Rect};
use assistrtc_core::permissions::Capability;
use assistrtc_core::protocol::ErrorCode;
use wasm_bindgen::prelude::*;

use crate::driver::Shared;
use crate::js::{error, get, now_ms};

const DEFAULT_COLOR: &str = "#ff3b30";

fn num(o: &JsValue, key: &str) -> f64 {
    // Missing or non-numeric becomes NaN, which the core refuses with `not a number`.
    get(o, key).as_f64().unwrap_or(f64::NAN)
}

fn point(o: &JsValue) -> Point {
    Point {
        x: num(o, "x"),
        y: num(o, "y"),
    }
}

fn assist_error(e: &AssistError) -> JsValue {
    error(e.code(), &e.to_string())
}

/// Drawing hints over the shared screen (never control), and the script step both sides see.
/// Only members with the `annotate` capability may use it; coordinates are normalised 0..1 to
/// the shared surface.
#[wasm_bindgen]
pub struct Assist {
    pub(crate) shared: Rc<Shared>,
}

impl Assist {
    fn send<T>(
        &self,
        f: impl FnOnce(&mut assistrtc_core::assist::AssistSender, Millis) -> Result<T, AssistError>,
    ) -> Result<T, JsValue> {
        let result = {
            let mut st = self.shared.state.borrow_mut();
            if st.session.state() == assistrtc_core::session::SessionState::Ended {
                return Err(error(ErrorCode::Conflict, "the call has ended"));
            }
            if !st.session.capabilities().contains(Capability::Annotate) {
                return Err(error(ErrorCode::Forbidden, "this member may not annotate"));
            }
            f(&mut st.assist, Millis(now_ms()))
        };
        self.shared.drive();
        result.map_err(|e| assist_error(&e))
    }
}

fn opts_at(opts: &JsValue) -> u64 {
    get(opts, "at")
        .as_f64()
        .map_or_else(now_ms, |v| v.max(0.0) as u64)
}

fn opts_color(opts: &JsValue) -> String {
    get(opts, "color")
        .as_string()
        .unwrap_or_else(|| DEFAULT_COLOR.into())
}

fn opts_ttl(opts: &JsValue) -> u64 {
    get(opts, "ttlMs").as_f64().map_or(0, |v| v.max(0.0) as u64)
}

#[wasm_bindgen]
impl Assist {
    /// Moves the pointer; coalesced to the latest per frame. `at` is the media time (ms) of
    /// the frame pointed at (defaults to the page clock).
    pub fn pointer(&self, x: f64, y: f64, at: Option<f64>) -> Result<(), JsValue> {
        let at = at.map_or_else(now_ms, |v| v.max(0.0) as u64);
        self.send(|s, now| s.pointer(x, y, at, now))
    }

    /// Draws a box `{x, y, w, h}`; options `{color?: "#rrggbb", ttlMs?: number, at?: number}`.
    /// Returns the shape id.
    pub fn highlight(
        &self,
        #[wasm_bindgen(unchecked_param_type = "{x: number, y: number, w: number, h: number}")] rect: JsValue,
        #[wasm_bindgen(unchecked_param_type = "ShapeOptions | undefined")] opts: JsValue,
    ) -> Result<String, JsValue> {
        let r = Rect {
            x: num(&rect, "x"),
            y: num(&rect, "y"),
            w: num(&rect, "w"),
            h: num(&rect, "h"),
        };
        let (color, ttl, at) = (opts_color(&opts), opts_ttl(&opts), opts_at(&opts));
        self.send(|s, _| s.highlight(r, &color, ttl, at))
    }

    /// Draws an arrow from `{x, y}` to `{x, y}`. Returns the shape id.
    pub fn arrow(
        &self,
        #[wasm_bindgen(unchecked_param_type = "{x: number, y: number}")] from: JsValue,
        #[wasm_bindgen(unchecked_param_type = "{x: number, y: number}")] to: JsValue,
        #[wasm_bindgen(unchecked_param_type = "ShapeOptions | undefined")] opts: JsValue,
    ) -> Result<String, JsValue> {
        let (from, to) = (point(&from), point(&to));
        let (color, ttl, at) = (opts_color(&opts), opts_ttl(&opts), opts_at(&opts));
        self.send(|s, _| s.arrow(from, to, &color, ttl, at))
    }

    /// Removes one shape, or all of this member's shapes.
    pub fn clear(&self, id: Option<String>) -> Result<(), JsValue> {
        let at = now_ms();
        self.send(|s, _| s.clear(id.as_deref(), at))
    }

    /// Shows a script step to both sides: `{ticket, step, total, title}`.
    #[wasm_bindgen(js_name = scriptStep)]
    pub fn script_step(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ScriptStep")] step: JsValue,
    ) -> Result<(), JsValue> {
        let ticket = get(&step, "ticket").as_string().unwrap_or_default();
        let title = get(&step, "title").as_string().unwrap_or_default();
        let n = get(&step, "step").as_f64().unwrap_or(0.0) as u32;
        let total = get(&step, "total").as_f64().unwrap_or(0.0) as u32;
        self.send(|s, _| s.script_step(&ticket, n, total, &title))
    }

    /// What is visible now (the same value `overlayChanged` carries).
    #[wasm_bindgen(unchecked_return_type = "OverlayView")]
    pub fn overlay(&self) -> JsValue {
        let st = self.shared.state.borrow();
        crate::events::to_value(&st.overlay.visible(Millis(now_ms())))
    }
}
