//! Loudness and true-peak figures for mastering: BS.1770-4 integrated loudness and true peak.
//!
//! Mastering meters every input and output in full (the target, the reference and the render),
//! so the meter is on the critical path of `mixsmith master`. [`Meter`] therefore does only
//! what the integrated figure needs: K-weighting as two `f64` biquads run over the channels in
//! lockstep, one energy sum per 100 ms step, and the gating of `mixsmith analyze`
//! ([`GatedIntegrator`], exact 400 ms block energies). It agrees with the `ebur128` crate,
//! which `mixsmith analyze` uses with loudness range and histories, to within 0.001 LU (tested)
//! at several times its speed. Peaks come from the detectors the limiter uses: the BS.1770 true
//! peak (what `ebur128` reads) and the peak of the band-limited reconstruction (what a DAC or a
//! lossy decoder produces, and what the limiter holds under its ceiling).

use serde::{Deserialize, Serialize};

use super::MasterError;
use super::peak::{Grade, PeakDetector};
use crate::analyze::gating::GatedIntegrator;

/// Loudness figures of one signal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LoudnessFigures {
    /// Integrated (programme) loudness in LUFS; `None` when the signal is silent (below the
    /// -70 LUFS gate) or shorter than 400 ms.
    pub integrated_lufs: Option<f64>,
    /// Highest true peak over all channels in dBTP as ITU-R BS.1770 measures it (4x
    /// interpolation; the reading of `ebur128` and of most meters); `None` for silence.
    pub true_peak_dbtp: Option<f64>,
    /// Highest peak of the band-limited reconstruction over all channels in dBFS (16x
    /// interpolation by a long filter: the waveform a DAC or a lossy decoder produces, which
    /// can peak higher than the BS.1770 reading); `None` for silence or when not measured
    /// (learning measures it on its output, not on its inputs).
    #[serde(default)]
    pub reconstructed_peak_dbfs: Option<f64>,
}

/// One second-order section `y[n] = b0 x[n] + b1 x[n-1] + b2 x[n-2] - a1 y[n-1] - a2 y[n-2]`,
/// run two samples per step: both outputs of a step are computed from the two outputs before
/// it, so the recursion's latency is paid once per two samples.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
    /// `y[n+1]`'s weights on `y[n-1]` and `y[n-2]`: `a1² - a2` and `a1 a2`.
    ahead: [f64; 2],
}

/// A section's history per channel lane: `x[n-1]`, `x[n-2]`, `y[n-1]`, `y[n-2]`.
type History<const C: usize> = [[f64; C]; 4];

impl Biquad {
    fn new(b: [f64; 3], a: [f64; 2]) -> Self {
        Self {
            b,
            a,
            ahead: [a[0] * a[0] - a[1], a[0] * a[1]],
        }
    }

    /// Filters the two samples `xa`, `xb` of every lane; returns their outputs.
    #[inline(always)]
    fn pair<const C: usize>(
        &self,
        h: &mut History<C>,
        xa: [f64; C],
        xb: [f64; C],
    ) -> ([f64; C], [f64; C]) {
        let ([b0, b1, b2], [a1, a2], [c1, c2]) = (self.b, self.a, self.ahead);
        let (mut ya, mut yb) = ([0.0; C], [0.0; C]);
        for c in 0..C {
            let ua = b0 * xa[c] + b1 * h[0][c] + b2 * h[1][c];
            let ub = b0 * xb[c] + b1 * xa[c] + b2 * h[0][c];
            // The newest output enters last: one multiply and one add on the recursive path.
            ya[c] = (ua - a2 * h[3][c]) - a1 * h[2][c];
            yb[c] = ((ub - a1 * ua) + c2 * h[3][c]) + c1 * h[2][c];
        }
        *h = [xb, xa, yb, ya];
        (ya, yb)
    }

    /// Filters one sample of every lane.
    #[inline(always)]
    fn single<const C: usize>(&self, h: &mut History<C>, x: [f64; C]) -> [f64; C] {
        let ([b0, b1, b2], [a1, a2]) = (self.b, self.a);
        let mut y = [0.0; C];
        for c in 0..C {
            y[c] = b0 * x[c] + b1 * h[0][c] + b2 * h[1][c] - a1 * h[2][c] - a2 * h[3][c];
        }
        *h = [x, h[0], y, h[2]];
        y
    }

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
    let shelf = Biquad::new(
        [
            (vh + vb * k / q + k * k) / a0,
            2.0 * (k * k - vh) / a0,
            (vh - vb * k / q + k * k) / a0,
        ],
        [2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0],
    );
    let (f0, q) = (38.135_470_876_024_44, 0.500_327_037_323_877_3);
    let k = (std::f64::consts::PI * f0 / rate).tan();
    let a0 = 1.0 + k / q + k * k;
    let high_pass = Biquad::new(
        [1.0, -2.0, 1.0],
        [2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0],
    );
    [shelf, high_pass]
}

/// Streaming BS.1770-4 integrated loudness of one or two channels (weight 1.0 each).
pub(crate) struct IntegratedLoudness {
    filters: [Biquad; 2],
    /// Per channel, the two sections' histories (shelf, then high-pass; see [`History`]).
    state: [[f64; 8]; 2],
    /// A sample (per channel) waiting for the next block to be filtered with as a pair.
    pending: Option<[f64; 2]>,
    channels: usize,
    /// Frames per 100 ms step (rounded as `ebur128` rounds them).
    step: usize,
    /// Frames into the current step and, per channel, the K-weighted energy summed over them.
    in_step: usize,
    step_energy: [f64; 2],
    /// Energies of the last four completed steps (a 400 ms gating block), oldest overwritten.
    steps: [f64; 4],
    completed_steps: u64,
    gate: GatedIntegrator,
    /// K-weighted energy (summed over channels) of every sample filtered so far.
    filtered_energy: f64,
}

impl IntegratedLoudness {
    /// A meter for `channels` (1 or 2) at `sample_rate`.
    pub(crate) fn new(channels: usize, sample_rate: u32) -> Self {
        Self {
            filters: k_weighting(sample_rate),
            state: [[0.0; 8]; 2],
            pending: None,
            channels,
            step: (sample_rate as usize + 5) / 10,
            in_step: 0,
            step_energy: [0.0; 2],
            steps: [0.0; 4],
            completed_steps: 0,
            gate: GatedIntegrator::new(),
            filtered_energy: 0.0,
        }
    }

    /// Adds a planar block (`channels` slices of equal length).
    pub(crate) fn add(&mut self, planes: &[&[f32]]) {
        let frames = planes.first().map_or(0, |p| p.len());
        let mut pos = 0;
        while pos < frames {
            let n = (self.step - self.in_step).min(frames - pos);
            let ends_step = self.in_step + n == self.step;
            if self.channels == 2 {
                self.filter::<2>(
                    [&planes[0][pos..pos + n], &planes[1][pos..pos + n]],
                    ends_step,
                );
            } else {
                self.filter::<1>([&planes[0][pos..pos + n]], ends_step);
            }
            self.in_step += n;
            pos += n;
            if self.in_step == self.step {
                self.complete_step();
            }
        }
    }

    /// K-weights `planes` and adds their energy to the step's, per channel. The channels run in
    /// lockstep as lanes of small arrays, so their recursions share vector instructions.
    ///
    /// Samples are paired from the start of each 100 ms step, whatever the caller's blocks: a
    /// block ending on an unpaired sample leaves it pending for the next one, and only an odd
    /// step's last sample is filtered alone (`ends_step`). So the figures do not depend on how
    /// the signal was cut into blocks, to the last bit.
    #[inline]
    fn filter<const C: usize>(&mut self, planes: [&[f32]; C], ends_step: bool) {
        let [shelf, high_pass] = self.filters;
        let mut histories: [History<C>; 2] = std::array::from_fn(|section| {
            std::array::from_fn(|v| std::array::from_fn(|c| self.state[c][4 * section + v]))
        });
        let frames = planes[0].len();
        let sample = |i: usize| -> [f64; C] { std::array::from_fn(|c| f64::from(planes[c][i])) };
        let mut energy: [f64; C] = std::array::from_fn(|c| self.step_energy[c]);
        let mut pair = |xa: [f64; C], xb: [f64; C], histories: &mut [History<C>; 2]| {
            let (ya, yb) = shelf.pair(&mut histories[0], xa, xb);
            let (za, zb) = high_pass.pair(&mut histories[1], ya, yb);
            for c in 0..C {
                energy[c] += za[c] * za[c] + zb[c] * zb[c];
            }
        };
        let mut i = 0;
        if let Some(pending) = self.pending.take()
            && frames > 0
        {
            pair(
                std::array::from_fn(|c| pending[c]),
                sample(0),
                &mut histories,
            );
            i = 1;
        }
        while i + 1 < frames {
            pair(sample(i), sample(i + 1), &mut histories);
            i += 2;
        }
        if i < frames {
            if ends_step {
                let y = shelf.single(&mut histories[0], sample(i));
                let z = high_pass.single(&mut histories[1], y);
                for c in 0..C {
                    energy[c] += z[c] * z[c];
                }
            } else {
                let x = sample(i);
                self.pending = Some(std::array::from_fn(|c| if c < C { x[c] } else { 0.0 }));
            }
        }
        // Decaying states would turn denormal (and slow) after the signal stops.
        let flush = |v: f64| if v.abs() < 1e-30 { 0.0 } else { v };
        for (c, state) in self.state.iter_mut().enumerate().take(C) {
            for (section, history) in histories.iter().enumerate() {
                for (v, lanes) in history.iter().enumerate() {
                    state[4 * section + v] = flush(lanes[c]);
                }
            }
        }
        self.filtered_energy +=
            energy.iter().sum::<f64>() - self.step_energy[..C].iter().sum::<f64>();
        self.step_energy[..C].copy_from_slice(&energy);
    }

    /// K-weighted energy (summed over channels) of every sample filtered so far: a sample
    /// held back to be filtered in a pair with the next block counts once it is.
    pub(crate) fn filtered_energy(&self) -> f64 {
        self.filtered_energy
    }

    /// Frames per 100 ms step.
    pub(crate) fn step_frames(&self) -> usize {
        self.step
    }

    fn complete_step(&mut self) {
        self.steps[(self.completed_steps % 4) as usize] = self.step_energy.iter().sum();
        self.completed_steps += 1;
        self.step_energy = [0.0; 2];
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
    /// The BS.1770 true-peak detector.
    bs1770: PeakDetector,
    /// The reconstruction's detector, when its peak is measured.
    reconstruction: Option<PeakDetector>,
    /// The highest BS.1770 and reconstruction peaks so far.
    peak: [f32; 2],
    channels: usize,
}

impl Meter {
    /// A meter for `channels` (1 or 2) at `sample_rate`; the reconstructed peak is measured
    /// only with `reconstruction` (it costs several times the rest).
    pub(crate) fn new(
        channels: usize,
        sample_rate: u32,
        reconstruction: bool,
    ) -> Result<Self, MasterError> {
        if !(1..=2).contains(&channels) || sample_rate < 1000 {
            return Err(MasterError::Loudness(format!(
                "cannot meter {channels} channels at {sample_rate} Hz"
            )));
        }
        let detector = |grade| PeakDetector::new(channels, sample_rate, grade);
        Ok(Self {
            loudness: IntegratedLoudness::new(channels, sample_rate),
            bs1770: detector(Grade::Bs1770),
            reconstruction: reconstruction.then(|| detector(Grade::Reconstruction)),
            peak: [0.0; 2],
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
        self.peak[0] = self.bs1770.scan(planes, self.peak[0]);
        if let Some(detector) = &mut self.reconstruction {
            self.peak[1] = detector.scan(planes, self.peak[1]);
        }
        Ok(())
    }

    /// The figures of everything added.
    pub(crate) fn figures(&mut self) -> LoudnessFigures {
        self.peak[0] = self.peak[0].max(self.bs1770.flush());
        if let Some(detector) = &mut self.reconstruction {
            self.peak[1] = self.peak[1].max(detector.flush());
        }
        let db = |peak: f32| (peak > 0.0).then(|| 20.0 * f64::from(peak).log10());
        LoudnessFigures {
            integrated_lufs: self.loudness.integrated(),
            true_peak_dbtp: db(self.peak[0]),
            reconstructed_peak_dbfs: self.reconstruction.as_ref().and_then(|_| db(self.peak[1])),
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
            let mut meter = Meter::new(channels, rate, true).unwrap();
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
    fn blocking_does_not_change_a_bit() {
        // 22.05 kHz has odd 100 ms steps (2205 frames): pairs restart at every step.
        for rate in [22_050, 44_100] {
            let planes = signal(rate, 2, 3.1, 7);
            let mut whole = Meter::new(2, rate, true).unwrap();
            whole.add(&planes).unwrap();
            let mut cut = Meter::new(2, rate, true).unwrap();
            let mut start = 0;
            for n in [3usize, 1, 2204, 5, 999].iter().cycle() {
                let end = (start + n).min(planes[0].len());
                cut.add(&[&planes[0][start..end], &planes[1][start..end]])
                    .unwrap();
                start = end;
                if start == planes[0].len() {
                    break;
                }
            }
            assert_eq!(whole.figures(), cut.figures(), "{rate} Hz");
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
        let mut m = Meter::new(2, 44_100, true).unwrap();
        m.add(&[vec![0.0f32; 44_100], vec![0.0; 44_100]]).unwrap();
        assert_eq!(m.figures(), LoudnessFigures::default());
        let mut m = Meter::new(1, 44_100, true).unwrap();
        m.add(&[vec![0.5f32; 10_000]]).unwrap();
        assert_eq!(m.figures().integrated_lufs, None);
        assert!(Meter::new(3, 44_100, true).is_err());
        assert!(m.add(&[vec![0.0f32; 4], vec![0.0; 4]]).is_err());
    }
}
