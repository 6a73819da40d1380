//! Which container and codecs to record in: the first entry of a fixed preference list that
//! the platform supports.

use super::RecorderError;

/// A recording format: the MIME type handed to `MediaRecorder` and what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordingFormat {
    /// The MIME type, exactly as handed to the platform, e.g. `video/webm;codecs=vp9,opus`.
    pub mime: &'static str,
    /// The container: `webm` or `mp4`.
    pub container: &'static str,
    /// The video codec: `vp9`, `vp8` or `h264`.
    pub video_codec: &'static str,
    /// The audio codec: `opus` or `aac`.
    pub audio_codec: &'static str,
}

/// The formats this SDK records in, best first. The driver asks the platform about each
/// `mime` (`MediaRecorder.isTypeSupported(mime)` in a browser) and passes the supported ones to
/// [`Recorder::start`](super::Recorder::start); the first supported entry of this list wins.
///
/// 1. `video/webm;codecs=vp9,opus`: Chromium browsers; the best quality per byte.
/// 2. `video/webm;codecs=vp8,opus`: Firefox, and older Chromium.
/// 3. `video/mp4;codecs=avc1,mp4a.40.2`: Safari (which records no WebM) with the codecs named.
/// 4. `video/mp4`: Safari versions that only accept the bare type; Safari records H.264 video
///    and AAC audio in it.
pub const FORMATS: [RecordingFormat; 4] = [
    RecordingFormat {
        mime: "video/webm;codecs=vp9,opus",
        container: "webm",
        video_codec: "vp9",
        audio_codec: "opus",
    },
    RecordingFormat {
        mime: "video/webm;codecs=vp8,opus",
        container: "webm",
        video_codec: "vp8",
        audio_codec: "opus",
    },
    RecordingFormat {
        mime: "video/mp4;codecs=avc1,mp4a.40.2",
        container: "mp4",
        video_codec: "h264",
        audio_codec: "aac",
    },
    RecordingFormat {
        mime: "video/mp4",
        container: "mp4",
        video_codec: "h264",
        audio_codec: "aac",
    },
];

/// The first of [`FORMATS`] whose `mime` is in `supported` (compared exactly, as the driver
/// asked the platform about these very strings); other entries of `supported` are ignored.
pub fn choose_format<S: AsRef<str>>(
    supported: &[S],
) -> Result<&'static RecordingFormat, RecorderError> {
    FORMATS
        .iter()
        .find(|f| supported.iter().any(|s| s.as_ref() == f.mime))
        .ok_or(RecorderError::NoSupportedFormat)
}
