//! Running a [`Mastering`] over a whole stream: what the CLI does, and what the plugin's
//! offline render reproduces chunk for chunk.

use std::sync::atomic::{AtomicU64, Ordering};

use super::compensate::Filtered as Kept;
use super::fir::{fir_latency, fir_size};
use super::limiter::TruePeakLimiter;
use super::loudness::{LoudnessFigures, Meter};
use super::peak::{Grade, PeakDetector};
use super::profile::learn_keeping;
use super::{AudioSource, LimiterStats, MasterError, Mastering, MatchProfile, MatchSettings};
use crate::realtime::StreamProcessor;

/// Where rendered blocks go: one `Vec` per channel, all the same length. Called on a helper
/// thread (beside the meter) while the calling thread decodes and processes the next blocks.
pub type BlockSink<'a> = dyn FnMut(&[Vec<f32>]) -> Result<(), MasterError> + Send + 'a;

/// Blocks in flight between two threads of the render.
const PIPELINE_BLOCKS: usize = 4;

/// A filtered chunk on its way to the limiter, with the count of input frames read so far.
struct Filtered {
    block: Vec<Vec<f32>>,
    read: u64,
}

/// The chunk size renders of a file at `sample_rate` use (the CLI's; any chunk size gives the
/// same output to float rounding): the one that makes the match filters cheapest per frame.
/// With the FIR (`N - 1` taps, see [`fir_size`]) a chunk fills an FFT of `4 N` exactly, a
/// quarter fewer operations per frame than partitions of `N / 2` would take.
pub fn render_chunk_frames(sample_rate: u32) -> usize {
    // Overlap-save yields FFT length - taps + 1 new frames per FFT: 4N - (N - 1) + 1.
    3 * fir_size(sample_rate) + 2
}

/// What a render produced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RenderSummary {
    /// Loudness and true peak of the output.
    pub output: LoudnessFigures,
    /// Frames written (equal to the input's).
    pub frames: u64,
    /// Sample rate of the output.
    pub sample_rate: u32,
    /// Channels of the output.
    pub channels: usize,
    /// The loudness gain applied in dB.
    pub gain_db: f64,
    /// What the limiter did.
    pub limiter: LimiterStats,
    /// NaN or infinite input samples that were read as 0.
    pub non_finite_input: u64,
}

/// Masters `source` with `profile` and passes the output, aligned with the input (the
/// processor's latency removed) and exactly as long, to `sink` in planar blocks. Measures the
/// output's loudness and true peak on the way.
pub fn render(
    profile: &MatchProfile,
    settings: &MatchSettings,
    source: &mut dyn AudioSource,
    chunk_frames: usize,
    sink: &mut BlockSink<'_>,
    progress: &mut dyn FnMut(f32),
) -> Result<RenderSummary, MasterError> {
    let gain_db = profile.output_gain_db(settings);
    let channels = source.channels();
    let rate = source.sample_rate();
    let mut processor =
        Mastering::with_gain(profile, settings, rate, channels, chunk_frames, gain_db)?;
    let latency = processor.latency_frames();
    let gain_db = processor.gain_db();
    let mut meter = Meter::new(channels, rate, true)?;
    let total = source.total_frames();
    let blocks =
        |frames: usize| -> Vec<Vec<f32>> { (0..channels).map(|_| vec![0.0; frames]).collect() };
    // Three threads in a pipeline, as `process_chunk` would run on one: this one decodes and
    // filters, the second limits and cuts the latency off, the third meters and writes.
    // Blocks are recycled through the `free` channels.
    let (filtered_tx, filtered_rx) = crossbeam_channel::bounded::<Filtered>(PIPELINE_BLOCKS);
    let (free_filtered_tx, free_filtered_rx) = crossbeam_channel::bounded(PIPELINE_BLOCKS);
    let (limited_tx, limited_rx) = crossbeam_channel::bounded::<Vec<Vec<f32>>>(PIPELINE_BLOCKS);
    let (free_limited_tx, free_limited_rx) = crossbeam_channel::bounded(PIPELINE_BLOCKS);
    for _ in 0..PIPELINE_BLOCKS {
        let _ = free_filtered_tx.send(blocks(chunk_frames));
        let _ = free_limited_tx.send(blocks(0));
    }
    let emitted = AtomicU64::new(0);
    let (filter, limiter) = processor.stages();
    let (figures, stats) = std::thread::scope(|scope| -> Result<_, MasterError> {
        let emitted = &emitted;
        let metering = scope.spawn(move || -> Result<_, MasterError> {
            for block in limited_rx {
                meter.add(&block)?;
                sink(&block)?;
                emitted.fetch_add(block[0].len() as u64, Ordering::Relaxed);
                // The limiter may have stopped after an error; nothing to recycle then.
                let _ = free_limited_tx.send(block);
            }
            Ok(meter.figures())
        });
        let limiting = scope.spawn(move || {
            let mut skip = latency;
            let mut passed = 0u64;
            for Filtered { mut block, read } in filtered_rx {
                {
                    let mut outs: Vec<&mut [f32]> =
                        block.iter_mut().map(Vec::as_mut_slice).collect();
                    limiter.process(&mut outs);
                }
                let start = skip.min(chunk_frames);
                skip -= start;
                let count = ((chunk_frames - start) as u64).min(read - passed) as usize;
                if count > 0 {
                    let Ok(mut emit) = free_limited_rx.recv() else {
                        break;
                    };
                    for (e, o) in emit.iter_mut().zip(&block) {
                        e.clear();
                        e.extend_from_slice(&o[start..start + count]);
                    }
                    if limited_tx.send(emit).is_err() {
                        break;
                    }
                    passed += count as u64;
                }
                let _ = free_filtered_tx.send(block);
            }
            limiter.stats()
        });
        let produced = (|| -> Result<(), MasterError> {
            let mut input: Vec<Vec<f32>> = (0..channels)
                .map(|_| Vec::with_capacity(chunk_frames))
                .collect();
            let (mut read, mut input_done, mut processed) = (0u64, false, 0u64);
            loop {
                let n = if input_done {
                    input.iter_mut().for_each(Vec::clear);
                    0
                } else {
                    source.read(&mut input, chunk_frames)?
                };
                if n < chunk_frames {
                    input_done = true;
                }
                read += n as u64;
                for c in &mut input {
                    c.resize(chunk_frames, 0.0);
                }
                let Ok(mut block) = free_filtered_rx.recv() else {
                    return Ok(());
                };
                {
                    let ins: Vec<&[f32]> = input.iter().map(Vec::as_slice).collect();
                    let mut outs: Vec<&mut [f32]> =
                        block.iter_mut().map(Vec::as_mut_slice).collect();
                    filter.process(&ins, &mut outs);
                }
                if filtered_tx.send(Filtered { block, read }).is_err() {
                    return Ok(());
                }
                if let Some(total) = total {
                    let done = emitted.load(Ordering::Relaxed) as f64 / total.max(1) as f64;
                    progress(done.min(1.0) as f32);
                }
                // Silent chunks after the input's end flush the delayed tail out.
                processed += chunk_frames as u64;
                if input_done && processed >= read + latency as u64 {
                    return Ok(());
                }
            }
        })();
        drop(filtered_tx);
        let stats = limiting
            .join()
            .map_err(|_| MasterError::Loudness("the limiter thread panicked".into()))?;
        let figures = metering
            .join()
            .unwrap_or_else(|_| Err(MasterError::Loudness("the meter thread panicked".into())));
        produced?;
        Ok((figures?, stats))
    })?;
    progress(1.0);
    Ok(RenderSummary {
        output: figures,
        frames: emitted.into_inner(),
        sample_rate: rate,
        channels,
        gain_db,
        limiter: stats,
        non_finite_input: source.non_finite_samples() + processor.non_finite_samples(),
    })
}

/// [`render`] of a target the measuring pass already filtered: the same output (to float
/// rounding), without filtering it or detecting its peaks again. Each kept chunk is scaled and
/// limited in place and dropped once written; this thread scales, limits and meters the
/// loudness and the BS.1770 peak, a second one finds the reconstructed peak, a third writes.
pub(crate) fn render_filtered(
    filtered: Kept,
    profile: &MatchProfile,
    settings: &MatchSettings,
    sample_rate: u32,
    channels: usize,
    sink: &mut BlockSink<'_>,
    progress: &mut dyn FnMut(f32),
) -> Result<RenderSummary, MasterError> {
    let Kept {
        chunks,
        gain_db: filtered_gain_db,
        frames: total,
        non_finite,
    } = filtered;
    let gain_db = profile.output_gain_db(settings);
    let scale = 10f64.powf((gain_db - filtered_gain_db) / 20.0) as f32;
    let mut limiter = TruePeakLimiter::new(
        channels,
        sample_rate,
        settings.ceiling_dbtp,
        settings.limiter_release_ms,
        settings.limiter,
    );
    let latency = fir_latency(sample_rate) + limiter.latency();
    let mut meter = Meter::new(channels, sample_rate, false)?;
    let mut reconstruction = PeakDetector::new(channels, sample_rate, Grade::Reconstruction);
    let (limited_tx, limited_rx) = crossbeam_channel::bounded::<Vec<Vec<f32>>>(PIPELINE_BLOCKS);
    let (metered_tx, metered_rx) = crossbeam_channel::bounded::<Vec<Vec<f32>>>(PIPELINE_BLOCKS);
    let emitted = AtomicU64::new(0);
    let (figures, reconstructed_peak) = std::thread::scope(|scope| -> Result<_, MasterError> {
        let emitted = &emitted;
        let metering = scope.spawn(move || {
            let mut peak = 0.0f32;
            for block in limited_rx {
                peak = reconstruction.scan(&block, peak);
                if metered_tx.send(block).is_err() {
                    break;
                }
            }
            peak.max(reconstruction.flush())
        });
        let writing = scope.spawn(move || -> Result<(), MasterError> {
            for block in metered_rx {
                sink(&block)?;
                emitted.fetch_add(block[0].len() as u64, Ordering::Relaxed);
            }
            Ok(())
        });
        let mut metered = Ok(());
        let mut start = 0;
        for chunk in chunks {
            let mut block = chunk.audio;
            let end = start + block.first().map_or(0, Vec::len);
            for c in &mut block {
                c.iter_mut().for_each(|x| *x *= scale);
            }
            {
                let mut outs: Vec<&mut [f32]> = block.iter_mut().map(Vec::as_mut_slice).collect();
                limiter.process_with_peaks(&mut outs, &chunk.peaks, scale);
            }
            // The output starts `latency` frames in and is as long as the input.
            let from = latency.clamp(start, end) - start;
            let to = (total as usize + latency).clamp(start, end) - start;
            start = end;
            if to <= from {
                continue;
            }
            for c in &mut block {
                c.truncate(to);
                c.drain(..from);
            }
            if let Err(error) = meter.add(&block) {
                metered = Err(error);
                break;
            }
            if limited_tx.send(block).is_err() {
                break;
            }
            progress(
                (emitted.load(Ordering::Relaxed) as f64 / total.max(1) as f64).min(1.0) as f32,
            );
        }
        drop(limited_tx);
        let peak = metering
            .join()
            .map_err(|_| MasterError::Loudness("the peak thread panicked".into()));
        writing
            .join()
            .unwrap_or_else(|_| Err(MasterError::Loudness("the writing thread panicked".into())))?;
        metered?;
        Ok((meter.figures(), peak?))
    })?;
    let mut figures = figures;
    figures.reconstructed_peak_dbfs =
        (reconstructed_peak > 0.0).then(|| 20.0 * f64::from(reconstructed_peak).log10());
    progress(1.0);
    Ok(RenderSummary {
        output: figures,
        frames: emitted.into_inner(),
        sample_rate,
        channels,
        gain_db,
        limiter: limiter.stats(),
        non_finite_input: non_finite,
    })
}

/// A match learned by [`learn_for_render`], ready to render the target it was learned on.
#[derive(Debug)]
pub struct LearnedMatch {
    /// The match.
    pub profile: MatchProfile,
    /// The settings it was learned with, which the render uses.
    settings: MatchSettings,
    /// The target as learning filtered it, when it was kept.
    filtered: Option<Kept>,
}

/// [`learn`](super::learn) for a [`render`] of the same target with the same settings right
/// after, as `mixsmith master` does: learning filters the target once to measure the limiting
/// it takes, and keeps that (up to a few minutes of audio) so the render only scales, limits
/// and meters it.
pub fn learn_for_render(
    target: &mut dyn AudioSource,
    reference: &mut dyn AudioSource,
    settings: &MatchSettings,
    progress: &mut dyn FnMut(f32),
) -> Result<LearnedMatch, MasterError> {
    let (profile, filtered) = learn_keeping(target, reference, settings, true, progress)?;
    Ok(LearnedMatch {
        profile,
        settings: *settings,
        filtered,
    })
}

impl LearnedMatch {
    /// Renders `target`, the source the match was learned on, like [`render`] with the
    /// learning's settings and [`render_chunk_frames`]; from the kept filtered audio when
    /// learning kept it (the output equals [`render`]'s to float rounding). The first render
    /// uses up the kept audio (it is limited in place); a later one reads `target` again.
    pub fn render(
        &mut self,
        target: &mut dyn AudioSource,
        sink: &mut BlockSink<'_>,
        progress: &mut dyn FnMut(f32),
    ) -> Result<RenderSummary, MasterError> {
        let rate = target.sample_rate();
        match self.filtered.take() {
            Some(filtered) => {
                let mut summary = render_filtered(
                    filtered,
                    &self.profile,
                    &self.settings,
                    rate,
                    target.channels(),
                    sink,
                    progress,
                )?;
                summary.non_finite_input += target.non_finite_samples();
                Ok(summary)
            }
            None => {
                target.rewind()?;
                let chunk = render_chunk_frames(rate);
                render(&self.profile, &self.settings, target, chunk, sink, progress)
            }
        }
    }
}
