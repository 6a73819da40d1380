//! The signaling WebSocket. It owns its handlers and detaches them before closing, so a
//! socket the session closed can never report into the next one.

use std::rc::Rc;

use wasm_bindgen::prelude::*;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

/// What the socket reports.
pub(crate) trait SocketObserver {
    fn opened(&self);
    fn message(&self, text: String);
    fn closed(&self);
}

pub(crate) struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Socket {
    pub(crate) fn open(url: &str, observer: Rc<dyn SocketObserver>) -> Result<Self, JsValue> {
        let ws = WebSocket::new(url)?;
        let on_open = {
            let obs = observer.clone();
            Closure::<dyn FnMut()>::new(move || obs.opened())
        };
        let on_message = {
            let obs = observer.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
                match e.data().as_string() {
                    Some(text) => obs.message(text),
                    // The protocol is text only; a binary frame is a broken server, reported as such.
                    None => obs.message(String::from("<binary frame>")),
                }
            })
        };
        let on_close = {
            let obs = observer;
            // `error` is always followed by `close`; only `close` is reported.
            Closure::<dyn FnMut(CloseEvent)>::new(move |_e: CloseEvent| obs.closed())
        };
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(Self {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        })
    }

    pub(crate) fn send(&self, text: &str) -> Result<(), JsValue> {
        self.ws.send_with_str(text)
    }

    /// Closes the socket from a test, as a network failure would (handlers stay attached).
    #[cfg(feature = "test-hooks")]
    pub(crate) fn close_abruptly(&self) {
        let _ = self.ws.close();
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        // Frames queued before close() are still sent, so a final `leave` gets out.
        let _ = self.ws.close();
    }
}
