//! The pre-call check in the browser: runs the core's check (`diagnostics::check`) with
//! `RTCPeerConnection`s to the server's probe endpoint, samples the camera and the microphone
//! for the core's meters, and resolves with the core's judgement (`diagnostics::assess`).
//! Nothing here decides: paths, deadlines, thresholds and the verdict are the core's.
//!
//! Behind the `preflight` cargo feature for now: it works (the end-to-end bundle has it), but
//! adds about 17 KB gzip, more than the published bundle's budget leaves.
//!
//! Every callback turns into one [`Msg`] handled in one place ([`Run::on`]), and one timer
//! serves both the check's deadlines and the device sampling: the shipped wasm pays for one
//! dispatcher, not for a handler per event.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use assistrtc_core::Millis;
use assistrtc_core::ToJsonText;
use assistrtc_core::diagnostics::check::{
    Action, Check, PROBE_LABEL, Path, Payload, config_ice_servers,
};
use assistrtc_core::diagnostics::devices::{CameraMeter, MicrophoneMeter};
use assistrtc_core::diagnostics::{CameraCheck, Measurements, MicrophoneCheck, Step, assess};
use assistrtc_core::local_error::{Code, LocalErrorCode};
use assistrtc_core::protocol::{ErrorCode, IceServer, Source, api_url};
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use web_sys::{
    AnalyserNode, AudioContext, CanvasRenderingContext2d, HtmlCanvasElement, HtmlVideoElement,
    MediaStream, RtcDataChannel, RtcDataChannelInit, RtcDataChannelType, RtcIceConnectionState,
    RtcIceGatheringState, RtcPeerConnection, RtcSdpType, RtcSessionDescriptionInit,
};

use crate::js::{clear_timeout, error, error_name, get, now_ms, obj, on_settled, set_timeout};
use crate::peer::ice_config;

/// Longest the whole check may take; past it, what did not finish is reported incomplete.
const CHECK_TIMEOUT_MS: u64 = 14_000;
/// How long the devices are sampled, and how often.
const SAMPLE_FOR_MS: u64 = 1_200;
const SAMPLE_EVERY_MS: u64 = 100;
/// The camera sample's size: enough to tell black and still from live.
const SAMPLE_W: u32 = 32;
const SAMPLE_H: u32 = 18;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(thread_local_v2, js_name = document)]
    static DOCUMENT: web_sys::Document;
    /// A binary message's bytes (js-sys's `Uint8Array::to_vec` would check a length it reads
    /// twice, which brings in panic formatting).
    type Bytes;
    #[wasm_bindgen(constructor, js_class = "Uint8Array")]
    fn new(buffer: &JsValue) -> Bytes;
    /// Copied into the wasm memory by the glue.
    #[wasm_bindgen(method, js_class = "Uint8Array", js_name = slice)]
    fn copied(this: &Bytes) -> Vec<u8>;
}

/// Something that happened, for [`Run::on`].
enum Msg {
    /// `GET /v1/preflight/config` answered (status, body) or failed.
    Config(Result<(u16, String), JsValue>),
    /// An event of a path's connection or channel.
    Event(Path, JsValue),
    /// The probe endpoint answered a path's offer.
    Answer(Path, Result<(u16, String), JsValue>),
    /// A path's description step failed.
    Failed(Path),
    /// A device opened (its stream) or was refused.
    Device(Source, Result<JsValue, JsValue>),
    /// The app answered whether the user heard the tone.
    Speaker(Result<JsValue, JsValue>),
    /// The timer fired.
    Tick,
}

fn deliver(weak: &Weak<RefCell<Run>>, msg: Msg) {
    if let Some(run) = weak.upgrade() {
        Run::on(&run, msg);
        Run::pump(&run);
    }
}

/// Runs the check; see `run_preflight`.
pub(crate) fn run(url: &str, options: &JsValue, emit: Function) -> Result<Promise, JsValue> {
    let token = get(options, "token").as_string().ok_or_else(|| {
        error(
            ErrorCode::BadRequest,
            "preflight: `token` (a preflight token from POST /v1/preflight/tokens) is required",
        )
    })?;
    let wants = |key: &str| get(options, key).as_bool() != Some(false);
    let network = wants("network");
    let mut slot = None;
    let promise = Promise::new(&mut |resolve, reject| slot = Some((resolve, reject)));
    let run = Rc::new_cyclic(|weak: &Weak<RefCell<Run>>| {
        let w = weak.clone();
        RefCell::new(Run {
            started: now_ms(),
            check: Check::new(Millis(0)),
            network,
            url: url.to_owned(),
            token,
            paths: [None, None],
            tick: Closure::new(move || deliver(&w, Msg::Tick)),
            timer: None,
            sampling_since: None,
            camera: None,
            microphone: None,
            camera_result: None,
            microphone_result: None,
            tone: None,
            speaker_result: None,
            screen_pending: false,
            screen_result: None,
            incomplete_devices: Vec::new(),
            emit,
            settle: slot,
            keep: None,
        })
    });
    run.borrow_mut().keep = Some(run.clone());
    if network {
        let weak = Rc::downgrade(&run);
        let url = api_url(url, "/v1/preflight/config");
        let token = run.borrow().token.clone();
        request(&url, &token, None, move |r| deliver(&weak, Msg::Config(r)));
    }
    for (key, source) in [
        ("camera", Source::Camera),
        ("microphone", Source::Microphone),
    ] {
        if wants(key) {
            open_device(&run, source);
        }
    }
    // Opt-in: the speaker needs the user's answer, the screen a picker (and a user gesture).
    if let Ok(ask) = get(options, "speaker").dyn_into::<Function>() {
        play_tone(&run, &ask);
    }
    if get(options, "screen").as_bool() == Some(true) {
        open_device(&run, Source::Screen);
    }
    Run::pump(&run);
    Ok(promise)
}

struct ProbePath {
    pc: RtcPeerConnection,
    dc: RtcDataChannel,
    _on_event: Closure<dyn FnMut(JsValue)>,
}

impl Drop for ProbePath {
    fn drop(&mut self) {
        self.pc.set_oniceconnectionstatechange(None);
        self.pc.set_onicegatheringstatechange(None);
        self.dc.set_onopen(None);
        self.dc.set_onclose(None);
        self.dc.set_onmessage(None);
        self.pc.close();
    }
}

/// An open device and what its meter saw so far.
struct Device<M> {
    stream: MediaStream,
    meter: M,
}

struct Camera {
    device: Device<CameraMeter>,
    video: HtmlVideoElement,
    canvas: Option<CanvasRenderingContext2d>,
}

struct Microphone {
    device: Device<MicrophoneMeter>,
    context: AudioContext,
    analyser: Option<AnalyserNode>,
}

struct Run {
    started: u64,
    check: Check,
    network: bool,
    url: String,
    token: String,
    paths: [Option<ProbePath>; 2],
    /// The one timer callback: the check's deadlines and the device sampling.
    tick: Closure<dyn FnMut()>,
    timer: Option<i32>,
    /// When the devices that opened started being sampled.
    sampling_since: Option<u64>,
    /// `Some(None)`: asked for and opening; `Some(Some(_))`: open and sampled.
    camera: Option<Option<Camera>>,
    microphone: Option<Option<Microphone>>,
    camera_result: Option<CameraCheck>,
    microphone_result: Option<MicrophoneCheck>,
    /// The test tone playing while the app asks the user (`speaker` option).
    tone: Option<AudioContext>,
    speaker_result: Option<bool>,
    /// Screen sharing asked for and not answered yet.
    screen_pending: bool,
    screen_result: Option<Result<(), LocalErrorCode>>,
    incomplete_devices: Vec<Step>,
    emit: Function,
    settle: Option<(Function, Function)>,
    /// The run itself, while it is unsettled: only weak references reach it from the
    /// browser's callbacks, so this keeps it alive until it settles (then the cycle ends).
    keep: Option<Rc<RefCell<Run>>>,
}

fn slot(path: Path) -> usize {
    match path {
        Path::Direct => 0,
        Path::Relay => 1,
    }
}

impl Run {
    fn now(&self) -> Millis {
        Millis(now_ms().saturating_sub(self.started))
    }

    fn progress(&self, step: Step) {
        let _ = self.emit.call2(
            &JsValue::UNDEFINED,
            &JsValue::from_str("preflightProgress"),
            &obj(&[("step", JsValue::from_str(step.as_str()))]),
        );
    }

    /// Hands what happened to the check (or the devices).
    fn on(this: &Rc<RefCell<Run>>, msg: Msg) {
        let mut run = this.borrow_mut();
        let now = run.now();
        let r = &mut *run;
        match msg {
            Msg::Config(Err(_)) => r.check.unreachable(now),
            Msg::Config(Ok((200, body))) => match config_ice_servers(&body) {
                Ok(servers) => r.check.configured(now, &servers),
                Err(e) => r.fail(ErrorCode::Internal.into(), &e),
            },
            Msg::Config(Ok((status, body))) => {
                let code = if status == 401 {
                    ErrorCode::Unauthorized
                } else {
                    ErrorCode::Internal
                };
                r.fail(
                    code.into(),
                    &["the server refused the check: ", &body].concat(),
                );
            }
            Msg::Event(path, e) => r.path_event(this, path, &e, now),
            Msg::Answer(path, Ok((201, sdp))) => {
                if let Some(p) = &r.paths[slot(path)] {
                    let desc = RtcSessionDescriptionInit::new(RtcSdpType::Answer);
                    desc.set_sdp(&sdp);
                    let weak = Rc::downgrade(this);
                    on_settled(
                        p.pc.set_remote_description(&desc),
                        Box::new(move |r| {
                            if r.is_err() {
                                deliver(&weak, Msg::Failed(path));
                            }
                        }),
                    );
                }
            }
            Msg::Answer(path, _) | Msg::Failed(path) => r.check.path_failed(path, now),
            Msg::Device(Source::Screen, result) => {
                r.screen_pending = false;
                r.screen_result = Some(match result {
                    Ok(stream) => {
                        stop_tracks(&stream.unchecked_into());
                        Ok(())
                    }
                    Err(cause) => Err(device_code(&cause, Source::Screen)),
                });
            }
            Msg::Device(source, result) => r.device_opened(source, result),
            Msg::Speaker(heard) => {
                if let Some(tone) = r.tone.take() {
                    let _ = tone.close();
                }
                // An answer that is not `true` (or a rejected question) is not a confirmation.
                r.speaker_result = Some(heard.ok().and_then(|v| v.as_bool()) == Some(true));
            }
            Msg::Tick => {
                r.timer = None;
                if now.0 >= CHECK_TIMEOUT_MS {
                    r.check.abort(now);
                    r.give_up_devices();
                } else {
                    r.check.handle_timeout(now);
                }
                r.sample();
            }
        }
    }

    fn path_event(&mut self, this: &Rc<RefCell<Run>>, path: Path, e: &JsValue, now: Millis) {
        let Some(p) = &self.paths[slot(path)] else {
            return;
        };
        match get(e, "type").as_string().as_deref() {
            Some("iceconnectionstatechange") => match p.pc.ice_connection_state() {
                RtcIceConnectionState::Connected | RtcIceConnectionState::Completed => {
                    self.check.path_connected(path, now)
                }
                RtcIceConnectionState::Failed => self.check.path_failed(path, now),
                _ => {}
            },
            // Non-trickle: the endpoint takes one complete offer.
            Some("icegatheringstatechange")
                if p.pc.ice_gathering_state() == RtcIceGatheringState::Complete =>
            {
                if let Some(offer) = p.pc.local_description().map(|d| d.sdp()) {
                    let url = api_url(&self.url, "/v1/preflight/probe");
                    let weak = Rc::downgrade(this);
                    request(&url, &self.token, Some(&offer), move |r| {
                        deliver(&weak, Msg::Answer(path, r))
                    });
                }
            }
            // The relay's transport is inferred by the core from the configured URLs.
            Some("open") => self.check.path_open(path, now, None),
            Some("close") => self.check.path_failed(path, now),
            Some("message") => {
                let data = get(e, "data");
                match data.as_string() {
                    Some(text) => self.check.on_text(path, &text, now),
                    None => self.check.on_binary(path, &Bytes::new(&data).copied(), now),
                }
            }
            _ => {}
        }
    }

    /// Runs the check's actions, re-arms the timer, and settles once everything is in.
    fn pump(this: &Rc<RefCell<Run>>) {
        let mut run = this.borrow_mut();
        let r = &mut *run;
        while let Some(action) = r.check.poll_action() {
            match action {
                Action::OpenPath {
                    path,
                    ice_servers,
                    relay_only,
                } => match open_path(this, path, &ice_servers, relay_only) {
                    Ok(p) => r.paths[slot(path)] = Some(p),
                    Err(_) => {
                        let now = r.now();
                        r.check.path_failed(path, now);
                    }
                },
                Action::ClosePath(path) => r.paths[slot(path)] = None,
                Action::Send(path, payload) => {
                    if let Some(p) = &r.paths[slot(path)] {
                        // A full buffer loses the packet, as the network would.
                        let _ = match payload {
                            Payload::Binary(bytes) => p.dc.send_with_u8_array(&bytes),
                            Payload::Text(text) => p.dc.send_with_str(text),
                        };
                    }
                }
                Action::Progress(step) if r.network => r.progress(step),
                Action::Progress(_) => {}
            }
        }
        if let Some(id) = r.timer.take() {
            clear_timeout(id);
        }
        if r.settle.is_none() {
            return;
        }
        let network_done = !r.network || r.check.is_finished();
        let devices_done =
            r.camera.is_none() && r.microphone.is_none() && r.tone.is_none() && !r.screen_pending;
        if network_done && devices_done {
            r.finish();
            return;
        }
        let now = r.now().0;
        let mut at = r.check.poll_timeout().map_or(CHECK_TIMEOUT_MS, |t| t.0);
        if r.sampling_since.is_some() {
            at = at.min(now + SAMPLE_EVERY_MS);
        }
        let delay = at.min(CHECK_TIMEOUT_MS).saturating_sub(now) as i32;
        r.timer = set_timeout(r.tick.as_ref(), delay).ok();
    }

    fn give_up_devices(&mut self) {
        if self.camera.take().is_some() {
            self.incomplete_devices.push(Step::Camera);
        }
        if self.microphone.take().is_some() {
            self.incomplete_devices.push(Step::Microphone);
        }
        if let Some(tone) = self.tone.take() {
            let _ = tone.close();
            self.incomplete_devices.push(Step::Speaker);
        }
        if std::mem::take(&mut self.screen_pending) {
            self.incomplete_devices.push(Step::Screen);
        }
        self.release_devices();
    }

    /// Rejects the check: it could not run at all.
    fn fail(&mut self, code: Code, message: &str) {
        self.paths = [None, None];
        if let Some(tone) = self.tone.take() {
            let _ = tone.close();
        }
        self.camera = None;
        self.microphone = None;
        self.release_devices();
        if let Some((_, reject)) = self.settle.take() {
            let _ = reject.call1(&JsValue::UNDEFINED, &error(code, message));
        }
        self.release();
    }

    fn finish(&mut self) {
        let mut m = if self.network {
            self.check.measurements().clone()
        } else {
            Measurements::default()
        };
        m.camera = self.camera_result;
        m.microphone = self.microphone_result;
        m.speaker_confirmed = self.speaker_result;
        m.screen = self.screen_result;
        m.incomplete.append(&mut self.incomplete_devices);
        let json = assess(&m).to_json_text();
        if let Some((resolve, _)) = self.settle.take() {
            let value = js_sys::JSON::parse(&json).unwrap_or(JsValue::NULL);
            let _ = resolve.call1(&JsValue::UNDEFINED, &value);
        }
        self.release();
    }

    fn device_opened(&mut self, source: Source, result: Result<JsValue, JsValue>) {
        let stream = match result {
            Ok(stream) => stream.unchecked_into::<MediaStream>(),
            Err(cause) => {
                let code = device_code(&cause, source);
                if source == Source::Camera {
                    self.camera = None;
                    self.camera_result = Some(CameraCheck::Failed(code));
                } else {
                    self.microphone = None;
                    self.microphone_result = Some(MicrophoneCheck::Failed(code));
                }
                return;
            }
        };
        self.sampling_since.get_or_insert_with(now_ms);
        if source == Source::Camera {
            let make = |tag: &str| DOCUMENT.with(|d| d.create_element(tag).ok());
            let (Some(video), Some(canvas)) = (make("video"), make("canvas")) else {
                return stop_tracks(&stream);
            };
            let video: HtmlVideoElement = video.unchecked_into();
            let canvas: HtmlCanvasElement = canvas.unchecked_into();
            video.set_muted(true);
            video.set_src_object(Some(&stream));
            let _ = video.play();
            canvas.set_width(SAMPLE_W);
            canvas.set_height(SAMPLE_H);
            // Read back every sample: a CPU-side canvas.
            let options = obj(&[("willReadFrequently", JsValue::TRUE)]);
            let canvas = canvas
                .get_context_with_context_options("2d", &options)
                .ok()
                .flatten()
                .map(JsCast::unchecked_into);
            self.camera = Some(Some(Camera {
                device: Device {
                    stream,
                    meter: CameraMeter::new(),
                },
                video,
                canvas,
            }));
        } else {
            let Ok(context) = AudioContext::new() else {
                return stop_tracks(&stream);
            };
            // A page without a user gesture starts its context suspended: silent samples.
            let _ = context.resume();
            let analyser = context.create_analyser().ok();
            if let (Ok(node), Some(a)) = (context.create_media_stream_source(&stream), &analyser) {
                let _ = node.connect_with_audio_node(a);
            }
            self.microphone = Some(Some(Microphone {
                device: Device {
                    stream,
                    meter: MicrophoneMeter::new(),
                },
                context,
                analyser,
            }));
        }
    }

    /// Feeds each open device's meter; after [`SAMPLE_FOR_MS`] the meters say what they saw.
    fn sample(&mut self) {
        let Some(since) = self.sampling_since else {
            return;
        };
        if let Some(Some(cam)) = &mut self.camera
            && let Some(ctx) = &cam.canvas
            // HAVE_CURRENT_DATA: a frame to draw.
            && cam.video.ready_state() >= 2
            && ctx
                .draw_image_with_html_video_element_and_dw_and_dh(
                    &cam.video,
                    0.0,
                    0.0,
                    f64::from(SAMPLE_W),
                    f64::from(SAMPLE_H),
                )
                .is_ok()
            && let Ok(image) =
                ctx.get_image_data(0.0, 0.0, f64::from(SAMPLE_W), f64::from(SAMPLE_H))
        {
            cam.device.meter.frame(&image.data());
        }
        if let Some(Some(mic)) = &mut self.microphone
            && let Some(analyser) = &mic.analyser
        {
            let mut block = vec![0.0f32; analyser.fft_size() as usize];
            analyser.get_float_time_domain_data(&mut block);
            mic.device.meter.samples(&block);
        }
        if now_ms().saturating_sub(since) < SAMPLE_FOR_MS {
            return;
        }
        if let Some(Some(cam)) = &self.camera {
            let settings = cam
                .device
                .stream
                .get_video_tracks()
                .get(0)
                .dyn_into::<web_sys::MediaStreamTrack>()
                .map(|t| JsValue::from(t.get_settings()))
                .unwrap_or(JsValue::UNDEFINED);
            let num = |key: &str| get(&settings, key).as_f64().unwrap_or(0.0);
            self.camera_result = Some(cam.device.meter.result(
                num("width") as u32,
                num("height") as u32,
                num("frameRate"),
            ));
            self.camera = None;
        }
        if let Some(Some(mic)) = &self.microphone {
            self.microphone_result = Some(mic.device.meter.result());
            self.microphone = None;
        }
        self.release_devices();
    }

    /// Settled: the paths close, and the run is freed once the current callback returns
    /// (the caller still holds a strong reference until then).
    fn release(&mut self) {
        self.paths = [None, None];
        if let Some(id) = self.timer.take() {
            clear_timeout(id);
        }
        drop(self.keep.take());
    }

    /// Stops what is no longer sampled.
    fn release_devices(&mut self) {
        if self.camera.is_none() && self.microphone.is_none() {
            self.sampling_since = None;
        }
    }
}

impl<M> Drop for Device<M> {
    fn drop(&mut self) {
        stop_tracks(&self.stream);
    }
}

impl Drop for Microphone {
    fn drop(&mut self) {
        let _ = self.context.close();
    }
}

fn stop_tracks(stream: &MediaStream) {
    for track in stream.get_tracks() {
        track.unchecked_into::<web_sys::MediaStreamTrack>().stop();
    }
}

/// A `fetch` with the preflight token; `done` gets `(status, body)`, or `Err` when the server
/// could not be reached.
fn request(
    url: &str,
    token: &str,
    sdp: Option<&str>,
    done: impl FnOnce(Result<(u16, String), JsValue>) + 'static,
) {
    let bearer = JsValue::from_str(&["Bearer ", token].concat());
    let init = match sdp {
        Some(sdp) => obj(&[
            ("method", JsValue::from_str("POST")),
            (
                "headers",
                obj(&[
                    ("authorization", bearer),
                    ("content-type", JsValue::from_str("application/sdp")),
                ]),
            ),
            ("body", JsValue::from_str(sdp)),
        ]),
        None => obj(&[("headers", obj(&[("authorization", bearer)]))]),
    };
    crate::js::fetch_text(url, &init, Box::new(done));
}

/// A peer connection for `path` with its probe channel; its offer is made at once and posted
/// when gathering completes.
fn open_path(
    this: &Rc<RefCell<Run>>,
    path: Path,
    servers: &[IceServer],
    relay_only: bool,
) -> Result<ProbePath, JsValue> {
    let pc = RtcPeerConnection::new_with_configuration(&ice_config(servers, relay_only))?;
    let init = RtcDataChannelInit::new();
    // Unordered and never retransmitted: the probe must see loss, not have it repaired.
    init.set_ordered(false);
    init.set_max_retransmits(0);
    let dc = pc.create_data_channel_with_data_channel_dict(PROBE_LABEL, &init);
    dc.set_binary_type(RtcDataChannelType::Arraybuffer);
    // One handler for every event of the path.
    let weak = Rc::downgrade(this);
    let on_event =
        Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| deliver(&weak, Msg::Event(path, e)));
    let f = Some(on_event.as_ref().unchecked_ref());
    pc.set_oniceconnectionstatechange(f);
    pc.set_onicegatheringstatechange(f);
    dc.set_onopen(f);
    dc.set_onclose(f);
    dc.set_onmessage(f);
    let (p, weak) = (pc.clone(), Rc::downgrade(this));
    on_settled(
        pc.create_offer(),
        Box::new(move |offer| {
            let Ok(offer) = offer else {
                return deliver(&weak, Msg::Failed(path));
            };
            let desc = RtcSessionDescriptionInit::new(RtcSdpType::Offer);
            desc.set_sdp(&get(&offer, "sdp").as_string().unwrap_or_default());
            on_settled(
                p.set_local_description(&desc),
                Box::new(move |r| {
                    if r.is_err() {
                        deliver(&weak, Msg::Failed(path));
                    }
                }),
            );
        }),
    );
    Ok(ProbePath {
        pc,
        dc,
        _on_event: on_event,
    })
}

/// The local code of a refused capture (a wire code means the browser failed otherwise).
fn device_code(cause: &JsValue, source: Source) -> LocalErrorCode {
    if get(cause, "code").as_string().as_deref() == Some("unsupported_browser") {
        return LocalErrorCode::UnsupportedBrowser;
    }
    match Code::of_capture_failure(source, &error_name(cause)) {
        Code::Local(code) => code,
        Code::Wire(_) => LocalErrorCode::DeviceInUse,
    }
}

/// Opens the camera or the microphone; sampling starts once it is open.
fn open_device(this: &Rc<RefCell<Run>>, source: Source) {
    let mut run = this.borrow_mut();
    match source {
        Source::Camera => {
            run.camera = Some(None);
            run.progress(Step::Camera);
        }
        Source::Microphone => {
            run.microphone = Some(None);
            run.progress(Step::Microphone);
        }
        Source::Screen => {
            run.screen_pending = true;
            run.progress(Step::Screen);
        }
    }
    let weak = Rc::downgrade(this);
    let asked = crate::media::ask(source, &JsValue::UNDEFINED).map(|(promise, _)| promise);
    match asked {
        Some(Ok(promise)) => on_settled(
            promise,
            Box::new(move |r| deliver(&weak, Msg::Device(source, r))),
        ),
        other => {
            let cause = match other {
                Some(Err(e)) => e,
                _ => error(
                    LocalErrorCode::UnsupportedBrowser,
                    "navigator.mediaDevices is missing",
                ),
            };
            drop(run);
            Run::on(this, Msg::Device(source, Err(cause)));
        }
    }
}

/// Plays a 440 Hz tone and asks the app (`ask()`, a promise of whether the user heard it);
/// the tone stops with the answer.
fn play_tone(this: &Rc<RefCell<Run>>, ask: &Function) {
    let mut run = this.borrow_mut();
    run.progress(Step::Speaker);
    let Ok(context) = AudioContext::new() else {
        run.speaker_result = Some(false);
        return;
    };
    let _ = context.resume();
    if let Ok(osc) = context.create_oscillator() {
        osc.frequency().set_value(440.0);
        let _ = osc.connect_with_audio_node(&context.destination());
        let _ = osc.start();
    }
    run.tone = Some(context);
    drop(run);
    let weak = Rc::downgrade(this);
    let answer = ask.call0(&JsValue::UNDEFINED).map(|v| {
        v.dyn_into::<Promise>()
            .unwrap_or_else(|v| Promise::resolve(&v))
    });
    match answer {
        Ok(promise) => on_settled(
            promise,
            Box::new(move |heard| deliver(&weak, Msg::Speaker(heard))),
        ),
        Err(e) => Run::on(this, Msg::Speaker(Err(e))),
    }
}
