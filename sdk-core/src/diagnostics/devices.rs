//! Device checks as pure logic: the driver hands over small samples (a downscaled camera frame,
//! a block of microphone samples) and these meters say what they saw.

use super::{CameraCheck, MicrophoneCheck};

/// Mean luma (0–255) below which a frame counts as black: a covered lens reads 0–10, a dark
/// room with auto-exposure still reads above 30.
pub const BLACK_LUMA: f64 = 16.0;
/// Mean absolute luma change between two samples below which the picture did not move (sensor
/// noise alone is above 0.5 on a live camera; a repeated frame is exactly 0).
pub const FROZEN_DIFF: f64 = 0.25;
/// Peak level (dBFS) a microphone must reach once during the check to count as hearing.
pub const SILENCE_DBFS: f64 = -50.0;

/// Looks at camera frames sampled during the check.
#[derive(Debug, Default)]
pub struct CameraMeter {
    frames: u32,
    black: u32,
    moved: bool,
    previous: Vec<u8>,
}

impl CameraMeter {
    /// A meter that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// One sampled frame as RGBA bytes (any size; the driver downscales).
    pub fn frame(&mut self, rgba: &[u8]) {
        let luma: Vec<u8> = rgba
            .chunks_exact(4)
            .map(|p| {
                ((u32::from(p[0]) * 77 + u32::from(p[1]) * 150 + u32::from(p[2]) * 29) >> 8) as u8
            })
            .collect();
        if luma.is_empty() {
            return;
        }
        self.frames += 1;
        let n = luma.len() as f64;
        let mean = luma.iter().map(|&l| f64::from(l)).sum::<f64>() / n;
        if mean < BLACK_LUMA {
            self.black += 1;
        }
        if self.previous.len() == luma.len() {
            let diff = luma
                .iter()
                .zip(&self.previous)
                .map(|(a, b)| f64::from(a.abs_diff(*b)))
                .sum::<f64>()
                / n;
            self.moved |= diff >= FROZEN_DIFF;
        }
        self.previous = luma;
    }

    /// What the camera delivered: its settings (`width`, `height`, `fps` as the platform
    /// reports them) and the samples' verdicts. Black when every sample was black; frozen when
    /// at least two samples were seen and none moved.
    pub fn result(&self, width: u32, height: u32, fps: f64) -> CameraCheck {
        CameraCheck::Frames {
            width,
            height,
            fps,
            black: self.frames > 0 && self.black == self.frames,
            frozen: self.frames >= 2 && !self.moved,
        }
    }
}

/// Listens to microphone samples during the check.
#[derive(Debug, Default)]
pub struct MicrophoneMeter {
    peak: f32,
    blocks: u32,
}

impl MicrophoneMeter {
    /// A meter that has heard nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// One block of samples in −1…1.
    pub fn samples(&mut self, block: &[f32]) {
        self.blocks += 1;
        for s in block {
            if s.is_finite() {
                self.peak = self.peak.max(s.abs());
            }
        }
    }

    /// What was heard: the peak level, and silent when it never reached [`SILENCE_DBFS`].
    pub fn result(&self) -> MicrophoneCheck {
        let peak_dbfs = if self.peak > 0.0 {
            (20.0 * LOG10_2 * log2(self.peak)).max(-120.0)
        } else {
            -120.0
        };
        MicrophoneCheck::Audio {
            peak_dbfs,
            silent: peak_dbfs < SILENCE_DBFS,
        }
    }
}

const LOG10_2: f64 = std::f64::consts::LOG10_2;

/// `log2(x)` for a positive `x`, within 0.005 (0.03 dB): the exponent from the bits and a
/// quadratic for the mantissa. The browser build carries this instead of the libm logarithm.
fn log2(x: f32) -> f64 {
    let bits = x.to_bits();
    let exponent = ((bits >> 23) & 0xff) as i32 - 127;
    // The mantissa as 1 ≤ m < 2.
    let m = f64::from(f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000)) - 1.0;
    f64::from(exponent) + m * (1.346_874_5 - 0.346_874_5 * m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(luma: u8, noise: u8) -> Vec<u8> {
        (0..64u32)
            .flat_map(|i| {
                let v = luma.saturating_add(if i % 2 == 0 { noise } else { 0 });
                [v, v, v, 255]
            })
            .collect()
    }

    #[test]
    fn a_covered_camera_is_black_and_a_live_one_is_not() {
        let mut m = CameraMeter::new();
        for _ in 0..5 {
            m.frame(&frame(3, 0));
        }
        assert!(matches!(
            m.result(640, 480, 30.0),
            CameraCheck::Frames {
                black: true,
                frozen: true,
                ..
            }
        ));
        let mut m = CameraMeter::new();
        for i in 0..5 {
            m.frame(&frame(120, i * 3));
        }
        assert!(matches!(
            m.result(640, 480, 30.0),
            CameraCheck::Frames {
                black: false,
                frozen: false,
                ..
            }
        ));
    }

    #[test]
    fn a_still_picture_is_frozen_only_with_two_samples() {
        let mut m = CameraMeter::new();
        m.frame(&frame(120, 0));
        assert!(matches!(
            m.result(640, 480, 30.0),
            CameraCheck::Frames { frozen: false, .. }
        ));
        m.frame(&frame(120, 0));
        assert!(matches!(
            m.result(640, 480, 30.0),
            CameraCheck::Frames { frozen: true, .. }
        ));
        // One dark sample among bright ones is not a black camera.
        m.frame(&frame(0, 0));
        assert!(matches!(
            m.result(640, 480, 30.0),
            CameraCheck::Frames {
                black: false,
                frozen: false,
                ..
            }
        ));
    }

    #[test]
    fn empty_or_ragged_frames_are_ignored() {
        let mut m = CameraMeter::new();
        m.frame(&[]);
        m.frame(&[1, 2, 3]);
        assert!(matches!(
            m.result(0, 0, 0.0),
            CameraCheck::Frames {
                black: false,
                frozen: false,
                ..
            }
        ));
    }

    #[test]
    fn the_fast_logarithm_is_close_enough_for_decibels() {
        for x in [1.0f32, 0.5, 0.1, 0.003_162, 0.001, 1e-6, 0.75, 0.9999] {
            let err = (log2(x) - f64::from(x).log2()).abs();
            assert!(err < 0.01, "log2({x}) off by {err}");
        }
    }

    #[test]
    fn the_microphone_level_decides_silence_at_its_edge() {
        let mut m = MicrophoneMeter::new();
        m.samples(&[0.0, f32::NAN, 0.001]);
        let MicrophoneCheck::Audio { peak_dbfs, silent } = m.result() else {
            panic!()
        };
        assert!((peak_dbfs + 60.0).abs() < 0.05 && silent, "{peak_dbfs}");
        m.samples(&[-0.0032]);
        let MicrophoneCheck::Audio { silent, .. } = m.result() else {
            panic!()
        };
        assert!(!silent, "-49.9 dBFS is heard");
        assert!(matches!(
            MicrophoneMeter::new().result(),
            MicrophoneCheck::Audio { silent: true, .. }
        ));
    }
}
