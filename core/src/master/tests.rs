//! Correctness tests of reference mastering on generated signals (pink noise through known
//! EQs), plus bad input.

use std::f64::consts::PI;
use std::sync::Arc;

use super::spectrum::{band_distance_db, third_octave_levels};
use super::*;
use crate::realtime::{Bridge, BridgeConfig, RenderMode, StreamProcessor};

/// xorshift white noise in [-1, 1).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

/// Pink noise (Paul Kellet's refined filter, accurate to ±0.05 dB above 9 Hz) at about
/// `rms` RMS.
fn pink(seed: u64, frames: usize, rms: f64) -> Vec<f32> {
    let mut n = Noise(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut b = [0.0f64; 7];
    let raw: Vec<f64> = (0..frames)
        .map(|_| {
            let w = n.next();
            b[0] = 0.99886 * b[0] + w * 0.0555179;
            b[1] = 0.99332 * b[1] + w * 0.0750759;
            b[2] = 0.96900 * b[2] + w * 0.1538520;
            b[3] = 0.86650 * b[3] + w * 0.3104856;
            b[4] = 0.55000 * b[4] + w * 0.5329522;
            b[5] = -0.7616 * b[5] - w * 0.0168980;
            let out = b.iter().sum::<f64>() + w * 0.5362;
            b[6] = w * 0.115926;
            out
        })
        .collect();
    let measured = (raw.iter().map(|x| x * x).sum::<f64>() / frames as f64).sqrt();
    raw.iter().map(|x| (x * rms / measured) as f32).collect()
}

/// RBJ cookbook biquad.
#[derive(Clone, Copy)]
struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
}

impl Biquad {
    fn new(kind: &str, f0: f64, gain_db: f64, q: f64, rate: f64) -> Self {
        let a = 10f64.powf(gain_db / 40.0);
        let w = 2.0 * PI * f0 / rate;
        let (sin, cos) = w.sin_cos();
        let alpha = sin / (2.0 * q);
        let sq = 2.0 * a.sqrt() * alpha;
        let (b, a0, a1, a2) = match kind {
            "peak" => (
                [1.0 + alpha * a, -2.0 * cos, 1.0 - alpha * a],
                1.0 + alpha / a,
                -2.0 * cos,
                1.0 - alpha / a,
            ),
            "low" => (
                [
                    a * ((a + 1.0) - (a - 1.0) * cos + sq),
                    2.0 * a * ((a - 1.0) - (a + 1.0) * cos),
                    a * ((a + 1.0) - (a - 1.0) * cos - sq),
                ],
                (a + 1.0) + (a - 1.0) * cos + sq,
                -2.0 * ((a - 1.0) + (a + 1.0) * cos),
                (a + 1.0) + (a - 1.0) * cos - sq,
            ),
            _ => (
                [
                    a * ((a + 1.0) + (a - 1.0) * cos + sq),
                    -2.0 * a * ((a - 1.0) + (a + 1.0) * cos),
                    a * ((a + 1.0) + (a - 1.0) * cos - sq),
                ],
                (a + 1.0) - (a - 1.0) * cos + sq,
                2.0 * ((a - 1.0) - (a + 1.0) * cos),
                (a + 1.0) - (a - 1.0) * cos - sq,
            ),
        };
        Self {
            b: [b[0] / a0, b[1] / a0, b[2] / a0],
            a: [a1 / a0, a2 / a0],
        }
    }

    fn apply(&self, x: &[f32]) -> Vec<f32> {
        let (mut x1, mut x2, mut y1, mut y2) = (0.0, 0.0, 0.0, 0.0);
        x.iter()
            .map(|&s| {
                let s = f64::from(s);
                let y = self.b[0] * s + self.b[1] * x1 + self.b[2] * x2
                    - self.a[0] * y1
                    - self.a[1] * y2;
                (x2, x1, y2, y1) = (x1, s, y1, y);
                y as f32
            })
            .collect()
    }
}

/// The "known EQ" of the tests: +5 dB low shelf at 200 Hz, -4 dB bell at 2.5 kHz, +3 dB high
/// shelf at 8 kHz.
fn known_eq(x: &[f32], rate: u32) -> Vec<f32> {
    let r = f64::from(rate);
    let mut y = Biquad::new("low", 200.0, 5.0, 0.707, r).apply(x);
    y = Biquad::new("peak", 2500.0, -4.0, 1.0, r).apply(&y);
    Biquad::new("high", 8000.0, 3.0, 0.707, r).apply(&y)
}

/// Stereo pink noise: a common part plus an independent part per side (`side_ratio` sets
/// the width).
fn stereo_pink(seed: u64, frames: usize, rms: f64, side_ratio: f64) -> Vec<Vec<f32>> {
    let common = pink(seed, frames, rms);
    let a = pink(seed + 100, frames, rms * side_ratio);
    let b = pink(seed + 200, frames, rms * side_ratio);
    vec![
        common.iter().zip(&a).map(|(c, d)| c + d).collect(),
        common.iter().zip(&b).map(|(c, d)| c + d).collect(),
    ]
}

fn loudness(channels: &[Vec<f32>], rate: u32) -> LoudnessFigures {
    let mut m = super::loudness::Meter::new(channels.len(), rate, true).unwrap();
    m.add(channels).unwrap();
    m.figures()
}

/// Learns and renders in memory as `mixsmith master` does ([`learn_for_render`]); returns the
/// profile, the report and the output.
fn master(
    target: &[Vec<f32>],
    target_rate: u32,
    reference: &[Vec<f32>],
    reference_rate: u32,
    settings: &MatchSettings,
) -> Result<(MatchProfile, MasterReport, Vec<Vec<f32>>), MasterError> {
    let mut t = BufferSource::new("target", target_rate, target);
    let mut r = BufferSource::new("reference", reference_rate, reference);
    let mut learned = learn_for_render(&mut t, &mut r, settings, &mut |_| {})?;
    let mut out = vec![Vec::new(); target.len()];
    let summary = learned.render(
        &mut t,
        &mut |block| {
            for (o, b) in out.iter_mut().zip(block) {
                o.extend_from_slice(b);
            }
            Ok(())
        },
        &mut |_| {},
    )?;
    let report = MasterReport::new(&learned.profile, settings, &summary);
    Ok((learned.profile, report, out))
}

/// [`learn`] then [`render`], each reading the target from the start.
fn learn_then_render(
    target: &[Vec<f32>],
    reference: &[Vec<f32>],
    settings: &MatchSettings,
) -> (RenderSummary, Vec<Vec<f32>>) {
    let mut t = BufferSource::new("target", RATE, target);
    let mut r = BufferSource::new("reference", RATE, reference);
    let profile = learn(&mut t, &mut r, settings, &mut |_| {}).unwrap();
    t.rewind().unwrap();
    let mut out = vec![Vec::new(); target.len()];
    let summary = render(
        &profile,
        settings,
        &mut t,
        render_chunk_frames(RATE),
        &mut |block| {
            for (o, b) in out.iter_mut().zip(block) {
                o.extend_from_slice(b);
            }
            Ok(())
        },
        &mut |_| {},
    )
    .unwrap();
    (summary, out)
}

#[test]
fn the_kept_filtered_target_renders_as_a_fresh_render_does() {
    // The CLI's path (the measuring pass's filtered audio and peaks scaled) against learning
    // and rendering from the source again, with the limiter pushed hard and gently.
    let [target, reference] = quiet_mix_and_dense_reference(91, -20.0, 4);
    for gentle_limiting in [false, true] {
        let settings = MatchSettings {
            gentle_limiting,
            ..MatchSettings::default()
        };
        let (_, report, kept) = master(&target, RATE, &reference, RATE, &settings).unwrap();
        let (summary, fresh) = learn_then_render(&target, &reference, &settings);
        assert_eq!(kept[0].len(), target[0].len());
        assert_eq!(fresh[0].len(), target[0].len());
        let worst = kept
            .iter()
            .flatten()
            .zip(fresh.iter().flatten())
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(worst < 1e-4, "gentle {gentle_limiting}: differs by {worst}");
        let lufs = |l: &LoudnessFigures| l.integrated_lufs.unwrap();
        assert!((lufs(&report.output) - lufs(&summary.output)).abs() < 0.01);
        assert!(
            (report.limiter.max_gain_reduction_db - summary.limiter.max_gain_reduction_db).abs()
                < 0.01
        );
    }
}

fn assert_finite(out: &[Vec<f32>]) {
    assert!(
        out.iter().flatten().all(|s| s.is_finite()),
        "non-finite output"
    );
}

const RATE: u32 = 44_100;
const SECONDS: usize = 12;

#[test]
fn eq_shaped_pink_noise_matches_unshaped_within_half_a_db_per_third_octave() {
    let frames = RATE as usize * SECONDS;
    let reference = stereo_pink(1, frames, 0.05, 0.5);
    let target: Vec<Vec<f32>> = reference
        .iter()
        .map(|c| known_eq(c, RATE).iter().map(|s| s * 0.6).collect())
        .collect();
    let before = band_distance_db(
        &third_octave_levels(&target, RATE),
        &third_octave_levels(&reference, RATE),
    );
    let (_, report, out) =
        master(&target, RATE, &reference, RATE, &MatchSettings::default()).unwrap();
    assert_finite(&out);
    let out_levels = third_octave_levels(&out, RATE);
    let ref_levels = third_octave_levels(&reference, RATE);
    let offset: f64 = out_levels
        .iter()
        .zip(&ref_levels)
        .map(|(o, r)| o - r)
        .sum::<f64>()
        / out_levels.len() as f64;
    for ((o, r), fc) in out_levels
        .iter()
        .zip(&ref_levels)
        .zip(spectrum::third_octave_centres())
    {
        let diff = o - r - offset;
        assert!(diff.abs() <= 0.5, "{fc:.0} Hz band off by {diff:.2} dB");
    }
    assert!(
        before > 1.5,
        "the EQ should have changed the tone: {before}"
    );
    // Loudness matched (the limiter has nothing to do at this level).
    let error = report.loudness_match.error_lu.unwrap();
    assert!(error.abs() <= 0.3, "loudness error {error}");
    assert!(report.loudness_match.matched);
    assert!(offset.abs() < 0.5, "overall level off by {offset}");
}

#[test]
fn loudness_matches_within_0_3_lu_and_peaks_stay_under_the_ceiling() {
    let frames = RATE as usize * SECONDS;
    // A quiet, tone-shaped target and a louder reference that still leaves the limiter room.
    let target: Vec<Vec<f32>> = stereo_pink(3, frames, 0.02, 0.4)
        .iter()
        .map(|c| known_eq(c, RATE))
        .collect();
    let reference = stereo_pink(4, frames, 0.08, 0.5);
    let settings = MatchSettings::default();
    let (_, report, out) = master(&target, RATE, &reference, RATE, &settings).unwrap();
    let measured = loudness(&out, RATE);
    let ref_lufs = loudness(&reference, RATE).integrated_lufs.unwrap();
    assert!(
        (measured.integrated_lufs.unwrap() - ref_lufs).abs() <= 0.3,
        "{measured:?} vs {ref_lufs}"
    );
    assert!(
        measured.true_peak_dbtp.unwrap() <= -1.0 + 0.05,
        "{measured:?}"
    );
    assert_eq!(report.output, measured);
    assert!(report.loudness_match.matched, "{:?}", report.loudness_match);
}

#[test]
fn gentle_limiting_that_prevents_the_match_is_reported_and_ceiling_holds() {
    let frames = RATE as usize * SECONDS;
    let target = stereo_pink(5, frames, 0.03, 0.4);
    // A brick-walled reference: hard-clipped loud noise, far denser than a -1 dBTP ceiling
    // allows the (dynamic) target to become with gentle limiting.
    let reference: Vec<Vec<f32>> = stereo_pink(6, frames, 0.5, 0.3)
        .into_iter()
        .map(|c| c.into_iter().map(|s| s.clamp(-0.9, 0.9)).collect())
        .collect();
    let settings = MatchSettings {
        gentle_limiting: true,
        ..MatchSettings::default()
    };
    let (_, report, out) = master(&target, RATE, &reference, RATE, &settings).unwrap();
    assert_finite(&out);
    assert!(reconstructed_peak_db(&out) <= -1.0, "{:?}", report.output);
    assert!(!report.loudness_match.matched);
    assert!(report.loudness_match.error_lu.unwrap() < -0.3);
    assert!(report.limiter.max_gain_reduction_db > 1.0);
    assert_eq!(report.limiter_compensation_db, 0.0);
    assert!(
        report
            .loudness_match
            .explanation
            .contains("gentle limiting"),
        "{}",
        report.loudness_match.explanation
    );
}

#[test]
fn the_default_pushes_the_limiter_to_the_reference_loudness_and_gentle_does_not() {
    let frames = RATE as usize * 8;
    // A dynamic (beating) target and a dense, loud reference.
    let target: Vec<Vec<f32>> = stereo_pink(26, frames, 0.05, 0.4)
        .into_iter()
        .map(|c| {
            c.into_iter()
                .enumerate()
                .map(|(i, s)| s * if (i / 11_025) % 2 == 0 { 2.0 } else { 0.5 })
                .collect()
        })
        .collect();
    let reference = stereo_pink(27, frames, 0.25, 0.3);
    let gentle = MatchSettings {
        gentle_limiting: true,
        ..MatchSettings::default()
    };
    let (_, before, _) = master(&target, RATE, &reference, RATE, &gentle).unwrap();
    assert!(
        !before.loudness_match.matched,
        "{:?}",
        before.loudness_match
    );
    let pushed = MatchSettings::default();
    let (profile, after, out) = master(&target, RATE, &reference, RATE, &pushed).unwrap();
    assert!(profile.limiter_compensation_db > 0.5);
    assert!(after.loudness_match.matched, "{:?}", after.loudness_match);
    assert!(after.limiter.max_gain_reduction_db > before.limiter.max_gain_reduction_db);
    assert!(reconstructed_peak_db(&out) <= -1.0);
    // Learning estimated both ways; the estimates agree with the renders.
    let limiting = profile.limiting.expect("limiting estimates");
    let reference_lufs = profile.reference.loudness.integrated_lufs.unwrap();
    assert!((limiting.matched.output_lufs.unwrap() - reference_lufs).abs() < 0.05);
    let gentle_lufs = before.output.integrated_lufs.unwrap();
    assert!(
        (limiting.gentle.output_lufs.unwrap() - gentle_lufs).abs() < 0.3,
        "{limiting:?} vs {gentle_lufs}"
    );
    assert!(limiting.matched.mean_gain_reduction_db > limiting.gentle.mean_gain_reduction_db);
    // The compensation lives in the profile, so a plugin render applies the same gain.
    let back: MatchProfile =
        serde_json::from_str(&serde_json::to_string(&profile).unwrap()).unwrap();
    assert_eq!(
        back.output_gain_db(&pushed),
        profile.output_gain_db(&pushed)
    );
    assert!(profile.output_gain_db(&gentle) < profile.output_gain_db(&pushed) - 0.5);
}

/// A quiet, dynamic mix at about `lufs` and a dense master near -9 LUFS / -1.2 dBTP (pink noise
/// and a bass line, soft-clipped and scaled), `seconds` long.
fn quiet_mix_and_dense_reference(seed: u64, lufs: f64, seconds: usize) -> [Vec<Vec<f32>>; 2] {
    let frames = RATE as usize * seconds;
    let beat = RATE as usize / 2;
    let mix: Vec<Vec<f32>> = stereo_pink(seed, frames, 0.1, 0.3)
        .into_iter()
        .map(|c| {
            c.into_iter()
                .enumerate()
                .map(|(i, s)| {
                    let hit = (-((i % beat) as f64) / (0.08 * f64::from(RATE))).exp();
                    let bass = 0.2 * (2.0 * PI * 55.0 * i as f64 / f64::from(RATE)).sin();
                    ((0.5 + 1.5 * hit) * (f64::from(s) + bass)) as f32
                })
                .collect()
        })
        .collect();
    let level = |x: &[Vec<f32>]| loudness(x, RATE).integrated_lufs.unwrap();
    let scale = |x: Vec<Vec<f32>>, db: f64| -> Vec<Vec<f32>> {
        let g = 10f64.powf(db / 20.0) as f32;
        x.into_iter()
            .map(|c| c.into_iter().map(|s| s * g).collect())
            .collect()
    };
    let target = scale(mix.clone(), lufs - level(&mix));
    // Drive into tanh until the master sits near -9 LUFS at -1.2 dB of sample peak.
    let dense: Vec<Vec<f32>> = scale(mix, 10.0)
        .into_iter()
        .map(|c| c.into_iter().map(|s| s.tanh()).collect())
        .collect();
    let peak = dense.iter().flatten().fold(0.0f32, |m, s| m.max(s.abs()));
    let dense = scale(dense, -1.2 - 20.0 * f64::from(peak).log10());
    [target, dense]
}

#[test]
fn by_default_quiet_mixes_reach_a_dense_reference_within_0_3_lu_under_the_ceiling() {
    for (seed, lufs) in [(41, -18.0), (42, -21.0), (43, -24.0)] {
        let [target, reference] = quiet_mix_and_dense_reference(seed, lufs, 6);
        let reference_lufs = loudness(&reference, RATE).integrated_lufs.unwrap();
        assert!((-11.0..-7.0).contains(&reference_lufs), "{reference_lufs}");
        let settings = MatchSettings::default();
        let (_, report, out) = master(&target, RATE, &reference, RATE, &settings).unwrap();
        let error = loudness(&out, RATE).integrated_lufs.unwrap() - reference_lufs;
        assert!(error.abs() <= 0.3, "{lufs} LUFS mix: {error:+.2} LU");
        assert!(report.loudness_match.matched);
        let peak = reconstructed_peak_db(&out);
        assert!(
            peak <= -1.0,
            "{lufs} LUFS mix: reconstructed peak {peak:.3} dB"
        );
        assert!(
            report.limiter.mean_gain_reduction_db > 0.5,
            "{:?}",
            report.limiter
        );
    }
}

/// The highest peak of the band-limited reconstruction of `channels`, in dBFS, measured
/// independently of the engine: 16x by FFT zero-padding (the length padded to a power of two
/// first, so the FFT stays fast).
fn reconstructed_peak_db(channels: &[Vec<f32>]) -> f64 {
    use realfft::RealFftPlanner;
    use realfft::num_complex::Complex64;
    const UP: usize = 16;
    let n = channels[0].len().next_power_of_two();
    let mut planner = RealFftPlanner::<f64>::new();
    let forward = planner.plan_fft_forward(n);
    let inverse = planner.plan_fft_inverse(n * UP);
    let mut peak = 0.0f64;
    for channel in channels {
        let mut time: Vec<f64> = channel.iter().map(|s| f64::from(*s)).collect();
        time.resize(n, 0.0);
        let mut spectrum = forward.make_output_vec();
        forward.process(&mut time, &mut spectrum).unwrap();
        // The Nyquist bin's energy belongs to both halves of the wider spectrum.
        spectrum[n / 2] *= 0.5;
        let mut wide = vec![Complex64::new(0.0, 0.0); n * UP / 2 + 1];
        wide[..=n / 2].copy_from_slice(&spectrum);
        let mut up = inverse.make_output_vec();
        inverse.process(&mut wide, &mut up).unwrap();
        peak = up.iter().fold(peak, |m, v| m.max(v.abs() / n as f64));
    }
    20.0 * peak.log10()
}

#[test]
fn reconstructed_peak_of_mastered_output_stays_under_the_ceiling() {
    let frames = RATE as usize * 3;
    let mut noise = Noise(77);
    // Hard-clipped white noise (clipped at -1 dBFS, then 18 dB down so the match drives it
    // into the limiter): full-band and flat-topped, the BS.1770 meter's worst case.
    let clipped: Vec<f32> = (0..frames)
        .map(|_| (1.5 * noise.next()).clamp(-0.891, 0.891) as f32 * 0.126)
        .collect();
    // Strong content near Nyquist: bursts of tones at 19.5–21.9 kHz over pink noise.
    let pinkish = pink(78, frames, 0.2);
    let nyquist: Vec<f32> = (0..frames)
        .map(|i| {
            let t = i as f64 / f64::from(RATE);
            let burst = if (i / 2205) % 3 == 0 { 1.0 } else { 0.1 };
            let tones: f64 = [19_500.0, 20_700.0, 21_900.0]
                .iter()
                .map(|f| (2.0 * PI * f * t).sin())
                .sum();
            (0.2 * (f64::from(pinkish[i]) + 0.3 * burst * tones)) as f32
        })
        .collect();
    let [dense, reference] = quiet_mix_and_dense_reference(79, -12.0, 3);
    let cases: [(&str, Vec<Vec<f32>>); 3] = [
        (
            "hard-clipped noise",
            vec![clipped.clone(), clipped.iter().rev().copied().collect()],
        ),
        (
            "near Nyquist",
            vec![nyquist.clone(), nyquist.iter().map(|s| -0.8 * s).collect()],
        ),
        ("dense mix", dense),
    ];
    for (name, input) in cases {
        for ceiling in [-1.0f32, -0.1] {
            let settings = MatchSettings {
                ceiling_dbtp: ceiling,
                ..MatchSettings::default()
            };
            let (_, report, out) = master(&input, RATE, &reference, RATE, &settings).unwrap();
            let reconstructed = reconstructed_peak_db(&out);
            let bs1770 = report.output.true_peak_dbtp.unwrap();
            assert!(
                reconstructed <= f64::from(ceiling) && bs1770 <= f64::from(ceiling),
                "{name} at {ceiling} dBTP: reconstructed {reconstructed:.3} dBFS, BS.1770 \
                 {bs1770:.3} dBTP, {:?}",
                report.output
            );
            // The report's reconstructed peak follows the independent measurement.
            let reported = report.output.reconstructed_peak_dbfs.unwrap();
            assert!(
                (reported - reconstructed).abs() < 0.05,
                "{name}: reported {reported:.3} vs {reconstructed:.3}"
            );
            // The match drives every case into the limiter (hard-clipped noise only just at
            // a -0.1 dBTP ceiling).
            assert!(
                report.limiter.max_gain_reduction_db > 0.1 && report.limiter.limited_percent > 1.0,
                "{name}: {:?}",
                report.limiter
            );
        }
    }
}

#[test]
fn amount_zero_without_limiter_is_the_identity_but_for_gain() {
    let frames = RATE as usize * 6;
    let target: Vec<Vec<f32>> = stereo_pink(7, frames, 0.05, 0.5)
        .iter()
        .map(|c| known_eq(c, RATE))
        .collect();
    let reference = stereo_pink(8, frames, 0.1, 0.2);
    let settings = MatchSettings {
        amount: 0.0,
        limiter: false,
        ..MatchSettings::default()
    };
    let (_, report, out) = master(&target, RATE, &reference, RATE, &settings).unwrap();
    let g = 10f64.powf(report.loudness_gain_db / 20.0) as f32;
    let mut worst = 0.0f32;
    for (o, t) in out.iter().zip(&target) {
        assert_eq!(o.len(), t.len());
        for (a, b) in o.iter().zip(t) {
            worst = worst.max((a - g * b).abs());
        }
    }
    assert!(worst < 2e-5, "max deviation {worst}");
    assert!(report.width_db == 0.0 && report.curve.mid_db.iter().all(|v| *v == 0.0));
}

#[test]
fn a_reference_identical_to_the_target_changes_almost_nothing() {
    let frames = RATE as usize * 8;
    let target: Vec<Vec<f32>> = stereo_pink(9, frames, 0.05, 0.5)
        .iter()
        .map(|c| known_eq(c, RATE))
        .collect();
    let (profile, report, out) =
        master(&target, RATE, &target, RATE, &MatchSettings::default()).unwrap();
    assert!(profile.mid_curve_db.iter().all(|v| v.abs() < 0.05));
    assert!(profile.side_curve_db.iter().all(|v| v.abs() < 0.05));
    assert!(profile.width_db.abs() < 0.05);
    // The loudness gain only makes up for the band edge the limiter needs (0.45 fs and up).
    assert!(
        (0.0..0.3).contains(&report.loudness_gain_db),
        "{}",
        report.loudness_gain_db
    );
    // The limiter's band edge (0.45 fs and up) aside, the spectrum is unchanged.
    let distance = band_distance_db(
        &third_octave_levels(&out, RATE),
        &third_octave_levels(&target, RATE),
    );
    assert!(
        distance < 0.05,
        "output differs from the target by {distance:.3} dB"
    );
    let level = |x: &[Vec<f32>]| loudness(x, RATE).integrated_lufs.unwrap();
    assert!((level(&out) - level(&target)).abs() < 0.1);
}

#[test]
fn width_is_matched_and_scaled_by_amount() {
    let frames = RATE as usize * 8;
    let side_to_mid = |c: &[Vec<f32>]| {
        let (mut m, mut s) = (0.0f64, 0.0f64);
        for (l, r) in c[0].iter().zip(&c[1]) {
            m += f64::from(l + r).powi(2);
            s += f64::from(l - r).powi(2);
        }
        10.0 * (s / m).log10()
    };
    let target = stereo_pink(10, frames, 0.05, 0.2);
    let reference = stereo_pink(11, frames, 0.05, 0.8);
    let (t, r) = (side_to_mid(&target), side_to_mid(&reference));
    let settings = MatchSettings {
        limiter: false,
        ..MatchSettings::default()
    };
    let (_, full, out) = master(&target, RATE, &reference, RATE, &settings).unwrap();
    assert!(
        (side_to_mid(&out) - r).abs() < 0.5,
        "{} vs {r}",
        side_to_mid(&out)
    );
    assert!((full.width_db - (r - t)).abs() < 0.5);
    let half = MatchSettings {
        amount: 0.5,
        ..settings
    };
    let (_, _, out) = master(&target, RATE, &reference, RATE, &half).unwrap();
    assert!((side_to_mid(&out) - (t + r) / 2.0).abs() < 0.5);
}

#[test]
fn render_is_independent_of_chunk_size_and_equals_the_bridge_offline() {
    let frames = RATE as usize * 4;
    let target = stereo_pink(12, frames, 0.1, 0.5);
    let reference: Vec<Vec<f32>> = stereo_pink(13, frames, 0.3, 0.3)
        .iter()
        .map(|c| known_eq(c, RATE))
        .collect();
    let settings = MatchSettings::default();
    let mut t = BufferSource::new("target", RATE, &target);
    let mut r = BufferSource::new("reference", RATE, &reference);
    let profile = learn(&mut t, &mut r, &settings, &mut |_| {}).unwrap();
    let run = |chunk: usize| {
        let mut src = BufferSource::new("target", RATE, &target);
        let mut out = vec![Vec::new(); 2];
        render(
            &profile,
            &settings,
            &mut src,
            chunk,
            &mut |b| {
                out.iter_mut()
                    .zip(b)
                    .for_each(|(o, b)| o.extend_from_slice(b));
                Ok(())
            },
            &mut |_| {},
        )
        .unwrap();
        out
    };
    let a = run(512);
    let b = run(4096);
    let c = run(333);
    let max_diff = |x: &[Vec<f32>], y: &[Vec<f32>]| {
        x.iter()
            .zip(y)
            .flat_map(|(p, q)| p.iter().zip(q).map(|(u, v)| (u - v).abs()))
            .fold(0.0f32, f32::max)
    };
    // -90 dB relative to full scale is 3.2e-5.
    assert!(max_diff(&a, &b) < 3e-5, "{}", max_diff(&a, &b));
    assert!(max_diff(&a, &c) < 3e-5, "{}", max_diff(&a, &c));

    // The plugin's offline render through the realtime bridge gives the same audio.
    let processor = Mastering::new(&profile, &settings, RATE, 2, DEFAULT_CHUNK_FRAMES).unwrap();
    let processor_latency = processor.latency_frames();
    let config = BridgeConfig {
        channels: 2,
        output_channels: 2,
        sample_rate: RATE as f32,
        max_block_frames: 256,
    };
    let mut bridge = Bridge::start(processor, config, Arc::default()).unwrap();
    let latency = bridge.latency_frames();
    assert!(latency >= processor_latency);
    let total = frames + latency;
    let mut rendered = [Vec::new(), Vec::new()];
    let mut pos = 0;
    while pos < total {
        let n = 256.min(total - pos);
        let mut l: Vec<f32> = (pos..pos + n)
            .map(|i| target[0].get(i).copied().unwrap_or(0.0))
            .collect();
        let mut rr: Vec<f32> = (pos..pos + n)
            .map(|i| target[1].get(i).copied().unwrap_or(0.0))
            .collect();
        bridge
            .audio()
            .process(&mut [&mut l[..], &mut rr[..]], RenderMode::Offline);
        rendered[0].extend_from_slice(&l);
        rendered[1].extend_from_slice(&rr);
        pos += n;
    }
    let aligned: Vec<Vec<f32>> = rendered.iter().map(|c| c[latency..].to_vec()).collect();
    assert!(
        max_diff(&a, &aligned) < 3e-5,
        "bridge differs by {}",
        max_diff(&a, &aligned)
    );
}

#[test]
fn profiles_round_trip_through_json_and_stay_small() {
    let frames = RATE as usize * 3;
    let target = stereo_pink(14, frames, 0.05, 0.3);
    let reference = stereo_pink(15, frames, 0.1, 0.5);
    let mut t = BufferSource::new("target", RATE, &target);
    let mut r = BufferSource::new("reference", RATE, &reference);
    let profile = learn(&mut t, &mut r, &MatchSettings::default(), &mut |_| {}).unwrap();
    let json = serde_json::to_string(&profile).unwrap();
    assert!(json.len() < 64 * 1024, "{} bytes", json.len());
    let back: MatchProfile = serde_json::from_str(&json).unwrap();
    // f64 figures may differ in the last bit through JSON; the f32 curves do not.
    assert_eq!(back.mid_curve_db, profile.mid_curve_db);
    assert_eq!(back.side_curve_db, profile.side_curve_db);
    assert_eq!(back.width_db, profile.width_db);
    assert_eq!(back.target.mid_db, profile.target.mid_db);
    assert!((back.loudness_gain_db(1.0) - profile.loudness_gain_db(1.0)).abs() < 1e-9);
    let mut broken = profile.clone();
    broken.mid_curve_db.pop();
    assert!(matches!(
        broken.validate(),
        Err(MasterError::InvalidProfile(_))
    ));
    assert!(Mastering::new(&broken, &MatchSettings::default(), RATE, 2, 512).is_err());
}

#[test]
fn silent_or_very_short_references_are_clear_errors() {
    let target = stereo_pink(16, RATE as usize * 3, 0.05, 0.3);
    let silent = vec![vec![0.0f32; RATE as usize * 3]; 2];
    let mut t = BufferSource::new("target", RATE, &target);
    let mut r = BufferSource::new("ref.wav", RATE, &silent);
    let err = learn(&mut t, &mut r, &MatchSettings::default(), &mut |_| {}).unwrap_err();
    assert!(matches!(err, MasterError::Silent { .. }), "{err}");
    assert!(err.to_string().contains("ref.wav"));

    let short = stereo_pink(17, RATE as usize / 4, 0.1, 0.3);
    let mut t = BufferSource::new("target", RATE, &target);
    let mut r = BufferSource::new("short.wav", RATE, &short);
    let err = learn(&mut t, &mut r, &MatchSettings::default(), &mut |_| {}).unwrap_err();
    assert!(matches!(err, MasterError::TooShort { .. }), "{err}");
    assert!(err.to_string().contains("short.wav"));

    let three = vec![target[0].clone(), target[1].clone(), target[0].clone()];
    let mut t = BufferSource::new("surround.wav", RATE, &three);
    let mut r = BufferSource::new("reference", RATE, &target);
    let err = learn(&mut t, &mut r, &MatchSettings::default(), &mut |_| {}).unwrap_err();
    assert!(
        matches!(err, MasterError::UnsupportedChannels { channels: 3, .. }),
        "{err}"
    );
}

#[test]
fn clipped_target_and_nan_samples_give_finite_output_under_the_ceiling() {
    let frames = RATE as usize * 4;
    let mut target: Vec<Vec<f32>> = stereo_pink(18, frames, 0.6, 0.3)
        .into_iter()
        .map(|c| c.into_iter().map(|s| s.clamp(-1.0, 1.0)).collect())
        .collect();
    target[0][1000] = f32::NAN;
    target[1][5000] = f32::INFINITY;
    target[1][5001] = f32::NEG_INFINITY;
    let reference = stereo_pink(19, frames, 0.1, 0.3);
    let (_, report, out) =
        master(&target, RATE, &reference, RATE, &MatchSettings::default()).unwrap();
    assert_finite(&out);
    assert!(loudness(&out, RATE).true_peak_dbtp.unwrap() <= -0.95);
    assert_eq!(report.non_finite_input_samples, 6, "both passes count 3");

    // NaN reaching the processor directly (the plugin path) is silenced, not propagated.
    let mut t = BufferSource::new("t", RATE, &target);
    let mut r = BufferSource::new("r", RATE, &reference);
    let profile = learn(&mut t, &mut r, &MatchSettings::default(), &mut |_| {}).unwrap();
    let mut p = Mastering::new(&profile, &MatchSettings::default(), RATE, 2, 64).unwrap();
    let input = [vec![f32::NAN; 64], vec![0.5; 64]];
    let mut output = [vec![0.0; 64], vec![0.0; 64]];
    for _ in 0..400 {
        let (a, b) = output.split_at_mut(1);
        p.process_chunk(&[&input[0], &input[1]], &mut [&mut a[0], &mut b[0]]);
        assert!(output.iter().flatten().all(|s| s.is_finite()));
    }
}

#[test]
fn mono_stereo_and_extreme_rates_combine() {
    // Mono target, stereo reference at another rate: mono output, tone still matched.
    let secs = 6;
    let mono_target = vec![known_eq(&pink(20, 48_000 * secs, 0.05), 48_000)];
    let reference = stereo_pink(21, RATE as usize * secs, 0.08, 0.4);
    let (profile, report, out) = master(
        &mono_target,
        48_000,
        &reference,
        RATE,
        &MatchSettings::default(),
    )
    .unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].len(), mono_target[0].len());
    assert!(!profile.side_matched && profile.notes.iter().any(|n| n.contains("mono")));
    let d = band_distance_db(
        &third_octave_levels(&out, 48_000),
        &third_octave_levels(&reference, RATE),
    );
    assert!(d < 0.6, "mono match distance {d}");
    assert!(report.loudness_match.matched, "{:?}", report.loudness_match);

    // Stereo target, mono reference: width kept, no NaN.
    let target = stereo_pink(22, RATE as usize * secs, 0.05, 0.4);
    let mono_ref = vec![pink(23, RATE as usize * secs, 0.1)];
    let (profile, _, out) =
        master(&target, RATE, &mono_ref, RATE, &MatchSettings::default()).unwrap();
    assert_eq!(profile.width_db, 0.0);
    assert_finite(&out);

    // 8 kHz target against a 192 kHz reference and the other way round.
    let low = stereo_pink(24, 8_000 * secs, 0.05, 0.4);
    let high = stereo_pink(25, 192_000 * secs, 0.1, 0.4);
    let (profile, report, out) =
        master(&low, 8_000, &high, 192_000, &MatchSettings::default()).unwrap();
    assert_finite(&out);
    assert_eq!(out[0].len(), low[0].len());
    assert!(profile.notes.iter().any(|n| n.contains("Hz only")));
    assert!(report.output.true_peak_dbtp.unwrap() <= -0.95);
    let (_, report, out) = master(&high, 192_000, &low, 8_000, &MatchSettings::default()).unwrap();
    assert_finite(&out);
    assert!(report.output.true_peak_dbtp.unwrap() <= -0.95);
    assert!(
        report.loudness_match.error_lu.unwrap().abs() <= 0.3,
        "{:?}",
        report.loudness_match
    );
}

#[test]
fn estimated_matched_loudness_equals_the_metered_render() {
    // The learned `matched_lufs` comes from the target's analysis frames; render the matched
    // target without gain or limiter and meter it.
    let frames = RATE as usize * SECONDS;
    let stereo: Vec<Vec<f32>> = stereo_pink(31, frames, 0.05, 0.4)
        .iter()
        .map(|c| known_eq(c, RATE))
        .collect();
    let mono = vec![stereo[0].clone()];
    let reference = stereo_pink(32, frames, 0.1, 0.6);
    let mut largest_change = 0.0f64;
    for (target, amount, smoothing) in [
        (&stereo, 1.0, 1.0 / 3.0),
        (&stereo, 0.5, 1.0 / 24.0),
        (&mono, 1.0, 1.0),
    ] {
        let learned = MatchSettings {
            amount,
            smoothing_octaves: smoothing,
            ..MatchSettings::default()
        };
        let (profile, _, _) = master(target, RATE, &reference, RATE, &learned).unwrap();
        // The limiter stays on (it has nothing to limit at 0 dB gain) so the filters keep the
        // band edge the estimate includes.
        let check = MatchSettings {
            match_loudness: false,
            ..learned
        };
        let mut source = BufferSource::new("target", RATE, target);
        let summary = render(
            &profile,
            &check,
            &mut source,
            4096,
            &mut |_| Ok(()),
            &mut |_| {},
        )
        .unwrap();
        let metered = summary.output.integrated_lufs.unwrap();
        assert!(
            (profile.matched_lufs - metered).abs() < 0.1,
            "amount {amount}, {} ch: estimated {} vs metered {metered}",
            target.len(),
            profile.matched_lufs
        );
        let unmatched = profile.target.loudness.integrated_lufs.unwrap();
        largest_change = largest_change.max((metered - unmatched).abs());
    }
    // The match changes the loudness, so the estimate is not just the unmatched figure.
    assert!(largest_change > 0.2, "{largest_change}");
}

#[test]
fn a_file_source_replays_its_cache_or_decodes_again_past_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.wav");
    let planar = stereo_pink(41, 30_000, 0.2, 0.5);
    let buffer = crate::audio::AudioBuffer::from_planar(RATE, planar).unwrap();
    crate::audio::write_wav(&path, &buffer, crate::audio::SampleFormat::Float32).unwrap();
    let read_all = |source: &mut FileSource| {
        let mut out = vec![Vec::new(); 2];
        let mut block = vec![Vec::new(); 2];
        while source.read(&mut block, 7000).unwrap() > 0 {
            for (o, b) in out.iter_mut().zip(&block) {
                o.extend_from_slice(b);
            }
        }
        out
    };
    for limit in [CACHE_SAMPLES, 10_000] {
        let mut source = FileSource::with_cache_limit(&path, limit).unwrap();
        let first = read_all(&mut source);
        assert_eq!(first, buffer.channels(), "cap {limit}");
        for _ in 0..2 {
            source.rewind().unwrap();
            assert_eq!(read_all(&mut source), first, "cap {limit}");
        }
    }
    // A streaming source keeps nothing and decodes again.
    let mut source = FileSource::streaming(&path).unwrap();
    let first = read_all(&mut source);
    source.rewind().unwrap();
    assert_eq!(read_all(&mut source), first);
    // A rewind in the middle starts over, cached or not.
    let mut source = FileSource::open(&path).unwrap();
    let mut block = vec![Vec::new(); 2];
    source.read(&mut block, 1000).unwrap();
    source.rewind().unwrap();
    assert_eq!(read_all(&mut source), buffer.channels());
}
