//! A call built without the `recording` feature: it records nothing and uploads nothing, so a
//! driver's recorder inputs are ignored and none of the recording code is in the build.

use super::{Call, CallError};
use crate::Millis;
use crate::protocol::MemberId;
use crate::recorder::{RecorderInput, UploadInput};
use crate::session::Event;

impl Call {
    pub(super) fn on_recorder_input(&mut self, _: RecorderInput) -> Result<(), CallError> {
        Ok(())
    }
    pub(super) fn on_upload_input(&mut self, _: &str, _: UploadInput) -> Result<(), CallError> {
        Ok(())
    }
    pub(super) fn observe_presence(&mut self, _: &Event) {}
    pub(super) fn own_consent_changed(&mut self, _: bool) {}
    pub(super) fn remote_source_added(&mut self, _: &MemberId, _: crate::protocol::Source) {}
    pub(super) fn own_source(&mut self, _: crate::protocol::Source, _: bool) {}
    pub(super) fn record_assist(&mut self, _: &MemberId, _: &str) {}
    pub(super) fn drain_recorder(&mut self) {}
    pub(super) fn feed_live_upload(&mut self) {}
    pub(super) fn drain_uploads(&mut self) {}
    pub(super) fn recorder_timeout(&self) -> Option<Millis> {
        None
    }
    pub(super) fn recorder_handle_timeout(&mut self, _: Millis) {}
    pub(super) fn uploads_timeout(&self) -> Option<Millis> {
        None
    }
    pub(super) fn uploads_handle_timeout(&mut self, _: Millis) {}
}
