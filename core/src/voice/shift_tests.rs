//! Tests of the converter's transpose: the F0 moves by the ratio on a sung melody and stays
//! steady on sustained notes, the formants stay, streaming equals one-shot, the latency and
//! silence are as without it, and automation does not click.

use super::convert_tests::{
    average_envelope, distance_db, profile_x, silence_stays_silent, song_y,
    streaming_equals_one_shot,
};
use super::synth::{Timbre, VOWEL_A, render};
use super::testvoice::{X, Y, melody, sing};
use super::*;

const RATE: f32 = 48_000.0;

fn transposed(semitones: f32) -> ConvertSettings {
    ConvertSettings {
        transpose_semitones: semitones,
        ..ConvertSettings::default()
    }
}

/// The frame-by-frame pitch change from `input` to `output` in cents, where both are voiced.
fn cents_moved(input: &[f32], output: &[f32]) -> Vec<f32> {
    let config = PitchConfig::default();
    let (a, b) = (track(input, RATE, &config), track(output, RATE, &config));
    let cents: Vec<f32> = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| x.f0_hz > 0.0 && y.f0_hz > 0.0)
        .map(|(x, y)| 1200.0 * (y.f0_hz / x.f0_hz).log2())
        .collect();
    assert!(cents.len() > a.len() / 3, "{} of {}", cents.len(), a.len());
    cents
}

fn median(values: &[f32]) -> f32 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f32::total_cmp);
    sorted[sorted.len() / 2]
}

/// Mean and standard deviation.
fn mean_std(values: &[f32]) -> (f32, f32) {
    let mean = values.iter().sum::<f32>() / values.len() as f32;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / values.len() as f32;
    (mean, var.sqrt())
}

#[test]
fn transpose_moves_the_f0_of_a_sung_melody_by_its_ratio() {
    let profile = profile_x(RATE);
    for (singer, name) in [(Y, "Y"), (X, "X")] {
        let input = song_y(singer, RATE);
        for semitones in [12.0f32, -12.0, 7.0, -5.0, 0.5] {
            let output = convert(&profile, &input, RATE, transposed(semitones));
            let errors: Vec<f32> = cents_moved(&input, &output)
                .iter()
                .map(|c| c - 100.0 * semitones)
                .collect();
            let share_off =
                errors.iter().filter(|e| e.abs() > 50.0).count() as f32 / errors.len() as f32;
            let error = median(&errors);
            println!(
                "voice {name}, {semitones:+} st: F0 ratio {:.4} (expected {:.4}), median error \
                 {error:+.2} cents, {:.1} % of frames off by more than 50 cents",
                (error / 1200.0 + semitones / 12.0).exp2(),
                (semitones / 12.0).exp2(),
                100.0 * share_off
            );
            assert!(error.abs() < 5.0, "{semitones} st: {error} cents");
            assert!(share_off < 0.05, "{semitones} st: {share_off}");
        }
    }
}

#[test]
fn sustained_notes_stay_steady_when_transposed() {
    for hz in [150.0, 220.0, 330.0] {
        let input = render(|_| hz, &Timbre::vowel(VOWEL_A), f64::from(RATE), 2.0);
        for semitones in [12.0f32, -12.0, 7.0, 3.0] {
            let output = convert(&profile_x(RATE), &input, RATE, transposed(semitones));
            // Half a second in, until a quarter second before the end.
            let moved = cents_moved(&input, &output);
            let steady = &moved[moved.len() / 4..moved.len() * 7 / 8];
            let (mean, std) = mean_std(steady);
            let worst = steady
                .iter()
                .map(|c| (c - mean).abs())
                .fold(0.0f32, f32::max);
            println!(
                "{hz} Hz, {semitones:+} st: moved {mean:.2} cents, std {std:.2}, worst {worst:.2}"
            );
            assert!(
                (mean - 100.0 * semitones).abs() < 5.0,
                "{hz} {semitones}: {mean}"
            );
            assert!(std < 3.0 && worst < 15.0, "{hz} {semitones}: {std} {worst}");
        }
    }
}

#[test]
fn the_formants_stay_where_they_were() {
    let input = song_y(Y, RATE);
    let envelope = average_envelope(&input, RATE);
    // The average envelope of `input` transposed with the timbre left as it is.
    let transposed_envelope = |semitones: f32, correct: bool| {
        let settings = ConvertSettings {
            amount: 0.0,
            ..transposed(semitones)
        };
        let mut converter = VoiceConverter::new(&profile_x(RATE), RATE, settings);
        converter.set_formant_correction(correct);
        let latency = converter.latency_frames();
        let mut padded = input.clone();
        padded.resize(input.len() + latency, 0.0);
        let mut out = vec![0.0; padded.len()];
        converter.process(&padded, &mut out);
        average_envelope(&out[latency..], RATE)
    };
    for semitones in [7.0f32, -7.0, 12.0] {
        // The same voice singing the same song that much higher or lower: what the envelope
        // measures at that pitch with the formants where they were.
        let native = average_envelope(
            &sing(Y, &melody(60.0 + semitones, 10, 0.45, 2), RATE, 2),
            RATE,
        );
        let (kept, moved) = (
            transposed_envelope(semitones, true),
            transposed_envelope(semitones, false),
        );
        let to_input = |e: &[f32]| distance_db(e, &envelope, RATE);
        let to_native = |e: &[f32]| distance_db(e, &native, RATE);
        println!(
            "{semitones:+} st: average envelope from the input's {:.2} dB (without the \
             correction {:.2} dB), from the voice singing at that pitch {:.2} dB (without {:.2} \
             dB; the input's own {:.2} dB)",
            to_input(&kept),
            to_input(&moved),
            to_native(&kept),
            to_native(&moved),
            to_native(&envelope)
        );
        assert!(to_input(&kept) < 0.6 * to_input(&moved), "{semitones}");
        assert!(to_native(&kept) < 0.6 * to_native(&moved), "{semitones}");
    }
}

#[test]
fn streaming_transposed_in_random_blocks_equals_one_shot() {
    streaming_equals_one_shot(transposed(-4.5));
}

/// Samples between the points of [`level`].
const LEVEL_STEP: usize = 8;

/// The signal's level over time: the mean square over 5 ms around every
/// [`LEVEL_STEP`]th sample.
fn level(signal: &[f32]) -> Vec<f64> {
    let half = (0.0025 * RATE) as usize;
    let mut prefix = vec![0.0f64; signal.len() + 1];
    for (i, x) in signal.iter().enumerate() {
        prefix[i + 1] = prefix[i] + f64::from(x * x);
    }
    (0..signal.len())
        .step_by(LEVEL_STEP)
        .map(|i| {
            let (lo, hi) = (i.saturating_sub(half), (i + half).min(signal.len()));
            (prefix[hi] - prefix[lo]) / (hi - lo) as f64
        })
        .collect()
}

#[test]
fn the_latency_is_unchanged_and_is_the_measured_delay() {
    let x = profile_x(RATE);
    let y = song_y(Y, RATE);
    let plain = VoiceConverter::new(&x, RATE, ConvertSettings::default()).latency_frames();
    for semitones in [12.0f32, -7.0] {
        let mut converter = VoiceConverter::new(&x, RATE, transposed(semitones));
        let latency = converter.latency_frames();
        assert_eq!(latency, plain);
        let mut out = vec![0.0; y.len()];
        converter.process(&y, &mut out);
        // The pitch differs, so the delay is measured on the level: the lag that best lines up
        // the output's level with the input's (notes, pauses and consonants).
        let (a, b) = (level(&y), level(&out));
        let correlation = |lag: usize| -> f64 {
            let (ma, mb) = (
                a.iter().sum::<f64>() / a.len() as f64,
                b[lag..].iter().sum::<f64>() / (b.len() - lag) as f64,
            );
            a.iter()
                .zip(&b[lag..])
                .map(|(p, q)| (p - ma) * (q - mb))
                .sum()
        };
        let measured = LEVEL_STEP
            * (0..2 * latency / LEVEL_STEP)
                .max_by(|&p, &q| correlation(p).total_cmp(&correlation(q)))
                .unwrap();
        println!("{semitones:+} st: latency {latency} frames, measured {measured}");
        assert!(measured.abs_diff(latency) <= 24, "{measured} vs {latency}");
    }
}

#[test]
fn silence_stays_silent_when_transposed() {
    silence_stays_silent(transposed(7.0));
}

/// The largest step between neighbouring samples.
fn steepest(s: &[f32]) -> f32 {
    s.windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0, f32::max)
}

#[test]
fn automating_the_transpose_does_not_click_and_zero_becomes_exact_again() {
    let x = profile_x(RATE);
    // A sustained note, so that any click would stand out.
    let input = render(|_| 220.0, &Timbre::vowel(VOWEL_A), f64::from(RATE), 4.0);
    let block = 256;
    let mut converter = VoiceConverter::new(&x, RATE, ConvertSettings::default());
    let mut out = vec![0.0; input.len()];
    for (i, (inp, o)) in input.chunks(block).zip(out.chunks_mut(block)).enumerate() {
        let t = (i * block) as f32 / RATE;
        // Steps 0 -> +5 -> -3 -> 0 a second apart, then a glide up a fifth and back to 0.
        let semitones = match t {
            t if t < 0.5 => 0.0,
            t if t < 1.0 => 5.0,
            t if t < 1.5 => -3.0,
            t if t < 2.0 => 0.0,
            t if t < 2.5 => 7.0 * (t - 2.0) / 0.5,
            _ => 0.0,
        };
        converter.set_settings(transposed(semitones));
        converter.process(inp, o);
    }
    let latency = converter.latency_frames();
    let limit = 1.5 * steepest(&input) + 1e-3;
    let worst = steepest(&out[latency..]);
    println!(
        "automated transpose: steepest step {worst:.4} (input's {:.4})",
        steepest(&input)
    );
    assert!(worst <= limit, "a click: {worst} against {limit}");

    // A second after the transpose returned to 0 the output is the untransposed one again, bit
    // for bit (the phase offsets and the gains have settled).
    let at = (3.5 * RATE) as usize;
    let mut reference = vec![0.0; input.len()];
    VoiceConverter::new(&x, RATE, ConvertSettings::default()).process(&input, &mut reference);
    let difference = out[at..]
        .iter()
        .zip(&reference[at..])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(difference == 0.0, "{difference}");
}
