//! `uniffi-bindgen generate --library <libassistrtc_uniffi.so> --language <swift|kotlin|python>`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
