//! Pitch shifting inside the converter's own STFT, so that transposing costs no latency: the
//! peak-based phase vocoder of Laroche & Dolson ("New phase-vocoder techniques for
//! pitch-shifting, harmonizing and other exotic effects", 1999).
//!
//! Every frame, the spectrum's peaks (local maxima of the magnitude) are found and the bins are
//! split into one region per peak at the lowest bin between neighbouring peaks. Each region is
//! moved as a block by the whole number of bins nearest to the frequency change of its peak and
//! rotated by one phase, so the bins around a peak keep their phase relations (identity phase
//! locking: no phasiness). That phase is the peak's own: the difference between the output's and
//! the input's phase at the frame centre, which advances every hop by the hop times the change
//! of the peak's instantaneous frequency (measured from the phase advance of the peak's bin
//! since the last frame). The output partial's frequency is therefore the input's times the
//! ratio exactly, whatever the rounding of the move to whole bins. A peak continues the phase
//! of the previous frame's region that held its bin, so partials that glide keep their phase.
//!
//! Formants stay where they were: each moved region is scaled by the frame's spectral envelope
//! at its peak's destination over the envelope at the peak (one factor for the region, so the
//! partial's shape across its bins stays that of the window).
//!
//! At a ratio of 1 with no phase offset left the spectrum passes untouched (bit for bit). When
//! the ratio returns to 1 after a shift, the offsets glide back to zero with the partials detuned
//! by at most [`RETURN_CENTS`] meanwhile, rather than jumping (a click), so the untouched path
//! resumes within about a second. Silent frames come out silent and restart the phases.

use std::f32::consts::{PI, TAU};

use realfft::num_complex::Complex32;

/// Peaks weaker than this fraction of the frame's strongest bin's power (-70 dB) are not peaks:
/// their bins join a neighbouring peak's region.
const PEAK_FLOOR: f32 = 1e-7;
/// The largest boost or cut of the formant correction, in nepers of magnitude (40 dB).
const MAX_CORRECTION: f32 = 40.0 * std::f32::consts::LN_10 / 20.0;
/// While the phase offsets return to zero at a ratio of 1, the partials are detuned by at most
/// this many cents.
const RETURN_CENTS: f32 = 10.0;

/// One spectral peak of the current frame and the region of bins that moves with it.
#[derive(Debug, Clone, Copy, Default)]
struct Peak {
    /// The peak's bin.
    bin: usize,
    /// The region's first bin.
    start: usize,
    /// One past the region's last bin.
    end: usize,
    /// How many bins the region moves (negative: down).
    shift: isize,
    /// The output's phase minus the input's at the frame centre for this peak, radians.
    offset: f32,
}

/// Moves the partials of one STFT frame after another to a new pitch, keeping the formants.
/// All buffers are allocated in [`new`](Self::new); [`shift`](Self::shift) allocates nothing.
#[derive(Debug)]
pub(super) struct PitchShifter {
    /// Frame length in samples.
    n: usize,
    /// Samples between frames.
    hop: usize,
    /// Power of each bin of the current frame.
    power: Vec<f32>,
    /// The previous frame's input spectrum, for the peaks' phase advance.
    previous: Vec<Complex32>,
    /// The phase offset given to each input bin in the previous frame (its peak's), radians.
    offsets: Vec<f32>,
    /// The current frame's peaks; its capacity holds the most a frame can have.
    peaks: Vec<Peak>,
    /// The shifted spectrum being built.
    output: Vec<Complex32>,
    /// Whether any bin's phase offset is not zero (the untouched path is not yet exact).
    active: bool,
    /// Whether moved bins are corrected by the envelope (always, except in the tests that
    /// measure what the correction does).
    correct_formants: bool,
}

impl PitchShifter {
    /// A shifter for frames of `frame_len` samples (even) taken every `hop` samples.
    pub(super) fn new(frame_len: usize, hop: usize) -> Self {
        let bins = frame_len / 2 + 1;
        Self {
            n: frame_len,
            hop,
            power: vec![0.0; bins],
            previous: vec![Complex32::default(); bins],
            offsets: vec![0.0; bins],
            // Peaks are strict maxima over their neighbours, so at most every other bin.
            peaks: Vec::with_capacity(bins / 2 + 1),
            output: vec![Complex32::default(); bins],
            active: false,
            correct_formants: true,
        }
    }

    /// Turns the formant correction off (`false`) or on, to measure what it does.
    #[cfg(test)]
    pub(super) fn set_formant_correction(&mut self, on: bool) {
        self.correct_formants = on;
    }

    /// Forgets the previous frames (the phases start afresh).
    pub(super) fn reset(&mut self) {
        self.previous.fill(Complex32::default());
        self.offsets.fill(0.0);
        self.active = false;
    }

    /// Shifts the pitch of one frame's `spectrum` (`frame_len / 2 + 1` bins) in place by
    /// `ratio` (2 is an octave up), keeping the formants of `envelope`: the frame's spectral
    /// envelope, natural-log magnitude per bin, or `None` for a silent frame (which comes out
    /// silent). Frames must come one hop apart. Allocation-free.
    pub(super) fn shift(
        &mut self,
        spectrum: &mut [Complex32],
        envelope: Option<&[f32]>,
        ratio: f32,
    ) {
        assert_eq!(spectrum.len(), self.power.len(), "spectrum length");
        if ratio == 1.0 && !self.active {
            self.previous.copy_from_slice(spectrum);
            return;
        }
        let Some(envelope) = envelope else {
            spectrum.fill(Complex32::default());
            self.reset();
            return;
        };
        self.find_peaks(spectrum);
        if self.peaks.is_empty() {
            // No partial to move (a spectrum falling steadily from DC): left as it is.
            self.previous.copy_from_slice(spectrum);
            return;
        }
        self.follow_peaks(spectrum, ratio);
        self.output.fill(Complex32::default());
        let last = self.output.len() as isize;
        self.active = false;
        for peak in &self.peaks {
            self.active |= peak.offset != 0.0;
            // A move by `shift` bins is a modulation that turns the frame's centre by
            // `pi * shift`; undo it so the peak's phase at the centre is the one tracked.
            let sign = if peak.shift % 2 == 0 { 1.0 } else { -1.0 };
            let destination = (peak.bin as isize + peak.shift).clamp(0, last - 1) as usize;
            let correction = if self.correct_formants && peak.shift != 0 {
                (envelope[destination] - envelope[peak.bin])
                    .clamp(-MAX_CORRECTION, MAX_CORRECTION)
                    .exp()
            } else {
                1.0
            };
            let (sin, cos) = peak.offset.sin_cos();
            let rotation = Complex32::new(sign * cos, sign * sin) * correction;
            self.offsets[peak.start..peak.end].fill(peak.offset);
            for (k, &bin) in spectrum.iter().enumerate().take(peak.end).skip(peak.start) {
                let to = k as isize + peak.shift;
                if (0..last).contains(&to) {
                    self.output[to as usize] += bin * rotation;
                }
            }
        }
        self.previous.copy_from_slice(spectrum);
        spectrum.copy_from_slice(&self.output);
    }

    /// Finds the peaks of `spectrum` and their regions of bins.
    fn find_peaks(&mut self, spectrum: &[Complex32]) {
        for (p, c) in self.power.iter_mut().zip(spectrum) {
            *p = c.norm_sqr();
        }
        let floor = PEAK_FLOOR * self.power.iter().fold(0.0f32, |m, &p| m.max(p));
        let power = &self.power;
        self.peaks.clear();
        for k in 1..power.len() - 1 {
            if power[k] > floor && power[k] > power[k - 1] && power[k] >= power[k + 1] {
                self.peaks.push(Peak {
                    bin: k,
                    ..Peak::default()
                });
            }
        }
        // Regions meet at the lowest bin between neighbouring peaks (which starts the upper
        // region); the first starts at DC, the last ends at Nyquist.
        let count = self.peaks.len();
        for i in 0..count {
            let start = if i == 0 { 0 } else { self.peaks[i - 1].end };
            let end = if i + 1 == count {
                power.len()
            } else {
                let (from, to) = (self.peaks[i].bin + 1, self.peaks[i + 1].bin);
                (from..to)
                    .min_by(|&a, &b| power[a].total_cmp(&power[b]))
                    .unwrap_or(to)
            };
            self.peaks[i].start = start;
            self.peaks[i].end = end;
        }
    }

    /// Measures each peak's frequency from its phase advance since the previous frame and sets
    /// its move and its phase offset, continuing the offset its bin had in the previous frame.
    fn follow_peaks(&mut self, spectrum: &[Complex32], ratio: f32) {
        let (n, hop) = (self.n as f32, self.hop as f32);
        for peak in &mut self.peaks {
            let k = peak.bin;
            let advance = (spectrum[k] * self.previous[k].conj()).arg();
            let expected = TAU * k as f32 * hop / n;
            // Radians per sample.
            let omega = TAU * k as f32 / n + wrap(advance - expected) / hop;
            let previous = self.offsets[k];
            if ratio == 1.0 {
                // Glide the offset back to zero, detuning by at most RETURN_CENTS.
                let step = hop * omega.abs() * ((RETURN_CENTS / 1200.0).exp2() - 1.0);
                peak.shift = 0;
                peak.offset = if previous.abs() <= step {
                    0.0
                } else {
                    previous - step.copysign(previous)
                };
            } else {
                peak.shift = ((ratio - 1.0) * omega * n / TAU).round() as isize;
                peak.offset = wrap(previous + hop * (ratio - 1.0) * omega);
            }
        }
    }
}

/// The transpose `--transpose auto` picks: the whole number of octaves (at most two either way)
/// that brings a voice whose median F0 is `input_median_hz` closest to `profile_median_hz` (on a
/// log scale, as RVC users pick it), in semitones; 0 when either is unknown (0, negative or not
/// finite).
pub fn octave_transpose(input_median_hz: f32, profile_median_hz: f32) -> f32 {
    let known = |hz: f32| hz.is_finite() && hz > 0.0;
    if !(known(input_median_hz) && known(profile_median_hz)) {
        return 0.0;
    }
    12.0 * (profile_median_hz / input_median_hz)
        .log2()
        .round()
        .clamp(-2.0, 2.0)
}

/// `phase` wrapped into -pi..pi.
fn wrap(phase: f32) -> f32 {
    phase - TAU * ((phase + PI) / TAU).floor()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_phases_within_half_a_turn() {
        for phase in [-20.0f32, -PI - 0.1, -1.0, 0.0, 1.0, PI + 0.1, 20.0] {
            let w = wrap(phase);
            assert!((-PI..=PI).contains(&w), "{phase} -> {w}");
            assert!(((phase - w) / TAU - ((phase - w) / TAU).round()).abs() < 1e-5);
        }
    }

    #[test]
    fn auto_picks_the_nearest_octave() {
        assert_eq!(octave_transpose(110.0, 220.0), 12.0);
        assert_eq!(octave_transpose(110.0, 300.0), 12.0);
        assert_eq!(octave_transpose(110.0, 160.0), 12.0);
        assert_eq!(octave_transpose(110.0, 150.0), 0.0);
        assert_eq!(octave_transpose(440.0, 100.0), -24.0);
        assert_eq!(octave_transpose(50.0, 1000.0), 24.0);
        assert_eq!(octave_transpose(0.0, 200.0), 0.0);
        assert_eq!(octave_transpose(200.0, f32::NAN), 0.0);
    }

    #[test]
    fn a_ratio_of_one_from_the_start_leaves_the_spectrum_untouched() {
        let mut shifter = PitchShifter::new(16, 4);
        let spectrum: Vec<Complex32> = (0..9).map(|k| Complex32::new(k as f32, 1.0)).collect();
        let mut copy = spectrum.clone();
        shifter.shift(&mut copy, Some(&[0.0; 9]), 1.0);
        assert_eq!(copy, spectrum);
    }
}
