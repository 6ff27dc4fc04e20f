//! The basic-pitch graph over a whole signal: the reference windowing of basic-pitch 0.4.0
//! (`inference.py`), windows batched through one warmed session, and the outputs unwrapped into
//! one [`Activations`] matrix per output.
//!
//! The reference prepends half an overlap (3 840 zeros) to the 22 050 Hz signal, cuts windows of
//! 43 844 samples every 36 164 samples (the last one zero-padded), drops 15 frames at each end of
//! every window's 172 output frames and keeps the first `floor(len * 86 / 22050)` frames.

use std::path::Path;
use std::sync::Arc;

use crate::inference::{InferenceError, ModelSession, basic_pitch};

/// Semitones (and note-activation bins) from A0 (MIDI 21) to C8 (MIDI 108).
pub const NOTE_BINS: usize = 88;
/// Contour bins: three per semitone from 27.5 Hz.
pub const CONTOUR_BINS: usize = 3 * NOTE_BINS;
/// Samples per model window at 22 050 Hz.
const WINDOW: usize = basic_pitch::WINDOW as usize;
/// Output frames per window.
const WINDOW_FRAMES: usize = basic_pitch::FRAMES as usize;
/// Frames shared by neighbouring windows.
const OVERLAP_FRAMES: usize = 30;
/// Samples shared by neighbouring windows.
const OVERLAP: usize = OVERLAP_FRAMES * basic_pitch::HOP as usize;
/// Samples between window starts.
const WINDOW_HOP: usize = WINDOW - OVERLAP;
/// Frames dropped at each end of a window's output.
const EDGE_FRAMES: usize = OVERLAP_FRAMES / 2;
/// Frames each window contributes.
const KEPT_FRAMES: usize = WINDOW_FRAMES - 2 * EDGE_FRAMES;
/// The reference's (integer) frame rate, used to count the frames of a signal.
pub const FRAME_RATE: u32 = basic_pitch::SAMPLE_RATE / basic_pitch::HOP;
/// Windows per model call: large enough to amortise the call, small enough to report progress.
const BATCH: usize = 8;

/// The model's three outputs over a whole signal, frame-major (`[frame * bins + bin]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Activations {
    frames: usize,
    /// Note (frame) activations, [`NOTE_BINS`] per frame.
    note: Vec<f32>,
    /// Onset activations, [`NOTE_BINS`] per frame.
    onset: Vec<f32>,
    /// Pitch contour, [`CONTOUR_BINS`] per frame.
    contour: Vec<f32>,
}

impl Activations {
    /// Activations from frame-major matrices; `None` when a length does not match `frames`.
    pub fn new(frames: usize, note: Vec<f32>, onset: Vec<f32>, contour: Vec<f32>) -> Option<Self> {
        (note.len() == frames * NOTE_BINS
            && onset.len() == frames * NOTE_BINS
            && contour.len() == frames * CONTOUR_BINS)
            .then_some(Self {
                frames,
                note,
                onset,
                contour,
            })
    }

    /// The number of frames (86 per second).
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Note activations, frame-major, [`NOTE_BINS`] per frame.
    pub fn note(&self) -> &[f32] {
        &self.note
    }

    /// Onset activations, frame-major, [`NOTE_BINS`] per frame.
    pub fn onset(&self) -> &[f32] {
        &self.onset
    }

    /// Pitch contour, frame-major, [`CONTOUR_BINS`] per frame.
    pub fn contour(&self) -> &[f32] {
        &self.contour
    }
}

/// Frames the reference keeps for a signal of `samples` samples at 22 050 Hz.
pub fn frame_count(samples: usize) -> usize {
    (samples as f64 * (f64::from(FRAME_RATE) / f64::from(basic_pitch::SAMPLE_RATE))).floor()
        as usize
}

/// Windows the reference cuts from a signal of `samples` samples (always at least one).
pub fn window_count(samples: usize) -> usize {
    (samples + OVERLAP / 2).div_ceil(WINDOW_HOP)
}

/// A basic-pitch graph, opened and warmed up, ready to run on whole signals.
#[derive(Debug, Clone)]
pub struct BasicPitch {
    session: Arc<ModelSession>,
}

impl BasicPitch {
    /// Wraps a session of `nmp.onnx` (see [`crate::inference::ModelPack::open_session`], which
    /// checks the graph and warms it up).
    pub fn new(session: Arc<ModelSession>) -> Self {
        Self { session }
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        self.session.path()
    }

    /// Runs the model over `audio` (mono, 22 050 Hz) and unwraps its outputs. `progress(done,
    /// total)` is called with the number of windows after each batch.
    pub fn activations(
        &self,
        audio: &[f32],
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Activations, InferenceError> {
        let frames = frame_count(audio.len());
        let windows = window_count(audio.len());
        let mut out = Activations {
            frames,
            note: Vec::with_capacity(windows * KEPT_FRAMES * NOTE_BINS),
            onset: Vec::with_capacity(windows * KEPT_FRAMES * NOTE_BINS),
            contour: Vec::with_capacity(windows * KEPT_FRAMES * CONTOUR_BINS),
        };
        let mut input = Vec::with_capacity(BATCH.min(windows) * WINDOW);
        for first in (0..windows).step_by(BATCH) {
            let batch = BATCH.min(windows - first);
            input.clear();
            for w in first..first + batch {
                push_window(audio, w, &mut input);
            }
            let outputs = self
                .session
                .run_f32(basic_pitch::INPUT, &[batch, WINDOW, 1], &input)?;
            for (name, dest, bins) in [
                (basic_pitch::NOTE, &mut out.note, NOTE_BINS),
                (basic_pitch::ONSET, &mut out.onset, NOTE_BINS),
                (basic_pitch::CONTOUR, &mut out.contour, CONTOUR_BINS),
            ] {
                let value = outputs.require(self.session.path(), name)?;
                if value.shape() != [batch, WINDOW_FRAMES, bins] {
                    return Err(InferenceError::run(
                        self.session.path(),
                        format!("output `{name}` has shape {:?}", value.shape()),
                    ));
                }
                let data = value.as_slice().ok_or_else(|| {
                    InferenceError::run(self.session.path(), format!("output `{name}` is strided"))
                })?;
                for window in data.chunks_exact(WINDOW_FRAMES * bins) {
                    dest.extend_from_slice(
                        &window[EDGE_FRAMES * bins..(WINDOW_FRAMES - EDGE_FRAMES) * bins],
                    );
                }
            }
            progress(first + batch, windows);
        }
        out.note.truncate(frames * NOTE_BINS);
        out.onset.truncate(frames * NOTE_BINS);
        out.contour.truncate(frames * CONTOUR_BINS);
        Ok(out)
    }
}

/// Appends window `w` of the padded signal (half an overlap of zeros, then `audio`, then zeros).
fn push_window(audio: &[f32], w: usize, input: &mut Vec<f32>) {
    let lead = OVERLAP / 2;
    let start = w * WINDOW_HOP;
    let end = start + WINDOW;
    let zeros_before = lead.saturating_sub(start).min(WINDOW);
    input.resize(input.len() + zeros_before, 0.0);
    let from = (start + zeros_before).saturating_sub(lead).min(audio.len());
    let to = end.saturating_sub(lead).min(audio.len());
    input.extend_from_slice(&audio[from..to]);
    let filled = zeros_before + (to - from);
    input.resize(input.len() + WINDOW - filled, 0.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_padded_signal_like_the_reference() {
        // range(0, len + 3840, 36164)
        assert_eq!(window_count(0), 1);
        assert_eq!(window_count(36_164 - 3840), 1);
        assert_eq!(window_count(36_164 - 3839), 2);
        assert_eq!(window_count(22_050 * 10), 7);
        // Enough kept frames for every counted frame.
        for len in [0, 1, 1000, 43_844, 100_000, 22_050 * 180 + 17] {
            assert!(window_count(len) * KEPT_FRAMES >= frame_count(len), "{len}");
        }
        assert_eq!(frame_count(22_050), 86);
        assert_eq!(frame_count(22_050 * 2 + 256), 172);
    }

    #[test]
    fn window_samples_are_the_padded_signal() {
        let audio: Vec<f32> = (1..=100_000).map(|n| n as f32).collect();
        let padded: Vec<f32> = std::iter::repeat_n(0.0, OVERLAP / 2)
            .chain(audio.iter().copied())
            .collect();
        for w in 0..window_count(audio.len()) {
            let mut got = Vec::new();
            push_window(&audio, w, &mut got);
            assert_eq!(got.len(), WINDOW);
            for (i, &v) in got.iter().enumerate() {
                let want = padded.get(w * WINDOW_HOP + i).copied().unwrap_or(0.0);
                assert_eq!(v, want, "window {w} sample {i}");
            }
        }
    }
}
