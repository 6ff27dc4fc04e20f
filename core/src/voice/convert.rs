//! The DSP voice converter: moves a voice's average timbre to a [`VoiceProfile`]'s while its
//! pitch, timing and words stay as sung.
//!
//! A streaming STFT (periodic Hann, [`frame_len`](super::envelope::frame_len) samples, 75 %
//! overlap, weighted overlap-add) measures each frame's envelope and periodicity
//! ([`FrameAnalyser`]). Voiced frames feed a running average of the input's envelope (a
//! cumulative mean that becomes a 10-second exponential average), and every frame's bins are
//! scaled by the ratio of the profile's envelope (moved by the formant shift) to that average,
//! interpolated from the mel grid. The transfer is therefore of the *average* timbre, a slowly
//! moving equaliser, not a frame-by-frame whitening: vowels keep their own formant movement and
//! sustained notes do not flutter. The ratio is levelled so the input's loudness stays, scaled
//! by the amount, reduced in unvoiced frames by `protect`, and smoothed over time.
//!
//! `transpose_semitones` moves the pitch inside the same STFT, before the gains (see
//! [`PitchShifter`](super::shift)): the partials move, the formants stay, and the latency is
//! unchanged. At 0 the spectrum is not touched.
//!
//! The output is the input delayed by [`VoiceConverter::latency_frames`] (one frame: 21.3 ms at
//! 48 kHz, 23.2 ms at 44.1 kHz) whatever the block size; with `amount` 0 it is that delayed
//! input to float rounding (the STFT round trip). [`VoiceConverter::process`] allocates nothing,
//! so it can run on a plugin's audio thread.

use std::sync::Arc;

use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner};

use super::envelope::{
    FrameAnalyser, GRID_MAX_HZ, GRID_POINTS, HIGH_HZ, HIGH_POINTS, covered_high, covered_points,
    grid_frequencies, grid_index, lerp, position, voicing,
};
use super::profile::{CLASSES, VoiceProfile, class_distance, class_points};
use super::shift::PitchShifter;

/// The largest formant shift in semitones, either way.
pub const MAX_FORMANT_SEMITONES: f32 = 12.0;
/// The largest transpose in semitones, either way (two octaves).
pub const MAX_TRANSPOSE_SEMITONES: f32 = 24.0;
/// The largest `protect` (no protection: unvoiced frames change as much as voiced ones).
pub const MAX_PROTECT: f32 = 0.5;
/// The largest boost the envelope ratio may ask for, dB.
const MAX_BOOST_DB: f32 = 18.0;
/// The largest cut the envelope ratio may ask for, dB.
const MAX_CUT_DB: f32 = 40.0;
/// Below this fraction of the higher of the two voices' typical fundamentals the envelopes are not sampled
/// by any harmonic, so the gain is held at its value there.
const BELOW_F0: f32 = 0.8;
/// Time constant of the input's long-term envelope average, seconds.
const AVERAGE_SECONDS: f32 = 10.0;
/// Time constant of the voicing decision's smoothing, seconds.
const VOICING_SECONDS: f32 = 0.02;
/// Time constant of the gains' smoothing, seconds (short enough to follow the class mapping
/// from sound to sound: 40 ms measured 0.2 dB worse on the bench).
const GAIN_SECONDS: f32 = 0.015;
/// Above the grid's top ([`GRID_MAX_HZ`]) a version 1 profile does not know the voice: over this
/// many octaves the gains fade from the top point's to the frame's level alone (the input's own
/// shape there), instead of carrying the top point's ratio to the Nyquist frequency. A version 2
/// profile measured the band at [`HIGH_HZ`]: the gains there move the input's average to it.
const ABOVE_GRID_OCTAVES: f32 = 1.0;
/// Gains: one per grid point, then one per [`HIGH_HZ`] point (the bins above the grid
/// interpolate between the grid's top and them in log frequency, and hold the last above).
const GAINS: usize = GRID_POINTS + HIGH_POINTS;
/// Gains closer than this to their target (dB) jump to it, so they settle exactly.
const GAIN_SNAP_DB: f32 = 1e-4;
/// Softness of the class mapping: a class whose squared distance (summed over the class points,
/// dB²) is this much above the nearest one's weighs 1/e as much.
const CLASS_TEMPERATURE: f32 = 400.0;
/// Limits of the spread ratio (profile / input) that scales an input frame's departure from its
/// average before it is compared with the profile's classes.
const SPREAD_RATIO: (f32, f32) = (0.5, 2.0);
/// The frame's power correction ignores changes of its wanted value up to this many dB.
const POWER_SLACK_DB: f32 = 1.0;
/// The class mapping reads a tracked input envelope, not the frame's own: it follows the frames
/// with this time constant (seconds) while they stay near it (a held sound: the frames differ
/// by the harmonics' sampling and the vibrato, not by what is sung)...
const TRACK_SLOW_SECONDS: f32 = 0.5;
/// ...and at once when they move away (a new sound): from this RMS distance (dB over the class
/// points) between the frame and the tracked envelope the rate rises...
const TRACK_NOISE_DB: f32 = 2.5;
/// ...to one (the frame itself) at this distance.
const TRACK_CHANGE_DB: f32 = 4.0;

/// What the converter does; every field may change between blocks (automation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvertSettings {
    /// How far to move the timbre, 0 (none: the delayed input) to 1 (the profile's).
    pub amount: f32,
    /// Shift of the profile's formants in semitones (positive: a smaller, brighter voice),
    /// within ±[`MAX_FORMANT_SEMITONES`].
    pub formant_semitones: f32,
    /// Protection of unvoiced sounds (consonants, breaths), 0 to [`MAX_PROTECT`], with RVC's
    /// meaning: unvoiced frames are converted `protect / 0.5` as much as voiced ones, so 0.5
    /// turns protection off and 0 leaves them as they are.
    pub protect: f32,
    /// Pitch shift of the output in semitones (fractions allowed), within
    /// ±[`MAX_TRANSPOSE_SEMITONES`]; 0 keeps the sung pitch. The formants stay where they were,
    /// and the latency is the same.
    pub transpose_semitones: f32,
}

impl Default for ConvertSettings {
    /// Full amount, no formant shift, `protect` 0.33 (RVC's default), no transpose.
    fn default() -> Self {
        Self {
            amount: 1.0,
            formant_semitones: 0.0,
            protect: 0.33,
            transpose_semitones: 0.0,
        }
    }
}

impl ConvertSettings {
    /// These settings with every field clamped to its range (non-finite values become the
    /// defaults).
    pub fn clamped(self) -> Self {
        let default = Self::default();
        let clamp =
            |v: f32, lo: f32, hi: f32, d: f32| if v.is_finite() { v.clamp(lo, hi) } else { d };
        Self {
            amount: clamp(self.amount, 0.0, 1.0, default.amount),
            formant_semitones: clamp(
                self.formant_semitones,
                -MAX_FORMANT_SEMITONES,
                MAX_FORMANT_SEMITONES,
                default.formant_semitones,
            ),
            protect: clamp(self.protect, 0.0, MAX_PROTECT, default.protect),
            transpose_semitones: clamp(
                self.transpose_semitones,
                -MAX_TRANSPOSE_SEMITONES,
                MAX_TRANSPOSE_SEMITONES,
                default.transpose_semitones,
            ),
        }
    }
}

/// One-pole smoothing coefficient for a time constant of `seconds` at one update per `hop`.
fn coefficient(seconds: f32, hop: usize, sample_rate: f32) -> f32 {
    1.0 - (-(hop as f32) / (seconds * sample_rate)).exp()
}

/// A streaming converter of one mono voice towards a profile, at one sample rate.
pub struct VoiceConverter {
    analyser: FrameAnalyser,
    /// Moves the pitch of each frame's spectrum by the transpose.
    shifter: PitchShifter,
    inverse: Arc<dyn ComplexToReal<f32>>,
    fft_scratch: Vec<Complex32>,
    hop: usize,
    /// The last frame's worth of input; the newest hop is written at its end.
    input: Vec<f32>,
    /// Input samples of the current hop received so far.
    filled: usize,
    /// Overlap-add accumulator, one frame long.
    overlap: Vec<f32>,
    /// The finished output of the last frame, played out during the next hop.
    ready: Vec<f32>,
    /// Each bin's gain this frame (before the power correction).
    bin_gains: Vec<f32>,
    /// The last frame's power correction, dB: what makes the gains keep the power of the
    /// spectrum they apply to.
    power_db: f32,
    /// The inverse FFT's output.
    synthesis: Vec<f32>,
    /// Synthesis window including the FFT's 1/n and the overlap-add normalisation.
    synthesis_window: Vec<f32>,
    /// Gain position (index, fraction) of each bin: on the grid, then fading from its top point
    /// to the level-only gain above it.
    bin_grid: Vec<(usize, f32)>,
    /// Grid points both the profile and this sample rate cover.
    covered: usize,
    /// The profile's envelope, dB on the grid.
    target_db: [f32; GRID_POINTS],
    /// `target_db` moved by the formant shift.
    shifted_db: [f32; GRID_POINTS],
    /// The input's long-term average envelope over voiced frames, dB.
    average_db: [f32; GRID_POINTS],
    /// The input's long-term average envelope at [`HIGH_HZ`] over voiced frames, dB.
    average_high: [f32; HIGH_POINTS],
    /// The profile's envelope at [`HIGH_HZ`], dB, and how many of its points both the profile and
    /// this rate measured (0: the version 1 fade above the grid).
    target_high: [f32; HIGH_POINTS],
    high_count: usize,
    /// The input's long-term mean square departure from `average_db` over voiced frames, dB².
    variance_db: [f32; GRID_POINTS],
    /// The input's envelope tracked for the class mapping (see [`TRACK_SLOW_SECONDS`]), dB,
    /// and whether it holds a frame yet.
    tracked_db: [f32; GRID_POINTS],
    tracking: bool,
    /// The profile's spread per point, dB (version 2 profiles).
    target_spread: [f32; GRID_POINTS],
    /// The profile's envelope classes, dB (the first `class_count`).
    classes: [[f32; GRID_POINTS]; CLASSES],
    class_count: usize,
    /// The grid position (index, fraction) each point reads the profile's envelopes at for the
    /// formant shift.
    shift_positions: [(usize, f32); GRID_POINTS],
    /// Voiced frames averaged so far (weighted by their voicing).
    average_weight: f32,
    /// The input's average fundamental over voiced frames, log2 Hz.
    average_log_f0: f32,
    /// The profile's 5th-percentile fundamental, Hz.
    target_low_f0: f32,
    /// The smoothed voicing of recent frames, 0..1.
    voicing: f32,
    /// Smoothed gains in dB and as factors: on the grid, then the level-only gain.
    gain_db: [f32; GAINS],
    gain: [f32; GAINS],
    settings: ConvertSettings,
    sample_rate: f32,
    average_rate: f32,
    voicing_rate: f32,
    gain_rate: f32,
    track_rate: f32,
    power_rate: f32,
}

impl std::fmt::Debug for VoiceConverter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceConverter")
            .field("sample_rate", &self.sample_rate)
            .field("frame_len", &self.input.len())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl VoiceConverter {
    /// A converter towards `profile` (validated, see [`VoiceProfile::validate`]) for audio at
    /// `sample_rate`.
    ///
    /// # Panics
    /// If `sample_rate` is below [`MIN_SAMPLE_RATE`](super::envelope::MIN_SAMPLE_RATE) (8 kHz).
    pub fn new(profile: &VoiceProfile, sample_rate: f32, settings: ConvertSettings) -> Self {
        let analyser = FrameAnalyser::new(sample_rate);
        let n = analyser.frame_len();
        let hop = n / 4;
        let inverse = RealFftPlanner::<f32>::new().plan_fft_inverse(n);
        // A periodic Hann window squared sums to 1.5 at 75 % overlap.
        let norm = 1.0 / (n as f32 * 1.5);
        let synthesis_window = analyser.window().iter().map(|w| w * norm).collect();
        let bin_grid = (0..=n / 2)
            .map(|k| {
                let hz = k as f32 * sample_rate / n as f32;
                if hz > GRID_MAX_HZ {
                    // Nodes: the grid's top, then the high points (gains GRID_POINTS - 1 on).
                    let node = |j: usize| if j == 0 { GRID_MAX_HZ } else { HIGH_HZ[j - 1] };
                    match (0..HIGH_POINTS).find(|&j| hz < node(j + 1)) {
                        Some(j) => (
                            GRID_POINTS - 1 + j,
                            (hz / node(j)).ln() / (node(j + 1) / node(j)).ln(),
                        ),
                        None => (GAINS - 2, 1.0),
                    }
                } else {
                    position(grid_index(hz), GRID_POINTS)
                }
            })
            .collect();
        let mut converter = Self {
            shifter: PitchShifter::new(n, hop),
            fft_scratch: vec![Complex32::default(); inverse.get_scratch_len()],
            inverse,
            hop,
            input: vec![0.0; n],
            filled: 0,
            overlap: vec![0.0; n],
            ready: vec![0.0; hop],
            synthesis: vec![0.0; n],
            bin_gains: vec![1.0; n / 2 + 1],
            power_db: 0.0,
            synthesis_window,
            bin_grid,
            // Set from the profile below.
            covered: GRID_POINTS,
            target_db: [0.0; GRID_POINTS],
            shifted_db: [0.0; GRID_POINTS],
            average_db: [0.0; GRID_POINTS],
            variance_db: [0.0; GRID_POINTS],
            tracked_db: [0.0; GRID_POINTS],
            tracking: false,
            average_high: [0.0; HIGH_POINTS],
            target_high: [0.0; HIGH_POINTS],
            high_count: 0,
            target_spread: [0.0; GRID_POINTS],
            classes: [[0.0; GRID_POINTS]; CLASSES],
            class_count: 0,
            shift_positions: [(0, 0.0); GRID_POINTS],
            average_weight: 0.0,
            average_log_f0: 0.0,
            target_low_f0: 0.0,
            voicing: 0.0,
            gain_db: [0.0; GAINS],
            gain: [1.0; GAINS],
            settings: ConvertSettings::default(),
            sample_rate,
            average_rate: coefficient(AVERAGE_SECONDS, hop, sample_rate),
            voicing_rate: coefficient(VOICING_SECONDS, hop, sample_rate),
            gain_rate: coefficient(GAIN_SECONDS, hop, sample_rate),
            track_rate: coefficient(TRACK_SLOW_SECONDS, hop, sample_rate),
            power_rate: coefficient(GAIN_SECONDS, hop, sample_rate),
            analyser,
        };
        converter.settings = settings.clamped();
        converter.set_profile(profile);
        converter
    }

    /// The delay of the output behind the input in frames (one analysis frame), the same for
    /// every block size.
    pub fn latency_frames(&self) -> usize {
        self.input.len()
    }

    /// The settings in force.
    pub fn settings(&self) -> ConvertSettings {
        self.settings
    }

    /// Changes the settings (clamped to their ranges, see [`ConvertSettings::clamped`]); the
    /// gains glide to the new values. Allocation-free.
    pub fn set_settings(&mut self, settings: ConvertSettings) {
        self.settings = settings.clamped();
        // The shifted envelope at f is the profile's at f / ratio.
        let ratio = 2f32.powf(self.settings.formant_semitones / 12.0);
        let last = self.covered.max(1);
        for (p, hz) in self.shift_positions.iter_mut().zip(grid_frequencies()) {
            *p = position(grid_index(hz / ratio), last);
        }
        for (s, &(i, frac)) in self.shifted_db.iter_mut().zip(&self.shift_positions) {
            let next = (i + 1).min(last - 1);
            *s = lerp(self.target_db[i], self.target_db[next], frac);
        }
    }

    /// Moves towards `profile` (validated) from now on: the gains glide to it as they do for a
    /// settings change. Allocation-free, so a plugin can switch profiles on its audio thread.
    pub fn set_profile(&mut self, profile: &VoiceProfile) {
        self.target_db.copy_from_slice(&profile.envelope_db);
        self.covered = covered_points(self.sample_rate).min(profile.covered_points);
        self.target_low_f0 = profile.pitch.p5_hz;
        self.high_count = if profile.high_db.len() == HIGH_POINTS {
            profile.high_covered.min(covered_high(self.sample_rate))
        } else {
            0
        };
        if self.high_count > 0 {
            self.target_high.copy_from_slice(&profile.high_db);
        }
        // Version 1 profiles have no classes: the average alone.
        self.class_count = if profile.spread_db.len() == GRID_POINTS {
            profile.classes.len().min(CLASSES)
        } else {
            0
        };
        for (c, p) in self.classes.iter_mut().zip(&profile.classes) {
            c.copy_from_slice(p);
        }
        if self.class_count > 0 {
            self.target_spread.copy_from_slice(&profile.spread_db);
        }
        self.set_settings(self.settings);
    }

    /// The gains in force in dB (the smoothed gains with the last frame's power correction),
    /// for tests.
    #[cfg(test)]
    pub(super) fn gains_db(&self) -> [f32; GAINS] {
        self.gain_db.map(|g| g + self.power_db)
    }

    /// Turns the transpose's formant correction off (`false`) or on, to measure what it does.
    #[cfg(test)]
    pub(super) fn set_formant_correction(&mut self, on: bool) {
        self.shifter.set_formant_correction(on);
    }

    /// Forgets the input heard so far (its average timbre too), as after a transport jump.
    pub fn reset(&mut self) {
        self.shifter.reset();
        self.input.fill(0.0);
        self.overlap.fill(0.0);
        self.ready.fill(0.0);
        self.filled = 0;
        self.average_db = [0.0; GRID_POINTS];
        self.variance_db = [0.0; GRID_POINTS];
        self.tracked_db = [0.0; GRID_POINTS];
        self.tracking = false;
        self.average_high = [0.0; HIGH_POINTS];
        self.average_weight = 0.0;
        self.average_log_f0 = 0.0;
        self.voicing = 0.0;
        self.gain_db = [0.0; GAINS];
        self.gain = [1.0; GAINS];
        self.power_db = 0.0;
    }

    /// Converts one block of any length: `output[i]` is the converted input of
    /// [`latency_frames`](Self::latency_frames) samples earlier. NaN and infinite input samples
    /// are read as 0. Allocation-free.
    ///
    /// # Panics
    /// If `input` and `output` differ in length.
    pub fn process(&mut self, input: &[f32], output: &mut [f32]) {
        assert_eq!(input.len(), output.len(), "input and output lengths");
        let (n, hop) = (self.input.len(), self.hop);
        let mut done = 0;
        while done < input.len() {
            let take = (hop - self.filled).min(input.len() - done);
            let fresh = n - hop + self.filled;
            for (dst, &x) in self.input[fresh..fresh + take]
                .iter_mut()
                .zip(&input[done..done + take])
            {
                *dst = if x.is_finite() { x } else { 0.0 };
            }
            output[done..done + take].copy_from_slice(&self.ready[self.filled..self.filled + take]);
            self.filled += take;
            done += take;
            if self.filled == hop {
                self.process_frame();
                self.input.copy_within(hop.., 0);
                self.filled = 0;
            }
        }
    }

    /// Analyses and converts the frame in `input`, overlap-adds it and moves the next hop of
    /// finished output into `ready`.
    fn process_frame(&mut self) {
        let analysis = self.analyser.analyse(&self.input);
        let sounding = analysis.level_db > f32::NEG_INFINITY;
        let voiced = voicing(analysis);
        if voiced > 0.0 {
            self.average_weight += voiced;
            let rate = (voiced / self.average_weight).max(voiced * self.average_rate);
            for ((a, var), e) in self
                .average_db
                .iter_mut()
                .zip(&mut self.variance_db)
                .zip(&analysis.envelope_db)
            {
                *var += rate * ((e - *a) * (e - *a) - *var);
                *a += rate * (e - *a);
            }
            for (a, e) in self.average_high.iter_mut().zip(&analysis.high_db) {
                *a += rate * (e - *a);
            }
            if analysis.f0_hz > 0.0 {
                self.average_log_f0 += rate * (analysis.f0_hz.log2() - self.average_log_f0);
            }
        }
        self.voicing += self.voicing_rate * (voiced - self.voicing);
        if voiced > 0.0 {
            let envelope_db = analysis.envelope_db;
            self.track(&envelope_db, voiced);
        }
        let tracked_db = self.tracked_db;
        self.update_gains(&tracked_db, voiced);
        let (spectrum, envelope) = self.analyser.spectrum_and_envelope();
        let ratio = 2f32.powf(self.settings.transpose_semitones / 12.0);
        self.shifter
            .shift(spectrum, sounding.then_some(envelope), ratio);
        // The gains were levelled on the input's envelope, which the partials sample where they
        // are; transposed, they sample it elsewhere (an octave up, half as densely and nothing
        // below the new fundamental), so the levelled gains change the frame's power by an
        // amount that depends on the sound and so on the voicing, which is smoothed (causal):
        // the loudness contour came out late (80 samples at +12 semitones). While transposing,
        // one factor for the frame makes the gains keep the power of the bins they scale. It
        // moves only by what is beyond POWER_SLACK_DB of it (backlash), so the small ups and
        // downs of a held note's partials leave it still; untransposed it glides back to 0.
        let (mut before, mut after) = (0.0f32, 0.0f32);
        for ((g, bin), &(i, frac)) in self
            .bin_gains
            .iter_mut()
            .zip(spectrum.iter())
            .zip(&self.bin_grid)
        {
            *g = lerp(self.gain[i], self.gain[i + 1], frac);
            let power = bin.norm_sqr();
            before += power;
            after += power * *g * *g;
        }
        let (wanted, slack) = if ratio != 1.0 && after > 0.0 && before > 0.0 {
            (10.0 * (before / after).log10(), POWER_SLACK_DB)
        } else {
            (0.0, 0.0)
        };
        let goal =
            self.power_db + wanted - wanted.clamp(self.power_db - slack, self.power_db + slack);
        let step = goal - self.power_db;
        self.power_db = if step.abs() < GAIN_SNAP_DB {
            goal
        } else {
            self.power_db + self.power_rate * step
        };
        let correction = 10f32.powf(self.power_db / 20.0);
        for (bin, g) in spectrum.iter_mut().zip(&self.bin_gains) {
            *bin *= g * correction;
        }
        let last = spectrum.len() - 1;
        spectrum[0].im = 0.0;
        spectrum[last].im = 0.0;
        self.inverse
            .process_with_scratch(spectrum, &mut self.synthesis, &mut self.fft_scratch)
            .expect("sizes come from the plan");
        for ((o, s), w) in self
            .overlap
            .iter_mut()
            .zip(&self.synthesis)
            .zip(&self.synthesis_window)
        {
            *o += s * w;
        }
        let hop = self.hop;
        self.ready.copy_from_slice(&self.overlap[..hop]);
        self.overlap.copy_within(hop.., 0);
        let n = self.overlap.len();
        self.overlap[n - hop..].fill(0.0);
    }

    /// Moves the tracked envelope towards a voiced frame's `frame` (`voiced` 0..1): slowly while
    /// the frame is near it, at once when it is far.
    fn track(&mut self, frame: &[f32; GRID_POINTS], voiced: f32) {
        if !self.tracking {
            self.tracked_db = *frame;
            self.tracking = true;
            return;
        }
        let points = class_points(self.covered);
        let count = points.len().max(1) as f32;
        let distance = (class_distance(frame, &self.tracked_db, points) / count).sqrt();
        let noise = TRACK_NOISE_DB;
        let change = ((distance - noise) / (TRACK_CHANGE_DB - noise)).clamp(0.0, 1.0);
        let rate = voiced * lerp(self.track_rate, 1.0, change * change * (3.0 - 2.0 * change));
        for (t, f) in self.tracked_db.iter_mut().zip(frame) {
            *t += rate * (f - *t);
        }
    }

    /// The profile's envelope for the input frame `frame` (dB on the grid): the frame's
    /// departure from the input's average, scaled by the ratio of the two voices' spreads, is
    /// added to the profile's average, and the profile's classes are weighted by how near they
    /// are to that (a soft nearest class); the result is moved by the formant shift into `out`.
    fn mapped_envelope(&self, frame: &[f32; GRID_POINTS], out: &mut [f32; GRID_POINTS]) {
        let points = class_points(self.covered);
        let mut normalised = [0.0f32; GRID_POINTS];
        for (i, n) in normalised.iter_mut().enumerate() {
            let spread = self.variance_db[i].max(1e-6).sqrt();
            let ratio = (self.target_spread[i] / spread).clamp(SPREAD_RATIO.0, SPREAD_RATIO.1);
            *n = self.target_db[i] + ratio * (frame[i] - self.average_db[i]);
        }
        let mut distances = [0.0f32; CLASSES];
        let classes = &self.classes[..self.class_count];
        for (d, c) in distances.iter_mut().zip(classes) {
            *d = class_distance(&normalised, c, points.clone());
        }
        let nearest = distances[..self.class_count]
            .iter()
            .fold(f32::MAX, |m, &d| m.min(d));
        let mut mapped = [0.0f32; GRID_POINTS];
        let mut total = 0.0f32;
        for (d, c) in distances.iter().zip(classes) {
            let w = (-(d - nearest) / CLASS_TEMPERATURE).exp();
            total += w;
            for (m, x) in mapped.iter_mut().zip(c) {
                *m += w * x;
            }
        }
        let last = self.covered.max(1);
        for (o, &(i, frac)) in out.iter_mut().zip(&self.shift_positions) {
            let next = (i + 1).min(last - 1);
            *o = lerp(mapped[i], mapped[next], frac) / total;
        }
    }

    /// Moves the smoothed gains one hop towards the levelled envelope ratio at the amount in
    /// force for the current voicing: for a voiced frame (`voiced`, 0..1) and a profile with
    /// classes, from the frame's envelope to its mapped envelope; otherwise from the input's
    /// average to the profile's.
    fn update_gains(&mut self, frame: &[f32; GRID_POINTS], voiced: f32) {
        let protect = self.settings.protect / MAX_PROTECT;
        let amount = self.settings.amount * (self.voicing + (1.0 - self.voicing) * protect);
        let mut target = [0.0f32; GAINS];
        let covered = self.covered;
        if self.average_weight > 0.0 && amount > 0.0 {
            let mapping = if self.class_count > 0 { voiced } else { 0.0 };
            let mut mapped = [0.0f32; GRID_POINTS];
            if mapping > 0.0 {
                self.mapped_envelope(frame, &mut mapped);
            }
            let mut base = self.average_db;
            for i in 0..GRID_POINTS {
                let average = self.shifted_db[i] - self.average_db[i];
                let framewise = mapped[i] - frame[i];
                target[i] = lerp(average, framewise, mapping).clamp(-MAX_CUT_DB, MAX_BOOST_DB);
                base[i] = lerp(self.average_db[i], frame[i], mapping);
            }
            // The gains apply to the transposed spectrum, whose fundamental is moved too.
            let output_log_f0 = self.average_log_f0 + self.settings.transpose_semitones / 12.0;
            let low_f0 = output_log_f0.exp2().max(self.target_low_f0);
            let first = (grid_index(BELOW_F0 * low_f0).ceil().max(0.0) as usize).min(covered - 1);
            let held = target[first];
            target[..first].fill(held);
            // Level the ratio so the input's (mel-weighted) power stays the same.
            let (mut before, mut after) = (0.0f32, 0.0f32);
            for (t, a) in target.iter().zip(&base).take(covered).skip(first) {
                let power = db_to_power(*a);
                before += power;
                after += power * db_to_power(*t);
            }
            let level = 10.0 * (after / before).log10();
            let edge = target[covered - 1] - level;
            for (i, t) in target.iter_mut().enumerate() {
                *t = amount
                    * if i < covered {
                        *t - level
                    } else if i < GRID_POINTS {
                        edge
                    } else if self.high_count > 0 {
                        // The profile's average above the grid over the input's (the last
                        // measured point held above).
                        let j = (i - GRID_POINTS).min(self.high_count - 1);
                        (self.target_high[j] - self.average_high[j])
                            .clamp(-MAX_CUT_DB, MAX_BOOST_DB)
                            - level
                    } else {
                        // Version 1: from the top point's gain to the level alone over
                        // ABOVE_GRID_OCTAVES.
                        let fade = ((HIGH_HZ[i - GRID_POINTS] / GRID_MAX_HZ).log2()
                            / ABOVE_GRID_OCTAVES)
                            .min(1.0);
                        lerp(edge, -level, fade)
                    };
            }
        }
        for ((g, lin), t) in self.gain_db.iter_mut().zip(&mut self.gain).zip(target) {
            let step = t - *g;
            *g = if step.abs() < GAIN_SNAP_DB {
                t
            } else {
                *g + self.gain_rate * step
            };
            *lin = 10f32.powf(*g / 20.0);
        }
    }
}

fn db_to_power(db: f32) -> f32 {
    10f32.powf(db / 10.0)
}

/// Converts a whole mono clip offline: the output is aligned with the input (the latency is
/// removed) and as long as it.
pub fn convert(
    profile: &VoiceProfile,
    samples: &[f32],
    sample_rate: f32,
    settings: ConvertSettings,
) -> Vec<f32> {
    let mut converter = VoiceConverter::new(profile, sample_rate, settings);
    let latency = converter.latency_frames();
    let mut padded = samples.to_vec();
    padded.resize(samples.len() + latency, 0.0);
    let mut out = vec![0.0; padded.len()];
    converter.process(&padded, &mut out);
    out.drain(..latency);
    out
}
