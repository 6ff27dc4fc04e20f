//! Reference mastering: match a target's tone, width and loudness to a reference, then
//! true-peak limit it.
//!
//! 1. [`learn`] streams both inputs (each at its own sample rate and channel count), averages
//!    the mid and side spectra of their loud sections ([`spectrum`]), smooths both by a
//!    fraction of an octave, and turns their ratio into mid and side match curves on a fixed
//!    log-frequency grid in Hz, a width (side-to-mid) change and an exact loudness gain: the
//!    [`MatchProfile`].
//! 2. [`Mastering`] applies a profile at any sample rate as a
//!    [`StreamProcessor`](crate::realtime::StreamProcessor): linear-phase FIRs per mid and side
//!    (uniformly partitioned FFT convolution) carrying curve × amount, width × amount and the
//!    loudness gain, then a true-peak lookahead limiter with a gentle release.
//! 3. [`render`] runs that processor over a whole stream exactly as the plugin's offline render
//!    does, and [`MasterReport`] tells what happened (loudness of all three, gain, gain
//!    reduction, whether the loudness match was reached, the curves).
//!
//! By default the loudness match wins: learning also finds how much harder the limiter must
//! work for the output to reach the reference's loudness ([`LimitingEstimates`]). With
//! [`MatchSettings::gentle_limiting`] only the loudness match goes into the limiter, which may
//! leave the output quieter than the reference.
//!
//! ```no_run
//! # fn main() -> Result<(), mixsmith_core::master::MasterError> {
//! use mixsmith_core::master::*;
//! let settings = MatchSettings::default();
//! let mut target = FileSource::open("mix.wav")?;
//! let mut reference = FileSource::streaming("reference.flac")?;
//! let profile = learn(&mut target, &mut reference, &settings, &mut |_| {})?;
//! target.rewind()?;
//! let chunk = render_chunk_frames(target.sample_rate());
//! let summary = render(&profile, &settings, &mut target, chunk,
//!     &mut |_block| Ok(()), &mut |_| {})?;
//! let report = MasterReport::new(&profile, &settings, &summary);
//! # Ok(()) }
//! ```

mod compensate;
mod error;
mod estimate;
mod fir;
mod limiter;
mod loudness;
mod peak;
mod processor;
mod profile;
mod render;
mod report;
mod settings;
mod source;
pub mod spectrum;

#[cfg(test)]
mod tests;

pub use compensate::{LimitingEstimate, LimitingEstimates};
pub use error::MasterError;
pub use estimate::FrameBands;
pub use fir::{PartitionedConvolver, design_linear_phase, fir_latency};
pub use limiter::{LimiterStats, TruePeakLimiter};
pub use loudness::LoudnessFigures;
pub(crate) use peak::{Grade, PeakDetector, kaiser_at};
pub use processor::{DEFAULT_CHUNK_FRAMES, Mastering};
pub use profile::{
    GRID_MIN_HZ, GRID_POINTS, GRID_POINTS_PER_OCTAVE, InputAnalysis, MAX_COMPENSATION_DB,
    MAX_CURVE_DB, MAX_WIDTH_DB, MIN_SECONDS, MatchProfile, PROFILE_VERSION, grid_frequencies,
    learn,
};
pub use render::{
    BlockSink, LearnedMatch, RenderSummary, learn_for_render, render, render_chunk_frames,
};
pub use report::{
    CurveReport, InputReport, LOUDNESS_TOLERANCE_LU, LimiterReport, LoudnessMatch, MasterReport,
};
pub use settings::{MatchSettings, parse_octaves};
pub use source::{AudioSource, BufferSource, CACHE_SAMPLES, FileSource};
