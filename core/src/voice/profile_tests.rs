//! Tests of voice profiles: what a clone of a synthetic singer holds, its JSON, and the
//! warnings and errors for references that are short, noisy or not a voice.

use super::testvoice::{X, melody, sing};
use super::*;
use crate::analyze::synth::{Noise, ROCK, Song};

const RATE: f32 = 48_000.0;

#[test]
fn a_clean_voice_gives_its_range_and_no_warnings() {
    // 24 notes around E3 (164.8 Hz), 0.55 s each: 13 s voiced.
    let notes = melody(52.0, 24, 0.55, 1);
    let profile = learn(&sing(X, &notes, RATE, 1), RATE).unwrap();
    println!("{}", profile.summary());
    assert!(profile.warnings.is_empty(), "{:?}", profile.warnings);
    assert!(
        (11.0..14.0).contains(&profile.voiced_seconds),
        "{}",
        profile.voiced_seconds
    );
    assert!(profile.seconds > profile.voiced_seconds);
    let hz = |note: f32| 440.0 * 2f32.powf((note - 69.0) / 12.0);
    let lowest = notes.iter().map(|n| n.0).fold(f32::MAX, f32::min);
    let highest = notes.iter().map(|n| n.0).fold(f32::MIN, f32::max);
    let p = profile.pitch;
    assert!(
        p.p5_hz > hz(lowest) * 0.95 && p.p5_hz < p.median_hz,
        "{p:?}"
    );
    assert!(
        p.p95_hz < hz(highest) * 1.05 && p.p95_hz > p.median_hz,
        "{p:?}"
    );
    assert!(profile.hnr_db > 10.0, "{}", profile.hnr_db);
    assert_eq!(profile.covered_points, envelope::GRID_POINTS);
    // The dark voice's envelope falls towards the highs.
    let env = &profile.envelope_db;
    assert!(env[40] < env[10] - 10.0, "{env:?}");
}

#[test]
fn a_profile_round_trips_through_json_and_rejects_damage() {
    let profile = learn(&sing(X, &melody(52.0, 6, 0.5, 1), RATE, 1), RATE).unwrap();
    let json = profile.to_json();
    // Version 2: the 16 classes and the spread, each on one line, are most of it.
    assert!(json.len() < 9000, "{} bytes", json.len());
    assert!(json.lines().count() < 50, "{json}");
    assert_eq!(VoiceProfile::from_json(&json).unwrap(), profile);
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["version"] = 99.into();
    let err = VoiceProfile::from_json(&v.to_string()).unwrap_err();
    assert!(err.to_string().contains("version 99"), "{err}");
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["envelope_db"].as_array_mut().unwrap().pop();
    assert!(VoiceProfile::from_json(&v.to_string()).is_err());
    assert!(VoiceProfile::from_json("{").is_err());
}

#[test]
fn a_short_reference_is_learned_with_a_warning() {
    let profile = learn(&sing(X, &melody(52.0, 6, 0.5, 1), RATE, 1), RATE).unwrap();
    assert!(profile.voiced_seconds < 4.0);
    assert!(
        profile
            .warnings
            .iter()
            .any(|w| w.contains("of voiced audio")),
        "{:?}",
        profile.warnings
    );
}

#[test]
fn a_noisy_reference_gets_a_warning() {
    let mut clip = sing(X, &melody(52.0, 24, 0.55, 1), RATE, 1);
    let mut noise = Noise::new(7);
    clip.iter_mut().for_each(|x| *x += 0.1 * noise.next());
    let profile = learn(&clip, RATE).unwrap();
    println!("{}{:?}", profile.summary(), profile.warnings);
    assert!(
        profile.warnings.iter().any(|w| w.contains("noisy")),
        "{:?}",
        profile.warnings
    );
}

#[test]
fn a_drum_loop_or_noise_is_not_taken_for_a_voice() {
    let mut song = Song::new(48_000, 12.0, 3);
    song.drums(ROCK, 120.0, 0.5, 0.0, 12.0);
    let mut noise = Noise::new(9);
    let white: Vec<f32> = (0..RATE as usize * 12)
        .map(|_| 0.3 * noise.next())
        .collect();
    for (name, clip) in [("drums", song.samples), ("noise", white)] {
        match learn(&clip, RATE) {
            Err(e) => assert!(matches!(e, ProfileError::NoVoice), "{name}: {e}"),
            Ok(p) => assert!(
                p.warnings
                    .iter()
                    .any(|w| w.contains("is the reference a voice")),
                "{name}: {:?}",
                p.warnings
            ),
        }
    }
}

#[test]
fn silence_is_an_error_and_low_rates_work() {
    let err = learn(&vec![0.0; 48_000 * 3], RATE).unwrap_err();
    assert!(matches!(err, ProfileError::NoVoice), "{err}");
    assert!(matches!(
        learn(&[0.1; 4000], 4000.0),
        Err(ProfileError::UnsupportedRate(_))
    ));
    for rate in [8000.0, 16_000.0] {
        let profile = learn(&sing(X, &melody(52.0, 12, 0.5, 1), rate, 1), rate).unwrap();
        profile.validate().unwrap();
        assert!(profile.covered_points < envelope::GRID_POINTS);
        assert!(profile.grid_hz[profile.covered_points - 1] <= 0.45 * rate);
    }
}

#[test]
fn nan_samples_are_read_as_silence() {
    let mut clip = sing(X, &melody(52.0, 12, 0.5, 1), RATE, 1);
    clip[1000..1100].fill(f32::NAN);
    clip[5000] = f32::INFINITY;
    let profile = learn(&clip, RATE).unwrap();
    assert!(profile.envelope_db.iter().all(|v| v.is_finite()));
}

#[test]
fn a_profile_learns_envelope_classes_and_version_1_profiles_still_read() {
    let profile = learn(&sing(X, &melody(52.0, 10, 0.5, 1), RATE, 1), RATE).unwrap();
    assert_eq!(profile.version, PROFILE_VERSION);
    assert_eq!(profile.classes.len(), CLASSES);
    assert_eq!(profile.spread_db.len(), envelope::GRID_POINTS);
    // The singer's five vowels: the classes are different sounds, some far apart.
    let rms = |a: &[f32], b: &[f32]| {
        (a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f32>() / a.len() as f32).sqrt()
    };
    let widest = profile
        .classes
        .iter()
        .flat_map(|a| {
            profile
                .classes
                .iter()
                .map(move |b| rms(&a[8..40], &b[8..40]))
        })
        .fold(0.0f32, f32::max);
    println!(
        "classes: widest pair {widest:.1} dB RMS, spread {:?}",
        profile.spread_db
    );
    assert!(widest > 6.0, "{widest}");
    assert!(
        profile.spread_db[8..40].iter().all(|&s| s > 0.5),
        "{:?}",
        profile.spread_db
    );
    // Learning is deterministic.
    let again = learn(&sing(X, &melody(52.0, 10, 0.5, 1), RATE, 1), RATE).unwrap();
    assert_eq!(again, profile);
    // A version 1 profile (no classes, no spread) still reads.
    let mut v: serde_json::Value = serde_json::from_str(&profile.to_json()).unwrap();
    v["version"] = 1.into();
    v.as_object_mut().unwrap().remove("classes");
    v.as_object_mut().unwrap().remove("spread_db");
    let old = VoiceProfile::from_json(&v.to_string()).unwrap();
    assert!(old.classes.is_empty() && old.spread_db.is_empty());
    assert!(!old.to_json().contains("classes"));
    // Damaged classes are refused.
    let mut v: serde_json::Value = serde_json::from_str(&profile.to_json()).unwrap();
    v["classes"][3].as_array_mut().unwrap().pop();
    assert!(VoiceProfile::from_json(&v.to_string()).is_err());
    let mut v: serde_json::Value = serde_json::from_str(&profile.to_json()).unwrap();
    v.as_object_mut().unwrap().remove("spread_db");
    assert!(VoiceProfile::from_json(&v.to_string()).is_err());
}
