//! `client.assist`: pointer, highlight, arrow, clear, script step. The core's `Call` checks,
//! validates, numbers, coalesces and routes them; this only converts from JS.

use std::rc::Rc;

use assistrtc_core::Millis;
use assistrtc_core::assist::{DEFAULT_COLOR, Point, Rect};
use wasm_bindgen::prelude::*;

use crate::driver::Shared;
use crate::js::{get, now_ms};

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

/// Drawing hints over the shared screen (never control), and the script step both sides see.
/// Only members with the `annotate` capability may use it; coordinates are normalised 0..1 to
/// the shared surface.
#[wasm_bindgen]
pub struct Assist {
    pub(crate) shared: Rc<Shared>,
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
        self.shared.command(|c, now| c.pointer(x, y, at, now))
    }

    /// Draws a box `{x, y, w, h}`; options `{color?: "#rrggbb", ttlMs?: number, at?: number}`.
    /// Returns the shape id.
    pub fn highlight(
        &self,
        #[wasm_bindgen(unchecked_param_type = "{x: number, y: number, w: number, h: number}")] rect: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "ShapeOptions")] opts: Option<JsValue>,
    ) -> Result<String, JsValue> {
        let opts = opts.unwrap_or(JsValue::UNDEFINED);
        let r = Rect {
            x: num(&rect, "x"),
            y: num(&rect, "y"),
            w: num(&rect, "w"),
            h: num(&rect, "h"),
        };
        let (color, ttl, at) = (opts_color(&opts), opts_ttl(&opts), opts_at(&opts));
        self.shared
            .command(|c, now| c.highlight(r, &color, ttl, at, now))
    }

    /// Draws an arrow from `{x, y}` to `{x, y}`. Returns the shape id.
    pub fn arrow(
        &self,
        #[wasm_bindgen(unchecked_param_type = "{x: number, y: number}")] from: JsValue,
        #[wasm_bindgen(unchecked_param_type = "{x: number, y: number}")] to: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "ShapeOptions")] opts: Option<JsValue>,
    ) -> Result<String, JsValue> {
        let opts = opts.unwrap_or(JsValue::UNDEFINED);
        let (from, to) = (point(&from), point(&to));
        let (color, ttl, at) = (opts_color(&opts), opts_ttl(&opts), opts_at(&opts));
        self.shared
            .command(|c, now| c.arrow(from, to, &color, ttl, at, now))
    }

    /// Removes one shape, or all of this member's shapes.
    pub fn clear(&self, id: Option<String>) -> Result<(), JsValue> {
        let at = now_ms();
        self.shared
            .command(|c, now| c.clear(id.as_deref(), at, now))
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
        self.shared
            .command(|c, now| c.script_step(&ticket, n, total, &title, now))
    }

    /// What is visible now (the same value `overlayChanged` carries).
    #[wasm_bindgen(unchecked_return_type = "OverlayView")]
    pub fn overlay(&self) -> JsValue {
        let st = self.shared.st();
        crate::events::to_value(&st.call.overlay(Millis(now_ms())))
    }
}
