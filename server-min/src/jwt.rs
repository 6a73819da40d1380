//! Join tokens and preflight tokens: HS256 JSON Web Tokens, written with `hmac` + `sha2` +
//! `base64`.
//!
//! A token is `base64url(header).base64url(claims).base64url(signature)` without padding, the
//! header is `{"alg":"HS256","typ":"JWT"}`, and the signature is HMAC-SHA256 over the first two
//! parts with the server's secret. Verification insists on `alg == "HS256"` (no `none`, no
//! algorithm confusion), checks the signature in constant time, and only then reads the claims.
//!
//! Two kinds of token share the secret and must never stand in for each other: a join token
//! ([`Claims`]) carries no `kind`, a preflight token ([`PreflightClaims`]) carries
//! `"kind":"preflight"` and `"aud":"assistrtc-preflight"` and names no room. [`verify`] refuses
//! any token with a `kind`, [`verify_preflight`] any token without the preflight `kind`.
//!
//! ```
//! use assistrtc_core::protocol::{MemberId, Role, RoomId};
//! use assistrtc_server::jwt::{self, Claims, JwtError};
//!
//! let claims = Claims {
//!     room: RoomId::new("rm_1").unwrap(),
//!     sub: MemberId::new("agent_1").unwrap(),
//!     role: Role::Host,
//!     epoch: "5f1c0e9a2b7d4c13".into(),
//!     iat: 1_000,
//!     exp: 1_600,
//!     jti: None,
//! };
//! let token = jwt::issue(b"secret", &claims);
//! assert_eq!(jwt::verify(b"secret", &token, 1_599).unwrap(), claims);
//! assert!(matches!(jwt::verify(b"secret", &token, 1_600), Err(JwtError::Expired { .. })));
//! assert_eq!(jwt::verify(b"other", &token, 1_000), Err(JwtError::BadSignature));
//! ```

use assistrtc_core::protocol::{ErrorCode, MAX_TOKEN_BYTES, MemberId, Role, RoomId};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The only algorithm this server issues and accepts.
pub const ALGORITHM: &str = "HS256";

/// What a join token asserts.
///
/// There are no capabilities in it: the hub computes them from the room's current definition
/// (role and permissions), so a token cannot carry rights the room no longer grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The room the token admits to.
    pub room: RoomId,
    /// The member id (JWT subject).
    pub sub: MemberId,
    /// The member's role in the room; the hub admits the token only if the room still gives
    /// the member this role.
    pub role: Role,
    /// The creation of the room the token was issued for
    /// ([`RoomDefinition::epoch`](crate::store::RoomDefinition::epoch)): a room created again
    /// under the same id has another epoch and refuses this token.
    pub epoch: String,
    /// Issued at, in seconds since the Unix epoch.
    pub iat: u64,
    /// Expires at, in seconds since the Unix epoch; the token is invalid from this second on.
    pub exp: u64,
    /// The token's id (JWT `jti`), recorded in the store when it is issued so that it can be
    /// looked up (and, later, revoked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

/// The `kind` of a preflight token.
pub const PREFLIGHT_KIND: &str = "preflight";
/// The `aud` of a preflight token.
pub const PREFLIGHT_AUDIENCE: &str = "assistrtc-preflight";
/// Longest a preflight token may live, seconds: one that claims more is refused.
pub const MAX_PREFLIGHT_TTL_SECS: u64 = 120;

/// What a preflight token asserts: its holder may run the network probe until `exp`, and
/// nothing else (no room, no member).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreflightClaims {
    /// Always [`PREFLIGHT_KIND`].
    pub kind: String,
    /// Always [`PREFLIGHT_AUDIENCE`].
    pub aud: String,
    /// Issued at, in seconds since the Unix epoch.
    pub iat: u64,
    /// Expires at, in seconds since the Unix epoch; at most [`MAX_PREFLIGHT_TTL_SECS`] after
    /// `iat`.
    pub exp: u64,
    /// The token's id.
    pub jti: String,
}

impl PreflightClaims {
    /// Claims of a preflight token issued at `iat` for `ttl_secs` (capped at
    /// [`MAX_PREFLIGHT_TTL_SECS`]).
    pub fn new(iat: u64, ttl_secs: u64, jti: String) -> Self {
        Self {
            kind: PREFLIGHT_KIND.into(),
            aud: PREFLIGHT_AUDIENCE.into(),
            iat,
            exp: iat.saturating_add(ttl_secs.min(MAX_PREFLIGHT_TTL_SECS)),
            jti,
        }
    }
}

/// The `kind` claim alone: join tokens have none.
#[derive(Deserialize)]
struct Kind {
    #[serde(default)]
    kind: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
}

/// Why a token was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// Not three base64url parts, or a part is not the JSON it should be.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The header names an algorithm other than HS256.
    #[error("unsupported token algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// The signature does not match: forged, or signed with another secret.
    #[error("token signature is invalid")]
    BadSignature,
    /// The signature is valid but the claims are not what this server issues.
    #[error("token claims are invalid: {0}")]
    InvalidClaims(String),
    /// The token has expired.
    #[error("token expired at {exp} (now {now})")]
    Expired {
        /// The token's `exp`.
        exp: u64,
        /// The time it was checked against.
        now: u64,
    },
}

impl JwtError {
    /// The wire error code: `token_expired` for [`JwtError::Expired`], else `unauthorized`.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Expired { .. } => ErrorCode::TokenExpired,
            _ => ErrorCode::Unauthorized,
        }
    }
}

fn mac(secret: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    <HmacSha256 as Mac>::new_from_slice(secret)
        .unwrap_or_else(|e| unreachable!("HMAC accepts keys of any length: {e}"))
}

fn b64_json<T: Serialize>(value: &T) -> String {
    // Claims and header are plain structs with string keys: serialization cannot fail.
    let json = serde_json::to_vec(value)
        .unwrap_or_else(|e| unreachable!("token parts always serialize: {e}"));
    URL_SAFE_NO_PAD.encode(json)
}

/// Signs the join token `claims` with `secret`.
pub fn issue(secret: &[u8], claims: &Claims) -> String {
    sign(secret, claims)
}

/// Signs the preflight token `claims` with `secret`.
pub fn issue_preflight(secret: &[u8], claims: &PreflightClaims) -> String {
    sign(secret, claims)
}

fn sign<T: Serialize>(secret: &[u8], claims: &T) -> String {
    let header = Header {
        alg: ALGORITHM.into(),
        typ: Some("JWT".into()),
    };
    let signing_input = format!("{}.{}", b64_json(&header), b64_json(claims));
    let mut mac = mac(secret);
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// Checks the header and signature and returns the claims, **without** checking expiry.
///
/// Used on its own when resuming a held seat: that seat was authorized when it was taken, so
/// a token that expired since still proves who the member is (the hub bounds this with its
/// session lifetime, counted from the join).
pub fn verify_signature(secret: &[u8], token: &str) -> Result<Claims, JwtError> {
    let payload = signed_payload(secret, token)?;
    if let Some(kind) = kind_of(&payload)? {
        return Err(JwtError::InvalidClaims(format!(
            "a {kind} token is not a join token"
        )));
    }
    serde_json::from_slice(&payload).map_err(|e| JwtError::InvalidClaims(e.to_string()))
}

/// Checks header, signature, kind, audience, lifetime and expiry of a preflight token against
/// `now` (seconds since the Unix epoch).
pub fn verify_preflight(secret: &[u8], token: &str, now: u64) -> Result<PreflightClaims, JwtError> {
    let payload = signed_payload(secret, token)?;
    if kind_of(&payload)?.as_deref() != Some(PREFLIGHT_KIND) {
        return Err(JwtError::InvalidClaims("not a preflight token".into()));
    }
    let claims: PreflightClaims =
        serde_json::from_slice(&payload).map_err(|e| JwtError::InvalidClaims(e.to_string()))?;
    if claims.aud != PREFLIGHT_AUDIENCE {
        return Err(JwtError::InvalidClaims("wrong audience".into()));
    }
    if claims.exp.saturating_sub(claims.iat) > MAX_PREFLIGHT_TTL_SECS {
        return Err(JwtError::InvalidClaims("lifetime too long".into()));
    }
    if now >= claims.exp {
        return Err(JwtError::Expired {
            exp: claims.exp,
            now,
        });
    }
    Ok(claims)
}

fn kind_of(payload: &[u8]) -> Result<Option<String>, JwtError> {
    serde_json::from_slice::<Kind>(payload)
        .map(|k| k.kind)
        .map_err(|e| JwtError::InvalidClaims(e.to_string()))
}

/// The claims bytes of a token whose header and signature check out.
fn signed_payload(secret: &[u8], token: &str) -> Result<Vec<u8>, JwtError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwtError::Malformed("token is too long"));
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed("expected three dot-separated parts"));
    };
    let header = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| JwtError::Malformed("header is not base64url"))?;
    let header: Header =
        serde_json::from_slice(&header).map_err(|_| JwtError::Malformed("header is not JSON"))?;
    if header.alg != ALGORITHM {
        return Err(JwtError::UnsupportedAlgorithm(header.alg));
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| JwtError::Malformed("signature is not base64url"))?;
    // The signing input is `header.payload`, exactly as received.
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    let mut mac = mac(secret);
    mac.update(signing_input.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| JwtError::BadSignature)?;
    URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| JwtError::Malformed("claims are not base64url"))
}

/// Checks header, signature and expiry against `now` (seconds since the Unix epoch).
pub fn verify(secret: &[u8], token: &str, now: u64) -> Result<Claims, JwtError> {
    let claims = verify_signature(secret, token)?;
    check_expiry(&claims, now)?;
    Ok(claims)
}

/// `Err(Expired)` when `now` (seconds since the Unix epoch) is at or past `claims.exp`.
pub fn check_expiry(claims: &Claims, now: u64) -> Result<(), JwtError> {
    if now >= claims.exp {
        Err(JwtError::Expired {
            exp: claims.exp,
            now,
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-secret";

    fn claims() -> Claims {
        Claims {
            room: RoomId::new("rm_1").unwrap(),
            sub: MemberId::new("user_9").unwrap(),
            role: Role::Guest,
            epoch: "e1".into(),
            iat: 100,
            exp: 700,
            jti: None,
        }
    }

    fn part(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn round_trip_and_wire_shape() {
        let token = issue(SECRET, &claims());
        assert_eq!(token.split('.').count(), 3);
        assert!(!token.contains('='));
        let mut parts = token.split('.');
        let header = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
        assert_eq!(header, br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(value["room"], "rm_1");
        assert_eq!(value["sub"], "user_9");
        assert_eq!(value["role"], "guest");
        assert_eq!(value["epoch"], "e1");
        assert!(value.get("caps").is_none(), "rights come from the room");
        assert_eq!(verify(SECRET, &token, 699).unwrap(), claims());
    }

    #[test]
    fn expiry_is_checked_against_injected_now() {
        let token = issue(SECRET, &claims());
        assert!(verify(SECRET, &token, 0).is_ok());
        let err = verify(SECRET, &token, 700).unwrap_err();
        assert_eq!(err, JwtError::Expired { exp: 700, now: 700 });
        assert_eq!(err.code(), ErrorCode::TokenExpired);
        // The signature alone is still valid.
        assert_eq!(verify_signature(SECRET, &token).unwrap(), claims());
    }

    #[test]
    fn wrong_secret_and_tampering_are_rejected() {
        let token = issue(SECRET, &claims());
        assert_eq!(verify(b"other", &token, 0), Err(JwtError::BadSignature));

        // Swap in claims for another member, keeping the original signature.
        let mut forged = claims();
        forged.sub = MemberId::new("agent_1").unwrap();
        forged.role = Role::Host;
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let parts: Vec<&str> = token.split('.').collect();
        let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        let err = verify(SECRET, &tampered, 0).unwrap_err();
        assert_eq!(err, JwtError::BadSignature);
        assert_eq!(err.code(), ErrorCode::Unauthorized);

        // A truncated signature.
        let short = &token[..token.len() - 2];
        assert_eq!(
            verify(SECRET, short, 0).unwrap_err().code(),
            ErrorCode::Unauthorized
        );
    }

    #[test]
    fn only_hs256_is_accepted() {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).unwrap());
        let none = format!("{}.{payload}.", part(r#"{"alg":"none"}"#));
        assert_eq!(
            verify(SECRET, &none, 0),
            Err(JwtError::UnsupportedAlgorithm("none".into()))
        );
        let hs512 = format!("{}.{payload}.AAAA", part(r#"{"alg":"HS512","typ":"JWT"}"#));
        assert!(matches!(
            verify(SECRET, &hs512, 0),
            Err(JwtError::UnsupportedAlgorithm(_))
        ));
    }

    #[test]
    fn malformed_tokens_are_unauthorized_not_panics() {
        for bad in [
            "",
            "abc",
            "a.b",
            "a.b.c.d",
            "!!!.e30.sig",
            &format!("{}.e30.sig", part("not json")),
            &"a".repeat(MAX_TOKEN_BYTES + 1),
        ] {
            let err = verify(SECRET, bad, 0).unwrap_err();
            assert_eq!(err.code(), ErrorCode::Unauthorized, "{bad:?}: {err}");
        }
    }

    #[test]
    fn preflight_and_join_tokens_do_not_stand_in_for_each_other() {
        let preflight = PreflightClaims::new(100, 600, "p1".into());
        assert_eq!(
            preflight.exp,
            100 + MAX_PREFLIGHT_TTL_SECS,
            "lifetime is capped"
        );
        let token = issue_preflight(SECRET, &preflight);
        assert_eq!(verify_preflight(SECRET, &token, 219).unwrap(), preflight);
        assert!(matches!(
            verify_preflight(SECRET, &token, 220),
            Err(JwtError::Expired { .. })
        ));
        assert!(matches!(
            verify(SECRET, &token, 100),
            Err(JwtError::InvalidClaims(_))
        ));
        assert!(verify_signature(SECRET, &token).is_err());

        let join = issue(SECRET, &claims());
        assert!(matches!(
            verify_preflight(SECRET, &join, 100),
            Err(JwtError::InvalidClaims(_))
        ));
        assert_eq!(
            verify_preflight(b"other", &token, 100),
            Err(JwtError::BadSignature)
        );

        // Signed, but claiming a longer life or another audience.
        let mut long = preflight.clone();
        long.exp = long.iat + MAX_PREFLIGHT_TTL_SECS + 1;
        assert!(verify_preflight(SECRET, &sign(SECRET, &long), 100).is_err());
        let mut other = preflight;
        other.aud = "elsewhere".into();
        assert!(verify_preflight(SECRET, &sign(SECRET, &other), 100).is_err());
    }

    #[test]
    fn signed_garbage_claims_are_invalid_claims() {
        let header = part(r#"{"alg":"HS256"}"#);
        let payload = part(r#"{"room":"rm 1","sub":"x"}"#);
        let input = format!("{header}.{payload}");
        let mut m = mac(SECRET);
        m.update(input.as_bytes());
        let token = format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
        );
        assert!(matches!(
            verify(SECRET, &token, 0),
            Err(JwtError::InvalidClaims(_))
        ));
    }
}
