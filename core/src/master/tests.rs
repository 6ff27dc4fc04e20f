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
    let mut m = super::loudness::Meter::new(channels.len(), rate).unwrap();
    m.add(channels).unwrap();
    m.figures()
}

/// Learns and renders in memory; returns the profile, the report and the output.
fn master(
    target: &[Vec<f32>],
    target_rate: u32,
    reference: &[Vec<f32>],
    reference_rate: u32,
    settings: &MatchSettings,
) -> Result<(MatchProfile, MasterReport, Vec<Vec<f32>>), MasterError> {
    let mut t = BufferSource::new("target", target_rate, target);
    let mut r = BufferSource::new("reference", reference_rate, reference);
    let profile = learn(&mut t, &mut r, settings, &mut |_| {})?;
    t.rewind()?;
    let mut out = vec![Vec::new(); target.len()];
    let summary = render(
        &profile,
        settings,
        &mut t,
        render_chunk_frames(target_rate),
        &mut |block| {
            for (o, b) in out.iter_mut().zip(block) {
                o.extend_from_slice(b);
            }
            Ok(())
        },
        &mut |_| {},
    )?;
    let report = MasterReport::new(&profile, settings, &summary);
    Ok((profile, report, out))
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
fn limiter_that_prevents_the_match_is_reported_and_ceiling_holds() {
    let frames = RATE as usize * SECONDS;
    let target = stereo_pink(5, frames, 0.03, 0.4);
    // A brick-walled reference: hard-clipped loud noise, far denser than a -1 dBTP ceiling
    // allows the (dynamic) target to become.
    let reference: Vec<Vec<f32>> = stereo_pink(6, frames, 0.5, 0.3)
        .into_iter()
        .map(|c| c.into_iter().map(|s| s.clamp(-0.9, 0.9)).collect())
        .collect();
    let settings = MatchSettings::default();
    let (_, report, out) = master(&target, RATE, &reference, RATE, &settings).unwrap();
    assert_finite(&out);
    let measured = loudness(&out, RATE);
    assert!(
        measured.true_peak_dbtp.unwrap() <= -1.0 + 0.05,
        "{measured:?}"
    );
    assert!(!report.loudness_match.matched);
    assert!(report.loudness_match.error_lu.unwrap() < -0.3);
    assert!(report.limiter.max_gain_reduction_db > 1.0);
    assert!(
        report.loudness_match.explanation.contains("limiter"),
        "{}",
        report.loudness_match.explanation
    );
}

#[test]
fn loudness_priority_pushes_the_limiter_to_the_reference_loudness() {
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
    let gentle = MatchSettings::default();
    let (_, before, _) = master(&target, RATE, &reference, RATE, &gentle).unwrap();
    assert!(
        !before.loudness_match.matched,
        "{:?}",
        before.loudness_match
    );
    let pushed = MatchSettings {
        loudness_priority: true,
        ..gentle
    };
    let (profile, after, out) = master(&target, RATE, &reference, RATE, &pushed).unwrap();
    assert!(profile.limiter_compensation_db > 0.5);
    assert!(after.loudness_match.matched, "{:?}", after.loudness_match);
    assert!(after.limiter.max_gain_reduction_db > before.limiter.max_gain_reduction_db);
    assert!(loudness(&out, RATE).true_peak_dbtp.unwrap() <= -1.0 + 0.05);
    // The compensation lives in the profile, so a plugin render applies the same gain.
    let back: MatchProfile =
        serde_json::from_str(&serde_json::to_string(&profile).unwrap()).unwrap();
    assert_eq!(
        back.output_gain_db(&pushed),
        profile.output_gain_db(&pushed)
    );
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
    assert!(
        report.loudness_gain_db.abs() < 0.05,
        "{}",
        report.loudness_gain_db
    );
    let (mut err, mut sig) = (0.0f64, 0.0f64);
    for (o, t) in out.iter().zip(&target) {
        for (a, b) in o.iter().zip(t) {
            err += f64::from(a - b).powi(2);
            sig += f64::from(*b).powi(2);
        }
    }
    let snr = 10.0 * (sig / err).log10();
    assert!(
        snr > 40.0,
        "output differs from the target: {snr:.1} dB SNR"
    );
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
        let check = MatchSettings {
            limiter: false,
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
        // The match changes the loudness, so the estimate is not the unmatched figure.
        let unmatched = profile.target.loudness.integrated_lufs.unwrap();
        assert!(
            (metered - unmatched).abs() > 0.2,
            "{metered} vs {unmatched}"
        );
    }
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
