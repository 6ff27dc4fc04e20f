//! Loudness and peak metering per ITU-R BS.1770-4 / EBU R128 (EBU Tech 3341 and 3342).
//!
//! [`LoudnessMeter`] wraps the `ebur128` crate (K-weighting, momentary and short-term windows,
//! loudness range in histogram mode, sample peak) and gates the integrated loudness itself with
//! exact block energies in a fixed-size table (see `gating.rs`). The true peak comes from the
//! mastering chain's BS.1770 detector, which reads like `ebur128`'s (to 0.001 dB) at a fraction
//! of its cost, because it interpolates only where a block could beat the peak found so far. All
//! memory is allocated at construction and does not grow with the length of the programme, so
//! it can meter a 10-hour file or run for hours inside the plugin on a worker thread.
//! [`LoudnessMeter::add_frames`] does not allocate.

use std::collections::VecDeque;

use ebur128::{Channel, EbuR128, Mode};

use super::gating::{GatedIntegrator, lufs_to_energy};
use crate::master::{Grade, PeakDetector};

/// The most channels `ebur128` accepts.
pub const MAX_CHANNELS: usize = 64;

/// A meter could not be built or fed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MeterError {
    /// The channel count or sample rate is outside what the meter supports.
    #[error(
        "cannot meter {channels} channels at {sample_rate} Hz (supported: 1 to 64 channels, 16 Hz to 2.8 MHz)"
    )]
    Unsupported {
        /// Requested channel count.
        channels: usize,
        /// Requested sample rate in Hz.
        sample_rate: u32,
    },
    /// A block did not match the meter's channel count or its channels differ in length.
    #[error("block mismatch: {0}")]
    Block(String),
}

/// A streaming loudness meter: momentary (400 ms), short-term (3 s), integrated (gated), loudness
/// range (LRA), true peak and sample peak.
///
/// Channels follow the BS.1770 default order: for 1–3 channels L, R, C; for 4 channels
/// L, R, Ls, Rs; for 5 channels L, R, C, Ls, Rs; for 6 or more L, R, C, LFE (not counted),
/// Ls, Rs, and any further channels are counted with weight 1.0 (change it with
/// [`set_channel_map`](Self::set_channel_map)). A mono signal is one channel, so a 1 kHz sine at
/// -23 dBFS reads -26 LUFS in mono and -23 LUFS on both channels of a stereo file.
///
/// Loudness values are in LUFS (LU for the range) and peaks in dBFS / dBTP; silence and
/// programmes too short to measure give `f64::NEG_INFINITY`.
pub struct LoudnessMeter {
    ebu: EbuR128,
    channels: usize,
    sample_rate: u32,
    frames: u64,
    /// Frames per 100 ms step, as `ebur128` counts them.
    step: u64,
    /// Frame count at which the next 400 ms gating block completes.
    next_gate: u64,
    gate: GatedIntegrator,
    history: Option<History>,
    /// The BS.1770 true-peak detector over all channels.
    true_peak_detector: PeakDetector,
    /// The highest true peak found so far, linear.
    true_peak: f32,
}

impl std::fmt::Debug for LoudnessMeter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoudnessMeter")
            .field("channels", &self.channels)
            .field("sample_rate", &self.sample_rate)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

/// Short-term loudness sampled at a fixed period into a bounded ring.
struct History {
    period: u64,
    since: u64,
    values: VecDeque<f32>,
    capacity: usize,
}

impl LoudnessMeter {
    /// A meter for `channels` channels at `sample_rate` Hz. All memory is allocated here.
    pub fn new(channels: usize, sample_rate: u32) -> Result<Self, MeterError> {
        let unsupported = MeterError::Unsupported {
            channels,
            sample_rate,
        };
        if channels == 0 || channels > MAX_CHANNELS {
            return Err(unsupported);
        }
        let mode = Mode::LRA | Mode::SAMPLE_PEAK | Mode::HISTOGRAM;
        let mut ebu = EbuR128::new(channels as u32, sample_rate, mode).map_err(|_| unsupported)?;
        if channels > 6 {
            for ch in 6..channels {
                ebu.set_channel(ch as u32, Channel::Left)
                    .expect("channel index is in range");
            }
        }
        let step = (u64::from(sample_rate) + 5) / 10;
        Ok(Self {
            ebu,
            channels,
            sample_rate,
            frames: 0,
            step,
            next_gate: 4 * step,
            gate: GatedIntegrator::new(),
            history: None,
            true_peak_detector: PeakDetector::new(channels, sample_rate, Grade::Bs1770),
            true_peak: 0.0,
        })
    }

    /// Sets the position of every channel (its BS.1770 weighting); `map.len()` must equal the
    /// channel count. Use [`Channel::Unused`] for channels that must not count (e.g. LFE).
    pub fn set_channel_map(&mut self, map: &[Channel]) -> Result<(), MeterError> {
        if map.len() != self.channels {
            return Err(MeterError::Block(format!(
                "channel map has {} entries for {} channels",
                map.len(),
                self.channels
            )));
        }
        self.ebu
            .set_channel_map(map)
            .map_err(|e| MeterError::Block(e.to_string()))
    }

    /// Also records the short-term loudness every `period_s` seconds into a ring of at most
    /// `capacity` values (the oldest are dropped), for plotting. Allocates the ring now; feeding
    /// stays allocation-free. Clears any earlier history.
    pub fn enable_history(&mut self, period_s: f64, capacity: usize) {
        let period = (period_s * f64::from(self.sample_rate)).round().max(1.0) as u64;
        self.history = Some(History {
            period,
            since: 0,
            values: VecDeque::with_capacity(capacity.max(1)),
            capacity: capacity.max(1),
        });
    }

    /// The recorded short-term values in LUFS, oldest first (empty unless
    /// [`enable_history`](Self::enable_history) was called). Silence is `-inf`.
    pub fn history(&self) -> impl Iterator<Item = f32> + '_ {
        self.history.iter().flat_map(|h| h.values.iter().copied())
    }

    /// The channel count.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The sample rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Frames fed since construction or the last [`reset`](Self::reset).
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Feeds one planar block (one slice per channel, equal lengths). Does not allocate.
    pub fn add_frames<S: AsRef<[f32]>>(&mut self, block: &[S]) -> Result<(), MeterError> {
        if block.len() != self.channels {
            return Err(MeterError::Block(format!(
                "got {} channels, the meter has {}",
                block.len(),
                self.channels
            )));
        }
        let mut planes: [&[f32]; MAX_CHANNELS] = [&[]; MAX_CHANNELS];
        for (p, c) in planes.iter_mut().zip(block) {
            *p = c.as_ref();
        }
        let planes = &planes[..self.channels];
        let frames = planes[0].len();
        if planes.iter().any(|p| p.len() != frames) {
            return Err(MeterError::Block("channels differ in length".into()));
        }
        self.true_peak = self.true_peak_detector.scan(planes, self.true_peak);
        let mut pos = 0;
        while pos < frames {
            // Stop at every 100 ms gating step and at every history point.
            let mut n = ((self.next_gate - self.frames) as usize).min(frames - pos);
            if let Some(h) = &self.history {
                n = n.min((h.period - h.since) as usize);
            }
            let mut part: [&[f32]; MAX_CHANNELS] = [&[]; MAX_CHANNELS];
            for (d, p) in part.iter_mut().zip(planes) {
                *d = &p[pos..pos + n];
            }
            self.ebu
                .add_frames_planar_f32(&part[..self.channels])
                .map_err(|e| MeterError::Block(e.to_string()))?;
            self.frames += n as u64;
            pos += n;
            if self.frames == self.next_gate {
                // The momentary window is exactly the 400 ms block that just completed.
                self.gate.add(lufs_to_energy(self.momentary()));
                self.next_gate += self.step;
            }
            if let Some(h) = &mut self.history {
                h.since += n as u64;
                if h.since == h.period {
                    h.since = 0;
                    if h.values.len() == h.capacity {
                        h.values.pop_front();
                    }
                    let st = self
                        .ebu
                        .loudness_shortterm()
                        .expect("the meter is built with short-term mode");
                    h.values.push_back(st as f32);
                }
            }
        }
        Ok(())
    }

    /// Forgets everything fed so far (keeps the channel map and the history settings).
    pub fn reset(&mut self) {
        self.ebu.reset();
        self.gate.reset();
        self.true_peak_detector.reset();
        self.true_peak = 0.0;
        self.frames = 0;
        self.next_gate = 4 * self.step;
        if let Some(h) = &mut self.history {
            h.values.clear();
            h.since = 0;
        }
    }

    /// Momentary loudness (the last 400 ms) in LUFS.
    pub fn momentary(&self) -> f64 {
        self.ebu
            .loudness_momentary()
            .expect("the meter is built with momentary mode")
    }

    /// Short-term loudness (the last 3 s) in LUFS.
    pub fn short_term(&self) -> f64 {
        self.ebu
            .loudness_shortterm()
            .expect("the meter is built with short-term mode")
    }

    /// Integrated (gated) loudness of everything fed, in LUFS; `-inf` when no 400 ms block
    /// passes the -70 LUFS gate (silence, or less than 400 ms of audio).
    pub fn integrated(&self) -> f64 {
        self.gate.integrated()
    }

    /// Loudness range (EBU Tech 3342) in LU; 0 when the programme is too short to measure.
    pub fn loudness_range(&self) -> f64 {
        self.ebu
            .loudness_range()
            .expect("the meter is built with LRA mode")
    }

    /// The highest sample value over all channels, linear (1.0 = full scale).
    pub fn sample_peak(&self) -> f64 {
        (0..self.channels as u32)
            .map(|c| self.ebu.sample_peak(c).expect("channel index is in range"))
            .fold(0.0, f64::max)
    }

    /// The highest inter-sample (4x oversampled below 96 kHz, 2x above) peak over all
    /// channels, linear; never below the sample peak. The last few samples fed are read as
    /// samples only until more follow (the interpolator's delay).
    pub fn true_peak(&self) -> f64 {
        f64::from(self.true_peak).max(self.sample_peak())
    }

    /// [`sample_peak`](Self::sample_peak) in dBFS (`-inf` for silence).
    pub fn sample_peak_dbfs(&self) -> f64 {
        20.0 * self.sample_peak().log10()
    }

    /// [`true_peak`](Self::true_peak) in dBTP (`-inf` for silence).
    pub fn true_peak_dbtp(&self) -> f64 {
        20.0 * self.true_peak().log10()
    }
}
