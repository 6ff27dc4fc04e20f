//! Loudness and true-peak figures for mastering: BS.1770-4 integrated loudness and true peak.
//!
//! Mastering meters every input and output in full (the target, the reference and the render),
//! so the meter is on the critical path of `mixsmith master`. [`Meter`] therefore does only
//! what the integrated figure needs: K-weighting as two `f64` biquads run over the channels in
//! lockstep, one energy sum per 100 ms step, and the gating of `mixsmith analyze`
//! ([`GatedIntegrator`], exact 400 ms block energies). It agrees with the `ebur128` crate,
//! which `mixsmith analyze` uses with loudness range and histories, to within 0.001 LU (tested)
//! at several times its speed. True peak comes from the limiter's own detector.

use serde::{Deserialize, Serialize};

use super::MasterError;
use super::peak::PeakDetector;
use crate::analyze::gating::GatedIntegrator;

/// Loudness figures of one signal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LoudnessFigures {
    /// Integrated (programme) loudness in LUFS; `None` when the signal is silent (below the
    /// -70 LUFS gate) or shorter than 400 ms.
    pub integrated_lufs: Option<f64>,
    /// Highest true peak over all channels in dBTP; `None` for silence.
    pub true_peak_dbtp: Option<f64>,
}

/// One second-order section, transposed direct form II.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
}

impl Biquad {
    /// Power gain `|H(f)|²` at `hz` for a filter running at `sample_rate`.
    pub(crate) fn power_gain(&self, hz: f64, sample_rate: f64) -> f64 {
        let w = std::f64::consts::TAU * hz / sample_rate;
        let (c1, s1, c2, s2) = (w.cos(), w.sin(), (2.0 * w).cos(), (2.0 * w).sin());
        let num_re = self.b[0] + self.b[1] * c1 + self.b[2] * c2;
        let num_im = -self.b[1] * s1 - self.b[2] * s2;
        let den_re = 1.0 + self.a[0] * c1 + self.a[1] * c2;
        let den_im = -self.a[0] * s1 - self.a[1] * s2;
        (num_re * num_re + num_im * num_im) / (den_re * den_re + den_im * den_im)
    }
}

/// The BS.1770 K-weighting at `sample_rate`: the head-related high shelf (+4 dB above ~1.7 kHz)
/// and the RLB high-pass (~38 Hz), designed by the bilinear transform so they hold at any rate
/// (at 48 kHz they are the coefficients printed in BS.1770-4).
pub(crate) fn k_weighting(sample_rate: u32) -> [Biquad; 2] {
    let rate = f64::from(sample_rate);
    let (f0, gain_db, q) = (
        1_681.974_450_955_533,
        3.999_843_853_973_347,
        0.707_175_236_955_419_6,
    );
    let k = (std::f64::consts::PI * f0 / rate).tan();
    let vh = 10f64.powf(gain_db / 20.0);
    let vb = vh.powf(0.499_666_774_154_541_6);
    let a0 = 1.0 + k / q + k * k;
    let shelf = Biquad {
        b: [
            (vh + vb * k / q + k * k) / a0,
            2.0 * (k * k - vh) / a0,
            (vh - vb * k / q + k * k) / a0,
        ],
        a: [2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0],
    };
    let (f0, q) = (38.135_470_876_024_44, 0.500_327_037_323_877_3);
    let k = (std::f64::consts::PI * f0 / rate).tan();
    let a0 = 1.0 + k / q + k * k;
    let high_pass = Biquad {
        b: [1.0, -2.0, 1.0],
        a: [2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0],
    };
    [shelf, high_pass]
}

/// Streaming BS.1770-4 integrated loudness of one or two channels (weight 1.0 each).
pub(crate) struct IntegratedLoudness {
    filters: [Biquad; 2],
    /// Per channel, the two sections' states (shelf s1, s2, high-pass s1, s2).
    state: [[f64; 4]; 2],
    channels: usize,
    /// Frames per 100 ms step (rounded as `ebur128` rounds them).
    step: usize,
    /// Frames into the current step and the K-weighted energy summed over them.
    in_step: usize,
    step_energy: f64,
    /// Energies of the last four completed steps (a 400 ms gating block), oldest overwritten.
    steps: [f64; 4],
    completed_steps: u64,
    gate: GatedIntegrator,
}

impl IntegratedLoudness {
    /// A meter for `channels` (1 or 2) at `sample_rate`.
    pub(crate) fn new(channels: usize, sample_rate: u32) -> Self {
        Self {
            filters: k_weighting(sample_rate),
            state: [[0.0; 4]; 2],
            channels,
            step: (sample_rate as usize + 5) / 10,
            in_step: 0,
            step_energy: 0.0,
            steps: [0.0; 4],
            completed_steps: 0,
            gate: GatedIntegrator::new(),
        }
    }

    /// Adds a planar block (`channels` slices of equal length).
    pub(crate) fn add(&mut self, planes: &[&[f32]]) {
        let frames = planes.first().map_or(0, |p| p.len());
        let mut pos = 0;
        while pos < frames {
            let n = (self.step - self.in_step).min(frames - pos);
            self.step_energy += if self.channels == 2 {
                self.filter::<2>([&planes[0][pos..pos + n], &planes[1][pos..pos + n]])
            } else {
                self.filter::<1>([&planes[0][pos..pos + n]])
            };
            self.in_step += n;
            pos += n;
            if self.in_step == self.step {
                self.complete_step();
            }
        }
    }

    /// K-weights `planes` and returns their energy summed over channels. The channels run in
    /// lockstep, each state a lane of a small array, so the two recursions share vector
    /// instructions.
    #[inline]
    fn filter<const C: usize>(&mut self, planes: [&[f32]; C]) -> f64 {
        let [shelf, high_pass] = self.filters;
        let [mut s1, mut s2, mut h1, mut h2] =
            std::array::from_fn::<[f64; C], 4, _>(|v| std::array::from_fn(|c| self.state[c][v]));
        let mut energy = [0.0f64; C];
        // One index walks all C planes in lockstep.
        #[allow(clippy::needless_range_loop)]
        for i in 0..planes[0].len() {
            let x: [f64; C] = std::array::from_fn(|c| f64::from(planes[c][i]));
            for c in 0..C {
                let y = shelf.b[0] * x[c] + s1[c];
                s1[c] = shelf.b[1] * x[c] - shelf.a[0] * y + s2[c];
                s2[c] = shelf.b[2] * x[c] - shelf.a[1] * y;
                let z = high_pass.b[0] * y + h1[c];
                h1[c] = high_pass.b[1] * y - high_pass.a[0] * z + h2[c];
                h2[c] = high_pass.b[2] * y - high_pass.a[1] * z;
                energy[c] += z * z;
            }
        }
        for c in 0..C {
            // Decaying states would turn denormal (and slow) after the signal stops.
            let flush = |v: f64| if v.abs() < 1e-30 { 0.0 } else { v };
            self.state[c] = [flush(s1[c]), flush(s2[c]), flush(h1[c]), flush(h2[c])];
        }
        energy.iter().sum()
    }

    fn complete_step(&mut self) {
        self.steps[(self.completed_steps % 4) as usize] = self.step_energy;
        self.completed_steps += 1;
        self.step_energy = 0.0;
        self.in_step = 0;
        if self.completed_steps >= 4 {
            let block: f64 = self.steps.iter().sum();
            self.gate.add(block / (4 * self.step) as f64);
        }
    }

    /// The gated loudness in LUFS of everything added; `None` for silence or under 400 ms.
    pub(crate) fn integrated(&self) -> Option<f64> {
        Some(self.gate.integrated()).filter(|l| l.is_finite() && *l > -70.0)
    }
}

/// A streaming meter of integrated loudness and true peak.
pub(crate) struct Meter {
    loudness: IntegratedLoudness,
    /// `None` when only loudness is measured (the loudness-priority passes): true peak is the
    /// costlier half of the meter.
    peaks: Option<PeakDetector>,
    peak: f32,
    channels: usize,
}

impl Meter {
    /// A meter for `channels` (1 or 2) at `sample_rate`.
    pub(crate) fn new(channels: usize, sample_rate: u32) -> Result<Self, MasterError> {
        Self::build(channels, sample_rate, true)
    }

    /// A meter of integrated loudness only: its figures have no true peak.
    pub(crate) fn loudness_only(channels: usize, sample_rate: u32) -> Result<Self, MasterError> {
        Self::build(channels, sample_rate, false)
    }

    fn build(channels: usize, sample_rate: u32, true_peak: bool) -> Result<Self, MasterError> {
        if !(1..=2).contains(&channels) || sample_rate < 1000 {
            return Err(MasterError::Loudness(format!(
                "cannot meter {channels} channels at {sample_rate} Hz"
            )));
        }
        Ok(Self {
            loudness: IntegratedLoudness::new(channels, sample_rate),
            peaks: true_peak.then(|| PeakDetector::new(channels, sample_rate)),
            peak: 0.0,
            channels,
        })
    }

    /// Adds a planar block (one slice per channel, equal lengths).
    pub(crate) fn add<S: AsRef<[f32]>>(&mut self, block: &[S]) -> Result<(), MasterError> {
        let mut planes: [&[f32]; 2] = [&[], &[]];
        for (p, c) in planes.iter_mut().zip(block) {
            *p = c.as_ref();
        }
        let planes = &planes[..self.channels.min(block.len())];
        if block.len() != self.channels || planes.iter().any(|p| p.len() != planes[0].len()) {
            return Err(MasterError::Loudness(format!(
                "a block of {} channels for a {}-channel meter, or of unequal lengths",
                block.len(),
                self.channels
            )));
        }
        self.loudness.add(planes);
        if let Some(peaks) = &mut self.peaks {
            self.peak = peaks.scan(planes, self.peak);
        }
        Ok(())
    }

    /// The figures of everything added.
    pub(crate) fn figures(&mut self) -> LoudnessFigures {
        if let Some(peaks) = &mut self.peaks {
            self.peak = self.peak.max(peaks.flush());
        }
        LoudnessFigures {
            integrated_lufs: self.loudness.integrated(),
            true_peak_dbtp: (self.peak > 0.0).then(|| 20.0 * f64::from(self.peak).log10()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebur128::{EbuR128, Mode};

    /// Deterministic music-like test signals: noise bursts, a swept tone and a quiet passage.
    fn signal(rate: u32, channels: usize, seconds: f64, seed: u32) -> Vec<Vec<f32>> {
        let frames = (f64::from(rate) * seconds) as usize;
        let mut state = seed | 1;
        (0..channels)
            .map(|c| {
                (0..frames)
                    .map(|i| {
                        state ^= state << 13;
                        state ^= state >> 17;
                        state ^= state << 5;
                        let noise = state as f32 / u32::MAX as f32 - 0.5;
                        let t = i as f64 / f64::from(rate);
                        let tone = (std::f64::consts::TAU * (60.0 + 400.0 * t) * t).sin() as f32;
                        let level = if (t % 3.0) < 1.0 { 0.02 } else { 0.3 };
                        level * (noise + 0.5 * tone) * (1.0 + 0.2 * c as f32)
                    })
                    .collect()
            })
            .collect()
    }

    fn ebur128_lufs(planes: &[Vec<f32>], rate: u32) -> f64 {
        let mut e = EbuR128::new(planes.len() as u32, rate, Mode::I).unwrap();
        let p: Vec<&[f32]> = planes.iter().map(Vec::as_slice).collect();
        e.add_frames_planar_f32(&p).unwrap();
        e.loudness_global().unwrap()
    }

    #[test]
    fn integrated_loudness_equals_ebur128() {
        for (rate, channels) in [
            (8_000, 1),
            (44_100, 2),
            (48_000, 1),
            (96_000, 2),
            (192_000, 2),
        ] {
            let planes = signal(rate, channels, 7.3, rate + channels as u32);
            let mut meter = Meter::new(channels, rate).unwrap();
            // Odd block lengths cross the 100 ms steps anywhere.
            let mut start = 0;
            for n in [1usize, 777, 4096, 13, 30_011].iter().cycle() {
                let end = (start + n).min(planes[0].len());
                let block: Vec<&[f32]> = planes.iter().map(|p| &p[start..end]).collect();
                meter.add(&block).unwrap();
                start = end;
                if start == planes[0].len() {
                    break;
                }
            }
            let ours = meter.figures().integrated_lufs.unwrap();
            let theirs = ebur128_lufs(&planes, rate);
            assert!(
                (ours - theirs).abs() < 1e-3,
                "{rate} Hz, {channels} ch: {ours} vs ebur128 {theirs}"
            );
        }
    }

    #[test]
    fn k_weighting_matches_the_standard_at_48_khz() {
        // BS.1770-4, tables 1 and 2.
        let [shelf, high_pass] = k_weighting(48_000);
        let want_shelf = [
            1.535_124_859_586_97,
            -2.691_696_189_406_38,
            1.198_392_810_852_85,
        ];
        let want_a = [-1.690_659_293_182_41, 0.732_480_774_215_85];
        for (got, want) in shelf
            .b
            .iter()
            .zip(want_shelf)
            .chain(shelf.a.iter().zip(want_a))
        {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
        let want_hp = [-1.990_047_454_833_98, 0.990_072_250_366_21];
        for (got, want) in high_pass.a.iter().zip(want_hp) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
        // +4 dB of shelf well above 2 kHz, about -inf far below the high-pass.
        let db = |hz: f64| {
            10.0 * (shelf.power_gain(hz, 48_000.0) * high_pass.power_gain(hz, 48_000.0)).log10()
        };
        assert!((db(10_000.0) - 4.0).abs() < 0.2, "{}", db(10_000.0));
        assert!(db(1000.0).abs() < 1.0, "{}", db(1000.0));
        assert!(db(5.0) < -20.0, "{}", db(5.0));
    }

    #[test]
    fn silence_and_short_input_have_no_loudness() {
        let mut m = Meter::new(2, 44_100).unwrap();
        m.add(&[vec![0.0f32; 44_100], vec![0.0; 44_100]]).unwrap();
        assert_eq!(m.figures(), LoudnessFigures::default());
        let mut m = Meter::new(1, 44_100).unwrap();
        m.add(&[vec![0.5f32; 10_000]]).unwrap();
        assert_eq!(m.figures().integrated_lufs, None);
        assert!(Meter::new(3, 44_100).is_err());
        assert!(m.add(&[vec![0.0f32; 4], vec![0.0; 4]]).is_err());
    }
}
