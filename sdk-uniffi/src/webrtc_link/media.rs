//! Local media: one [`LocalTrack`] per published source, fed with encoded frames and fanned
//! out to every link sending it.
//!
//! A webrtc-rs 0.21 local track binds to one connection only, so each link that adds the
//! source gets its own `TrackLocalStaticSample` (same stream and track ids, its own SSRC and
//! packetizer); [`LocalTrack::write_frame`] writes the frame to each of them.

use std::hash::{BuildHasher, RandomState};
use std::io::Cursor;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assistrtc_core::protocol::Source;
use bytes::Bytes;
use rtc::media::Sample;
use rtc::media::io::ivf_reader::IVFReader;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::task::JoinHandle;
use webrtc::error::Error;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::rtp_transceiver::RtpSender;

use super::lock;

/// A published local source. Cheap to clone; clones feed the same track.
#[derive(Clone)]
pub struct LocalTrack {
    inner: Arc<Inner>,
}

struct Inner {
    source: Source,
    stream_id: String,
    track_id: String,
    kind: RtpCodecKind,
    codec: RTCRtpCodec,
    sinks: Mutex<Vec<Arc<Sink>>>,
}

/// The source's track on one link.
pub(crate) struct Sink {
    track: Arc<TrackLocalStaticSample>,
    ssrc: u32,
    sender: Mutex<Option<Arc<dyn RtpSender>>>,
}

impl Sink {
    /// The sender the link added the track with.
    pub(crate) fn set_sender(&self, sender: Arc<dyn RtpSender>) {
        *lock(&self.sender) = Some(sender);
    }

    async fn write(&self, sample: &Sample) -> Result<(), Error> {
        let Some(sender) = lock(&self.sender).clone() else {
            return Ok(());
        };
        // The negotiated payload type; none before negotiation, when nothing can be sent.
        let Some(payload_type) = sender
            .get_parameters()
            .await?
            .rtp_parameters
            .codecs
            .first()
            .map(|c| c.payload_type)
        else {
            return Ok(());
        };
        match self
            .track
            .sample_writer(self.ssrc, payload_type)
            .write_sample(sample)
            .await
        {
            // Not negotiated yet (or no longer): the frame is dropped, as a browser would.
            Err(Error::ErrBindFailed) => Ok(()),
            other => other,
        }
    }
}

fn random_u32() -> u32 {
    RandomState::new().hash_one(Instant::now()) as u32
}

impl LocalTrack {
    pub(crate) fn new(source: Source, stream_id: &str) -> Self {
        let (kind, codec) = match source {
            Source::Microphone => (
                RtpCodecKind::Audio,
                RTCRtpCodec {
                    mime_type: MIME_TYPE_OPUS.to_owned(),
                    clock_rate: 48000,
                    channels: 2,
                    sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
                    rtcp_feedback: vec![],
                },
            ),
            _ => (
                RtpCodecKind::Video,
                RTCRtpCodec {
                    mime_type: MIME_TYPE_VP8.to_owned(),
                    clock_rate: 90000,
                    channels: 0,
                    sdp_fmtp_line: String::new(),
                    rtcp_feedback: vec![],
                },
            ),
        };
        Self {
            inner: Arc::new(Inner {
                source,
                stream_id: stream_id.to_owned(),
                track_id: format!("{}-{:08x}", source.as_str(), random_u32()),
                kind,
                codec,
                sinks: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The source it carries.
    pub fn source(&self) -> Source {
        self.inner.source
    }

    /// The media stream id (the first id of the remote's `a=msid`).
    pub fn stream_id(&self) -> &str {
        &self.inner.stream_id
    }

    /// The track id (the second id of the remote's `a=msid`).
    pub fn track_id(&self) -> &str {
        &self.inner.track_id
    }

    /// Sends one encoded frame (VP8 for video, Opus for audio) lasting `duration` on every
    /// link that sends this source. Links not negotiated yet drop it.
    pub async fn write_frame(&self, data: Bytes, duration: Duration) -> Result<(), String> {
        let sinks = lock(&self.inner.sinks).clone();
        if sinks.is_empty() {
            return Ok(());
        }
        let sample = Sample {
            data,
            duration,
            ..Sample::new(Instant::now())
        };
        let mut failure = None;
        for sink in sinks {
            if let Err(e) = sink.write(&sample).await {
                failure = Some(format!(
                    "{} frame not sent: {e}",
                    self.inner.source.as_str()
                ));
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// A new track of this source for one link; it receives frames once attached.
    pub(crate) fn new_sink(&self) -> Result<Arc<Sink>, String> {
        let ssrc = random_u32();
        let track = MediaStreamTrack::new(
            self.inner.stream_id.clone(),
            self.inner.track_id.clone(),
            self.inner.track_id.clone(),
            self.inner.kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: self.inner.codec.clone(),
                ..Default::default()
            }],
        );
        let track = TrackLocalStaticSample::new(Instant::now(), track).map_err(|e| {
            format!(
                "cannot create the {} track: {e}",
                self.inner.source.as_str()
            )
        })?;
        Ok(Arc::new(Sink {
            track: Arc::new(track),
            ssrc,
            sender: Mutex::new(None),
        }))
    }

    /// The link's track, to add to its connection.
    pub(crate) fn sink_track(sink: &Sink) -> Arc<TrackLocalStaticSample> {
        sink.track.clone()
    }

    pub(crate) fn attach(&self, sink: Arc<Sink>) {
        lock(&self.inner.sinks).push(sink);
    }

    pub(crate) fn detach(&self, sink: &Arc<Sink>) {
        lock(&self.inner.sinks).retain(|s| !Arc::ptr_eq(s, sink));
    }
}

/// A test pattern playing into a [`LocalTrack`]; dropping it stops the playback.
pub struct Playback {
    task: JoinHandle<()>,
}

impl Playback {
    /// Whether the playback ended by itself (the file ended and it does not loop).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for Playback {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Plays the VP8 frames of the IVF file at `path` into `track` at the file's frame rate,
/// from the start again at its end if `looping`, until the returned [`Playback`] is dropped.
/// The file is read now; playback runs on the current tokio runtime.
pub fn play_ivf(track: LocalTrack, path: &Path, looping: bool) -> Result<Playback, String> {
    let data = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let (mut reader, header) = IVFReader::new(Cursor::new(data))
        .map_err(|e| format!("{} is not an IVF file: {e}", path.display()))?;
    if &header.four_cc != b"VP80" {
        return Err(format!("{} is not VP8", path.display()));
    }
    let tick = |units: u64| {
        Duration::from_secs_f64(
            units as f64 * f64::from(header.timebase_numerator)
                / f64::from(header.timebase_denominator.max(1)),
        )
    };
    let mut frames: Vec<(Bytes, u64)> = Vec::new();
    while let Ok((frame, frame_header)) = reader.parse_next_frame() {
        frames.push((frame.freeze(), frame_header.timestamp));
    }
    if frames.is_empty() {
        return Err(format!("{} has no frames", path.display()));
    }
    // Each frame lasts until the next one starts; the last one as long as the one before.
    let mut timed: Vec<(Bytes, Duration)> = Vec::with_capacity(frames.len());
    for i in 0..frames.len() {
        let next = frames.get(i + 1).map(|f| f.1);
        let previous = i.checked_sub(1).map(|p| frames[p].1);
        let units = match (next, previous) {
            (Some(next), _) => next.saturating_sub(frames[i].1),
            (None, Some(previous)) => frames[i].1.saturating_sub(previous),
            (None, None) => 1,
        };
        timed.push((frames[i].0.clone(), tick(units.max(1))));
    }
    let task = tokio::spawn(async move {
        let mut due = tokio::time::Instant::now();
        loop {
            for (frame, duration) in &timed {
                if let Err(e) = track.write_frame(frame.clone(), *duration).await {
                    tracing::debug!("test pattern: {e}");
                }
                due += *duration;
                tokio::time::sleep_until(due).await;
            }
            if !looping {
                break;
            }
        }
    });
    Ok(Playback { task })
}
