//! Loudness and true-peak figures: BS.1770 integrated loudness by `ebur128` (the K-weighting
//! and gating `mixsmith analyze` uses) and true peak by the limiter's own detector, which is
//! several times cheaper than a general meter with loudness range and peak histories.

use ebur128::{EbuR128, Mode};
use serde::{Deserialize, Serialize};

use super::MasterError;
use super::peak::PeakDetector;

/// Loudness figures of one signal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LoudnessFigures {
    /// Integrated (programme) loudness in LUFS; `None` when the signal is silent (below the
    /// -70 LUFS gate) or shorter than 400 ms.
    pub integrated_lufs: Option<f64>,
    /// Highest true peak over all channels in dBTP; `None` for silence.
    pub true_peak_dbtp: Option<f64>,
}

/// A streaming meter of integrated loudness and true peak.
pub(crate) struct Meter {
    loudness: EbuR128,
    /// `None` when only loudness is measured (the learning passes): true peak is the costlier
    /// half of the meter.
    peaks: Option<PeakDetector>,
    peak: f32,
    channels: usize,
}

impl Meter {
    /// A meter for `channels` (1 or 2) at `sample_rate`.
    pub(crate) fn new(channels: usize, sample_rate: u32) -> Result<Self, MasterError> {
        Self::build(channels, sample_rate, true)
    }

    /// A meter of integrated loudness only: its figures have no true peak.
    pub(crate) fn loudness_only(channels: usize, sample_rate: u32) -> Result<Self, MasterError> {
        Self::build(channels, sample_rate, false)
    }

    fn build(channels: usize, sample_rate: u32, true_peak: bool) -> Result<Self, MasterError> {
        let loudness = EbuR128::new(channels as u32, sample_rate, Mode::I).map_err(|e| {
            MasterError::Loudness(format!("{channels} channels at {sample_rate} Hz: {e}"))
        })?;
        Ok(Self {
            loudness,
            peaks: true_peak.then(|| PeakDetector::new(channels, sample_rate)),
            peak: 0.0,
            channels,
        })
    }

    /// Adds a planar block (one slice per channel, equal lengths).
    pub(crate) fn add<S: AsRef<[f32]>>(&mut self, block: &[S]) -> Result<(), MasterError> {
        let mut planes: [&[f32]; 2] = [&[], &[]];
        for (p, c) in planes.iter_mut().zip(block) {
            *p = c.as_ref();
        }
        if block.len() != self.channels || planes[0].is_empty() {
            return Ok(());
        }
        self.loudness
            .add_frames_planar_f32(&planes[..self.channels])
            .map_err(|e| MasterError::Loudness(e.to_string()))?;
        if let Some(peaks) = &mut self.peaks {
            self.peak = peaks.scan(&planes[..self.channels], self.peak);
        }
        Ok(())
    }

    /// The figures of everything added.
    pub(crate) fn figures(&mut self) -> LoudnessFigures {
        if let Some(peaks) = &mut self.peaks {
            self.peak = self.peak.max(peaks.flush());
        }
        let integrated = self
            .loudness
            .loudness_global()
            .ok()
            .filter(|l| l.is_finite() && *l > -70.0);
        LoudnessFigures {
            integrated_lufs: integrated,
            true_peak_dbtp: (self.peak > 0.0).then(|| 20.0 * f64::from(self.peak).log10()),
        }
    }
}
