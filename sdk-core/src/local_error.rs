//! Error codes for what the local platform refused, beside the wire's [`ErrorCode`]s.
//!
//! A wire code says what the server (or the other member) decided; a local code says what
//! the browser or operating system said: the user denied the camera, there is no camera,
//! another app holds it, the platform has no WebRTC, the server cannot be reached. An app
//! shows different advice for each, so they are never folded into a wire code (`forbidden`
//! reads as "this member may not share", which is not what a denied prompt means).
//! Drivers map their platform's errors onto these; every binding reports the same strings.

use crate::protocol::{ErrorCode, Source};

/// What the local platform refused. The string forms are stable API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LocalErrorCode {
    /// The user, or the platform's policy, refused access to a camera, microphone or screen.
    PermissionDenied,
    /// No device of the asked kind exists (or none satisfies the constraints).
    DeviceNotFound,
    /// The device exists but cannot be opened: another application or tab holds it, or the
    /// hardware failed.
    DeviceInUse,
    /// The platform only allows this from a user action (Firefox and Safari refuse screen
    /// capture outside a click handler): call it from one.
    UserGestureRequired,
    /// The platform lacks what a call needs (a browser without `RTCPeerConnection`).
    UnsupportedBrowser,
    /// The signaling server could not be reached (or not reached again after a drop).
    Unreachable,
}

impl LocalErrorCode {
    /// The stable string form, e.g. `permission_denied`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::PermissionDenied => "permission_denied",
            Self::DeviceNotFound => "device_not_found",
            Self::DeviceInUse => "device_in_use",
            Self::UserGestureRequired => "user_gesture_required",
            Self::UnsupportedBrowser => "unsupported_browser",
            Self::Unreachable => "unreachable",
        }
    }

    /// Every code, for bindings that list them.
    pub const ALL: [LocalErrorCode; 6] = [
        Self::PermissionDenied,
        Self::DeviceNotFound,
        Self::DeviceInUse,
        Self::UserGestureRequired,
        Self::UnsupportedBrowser,
        Self::Unreachable,
    ];
}

/// Any error code an application sees: from the wire or from the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// What the server or the other member decided.
    Wire(ErrorCode),
    /// What the local platform refused.
    Local(LocalErrorCode),
}

impl Code {
    /// The stable string form; wire and local strings never collide.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Wire(c) => c.as_str(),
            Self::Local(c) => c.as_str(),
        }
    }
}

impl From<ErrorCode> for Code {
    fn from(c: ErrorCode) -> Self {
        Self::Wire(c)
    }
}

impl From<LocalErrorCode> for Code {
    fn from(c: LocalErrorCode) -> Self {
        Self::Local(c)
    }
}

impl Code {
    /// The code for a capture a browser refused, from the `DOMException`'s name (the names of
    /// the Media Capture specs, with Chrome's older aliases).
    pub fn of_capture_failure(source: Source, name: &str) -> Code {
        match name {
            "NotAllowedError" | "SecurityError" | "PermissionDeniedError" => {
                LocalErrorCode::PermissionDenied.into()
            }
            "NotFoundError" | "OverconstrainedError" | "DevicesNotFoundError" => {
                LocalErrorCode::DeviceNotFound.into()
            }
            "NotReadableError" | "TrackStartError" | "AbortError" => {
                LocalErrorCode::DeviceInUse.into()
            }
            // Firefox (InvalidStateError) and Safari (InvalidAccessError) refuse screen capture
            // outside a user gesture.
            "InvalidStateError" | "InvalidAccessError" if source == Source::Screen => {
                LocalErrorCode::UserGestureRequired.into()
            }
            // Constraints the browser cannot parse.
            "TypeError" => ErrorCode::BadRequest.into(),
            _ => ErrorCode::Internal.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_failures_get_local_codes_by_exception_name() {
        let code = |source, name| Code::of_capture_failure(source, name).as_str();
        assert_eq!(code(Source::Camera, "NotAllowedError"), "permission_denied");
        assert_eq!(code(Source::Screen, "NotAllowedError"), "permission_denied");
        assert_eq!(code(Source::Camera, "NotFoundError"), "device_not_found");
        assert_eq!(
            code(Source::Camera, "OverconstrainedError"),
            "device_not_found"
        );
        assert_eq!(
            code(Source::Microphone, "NotReadableError"),
            "device_in_use"
        );
        assert_eq!(
            code(Source::Screen, "InvalidStateError"),
            "user_gesture_required"
        );
        assert_eq!(
            code(Source::Screen, "InvalidAccessError"),
            "user_gesture_required"
        );
        // Only screen capture asks for a gesture; elsewhere it is not a gesture problem.
        assert_eq!(code(Source::Camera, "InvalidStateError"), "internal");
        assert_eq!(code(Source::Camera, "TypeError"), "bad_request");
    }

    #[test]
    fn local_strings_never_collide_with_wire_strings() {
        for local in LocalErrorCode::ALL {
            assert!(
                ErrorCode::from_wire(local.as_str()).is_none(),
                "{} is also a wire code",
                local.as_str()
            );
        }
    }
}
