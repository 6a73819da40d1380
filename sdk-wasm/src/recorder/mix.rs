//! The recording's picture and sound: one canvas, one WebAudio mix, sources coming and going.

use super::*;

/// The composed picture of a `mixed` recording, and how often it is drawn.
pub(super) const CANVAS_W: u32 = 1280;
pub(super) const CANVAS_H: u32 = 720;
pub(super) const FRAME_MS: i32 = 33;

/// The recording's picture and sound: every video source drawn side by side onto one canvas
/// (the core's tiles), every voice mixed (and panned, in stereo) into one track. Sources come
/// and go while it records; the recorder only ever sees the canvas's track and the mix's.
pub(super) struct Mixer {
    timer: Option<i32>,
    _draw: Option<Closure<dyn FnMut()>>,
    audio: AudioContext,
    dest: web_sys::MediaStreamAudioDestinationNode,
    stereo: bool,
    /// The pictures drawn, shared with the drawing closure.
    videos: Rc<RefCell<Vec<MixInput>>>,
    /// The voices mixed.
    voices: Vec<MixInput>,
}

/// One source in the mix: the element that keeps it flowing, and its audio node.
pub(super) struct MixInput {
    key: (MemberId, Source),
    element: HtmlMediaElement,
    /// The voice's source node (replaced when its track unmutes).
    node: Rc<RefCell<Option<web_sys::AudioNode>>>,
    /// A remote track that had no media yet when it joined: its `unmute` handler.
    unmute: Option<(MediaStreamTrack, Closure<dyn FnMut()>)>,
}

impl Drop for MixInput {
    fn drop(&mut self) {
        if let Some((track, _)) = &self.unmute {
            track.set_onunmute(None);
        }
        if let Some(n) = self.node.borrow().as_ref() {
            let _ = n.disconnect();
        }
        self.element.set_src_object(None);
    }
}

impl Drop for Mixer {
    fn drop(&mut self) {
        if let (Some(id), Some(w)) = (self.timer, web_sys::window()) {
            w.clear_interval_with_handle(id);
        }
        self.videos.borrow_mut().clear();
        self.voices.clear();
        let _ = self.audio.close();
    }
}

pub(super) fn element(tag: &str) -> Result<HtmlMediaElement, JsValue> {
    let doc = web_sys::window()
        .and_then(|w| w.document())
        .ok_or_else(|| error(ErrorCode::Internal, "no document"))?;
    let e: HtmlMediaElement = doc.create_element(tag)?.unchecked_into();
    e.set_muted(true);
    e.set_autoplay(true);
    Ok(e)
}

pub(super) fn stream_of(track: &MediaStreamTrack) -> Result<MediaStream, JsValue> {
    let s = MediaStream::new()?;
    s.add_track(track);
    Ok(s)
}

/// The tracks of `member`'s `source`: this member's own media, or the labelled remote track.
pub(super) fn tracks_of(st: &State, member: &MemberId, source: Source) -> Vec<MediaStreamTrack> {
    let mine = st.call.session().member().is_some_and(|m| &m.id == member);
    if mine {
        return st
            .local
            .get(&source)
            .map(|m| m.tracks())
            .unwrap_or_default();
    }
    st.call
        .track_of(member, source)
        .and_then(|id| st.remote.get(id))
        .map(|t| vec![Clone::clone(&t.track)])
        .unwrap_or_default()
}

impl Mixer {
    /// A mix of `sources` (more may be added), and the stream to record: the canvas's track
    /// and the mix's.
    pub(super) fn new(
        st: &State,
        sources: &[(MemberId, Source)],
        stereo: bool,
    ) -> Result<(Self, MediaStream), JsValue> {
        let window = web_sys::window().ok_or_else(|| error(ErrorCode::Internal, "no window"))?;
        let doc = window
            .document()
            .ok_or_else(|| error(ErrorCode::Internal, "no document"))?;
        let canvas: HtmlCanvasElement = doc.create_element("canvas")?.unchecked_into();
        canvas.set_width(CANVAS_W);
        canvas.set_height(CANVAS_H);
        let ctx: CanvasRenderingContext2d = canvas
            .get_context("2d")?
            .ok_or_else(|| error(ErrorCode::Internal, "no 2d canvas"))?
            .unchecked_into();
        let videos: Rc<RefCell<Vec<MixInput>>> = Rc::default();
        let draw = {
            let videos = videos.clone();
            Closure::<dyn FnMut()>::new(move || {
                let (cw, ch) = (f64::from(CANVAS_W), f64::from(CANVAS_H));
                ctx.set_fill_style_str("#000");
                ctx.fill_rect(0.0, 0.0, cw, ch);
                let videos = videos.borrow();
                for (i, v) in videos.iter().enumerate() {
                    if let Some((x, y, w, h)) = tile(i, videos.len()) {
                        let v: &HtmlVideoElement = v.element.unchecked_ref();
                        let _ = ctx.draw_image_with_html_video_element_and_dw_and_dh(
                            v,
                            x * cw,
                            y * ch,
                            w * cw,
                            h * ch,
                        );
                    }
                }
            })
        };
        let timer = window.set_interval_with_callback_and_timeout_and_arguments_0(
            draw.as_ref().unchecked_ref(),
            FRAME_MS,
        )?;
        let audio = AudioContext::new()?;
        let dest = audio.create_media_stream_destination()?;
        dest.set_channel_count(2);
        // Silence of its own: with no voice in the mix, Chromium's MediaRecorder would deliver
        // nothing at all.
        let silence = audio.create_constant_source()?;
        silence.offset().set_value(0.0);
        silence.connect_with_audio_node(&dest)?;
        silence.start()?;
        // A context made outside a click may start suspended.
        let _ = audio.resume();
        let mut mixer = Mixer {
            timer: Some(timer),
            _draw: Some(draw),
            audio,
            dest,
            stereo,
            videos,
            voices: Vec::new(),
        };
        for (member, source) in sources {
            mixer.add(st, member, *source)?;
        }
        let out = MediaStream::new()?;
        for t in canvas
            .capture_stream()?
            .get_tracks()
            .iter()
            .chain(mixer.dest.stream().get_tracks().iter())
        {
            out.add_track(&t.unchecked_into());
        }
        Ok((mixer, out))
    }

    /// Takes `member`'s `source` in (again, with its current track, if it was in).
    pub(super) fn add(
        &mut self,
        st: &State,
        member: &MemberId,
        source: Source,
    ) -> Result<(), JsValue> {
        self.remove(member, source);
        let pan = st.call.stereo_pan(member);
        for track in tracks_of(st, member, source) {
            let video = track.kind() == "video";
            let input = stream_of(&track)?;
            // The element keeps the track flowing: a remote track feeds WebAudio only while a
            // media element plays it (Chromium), and a picture is drawn from one.
            let element = element(if video { "video" } else { "audio" })?;
            element.set_src_object(Some(&input));
            // A play() cut short (the source left again) is no error of the recording.
            if let Ok(p) = element.play() {
                on_settled(p, Box::new(|_| {}));
            }
            let key = (member.clone(), source);
            if video {
                self.videos.borrow_mut().push(MixInput {
                    key,
                    element,
                    node: Rc::default(),
                    unmute: None,
                });
                continue;
            }
            // Where the voice goes: its panner in stereo, else the mix itself.
            let target: web_sys::AudioNode = if self.stereo {
                let panner = self.audio.create_stereo_panner()?;
                panner.pan().set_value(pan);
                panner.connect_with_audio_node(&self.dest)?;
                panner.into()
            } else {
                self.dest.clone().into()
            };
            let node = Rc::new(RefCell::new(None));
            connect_voice(&self.audio, &input, &target, &node)?;
            // A remote track with no media yet (it is muted until its first packets) may never
            // feed a source node made before then (Chromium): one is made again on unmute.
            let unmute = track.muted().then(|| {
                let (ctx, node) = (self.audio.clone(), node.clone());
                let f = Closure::<dyn FnMut()>::new(move || {
                    if let Err(e) = connect_voice(&ctx, &input, &target, &node) {
                        warn_error("a voice could not rejoin the recording", &e);
                    }
                });
                track.set_onunmute(Some(f.as_ref().unchecked_ref()));
                (Clone::clone(&track), f)
            });
            self.voices.push(MixInput {
                key,
                element,
                node,
                unmute,
            });
        }
        Ok(())
    }

    pub(super) fn remove(&mut self, member: &MemberId, source: Source) {
        let gone = |i: &MixInput| i.key.0 == *member && i.key.1 == source;
        self.videos.borrow_mut().retain(|i| !gone(i));
        self.voices.retain(|i| !gone(i));
    }
}

/// Feeds `input` into `target` through a new source node, in place of the one in `slot`.
fn connect_voice(
    ctx: &AudioContext,
    input: &MediaStream,
    target: &web_sys::AudioNode,
    slot: &RefCell<Option<web_sys::AudioNode>>,
) -> Result<(), JsValue> {
    let node: web_sys::AudioNode = ctx.create_media_stream_source(input)?.into();
    node.connect_with_audio_node(target)?;
    if let Some(old) = slot.replace(Some(node)) {
        let _ = old.disconnect();
    }
    Ok(())
}
