//! How hard the limiter must work for the output to reach the reference's loudness.
//!
//! One pass filters the target (the match filters and the loudness gain, no limiter) and keeps,
//! per block of [`BLOCK_FRAMES`] frames, its largest reconstructed peak and its K-weighted
//! energy: a few bytes per block, about 1 MB per minute. The limiter's gain depends on the
//! input's level only through those peaks (it is linear in everything else), so its gain at any
//! extra input gain follows from them: the gain each block requires, held over the lookahead,
//! released and ramped as [`TruePeakLimiter`](super::TruePeakLimiter) does, at block
//! resolution. The limited output's integrated loudness is then the gated mean of the energies
//! weighted by that gain, and a search over the extra gain finds the one that reaches the
//! reference in milliseconds, without running the limiter over the audio again.

use serde::{Deserialize, Serialize};

use super::limiter::{TruePeakLimiter, sliding_minimum};
use super::loudness::IntegratedLoudness;
use super::peak::CeilingDetector;
use super::render::render_chunk_frames;
use super::{AudioSource, MasterError, Mastering, MatchProfile, MatchSettings};
use crate::analyze::gating::GatedIntegrator;
use crate::realtime::StreamProcessor;

/// Frames per block of the gain model (0.36 ms at 44.1 kHz, against a 5 ms attack ramp).
const BLOCK_FRAMES: usize = 16;
/// The search stops within this many LU of the reference's loudness.
const SEARCH_TOLERANCE_LU: f64 = 0.02;
/// At most this many evaluations of the gain model per search.
const SEARCH_STEPS: usize = 16;

/// The limiting a match takes at one extra input gain, estimated from the learning pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LimitingEstimate {
    /// Gain in dB pushed into the limiter beyond the loudness match.
    pub extra_gain_db: f32,
    /// Estimated integrated loudness of the output, LUFS.
    pub output_lufs: Option<f64>,
    /// Estimated largest gain reduction, dB.
    pub max_gain_reduction_db: f32,
    /// Estimated mean gain reduction over the output, dB.
    pub mean_gain_reduction_db: f32,
}

/// The limiting of the two ways a match can end, as learned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LimitingEstimates {
    /// With gentle limiting: the loudness match alone goes into the limiter, which may leave
    /// the output quieter than the reference.
    pub gentle: LimitingEstimate,
    /// Matching the reference's loudness: the limiter is pushed until the output reaches it
    /// (or [`MAX_COMPENSATION_DB`](super::MAX_COMPENSATION_DB) is reached).
    pub matched: LimitingEstimate,
}

/// Samples (audio and peaks together) up to which the measuring pass keeps the filtered target
/// for the render ([`Filtered`]): 256 MiB, a stereo song of 8 minutes at 44.1 kHz. Longer
/// inputs are filtered again by the render, so memory stays bounded whatever the length.
const KEEP_SAMPLES: u64 = 1 << 26;

/// The target as the measuring pass filtered it, kept so the render neither filters it nor
/// detects its peaks again: at another gain into the limiter both only scale.
#[derive(Debug)]
pub(crate) struct Filtered {
    /// The filter's output chunk after chunk, from the first chunk to the one that holds the
    /// processor's latency past the input's end (as [`render`] runs it), each as the pass
    /// produced it (kept, not copied).
    ///
    /// [`render`]: super::render
    pub(crate) chunks: Vec<FilteredChunk>,
    /// The gain in dB the filters applied.
    pub(crate) gain_db: f64,
    /// Input frames read.
    pub(crate) frames: u64,
    /// NaN or infinite input samples the filter read as 0.
    pub(crate) non_finite: u64,
}

/// One chunk of [`Filtered`].
#[derive(Debug)]
pub(crate) struct FilteredChunk {
    /// Per channel, the filter's output.
    pub(crate) audio: Vec<Vec<f32>>,
    /// Per frame of `audio`, the limiter's detector's peak at this gain (see
    /// [`TruePeakLimiter::process_with_peaks`]); 0 where it provably stays below what
    /// [`MAX_COMPENSATION_DB`](super::MAX_COMPENSATION_DB) more gain could lift to the ceiling.
    pub(crate) peaks: Vec<f32>,
}

/// The filtered target reduced to per-block peaks and energies, and the limiter's constants.
struct Envelope {
    /// Largest peak per block as the limiter detects it (blocks never cross a 100 ms step).
    peaks: Vec<f32>,
    /// K-weighted energy per block, summed over channels.
    energies: Vec<f64>,
    /// Blocks per 100 ms step (the last of each step may be shorter).
    blocks_per_step: usize,
    /// Frames per 100 ms step.
    step_frames: usize,
    /// The limiter's lookahead in blocks (rounded up).
    lookahead_blocks: usize,
    /// The limiter's release per block.
    release_per_block: f64,
    /// The limiter's threshold (linear).
    threshold: f32,
    /// Scratch of [`evaluate`](Self::evaluate), allocated once for every step of the search
    /// (fresh buffers of this size would cost page faults on every evaluation).
    scratch: EvaluationScratch,
}

/// Buffers [`Envelope::evaluate`] reuses: the gain each block requires (then padded for the
/// lookahead), the sliding minimum's two scratch lines, and the held gains.
#[derive(Default)]
struct EvaluationScratch {
    required: Vec<f32>,
    minima: [Vec<f32>; 2],
    held: Vec<f32>,
}

/// Measures the target, finds the extra gain into the limiter that reaches the reference's
/// loudness, and stores it and both limiting estimates in `profile`. With `keep`, returns the
/// filtered target too when it fits in [`KEEP_SAMPLES`].
pub(crate) fn compensate_limiter(
    profile: &mut MatchProfile,
    settings: &MatchSettings,
    target: &mut dyn AudioSource,
    keep: bool,
    progress: &mut dyn FnMut(f32),
) -> Result<Option<Filtered>, MasterError> {
    target.rewind()?;
    let (mut envelope, filtered) = measure(profile, settings, target, keep, progress)?;
    let max_extra = f64::from(super::MAX_COMPENSATION_DB);
    // Unlimited, the loudness gain lands on the reference (learning estimated it exactly), so
    // what the model's limited output lacks against its own unlimited loudness is what the
    // output lacks against the reference: the model's small biases cancel.
    let reference = profile.reference.loudness.integrated_lufs.unwrap_or(-70.0);
    let Some(unlimited) = envelope.loudness() else {
        return Ok(filtered);
    };
    let offset = reference - unlimited;
    let gentle = envelope.evaluate(0.0, true, offset);
    let mut best = (
        gentle.output_lufs.map_or(f64::INFINITY, |l| reference - l),
        0.0,
    );
    // The output's loudness rises with the extra gain: keep the largest gain known to fall
    // short and the smallest known to overshoot, and step between them by the secant.
    let (mut low, mut high) = ((0.0, best.0), None::<(f64, f64)>);
    // The low before `low`, for the slope while nothing has overshot yet.
    let mut previous_low = None::<(f64, f64)>;
    for _ in 0..SEARCH_STEPS {
        if low.1 <= SEARCH_TOLERANCE_LU || (high.is_none() && low.0 >= max_extra) {
            break;
        }
        if high.is_some_and(|(_, missing)| missing.abs() <= SEARCH_TOLERANCE_LU) {
            break;
        }
        let next = match high {
            Some((h, hm)) => {
                let secant = low.0 + (h - low.0) * low.1 / (low.1 - hm);
                // Stay well inside the bracket so it keeps shrinking.
                secant.clamp(low.0 + 0.05 * (h - low.0), h - 0.05 * (h - low.0))
            }
            // Without limiting one dB in gives one LU out; with it, less: the slope of the
            // last two steps, aiming a little past the reference to bracket it.
            None => {
                let slope = previous_low
                    .map_or(0.8, |(g, m): (f64, f64)| (m - low.1) / (low.0 - g))
                    .clamp(0.05, 1.0);
                (low.0 + 1.2 * low.1 / slope).min(max_extra)
            }
        };
        let missing = envelope
            .evaluate(next, false, offset)
            .output_lufs
            .map_or(f64::INFINITY, |l| reference - l);
        if missing.abs() < best.0.abs() {
            best = (missing, next);
        }
        if missing > 0.0 {
            previous_low = Some(low);
            low = (next, missing);
        } else {
            high = Some((next, missing));
        }
    }
    let matched = envelope.evaluate(best.1, true, offset);
    profile.limiter_compensation_db = best.1 as f32;
    profile.limiting = Some(LimitingEstimates { gentle, matched });
    if best.0 > super::LOUDNESS_TOLERANCE_LU {
        profile.notes.push(format!(
            "even {:.1} dB more into the limiter leaves the output {:.2} LU under the reference",
            best.1, best.0
        ));
    }
    Ok(filtered)
}

/// Streams the target through the match filters (with the loudness gain, no limiter) and
/// reduces the result to an [`Envelope`]: the filter on this thread, peaks and energies on a
/// second one. With `keep`, also keeps the filtered target when it fits.
fn measure(
    profile: &MatchProfile,
    settings: &MatchSettings,
    target: &mut dyn AudioSource,
    keep: bool,
    progress: &mut dyn FnMut(f32),
) -> Result<(Envelope, Option<Filtered>), MasterError> {
    let (channels, rate) = (target.channels(), target.sample_rate());
    let chunk = render_chunk_frames(rate);
    let gain = profile.loudness_gain_db(settings.amount);
    let mut processor = Mastering::with_gain(profile, settings, rate, channels, chunk, gain)?;
    // The render runs this many frames past the input's end; so does this pass.
    let latency = processor.latency_frames() as u64;
    let gain_db = processor.gain_db();
    let (filter, _) = processor.stages();
    let limiter = TruePeakLimiter::new(
        channels,
        rate,
        settings.ceiling_dbtp,
        settings.limiter_release_ms,
        true,
    );
    let mut loudness = IntegratedLoudness::new(channels, rate);
    let step_frames = loudness.step_frames();
    let blocks_per_step = step_frames.div_ceil(BLOCK_FRAMES);
    let threshold = limiter.threshold();
    let (release, lookahead) = (limiter.release_per_frame(), limiter.lookahead_frames());
    let total = target.total_frames();
    let kept_frames = total
        .filter(|t| keep && (t + latency + chunk as u64) * (channels as u64 + 1) <= KEEP_SAMPLES);
    // Blocks come back through the `free` channels to be used again, except those the reducer
    // keeps; the stages allocate new ones when none is free (the bounded channels between them
    // keep the blocks in flight few).
    let (full_tx, full_rx) = crossbeam_channel::bounded::<Vec<Vec<f32>>>(4);
    let (free_tx, free_rx) = crossbeam_channel::bounded::<Vec<Vec<f32>>>(4);
    std::thread::scope(
        |scope| -> Result<(Envelope, Option<Filtered>), MasterError> {
            // Three stages: this thread filters, the detector finds the peaks, the reducer
            // measures the energies, reduces the peaks to blocks and keeps the audio.
            let (detected_tx, detected_rx) =
                crossbeam_channel::bounded::<(Vec<Vec<f32>>, Vec<f32>)>(4);
            let (free_peaks_tx, free_peaks_rx) = crossbeam_channel::bounded::<Vec<f32>>(4);
            let mut detector = CeilingDetector::new(channels, rate);
            let delay = detector.delay();
            scope.spawn(move || {
                // Peaks that even the largest compensation cannot lift to the threshold don't
                // matter: their frames are not interpolated.
                let skip_below = threshold * 10f32.powf(-super::MAX_COMPENSATION_DB / 20.0);
                for block in full_rx {
                    let mut frame_peaks = free_peaks_rx
                        .try_recv()
                        .unwrap_or_else(|_| vec![0.0f32; chunk]);
                    let n = block[0].len();
                    for start in (0..n).step_by(256) {
                        let end = (start + 256).min(n);
                        detector.push_block(
                            &block,
                            start,
                            &mut frame_peaks[start..end],
                            skip_below,
                        );
                    }
                    if detected_tx.send((block, frame_peaks)).is_err() {
                        return;
                    }
                }
            });
            let reducer = scope.spawn(move || {
                let block_of = |frame: usize| {
                    (frame / step_frames) * blocks_per_step + (frame % step_frames) / BLOCK_FRAMES
                };
                let (mut peaks, mut energies) = (Vec::<f32>::new(), Vec::<f64>::new());
                let mut kept = kept_frames.map(|frames| {
                    Vec::with_capacity((frames as usize + latency as usize).div_ceil(chunk) + 1)
                });
                let mut done = 0usize;
                for (block, frame_peaks) in detected_rx {
                    let n = block[0].len();
                    let mut start = 0;
                    while start < n {
                        let frame = done + start;
                        let in_step = frame % step_frames;
                        let len = (BLOCK_FRAMES - in_step % BLOCK_FRAMES)
                            .min(step_frames - in_step)
                            .min(n - start);
                        let before = loudness.filtered_energy();
                        let mut planes: [&[f32]; 2] = [&[], &[]];
                        for (p, c) in planes.iter_mut().zip(&block) {
                            *p = &c[start..start + len];
                        }
                        loudness.add(&planes[..channels]);
                        let index = block_of(frame);
                        if energies.len() <= index {
                            energies.resize(index + 1, 0.0);
                        }
                        energies[index] += loudness.filtered_energy() - before;
                        start += len;
                    }
                    // A peak describes the interval `delay` frames before the newest sample:
                    // the runs of frames whose intervals share a block, one maximum each.
                    let mut i = delay.saturating_sub(done).min(n);
                    while i < n {
                        let frame = done + i - delay;
                        let in_step = frame % step_frames;
                        let len = (BLOCK_FRAMES - in_step % BLOCK_FRAMES)
                            .min(step_frames - in_step)
                            .min(n - i);
                        let index = block_of(frame);
                        if peaks.len() <= index {
                            peaks.resize(index + 1, 0.0);
                        }
                        let largest = frame_peaks[i..i + len]
                            .iter()
                            .fold(peaks[index], |m, p| m.max(*p));
                        peaks[index] = largest;
                        i += len;
                    }
                    done += n;
                    match &mut kept {
                        Some(chunks) => chunks.push(FilteredChunk {
                            audio: block,
                            peaks: frame_peaks,
                        }),
                        None => {
                            let _ = free_tx.try_send(block);
                            let _ = free_peaks_tx.try_send(frame_peaks);
                        }
                    }
                }
                peaks.resize(energies.len(), 0.0);
                (peaks, energies, kept)
            });
            let mut read = 0u64;
            let produced = (|| -> Result<(), MasterError> {
                let mut input: Vec<Vec<f32>> =
                    (0..channels).map(|_| Vec::with_capacity(chunk)).collect();
                let (mut processed, mut ended) = (0u64, false);
                while !ended || processed < read + latency {
                    let n = if ended {
                        input.iter_mut().for_each(Vec::clear);
                        0
                    } else {
                        target.read(&mut input, chunk)?
                    };
                    if n < chunk {
                        ended = true;
                    }
                    read += n as u64;
                    processed += chunk as u64;
                    for c in &mut input {
                        c.resize(chunk, 0.0);
                    }
                    let mut block = free_rx
                        .try_recv()
                        .unwrap_or_else(|_| vec![vec![0.0f32; chunk]; channels]);
                    let ins: Vec<&[f32]> = input.iter().map(Vec::as_slice).collect();
                    let mut outs: Vec<&mut [f32]> =
                        block.iter_mut().map(Vec::as_mut_slice).collect();
                    filter.process(&ins, &mut outs);
                    if full_tx.send(block).is_err() {
                        return Ok(());
                    }
                    if let Some(total) = total {
                        progress((read as f64 / total.max(1) as f64).min(1.0) as f32);
                    }
                }
                Ok(())
            })();
            drop(full_tx);
            let (peaks, energies, kept) = reducer
                .join()
                .map_err(|_| MasterError::Loudness("the measuring thread panicked".into()))?;
            produced?;
            let envelope = Envelope {
                peaks,
                energies,
                blocks_per_step,
                step_frames,
                lookahead_blocks: lookahead.div_ceil(BLOCK_FRAMES),
                release_per_block: release.powi(BLOCK_FRAMES as i32),
                threshold,
                scratch: EvaluationScratch::default(),
            };
            let filtered = kept.map(|chunks| Filtered {
                chunks,
                gain_db,
                frames: read,
                non_finite: filter.non_finite_samples(),
            });
            Ok((envelope, filtered))
        },
    )
}

impl Envelope {
    /// The limiting and the output's loudness (the model's plus `offset`) with `extra_db` more
    /// gain into the limiter; the gain-reduction figures only when `with_stats` (they cost a
    /// multiply per block and a logarithm per 32).
    ///
    /// Two elementwise passes (the gain each block requires; its minimum over the lookahead,
    /// by [`sliding_minimum`]'s doubling windows), then one serial pass that releases, ramps
    /// and weights the energies of each 100 ms step.
    fn evaluate(&mut self, extra_db: f64, with_stats: bool, offset: f64) -> LimitingEstimate {
        let gain = 10f64.powf(extra_db / 20.0);
        let n = self.peaks.len();
        let hold = self.lookahead_blocks.max(1);
        // A block's peak times `gain` over the threshold requires `threshold / (gain peak)`.
        let level = (f64::from(self.threshold) / gain) as f32;
        let EvaluationScratch {
            required,
            minima,
            held,
        } = &mut self.scratch;
        required.clear();
        required.extend(
            self.peaks
                .iter()
                .map(|p| if *p > level { level / p } else { 1.0 }),
        );
        required.resize(n + hold - 1, 1.0);
        for m in minima.iter_mut() {
            m.resize(required.len(), 0.0);
        }
        held.resize(n, 0.0);
        sliding_minimum(required, hold, minima, held);
        // Released, then ramped (the mean of the last `hold` envelopes), then the energies
        // weighted by the squared gain, summed per 100 ms step.
        let mut history = vec![1.0f64; hold];
        let mut slot = 0;
        let (mut depth, mut ramp_sum) = (0.0f64, hold as f64);
        let mut steps = Vec::with_capacity(n / self.blocks_per_step + 1);
        let (mut step, mut in_step) = (0.0f64, 0);
        // The gain reduction's sum of logarithms is taken as the logarithm of products of
        // `LOG_RUN` gains (each above 1e-9, so a product stays far above f64's smallest).
        const LOG_RUN: usize = 32;
        let (mut min_gain, mut sum_reduction) = (1.0f64, 0.0f64);
        let (mut product, mut in_product) = (1.0f64, 0);
        for (h, e) in held.iter().zip(&self.energies) {
            depth = (1.0 - f64::from(*h)).max(self.release_per_block * depth);
            let envelope = 1.0 - depth;
            ramp_sum += envelope - history[slot];
            history[slot] = envelope;
            slot = if slot + 1 == hold { 0 } else { slot + 1 };
            let g = (ramp_sum / hold as f64).min(1.0);
            step += e * g * g;
            in_step += 1;
            if in_step == self.blocks_per_step {
                steps.push(step * gain * gain);
                (step, in_step) = (0.0, 0);
            }
            if with_stats {
                min_gain = min_gain.min(g);
                product *= g.max(1e-9);
                in_product += 1;
                if in_product == LOG_RUN {
                    sum_reduction -= 20.0 * product.log10();
                    (product, in_product) = (1.0, 0);
                }
            }
        }
        sum_reduction -= 20.0 * product.log10();
        if in_step > 0 {
            steps.push(step * gain * gain);
        }
        let integrated = self.gated(&steps);
        let (max_gr, mean_gr) = if with_stats && n > 0 {
            (-20.0 * min_gain.log10(), sum_reduction / n as f64)
        } else {
            (0.0, 0.0)
        };
        LimitingEstimate {
            extra_gain_db: extra_db as f32,
            output_lufs: integrated.map(|l| l + offset),
            max_gain_reduction_db: max_gr as f32,
            mean_gain_reduction_db: mean_gr as f32,
        }
    }

    /// The integrated loudness of the blocks' energies, unlimited; `None` for silence.
    fn loudness(&self) -> Option<f64> {
        let steps: Vec<f64> = self
            .energies
            .chunks(self.blocks_per_step)
            .map(|e| e.iter().sum())
            .collect();
        self.gated(&steps)
    }

    /// The BS.1770 gated loudness of 100 ms steps' energies; `None` for silence.
    fn gated(&self, steps: &[f64]) -> Option<f64> {
        let mut gate = GatedIntegrator::new();
        for window in steps.windows(4) {
            gate.add(window.iter().sum::<f64>() / (4 * self.step_frames) as f64);
        }
        let integrated = gate.integrated();
        (integrated.is_finite() && integrated > -70.0).then_some(integrated)
    }
}
