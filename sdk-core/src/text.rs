//! Text building without `core::fmt`.
//!
//! The browser build ships this crate as WebAssembly, where one `format!`, `write!` or
//! `to_string()` on a `Display` type pulls in the formatting machinery (argument tables,
//! padding, integer formatting), kilobytes for what is a concatenation. So text on the paths a
//! driver reaches (error messages, ids) is joined from pieces (`[a, b, c].concat()`,
//! `push_str`), with integers written by [`push_decimal`]. The errors' `Display` impls stay, for
//! native callers, and show the same text as their `message()`.

/// Appends `n` in decimal.
pub(crate) fn push_decimal(out: &mut String, n: u64) {
    // Higher digits first, by recursion (at most 20 deep): no buffer to index, so no bounds
    // checks and their panics.
    if n >= 10 {
        push_decimal(out, n / 10);
    }
    out.push(char::from(b'0' + (n % 10) as u8));
}

/// `n` in decimal.
pub(crate) fn decimal(n: u64) -> String {
    let mut out = String::new();
    push_decimal(&mut out, n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_matches_display() {
        for n in [0, 9, 10, 99, 100, 4096, u64::from(u32::MAX), u64::MAX] {
            assert_eq!(decimal(n), n.to_string());
        }
        assert_eq!(decimal(0), "0");
        assert_eq!(decimal(9), "9");
        assert_eq!(decimal(10), "10");
        assert_eq!(decimal(u64::MAX), "18446744073709551615");
    }

    /// The messages with fields read as the `format!` strings they replaced, through
    /// `message()` and `Display` alike.
    #[test]
    fn messages_with_fields_keep_their_text() {
        use crate::assist::{AssistError, MAX_MESSAGE_BYTES, MAX_SHAPES};
        use crate::call::CallError;
        use crate::consent::ConsentError;
        use crate::json::JsonError;
        use crate::permissions::{Capability, PermissionError};
        use crate::protocol::{MAX_FRAME_BYTES, MemberId, ProtocolError};
        use crate::session::{EndReason, LinkId, LinkTarget, MAX_PENDING_OUTPUTS, SessionError};

        fn same(message: String, display: String, expected: String) {
            assert_eq!(message, expected);
            assert_eq!(display, expected);
        }
        macro_rules! check {
            ($e:expr, $($fmt:tt)+) => {{
                let e = $e;
                same(e.message(), e.to_string(), format!($($fmt)+));
            }};
        }

        let agent = MemberId::new("agent_1").unwrap();
        check!(
            SessionError::OutputNotDrained,
            "{MAX_PENDING_OUTPUTS} outputs are waiting: drain poll_output after every input"
        );
        check!(
            SessionError::UnknownPeer(agent.clone()),
            "no peer link to member agent_1"
        );
        check!(
            SessionError::Forbidden(PermissionError::Missing(Capability::Annotate)),
            "missing capability `annotate`"
        );
        check!(
            CallError::Session(SessionError::Consent(ConsentError::RecordingNotConsented)),
            "the member has not consented to recording"
        );
        check!(
            AssistError::TooLong {
                field: "text",
                max: 200
            },
            "`text` must be 1-200 bytes"
        );
        check!(
            CallError::Assist(AssistError::Oversize { size: 4000 }),
            "assist message of 4000 bytes exceeds {MAX_MESSAGE_BYTES}"
        );
        check!(
            AssistError::TooManyShapes,
            "too many live shapes (max {MAX_SHAPES})"
        );
        check!(
            AssistError::BadColor("red".into()),
            "color \"red\" is not #rrggbb"
        );
        check!(
            ProtocolError::FrameTooLarge { size: 70000 },
            "frame of 70000 bytes exceeds the {MAX_FRAME_BYTES} byte limit"
        );
        check!(
            ProtocolError::Invalid {
                field: "sdp",
                reason: "must start with `v=`".into()
            },
            "field `sdp` must start with `v=`"
        );
        check!(
            JsonError::DuplicateKey {
                offset: 12,
                key: "type".into()
            },
            "duplicate key \"type\" at byte 12"
        );
        check!(
            EndReason::ReconnectFailed { attempts: 7 },
            "reconnecting failed after 7 attempts"
        );
        check!(
            EndReason::Rejected {
                code: crate::protocol::ErrorCode::RoomFull,
                message: "full".into()
            },
            "full"
        );
        let link = LinkId {
            target: LinkTarget::Member(agent),
            generation: 42,
        };
        assert_eq!(link.to_string(), "agent_1#42");
        assert_eq!(
            PermissionError::Missing(Capability::Download).user_message(),
            "this member lacks the `download` capability"
        );
    }

    #[test]
    fn push_decimal_appends() {
        let mut out = String::from("s");
        push_decimal(&mut out, 12);
        assert_eq!(out, "s12");
    }
}
