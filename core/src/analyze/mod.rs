//! Analysis of audio: loudness and peaks (BS.1770-4 / EBU R128), tempo, beats and key.
//!
//! [`LoudnessMeter`] is the streaming meter shared by the CLI and the plugin;
//! [`MusicalAnalyzer`] finds the tempo, beats and key of a stream. [`analyze_file`] runs both
//! over a file in one pass of the streaming [`AudioReader`] and returns an [`AnalysisReport`],
//! whose JSON form is what `mixsmith analyze --json` prints.

mod frontend;
pub(crate) mod gating;
mod key;
mod live;
mod loudness;
mod musical;
mod onset;
mod tempo;

#[cfg(test)]
mod musical_tests;
#[cfg(test)]
pub(crate) mod synth;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::audio::{AudioError, AudioReader};
use crate::master::{Grade, PeakDetector};

pub use ebur128::Channel;
pub use key::{Key, Mode};
pub use live::{LiveLoudness, LoudnessSnapshot, MeteredProcessor};
pub use loudness::{LoudnessMeter, MAX_CHANNELS, MeterError};
pub use musical::{MusicalAnalyzer, MusicalReport};

/// Loudness and peaks of a stream.
///
/// Serialised as JSON with exactly these field names. Quantities that are undefined (the
/// loudness of silence or of less than 400 ms of audio, the peak of silence, all `-inf` dB) are
/// `null` in JSON and `None` here, so the output is always valid JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoudnessReport {
    /// Integrated loudness in LUFS.
    pub lufs: Option<f64>,
    /// Loudness range in LU (EBU Tech 3342); 0 for programmes too short to measure.
    pub lra: Option<f64>,
    /// Highest inter-sample peak over all channels, in dBTP, as ITU-R BS.1770 measures it (4x
    /// interpolation; the reading of `ebur128` and of most true-peak meters).
    pub true_peak_dbtp: Option<f64>,
    /// Highest peak of the band-limited reconstruction over all channels, in dBFS: the
    /// waveform a DAC or a lossy decoder produces (16x interpolation by a long filter). Densely
    /// limited audio can read up to about 1 dB above `true_peak_dbtp` here. Only measured by
    /// [`analyze_file`] (the live meter leaves it `None`).
    pub reconstructed_peak_dbfs: Option<f64>,
    /// Highest sample peak over all channels, in dBFS.
    pub sample_peak_dbfs: Option<f64>,
}

/// What was read: the stream's format and length, and what could not be used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamReport {
    /// Duration in seconds (decoded frames / sample rate).
    pub duration_s: f64,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: usize,
    /// NaN or infinite samples in the file, replaced by 0 before analysis. Only present in JSON
    /// when above 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub non_finite_samples: u64,
    /// Damaged stretches that could not be decoded and were skipped (see
    /// [`AudioReader::skipped_packets`]). Only present in JSON when above 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub skipped_packets: u64,
}

/// Everything [`analyze_file`] measures. In JSON the parts' fields sit side by side in one
/// object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnalysisReport {
    /// Loudness and peaks; `None` (and absent from JSON) when only tempo and key were asked
    /// for ([`AnalyzeOptions::tempo_key_only`]).
    #[serde(flatten)]
    pub loudness: Option<LoudnessReport>,
    /// The stream's format and length.
    #[serde(flatten)]
    pub stream: StreamReport,
    /// Tempo, beats and key.
    #[serde(flatten)]
    pub musical: MusicalReport,
}

/// What [`analyze_file`] measures beyond or instead of its defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnalyzeOptions {
    /// Also report the beat times.
    pub beats: bool,
    /// Measure only tempo and key, not loudness and peaks (several times faster: for tagging
    /// a library of loops and samples).
    pub tempo_key_only: bool,
    /// Decode and analyse on the calling thread alone. By default a second thread takes part
    /// of the work; a caller that already runs several files side by side (one per core) saves
    /// the hand-offs between the two.
    pub single_thread: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A finite dB value, or `None` for `-inf` / NaN.
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

impl LoudnessReport {
    /// Reads the current state of a meter.
    pub fn from_meter(meter: &LoudnessMeter) -> Self {
        Self {
            lufs: finite(meter.integrated()),
            lra: finite(meter.loudness_range()),
            true_peak_dbtp: finite(meter.true_peak_dbtp()),
            reconstructed_peak_dbfs: None,
            sample_peak_dbfs: finite(meter.sample_peak_dbfs()),
        }
    }
}

/// How far [`analyze_file`] has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Frames analysed so far.
    pub frames_done: u64,
    /// Frames the file announces, when known.
    pub total_frames: Option<u64>,
    /// The file's sample rate in Hz.
    pub sample_rate: u32,
}

/// Why a file could not be analysed.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// The file could not be decoded.
    #[error(transparent)]
    Audio(#[from] AudioError),
    /// The file decodes but holds no audio frames, so its loudness is undefined.
    #[error("{}: no audio frames (duration 0): loudness is undefined", path.display())]
    NoAudio {
        /// The file.
        path: PathBuf,
    },
    /// The meter does not support the file's channel count or sample rate.
    #[error("{}: {source}", path.display())]
    Meter {
        /// The file.
        path: PathBuf,
        /// What the meter rejected.
        #[source]
        source: MeterError,
    },
}

/// Blocks in flight between the two threads of [`analyze_file`].
const PIPELINE_BLOCKS: usize = 4;

/// What [`analyze_file`] runs on the blocks after decoding (and, for tempo and key alone,
/// decimating) them: the reconstructed peak and the musical analysis.
struct Follower {
    musical: MusicalAnalyzer,
    /// The reconstruction's detector, when loudness and peaks are measured.
    reconstruction: Option<PeakDetector>,
    /// The largest reconstructed peak so far.
    peak: f32,
    /// Whether blocks arrive mixed down and decimated (one channel at the analysis rate).
    decimated: bool,
}

impl Follower {
    fn take<S: AsRef<[f32]>>(&mut self, block: &[S]) {
        if let Some(reconstruction) = &mut self.reconstruction {
            self.peak = reconstruction.scan(block, self.peak);
        }
        if self.decimated {
            self.musical.add_decimated(block[0].as_ref());
        } else {
            self.musical.add_frames(block);
        }
    }

    /// The reconstructed peak (when measured) and the analysis.
    fn finish(self) -> (Option<f32>, MusicalAnalyzer) {
        let peak = self.reconstruction.map(|mut r| self.peak.max(r.flush()));
        (peak, self.musical)
    }
}

/// Measures a file's loudness, peaks, tempo and key (or, with
/// [`AnalyzeOptions::tempo_key_only`], its tempo and key alone) in one streaming pass. Memory
/// grows with the file's length only by the onset envelope (4 bytes per 11.6 ms) and the beat
/// tracker's arrays over it at the end: about 8 MiB more for an hour than for 3 minutes.
/// `progress` is called after every decoded block.
pub fn analyze_file(
    path: impl AsRef<Path>,
    options: &AnalyzeOptions,
    mut progress: impl FnMut(Progress),
) -> Result<AnalysisReport, AnalyzeError> {
    let path = path.as_ref();
    let mut reader = AudioReader::open(path)?;
    let spec = reader.spec().clone();
    let meter_error = |source| AnalyzeError::Meter {
        path: path.into(),
        source,
    };
    let mut meter = if options.tempo_key_only {
        None
    } else {
        Some(LoudnessMeter::new(spec.channels, spec.sample_rate).map_err(meter_error)?)
    };
    let channels = spec.channels;
    let mut frames = 0u64;
    let musical = MusicalAnalyzer::new(spec.sample_rate);
    let mut decimator = options.tempo_key_only.then(|| musical.decimator());
    let mut follower = Follower {
        musical,
        reconstruction: meter
            .is_some()
            .then(|| PeakDetector::new(channels, spec.sample_rate, Grade::Reconstruction)),
        peak: 0.0,
        decimated: decimator.is_some(),
    };
    // Decodes, meters and hands each block on (`hand_off` returns false to stop early).
    let mut read_blocks =
        |hand_off: &mut dyn FnMut(&[Vec<f32>]) -> bool| -> Result<(), AnalyzeError> {
            while let Some(block) = reader.next_block()? {
                frames += block.first().map_or(0, |c| c.len()) as u64;
                if let Some(meter) = &mut meter {
                    meter.add_frames(block).map_err(meter_error)?;
                }
                if !hand_off(block) {
                    break;
                }
                progress(Progress {
                    frames_done: frames,
                    total_frames: spec.total_frames,
                    sample_rate: spec.sample_rate,
                });
            }
            Ok(())
        };
    let (read, followed) = if options.single_thread {
        let mut mono = vec![Vec::new()];
        let read = read_blocks(&mut |block| {
            match &mut decimator {
                Some(decimator) => {
                    mono[0].clear();
                    decimator.process(block, &mut mono[0]);
                    follower.take(&mono);
                }
                None => follower.take(block),
            }
            true
        });
        (read, follower.finish())
    } else {
        // Two threads: this one decodes and meters the loudness and the BS.1770 peak, a second
        // follows the reconstructed peak, the tempo and the key on copies of the blocks
        // (recycled through `free`, so memory stays constant). For tempo and key alone, this
        // thread decodes and decimates and the second one analyses the decimated mono mix.
        let (full_tx, full_rx) = crossbeam_channel::bounded::<Vec<Vec<f32>>>(PIPELINE_BLOCKS);
        let (free_tx, free_rx) = crossbeam_channel::bounded::<Vec<Vec<f32>>>(PIPELINE_BLOCKS);
        let block_channels = if decimator.is_some() { 1 } else { channels };
        for _ in 0..PIPELINE_BLOCKS {
            let _ = free_tx.send(vec![Vec::new(); block_channels]);
        }
        let (read, followed) = std::thread::scope(|scope| {
            let follower = scope.spawn(move || {
                for block in full_rx {
                    follower.take(&block);
                    let _ = free_tx.send(block);
                }
                follower.finish()
            });
            let read = read_blocks(&mut |block| {
                let Ok(mut copy) = free_rx.recv() else {
                    return false;
                };
                if let Some(decimator) = &mut decimator {
                    copy[0].clear();
                    decimator.process(block, &mut copy[0]);
                } else {
                    for (to, from) in copy.iter_mut().zip(block) {
                        to.clear();
                        to.extend_from_slice(from);
                    }
                }
                full_tx.send(copy).is_ok()
            });
            drop(full_tx);
            (read, follower.join())
        });
        (
            read,
            followed.unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
        )
    };
    read?;
    let (reconstructed_peak, musical) = followed;
    if frames == 0 {
        return Err(AnalyzeError::NoAudio { path: path.into() });
    }
    let loudness = meter.map(|meter| LoudnessReport {
        reconstructed_peak_dbfs: reconstructed_peak
            .and_then(|peak| finite(20.0 * f64::from(peak).log10())),
        ..LoudnessReport::from_meter(&meter)
    });
    Ok(AnalysisReport {
        loudness,
        stream: StreamReport {
            duration_s: frames as f64 / f64::from(spec.sample_rate),
            sample_rate: spec.sample_rate,
            channels,
            non_finite_samples: reader.non_finite_samples(),
            skipped_packets: reader.skipped_packets(),
        },
        musical: musical.finish(options.beats),
    })
}
