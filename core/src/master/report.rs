//! The JSON report of a mastering run.

use serde::{Deserialize, Serialize};

use super::profile::grid_frequencies;
use super::{LoudnessFigures, MatchProfile, MatchSettings, RenderSummary};

/// Output loudness within this many LU of the reference counts as matched.
pub const LOUDNESS_TOLERANCE_LU: f64 = 0.3;

/// One input as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputReport {
    /// File name or role.
    pub name: String,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: usize,
    /// Length in seconds.
    pub seconds: f64,
    /// Integrated loudness (LUFS) and true peak (dBTP).
    pub loudness: LoudnessFigures,
    /// Fraction of the audible segments analysed as "loud".
    pub loud_fraction: f64,
}

/// What the limiter did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimiterReport {
    /// Whether it ran.
    pub enabled: bool,
    /// Its ceiling in dBTP.
    pub ceiling_dbtp: f32,
    /// Largest gain reduction in dB.
    pub max_gain_reduction_db: f32,
    /// Mean gain reduction over the output in dB.
    pub mean_gain_reduction_db: f64,
    /// Percentage of the output limited by more than 0.1 dB.
    pub limited_percent: f64,
}

/// Whether the output reached the reference's loudness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoudnessMatch {
    /// True when the output is within `tolerance_lu` of the reference.
    pub matched: bool,
    /// Output minus reference integrated loudness, LU.
    pub error_lu: Option<f64>,
    /// The tolerance, LU.
    pub tolerance_lu: f64,
    /// Why it did or did not match, in words.
    pub explanation: String,
}

/// The curves that were applied (amount included), on the profile's grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurveReport {
    /// Grid frequencies in Hz.
    pub frequencies_hz: Vec<f64>,
    /// Mid gain in dB (loudness gain excluded).
    pub mid_db: Vec<f32>,
    /// Side gain in dB including the width change (loudness gain excluded).
    pub side_db: Vec<f32>,
}

/// Everything a mastering run measured and did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MasterReport {
    /// The target (the audio being mastered).
    pub target: InputReport,
    /// The reference.
    pub reference: InputReport,
    /// The output's loudness, BS.1770 true peak and reconstructed peak (the band-limited
    /// waveform's, which the limiter holds under its ceiling).
    pub output: LoudnessFigures,
    /// The settings used.
    pub settings: MatchSettings,
    /// Loudness gain applied before the limiter, dB (compensation included).
    pub loudness_gain_db: f64,
    /// Part of that gain pushed into the limiter to reach the reference's loudness (0 with
    /// `gentle_limiting`), dB.
    pub limiter_compensation_db: f64,
    /// Side gain relative to mid applied (width change at the amount in force), dB.
    pub width_db: f64,
    /// Whether side and width were matched (both inputs stereo).
    pub side_matched: bool,
    /// What the limiter did.
    pub limiter: LimiterReport,
    /// Whether the loudness match was reached.
    pub loudness_match: LoudnessMatch,
    /// The applied curves.
    pub curve: CurveReport,
    /// Input samples that were NaN or infinite and were read as 0.
    pub non_finite_input_samples: u64,
    /// Remarks for the user.
    pub notes: Vec<String>,
}

impl MasterReport {
    /// Assembles the report of a render.
    pub fn new(profile: &MatchProfile, settings: &MatchSettings, render: &RenderSummary) -> Self {
        let amount = settings.amount;
        let width = if settings.match_width && profile.side_matched {
            profile.width_db * amount
        } else {
            0.0
        };
        let input = |a: &super::InputAnalysis| InputReport {
            name: a.name.clone(),
            sample_rate: a.sample_rate,
            channels: a.channels,
            seconds: a.seconds,
            loudness: a.loudness,
            loud_fraction: a.loud_fraction,
        };
        let frames = render.limiter.frames.max(1) as f64;
        let limiter = LimiterReport {
            enabled: settings.limiter,
            ceiling_dbtp: settings.ceiling_dbtp,
            max_gain_reduction_db: render.limiter.max_gain_reduction_db,
            mean_gain_reduction_db: render.limiter.sum_gain_reduction_db / frames,
            limited_percent: 100.0 * render.limiter.limited_frames as f64 / frames,
        };
        let reference_lufs = profile.reference.loudness.integrated_lufs;
        let error = render
            .output
            .integrated_lufs
            .zip(reference_lufs)
            .map(|(o, r)| o - r);
        let matched =
            settings.match_loudness && error.is_some_and(|e| e.abs() <= LOUDNESS_TOLERANCE_LU);
        let explanation = match error {
            _ if !settings.match_loudness => "loudness matching is off".to_string(),
            None => "the output is silent".to_string(),
            Some(e) if e.abs() <= LOUDNESS_TOLERANCE_LU => {
                format!("output within {LOUDNESS_TOLERANCE_LU} LU of the reference ({e:+.2} LU)")
            }
            Some(e) if settings.limiter && settings.gentle_limiting => format!(
                "gentle limiting (max {:.1} dB, mean {:.2} dB of gain reduction) leaves the output \
                 {e:+.2} LU from the reference at a {:.1} dBTP ceiling; without gentle limiting \
                 the limiter works as hard as the reference's loudness takes",
                limiter.max_gain_reduction_db,
                limiter.mean_gain_reduction_db,
                settings.ceiling_dbtp
            ),
            Some(e) if settings.limiter && limiter.max_gain_reduction_db > 0.1 => format!(
                "even {:.1} dB more into the limiter (max {:.1} dB, mean {:.2} dB of gain \
                 reduction) leaves the output {e:+.2} LU from the reference at a {:.1} dBTP ceiling",
                profile.limiter_compensation_db,
                limiter.max_gain_reduction_db,
                limiter.mean_gain_reduction_db,
                settings.ceiling_dbtp
            ),
            Some(e) => format!("the output is {e:+.2} LU from the reference"),
        };
        let scaled = |c: &[f32], extra: f32| c.iter().map(|v| v * amount + extra).collect();
        let mut notes = profile.notes.clone();
        if !settings.limiter
            && render
                .output
                .true_peak_dbtp
                .is_some_and(|tp| tp > f64::from(settings.ceiling_dbtp))
        {
            notes.push(format!(
                "the limiter is off and the output peaks at {:.2} dBTP, above the {:.1} dBTP ceiling",
                render.output.true_peak_dbtp.unwrap_or(0.0),
                settings.ceiling_dbtp
            ));
        }
        Self {
            target: input(&profile.target),
            reference: input(&profile.reference),
            output: render.output,
            settings: *settings,
            loudness_gain_db: render.gain_db,
            limiter_compensation_db: if settings.limiter
                && settings.match_loudness
                && !settings.gentle_limiting
            {
                f64::from(profile.limiter_compensation_db)
            } else {
                0.0
            },
            width_db: f64::from(width),
            side_matched: profile.side_matched,
            limiter,
            loudness_match: LoudnessMatch {
                matched,
                error_lu: error,
                tolerance_lu: LOUDNESS_TOLERANCE_LU,
                explanation,
            },
            curve: CurveReport {
                frequencies_hz: grid_frequencies(),
                mid_db: scaled(&profile.mid_curve_db, 0.0),
                side_db: scaled(&profile.side_curve_db, width),
            },
            non_finite_input_samples: render.non_finite_input + profile.target.non_finite_samples,
            notes,
        }
    }
}
