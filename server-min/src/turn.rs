//! Time-limited TURN credentials in coturn's REST-API shared-secret scheme.
//!
//! The TURN server (coturn with `use-auth-secret` and `static-auth-secret=<secret>`) and this
//! server share one secret and nothing else: no user database, no call between them. For each
//! member, when its `welcome` is built, the hub issues
//!
//! - username = `<unix expiry>:<member id>`, the expiry being the server clock's now plus the
//!   TTL, in seconds;
//! - credential = base64(HMAC-SHA1(secret, username)).
//!
//! coturn recomputes the credential from the username and refuses it (401) once the expiry has
//! passed, so a leaked credential is worth at most one TTL, and names the member it was issued
//! to. (The member id has no `:`, coturn's separator: ids are `[A-Za-z0-9_.-]`.)
//!
//! ```
//! use assistrtc_core::Millis;
//! use assistrtc_server::turn::{self, TurnConfig};
//!
//! let turn = TurnConfig::new(vec!["turn:turn.example:3478".into()], "shared-secret");
//! let server = turn.ice_server("user_9", Millis(1_700_000_000_000));
//! let username = server.username.unwrap();
//! assert_eq!(username, "1700003600:user_9"); // now + 3600 s by default
//! assert_eq!(server.credential.unwrap(), turn::credential(b"shared-secret", &username));
//! ```

use std::fmt;

use assistrtc_core::Millis;
use assistrtc_core::protocol::IceServer;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac as _};
use sha1::Sha1;

/// Default lifetime of issued TURN credentials: one hour, longer than most support calls.
/// A member gets fresh ones with every `welcome` (each join and resume).
pub const DEFAULT_TURN_TTL_SECS: u64 = 3600;
/// Shortest accepted credential lifetime: below this, a slow ICE gathering could see it expire.
pub const MIN_TURN_TTL_SECS: u64 = 60;
/// Longest accepted credential lifetime (one day): a credential must not outlive its purpose.
pub const MAX_TURN_TTL_SECS: u64 = 24 * 3600;

/// TURN servers that accept credentials made with a shared secret.
#[derive(Clone, PartialEq, Eq)]
pub struct TurnConfig {
    /// `turn:` / `turns:` URLs, announced together in one `ice_servers` entry.
    pub urls: Vec<String>,
    /// The secret shared with the TURN server (coturn's `static-auth-secret`).
    pub secret: String,
    /// Lifetime of each issued credential, in seconds
    /// ([`MIN_TURN_TTL_SECS`]..=[`MAX_TURN_TTL_SECS`]).
    pub ttl_secs: u64,
}

impl fmt::Debug for TurnConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TurnConfig")
            .field("urls", &self.urls)
            .field("secret", &"<redacted>")
            .field("ttl_secs", &self.ttl_secs)
            .finish()
    }
}

/// Why a [`TurnConfig`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TurnConfigError {
    /// No URL to announce.
    #[error("no TURN URL given")]
    NoUrls,
    /// A URL is not a `turn:` or `turns:` URL with a host.
    #[error("invalid TURN URL {0:?}: expected turn:HOST[:PORT][?transport=udp|tcp] or turns:…")]
    InvalidUrl(String),
    /// The shared secret is empty.
    #[error("the TURN shared secret must not be empty")]
    EmptySecret,
    /// The credential lifetime is outside the accepted range.
    #[error(
        "TURN credential lifetime of {0} s is out of range ({MIN_TURN_TTL_SECS}..={MAX_TURN_TTL_SECS} s)"
    )]
    TtlOutOfRange(u64),
}

impl TurnConfig {
    /// `urls` with `secret` and the default lifetime.
    pub fn new(urls: Vec<String>, secret: impl Into<String>) -> Self {
        Self {
            urls,
            secret: secret.into(),
            ttl_secs: DEFAULT_TURN_TTL_SECS,
        }
    }

    /// Checks the URLs, the secret and the lifetime.
    pub fn validate(&self) -> Result<(), TurnConfigError> {
        if self.urls.is_empty() {
            return Err(TurnConfigError::NoUrls);
        }
        if let Some(bad) = self.urls.iter().find(|u| !is_turn_url(u)) {
            return Err(TurnConfigError::InvalidUrl(bad.clone()));
        }
        if self.secret.is_empty() {
            return Err(TurnConfigError::EmptySecret);
        }
        if !(MIN_TURN_TTL_SECS..=MAX_TURN_TTL_SECS).contains(&self.ttl_secs) {
            return Err(TurnConfigError::TtlOutOfRange(self.ttl_secs));
        }
        Ok(())
    }

    /// The `ice_servers` entry for `member` at `now`: every URL, with credentials of its own
    /// that expire [`TurnConfig::ttl_secs`] from `now`.
    pub fn ice_server(&self, member: &str, now: Millis) -> IceServer {
        let expiry = (now.0 / 1000).saturating_add(self.ttl_secs);
        let username = format!("{expiry}:{member}");
        let credential = credential(self.secret.as_bytes(), &username);
        IceServer {
            urls: self.urls.clone(),
            username: Some(username),
            credential: Some(credential),
        }
    }
}

/// base64(HMAC-SHA1(`secret`, `username`)): the password coturn derives for `username` under
/// `use-auth-secret`.
pub fn credential(secret: &[u8], username: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        unreachable!("HMAC takes a key of any length");
    };
    mac.update(username.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// `turn:` or `turns:`, a host, no whitespace.
fn is_turn_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("turn:")
        .or_else(|| url.strip_prefix("turns:"));
    rest.is_some_and(|r| {
        let host = r.split(['?', ':']).next().unwrap_or_default();
        !host.is_empty() && !r.chars().any(|c| c.is_whitespace() || c.is_control())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_secret_and_lifetime_are_checked() {
        let ok = TurnConfig::new(
            vec![
                "turn:127.0.0.1:3478?transport=udp".into(),
                "turn:[::1]:3478?transport=tcp".into(),
                "turns:turn.example:5349".into(),
            ],
            "s",
        );
        assert_eq!(ok.validate(), Ok(()));
        for bad in [
            "stun:x:3478",
            "turn:",
            "turn:?transport=udp",
            "turn:a b",
            "x",
        ] {
            let c = TurnConfig::new(vec![bad.into()], "s");
            assert_eq!(
                c.validate(),
                Err(TurnConfigError::InvalidUrl(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(
            TurnConfig::new(vec![], "s").validate(),
            Err(TurnConfigError::NoUrls)
        );
        assert_eq!(
            TurnConfig::new(vec!["turn:x".into()], "").validate(),
            Err(TurnConfigError::EmptySecret)
        );
        for ttl in [0, MIN_TURN_TTL_SECS - 1, MAX_TURN_TTL_SECS + 1] {
            let c = TurnConfig {
                ttl_secs: ttl,
                ..TurnConfig::new(vec!["turn:x".into()], "s")
            };
            assert_eq!(c.validate(), Err(TurnConfigError::TtlOutOfRange(ttl)));
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let c = TurnConfig::new(vec!["turn:x".into()], "very-secret-value");
        assert!(!format!("{c:?}").contains("very-secret-value"));
    }
}
