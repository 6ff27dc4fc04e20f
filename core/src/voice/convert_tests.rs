//! Tests of the DSP voice converter: the timbre moves towards the profile while the pitch
//! stays, the latency is what it reports, streaming equals one-shot, bad input is harmless.

use std::sync::Mutex;

use super::envelope::{
    FrameAnalyser, GRID_POINTS, HIGH_POINTS, covered_points, grid_frequencies, voicing,
};
use super::testvoice::{Singer, X, Y, melody, sing};
use super::*;

const RATE: f32 = 48_000.0;

/// The profile of voice X from its own song (8 s; learned once per rate).
pub(super) fn profile_x(rate: f32) -> VoiceProfile {
    static CACHE: Mutex<Vec<(u32, VoiceProfile)>> = Mutex::new(Vec::new());
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = cache.iter().find(|(r, _)| *r == rate as u32) {
        return p.clone();
    }
    let profile = learn(&sing(X, &melody(52.0, 14, 0.55, 1), rate, 1), rate).unwrap();
    cache.push((rate as u32, profile.clone()));
    profile
}

/// Voice Y singing another song, higher (5 s).
pub(super) fn song_y(singer: Singer, rate: f32) -> Vec<f32> {
    sing(singer, &melody(60.0, 10, 0.45, 2), rate, 2)
}

/// The voicing-weighted average envelope of `samples`, as a profile learns it, without the
/// pitch tracker.
pub(super) fn average_envelope(samples: &[f32], rate: f32) -> Vec<f32> {
    let mut analyser = FrameAnalyser::new(rate);
    let n = analyser.frame_len();
    let (mut sum, mut weight) = (vec![0.0f32; GRID_POINTS], 0.0f32);
    for start in (0..samples.len().saturating_sub(n)).step_by(n / 4) {
        let analysis = analyser.analyse(&samples[start..start + n]);
        let v = voicing(analysis);
        for (s, e) in sum.iter_mut().zip(&analysis.envelope_db) {
            *s += v * e;
        }
        weight += v;
    }
    sum.iter().map(|s| s / weight).collect()
}

/// How far apart two envelopes' shapes are: the RMS of their difference in dB, less its mean,
/// over the points from 400 Hz (above the voices' fundamentals, where harmonics sample the
/// envelope) to the highest both cover.
pub(super) fn distance_db(a: &[f32], b: &[f32], rate: f32) -> f32 {
    let grid = grid_frequencies();
    let points: Vec<usize> = (0..covered_points(rate))
        .filter(|&i| grid[i] >= 400.0)
        .collect();
    let diff: Vec<f32> = points.iter().map(|&i| a[i] - b[i]).collect();
    let mean = diff.iter().sum::<f32>() / diff.len() as f32;
    (diff.iter().map(|d| (d - mean).powi(2)).sum::<f32>() / diff.len() as f32).sqrt()
}

/// The distance of `y` and of its conversion towards `profile` to `x`'s envelope.
fn before_after(x: &[f32], y: &[f32], converted: &[f32], rate: f32) -> (f32, f32) {
    (
        distance_db(&average_envelope(y, rate), x, rate),
        distance_db(&average_envelope(converted, rate), x, rate),
    )
}

/// Cents between the F0 tracks of `a` and `b` where both are voiced: (median |cents|, mean).
fn f0_drift_cents(a: &[f32], b: &[f32], rate: f32) -> (f32, f32) {
    let config = PitchConfig::default();
    let (ta, tb) = (track(a, rate, &config), track(b, rate, &config));
    let mut cents: Vec<f32> = ta
        .iter()
        .zip(&tb)
        .filter(|(x, y)| x.f0_hz > 0.0 && y.f0_hz > 0.0)
        .map(|(x, y)| (1200.0 * (y.f0_hz / x.f0_hz).log2()).abs())
        .collect();
    assert!(
        cents.len() > ta.len() / 2,
        "{} of {}",
        cents.len(),
        ta.len()
    );
    let mean = cents.iter().sum::<f32>() / cents.len() as f32;
    cents.sort_by(f32::total_cmp);
    (cents[cents.len() / 2], mean)
}

#[test]
fn converting_y_with_x_s_profile_moves_its_timbre_and_keeps_its_pitch() {
    for rate in [48_000.0, 44_100.0] {
        let x = profile_x(rate);
        let y = song_y(Y, rate);
        let out = convert(&x, &y, rate, ConvertSettings::default());
        let (before, after) = before_after(&x.envelope_db, &y, &out, rate);
        println!("{rate} Hz: envelope distance to X {before:.2} dB -> {after:.2} dB");
        assert!(after < 0.45 * before, "{before} -> {after}");
        if rate == 48_000.0 {
            let (median, mean) = f0_drift_cents(&y, &out, rate);
            println!("F0 drift: median {median:.2} cents, mean {mean:.2} cents");
            assert!(median < 3.0 && mean < 10.0, "{median} {mean}");
        }
    }
}

#[test]
fn half_the_amount_goes_half_way_and_a_formant_shift_moves_the_envelope() {
    let x = profile_x(RATE);
    let y = song_y(Y, RATE);
    let distance = |settings| {
        let out = convert(&x, &y, RATE, settings);
        distance_db(&average_envelope(&out, RATE), &x.envelope_db, RATE)
    };
    let full = distance(ConvertSettings::default());
    let half = distance(ConvertSettings {
        amount: 0.5,
        ..ConvertSettings::default()
    });
    let shifted = distance(ConvertSettings {
        formant_semitones: 4.0,
        ..ConvertSettings::default()
    });
    let before = distance_db(&average_envelope(&y, RATE), &x.envelope_db, RATE);
    println!("distance: none {before:.2}, half {half:.2}, full {full:.2}, +4 st {shifted:.2} dB");
    assert!(full < half && half < before, "{before} {half} {full}");
    assert!(shifted > full + 1.0, "{shifted} {full}");
}

#[test]
fn amount_zero_is_the_delayed_input() {
    let x = profile_x(RATE);
    let y = song_y(Y, RATE);
    let mut converter = VoiceConverter::new(
        &x,
        RATE,
        ConvertSettings {
            amount: 0.0,
            ..ConvertSettings::default()
        },
    );
    let latency = converter.latency_frames();
    let mut out = vec![0.0; y.len()];
    converter.process(&y, &mut out);
    assert!(out[..latency].iter().all(|&v| v.abs() < 1e-6));
    let worst = out[latency..]
        .iter()
        .zip(&y)
        .map(|(o, i)| (o - i).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-6, "{worst}");
}

#[test]
fn the_reported_latency_is_the_measured_delay() {
    for rate in [48_000.0f32, 44_100.0, 16_000.0, 8000.0] {
        let x = profile_x(rate);
        let y = song_y(Y, rate);
        let mut converter = VoiceConverter::new(&x, rate, ConvertSettings::default());
        let latency = converter.latency_frames();
        let mut out = vec![0.0; y.len()];
        converter.process(&y, &mut out);
        // The lag of the cross-correlation peak over 1 s, searched over 0..2 frames.
        let span = rate as usize;
        let correlation = |lag: usize| -> f64 {
            y[..span]
                .iter()
                .zip(&out[lag..])
                .map(|(a, b)| f64::from(a * b))
                .sum()
        };
        let measured = (0..2 * latency)
            .max_by(|&a, &b| correlation(a).total_cmp(&correlation(b)))
            .unwrap();
        let ms = 1000.0 * latency as f32 / rate;
        println!("{rate} Hz: latency {latency} frames = {ms:.1} ms, measured {measured}");
        assert_eq!(measured, latency);
        assert!(ms <= 30.0, "{ms} ms");
    }
}

#[test]
fn streaming_in_random_blocks_equals_one_shot() {
    streaming_equals_one_shot(ConvertSettings::default());
}

/// Converting Y's song in random blocks gives the same output as in one block.
pub(super) fn streaming_equals_one_shot(settings: ConvertSettings) {
    let x = profile_x(RATE);
    let y = song_y(Y, RATE);
    let mut one_shot = vec![0.0; y.len()];
    VoiceConverter::new(&x, RATE, settings).process(&y, &mut one_shot);
    let mut converter = VoiceConverter::new(&x, RATE, settings);
    let mut streamed = vec![0.0; y.len()];
    let mut noise = crate::analyze::synth::Noise::new(5);
    let mut at = 0;
    while at < y.len() {
        let block = (((noise.next() + 1.0) * 700.0) as usize).clamp(1, y.len() - at);
        converter.process(&y[at..at + block], &mut streamed[at..at + block]);
        at += block;
    }
    assert!(streamed == one_shot, "streamed output differs");
}

#[test]
fn silence_stays_silent_and_nan_is_harmless() {
    silence_stays_silent(ConvertSettings::default());
}

/// Silence converts to exact silence, a voice's tail dies out to exact silence, and NaN and
/// infinite samples do no harm.
pub(super) fn silence_stays_silent(settings: ConvertSettings) {
    let x = profile_x(RATE);
    let mut converter = VoiceConverter::new(&x, RATE, settings);
    let silence = vec![0.0; RATE as usize];
    let mut out = vec![1.0; silence.len()];
    converter.process(&silence, &mut out);
    assert!(out.iter().all(|&v| v == 0.0));
    // A voice, then silence: once the latency has passed the output is exactly silent.
    let mut y = song_y(Y, RATE);
    let voice_end = y.len();
    y.extend(std::iter::repeat_n(0.0, RATE as usize));
    y[500] = f32::NAN;
    y[20_000..20_100].fill(f32::NAN);
    y[30_000] = f32::INFINITY;
    y[30_001] = f32::NEG_INFINITY;
    let mut out = vec![0.0; y.len()];
    converter.process(&y, &mut out);
    assert!(out.iter().all(|v| v.is_finite()));
    // Frames that hold the voice's end spread its filtered tail over one frame; once those
    // have played out (one more frame after the latency) the output is exactly silent.
    let tail = voice_end + 2 * converter.latency_frames();
    assert!(out[tail..].iter().all(|&v| v == 0.0));
    let peak = out.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(peak > 0.1 && peak < 2.0, "{peak}");
}

#[test]
fn low_sample_rates_convert() {
    for rate in [8000.0, 16_000.0] {
        let x = profile_x(rate);
        let y = song_y(Y, rate);
        let out = convert(&x, &y, rate, ConvertSettings::default());
        let (before, after) = before_after(&x.envelope_db, &y, &out, rate);
        println!("{rate} Hz: distance {before:.2} -> {after:.2} dB");
        assert!(out.iter().all(|v| v.is_finite()));
        assert!(after < 0.5 * before, "{before} -> {after}");
    }
    // A 48 kHz profile applied at 16 kHz and a 16 kHz one at 48 kHz.
    let high = profile_x(RATE);
    let low = profile_x(16_000.0);
    let y = song_y(Y, 16_000.0);
    assert!(
        convert(&high, &y, 16_000.0, ConvertSettings::default())
            .iter()
            .all(|v| v.is_finite())
    );
    let y = song_y(Y, RATE);
    let out = convert(&low, &y, RATE, ConvertSettings::default());
    let (before, after) = before_after(&high.envelope_db, &y, &out, RATE);
    println!("16 kHz profile at 48 kHz: distance {before:.2} -> {after:.2} dB (up to 7.2 kHz)");
    assert!(after < 0.5 * before, "{before} -> {after}");
}

#[test]
fn a_profile_set_while_running_equals_one_given_at_the_start_and_glides_in() {
    let x = profile_x(RATE);
    let y = song_y(Y, RATE);
    let settings = ConvertSettings::default();
    let mut direct = vec![0.0; y.len()];
    VoiceConverter::new(&x, RATE, settings).process(&y, &mut direct);

    // Another profile first (Y's own), switched to X's before any audio: the same output.
    let own = learn(&y, RATE).unwrap();
    let mut switched = VoiceConverter::new(&own, RATE, settings);
    switched.set_profile(&x);
    let mut out = vec![0.0; y.len()];
    switched.process(&y, &mut out);
    assert!(
        out == direct,
        "set_profile before the audio differs from new()"
    );

    // Switched halfway: the first half is as with Y's profile, and the output has no step
    // larger than the input's own largest one at the switch.
    let mut converter = VoiceConverter::new(&own, RATE, settings);
    let half = y.len() / 2;
    let mut out = vec![0.0; y.len()];
    converter.process(&y[..half], &mut out[..half]);
    converter.set_profile(&x);
    converter.process(&y[half..], &mut out[half..]);
    let mut with_own = vec![0.0; y.len()];
    VoiceConverter::new(&own, RATE, settings).process(&y, &mut with_own);
    assert!(out[..half] == with_own[..half]);
    let steepest = |s: &[f32]| {
        s.windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0, f32::max)
    };
    let around = half - 2048..half + 8192;
    assert!(
        steepest(&out[around.clone()]) <= 1.5 * steepest(&y) + 1e-3,
        "a click at the switch: {} against the input's {}",
        steepest(&out[around]),
        steepest(&y)
    );
}

/// RMS of `a - b` relative to the RMS of `b`.
fn relative_difference(a: &[f32], b: &[f32]) -> f32 {
    let diff: f32 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let power: f32 = b.iter().map(|y| y * y).sum();
    (diff / power).sqrt()
}

#[test]
fn protect_keeps_unvoiced_sounds_close_to_the_source() {
    let x = profile_x(RATE);
    let mut input = song_y(Y, RATE);
    let start = input.len();
    // A second of bright noise (a long "s"), after the voice has taught its average.
    let mut noise = crate::analyze::synth::Noise::new(11);
    let mut last = 0.0;
    input.extend((0..RATE as usize).map(|_| {
        let n = noise.next();
        let s = 0.1 * (n - last);
        last = n;
        s
    }));
    let unvoiced = start + RATE as usize / 5..input.len();
    let change = |protect| {
        let out = convert(
            &x,
            &input,
            RATE,
            ConvertSettings {
                protect,
                ..ConvertSettings::default()
            },
        );
        relative_difference(&out[unvoiced.clone()], &input[unvoiced.clone()])
    };
    let (protected, unprotected) = (change(0.0), change(MAX_PROTECT));
    println!("noise after a voice changes by {protected:.4} (protect 0), {unprotected:.4} (0.5)");
    assert!(protected < 0.2 * unprotected, "{protected} {unprotected}");
}

#[test]
fn the_gains_glide_on_a_sustained_note() {
    let x = profile_x(RATE);
    let mut input = song_y(Y, RATE);
    let start = input.len();
    input.extend(sing(Y, &[(62.0, 3.0)], RATE, 4));
    let mut converter = VoiceConverter::new(&x, RATE, ConvertSettings::default());
    let mut out = vec![0.0; input.len()];
    converter.process(&input[..start], &mut out[..start]);
    // Hop by hop through the note (after its first half second): the largest change of any
    // grid point's gain from one hop to the next (flutter would be steps of a dB or more), and
    // over the whole note (the running average drifting towards the held vowel; reported).
    let hop = converter.latency_frames() / 4;
    let (mut steepest, mut lowest, mut highest) = (0.0f32, [f32::MAX; 48], [f32::MIN; 48]);
    let mut last = converter.gains_db();
    for (i, block) in input[start..].chunks(hop).enumerate() {
        converter.process(block, &mut out[..block.len()]);
        let gains = converter.gains_db();
        if i * hop > RATE as usize / 2 {
            for p in 0..GRID_POINTS {
                steepest = steepest.max((gains[p] - last[p]).abs());
                lowest[p] = lowest[p].min(gains[p]);
                highest[p] = highest[p].max(gains[p]);
            }
        }
        last = gains;
    }
    let range = (0..GRID_POINTS)
        .map(|p| highest[p] - lowest[p])
        .fold(0.0f32, f32::max);
    println!("sustained note: largest gain step {steepest:.4} dB per hop, range {range:.2} dB");
    assert!(steepest < 0.05, "{steepest} dB per hop");
}

/// The mean over frames voiced in both of the distance ([`distance_db`]) between the envelopes
/// of `a` and `b` frame by frame (the same song sung by two voices, or one voice converted).
fn framewise_distance_db(a: &[f32], b: &[f32], rate: f32) -> f32 {
    let (mut fa, mut fb) = (FrameAnalyser::new(rate), FrameAnalyser::new(rate));
    let n = fa.frame_len();
    let (mut sum, mut count) = (0.0f32, 0usize);
    for start in (0..a.len().min(b.len()).saturating_sub(n)).step_by(n / 4) {
        let ea = fa.analyse(&a[start..start + n]).clone();
        let eb = fb.analyse(&b[start..start + n]);
        if voicing(&ea) > 0.5 && voicing(eb) > 0.5 {
            sum += distance_db(&ea.envelope_db, &eb.envelope_db, rate);
            count += 1;
        }
    }
    sum / count.max(1) as f32
}

#[test]
fn the_classes_bring_each_vowel_nearer_the_target_s_own_than_the_average_does() {
    let x = profile_x(RATE);
    assert_eq!(x.classes.len(), CLASSES);
    let mut average_only = x.clone();
    average_only.version = 1;
    average_only.classes.clear();
    average_only.spread_db.clear();
    // Y and X sing the same song (same vowels, notes and timing).
    let notes = melody(60.0, 10, 0.45, 2);
    let (y, x_same) = (sing(Y, &notes, RATE, 2), sing(X, &notes, RATE, 2));
    let none = framewise_distance_db(&y, &x_same, RATE);
    let average = framewise_distance_db(
        &convert(&average_only, &y, RATE, ConvertSettings::default()),
        &x_same,
        RATE,
    );
    let mapped = framewise_distance_db(
        &convert(&x, &y, RATE, ConvertSettings::default()),
        &x_same,
        RATE,
    );
    println!(
        "frame by frame distance to X singing the same: none {none:.2} dB, average transfer \
         {average:.2} dB, classes {mapped:.2} dB"
    );
    assert!(
        mapped < average - 1.0 && average < none,
        "{none} {average} {mapped}"
    );
}

/// The voicing-weighted average envelope of `samples` above the grid (`HIGH_HZ`), dB.
fn average_high(samples: &[f32], rate: f32) -> Vec<f32> {
    let mut analyser = FrameAnalyser::new(rate);
    let n = analyser.frame_len();
    let (mut sum, mut weight) = (vec![0.0f32; HIGH_POINTS], 0.0f32);
    for start in (0..samples.len().saturating_sub(n)).step_by(n / 4) {
        let analysis = analyser.analyse(&samples[start..start + n]);
        let v = voicing(analysis);
        for (s, e) in sum.iter_mut().zip(&analysis.high_db) {
            *s += v * e;
        }
        weight += v;
    }
    sum.iter().map(|s| s / weight).collect()
}

#[test]
fn the_band_above_the_grid_moves_to_the_profile_s() {
    for (rate, covered) in [(48_000.0, 5), (44_100.0, 4)] {
        let x = profile_x(rate);
        assert_eq!((x.high_db.len(), x.high_covered), (HIGH_POINTS, covered));
        let y = song_y(Y, rate);
        let out = convert(&x, &y, rate, ConvertSettings::default());
        let distance = |a: &[f32]| {
            (a.iter()
                .zip(&x.high_db)
                .take(covered)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f32>()
                / covered as f32)
                .sqrt()
        };
        let (before, after) = (
            distance(&average_high(&y, rate)),
            distance(&average_high(&out, rate)),
        );
        println!("{rate} Hz: above the grid, RMS distance to X {before:.2} dB -> {after:.2} dB");
        assert!(after < 0.5 * before, "{before} -> {after}");
    }
}
