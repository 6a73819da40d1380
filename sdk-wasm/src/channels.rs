//! The assist DataChannels of one peer link.
//!
//! Both are pre-negotiated (`negotiated: true`, fixed ids) so each side creates them itself and
//! no in-band handshake or extra offer is needed: `assist` (id 0, ordered, reliable) and
//! `assist-cursor` (id 1, unordered, `maxRetransmits: 0`). Reliable messages written before the
//! channel opens wait in a queue; cursor moves written then are dropped (only the latest
//! matters, and the next one follows within a frame).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use assistrtc_core::assist::Channel;
use wasm_bindgen::prelude::*;
use web_sys::{
    MessageEvent, RtcDataChannel, RtcDataChannelInit, RtcDataChannelState, RtcPeerConnection,
};

use crate::js::{warn, warn_error};

/// Messages queued on `assist` before it opens, at most.
const MAX_QUEUED: usize = 256;

/// Where received assist messages go.
pub(crate) trait AssistObserver {
    fn assist_message(&self, text: String);
}

pub(crate) struct AssistChannels {
    reliable: RtcDataChannel,
    cursor: RtcDataChannel,
    queue: Rc<RefCell<VecDeque<String>>>,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

fn channel(pc: &RtcPeerConnection, channel: Channel) -> RtcDataChannel {
    let init = RtcDataChannelInit::new();
    init.set_negotiated(true);
    match channel {
        Channel::Reliable => {
            init.set_id(0);
            init.set_ordered(true);
        }
        Channel::Cursor => {
            init.set_id(1);
            init.set_ordered(false);
            init.set_max_retransmits(0);
        }
    }
    pc.create_data_channel_with_data_channel_dict(channel.label(), &init)
}

impl AssistChannels {
    pub(crate) fn open(pc: &RtcPeerConnection, observer: Rc<dyn AssistObserver>) -> Self {
        let reliable = channel(pc, Channel::Reliable);
        let cursor = channel(pc, Channel::Cursor);
        let queue: Rc<RefCell<VecDeque<String>>> = Rc::default();
        let on_open = {
            let (dc, queue) = (Clone::clone(&reliable), queue.clone());
            Closure::<dyn FnMut()>::new(move || {
                let pending = std::mem::take(&mut *queue.borrow_mut());
                for text in pending {
                    if let Err(e) = dc.send_with_str(&text) {
                        warn_error("assist send failed", &e);
                    }
                }
            })
        };
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            // Binary or oversize input is refused by the core's decoder with a typed error.
            observer.assist_message(e.data().as_string().unwrap_or_default());
        });
        reliable.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        reliable.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        cursor.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        Self {
            reliable,
            cursor,
            queue,
            _on_open: on_open,
            _on_message: on_message,
        }
    }

    pub(crate) fn send(&self, channel: Channel, text: &str) {
        let dc = match channel {
            Channel::Reliable => &self.reliable,
            Channel::Cursor => &self.cursor,
        };
        if dc.ready_state() != RtcDataChannelState::Open {
            if channel == Channel::Reliable {
                let mut q = self.queue.borrow_mut();
                if q.len() == MAX_QUEUED {
                    q.pop_front();
                    warn("assistrtc: assist queue full before the channel opened; oldest dropped");
                }
                q.push_back(text.to_owned());
            }
            return;
        }
        if let Err(e) = dc.send_with_str(text) {
            warn_error("assist send failed", &e);
        }
    }
}

impl Drop for AssistChannels {
    fn drop(&mut self) {
        for dc in [&self.reliable, &self.cursor] {
            dc.set_onopen(None);
            dc.set_onmessage(None);
            dc.close();
        }
    }
}
