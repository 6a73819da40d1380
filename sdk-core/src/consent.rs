//! What a member must agree to before media flows.
//!
//! - The call notice must be acknowledged before any source can be turned on.
//! - Camera, microphone and screen start off; each is turned on by the user, one by one.
//! - Being recorded needs its own consent, which can be withdrawn at any time.
//!
//! ```
//! use assistrtc_core::consent::{Consent, ConsentError};
//! use assistrtc_core::protocol::Source;
//!
//! let mut consent = Consent::default();
//! assert_eq!(consent.turn_on(Source::Camera), Err(ConsentError::NoticeNotAcknowledged));
//! consent.acknowledge_notice();
//! consent.turn_on(Source::Camera).unwrap();
//! assert!(consent.is_on(Source::Camera) && !consent.is_on(Source::Screen));
//! assert_eq!(consent.may_record(), Err(ConsentError::RecordingNotConsented));
//! ```

use crate::protocol::{ErrorCode, Source};

/// Why media or recording may not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
#[non_exhaustive]
pub enum ConsentError {
    /// The call notice has not been acknowledged.
    NoticeNotAcknowledged,
    /// The member has not consented to being recorded (or withdrew consent).
    RecordingNotConsented,
}

impl ConsentError {
    /// What is missing (also the `Display` text), e.g. `the call notice has not been
    /// acknowledged`. Built without `core::fmt`, so a browser build that reports it carries no
    /// formatting code.
    pub fn message(&self) -> String {
        match self {
            Self::NoticeNotAcknowledged => "the call notice has not been acknowledged",
            Self::RecordingNotConsented => "the member has not consented to recording",
        }
        .into()
    }

    /// The wire error code: always `forbidden`.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::Forbidden
    }
}

/// One member's consent state. Everything starts off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consent {
    notice_acknowledged: bool,
    recording: bool,
    on: [bool; 3],
}

fn index(source: Source) -> usize {
    match source {
        Source::Camera => 0,
        Source::Microphone => 1,
        Source::Screen => 2,
    }
}

impl Consent {
    /// Records that the member read and accepted the call notice.
    pub fn acknowledge_notice(&mut self) {
        self.notice_acknowledged = true;
    }

    /// Whether the notice was acknowledged.
    pub fn notice_acknowledged(&self) -> bool {
        self.notice_acknowledged
    }

    /// Turns a source on; refused until the notice is acknowledged.
    pub fn turn_on(&mut self, source: Source) -> Result<(), ConsentError> {
        self.may_publish()?;
        self.on[index(source)] = true;
        Ok(())
    }

    /// Turns a source off. Always allowed.
    pub fn turn_off(&mut self, source: Source) {
        self.on[index(source)] = false;
    }

    /// Whether the user turned `source` on.
    pub fn is_on(&self, source: Source) -> bool {
        self.on[index(source)]
    }

    /// `Ok` when media may be published at all.
    pub fn may_publish(&self) -> Result<(), ConsentError> {
        if self.notice_acknowledged {
            Ok(())
        } else {
            Err(ConsentError::NoticeNotAcknowledged)
        }
    }

    /// Grants (`true`) or withdraws (`false`) consent to being recorded.
    pub fn set_recording(&mut self, granted: bool) {
        self.recording = granted;
    }

    /// Whether recording consent is currently given.
    pub fn recording_granted(&self) -> bool {
        self.recording
    }

    /// `Ok` when this member may be recorded.
    pub fn may_record(&self) -> Result<(), ConsentError> {
        if self.recording {
            Ok(())
        } else {
            Err(ConsentError::RecordingNotConsented)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_start_off_and_need_the_notice() {
        let mut c = Consent::default();
        for s in Source::ALL {
            assert!(!c.is_on(s));
            assert_eq!(c.turn_on(s), Err(ConsentError::NoticeNotAcknowledged));
        }
        c.acknowledge_notice();
        c.turn_on(Source::Screen).unwrap();
        assert!(c.is_on(Source::Screen));
        assert!(!c.is_on(Source::Camera));
        c.turn_off(Source::Screen);
        assert!(!c.is_on(Source::Screen));
    }

    #[test]
    fn recording_consent_is_separate_and_withdrawable() {
        let mut c = Consent::default();
        c.acknowledge_notice();
        assert_eq!(c.may_record(), Err(ConsentError::RecordingNotConsented));
        c.set_recording(true);
        assert!(c.may_record().is_ok());
        c.set_recording(false);
        assert_eq!(c.may_record(), Err(ConsentError::RecordingNotConsented));
    }
}
