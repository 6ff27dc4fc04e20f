//! [`Mastering`]: the match applied as a stream (the plugin's realtime path and the CLI's
//! render are the same code).

use super::fir::{PartitionedConvolver, band_edge_db, design_linear_phase, fir_latency};
use super::limiter::TruePeakLimiter;
use super::{MasterError, MatchProfile, MatchSettings};
use crate::realtime::StreamProcessor;

/// Default chunk size for the plugin's bridge.
pub const DEFAULT_CHUNK_FRAMES: usize = 512;

/// Applies a [`MatchProfile`]: mid and side linear-phase FIRs (uniformly partitioned FFT
/// convolution) carrying the tone match scaled by the amount, the width change and the loudness
/// gain (and, with the limiter on, a roll-off from 0.45 to 0.46 of the sample rate), then the
/// true-peak limiter. Mono input uses the mid filter only.
///
/// Allocation-free per chunk after construction. Its output is its input delayed by
/// [`StreamProcessor::latency_frames`] (FIR delay plus limiter lookahead), whatever the chunk
/// size, so a render in any chunk size equals any other to float rounding.
#[derive(Debug)]
pub struct Mastering {
    filter: MatchFilter,
    limiter: TruePeakLimiter,
    latency: usize,
    gain_db: f64,
}

/// The first stage of [`Mastering`]: left/right to mid/side, the match filters, and back.
#[derive(Debug)]
pub(crate) struct MatchFilter {
    chunk: usize,
    channels: usize,
    mid: PartitionedConvolver,
    side: Option<PartitionedConvolver>,
    mid_in: Vec<f32>,
    side_in: Vec<f32>,
    mid_out: Vec<f32>,
    side_out: Vec<f32>,
    non_finite: u64,
}

impl Mastering {
    /// Builds the processor for `channels` (1 or 2) at `sample_rate`, working in chunks of
    /// `chunk_frames`. Designs the filters, so call it off the audio thread.
    pub fn new(
        profile: &MatchProfile,
        settings: &MatchSettings,
        sample_rate: u32,
        channels: usize,
        chunk_frames: usize,
    ) -> Result<Self, MasterError> {
        let gain = profile.output_gain_db(settings);
        Self::with_gain(profile, settings, sample_rate, channels, chunk_frames, gain)
    }

    /// Like [`Mastering::new`] with an explicit loudness gain in dB.
    pub fn with_gain(
        profile: &MatchProfile,
        settings: &MatchSettings,
        sample_rate: u32,
        channels: usize,
        chunk_frames: usize,
        gain_db: f64,
    ) -> Result<Self, MasterError> {
        settings.validate()?;
        profile.validate()?;
        if !(1..=2).contains(&channels) {
            return Err(MasterError::UnsupportedChannels {
                name: "mastering input".into(),
                channels,
            });
        }
        if !(1000..=768_000).contains(&sample_rate) {
            return Err(MasterError::UnsupportedRate {
                name: "mastering input".into(),
                sample_rate,
            });
        }
        if chunk_frames == 0 {
            return Err(MasterError::InvalidSettings {
                field: "chunk_frames",
                reason: "must be positive".into(),
            });
        }
        let gain = if gain_db.is_finite() { gain_db } else { 0.0 };
        // With the limiter on, the filters stop just short of Nyquist, where its detector
        // follows the reconstructed waveform exactly.
        let edge = |f: f64| {
            if settings.limiter {
                band_edge_db(f, sample_rate)
            } else {
                0.0
            }
        };
        let design = |side: bool| {
            let taps = design_linear_phase(
                |f| {
                    let (mid, side_db) = profile.filter_db_at(settings, f);
                    let curve = if side { side_db } else { mid };
                    curve + gain + edge(f)
                },
                sample_rate,
            );
            PartitionedConvolver::new(&taps, chunk_frames)
        };
        // Each filter takes milliseconds to design (a dense FFT, the convolver's plans and
        // spectra), a fixed cost of every call: the side's is designed beside the mid's.
        let (mid, side) = std::thread::scope(|scope| {
            let side = (channels == 2).then(|| scope.spawn(|| design(true)));
            let mid = design(false);
            let side = side.map(|thread| {
                thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            });
            (mid, side)
        });
        let limiter = TruePeakLimiter::new(
            channels,
            sample_rate,
            settings.ceiling_dbtp,
            settings.limiter_release_ms,
            settings.limiter,
        );
        Ok(Self {
            latency: fir_latency(sample_rate) + limiter.latency(),
            filter: MatchFilter {
                chunk: chunk_frames,
                channels,
                mid,
                side,
                mid_in: vec![0.0; chunk_frames],
                side_in: vec![0.0; chunk_frames],
                mid_out: vec![0.0; chunk_frames],
                side_out: vec![0.0; chunk_frames],
                non_finite: 0,
            },
            limiter,
            gain_db: gain,
        })
    }

    /// Channel count.
    pub fn channels(&self) -> usize {
        self.filter.channels
    }

    /// The two stages, to run on separate threads (an offline render): the filter, then the
    /// limiter on its output. Together they are [`process_chunk`](StreamProcessor::process_chunk).
    pub(crate) fn stages(&mut self) -> (&mut MatchFilter, &mut TruePeakLimiter) {
        (&mut self.filter, &mut self.limiter)
    }

    /// The loudness gain applied, in dB.
    pub fn gain_db(&self) -> f64 {
        self.gain_db
    }

    /// NaN or infinite input samples replaced by 0 so far.
    pub fn non_finite_samples(&self) -> u64 {
        self.filter.non_finite
    }
}

impl StreamProcessor for Mastering {
    fn chunk_frames(&self) -> usize {
        self.filter.chunk
    }

    fn latency_frames(&self) -> usize {
        self.latency
    }

    fn reset(&mut self) {
        self.filter.mid.reset();
        if let Some(side) = &mut self.filter.side {
            side.reset();
        }
        self.limiter.reset();
    }

    fn process_chunk(&mut self, input: &[&[f32]], output: &mut [&mut [f32]]) {
        self.filter.process(input, output);
        self.limiter.process(&mut output[..self.filter.channels]);
    }
}

impl MatchFilter {
    /// NaN or infinite input samples read as 0 so far.
    pub(crate) fn non_finite_samples(&self) -> u64 {
        self.non_finite
    }

    /// Filters one chunk of `input` into `output` (both `channels` slices of the chunk size).
    pub(crate) fn process(&mut self, input: &[&[f32]], output: &mut [&mut [f32]]) {
        let n = self.chunk;
        let input = &input[..self.channels];
        // Files arrive clean (sources replace non-finite samples); checking first keeps the
        // usual path free of the per-sample branch, so it vectorises.
        let finite = input
            .iter()
            .all(|c| c[..n].iter().fold(true, |ok, x| ok & x.is_finite()));
        let mut bad = 0u64;
        let mut clean = |x: f32| {
            if finite || x.is_finite() {
                x
            } else {
                bad += 1;
                0.0
            }
        };
        if self.channels == 2 {
            let pairs = input[0][..n].iter().zip(&input[1][..n]);
            for ((m, s), (l, r)) in self.mid_in.iter_mut().zip(&mut self.side_in).zip(pairs) {
                let (l, r) = (clean(*l), clean(*r));
                *m = 0.5 * (l + r);
                *s = 0.5 * (l - r);
            }
        } else {
            for (m, x) in self.mid_in.iter_mut().zip(&input[0][..n]) {
                *m = clean(*x);
            }
        }
        self.non_finite += bad;
        self.mid.process(&self.mid_in, &mut self.mid_out);
        if let Some(side) = &mut self.side {
            side.process(&self.side_in, &mut self.side_out);
            let (left, rest) = output.split_at_mut(1);
            let outs = left[0][..n].iter_mut().zip(&mut rest[0][..n]);
            for ((l, r), (m, s)) in outs.zip(self.mid_out.iter().zip(&self.side_out)) {
                *l = m + s;
                *r = m - s;
            }
        } else {
            output[0][..n].copy_from_slice(&self.mid_out);
        }
    }
}
