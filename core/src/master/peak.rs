//! Inter-sample peak detection by polyphase interpolation, in two grades:
//!
//! - [`Grade::Bs1770`]: the true-peak meter ITU-R BS.1770 describes (4x below 96 kHz, 2x above,
//!   a short Hann-windowed sinc), which reads like the `ebur128` crate. On densely limited
//!   material it reads up to about 0.8 dB below the band-limited reconstruction, because its
//!   short filter and coarse grid miss peaks that sit between its points.
//! - [`Grade::Reconstruction`]: the band-limited waveform a DAC or a lossy decoder rebuilds, in
//!   two stages. A long half-band filter (a 48-tap Kaiser-windowed sinc, [`HalfBand`]) doubles
//!   the rate; the doubled signal uses only half its band, so a short 8-tap interpolator
//!   follows it 8x more finely (4x from 96 kHz): 16x in all below 96 kHz. Together they stay
//!   within 0.16 % of the ideal (sinc) interpolation for content up to 0.46 of the sample rate
//!   (20.3 kHz at 44.1 kHz), less accurate above (content right at Nyquist needs an endless
//!   filter). The grid can still miss a peak between two points, by at most
//!   [`Grade::max_grid_loss`] (a bound from Bernstein's inequality: 0.04 dB at 16x), which the
//!   limiter adds to its margin; so what it lets through stays under its ceiling after
//!   reconstruction. The two stages cost half of what one 8x 48-tap interpolator did, and
//!   the second is skipped where the doubled signal provably stays below what matters.
//!
//! The interpolator's symmetry halves its work. Its half-sample phase is a symmetric filter, so
//! it needs one multiply per pair of samples equally far from its centre. Phases `p` and
//! `F - p` mirror each other: from the pairs' sums and differences come `P = y_p + y_(F-p)` and
//! `Q = y_p - y_(F-p)`, and `max(|y_p|, |y_(F-p)|) = (|P| + |Q|) / 2`, so each mirrored pair of
//! phases costs two multiplies per sample pair instead of four.
//!
//! The interpolation is laid out across time: each sum is accumulated over a run of frames one
//! pair at a time, a multiply-add over contiguous samples that vectorises fully. The kernel is
//! compiled for AVX2 too and picked at run time (`multiversion`); multiplications and additions
//! stay separate (no fused multiply-add), so every CPU computes the same peaks.

use multiversion::multiversion;

/// The most frames [`PeakDetector::push_block`] interpolates per step (it loops over longer
/// blocks); its scratch line is sized for it, so detection never allocates.
const MAX_BLOCK: usize = 256;
/// Frames sharing one "can this beat the threshold?" test.
const GROUP: usize = 16;

/// How closely a [`PeakDetector`] follows the waveform between samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grade {
    /// The BS.1770 true-peak meter (4x, or 2x from 96 kHz; 12- or 24-tap Hann-windowed sinc).
    Bs1770,
    /// The band-limited reconstruction: a 48-tap half-band 2x, then 8x (4x from 96 kHz) by an
    /// 8-tap Kaiser-windowed sinc.
    Reconstruction,
}

impl Grade {
    /// The interpolator's factor and taps per phase at `sample_rate`, on the input for
    /// [`Grade::Bs1770`] and on the doubled signal for [`Grade::Reconstruction`].
    fn layout(self, sample_rate: u32) -> (usize, usize) {
        match (self, sample_rate < 96_000) {
            (Self::Bs1770, true) => (4, 12),
            (Self::Bs1770, false) => (2, 24),
            (Self::Reconstruction, true) => (8, 8),
            (Self::Reconstruction, false) => (4, 8),
        }
    }

    /// Points per input sample the detector's grid has.
    fn oversampling(self, sample_rate: u32) -> usize {
        let factor = self.layout(sample_rate).0;
        match self {
            Self::Bs1770 => factor,
            Self::Reconstruction => 2 * factor,
        }
    }

    /// The largest fraction of a peak that the grid of interpolated points can miss on a
    /// signal band-limited to half the sample rate, for a detector at `sample_rate`.
    ///
    /// At a peak `M` the slope is 0 and, by Bernstein's inequality, the curvature is at most
    /// `(2π B)² M`, so a point `h / 2` away reads at least `M (1 - (2π B)² h² / 8)`; with
    /// `B = fs / 2` and `h = 1 / (F fs)` that is `M (1 - π² / (8 F²))`.
    pub(crate) fn max_grid_loss(self, sample_rate: u32) -> f64 {
        let factor = self.oversampling(sample_rate) as f64;
        std::f64::consts::PI.powi(2) / (8.0 * factor * factor)
    }
}

/// A streaming inter-sample peak detector for a fixed channel count.
#[derive(Debug, Clone)]
pub(crate) struct PeakDetector {
    /// The interpolating phases' coefficients per sample pair (see [`Kernel`]).
    kernel: Kernel,
    /// The rate doubler of [`Grade::Reconstruction`]; the kernel then runs on its output.
    doubler: Option<HalfBand>,
    /// Per channel: the last `taps` samples the kernel read (of the doubled signal with a
    /// doubler), oldest first.
    tails: Vec<Vec<f32>>,
    /// Scratch for one channel: its tail followed by the samples being scanned.
    line: Vec<f32>,
    /// Scratch for the kernel's peaks per sample of the doubled signal.
    doubled_peaks: Vec<f32>,
    /// The largest gain of any phase (sum of absolute coefficients): no interpolated value
    /// exceeds the largest nearby sample times this.
    gain_bound: f32,
    /// Samples between an input and the interval its peak describes.
    delay: usize,
}

/// A 2x interpolator by a half-band Kaiser-windowed sinc, streaming per channel: for each
/// input sample `x[m]` it yields `x[m - PAIRS]` and the value half a sample after it.
#[derive(Debug, Clone)]
struct HalfBand {
    /// `h[k]` weights the pair `x[a - k] + x[a + 1 + k]` into the value at `a + 1/2`.
    coefficients: [f32; HALF_BAND_PAIRS],
    /// Per channel: the last `2 * HALF_BAND_PAIRS` input samples, oldest first.
    tails: Vec<Vec<f32>>,
    /// Scratch: a channel's tail followed by the block being doubled.
    line: Vec<f32>,
}

/// Coefficient pairs of the half-band filter (48 taps, 24 input samples either side).
const HALF_BAND_PAIRS: usize = 24;

impl HalfBand {
    fn new(channels: usize) -> Self {
        let mut coefficients = [0.0f64; HALF_BAND_PAIRS];
        for (k, c) in coefficients.iter_mut().enumerate() {
            let distance = k as f64 + 0.5;
            let sinc = (std::f64::consts::PI * distance).sin() / (std::f64::consts::PI * distance);
            *c = sinc * kaiser_at(distance / HALF_BAND_PAIRS as f64);
        }
        // Unity gain at DC: the pairs' weights sum to 1/2.
        let sum: f64 = coefficients.iter().sum();
        Self {
            coefficients: coefficients.map(|c| (c / (2.0 * sum)) as f32),
            tails: vec![vec![0.0; 2 * HALF_BAND_PAIRS]; channels],
            line: Vec::with_capacity(2 * HALF_BAND_PAIRS + MAX_BLOCK),
        }
    }

    /// Appends `input` of `channel` (at most `MAX_BLOCK / 2` samples) to its history and
    /// returns the history followed by the input: what [`half_band`] doubles.
    fn load(&mut self, channel: usize, input: &[f32]) -> &[f32] {
        let tail = &mut self.tails[channel];
        self.line.clear();
        self.line.extend_from_slice(tail);
        self.line.extend_from_slice(input);
        let keep = tail.len();
        tail.copy_from_slice(&self.line[self.line.len() - keep..]);
        &self.line
    }

    /// The largest gain from input samples to doubled ones (the sum of the absolute
    /// coefficients, at least 1 for the samples passed through).
    fn gain_bound(&self) -> f32 {
        (2.0 * self.coefficients.iter().map(|c| c.abs()).sum::<f32>()).max(1.0) * 1.001
    }

    fn reset(&mut self) {
        self.tails.iter_mut().for_each(|t| t.fill(0.0));
    }
}

/// The half-band interpolation: `line` is `2 * HALF_BAND_PAIRS` samples of history followed by
/// the new ones; `out`, twice as long as the new ones, gets per new sample `i` the sample
/// `HALF_BAND_PAIRS` before it (`out[2 i]`) and the value half a sample after that one
/// (`out[2 i + 1]`).
#[multiversion(targets("x86_64+avx2", "aarch64+neon"))]
fn half_band(line: &[f32], coefficients: &[f32; HALF_BAND_PAIRS], out: &mut [f32]) {
    const HISTORY: usize = 2 * HALF_BAND_PAIRS;
    let n = line.len() - HISTORY;
    // For the new sample `i` (at `line[HISTORY + i]`) the centre is `a = HISTORY + i - PAIRS`;
    // the value at `a + 1/2` reads `line[a - k]` and `line[a + 1 + k]`. Four lanes of new
    // samples at a time keep their sums in registers over all the pairs, four independent
    // chains of additions.
    const WIDTH: usize = 4 * LANES;
    for first in (0..n).step_by(WIDTH) {
        let width = (n - first).min(WIDTH);
        let mut middle = [0.0f32; WIDTH];
        for (k, c) in coefficients.iter().enumerate() {
            let before = lane::<WIDTH>(line, HALF_BAND_PAIRS - k + first, width);
            let after = lane::<WIDTH>(line, HALF_BAND_PAIRS + 1 + k + first, width);
            for ((m, a), b) in middle.iter_mut().zip(before).zip(after) {
                *m += c * (a + b);
            }
        }
        let centres = &line[HALF_BAND_PAIRS + first..HALF_BAND_PAIRS + first + width];
        let pairs = out[2 * first..2 * (first + width)].chunks_exact_mut(2);
        for ((pair, x), m) in pairs.zip(centres).zip(middle) {
            pair[0] = *x;
            pair[1] = m;
        }
    }
}

/// Samples processed side by side, in registers: one AVX2 vector of `f32`.
const LANES: usize = 8;

/// `width` (at most `N`) samples of `line` from `from`, zero-padded to `N`.
#[inline(always)]
fn lane<const N: usize>(line: &[f32], from: usize, width: usize) -> [f32; N] {
    if width == N {
        line[from..from + N].try_into().expect("a full lane")
    } else {
        let mut lane = [0.0; N];
        lane[..width].copy_from_slice(&line[from..from + width]);
        lane
    }
}

/// The interpolating phases folded by their symmetry. Pair `k` is the samples `k` and
/// `span - k` steps back from the newest.
#[derive(Debug, Clone)]
struct Kernel {
    /// Distance in steps between the newest and the oldest sample a phase reads.
    span: usize,
    /// The half-sample phase's coefficient per pair (it is symmetric).
    middle: Vec<f32>,
    /// Per mirrored pair of phases `(p, F - p)`, `0 < p < F / 2`: `h_p[k] + h_p[span - k]`
    /// per sample pair, weighting the pair's sum into `P = y_p + y_(F-p)`, and
    /// `h_p[k] - h_p[span - k]`, weighting its difference into `Q = y_p - y_(F-p)`.
    mirrored: Vec<(Vec<f32>, Vec<f32>)>,
}

impl Kernel {
    /// Folds the phases of a `factor`x interpolator with `taps + 1` coefficients per phase.
    fn new(phases: &[Vec<f32>], taps: usize) -> Self {
        let factor = phases.len();
        // Every interpolating phase's last coefficient is 0 (the window's end), so each spans
        // `taps - 1` steps, in `taps / 2` pairs.
        let span = taps - 1;
        let pairs = taps / 2;
        let half = &phases[factor / 2];
        let middle = (0..pairs).map(|k| half[k]).collect();
        let mirrored = (1..factor / 2)
            .map(|p| {
                let h = &phases[p];
                (0..pairs)
                    .map(|k| (h[k] + h[span - k], h[k] - h[span - k]))
                    .unzip()
            })
            .collect();
        Self {
            span,
            middle,
            mirrored,
        }
    }
}

impl PeakDetector {
    /// A detector of `grade` for `channels` at `sample_rate`.
    pub(crate) fn new(channels: usize, sample_rate: u32, grade: Grade) -> Self {
        let (factor, taps) = grade.layout(sample_rate);
        let (phases, doubler) = match grade {
            Grade::Bs1770 => (interpolation_phases(factor, taps, hann), None),
            Grade::Reconstruction => (
                interpolation_phases(factor, taps, kaiser),
                Some(HalfBand::new(channels)),
            ),
        };
        let gain_bound = phases
            .iter()
            .skip(1)
            .map(|p| p.iter().map(|c| c.abs()).sum::<f32>())
            .fold(1.0f32, f32::max)
            * 1.001;
        // With the doubler, the kernel's delay of `taps / 2` doubled samples comes on top of
        // the doubler's `HALF_BAND_PAIRS` input samples.
        let delay = match doubler {
            Some(_) => HALF_BAND_PAIRS + taps / 4,
            None => taps / 2,
        };
        Self {
            gain_bound,
            tails: vec![vec![0.0; taps]; channels],
            line: Vec::with_capacity(taps + MAX_BLOCK),
            doubled_peaks: vec![0.0; MAX_BLOCK],
            kernel: Kernel::new(&phases, taps),
            doubler,
            delay,
        }
    }

    /// The delay in samples between the newest input and the interval whose peak
    /// [`push_block`](Self::push_block) reports for it.
    pub(crate) fn delay(&self) -> usize {
        self.delay
    }

    /// Forgets all history.
    pub(crate) fn reset(&mut self) {
        self.tails.iter_mut().for_each(|t| t.fill(0.0));
        if let Some(doubler) = &mut self.doubler {
            doubler.reset();
        }
    }

    /// Pushes frames `start..start + peaks.len()` of every channel and stores, per frame, the
    /// largest absolute value over all channels of the signal between `delay()` samples before
    /// it (included) and the sample after that — except that groups of frames whose peaks
    /// provably stay below `skip_below` (their samples times the interpolator's gain bound)
    /// are not interpolated and count as 0.
    pub(crate) fn push_block<S: AsRef<[f32]>>(
        &mut self,
        channels: &[S],
        start: usize,
        peaks: &mut [f32],
        skip_below: f32,
    ) {
        peaks.fill(0.0);
        // The kernel reads at most `MAX_BLOCK` samples per step: half as many input frames
        // when they are doubled first.
        let step = if self.doubler.is_some() {
            MAX_BLOCK / 2
        } else {
            MAX_BLOCK
        };
        let mut done = 0;
        while done < peaks.len() {
            let n = (peaks.len() - done).min(step);
            let out = &mut peaks[done..done + n];
            for (index, (ch, tail)) in channels.iter().zip(&mut self.tails).enumerate() {
                let from = start + done;
                let input = &ch.as_ref()[from..from + n];
                self.line.clear();
                self.line.extend_from_slice(tail);
                match &mut self.doubler {
                    Some(doubler) => {
                        let taps = tail.len();
                        let coefficients = doubler.coefficients;
                        let doubled_bound = doubler.gain_bound();
                        let history = doubler.load(index, input);
                        // The kernel reads its own history and the doubled new samples: when
                        // neither can reach `skip_below`, only the history moves on (the last
                        // `taps / 2` frames doubled).
                        let quiet = 2 * n >= taps
                            && max(max_abs(tail), max_abs(history) * doubled_bound)
                                * self.gain_bound
                                < skip_below;
                        if quiet {
                            let from = history.len() - (2 * HALF_BAND_PAIRS + taps / 2);
                            half_band(&history[from..], &coefficients, tail);
                            continue;
                        }
                        self.line.resize(taps + 2 * n, 0.0);
                        half_band(history, &coefficients, &mut self.line[taps..]);
                        let doubled = &mut self.doubled_peaks[..2 * n];
                        doubled.fill(0.0);
                        channel_peaks(
                            &self.line,
                            &self.kernel,
                            taps / 2,
                            self.gain_bound,
                            skip_below,
                            doubled,
                        );
                        for (o, pair) in out.iter_mut().zip(doubled.chunks_exact(2)) {
                            *o = max(*o, max(pair[0], pair[1]));
                        }
                    }
                    None => {
                        self.line.extend_from_slice(input);
                        channel_peaks(
                            &self.line,
                            &self.kernel,
                            self.delay,
                            self.gain_bound,
                            skip_below,
                            out,
                        );
                    }
                }
                let taps = tail.len();
                tail.copy_from_slice(&self.line[self.line.len() - taps..]);
            }
            done += n;
        }
    }

    /// Scans a whole block and returns the larger of its largest inter-sample peak and
    /// `known` (a peak already found: regions that cannot beat it are skipped).
    pub(crate) fn scan<S: AsRef<[f32]>>(&mut self, channels: &[S], known: f32) -> f32 {
        let frames = channels.first().map_or(0, |c| c.as_ref().len());
        let mut peaks = [0.0f32; MAX_BLOCK];
        let mut max = known;
        let mut start = 0;
        while start < frames {
            let n = (frames - start).min(MAX_BLOCK);
            self.push_block(channels, start, &mut peaks[..n], max);
            max = peaks[..n].iter().fold(max, |m, p| m.max(*p));
            start += n;
        }
        max
    }

    /// Feeds `delay()` zeros so the last real samples' intervals are scanned too.
    pub(crate) fn flush(&mut self) -> f32 {
        let zeros = [0.0f32; MAX_BLOCK];
        let silence = vec![&zeros[..=self.delay]; self.tails.len()];
        self.scan(&silence, 0.0)
    }
}

/// The limiter's detector: per frame, the larger of the reconstruction's peak and the BS.1770
/// meter's, each scaled by its margin, so that holding the result under the ceiling holds both
/// readings under it (the BS.1770 meter's short filter can read above the reconstruction on
/// broadband material, and below it on dense material).
#[derive(Debug, Clone)]
pub(crate) struct CeilingDetector {
    reconstruction: PeakDetector,
    bs1770: PeakDetector,
    /// Per detector, the factor its peaks are scaled by (1 / the fraction of the ceiling it may
    /// reach).
    scales: [f32; 2],
    /// The BS.1770 peaks of the last `lag` frames, oldest first, then room for a block: its
    /// shorter filter reports each interval `lag` frames before the reconstruction does.
    lagged: Vec<f32>,
    lag: usize,
}

/// Beyond what the reconstruction's grid can miss ([`Grade::max_grid_loss`]), this many dB are
/// kept for its filter's own error (ripple, and its roll-off just below Nyquist).
const RECONSTRUCTION_MARGIN_DB: f64 = 0.03;
/// The margin kept under the ceiling for the BS.1770 reading, dB (it equals `ebur128`'s to
/// 0.001 dB).
const BS1770_MARGIN_DB: f64 = 0.02;

impl CeilingDetector {
    /// A detector for `channels` at `sample_rate`.
    pub(crate) fn new(channels: usize, sample_rate: u32) -> Self {
        let reconstruction = PeakDetector::new(channels, sample_rate, Grade::Reconstruction);
        let bs1770 = PeakDetector::new(channels, sample_rate, Grade::Bs1770);
        let grid = 1.0 - Grade::Reconstruction.max_grid_loss(sample_rate);
        let margin = |db: f64| 10f64.powf(-db / 20.0);
        let lag = reconstruction.delay() - bs1770.delay();
        Self {
            scales: [
                (1.0 / (grid * margin(RECONSTRUCTION_MARGIN_DB))) as f32,
                (1.0 / margin(BS1770_MARGIN_DB)) as f32,
            ],
            lagged: vec![0.0; lag + MAX_BLOCK],
            lag,
            reconstruction,
            bs1770,
        }
    }

    /// Samples between an input and the interval its peak describes.
    pub(crate) fn delay(&self) -> usize {
        self.reconstruction.delay()
    }

    /// Forgets all history.
    pub(crate) fn reset(&mut self) {
        self.reconstruction.reset();
        self.bs1770.reset();
        self.lagged.fill(0.0);
    }

    /// Like [`PeakDetector::push_block`], for at most 256 frames: the scaled peaks, of which
    /// those that provably stay below `skip_below` may read 0.
    pub(crate) fn push_block<S: AsRef<[f32]>>(
        &mut self,
        channels: &[S],
        start: usize,
        peaks: &mut [f32],
        skip_below: f32,
    ) {
        let n = peaks.len();
        assert!(n <= MAX_BLOCK, "at most {MAX_BLOCK} frames per block");
        let [scale, bs_scale] = self.scales;
        self.reconstruction
            .push_block(channels, start, peaks, skip_below / scale);
        let lag = self.lag;
        self.bs1770.push_block(
            channels,
            start,
            &mut self.lagged[lag..lag + n],
            skip_below / bs_scale,
        );
        for (p, b) in peaks.iter_mut().zip(&self.lagged[..n]) {
            *p = max(*p * scale, *b * bs_scale);
        }
        self.lagged.copy_within(n..n + lag, 0);
    }
}

/// Interpolates one channel: `line` is the channel's last `taps` samples followed by one per
/// entry of `peaks` (at most [`MAX_BLOCK`]), and every entry becomes the larger of itself and
/// that frame's interval peak (see [`PeakDetector::push_block`]). Groups that cannot reach
/// `skip_below` are left alone; runs of the others are interpolated together.
#[multiversion(targets("x86_64+avx2", "aarch64+neon"))]
fn channel_peaks(
    line: &[f32],
    kernel: &Kernel,
    delay: usize,
    gain_bound: f32,
    skip_below: f32,
    peaks: &mut [f32],
) {
    let taps = line.len() - peaks.len();
    let frames = peaks.len();
    let mut run_start = None;
    for first in (0..frames).step_by(GROUP).chain([frames]) {
        let end = (first + GROUP).min(frames);
        let skip = first == frames || max_abs(&line[first..end + taps]) * gain_bound < skip_below;
        match (skip, run_start) {
            (false, None) => run_start = Some(first),
            (true, Some(start)) => {
                match kernel.middle.len() {
                    4 => interpolate_run::<4>(line, start, first, taps, delay, kernel, peaks),
                    6 => interpolate_run::<6>(line, start, first, taps, delay, kernel, peaks),
                    12 => interpolate_run::<12>(line, start, first, taps, delay, kernel, peaks),
                    pairs => unreachable!("no kernel has {pairs} sample pairs"),
                }
                run_start = None;
            }
            _ => {}
        }
    }
}

/// Interval peaks of frames `start..end`, max-ed into `peaks`, for a kernel of `PAIRS` sample
/// pairs. A lane of frames at a time keeps every sum in registers: the pairs' sums and
/// differences are formed once and weighted into each phase; sums are in pair order, the same
/// on every CPU.
#[inline(always)]
fn interpolate_run<const PAIRS: usize>(
    line: &[f32],
    start: usize,
    end: usize,
    taps: usize,
    delay: usize,
    kernel: &Kernel,
    peaks: &mut [f32],
) {
    debug_assert_eq!(kernel.middle.len(), PAIRS);
    // Sample `k` steps before frame `start + i` is `line[start + taps - k + i]`.
    let newest = start + taps;
    for first in (0..end - start).step_by(LANES) {
        let width = (end - start - first).min(LANES);
        let back = |k: usize| lane::<LANES>(line, newest - k + first, width);
        let mut sums = [[0.0f32; LANES]; PAIRS];
        let mut differences = [[0.0f32; LANES]; PAIRS];
        for (k, (sum, difference)) in sums.iter_mut().zip(&mut differences).enumerate() {
            let (a, b) = (back(k), back(kernel.span - k));
            for l in 0..LANES {
                sum[l] = a[l] + b[l];
                difference[l] = a[l] - b[l];
            }
        }
        let mut middle = [0.0f32; LANES];
        for (c, sum) in kernel.middle.iter().zip(&sums) {
            for (m, s) in middle.iter_mut().zip(sum) {
                *m += c * s;
            }
        }
        let delayed = back(delay);
        let mut best: [f32; LANES] =
            std::array::from_fn(|l| max(delayed[l].abs(), middle[l].abs()));
        for (sum_weights, difference_weights) in &kernel.mirrored {
            let (mut p, mut q) = ([0.0f32; LANES], [0.0f32; LANES]);
            for k in 0..PAIRS {
                let (cs, cd) = (sum_weights[k], difference_weights[k]);
                for l in 0..LANES {
                    p[l] += cs * sums[k][l];
                    q[l] += cd * differences[k][l];
                }
            }
            for l in 0..LANES {
                // max(|y_p|, |y_(F-p)|) from P = y_p + y_(F-p) and Q = y_p - y_(F-p).
                best[l] = max(best[l], 0.5 * (p[l].abs() + q[l].abs()));
            }
        }
        let at = start + first;
        for (peak, b) in peaks[at..at + width].iter_mut().zip(best) {
            *peak = max(*peak, b);
        }
    }
}

/// The larger of two finite values (one compare and select; `f32::max` also handles NaN).
#[inline(always)]
fn max(a: f32, b: f32) -> f32 {
    if a > b { a } else { b }
}

/// The largest absolute value in `samples` (finite), as an integer reduction that vectorises:
/// the magnitude bits of finite floats order like their values.
#[inline(always)]
fn max_abs(samples: &[f32]) -> f32 {
    let bits = samples
        .iter()
        .map(|x| x.to_bits() & 0x7fff_ffff)
        .max()
        .unwrap_or(0);
    f32::from_bits(bits)
}

/// The Hann window at `m` of `0..=len`.
fn hann(m: f64, len: f64) -> f64 {
    0.5 - 0.5 * (std::f64::consts::TAU * m / len).cos()
}

/// A Kaiser window (β = 6) at `m` of `0..=len`: its sidelobes are far lower than Hann's for
/// the same length, so an interpolator follows the band-limited signal closely.
fn kaiser(m: f64, len: f64) -> f64 {
    kaiser_at(2.0 * m / len - 1.0)
}

/// The Kaiser window (β = 6) at `x` from its centre, in half-lengths (-1 to 1).
pub(crate) fn kaiser_at(x: f64) -> f64 {
    const BETA: f64 = 6.0;
    bessel_i0(BETA * (1.0 - x * x).max(0.0).sqrt()) / bessel_i0(BETA)
}

/// The modified Bessel function of the first kind, order 0 (its power series).
fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term, mut k) = (1.0, 1.0, 1.0);
    while term > 1e-12 * sum {
        term *= (x / (2.0 * k)).powi(2);
        sum += term;
        k += 1.0;
    }
    sum
}

/// A windowed-sinc interpolator split into `factor` phases of `taps + 1` coefficients. Phase
/// p at input time n is the upsampled output at `factor * n + p`, which sits at time
/// `n - taps / 2 + p / factor`; its tap k multiplies `x[n - k]`. Phase 0 is a pure delay.
fn interpolation_phases(factor: usize, taps: usize, window: fn(f64, f64) -> f64) -> Vec<Vec<f32>> {
    let len = factor * taps;
    let centre = len as f64 / 2.0;
    let proto: Vec<f64> = (0..=len)
        .map(|m| {
            let x = (m as f64 - centre) / factor as f64;
            let sinc = if x == 0.0 {
                1.0
            } else {
                (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
            };
            sinc * window(m as f64, len as f64)
        })
        .collect();
    (0..factor)
        .map(|p| {
            (0..=taps)
                .map(|k| proto.get(factor * k + p).copied().unwrap_or(0.0) as f32)
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_interpolate_a_sine() {
        // A sine well below Nyquist: every phase's output matches the sine at its time offset.
        let (factor, taps) = (4, 12);
        let phases = interpolation_phases(factor, taps, hann);
        let f = 0.05;
        let x: Vec<f64> = (0..200)
            .map(|n| (std::f64::consts::TAU * f * n as f64).sin())
            .collect();
        let n = 100;
        for (p, phase) in phases.iter().enumerate() {
            let y: f64 = phase
                .iter()
                .enumerate()
                .map(|(k, h)| f64::from(*h) * x[n - k])
                .sum();
            let t = n as f64 - (taps / 2) as f64 + p as f64 / factor as f64;
            let want = (std::f64::consts::TAU * f * t).sin();
            assert!((y - want).abs() < 0.01, "phase {p}: {y} vs {want}");
        }
    }

    #[test]
    fn folded_kernel_equals_the_direct_phases() {
        // Noise, then the detector's peaks against the largest of the direct phase outputs.
        let mut seed = 0x2545_f491u32;
        let x: Vec<f32> = (0..3000)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as f32 / u32::MAX as f32 * 2.0 - 1.0
            })
            .collect();
        for rate in [44_100, 192_000] {
            let grade = Grade::Bs1770;
            let (factor, taps) = grade.layout(rate);
            let phases = interpolation_phases(factor, taps, hann);
            let mut d = PeakDetector::new(1, rate, grade);
            let mut peaks = vec![0.0; x.len()];
            for (block, out) in x.chunks(700).zip(peaks.chunks_mut(700)) {
                d.push_block(&[block], 0, out, 0.0);
            }
            for n in taps..x.len() {
                let direct = phases
                    .iter()
                    .map(|phase| {
                        let y: f64 = phase
                            .iter()
                            .enumerate()
                            .map(|(k, h)| f64::from(*h) * f64::from(x[n - k]))
                            .sum();
                        y.abs()
                    })
                    .fold(0.0, f64::max);
                assert!(
                    (f64::from(peaks[n]) - direct).abs() < 1e-5,
                    "{rate} Hz frame {n}: {} vs {direct}",
                    peaks[n]
                );
            }
        }
    }

    #[test]
    fn finds_the_peak_between_samples() {
        // fs/4 sine at 45 degrees: every sample is at 0.707, the true peak is 1.0.
        for rate in [44_100, 96_000] {
            let x: Vec<f32> = (0..4000)
                .map(|n| {
                    (std::f64::consts::FRAC_PI_2 * n as f64 + std::f64::consts::FRAC_PI_4).sin()
                        as f32
                })
                .collect();
            for grade in [Grade::Bs1770, Grade::Reconstruction] {
                let mut d = PeakDetector::new(1, rate, grade);
                let peak = d.scan(&[x.as_slice()], 0.0);
                assert!(peak > 0.97 && peak < 1.03, "{rate} {grade:?}: {peak}");
            }
        }
    }

    #[test]
    fn reconstruction_follows_band_limited_signals() {
        // Sums of sines up to 0.46 of the rate: the detector's peak lies between the ideal
        // waveform's peak less the grid's bound and that peak plus the filters' error.
        let mut seed = 0x9e37_79b9u32;
        let mut uniform = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            f64::from(seed) / f64::from(u32::MAX)
        };
        for rate in [44_100u32, 96_000] {
            for _ in 0..12 {
                let sines: Vec<(f64, f64, f64)> = (0..3)
                    .map(|_| (0.02 + 0.44 * uniform(), uniform() * 6.3, 0.2 + uniform()))
                    .collect();
                let at = |t: f64| -> f64 {
                    sines
                        .iter()
                        .map(|(f, phase, a)| a * (std::f64::consts::TAU * f * t + phase).sin())
                        .sum()
                };
                let frames = 2000;
                let x: Vec<f32> = (0..frames).map(|n| at(n as f64) as f32).collect();
                // The ideal peak over the frames the detector has fully seen, on a fine grid.
                let ideal = (200 * 64..(frames - 200) * 64)
                    .map(|i| at(i as f64 / 64.0).abs())
                    .fold(0.0, f64::max);
                let mut d = PeakDetector::new(1, rate, Grade::Reconstruction);
                let mut peaks = vec![0.0f32; frames];
                for (block, out) in x.chunks(300).zip(peaks.chunks_mut(300)) {
                    d.push_block(&[block], 0, out, 0.0);
                }
                let delay = d.delay();
                let found = f64::from(
                    peaks[200 + delay..frames - 200 + delay]
                        .iter()
                        .fold(0.0f32, |m, p| m.max(*p)),
                );
                let low = ideal * (1.0 - Grade::Reconstruction.max_grid_loss(rate) - 0.002);
                assert!(
                    found >= low && found <= ideal * 1.002,
                    "{rate} Hz {sines:?}: found {found}, ideal {ideal}"
                );
            }
        }
    }

    #[test]
    fn skipping_what_cannot_matter_keeps_every_peak_that_does() {
        // Noise whose level steps between -40 and 0 dBFS every 300 frames: with a skip level,
        // every frame whose peak reaches it reads exactly as without, the others read 0 or
        // their true value.
        let mut seed = 0x1234_5678u32;
        let x: Vec<f32> = (0..20_000)
            .map(|i| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let level = [0.01f32, 1.0, 0.1, 0.3][(i / 300) % 4];
                level * (seed as f32 / u32::MAX as f32 * 2.0 - 1.0)
            })
            .collect();
        for grade in [Grade::Bs1770, Grade::Reconstruction] {
            let skip = 0.5;
            let mut all = PeakDetector::new(1, 44_100, grade);
            let mut skipping = PeakDetector::new(1, 44_100, grade);
            let (mut a, mut b) = (vec![0.0f32; x.len()], vec![0.0f32; x.len()]);
            for ((block, pa), pb) in x.chunks(200).zip(a.chunks_mut(200)).zip(b.chunks_mut(200)) {
                all.push_block(&[block], 0, pa, 0.0);
                skipping.push_block(&[block], 0, pb, skip);
            }
            let skipped = b.iter().filter(|p| **p == 0.0).count();
            assert!(
                skipped > x.len() / 4,
                "{grade:?}: only {skipped} frames skipped"
            );
            for (i, (pa, pb)) in a.iter().zip(&b).enumerate() {
                if *pa >= skip {
                    assert_eq!(pa, pb, "{grade:?} frame {i}");
                } else {
                    assert!(*pb == 0.0 || pb == pa, "{grade:?} frame {i}: {pb} vs {pa}");
                }
            }
        }
    }
}
