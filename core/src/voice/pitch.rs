//! A streaming fundamental-frequency (F0) tracker for singing and speech, pYIN-class.
//!
//! Every [hop](PitchTracker::hop_frames) (about 5 ms) the tracker analyses a frame centred on
//! the frame's time, two periods of the lowest pitch long:
//!
//! 1. the YIN difference function through an FFT, normalised per lag and by its cumulative mean,
//!    in octave bands of lags, each measured on the central part of the frame that holds three
//!    periods of its longest lag (short periods on a short stretch, to follow note changes);
//! 2. its dips as candidates, with pYIN's probabilities (a distribution of thresholds rather
//!    than one), refined to a fraction of a sample by parabolic interpolation;
//! 3. a Viterbi search over pitch bins and an unvoiced state that decides each frame a fixed
//!    number of frames later: the voicing decision, smoothing, and the guard against octave
//!    errors (a one-frame octave flip costs two jumps, a new note one).
//!
//! Lags are scaled to the sample rate, so any rate works without resampling. [`track`] runs the
//! same stream over a whole signal.
//!
//! ```
//! use mixsmith_core::voice::{PitchConfig, track};
//!
//! let rate = 16_000.0;
//! let tone: Vec<f32> = (0..16_000)
//!     .map(|i| (std::f32::consts::TAU * 220.0 * i as f32 / rate).sin() * 0.5)
//!     .collect();
//! let frames = track(&tone, rate, &PitchConfig::default());
//! let middle = frames[frames.len() / 2];
//! assert!((middle.f0_hz - 220.0).abs() < 0.5);
//! ```

mod path;
mod yin;

#[cfg(test)]
mod tests;

use serde::Serialize;

use path::{Decision, PitchPath};
use yin::{Candidates, Yin};

/// Samples beyond this magnitude (far beyond full scale) are clipped to it, so that squares and
/// sums stay finite.
const MAX_SAMPLE: f32 = 1000.0;

/// Settings of a [`PitchTracker`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PitchConfig {
    /// Lowest fundamental in Hz. The analysis frame is two of its periods long, so it sets the
    /// latency: 50 Hz gives 20 ms plus the look-ahead.
    pub min_hz: f32,
    /// Highest fundamental in Hz; at most a quarter of the sample rate.
    pub max_hz: f32,
    /// Time between frames in seconds (rounded to whole samples).
    pub hop_seconds: f32,
    /// Frames the decision waits for after a frame arrives: more smooths better, each costs a
    /// hop of latency.
    pub lookahead_frames: usize,
    /// Frames whose RMS level is below this (dBFS) are unvoiced.
    pub silence_db: f32,
}

impl Default for PitchConfig {
    /// 50–1100 Hz (a bass's low E to a soprano's high C and above), 256-sample hops at 48 kHz
    /// (5.3 ms), one frame of look-ahead, silence below -60 dBFS.
    fn default() -> Self {
        Self {
            min_hz: 50.0,
            max_hz: 1100.0,
            hop_seconds: 256.0 / 48_000.0,
            lookahead_frames: 1,
            silence_db: -60.0,
        }
    }
}

/// Why a [`PitchConfig`] cannot be used at a sample rate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pitch settings: {0}")]
pub struct PitchConfigError(String);

impl PitchConfig {
    /// Checks the settings for `sample_rate` Hz: a finite rate of at least 1 kHz, `0 < min_hz <
    /// max_hz <= sample_rate / 4`, a hop of at least one sample and at most 0.1 s, at most 100
    /// frames of look-ahead and a finite silence level.
    pub fn validate(&self, sample_rate: f32) -> Result<(), PitchConfigError> {
        let fail = |why: String| Err(PitchConfigError(why));
        if !(sample_rate.is_finite() && sample_rate >= 1000.0) {
            return fail(format!("sample rate {sample_rate} Hz (at least 1000 Hz)"));
        }
        if !(self.min_hz > 0.0 && self.min_hz < self.max_hz) {
            return fail(format!(
                "range {}–{} Hz (the lowest must be above 0 and below the highest)",
                self.min_hz, self.max_hz
            ));
        }
        if self.max_hz > sample_rate / 4.0 {
            return fail(format!(
                "highest pitch {} Hz is above a quarter of the sample rate ({} Hz)",
                self.max_hz,
                sample_rate / 4.0
            ));
        }
        let hop = self.hop_seconds * sample_rate;
        if !(hop >= 1.0 && self.hop_seconds <= 0.1) {
            return fail(format!(
                "hop {} s (at least one sample, at most 0.1 s)",
                self.hop_seconds
            ));
        }
        if self.lookahead_frames > 100 {
            return fail(format!(
                "look-ahead of {} frames (at most 100)",
                self.lookahead_frames
            ));
        }
        if !self.silence_db.is_finite() {
            return fail(format!("silence level {} dBFS", self.silence_db));
        }
        Ok(())
    }
}

/// One frame of the F0 track.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PitchFrame {
    /// Time of the frame's centre in seconds from the start of the stream.
    pub time: f64,
    /// Fundamental frequency in Hz; 0.0 when the frame is unvoiced.
    pub f0_hz: f32,
    /// Probability (0–1) that the frame is periodic, from its own analysis. The voicing decision
    /// (`f0_hz > 0`) also weighs the frames around it.
    pub voiced_probability: f32,
}

/// The streaming F0 tracker. See the [module documentation](self).
///
/// All memory is allocated in [`new`](Self::new): [`process`](Self::process),
/// [`finish`](Self::finish) and [`reset`](Self::reset) do not allocate, so they can run on an
/// audio thread.
pub struct PitchTracker {
    sample_rate: f32,
    hop: usize,
    /// Analysis frame length (even).
    frame_len: usize,
    /// The input not yet consumed by frames, at most `frame_len` samples; starts with half a
    /// frame of zeros so that frame 0 is centred on the first sample.
    buffer: Vec<f32>,
    /// DC blocker: the last input, the last output and the pole.
    dc_in: f32,
    dc_out: f32,
    dc_pole: f32,
    yin: Yin,
    path: PitchPath,
    candidates: Candidates,
    /// Input samples received since the start of the stream.
    samples_in: u64,
}

impl std::fmt::Debug for PitchTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PitchTracker")
            .field("sample_rate", &self.sample_rate)
            .field("hop", &self.hop)
            .field("frame_len", &self.frame_len)
            .finish_non_exhaustive()
    }
}

impl PitchTracker {
    /// A tracker for a mono stream at `sample_rate` Hz.
    ///
    /// # Panics
    ///
    /// When [`PitchConfig::validate`] rejects `config` at this rate.
    pub fn new(sample_rate: f32, config: PitchConfig) -> Self {
        if let Err(e) = config.validate(sample_rate) {
            panic!("{e}");
        }
        let hop = (config.hop_seconds * sample_rate).round() as usize;
        let min_lag = ((sample_rate / config.max_hz).floor() as usize).max(2);
        // One lag more than the lowest pitch's period, so a dip there has a neighbour.
        let max_lag = (sample_rate / config.min_hz).ceil() as usize + 1;
        // At least a hop long, so that every input sample is analysed.
        let frame_len = (2 * max_lag).max(hop.next_multiple_of(2));
        let dc_cutoff = (0.4 * config.min_hz).min(20.0);
        let mut tracker = Self {
            sample_rate,
            hop,
            frame_len,
            buffer: Vec::with_capacity(frame_len),
            dc_in: 0.0,
            dc_out: 0.0,
            dc_pole: (-std::f32::consts::TAU * dc_cutoff / sample_rate).exp(),
            yin: Yin::new(sample_rate, frame_len, min_lag, max_lag, config.silence_db),
            path: PitchPath::new(config.min_hz, config.max_hz, config.lookahead_frames),
            candidates: Candidates::default(),
            samples_in: 0,
        };
        tracker.reset();
        tracker
    }

    /// Input samples per [`PitchFrame`].
    pub fn hop_frames(&self) -> usize {
        self.hop
    }

    /// Samples from an input sample to the emission of the frame centred on it: half the
    /// analysis frame plus the look-ahead (1217 samples, 25.4 ms, at 48 kHz with the defaults).
    pub fn latency_frames(&self) -> usize {
        self.frame_len / 2 + self.path.lookahead() * self.hop
    }

    /// Feeds `input` (any length) and emits every frame decided by it, in order. NaN and
    /// infinite samples count as 0.
    pub fn process(&mut self, input: &[f32], emit: &mut impl FnMut(PitchFrame)) {
        self.samples_in += input.len() as u64;
        for &x in input {
            let x = if x.is_finite() {
                x.clamp(-MAX_SAMPLE, MAX_SAMPLE)
            } else {
                0.0
            };
            let y = x - self.dc_in + self.dc_pole * self.dc_out;
            self.dc_in = x;
            self.dc_out = y;
            self.buffer.push(y);
            if self.buffer.len() == self.frame_len {
                self.analyse(emit);
            }
        }
    }

    /// Ends the stream: emits the frames still waiting (one per hop of input, the last ones
    /// analysed with zeros after the end) and resets the tracker for a new stream.
    pub fn finish(&mut self, emit: &mut impl FnMut(PitchFrame)) {
        let frames = self.samples_in.div_ceil(self.hop as u64);
        while self.path.frames() < frames {
            self.buffer.resize(self.frame_len, 0.0);
            self.analyse(emit);
        }
        let (hop, rate) = (self.hop, self.sample_rate);
        self.path.finish(|d| emit(frame(d, hop, rate)));
        self.reset();
    }

    /// Forgets the stream, as if newly created.
    pub fn reset(&mut self) {
        self.buffer.clear();
        self.buffer.resize(self.frame_len / 2, 0.0);
        self.dc_in = 0.0;
        self.dc_out = 0.0;
        self.path.reset();
        self.samples_in = 0;
    }

    /// Analyses the full buffer as the next frame and moves it on by a hop.
    fn analyse(&mut self, emit: &mut impl FnMut(PitchFrame)) {
        self.yin.analyse(&self.buffer, &mut self.candidates);
        if let Some(d) = self.path.push(&self.candidates) {
            emit(frame(d, self.hop, self.sample_rate));
        }
        self.buffer.copy_within(self.hop.., 0);
        self.buffer.truncate(self.frame_len - self.hop);
    }
}

/// The [`PitchFrame`] of a decision.
fn frame(d: Decision, hop: usize, sample_rate: f32) -> PitchFrame {
    PitchFrame {
        time: d.frame as f64 * hop as f64 / f64::from(sample_rate),
        f0_hz: d.hz,
        voiced_probability: d.voiced_probability,
    }
}

/// The F0 track of a whole mono signal: one [`PitchTracker`] stream over it, so it equals
/// streaming in any block size.
///
/// # Panics
///
/// When [`PitchConfig::validate`] rejects `config` at this rate.
pub fn track(samples: &[f32], sample_rate: f32, config: &PitchConfig) -> Vec<PitchFrame> {
    let mut tracker = PitchTracker::new(sample_rate, *config);
    let mut frames = Vec::with_capacity(samples.len() / tracker.hop_frames() + 1);
    let mut push = |f| frames.push(f);
    tracker.process(samples, &mut push);
    tracker.finish(&mut push);
    frames
}
