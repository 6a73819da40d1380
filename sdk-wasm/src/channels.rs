//! The DataChannels of one peer link, created as the core's `OpenChannel` says (negotiated
//! id, ordering, retransmits); opening, closing and messages go back to the core, which
//! decides what to send and when.

use assistrtc_core::assist::Channel;
use assistrtc_core::session::{ChannelSpec, PeerEvent};
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, RtcDataChannel, RtcDataChannelInit, RtcPeerConnection};

use crate::js::warn_error;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(extends = RtcPeerConnection, js_name = RTCPeerConnection)]
    type ChannelHost;
    // web-sys's binding does not catch: a refused channel (an id in use) would trap.
    #[wasm_bindgen(method, catch, js_name = createDataChannel)]
    fn create_data_channel_checked(
        this: &ChannelHost,
        label: &str,
        init: &RtcDataChannelInit,
    ) -> Result<RtcDataChannel, JsValue>;
}

/// Where a channel reports.
pub(crate) trait ChannelObserver {
    fn channel_event(&self, event: PeerEvent);
}

struct Open {
    channel: Channel,
    dc: RtcDataChannel,
    _on_open: Closure<dyn FnMut()>,
    _on_close: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

/// The link's channels; dropping closes them and detaches their handlers.
#[derive(Default)]
pub(crate) struct Channels(Vec<Open>);

impl Channels {
    pub(crate) fn open(
        &mut self,
        pc: &RtcPeerConnection,
        spec: ChannelSpec,
        observer: std::rc::Rc<dyn ChannelObserver>,
    ) -> Result<(), JsValue> {
        let init = RtcDataChannelInit::new();
        init.set_negotiated(true);
        init.set_id(spec.id);
        init.set_ordered(spec.ordered);
        if let Some(n) = spec.max_retransmits {
            init.set_max_retransmits(n);
        }
        let dc = pc
            .unchecked_ref::<ChannelHost>()
            .create_data_channel_checked(spec.label, &init)?;
        let channel = spec.channel;
        let report = |event: fn(Channel) -> PeerEvent| {
            let obs = observer.clone();
            Closure::<dyn FnMut()>::new(move || obs.channel_event(event(channel)))
        };
        let on_open = report(PeerEvent::ChannelOpened);
        let on_close = report(PeerEvent::ChannelClosed);
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            // Binary input becomes empty text, which the core refuses with a typed error.
            let text = e.data().as_string().unwrap_or_default();
            observer.channel_event(PeerEvent::Message { channel, text });
        });
        dc.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        dc.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        dc.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        self.0.push(Open {
            channel,
            dc,
            _on_open: on_open,
            _on_close: on_close,
            _on_message: on_message,
        });
        Ok(())
    }

    pub(crate) fn send(&self, channel: Channel, text: &str) {
        if let Some(open) = self.0.iter().find(|o| o.channel == channel) {
            if let Err(e) = open.dc.send_with_str(text) {
                warn_error("assist send failed", &e);
            }
        }
    }

    pub(crate) fn close(&mut self) {
        for open in self.0.drain(..) {
            open.dc.set_onopen(None);
            open.dc.set_onclose(None);
            open.dc.set_onmessage(None);
            open.dc.close();
        }
    }
}

impl Drop for Channels {
    fn drop(&mut self) {
        self.close();
    }
}
