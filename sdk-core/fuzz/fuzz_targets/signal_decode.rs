//! The signaling decoders must never panic on any frame.
#![no_main]

use assistrtc_core::protocol;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(msg) = protocol::decode_client(text) {
        assert_eq!(protocol::decode_client(&protocol::encode_client(&msg)).expect("round trip"), msg);
    }
    if let Ok(msg) = protocol::decode_server(text) {
        // `Unsupported` stands for a frame this version cannot represent; it is never sent.
        if !matches!(msg, protocol::ServerMessage::Unsupported { .. }) {
            assert_eq!(protocol::decode_server(&protocol::encode_server(&msg)).expect("round trip"), msg);
        }
    }
});
