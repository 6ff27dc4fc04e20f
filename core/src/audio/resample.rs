//! High-quality sample-rate conversion with rubato's windowed-sinc resampler.
//!
//! [`Resampler`] is streaming: feed planar blocks of any size, collect output as it comes, then
//! call [`Resampler::finish`]. The filter delay is removed, so output frame `k` lines up with
//! input time `k / out_rate` (within about 1/256 of an input frame), and the total output length
//! is `round(frames_in * out/in)`. A 1 kHz sine comes out with its gain within 0.001 dB and
//! everything else (distortion, aliasing, imaging) below -110 dB.

use rubato::{
    Resampler as _, SincFixedIn, SincInterpolationParameters, SincInterpolationType,
    WindowFunction, calculate_cutoff,
};

use super::{AudioBuffer, AudioError};

/// Input frames processed per rubato call.
const CHUNK: usize = 1024;
/// Length of the windowed-sinc filter (taps per phase): high quality for offline work.
const SINC_LEN: usize = 256;

/// A streaming sample-rate converter for a fixed channel count and pair of rates.
pub struct Resampler {
    inner: Option<SincFixedIn<f32>>,
    in_rate: u32,
    out_rate: u32,
    pending: Vec<Vec<f32>>,
    scratch: Vec<Vec<f32>>,
    /// Zero frames fed before the signal so the filter's fractional offset becomes whole frames.
    lead_in: usize,
    /// Output frames to drop at the start (the lead-in's output).
    delay: usize,
    to_skip: usize,
    frames_in: u64,
    frames_out: u64,
}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler")
            .field("in_rate", &self.in_rate)
            .field("out_rate", &self.out_rate)
            .field("channels", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl Resampler {
    /// A converter from `in_rate` to `out_rate` Hz for `channels` channels. Equal rates give a
    /// pass-through.
    pub fn new(in_rate: u32, out_rate: u32, channels: usize) -> Result<Self, AudioError> {
        if in_rate == 0 || out_rate == 0 || channels == 0 {
            return Err(AudioError::InvalidArgument(format!(
                "cannot resample {channels} channels from {in_rate} Hz to {out_rate} Hz"
            )));
        }
        let inner = if in_rate == out_rate {
            None
        } else {
            let window = WindowFunction::BlackmanHarris2;
            let params = SincInterpolationParameters {
                sinc_len: SINC_LEN,
                f_cutoff: calculate_cutoff(SINC_LEN, window),
                interpolation: SincInterpolationType::Cubic,
                oversampling_factor: 256,
                window,
            };
            let ratio = f64::from(out_rate) / f64::from(in_rate);
            Some(
                SincFixedIn::new(ratio, 1.0, params, CHUNK, channels).map_err(|e| {
                    AudioError::InvalidArgument(format!(
                        "resampler {in_rate} Hz -> {out_rate} Hz: {e}"
                    ))
                })?,
            )
        };
        let scratch = inner
            .as_ref()
            .map_or_else(Vec::new, |r| r.output_buffer_allocate(true));
        let (lead_in, delay) = alignment(in_rate, out_rate);
        let mut r = Self {
            inner,
            in_rate,
            out_rate,
            pending: (0..channels).map(|_| Vec::with_capacity(CHUNK)).collect(),
            scratch,
            lead_in,
            delay,
            to_skip: delay,
            frames_in: 0,
            frames_out: 0,
        };
        r.reset();
        Ok(r)
    }

    /// The input rate in Hz.
    pub fn in_rate(&self) -> u32 {
        self.in_rate
    }

    /// The output rate in Hz.
    pub fn out_rate(&self) -> u32 {
        self.out_rate
    }

    /// An upper bound, in input frames, on how far the input must run past a time before the
    /// output frame at that time has been appended: one chunk (1024 frames) collected,
    /// then the filter's length. 0 for a pass-through. A streaming user adds it to its latency.
    pub fn emission_delay_bound(&self) -> usize {
        if self.inner.is_some() {
            CHUNK + SINC_LEN
        } else {
            0
        }
    }

    /// Feeds one planar block and appends any finished output to `out` (one `Vec` per channel).
    pub fn process<S: AsRef<[f32]>>(
        &mut self,
        input: &[S],
        out: &mut [Vec<f32>],
    ) -> Result<(), AudioError> {
        self.check_channels(input.len(), out.len())?;
        let frames = input.first().map_or(0, |c| c.as_ref().len());
        if input.iter().any(|c| c.as_ref().len() != frames) {
            return Err(AudioError::InvalidArgument(
                "resampler input channels differ in length".into(),
            ));
        }
        self.frames_in += frames as u64;
        if self.inner.is_none() {
            for (o, i) in out.iter_mut().zip(input) {
                o.extend_from_slice(i.as_ref());
            }
            self.frames_out += frames as u64;
            return Ok(());
        }
        let mut pos = 0;
        while pos < frames {
            let take = (CHUNK - self.pending[0].len()).min(frames - pos);
            for (p, i) in self.pending.iter_mut().zip(input) {
                p.extend_from_slice(&i.as_ref()[pos..pos + take]);
            }
            pos += take;
            if self.pending[0].len() == CHUNK {
                self.run_chunk(out, u64::MAX)?;
            }
        }
        Ok(())
    }

    /// Flushes the filter: appends the remaining output so that the total equals
    /// `round(frames_in * out_rate / in_rate)`, then resets for a new stream.
    pub fn finish(&mut self, out: &mut [Vec<f32>]) -> Result<(), AudioError> {
        self.check_channels(out.len(), out.len())?;
        let expected = (u128::from(self.frames_in) * u128::from(self.out_rate)
            + u128::from(self.in_rate) / 2)
            / u128::from(self.in_rate);
        let expected = expected as u64;
        if self.inner.is_some() {
            while self.frames_out < expected {
                for p in &mut self.pending {
                    p.resize(CHUNK, 0.0);
                }
                self.run_chunk(out, expected)?;
            }
        }
        self.reset();
        Ok(())
    }

    /// Forgets all buffered input and filter state.
    pub fn reset(&mut self) {
        if let Some(r) = &mut self.inner {
            r.reset();
        }
        for p in &mut self.pending {
            p.clear();
        }
        self.to_skip = self.delay;
        self.frames_in = 0;
        self.frames_out = 0;
        if self.inner.is_some() {
            let mut sink: Vec<Vec<f32>> = vec![Vec::new(); self.pending.len()];
            let mut left = self.lead_in;
            while left > 0 {
                let take = (CHUNK - self.pending[0].len()).min(left);
                for p in &mut self.pending {
                    p.resize(p.len() + take, 0.0);
                }
                left -= take;
                if self.pending[0].len() == CHUNK {
                    self.run_chunk(&mut sink, u64::MAX)
                        .expect("chunk sizes come from the plan");
                }
            }
            self.frames_out = 0;
        }
    }

    fn check_channels(&self, input: usize, output: usize) -> Result<(), AudioError> {
        let n = self.pending.len();
        if input != n || output != n {
            return Err(AudioError::InvalidArgument(format!(
                "resampler built for {n} channels got {input} in / {output} out"
            )));
        }
        Ok(())
    }

    /// Resamples the full `pending` chunk, drops the filter delay and appends up to `limit`
    /// total output frames.
    fn run_chunk(&mut self, out: &mut [Vec<f32>], limit: u64) -> Result<(), AudioError> {
        let inner = self.inner.as_mut().expect("only called when resampling");
        let (_, produced) = inner
            .process_into_buffer(&self.pending, &mut self.scratch, None)
            .map_err(|e| AudioError::InvalidArgument(format!("resampler: {e}")))?;
        for p in &mut self.pending {
            p.clear();
        }
        let skip = self.to_skip.min(produced);
        self.to_skip -= skip;
        let room = limit.saturating_sub(self.frames_out);
        let n = ((produced - skip) as u64).min(room) as usize;
        for (o, s) in out.iter_mut().zip(&self.scratch) {
            o.extend_from_slice(&s[skip..skip + n]);
        }
        self.frames_out += n as u64;
        Ok(())
    }
}

/// The lead-in (zero input frames) and the output frames to skip so that output frame `k`
/// lines up exactly with input time `k / ratio`.
///
/// rubato's `SincFixedIn` maps output frame `n` to input position `(n + 1) / ratio - 1`. With
/// `p` zero frames fed first, output `k + s` maps to input `k / ratio` when
/// `s = ratio * (p + 1) - 1`, a whole number when `p + 1` is a multiple of `in / gcd(in, out)`.
/// For unusual rate pairs whose reduced denominator is large, the skip is rounded instead
/// (a residual offset below half an output frame).
fn alignment(in_rate: u32, out_rate: u32) -> (usize, usize) {
    if in_rate == out_rate {
        return (0, 0);
    }
    let (a, b) = (u64::from(in_rate), u64::from(out_rate));
    let g = gcd(a, b);
    let (den, num) = (a / g, b / g);
    if den <= 4096 {
        ((den - 1) as usize, (num - 1) as usize)
    } else {
        let ratio = b as f64 / a as f64;
        (0, (ratio - 1.0).round().max(0.0) as usize)
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Resamples a whole buffer to `out_rate` Hz.
pub fn resample(buffer: &AudioBuffer, out_rate: u32) -> Result<AudioBuffer, AudioError> {
    let mut r = Resampler::new(buffer.sample_rate(), out_rate, buffer.num_channels())?;
    let mut out = vec![Vec::new(); buffer.num_channels()];
    r.process(buffer.channels(), &mut out)?;
    r.finish(&mut out)?;
    AudioBuffer::from_planar(out_rate, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::TAU;

    fn sine(rate: u32, freq: f64, frames: usize) -> Vec<f32> {
        (0..frames)
            .map(|i| (0.5 * (TAU * freq * i as f64 / f64::from(rate)).sin()) as f32)
            .collect()
    }

    /// Fits `a sin(wt) + b cos(wt)` to `got` (skipping `edge` frames at both ends, where the
    /// filter sees the stream's zero padding) and returns (amplitude, phase offset in radians,
    /// residual in dB relative to the fitted sine).
    fn fit_sine(got: &[f32], freq: f64, rate: u32, edge: usize) -> (f64, f64, f64) {
        let w = std::f64::consts::TAU * freq / f64::from(rate);
        let range = edge..got.len() - edge;
        let (mut ss, mut cc, mut sc, mut gs, mut gc) = (0.0f64, 0.0, 0.0, 0.0, 0.0);
        for i in range.clone() {
            let (s, c) = (w * i as f64).sin_cos();
            let g = f64::from(got[i]);
            ss += s * s;
            cc += c * c;
            sc += s * c;
            gs += g * s;
            gc += g * c;
        }
        let det = ss * cc - sc * sc;
        let a = (gs * cc - gc * sc) / det;
        let b = (gc * ss - gs * sc) / det;
        let (mut e, mut p) = (0.0, 0.0);
        for i in range {
            let (s, c) = (w * i as f64).sin_cos();
            let m = a * s + b * c;
            e += (f64::from(got[i]) - m).powi(2);
            p += m * m;
        }
        ((a * a + b * b).sqrt(), b.atan2(a), 10.0 * (e / p).log10())
    }

    #[test]
    fn converts_rate_keeps_length_timing_and_amplitude() {
        let freq = 997.0;
        for (from, to) in [
            (44_100, 48_000),
            (48_000, 44_100),
            (48_000, 16_000),
            (22_050, 96_000),
        ] {
            let input = sine(from, freq, from as usize); // one second
            let out = resample(
                &AudioBuffer::from_planar(from, vec![input.clone(), input]).unwrap(),
                to,
            )
            .unwrap();
            assert_eq!(out.frames(), to as usize, "{from} -> {to}");
            assert_eq!(out.channel(0), out.channel(1));
            let (amp, phase, residual) = fit_sine(out.channel(0), freq, to, to as usize / 20);
            // Distortion and aliasing: far below -100 dB.
            assert!(
                residual < -110.0,
                "{from} -> {to}: residual {residual:.1} dB"
            );
            // Gain within 0.001 dB of the input's 0.5.
            assert!(
                (20.0 * (amp / 0.5).log10()).abs() < 0.001,
                "{from} -> {to}: amplitude {amp}"
            );
            // Timing: output frame k is input time k / to, within 0.01 input frame (rubato's
            // sinc table is 256x oversampled; the residual offset is about 1/256 frame).
            let offset_frames = phase / (std::f64::consts::TAU * freq) * f64::from(from);
            assert!(
                offset_frames.abs() < 0.01,
                "{from} -> {to}: offset {offset_frames} frames"
            );
        }
    }

    #[test]
    fn streaming_in_odd_blocks_equals_one_shot() {
        let input = sine(44_100, 440.0, 30_000);
        let whole = resample(
            &AudioBuffer::from_planar(44_100, vec![input.clone()]).unwrap(),
            48_000,
        )
        .unwrap();
        let mut r = Resampler::new(44_100, 48_000, 1).unwrap();
        let mut out = vec![Vec::new()];
        for block in input.chunks(777) {
            r.process(&[block], &mut out).unwrap();
        }
        r.finish(&mut out).unwrap();
        assert_eq!(out[0], whole.channel(0));
    }

    #[test]
    fn equal_rates_pass_through_and_bad_arguments_fail() {
        let input = sine(48_000, 440.0, 1000);
        let b = AudioBuffer::from_planar(48_000, vec![input]).unwrap();
        assert_eq!(resample(&b, 48_000).unwrap(), b);
        assert!(Resampler::new(0, 48_000, 1).is_err());
        let mut r = Resampler::new(44_100, 48_000, 2).unwrap();
        assert!(r.process(&[vec![0.0f32; 4]], &mut [Vec::new()]).is_err());
    }
}
