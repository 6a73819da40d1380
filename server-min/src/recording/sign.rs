//! Playback URLs: `exp` (Unix seconds) and `sig`, an HMAC-SHA256 over the recording id and
//! `exp`, base64url. The key is derived from the JWT secret with its own label, so a playback
//! signature can never pass for a join token's or the other way round.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Domain separation for the derived key.
const LABEL: &[u8] = b"assistrtc playback url v1";

/// Signs and checks playback URLs.
#[derive(Clone)]
pub(crate) struct PlaybackSigner {
    key: [u8; 32],
}

impl std::fmt::Debug for PlaybackSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlaybackSigner(<redacted>)")
    }
}

fn mac(key: &[u8]) -> HmacSha256 {
    <HmacSha256 as Mac>::new_from_slice(key)
        .unwrap_or_else(|e| unreachable!("HMAC accepts keys of any length: {e}"))
}

impl PlaybackSigner {
    /// The signer for a server with this JWT secret.
    pub(crate) fn new(jwt_secret: &[u8]) -> Self {
        let mut m = mac(jwt_secret);
        m.update(LABEL);
        Self {
            key: m.finalize().into_bytes().into(),
        }
    }

    fn mac_for(&self, id: &str, exp: u64) -> HmacSha256 {
        let mut m = mac(&self.key);
        // The id never holds a newline: the input is unambiguous.
        m.update(format!("{id}\n{exp}").as_bytes());
        m
    }

    /// `sig` for recording `id` until `exp`.
    pub(crate) fn sign(&self, id: &str, exp: u64) -> String {
        URL_SAFE_NO_PAD.encode(self.mac_for(id, exp).finalize().into_bytes())
    }

    /// Whether `sig` is this server's signature of `id` and `exp` (constant time).
    pub(crate) fn verify(&self, id: &str, exp: u64, sig: &str) -> bool {
        let Ok(sig) = URL_SAFE_NO_PAD.decode(sig) else {
            return false;
        };
        self.mac_for(id, exp).verify_slice(&sig).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_bind_id_expiry_and_secret() {
        let signer = PlaybackSigner::new(b"secret");
        let sig = signer.sign("rec_1", 1_000);
        assert!(signer.verify("rec_1", 1_000, &sig));
        assert!(!signer.verify("rec_1", 1_001, &sig));
        assert!(!signer.verify("rec_2", 1_000, &sig));
        assert!(!signer.verify("rec_1", 1_000, "not base64!"));
        assert!(!PlaybackSigner::new(b"other").verify("rec_1", 1_000, &sig));
    }
}
