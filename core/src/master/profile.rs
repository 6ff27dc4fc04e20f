//! Learning a match: analysis of target and reference, the match curves, width and loudness.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::compensate::{Filtered, LimitingEstimates, compensate_limiter};
use super::fir::band_edge_db;
use super::loudness::{LoudnessFigures, Meter};
use super::spectrum::{Spectrum, SpectrumAnalyser};
use super::{AudioSource, MasterError, MatchSettings};

/// Version of the [`MatchProfile`] layout, stored with it.
pub const PROFILE_VERSION: u32 = 1;
/// Lowest frequency of the curve grid in Hz.
pub const GRID_MIN_HZ: f64 = 20.0;
/// Grid points per octave.
pub const GRID_POINTS_PER_OCTAVE: usize = 24;
/// Grid points: 20 Hz to 20.48 kHz.
pub const GRID_POINTS: usize = 10 * GRID_POINTS_PER_OCTAVE + 1;
/// Inputs shorter than this are rejected.
pub const MIN_SECONDS: f64 = 1.0;
/// The largest boost or cut a match curve may ask for, in dB.
pub const MAX_CURVE_DB: f32 = 18.0;
/// The largest width change, in dB of side relative to mid.
pub const MAX_WIDTH_DB: f32 = 12.0;
/// Side energy this far (dB) below mid counts as "no stereo information".
const MONO_SIDE_DB: f64 = -35.0;
/// Band over which mid/side energies are compared for the width and the curve's level.
const ENERGY_BAND_HZ: (f64, f64) = (40.0, 16_000.0);
/// The most extra gain the loudness match may push into the limiter, dB.
pub const MAX_COMPENSATION_DB: f32 = 12.0;
/// Frames per read while analysing.
const READ_FRAMES: usize = 1 << 15;

/// The frequencies in Hz of the curve grid (log-spaced, 1/24 octave).
pub fn grid_frequencies() -> Vec<f64> {
    (0..GRID_POINTS)
        .map(|i| GRID_MIN_HZ * 2f64.powf(i as f64 / GRID_POINTS_PER_OCTAVE as f64))
        .collect()
}

/// What was measured on one input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputAnalysis {
    /// File name or role.
    pub name: String,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: usize,
    /// Length in seconds.
    pub seconds: f64,
    /// Integrated loudness and true peak.
    pub loudness: LoudnessFigures,
    /// Fraction of the input's audible segments that counted as loud and were analysed.
    pub loud_fraction: f64,
    /// Mid spectrum of the loud sections on the grid, in dB (1/24-octave bands; for display).
    pub mid_db: Vec<f32>,
    /// Side spectrum likewise (very low for mono).
    pub side_db: Vec<f32>,
    /// NaN or infinite samples that were read as 0.
    pub non_finite_samples: u64,
}

/// A learned match: everything needed to master the target (or any audio at any sample rate)
/// towards the reference, compact enough for plugin state (a few KB of JSON).
///
/// Curves are gains in dB on the fixed log-frequency grid of [`grid_frequencies`] (Hz), so a
/// profile applies at any sample rate. They hold the full (amount 1.0) match with their level
/// removed; [`crate::master::Mastering`] scales them by the amount in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchProfile {
    /// Layout version ([`PROFILE_VERSION`]).
    pub version: u32,
    /// Mid (L+R) match curve in dB at amount 1.0, one value per grid point.
    pub mid_curve_db: Vec<f32>,
    /// Side (L-R) match curve in dB at amount 1.0.
    pub side_curve_db: Vec<f32>,
    /// Side gain relative to mid in dB at amount 1.0 (the width match; 0 when not matched).
    pub width_db: f32,
    /// Whether both inputs had stereo information, so side and width were matched.
    pub side_matched: bool,
    /// The target's analysis.
    pub target: InputAnalysis,
    /// The reference's analysis.
    pub reference: InputAnalysis,
    /// The amount `matched_lufs` was estimated at.
    pub learned_amount: f32,
    /// The smoothing the curves were made with, in octaves.
    pub smoothing_octaves: f32,
    /// Integrated loudness of the target after tone and width matching at `learned_amount`,
    /// before any gain (LUFS): the target's metered loudness plus the change the match filters
    /// make, estimated from its analysis frames ([`FrameBands`](super::FrameBands)).
    pub matched_lufs: f64,
    /// Extra gain in dB pushed into the limiter so the limited output reaches the reference's
    /// loudness (applies with the limiter on, unless `gentle_limiting`).
    #[serde(default)]
    pub limiter_compensation_db: f32,
    /// How much limiting the match takes, gentle and matched, estimated while learning
    /// (`None` when learned with the limiter or the loudness match off, or by an older build).
    #[serde(default)]
    pub limiting: Option<LimitingEstimates>,
    /// Things the user should know (mono inputs, band limits, very large gains...).
    pub notes: Vec<String>,
}

impl MatchProfile {
    /// Checks the curves' lengths and values (for profiles loaded from plugin state or JSON).
    pub fn validate(&self) -> Result<(), MasterError> {
        if self.version != PROFILE_VERSION {
            return Err(MasterError::InvalidProfile(format!(
                "version {} (this build reads {PROFILE_VERSION})",
                self.version
            )));
        }
        for (name, curve) in [("mid", &self.mid_curve_db), ("side", &self.side_curve_db)] {
            if curve.len() != GRID_POINTS {
                return Err(MasterError::InvalidProfile(format!(
                    "{name} curve has {} points, expected {GRID_POINTS}",
                    curve.len()
                )));
            }
            if curve
                .iter()
                .any(|v| !v.is_finite() || v.abs() > MAX_CURVE_DB + 1e-3)
            {
                return Err(MasterError::InvalidProfile(format!(
                    "{name} curve holds values outside ±{MAX_CURVE_DB} dB"
                )));
            }
        }
        let finite = [
            f64::from(self.width_db),
            self.matched_lufs,
            f64::from(self.learned_amount),
        ];
        if finite.iter().any(|v| !v.is_finite())
            || self.target.loudness.integrated_lufs.is_none()
            || self.reference.loudness.integrated_lufs.is_none()
        {
            return Err(MasterError::InvalidProfile("non-finite figures".into()));
        }
        Ok(())
    }

    /// The gain in dB that brings the target, tone-matched at `amount`, to the reference's
    /// integrated loudness. Exact at the learned amount and at 0; interpolated in between.
    pub fn loudness_gain_db(&self, amount: f32) -> f64 {
        let target = self.target.loudness.integrated_lufs.unwrap_or(-70.0);
        let reference = self.reference.loudness.integrated_lufs.unwrap_or(-70.0);
        let eq_change = if self.learned_amount > 0.0 {
            (self.matched_lufs - target) * f64::from(amount / self.learned_amount)
        } else {
            0.0
        };
        reference - (target + eq_change)
    }

    /// The gain in dB [`Mastering`](super::Mastering) applies before the limiter with
    /// `settings`: the loudness match at the amount in force plus the learned limiter
    /// compensation (0 when loudness matching is off).
    pub fn output_gain_db(&self, settings: &MatchSettings) -> f64 {
        if !settings.match_loudness {
            return 0.0;
        }
        let compensation = if settings.limiter && !settings.gentle_limiting {
            f64::from(self.limiter_compensation_db)
        } else {
            0.0
        };
        self.loudness_gain_db(settings.amount) + compensation
    }

    /// The gains in dB of the mid and the side filter at `hz` that
    /// [`Mastering`](super::Mastering) applies with `settings`, before the loudness gain: the
    /// curves and the width change scaled by the amount.
    pub fn filter_db_at(&self, settings: &MatchSettings, hz: f64) -> (f64, f64) {
        let amount = f64::from(settings.amount);
        let width = if settings.match_width && self.side_matched {
            f64::from(self.width_db)
        } else {
            0.0
        };
        (
            amount * self.mid_db_at(hz),
            amount * (self.side_db_at(hz) + width),
        )
    }

    /// The mid curve (amount 1.0) at `hz`, interpolated on the log-frequency grid and held flat
    /// beyond its ends.
    pub fn mid_db_at(&self, hz: f64) -> f64 {
        interpolate(&self.mid_curve_db, hz)
    }

    /// The side curve (amount 1.0) at `hz`.
    pub fn side_db_at(&self, hz: f64) -> f64 {
        interpolate(&self.side_curve_db, hz)
    }
}

/// Linear interpolation of a grid curve in log frequency, held beyond the ends.
pub(crate) fn interpolate(curve: &[f32], hz: f64) -> f64 {
    if curve.is_empty() {
        return 0.0;
    }
    let x = (hz.max(1e-3) / GRID_MIN_HZ).log2() * GRID_POINTS_PER_OCTAVE as f64;
    if x <= 0.0 {
        return f64::from(curve[0]);
    }
    let i = x.floor() as usize;
    if i + 1 >= curve.len() {
        return f64::from(curve[curve.len() - 1]);
    }
    let t = x - i as f64;
    f64::from(curve[i]) * (1.0 - t) + f64::from(curve[i + 1]) * t
}

/// The measurements of one analysis pass.
struct Pass {
    spectrum: Spectrum,
    loudness: LoudnessFigures,
    non_finite: u64,
}

fn check_source(source: &dyn AudioSource) -> Result<(), MasterError> {
    let channels = source.channels();
    if !(1..=2).contains(&channels) {
        return Err(MasterError::UnsupportedChannels {
            name: source.name().into(),
            channels,
        });
    }
    let rate = source.sample_rate();
    if !(1000..=768_000).contains(&rate) {
        return Err(MasterError::UnsupportedRate {
            name: source.name().into(),
            sample_rate: rate,
        });
    }
    Ok(())
}

/// Streams `source` once through the spectrum analyser (keeping its frame bands when
/// `frame_bands`) and the meter, counting frames into `read`.
fn analyse(
    source: &mut dyn AudioSource,
    frame_bands: bool,
    read: &AtomicU64,
) -> Result<Pass, MasterError> {
    let channels = source.channels();
    let rate = source.sample_rate();
    let mut analyser = SpectrumAnalyser::new(rate, channels, true);
    if frame_bands {
        analyser = analyser.with_frame_bands();
    }
    let mut meter = Meter::new(channels, rate, false)?;
    let mut block: Vec<Vec<f32>> = (0..channels)
        .map(|_| Vec::with_capacity(READ_FRAMES))
        .collect();
    loop {
        let n = source.read(&mut block, READ_FRAMES)?;
        if n == 0 {
            break;
        }
        analyser.push(&block);
        meter.add(&block)?;
        read.fetch_add(n as u64, Ordering::Relaxed);
        if n < READ_FRAMES {
            break;
        }
    }
    Ok(Pass {
        spectrum: analyser.finish(),
        loudness: meter.figures(),
        non_finite: source.non_finite_samples(),
    })
}

/// Smoothed density (linear) of `psd` on the grid.
fn smoothed(spectrum: &Spectrum, psd: &[f64], octaves: f64) -> Vec<f64> {
    let half = 2f64.powf(octaves / 2.0);
    spectrum.band_means(
        psd,
        grid_frequencies().into_iter().map(|f| (f / half, f * half)),
    )
}

fn to_db(values: &[f64]) -> Vec<f32> {
    values
        .iter()
        .map(|v| (10.0 * v.max(1e-20).log10()) as f32)
        .collect()
}

/// Energy of a grid spectrum over the comparison band (each point weighted by its bandwidth).
fn band_energy(values: &[f64], top_hz: f64) -> f64 {
    grid_frequencies()
        .iter()
        .zip(values)
        .filter(|(f, _)| **f >= ENERGY_BAND_HZ.0 && **f <= ENERGY_BAND_HZ.1.min(top_hz))
        .map(|(f, v)| f * v)
        .sum()
}

fn analysis(name: &str, source: &dyn AudioSource, pass: &Pass) -> InputAnalysis {
    let fine = 1.0 / GRID_POINTS_PER_OCTAVE as f64;
    InputAnalysis {
        name: name.into(),
        sample_rate: source.sample_rate(),
        channels: source.channels(),
        seconds: pass.spectrum.frames as f64 / f64::from(source.sample_rate()),
        loudness: pass.loudness,
        loud_fraction: pass.spectrum.loud_fraction,
        mid_db: to_db(&smoothed(&pass.spectrum, &pass.spectrum.mid, fine)),
        side_db: to_db(&smoothed(&pass.spectrum, &pass.spectrum.side, fine)),
        non_finite_samples: pass.non_finite,
    }
}

/// The raw match curve `reference / target` in dB with its level removed, held flat above
/// `top_hz`, clamped to ±[`MAX_CURVE_DB`]; returns the curve and the removed level in dB.
fn match_curve(reference: &[f64], target: &[f64], top_hz: f64) -> (Vec<f32>, f64) {
    let floor = |v: &[f64]| v.iter().copied().fold(0.0, f64::max) * 1e-9 + 1e-30;
    let (fr, ft) = (floor(reference), floor(target));
    let level = 10.0
        * (band_energy(reference, top_hz) / band_energy(target, top_hz).max(1e-30))
            .max(1e-30)
            .log10();
    let freqs = grid_frequencies();
    let mut curve = Vec::with_capacity(GRID_POINTS);
    let mut last = 0.0f32;
    for ((f, r), t) in freqs.iter().zip(reference).zip(target) {
        if *f <= top_hz || curve.is_empty() {
            let db = 10.0 * ((r + fr) / (t + ft)).log10() - level;
            last = (db as f32).clamp(-MAX_CURVE_DB, MAX_CURVE_DB);
        }
        curve.push(last);
    }
    (curve, level)
}

/// Learns how to master `target` towards `reference`.
///
/// Both inputs are streamed once, in parallel, and analysed at their own sample rates and
/// channel counts; memory grows only by the target's frame bands (about 5 KB per second). The
/// loudness the match filters give the target is estimated from those frames, so the loudness
/// gain lands on the reference's integrated loudness without another pass. With the limiter
/// and the loudness match on, one more pass over the target measures how hard the limiter must
/// work for the output to reach the reference's loudness (see
/// [`MatchProfile::limiter_compensation_db`]).
/// `progress` receives 0.0..=1.0 on the calling thread.
pub fn learn(
    target: &mut dyn AudioSource,
    reference: &mut dyn AudioSource,
    settings: &MatchSettings,
    progress: &mut dyn FnMut(f32),
) -> Result<MatchProfile, MasterError> {
    learn_keeping(target, reference, settings, false, progress).map(|(profile, _)| profile)
}

/// [`learn`], which with `keep` also returns the target as the limiter's measuring pass
/// filtered it (when that pass runs and the target is short enough to keep).
pub(crate) fn learn_keeping(
    target: &mut dyn AudioSource,
    reference: &mut dyn AudioSource,
    settings: &MatchSettings,
    keep: bool,
    progress: &mut dyn FnMut(f32),
) -> Result<(MatchProfile, Option<Filtered>), MasterError> {
    settings.validate()?;
    check_source(target)?;
    check_source(reference)?;
    progress(0.0);
    let priority = settings.limiter && settings.match_loudness;
    // Share of the progress bar the analysis fills; the limiter's measuring pass fills the rest.
    let analysis_share = if priority { 0.6 } else { 1.0 };
    let totals = [target.total_frames(), reference.total_frames()];
    let counters = [AtomicU64::new(0), AtomicU64::new(0)];
    let (target_pass, reference_pass) = std::thread::scope(|scope| {
        let (tc, rc) = (&counters[0], &counters[1]);
        // Each analysis says when it is done, so the wait ends at once (a sleeping poll would
        // add up to its period to every call).
        let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(2);
        let (t_done, r_done) = (done_tx.clone(), done_tx);
        let (target, reference) = (&mut *target, &mut *reference);
        let t = scope.spawn(move || {
            let pass = analyse(&mut *target, true, tc);
            let _ = t_done.send(());
            pass
        });
        let r = scope.spawn(move || {
            let pass = analyse(&mut *reference, false, rc);
            let _ = r_done.send(());
            pass
        });
        let mut finished = 0;
        while finished < 2 {
            let done: f64 = counters
                .iter()
                .zip(totals)
                .map(|(c, total)| {
                    let read = c.load(Ordering::Relaxed) as f64;
                    total.map_or(0.0, |t| (read / t.max(1) as f64).min(1.0))
                })
                .sum::<f64>()
                / 2.0;
            progress((done * analysis_share) as f32);
            match done_rx.recv_timeout(Duration::from_millis(20)) {
                Ok(()) => finished += 1,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                // Both senders gone: both threads ended (a panic included).
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            }
        }
        let join = |h: std::thread::ScopedJoinHandle<'_, Result<Pass, MasterError>>| {
            h.join().unwrap_or_else(|_| {
                Err(MasterError::Loudness("an analysis thread panicked".into()))
            })
        };
        (join(t), join(r))
    });
    let (target_pass, reference_pass) = (target_pass?, reference_pass?);
    progress(analysis_share as f32);

    for (source, pass) in [(&*target, &target_pass), (&*reference, &reference_pass)] {
        let seconds = pass.spectrum.frames as f64 / f64::from(source.sample_rate());
        if seconds < MIN_SECONDS {
            return Err(MasterError::TooShort {
                name: source.name().into(),
                seconds,
                minimum: MIN_SECONDS,
            });
        }
        if pass.loudness.integrated_lufs.is_none() {
            return Err(MasterError::Silent {
                name: source.name().into(),
            });
        }
    }

    let mut notes = Vec::new();
    let octaves = f64::from(settings.smoothing_octaves);
    let (ts, rs) = (&target_pass.spectrum, &reference_pass.spectrum);
    let top_hz = (0.9 * ts.nyquist().min(rs.nyquist())).min(20_000.0);
    if top_hz < 19_000.0 {
        notes.push(format!(
            "matched up to {top_hz:.0} Hz only (sample rate of the {}); the curve is held flat above",
            if rs.nyquist() < ts.nyquist() { "reference" } else { "target" }
        ));
    }
    let t_mid = smoothed(ts, &ts.mid, octaves);
    let r_mid = smoothed(rs, &rs.mid, octaves);
    let (mid_curve, mid_level) = match_curve(&r_mid, &t_mid, top_hz);

    let stereo_ratio = |s: &Spectrum| -> f64 {
        let fine = 1.0 / GRID_POINTS_PER_OCTAVE as f64;
        let m = band_energy(&smoothed(s, &s.mid, fine), top_hz);
        let sd = band_energy(&smoothed(s, &s.side, fine), top_hz);
        10.0 * (sd / m.max(1e-30)).max(1e-30).log10()
    };
    let side_usable = |source: &dyn AudioSource, s: &Spectrum| {
        source.channels() == 2 && stereo_ratio(s) > MONO_SIDE_DB
    };
    let (side_curve, width_db, side_matched) =
        match (side_usable(&*target, ts), side_usable(&*reference, rs)) {
            (true, true) => {
                let t_side = smoothed(ts, &ts.side, octaves);
                let r_side = smoothed(rs, &rs.side, octaves);
                let (curve, side_level) = match_curve(&r_side, &t_side, top_hz);
                let width = ((side_level - mid_level) as f32).clamp(-MAX_WIDTH_DB, MAX_WIDTH_DB);
                (curve, width, true)
            }
            (target_ok, _) => {
                notes.push(if target.channels() == 1 {
                    "the target is mono: only its mid (the whole signal) is matched".to_string()
                } else if !target_ok {
                    "the target has almost no stereo information: width is not matched and the \
                     side follows the mid curve"
                        .to_string()
                } else {
                    "the reference is mono (or nearly): width is kept and the side follows the \
                     mid curve"
                        .to_string()
                });
                (mid_curve.clone(), 0.0, false)
            }
        };

    let mut profile = MatchProfile {
        version: PROFILE_VERSION,
        mid_curve_db: mid_curve,
        side_curve_db: side_curve,
        width_db,
        side_matched,
        target: analysis(target.name(), &*target, &target_pass),
        reference: analysis(reference.name(), &*reference, &reference_pass),
        learned_amount: settings.amount,
        smoothing_octaves: settings.smoothing_octaves,
        matched_lufs: target_pass.loudness.integrated_lufs.unwrap_or(-70.0),
        limiter_compensation_db: 0.0,
        limiting: None,
        notes,
    };

    // Loudness of the tone-matched target (no gain, no limiter), from its analysis frames.
    // With the limiter on, the filters also roll off just below Nyquist (see `band_edge_db`).
    let rate = target.sample_rate();
    let edge = |hz: f64| {
        if settings.limiter {
            band_edge_db(hz, rate)
        } else {
            0.0
        }
    };
    if let Some(change) = target_pass.spectrum.frame_bands.as_ref().and_then(|bands| {
        bands.loudness_change_db(
            &|hz| profile.filter_db_at(settings, hz).0 + edge(hz),
            &|hz| profile.filter_db_at(settings, hz).1 + edge(hz),
        )
    }) {
        profile.matched_lufs += change;
    }
    let gain = profile.loudness_gain_db(settings.amount);
    if gain > 30.0 {
        profile.notes.push(format!(
            "the target is very quiet: the loudness match adds {gain:.1} dB, raising its noise too"
        ));
    }
    let filtered = if priority {
        compensate_limiter(&mut profile, settings, target, keep, &mut |p| {
            progress(analysis_share as f32 + (1.0 - analysis_share as f32) * p)
        })?
    } else {
        None
    };
    progress(1.0);
    Ok((profile, filtered))
}
