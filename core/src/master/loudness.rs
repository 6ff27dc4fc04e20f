//! Loudness and true-peak figures, measured with the shared [`LoudnessMeter`] so a report
//! agrees with `mixsmith analyze`.

use serde::{Deserialize, Serialize};

use super::MasterError;
use crate::analyze::LoudnessMeter;

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
    inner: LoudnessMeter,
}

impl Meter {
    /// A meter for `channels` at `sample_rate`.
    pub(crate) fn new(channels: usize, sample_rate: u32) -> Result<Self, MasterError> {
        let inner = LoudnessMeter::new(channels, sample_rate)
            .map_err(|e| MasterError::Loudness(e.to_string()))?;
        Ok(Self { inner })
    }

    /// Adds a planar block.
    pub(crate) fn add<S: AsRef<[f32]>>(&mut self, block: &[S]) -> Result<(), MasterError> {
        self.inner
            .add_frames(block)
            .map_err(|e| MasterError::Loudness(e.to_string()))
    }

    /// The figures so far.
    pub(crate) fn figures(&self) -> LoudnessFigures {
        let finite = |v: f64| v.is_finite().then_some(v);
        LoudnessFigures {
            integrated_lufs: finite(self.inner.integrated()).filter(|l| *l > -70.0),
            true_peak_dbtp: finite(self.inner.true_peak_dbtp()),
        }
    }
}
