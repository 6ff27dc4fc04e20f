//! Running a [`Mastering`] over a whole stream: what the CLI does, and what the plugin's
//! offline render reproduces chunk for chunk.

use super::loudness::{LoudnessFigures, Meter};
use super::{AudioSource, LimiterStats, MasterError, Mastering, MatchProfile, MatchSettings};
use crate::realtime::StreamProcessor;

/// Where rendered blocks go: one `Vec` per channel, all the same length. Called on a helper
/// thread (beside the meter) while the calling thread decodes and processes the next blocks.
pub type BlockSink<'a> = dyn FnMut(&[Vec<f32>]) -> Result<(), MasterError> + Send + 'a;

/// Blocks in flight between the render and its meter thread.
const PIPELINE_BLOCKS: usize = 4;

/// Chunk size the CLI renders with. Any chunk size gives the same output to float rounding.
pub const RENDER_CHUNK_FRAMES: usize = 4096;

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
    let gain = profile.output_gain_db(settings);
    render_with_gain(
        profile,
        settings,
        source,
        gain,
        chunk_frames,
        Some(sink),
        progress,
    )
}

/// [`render`] with an explicit loudness gain. Without a `sink` it only measures: the summary's
/// output then has an integrated loudness but no true peak.
#[allow(clippy::too_many_arguments)]
pub(crate) fn render_with_gain(
    profile: &MatchProfile,
    settings: &MatchSettings,
    source: &mut dyn AudioSource,
    gain_db: f64,
    chunk_frames: usize,
    sink: Option<&mut BlockSink<'_>>,
    progress: &mut dyn FnMut(f32),
) -> Result<RenderSummary, MasterError> {
    let channels = source.channels();
    let rate = source.sample_rate();
    let mut processor =
        Mastering::with_gain(profile, settings, rate, channels, chunk_frames, gain_db)?;
    // Without a sink this is a measuring pass, whose callers read the loudness only.
    let mut meter = if sink.is_some() {
        Meter::new(channels, rate)?
    } else {
        Meter::loudness_only(channels, rate)?
    };
    let total = source.total_frames();
    let mut input: Vec<Vec<f32>> = (0..channels)
        .map(|_| Vec::with_capacity(chunk_frames))
        .collect();
    let mut output = vec![vec![0.0f32; chunk_frames]; channels];
    let mut skip = processor.latency_frames();
    let (mut read, mut emitted) = (0u64, 0u64);
    let mut input_done = false;
    // The meter and the sink run on a second thread, fed with recycled blocks, while this one
    // decodes and processes.
    let (full_tx, full_rx) = crossbeam_channel::bounded::<Vec<Vec<f32>>>(PIPELINE_BLOCKS);
    let (free_tx, free_rx) = crossbeam_channel::bounded::<Vec<Vec<f32>>>(PIPELINE_BLOCKS);
    for _ in 0..PIPELINE_BLOCKS {
        let block = (0..channels)
            .map(|_| Vec::with_capacity(chunk_frames))
            .collect();
        let _ = free_tx.send(block);
    }
    let figures = std::thread::scope(|scope| -> Result<_, MasterError> {
        let metering = scope.spawn(move || -> Result<_, MasterError> {
            let mut sink = sink;
            for block in full_rx {
                meter.add(&block)?;
                if let Some(sink) = sink.as_mut() {
                    sink(&block)?;
                }
                // The producer may have stopped after an error; nothing to recycle then.
                let _ = free_tx.send(block);
            }
            Ok(meter.figures())
        });
        let produced = (|| -> Result<(), MasterError> {
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
                {
                    let ins: Vec<&[f32]> = input.iter().map(Vec::as_slice).collect();
                    let mut outs: Vec<&mut [f32]> =
                        output.iter_mut().map(Vec::as_mut_slice).collect();
                    processor.process_chunk(&ins, &mut outs);
                }
                let start = skip.min(chunk_frames);
                skip -= start;
                let count = ((chunk_frames - start) as u64).min(read - emitted) as usize;
                if count > 0 {
                    let Ok(mut emit) = free_rx.recv() else {
                        // The meter stopped: its error is reported below.
                        return Ok(());
                    };
                    for (e, o) in emit.iter_mut().zip(&output) {
                        e.clear();
                        e.extend_from_slice(&o[start..start + count]);
                    }
                    if full_tx.send(emit).is_err() {
                        return Ok(());
                    }
                    emitted += count as u64;
                }
                if let Some(total) = total {
                    progress((emitted as f64 / total.max(1) as f64).min(1.0) as f32);
                }
                if input_done && emitted >= read {
                    return Ok(());
                }
            }
        })();
        drop(full_tx);
        let figures = metering
            .join()
            .unwrap_or_else(|_| Err(MasterError::Loudness("the meter thread panicked".into())));
        produced?;
        figures
    })?;
    progress(1.0);
    Ok(RenderSummary {
        output: figures,
        frames: emitted,
        sample_rate: rate,
        channels,
        gain_db: processor.gain_db(),
        limiter: processor.limiter_stats(),
        non_finite_input: source.non_finite_samples() + processor.non_finite_samples(),
    })
}
