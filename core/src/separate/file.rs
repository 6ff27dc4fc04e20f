//! Separating a whole file into WAV stems, streaming in constant memory.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use super::{DspSeparator, PackSeparator, STEMS, SeparateError, Separator, Stem, StemLayout};
use crate::audio::{AudioReader, AudioSpec, SampleFormat, WavWriter};

/// Frames of silence fed per step after the input's end, to flush the latency out.
const FLUSH_FRAMES: usize = 4096;

/// One file a separation wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StemFile {
    /// `"vocals"`, …, or `"no_vocals"` for a complement.
    pub name: String,
    /// Where it was written.
    pub path: PathBuf,
}

/// What [`separate_file`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeparateSummary {
    /// The files written, in layout order.
    pub files: Vec<StemFile>,
    /// Frames per file (the input's).
    pub frames: u64,
    /// The input's (and outputs') sample rate.
    pub sample_rate: u32,
    /// The input's (and outputs') channel count.
    pub channels: usize,
    /// NaN or infinite input samples, read as 0.
    pub non_finite_samples: u64,
}

/// Separates `input` with the DSP separator into `out_dir/<name>.wav` per output of `layout`
/// (at the input's rate and channel count), each exactly as long as the input and aligned with
/// it. Files are written under temporary names and moved into place only when all are complete,
/// so an error or a cancellation (`cancel` set) leaves no half-written file under a final name.
/// `progress` gets the frames read, the total the file announces and its sample rate.
pub fn separate_file(
    input: &Path,
    out_dir: &Path,
    layout: StemLayout,
    format: SampleFormat,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(u64, Option<u64>, u32),
) -> Result<SeparateSummary, SeparateError> {
    let mut reader = AudioReader::open(input)?;
    let spec = reader.spec().clone();
    let mut separator = DspSeparator::new(spec.sample_rate, spec.channels)?;
    let mut summary = write_outputs(out_dir, layout, &spec, format, |writers| {
        let mut stems: [Vec<Vec<f32>>; STEMS] =
            std::array::from_fn(|_| vec![Vec::new(); spec.channels]);
        let mut outputs = Outputs::new(layout, spec.channels);
        let latency = separator.latency() as u64;
        // Input frames fed, and output frames passed on (from `latency` on).
        let (mut fed, mut read) = (0u64, 0u64);
        let mut pass_on = |stems: &[Vec<Vec<f32>>; STEMS],
                           fed_before: u64,
                           writers: &mut [WavWriter],
                           limit: u64|
         -> Result<(), SeparateError> {
            let n = stems[0][0].len() as u64;
            // This block's outputs stand for input frames `fed_before - latency ..`.
            let from = latency.saturating_sub(fed_before).min(n);
            let to = limit
                .saturating_add(latency)
                .saturating_sub(fed_before)
                .min(n);
            if to > from {
                outputs.fill(stems, from as usize..to as usize);
                for (writer, output) in writers.iter_mut().zip(&outputs.planes) {
                    writer.write_planar(output)?;
                }
            }
            Ok(())
        };
        while let Some(block) = reader.next_block()? {
            if cancel.load(Ordering::Relaxed) {
                return Err(SeparateError::Cancelled);
            }
            let planes: Vec<&[f32]> = block.iter().map(Vec::as_slice).collect();
            let n = planes.first().map_or(0, |p| p.len()) as u64;
            separator.process(&planes, &mut stems);
            read += n;
            pass_on(&stems, fed, writers, u64::MAX)?;
            fed += n;
            progress(read, spec.total_frames, spec.sample_rate);
        }
        if read == 0 {
            return Err(SeparateError::Empty(input.display().to_string()));
        }
        let zeros = vec![vec![0.0f32; FLUSH_FRAMES]; spec.channels];
        while fed < read + latency {
            if cancel.load(Ordering::Relaxed) {
                return Err(SeparateError::Cancelled);
            }
            let n = (read + latency - fed).min(FLUSH_FRAMES as u64) as usize;
            let planes: Vec<&[f32]> = zeros.iter().map(|z| &z[..n]).collect();
            separator.process(&planes, &mut stems);
            pass_on(&stems, fed, writers, read)?;
            fed += n as u64;
        }
        Ok(read)
    })?;
    summary.non_finite_samples = reader.non_finite_samples();
    Ok(summary)
}

/// Like [`separate_file`], with model packs: separates the file with `packs` (see
/// [`PackSeparator`]) in sections of [`PACK_SECTION_SECONDS`](super::PACK_SECTION_SECONDS)
/// (see [`PackSeparator::separate_stream`]), so memory stays about the same for a file of any
/// length, and writes the outputs of `layout` the same safe way. `progress` gets the frames
/// done, the file's total when known and its sample rate.
pub fn separate_file_with(
    input: &Path,
    out_dir: &Path,
    layout: StemLayout,
    format: SampleFormat,
    packs: &PackSeparator,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(u64, Option<u64>, u32),
) -> Result<SeparateSummary, SeparateError> {
    let mut reader = AudioReader::open(input)?;
    let spec = reader.spec().clone();
    let mut summary = write_outputs(out_dir, layout, &spec, format, |writers| {
        let mut outputs = Outputs::new(layout, spec.channels);
        let frames = packs.separate_stream(
            &mut reader,
            spec.sample_rate,
            spec.channels,
            layout,
            &mut |stems, count| {
                const BLOCK: usize = 1 << 16;
                for start in (0..count).step_by(BLOCK) {
                    outputs.fill(stems, start..(start + BLOCK).min(count));
                    for (writer, output) in writers.iter_mut().zip(&outputs.planes) {
                        writer.write_planar(output)?;
                    }
                }
                Ok(())
            },
            &mut |done| progress(done, spec.total_frames, spec.sample_rate),
            cancel,
        )?;
        if frames == 0 {
            return Err(SeparateError::Empty(input.display().to_string()));
        }
        Ok(frames)
    })?;
    summary.non_finite_samples = reader.non_finite_samples();
    Ok(summary)
}

/// Writes four stems held in memory (per stem in [`Stem::ALL`](super::Stem::ALL) order, per
/// channel, equal lengths) as `out_dir/vocals.wav`, ... at `sample_rate`, nothing under a final
/// name until all are complete.
pub fn write_stems(
    out_dir: &Path,
    stems: &[Vec<Vec<f32>>; STEMS],
    sample_rate: u32,
    format: SampleFormat,
) -> Result<SeparateSummary, SeparateError> {
    let channels = stems[0].len();
    let frames = stems[0].first().map_or(0, Vec::len);
    let spec = AudioSpec {
        sample_rate,
        channels,
        total_frames: Some(frames as u64),
        codec: "pcm".to_owned(),
    };
    write_outputs(out_dir, StemLayout::Four, &spec, format, |writers| {
        for (writer, stem) in writers.iter_mut().zip(stems) {
            writer.write_planar(stem)?;
        }
        Ok(frames as u64)
    })
}

/// Writes the outputs of `layout` into `out_dir` through `write` (given one writer per output,
/// it returns the frames written) under temporary names, and moves them into place only when
/// all are complete; on an error every temporary file is removed. The summary counts no
/// non-finite samples: the caller knows them.
fn write_outputs(
    out_dir: &Path,
    layout: StemLayout,
    spec: &AudioSpec,
    format: SampleFormat,
    write: impl FnOnce(&mut [WavWriter]) -> Result<u64, SeparateError>,
) -> Result<SeparateSummary, SeparateError> {
    std::fs::create_dir_all(out_dir).map_err(|source| SeparateError::Io {
        path: out_dir.display().to_string(),
        source,
    })?;
    let names = layout.names();
    let finals: Vec<PathBuf> = names
        .iter()
        .map(|name| out_dir.join(format!("{name}.wav")))
        .collect();
    let partials: Vec<PathBuf> = finals.iter().map(|p| partial_path(p)).collect();
    let written = (|| -> Result<u64, SeparateError> {
        let mut writers = partials
            .iter()
            .map(|p| WavWriter::create(p, spec.sample_rate, spec.channels, format))
            .collect::<Result<Vec<_>, _>>()?;
        let frames = write(&mut writers)?;
        for writer in writers {
            writer.finalize()?;
        }
        Ok(frames)
    })();
    let frames = match written {
        Ok(frames) => frames,
        Err(error) => {
            for partial in &partials {
                let _ = std::fs::remove_file(partial);
            }
            return Err(error);
        }
    };
    for (partial, path) in partials.iter().zip(&finals) {
        std::fs::rename(partial, path).map_err(|source| SeparateError::Io {
            path: path.display().to_string(),
            source,
        })?;
    }
    Ok(SeparateSummary {
        files: names
            .into_iter()
            .zip(finals)
            .map(|(name, path)| StemFile { name, path })
            .collect(),
        frames,
        sample_rate: spec.sample_rate,
        channels: spec.channels,
        non_finite_samples: 0,
    })
}

/// A temporary path next to `path`, renamed into place once every file is complete.
fn partial_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "stem".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.mixsmith-partial"))
}

/// The blocks written per output of a layout, built from a separator's four stems.
struct Outputs {
    layout: StemLayout,
    /// Per output, per channel.
    planes: Vec<Vec<Vec<f32>>>,
}

impl Outputs {
    fn new(layout: StemLayout, channels: usize) -> Self {
        let count = layout.names().len();
        Self {
            layout,
            planes: vec![vec![Vec::new(); channels]; count],
        }
    }

    /// Fills every output with frames `range` of the stems.
    fn fill(&mut self, stems: &[Vec<Vec<f32>>; STEMS], range: std::ops::Range<usize>) {
        match self.layout {
            StemLayout::Four => {
                for (output, stem) in self.planes.iter_mut().zip(stems) {
                    for (out, channel) in output.iter_mut().zip(stem) {
                        out.clear();
                        out.extend_from_slice(&channel[range.clone()]);
                    }
                }
            }
            StemLayout::Two(kept) => {
                let (first, rest) = self.planes.split_at_mut(1);
                for (channel, (out, complement)) in
                    first[0].iter_mut().zip(&mut rest[0]).enumerate()
                {
                    out.clear();
                    out.extend_from_slice(&stems[kept.index()][channel][range.clone()]);
                    complement.clear();
                    complement.resize(range.len(), 0.0);
                    for stem in Stem::ALL.into_iter().filter(|s| *s != kept) {
                        let part = &stems[stem.index()][channel][range.clone()];
                        for (c, x) in complement.iter_mut().zip(part) {
                            *c += x;
                        }
                    }
                }
            }
        }
    }
}
