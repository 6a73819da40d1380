//! Pre-call diagnostics: measurements in, one [`DiagnosticReport`] out, the same on every
//! platform. Drivers measure (devices, network paths, the probe of [`probe`]); this module
//! judges: a verdict (good / fair / poor), stable [`Reason`] codes for why, [`Advice`] codes an
//! app localises, a MOS estimate, and a partial report when a step could not finish.
//!
//! ```
//! use assistrtc_core::diagnostics::{assess, Measurements, NetworkStats, Reason, Verdict};
//!
//! let mut m = Measurements::default();
//! m.websocket_ms = Some(40);
//! m.network = Some(NetworkStats { rtt_ms: 180.0, jitter_ms: 8.0, loss_pct: 0.0 });
//! m.upload_kbps = Some(2_500.0);
//! let report = assess(&m);
//! assert_eq!(report.verdict, Verdict::Fair);
//! assert_eq!(report.reasons, vec![Reason::HighRtt]);
//! ```
//!
//! # Thresholds
//! Each measurement is graded on its own; the verdict is the worst grade. "Fair" means the call
//! works with visible or audible compromises; "poor" means it will likely fail or be unusable.
//!
//! | measurement | fair from | poor from | reason |
//! |---|---|---|---|
//! | median round-trip time | [`RTT_FAIR_MS`] | [`RTT_POOR_MS`] | `high_rtt` |
//! | average jitter | [`JITTER_FAIR_MS`] | [`JITTER_POOR_MS`] | `high_jitter` |
//! | packet loss | [`LOSS_FAIR_PCT`] | [`LOSS_POOR_PCT`] | `packet_loss` |
//! | upload bandwidth | below [`UPLOAD_GOOD_KBPS`] | below [`UPLOAD_FAIR_KBPS`] | `low_upload` |
//! | download bandwidth | below [`DOWNLOAD_GOOD_KBPS`] | below [`DOWNLOAD_FAIR_KBPS`] | `low_download` |
//! | direct UDP blocked, a relay works | always | — | `udp_blocked` |
//! | no path at all (UDP, TCP, relays) | — | always | `no_media_path` |
//! | signaling server not reached | — | always | `server_unreachable` |
//! | camera black / frozen / below 640×360 or 15 fps | always | — | `camera_*` |
//! | camera or microphone refused or missing | — | always | `*_unavailable` |
//! | microphone silent for the whole check | always | — | `microphone_silent` |
//! | speaker tone not confirmed | always | — | `speaker_unconfirmed` |
//! | screen sharing refused | always | — | `screen_share_denied` |
//! | a step did not finish | always | — | `incomplete` |
//!
//! The bandwidth figures follow what a call needs: 1.1 Mbps up carries a 720p camera (Daily's
//! "good" line), 400 kbps a small camera or a screen at low frame rate.

pub mod check;
pub mod devices;
pub mod probe;
#[cfg(test)]
mod tests;

use crate::json::{ObjectWriter, ToJson};
use crate::local_error::LocalErrorCode;

/// Median RTT (ms) from which the network is only fair.
pub const RTT_FAIR_MS: f64 = 120.0;
/// Median RTT (ms) from which the network is poor.
pub const RTT_POOR_MS: f64 = 250.0;
/// Average jitter (ms) from which the network is only fair.
pub const JITTER_FAIR_MS: f64 = 20.0;
/// Average jitter (ms) from which the network is poor.
pub const JITTER_POOR_MS: f64 = 60.0;
/// Packet loss (%) from which the network is only fair.
pub const LOSS_FAIR_PCT: f64 = 1.0;
/// Packet loss (%) from which the network is poor.
pub const LOSS_POOR_PCT: f64 = 5.0;
/// Upload (kbps) needed for a good call.
pub const UPLOAD_GOOD_KBPS: f64 = 1_100.0;
/// Upload (kbps) below which the call is poor.
pub const UPLOAD_FAIR_KBPS: f64 = 400.0;
/// Download (kbps) needed for a good call.
pub const DOWNLOAD_GOOD_KBPS: f64 = 1_100.0;
/// Download (kbps) below which the call is poor.
pub const DOWNLOAD_FAIR_KBPS: f64 = 400.0;
/// Smallest camera frame for a good call.
pub const CAMERA_MIN_WIDTH: u32 = 640;
/// Smallest camera frame height for a good call.
pub const CAMERA_MIN_HEIGHT: u32 = 360;
/// Lowest camera frame rate for a good call.
pub const CAMERA_MIN_FPS: f64 = 15.0;

/// The overall judgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// Everything measured is fine.
    Good,
    /// The call works, with compromises.
    Fair,
    /// The call will likely fail or be unusable.
    Poor,
}

impl Verdict {
    /// `good`, `fair` or `poor`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Good => "good",
            Self::Fair => "fair",
            Self::Poor => "poor",
        }
    }
}

/// How a network path test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PathResult {
    /// Not tested (no TURN configured, or the step did not run).
    #[default]
    NotTested,
    /// Media could flow on it.
    Reachable,
    /// It was tried and failed.
    Unreachable,
}

/// Which ways media could reach the server or a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reachability {
    /// Direct UDP (host or server-reflexive candidates).
    pub udp: PathResult,
    /// Direct TCP.
    pub tcp: PathResult,
    /// Through TURN over UDP.
    pub turn_udp: PathResult,
    /// Through TURN over TLS (or TCP).
    pub turn_tls: PathResult,
}

/// Round-trip time, jitter and loss over the probe.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NetworkStats {
    /// Round-trip time (the median of the sparse train's), ms.
    pub rtt_ms: f64,
    /// Average interarrival jitter, ms.
    pub jitter_ms: f64,
    /// Packets lost, percent.
    pub loss_pct: f64,
}

/// What a camera check saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CameraCheck {
    /// Frames arrived.
    Frames {
        /// Frame width.
        width: u32,
        /// Frame height.
        height: u32,
        /// Frames per second delivered.
        fps: f64,
        /// Every frame was (nearly) black: a covered lens, a privacy shutter.
        black: bool,
        /// The picture did not change.
        frozen: bool,
    },
    /// The platform refused or had no camera.
    Failed(LocalErrorCode),
}

/// What a microphone check heard.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MicrophoneCheck {
    /// Audio arrived; `silent` when no level rose above the noise floor during the check.
    Audio {
        /// Peak level, dBFS.
        peak_dbfs: f64,
        /// Nothing was heard.
        silent: bool,
    },
    /// The platform refused or had no microphone.
    Failed(LocalErrorCode),
}

/// One step of the check, named in a partial report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// The signaling WebSocket.
    Signaling,
    /// Network paths (ICE).
    Network,
    /// The bandwidth probe.
    Bandwidth,
    /// The camera.
    Camera,
    /// The microphone.
    Microphone,
    /// The speaker.
    Speaker,
    /// Screen sharing.
    Screen,
}

impl Step {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signaling => "signaling",
            Self::Network => "network",
            Self::Bandwidth => "bandwidth",
            Self::Camera => "camera",
            Self::Microphone => "microphone",
            Self::Speaker => "speaker",
            Self::Screen => "screen",
        }
    }
}

/// Everything a driver measured; `None` for what it did not measure.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Measurements {
    /// Signaling connected after (ms); `None` with `server_reached == false` means unreachable.
    pub websocket_ms: Option<u64>,
    /// Whether the signaling server was reached at all (`None`: not tested).
    pub server_reached: Option<bool>,
    /// The server answered the check's first request after (ms).
    pub server_ms: Option<u64>,
    /// ICE connected after (ms).
    pub ice_ms: Option<u64>,
    /// DTLS connected after (ms).
    pub dtls_ms: Option<u64>,
    /// First media received after (ms).
    pub first_media_ms: Option<u64>,
    /// Which paths work.
    pub reachability: Reachability,
    /// RTT, jitter, loss.
    pub network: Option<NetworkStats>,
    /// Upload, kbps.
    pub upload_kbps: Option<f64>,
    /// Download, kbps.
    pub download_kbps: Option<f64>,
    /// The upload figure is only a lower bound: the probe could not fill the line in its time
    /// (a long round trip), so it is not judged low.
    pub upload_lower_bound: bool,
    /// The same for the download figure.
    pub download_lower_bound: bool,
    /// The camera.
    pub camera: Option<CameraCheck>,
    /// The microphone.
    pub microphone: Option<MicrophoneCheck>,
    /// Whether the user confirmed hearing the test tone.
    pub speaker_confirmed: Option<bool>,
    /// Screen sharing: `Ok` when allowed, the local code otherwise.
    pub screen: Option<Result<(), LocalErrorCode>>,
    /// Steps that did not finish (timed out or failed): the report is partial.
    pub incomplete: Vec<Step>,
}

/// Why the verdict is not good; stable codes for apps and agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The signaling server could not be reached.
    ServerUnreachable,
    /// No path carried media: UDP, TCP and relays all failed (or no relay is configured).
    NoMediaPath,
    /// Direct UDP is blocked; media must go through a relay (more delay).
    UdpBlocked,
    /// Round-trip time is high.
    HighRtt,
    /// Jitter is high.
    HighJitter,
    /// Packets are lost.
    PacketLoss,
    /// Upload bandwidth is low.
    LowUpload,
    /// Download bandwidth is low.
    LowDownload,
    /// The camera could not be opened.
    CameraUnavailable,
    /// The camera shows only black.
    CameraBlack,
    /// The camera picture does not move.
    CameraFrozen,
    /// The camera delivers a small picture or few frames.
    CameraLowQuality,
    /// The microphone could not be opened.
    MicrophoneUnavailable,
    /// The microphone heard nothing.
    MicrophoneSilent,
    /// The user did not confirm hearing the test tone.
    SpeakerUnconfirmed,
    /// Screen sharing was refused.
    ScreenShareDenied,
    /// A step did not finish; the report is partial.
    Incomplete,
}

impl Reason {
    /// The stable code, e.g. `high_rtt`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ServerUnreachable => "server_unreachable",
            Self::NoMediaPath => "no_media_path",
            Self::UdpBlocked => "udp_blocked",
            Self::HighRtt => "high_rtt",
            Self::HighJitter => "high_jitter",
            Self::PacketLoss => "packet_loss",
            Self::LowUpload => "low_upload",
            Self::LowDownload => "low_download",
            Self::CameraUnavailable => "camera_unavailable",
            Self::CameraBlack => "camera_black",
            Self::CameraFrozen => "camera_frozen",
            Self::CameraLowQuality => "camera_low_quality",
            Self::MicrophoneUnavailable => "microphone_unavailable",
            Self::MicrophoneSilent => "microphone_silent",
            Self::SpeakerUnconfirmed => "speaker_unconfirmed",
            Self::ScreenShareDenied => "screen_share_denied",
            Self::Incomplete => "incomplete",
        }
    }
}

/// What the user can do; stable codes an app turns into localised text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Advice {
    /// Check the internet connection, or try another network.
    CheckConnection,
    /// Allow UDP (ports 3478, 49152–65535) on the firewall, or use another network.
    AllowUdp,
    /// Move closer to the Wi-Fi access point, or use a cable.
    ImproveWifi,
    /// Close other apps or tabs using the network (uploads, streams).
    CloseBandwidthHogs,
    /// Allow the camera in the browser's or system's settings.
    AllowCamera,
    /// Connect a camera, or close the other app using it.
    ConnectCamera,
    /// Uncover the camera lens or open its privacy shutter.
    UncoverCamera,
    /// Allow the microphone in the browser's or system's settings.
    AllowMicrophone,
    /// Unmute the microphone or pick another input.
    CheckMicrophone,
    /// Turn the volume up or pick another output.
    CheckSpeaker,
    /// Allow screen sharing when asked (system settings on macOS).
    AllowScreenShare,
    /// Run the check again.
    RetryCheck,
}

impl Advice {
    /// The stable code, e.g. `allow_camera`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CheckConnection => "check_connection",
            Self::AllowUdp => "allow_udp",
            Self::ImproveWifi => "improve_wifi",
            Self::CloseBandwidthHogs => "close_bandwidth_hogs",
            Self::AllowCamera => "allow_camera",
            Self::ConnectCamera => "connect_camera",
            Self::UncoverCamera => "uncover_camera",
            Self::AllowMicrophone => "allow_microphone",
            Self::CheckMicrophone => "check_microphone",
            Self::CheckSpeaker => "check_speaker",
            Self::AllowScreenShare => "allow_screen_share",
            Self::RetryCheck => "retry_check",
        }
    }
}

/// The judgement of one check.
#[derive(Debug, Clone, PartialEq)]
pub struct DiagnosticReport {
    /// What was measured.
    pub measurements: Measurements,
    /// Mean opinion score estimate for a voice call, 1–4.5 (`None` without network stats).
    pub mos: Option<f64>,
    /// The worst grade of any measurement.
    pub verdict: Verdict,
    /// Why it is not good, worst first, each once.
    pub reasons: Vec<Reason>,
    /// What to do, each once, in the order of the reasons.
    pub advice: Vec<Advice>,
    /// Some step did not finish.
    pub partial: bool,
}

/// Judges `m`. See the module docs for the thresholds.
pub fn assess(m: &Measurements) -> DiagnosticReport {
    let mut findings: Vec<(Verdict, Reason, &[Advice])> = Vec::new();
    let mut find = |grade: Verdict, reason: Reason, advice: &'static [Advice]| {
        if grade != Verdict::Good {
            findings.push((grade, reason, advice));
        }
    };
    if m.server_reached == Some(false) {
        find(
            Verdict::Poor,
            Reason::ServerUnreachable,
            &[Advice::CheckConnection],
        );
    }
    let r = m.reachability;
    let direct = [r.udp, r.tcp];
    let relayed = [r.turn_udp, r.turn_tls];
    let tried = direct
        .iter()
        .chain(&relayed)
        .any(|p| *p != PathResult::NotTested);
    let works = |paths: &[PathResult]| paths.contains(&PathResult::Reachable);
    if tried && !works(&direct) && !works(&relayed) {
        find(
            Verdict::Poor,
            Reason::NoMediaPath,
            &[Advice::AllowUdp, Advice::CheckConnection],
        );
    } else if r.udp == PathResult::Unreachable && r.turn_udp != PathResult::Reachable {
        find(Verdict::Fair, Reason::UdpBlocked, &[Advice::AllowUdp]);
    }
    if let Some(n) = m.network {
        find(
            grade_above(n.rtt_ms, RTT_FAIR_MS, RTT_POOR_MS),
            Reason::HighRtt,
            &[Advice::CheckConnection],
        );
        find(
            grade_above(n.jitter_ms, JITTER_FAIR_MS, JITTER_POOR_MS),
            Reason::HighJitter,
            &[Advice::ImproveWifi],
        );
        find(
            grade_above(n.loss_pct, LOSS_FAIR_PCT, LOSS_POOR_PCT),
            Reason::PacketLoss,
            &[Advice::ImproveWifi],
        );
    }
    if let Some(up) = m.upload_kbps.filter(|_| !m.upload_lower_bound) {
        find(
            grade_below(up, UPLOAD_GOOD_KBPS, UPLOAD_FAIR_KBPS),
            Reason::LowUpload,
            &[Advice::CloseBandwidthHogs],
        );
    }
    if let Some(down) = m.download_kbps.filter(|_| !m.download_lower_bound) {
        find(
            grade_below(down, DOWNLOAD_GOOD_KBPS, DOWNLOAD_FAIR_KBPS),
            Reason::LowDownload,
            &[Advice::CloseBandwidthHogs],
        );
    }
    match m.camera {
        Some(CameraCheck::Failed(code)) => find(
            Verdict::Poor,
            Reason::CameraUnavailable,
            if code == LocalErrorCode::PermissionDenied {
                &[Advice::AllowCamera]
            } else {
                &[Advice::ConnectCamera]
            },
        ),
        Some(CameraCheck::Frames {
            width,
            height,
            fps,
            black,
            frozen,
        }) => {
            if black {
                find(Verdict::Fair, Reason::CameraBlack, &[Advice::UncoverCamera]);
            } else if frozen {
                find(
                    Verdict::Fair,
                    Reason::CameraFrozen,
                    &[Advice::ConnectCamera],
                );
            }
            if width < CAMERA_MIN_WIDTH || height < CAMERA_MIN_HEIGHT || fps < CAMERA_MIN_FPS {
                find(
                    Verdict::Fair,
                    Reason::CameraLowQuality,
                    &[Advice::ConnectCamera],
                );
            }
        }
        None => {}
    }
    match m.microphone {
        Some(MicrophoneCheck::Failed(code)) => find(
            Verdict::Poor,
            Reason::MicrophoneUnavailable,
            if code == LocalErrorCode::PermissionDenied {
                &[Advice::AllowMicrophone]
            } else {
                &[Advice::CheckMicrophone]
            },
        ),
        Some(MicrophoneCheck::Audio { silent: true, .. }) => find(
            Verdict::Fair,
            Reason::MicrophoneSilent,
            &[Advice::CheckMicrophone],
        ),
        _ => {}
    }
    if m.speaker_confirmed == Some(false) {
        find(
            Verdict::Fair,
            Reason::SpeakerUnconfirmed,
            &[Advice::CheckSpeaker],
        );
    }
    if let Some(Err(_)) = m.screen {
        find(
            Verdict::Fair,
            Reason::ScreenShareDenied,
            &[Advice::AllowScreenShare],
        );
    }
    if !m.incomplete.is_empty() {
        find(Verdict::Fair, Reason::Incomplete, &[Advice::RetryCheck]);
    }
    // Worst first, equal grades in the order above (two passes, not a sort: the browser's
    // wasm carries no sort routine for this).
    let findings: Vec<_> = [Verdict::Poor, Verdict::Fair]
        .iter()
        .flat_map(|grade| findings.iter().filter(move |f| f.0 == *grade))
        .copied()
        .collect();
    let verdict = findings.first().map_or(Verdict::Good, |f| f.0);
    let mut advice: Vec<Advice> = Vec::new();
    for (_, _, a) in &findings {
        for a in *a {
            if !advice.contains(a) {
                advice.push(*a);
            }
        }
    }
    DiagnosticReport {
        measurements: m.clone(),
        mos: m.network.map(|n| mos(n.rtt_ms, n.jitter_ms, n.loss_pct)),
        verdict,
        reasons: findings.iter().map(|f| f.1).collect(),
        advice,
        partial: !m.incomplete.is_empty(),
    }
}

/// The grade of a value that is worse the higher it is.
fn grade_above(value: f64, fair: f64, poor: f64) -> Verdict {
    if value >= poor {
        Verdict::Poor
    } else if value >= fair {
        Verdict::Fair
    } else {
        Verdict::Good
    }
}

/// The grade of a value that is worse the lower it is.
fn grade_below(value: f64, good: f64, fair: f64) -> Verdict {
    if value < fair {
        Verdict::Poor
    } else if value < good {
        Verdict::Fair
    } else {
        Verdict::Good
    }
}

/// A mean opinion score estimate for a voice call, from the ITU-T G.107 E-model reduced to
/// what a probe measures: the delay impairment from the one-way delay (half the RTT, plus a
/// jitter buffer of twice the jitter, plus 10 ms of codec delay) and the loss impairment for
/// Opus with packet-loss concealment (Ie 0, Bpl 10). Clamped to 1–4.5.
pub fn mos(rtt_ms: f64, jitter_ms: f64, loss_pct: f64) -> f64 {
    let d = (rtt_ms / 2.0 + 2.0 * jitter_ms + 10.0).max(0.0);
    let id = 0.024 * d + if d > 177.3 { 0.11 * (d - 177.3) } else { 0.0 };
    let ppl = loss_pct.clamp(0.0, 100.0);
    let ie = 95.0 * ppl / (ppl + 10.0);
    let r = (93.2 - id - ie).clamp(0.0, 100.0);
    let mos = 1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7.0e-6;
    mos.clamp(1.0, 4.5)
}

fn path_name(p: PathResult) -> &'static str {
    match p {
        PathResult::NotTested => "not_tested",
        PathResult::Reachable => "reachable",
        PathResult::Unreachable => "unreachable",
    }
}

struct Codes<'a, T>(&'a [T], fn(&T) -> &'static str);

impl<T> ToJson for Codes<'_, T> {
    fn write_json(&self, out: &mut String) {
        let names: Vec<&str> = self.0.iter().map(self.1).collect();
        names.write_json(out);
    }
}

/// `{"error": code}`: a device the platform refused or did not have.
fn write_refused(out: &mut String, code: LocalErrorCode) {
    let mut w = ObjectWriter::new(out);
    w.field("error", code.as_str());
    w.finish();
}

impl ToJson for CameraCheck {
    /// `{"width","height","fps","black","frozen"}` or `{"error"}`.
    fn write_json(&self, out: &mut String) {
        match *self {
            Self::Frames {
                width,
                height,
                fps,
                black,
                frozen,
            } => {
                let mut w = ObjectWriter::new(out);
                w.field("width", &width)
                    .field("height", &height)
                    .coord("fps", fps.round())
                    .field("black", &black)
                    .field("frozen", &frozen);
                w.finish();
            }
            Self::Failed(code) => write_refused(out, code),
        }
    }
}

impl ToJson for MicrophoneCheck {
    /// `{"peak_dbfs","silent"}` or `{"error"}`.
    fn write_json(&self, out: &mut String) {
        match *self {
            Self::Audio { peak_dbfs, silent } => {
                let mut w = ObjectWriter::new(out);
                w.coord("peak_dbfs", peak_dbfs.round())
                    .field("silent", &silent);
                w.finish();
            }
            Self::Failed(code) => write_refused(out, code),
        }
    }
}

impl ToJson for DiagnosticReport {
    /// `{"verdict","reasons":[…],"advice":[…],"partial","mos"?,"timings":{…},
    /// "reachability":{…},"network"?:{…},"upload_kbps"?,"upload_lower_bound"?,
    /// "download_kbps"?,"download_lower_bound"?,"devices":{…},
    /// "incomplete":[…]}`: one schema on every platform; absent measurements are left out.
    fn write_json(&self, out: &mut String) {
        let m = &self.measurements;
        let mut w = ObjectWriter::new(out);
        w.field("verdict", self.verdict.as_str())
            .field("reasons", &Codes(&self.reasons, |r| r.as_str()))
            .field("advice", &Codes(&self.advice, |a| a.as_str()))
            .field("partial", &self.partial);
        if let Some(mos) = self.mos {
            w.coord("mos", (mos * 100.0).round() / 100.0);
        }
        {
            let t = w.key("timings");
            let mut tw = ObjectWriter::new(t);
            tw.opt("server_ms", m.server_ms.as_ref())
                .opt("websocket_ms", m.websocket_ms.as_ref())
                .opt("ice_ms", m.ice_ms.as_ref())
                .opt("dtls_ms", m.dtls_ms.as_ref())
                .opt("first_media_ms", m.first_media_ms.as_ref());
            tw.finish();
        }
        {
            let r = m.reachability;
            let mut rw = ObjectWriter::new(w.key("reachability"));
            rw.field("udp", path_name(r.udp))
                .field("tcp", path_name(r.tcp))
                .field("turn_udp", path_name(r.turn_udp))
                .field("turn_tls", path_name(r.turn_tls));
            rw.finish();
        }
        if let Some(n) = m.network {
            let mut nw = ObjectWriter::new(w.key("network"));
            nw.coord("rtt_ms", n.rtt_ms.round())
                .coord("jitter_ms", n.jitter_ms.round())
                .coord("loss_pct", (n.loss_pct * 10.0).round() / 10.0);
            nw.finish();
        }
        if let Some(up) = m.upload_kbps {
            w.coord("upload_kbps", up.round());
            if m.upload_lower_bound {
                w.field("upload_lower_bound", &true);
            }
        }
        if let Some(down) = m.download_kbps {
            w.coord("download_kbps", down.round());
            if m.download_lower_bound {
                w.field("download_lower_bound", &true);
            }
        }
        {
            let mut dw = ObjectWriter::new(w.key("devices"));
            dw.opt("camera", m.camera.as_ref())
                .opt("microphone", m.microphone.as_ref());
            dw.opt("speaker_confirmed", m.speaker_confirmed.as_ref());
            match m.screen {
                Some(Ok(())) => {
                    dw.field("screen", "allowed");
                }
                Some(Err(code)) => {
                    dw.field("screen", code.as_str());
                }
                None => {}
            }
            dw.finish();
        }
        w.field("incomplete", &Codes(&m.incomplete, |s| s.as_str()));
        w.finish();
    }
}
