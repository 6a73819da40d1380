//! The assist decoder and overlay must never panic, whatever arrives on a DataChannel.
#![no_main]

use assistrtc_core::Millis;
use assistrtc_core::assist::{AssistMessage, Overlay};
use assistrtc_core::permissions::Capabilities;
use assistrtc_core::protocol::{MemberId, Permissions, Role};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(msg) = AssistMessage::decode(text) {
        // Whatever decodes must re-encode and decode to the same message.
        let again = AssistMessage::decode(&msg.encode().expect("valid messages encode")).expect("round trip");
        assert_eq!(again, msg);
    }
    let mut overlay = Overlay::default();
    let who = MemberId::new("agent_1").expect("valid id");
    let caps = Capabilities::for_role(Role::Host, Permissions::default());
    let _ = overlay.apply_text(&who, caps, text, Millis(0));
    let _ = overlay.visible(Millis(1));
});
