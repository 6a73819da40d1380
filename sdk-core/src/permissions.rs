//! Roles and capabilities: what a member may do.
//!
//! The server enforces with [`authorize`]; clients call the same code to decide what to offer
//! (no screen-share button for a guest in a room without `screen`), so the two never disagree.
//!
//! ```
//! use assistrtc_core::permissions::{Capabilities, Capability};
//! use assistrtc_core::protocol::{Permissions, RecordingPolicy, Role};
//!
//! let room = Permissions { screen: true, recording: RecordingPolicy::Cloud };
//! let guest = Capabilities::for_role(Role::Guest, room);
//! assert!(guest.contains(Capability::ShareScreen));
//! assert!(!guest.contains(Capability::Annotate));
//! ```

use std::fmt;

use crate::json::{FromJson, Json, ToJson, wire_enum};
use crate::protocol::{
    ClientMessage, ErrorCode, Permissions, RecordingMode, RecordingPolicy, Role, Source,
};

wire_enum! {
    /// One thing a member may do.
    ///
    /// A list of capabilities ([`Capabilities`]) is open on the wire: names this version does
    /// not know (a newer server's) are dropped when decoding, so an older client still joins.
    /// A single capability decoded on its own is strict.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Capability {
        /// Send a camera track.
        PublishCamera = "publish_camera",
        /// Send a microphone track.
        PublishMicrophone = "publish_microphone",
        /// Send a screen capture.
        ShareScreen = "share_screen",
        /// Draw assist annotations and drive the script.
        Annotate = "annotate",
        /// Record in the member's own client.
        RecordLocal = "record_local",
        /// Start a server-side recording.
        RecordCloud = "record_cloud",
        /// Download recordings.
        Download = "download",
    }
}

impl Capability {
    /// Every capability, in bit order.
    pub const ALL: [Capability; 7] = [
        Capability::PublishCamera,
        Capability::PublishMicrophone,
        Capability::ShareScreen,
        Capability::Annotate,
        Capability::RecordLocal,
        Capability::RecordCloud,
        Capability::Download,
    ];

    fn bit(self) -> u16 {
        1 << (self as u16)
    }

    /// The capability needed to publish `source`.
    pub fn to_publish(source: Source) -> Self {
        match source {
            Source::Camera => Self::PublishCamera,
            Source::Microphone => Self::PublishMicrophone,
            Source::Screen => Self::ShareScreen,
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of capabilities; on the wire a list of names, e.g. `["publish_camera","annotate"]`.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Capabilities(u16);

impl Capabilities {
    /// No capabilities.
    pub const NONE: Capabilities = Capabilities(0);

    /// What `role` may do in a room with `permissions`.
    ///
    /// - host: camera, microphone, annotate; screen if the room allows it; local recording and
    ///   download if the room records; cloud recording if the room records in the cloud.
    /// - guest: camera, microphone; screen if the room allows it.
    /// - observer: nothing but watching.
    pub fn for_role(role: Role, permissions: Permissions) -> Self {
        let mut caps = Self::NONE;
        match role {
            Role::Host => {
                caps.insert(Capability::PublishCamera);
                caps.insert(Capability::PublishMicrophone);
                caps.insert(Capability::Annotate);
                if permissions.screen {
                    caps.insert(Capability::ShareScreen);
                }
                if permissions.recording != RecordingPolicy::None {
                    caps.insert(Capability::RecordLocal);
                    caps.insert(Capability::Download);
                }
                if permissions.recording == RecordingPolicy::Cloud {
                    caps.insert(Capability::RecordCloud);
                }
            }
            Role::Guest => {
                caps.insert(Capability::PublishCamera);
                caps.insert(Capability::PublishMicrophone);
                if permissions.screen {
                    caps.insert(Capability::ShareScreen);
                }
            }
            Role::Observer => {}
        }
        caps
    }

    /// Adds `cap`.
    pub fn insert(&mut self, cap: Capability) {
        self.0 |= cap.bit();
    }

    /// Removes `cap`.
    pub fn remove(&mut self, cap: Capability) {
        self.0 &= !cap.bit();
    }

    /// Whether `cap` is in the set.
    pub fn contains(self, cap: Capability) -> bool {
        self.0 & cap.bit() != 0
    }

    /// The capabilities in the set, in bit order.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }

    /// `Ok` if `cap` is in the set, else [`PermissionError::Missing`].
    pub fn require(self, cap: Capability) -> Result<(), PermissionError> {
        if self.contains(cap) {
            Ok(())
        } else {
            Err(PermissionError::Missing(cap))
        }
    }
}

impl FromIterator<Capability> for Capabilities {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        let mut caps = Self::NONE;
        for cap in iter {
            caps.insert(cap);
        }
        caps
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl ToJson for Capabilities {
    fn write_json(&self, out: &mut String) {
        self.iter().collect::<Vec<_>>().write_json(out);
    }
}

impl FromJson for Capabilities {
    fn from_json(value: Json) -> Result<Self, String> {
        // Names, not capabilities: a newer server's capability is dropped, not an error.
        Ok(Vec::<String>::from_json(value)?
            .iter()
            .map(String::as_str)
            .collect())
    }
}

impl<'a> FromIterator<&'a str> for Capabilities {
    /// The capabilities named, skipping names this version does not know.
    fn from_iter<I: IntoIterator<Item = &'a str>>(names: I) -> Self {
        names
            .into_iter()
            .filter_map(Capability::from_wire)
            .collect()
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Capabilities {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(Capability::as_str))
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Capabilities {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        Ok(names.iter().map(String::as_str).collect())
    }
}

/// Why an action is not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
#[non_exhaustive]
pub enum PermissionError {
    /// The member lacks a capability.
    Missing(Capability),
    /// Only a host may do this.
    HostOnly,
}

impl PermissionError {
    /// The wire error code: always `forbidden`.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::Forbidden
    }

    /// What was refused (also the `Display` text), e.g. ``missing capability `annotate` ``.
    /// Built without `core::fmt`, so a browser build that reports it carries no formatting
    /// code. [`user_message`](Self::user_message) words it for an end user.
    pub fn message(&self) -> String {
        match self {
            Self::Missing(cap) => ["missing capability `", cap.as_str(), "`"].concat(),
            Self::HostOnly => "only a host may do this".into(),
        }
    }

    /// A message fit to show a user (built without `core::fmt`, like [`message`](Self::message)).
    pub fn user_message(&self) -> String {
        match self {
            Self::Missing(Capability::ShareScreen) => {
                "screen sharing is not allowed for this member".into()
            }
            Self::Missing(Capability::PublishCamera) => "this member may not send camera".into(),
            Self::Missing(Capability::PublishMicrophone) => {
                "this member may not send microphone".into()
            }
            Self::Missing(cap) => {
                ["this member lacks the `", cap.as_str(), "` capability"].concat()
            }
            Self::HostOnly => self.message(),
        }
    }
}

/// Decides whether a member with `role` and `caps` may send `msg`.
///
/// Signaling that only sets up the member's own receive path (offer, answer, candidate, ping,
/// leave, consent) is always allowed: an observer must negotiate to watch.
pub fn authorize(
    role: Role,
    caps: Capabilities,
    msg: &ClientMessage,
) -> Result<(), PermissionError> {
    match msg {
        ClientMessage::Publish { source, .. } => caps.require(Capability::to_publish(*source)),
        ClientMessage::Recording { mode, .. } => caps.require(match mode {
            RecordingMode::Local => Capability::RecordLocal,
            RecordingMode::Cloud => Capability::RecordCloud,
        }),
        ClientMessage::QueueNext if role != Role::Host => Err(PermissionError::HostOnly),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{RecordingAction, RecordingPolicy};

    fn room(screen: bool, recording: RecordingPolicy) -> Permissions {
        Permissions { screen, recording }
    }

    #[test]
    fn observer_can_do_nothing_but_watch() {
        let caps = Capabilities::for_role(Role::Observer, room(true, RecordingPolicy::Cloud));
        assert_eq!(caps, Capabilities::NONE);
        for source in Source::ALL {
            let msg = ClientMessage::Publish {
                source,
                stream: None,
            };
            assert!(authorize(Role::Observer, caps, &msg).is_err());
        }
        let offer = ClientMessage::Offer {
            to: None,
            sdp: "v=0".into(),
        };
        assert!(authorize(Role::Observer, caps, &offer).is_ok());
    }

    #[test]
    fn screen_follows_room_permission() {
        let without = Capabilities::for_role(Role::Guest, room(false, RecordingPolicy::None));
        let msg = ClientMessage::Publish {
            source: Source::Screen,
            stream: None,
        };
        assert_eq!(
            authorize(Role::Guest, without, &msg),
            Err(PermissionError::Missing(Capability::ShareScreen))
        );
        let with = Capabilities::for_role(Role::Guest, room(true, RecordingPolicy::None));
        assert!(authorize(Role::Guest, with, &msg).is_ok());
    }

    #[test]
    fn recording_follows_policy_and_role() {
        let cloud = room(false, RecordingPolicy::Cloud);
        let local = room(false, RecordingPolicy::Local);
        let start = |mode| ClientMessage::Recording {
            action: RecordingAction::Start,
            mode,
        };
        let host_cloud = Capabilities::for_role(Role::Host, cloud);
        assert!(authorize(Role::Host, host_cloud, &start(RecordingMode::Cloud)).is_ok());
        let host_local = Capabilities::for_role(Role::Host, local);
        assert!(authorize(Role::Host, host_local, &start(RecordingMode::Local)).is_ok());
        assert!(authorize(Role::Host, host_local, &start(RecordingMode::Cloud)).is_err());
        let guest = Capabilities::for_role(Role::Guest, cloud);
        assert!(authorize(Role::Guest, guest, &start(RecordingMode::Local)).is_err());
        assert!(!guest.contains(Capability::Annotate));
        assert!(host_cloud.contains(Capability::Annotate));
    }

    #[test]
    fn queue_next_is_host_only() {
        let caps = Capabilities::for_role(Role::Guest, Permissions::default());
        assert_eq!(
            authorize(Role::Guest, caps, &ClientMessage::QueueNext),
            Err(PermissionError::HostOnly)
        );
    }

    #[test]
    fn capabilities_round_trip_as_names() {
        let caps: Capabilities = [Capability::ShareScreen, Capability::Annotate]
            .into_iter()
            .collect();
        use crate::json;
        let text = json::to_string(&caps);
        assert_eq!(text, r#"["share_screen","annotate"]"#);
        let parse = |t: &str| Capabilities::from_json(json::parse(t).unwrap());
        assert_eq!(parse(&text).unwrap(), caps);
        // A newer server's capability is dropped; a malformed list is still an error.
        assert_eq!(parse(r#"["fly","annotate","share_screen"]"#).unwrap(), caps);
        assert_eq!(
            parse(r#"["annotate",1]"#).unwrap_err(),
            "expected a string, found a number"
        );
        assert!(Capability::from_wire("fly").is_none());
    }
}
