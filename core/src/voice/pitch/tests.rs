//! The tracker on generated signals whose F0 is known at every instant.

use super::*;
use crate::voice::synth::{Timbre, VOWEL_A, VOWEL_I, VOWEL_U, cents, midi_hz, render};

/// Fundamentals tested across the default range, in Hz.
const F0S: [f64; 12] = [
    60.0, 82.4, 110.0, 146.8, 196.0, 261.6, 349.2, 466.2, 622.3, 830.6, 987.8, 1000.0,
];

/// How the voiced frames between two times compare with the truth.
#[derive(Debug)]
struct Score {
    /// Error in cents of each voiced frame.
    errors: Vec<f64>,
    /// Frames called unvoiced.
    unvoiced: usize,
}

impl Score {
    fn of(frames: &[PitchFrame], truth: impl Fn(f64) -> f64, from: f64, to: f64) -> Self {
        let mut errors = Vec::new();
        let mut unvoiced = 0;
        for f in frames.iter().filter(|f| f.time >= from && f.time <= to) {
            if f.f0_hz > 0.0 {
                errors.push(cents(f64::from(f.f0_hz), truth(f.time)));
            } else {
                unvoiced += 1;
            }
        }
        Self { errors, unvoiced }
    }

    fn max_abs(&self) -> f64 {
        self.errors.iter().fold(0.0, |m, e| m.max(e.abs()))
    }

    fn rms(&self) -> f64 {
        (self.errors.iter().map(|e| e * e).sum::<f64>() / self.errors.len().max(1) as f64).sqrt()
    }

    /// Frames more than half a semitone off (octave errors and the like).
    fn gross(&self) -> usize {
        self.errors.iter().filter(|e| e.abs() > 50.0).count()
    }
}

/// The track of a steady tone at `f0` and its score over the middle (away from the fades).
fn steady(f0: f64, timbre: &Timbre, rate: f64) -> Score {
    let signal = render(|_| f0, timbre, rate, 0.6);
    let frames = track(&signal, rate as f32, &PitchConfig::default());
    Score::of(&frames, |_| f0, 0.1, 0.5)
}

#[test]
fn sines_read_within_a_cent() {
    for f0 in F0S {
        let score = steady(f0, &Timbre::SINE, 48_000.0);
        assert_eq!(score.unvoiced, 0, "{f0} Hz: {score:?}");
        assert!(
            score.max_abs() < 1.0,
            "{f0} Hz: {:.3} cents",
            score.max_abs()
        );
    }
}

#[test]
fn voice_like_tones_read_within_a_few_cents() {
    for formants in [VOWEL_A, VOWEL_I, VOWEL_U] {
        for f0 in F0S {
            let score = steady(f0, &Timbre::vowel(formants), 48_000.0);
            assert_eq!(score.unvoiced, 0, "{f0} Hz {formants:?}: {score:?}");
            // The breath noise moves single frames by a few cents at high pitches, whose frames
            // are a few ms long.
            assert!(
                score.rms() < 2.0 && score.max_abs() < 5.0,
                "{f0} Hz {formants:?}: rms {:.3}, max {:.3} cents",
                score.rms(),
                score.max_abs()
            );
        }
    }
}

#[test]
fn a_missing_fundamental_reads_at_the_true_pitch() {
    for f0 in [70.0, 100.0, 150.0, 220.0, 330.0] {
        let timbre = Timbre {
            first_harmonic: 2,
            ..Timbre::vowel(VOWEL_A)
        };
        let score = steady(f0, &timbre, 48_000.0);
        assert_eq!(score.unvoiced, 0, "{f0} Hz: {score:?}");
        assert_eq!(score.gross(), 0, "{f0} Hz: {score:?}");
        assert!(
            score.max_abs() < 3.0,
            "{f0} Hz: {:.3} cents",
            score.max_abs()
        );
    }
}

#[test]
fn vibrato_is_followed() {
    for centre in [110.0, 220.0, 440.0] {
        let truth =
            move |t: f64| centre * (50.0 / 1200.0 * (std::f64::consts::TAU * 5.5 * t).sin()).exp2();
        let rate = 48_000.0;
        let signal = render(truth, &Timbre::vowel(VOWEL_A), rate, 2.0);
        let frames = track(&signal, rate as f32, &PitchConfig::default());
        let score = Score::of(&frames, truth, 0.1, 1.9);
        assert_eq!(score.unvoiced, 0, "{centre} Hz: {score:?}");
        assert!(
            score.rms() < 4.0 && score.max_abs() < 8.0,
            "{centre} Hz: rms {:.2}, max {:.2} cents",
            score.rms(),
            score.max_abs()
        );
        // The track swings through the vibrato's full depth, not a smoothed part of it.
        let swing = score.errors.len();
        let readings: Vec<f64> = frames
            .iter()
            .filter(|f| f.time >= 0.1 && f.time <= 1.9)
            .map(|f| cents(f64::from(f.f0_hz), centre))
            .collect();
        let (low, high) = readings
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), &c| (l.min(c), h.max(c)));
        assert!(
            low < -45.0 && high > 45.0,
            "{centre} Hz over {swing} frames: {low:.1}..{high:.1} cents"
        );
    }
}

/// A melody of MIDI notes (start time, note) ending at `end`, with a leap of up to an octave.
const MELODY: [(f64, f64); 10] = [
    (0.10, 57.0),
    (0.35, 69.0),
    (0.60, 64.0),
    (0.85, 52.0),
    (1.10, 59.0),
    (1.35, 71.0),
    (1.60, 62.0),
    (1.85, 74.0),
    (2.10, 67.0),
    (2.35, 55.0),
];
const MELODY_END: f64 = 2.6;

/// The melody's frequency at `t` (0 outside it).
fn melody(t: f64) -> f64 {
    if t >= MELODY_END {
        return 0.0;
    }
    MELODY
        .iter()
        .rev()
        .find(|(start, _)| t >= *start)
        .map_or(0.0, |&(_, note)| midi_hz(note))
}

#[test]
fn a_melody_with_leaps_is_followed_within_two_frames() {
    for rate in [48_000.0, 44_100.0, 16_000.0] {
        let signal = render(melody, &Timbre::vowel(VOWEL_A), rate, 2.8);
        let config = PitchConfig::default();
        let frames = track(&signal, rate as f32, &config);
        let hop = f64::from(config.hop_seconds);
        for (i, &(start, note)) in MELODY.iter().enumerate() {
            // From two frames after the change to two before the next (or to 30 ms before the
            // voice stops), the right note.
            let (end, margin) = MELODY
                .get(i + 1)
                .map_or((MELODY_END, 0.03), |n| (n.0, 2.0 * hop));
            let score = Score::of(&frames, |_| midi_hz(note), start + 2.0 * hop, end - margin);
            assert!(
                score.unvoiced == 0 && score.gross() == 0,
                "{rate} Hz, note {note} at {start} s: {score:?}"
            );
            // Away from the changes, the exact pitch.
            let score = Score::of(&frames, |_| midi_hz(note), start + 0.03, end - 0.03);
            assert!(
                score.max_abs() < 5.0,
                "{rate} Hz, note {note}: {:.2} cents",
                score.max_abs()
            );
        }
    }
}

#[test]
fn silence_and_noise_are_unvoiced() {
    let rate = 44_100.0;
    let silence = vec![0.0f32; 44_100];
    let frames = track(&silence, rate, &PitchConfig::default());
    assert_eq!(frames.len(), 44_100usize.div_ceil(235));
    assert!(
        frames
            .iter()
            .all(|f| f.f0_hz == 0.0 && f.voiced_probability == 0.0)
    );

    for level in [0.01, 0.3] {
        let mut state = 1u32;
        let noise: Vec<f32> = (0..88_200)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state as f32 / u32::MAX as f32 * 2.0 - 1.0) * level
            })
            .collect();
        let frames = track(&noise, rate, &PitchConfig::default());
        let voiced = frames.iter().filter(|f| f.f0_hz > 0.0).count();
        let mean_probability =
            frames.iter().map(|f| f.voiced_probability).sum::<f32>() / frames.len() as f32;
        assert!(
            voiced * 100 <= frames.len() && mean_probability < 0.05,
            "noise at {level}: {voiced} of {} frames voiced, mean probability {mean_probability}",
            frames.len()
        );
    }
}

#[test]
fn streaming_in_any_block_sizes_equals_track() {
    let rate = 44_100.0;
    let signal = render(melody, &Timbre::vowel(VOWEL_I), rate, 1.3);
    let config = PitchConfig::default();
    let whole = track(&signal, rate as f32, &config);
    let mut tracker = PitchTracker::new(rate as f32, config);
    let mut state = 7u64;
    for _ in 0..3 {
        let mut streamed = Vec::new();
        let mut rest = &signal[..];
        while !rest.is_empty() {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let len = ((state >> 33) % 700) as usize;
            let (block, tail) = rest.split_at(len.min(rest.len()));
            tracker.process(block, &mut |f| streamed.push(f));
            rest = tail;
        }
        tracker.finish(&mut |f| streamed.push(f));
        // `finish` left the tracker ready for the next pass, which must give the same frames.
        assert_eq!(streamed, whole);
    }
}

#[test]
fn frames_come_out_at_the_reported_latency() {
    for (rate, lookahead_frames) in [(48_000.0f32, 3), (22_050.0, 0)] {
        let config = PitchConfig {
            lookahead_frames,
            ..PitchConfig::default()
        };
        let mut tracker = PitchTracker::new(rate, config);
        let (hop, latency) = (tracker.hop_frames(), tracker.latency_frames());
        let mut emitted = Vec::new();
        for n in 1..=(rate as usize / 4) {
            tracker.process(&[0.1], &mut |f| emitted.push((f.time, n)));
        }
        assert!(!emitted.is_empty());
        for (k, &(time, fed)) in emitted.iter().enumerate() {
            assert_eq!(time, (k * hop) as f64 / f64::from(rate));
            assert_eq!(fed, k * hop + latency, "frame {k}");
        }
    }
    let default = PitchTracker::new(48_000.0, PitchConfig::default());
    assert_eq!(default.hop_frames(), 256);
    assert!(default.latency_frames() as f32 / 48_000.0 <= 0.0255);
}

#[test]
fn several_sample_rates_read_the_same_pitch() {
    for rate in [8_000.0, 16_000.0, 22_050.0, 44_100.0, 48_000.0, 96_000.0] {
        // High pitches at low rates have frames of few samples, which the breath noise moves more.
        let (rms, max) = if rate < 16_000.0 {
            (4.0, 10.0)
        } else {
            (2.5, 6.0)
        };
        for f0 in [65.4, 130.8, 261.6, 523.3, 987.8] {
            let score = steady(f0, &Timbre::vowel(VOWEL_U), rate);
            assert_eq!(score.unvoiced, 0, "{rate} Hz, {f0} Hz: {score:?}");
            assert!(
                score.rms() < rms && score.max_abs() < max,
                "{rate} Hz, {f0} Hz: rms {:.3}, max {:.3} cents",
                score.rms(),
                score.max_abs()
            );
        }
    }
}

#[test]
fn nan_and_infinite_samples_count_as_silence() {
    let rate = 16_000.0;
    let mut signal = render(|_| 220.0, &Timbre::vowel(VOWEL_A), f64::from(rate), 1.0);
    for (i, s) in signal.iter_mut().enumerate().skip(4000).step_by(997) {
        *s = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e30][i % 4];
    }
    let frames = track(&signal, rate, &PitchConfig::default());
    assert_eq!(frames.len(), 16_000usize.div_ceil(85));
    assert!(
        frames
            .iter()
            .all(|f| f.f0_hz.is_finite() && f.voiced_probability.is_finite())
    );

    let broken = vec![f32::NAN; 8000];
    let frames = track(&broken, rate, &PitchConfig::default());
    assert!(frames.iter().all(|f| f.f0_hz == 0.0));
}

#[test]
fn invalid_settings_are_refused() {
    let ok = PitchConfig::default();
    assert_eq!(ok.validate(8_000.0), Ok(()));
    let bad = [
        (PitchConfig { min_hz: 0.0, ..ok }, 48_000.0),
        (
            PitchConfig {
                min_hz: 500.0,
                max_hz: 400.0,
                ..ok
            },
            48_000.0,
        ),
        (
            PitchConfig {
                max_hz: f32::NAN,
                ..ok
            },
            48_000.0,
        ),
        (ok, 4_000.0),
        (
            PitchConfig {
                hop_seconds: 0.0,
                ..ok
            },
            48_000.0,
        ),
        (
            PitchConfig {
                lookahead_frames: 1000,
                ..ok
            },
            48_000.0,
        ),
        (
            PitchConfig {
                silence_db: f32::NAN,
                ..ok
            },
            48_000.0,
        ),
        (ok, f32::INFINITY),
    ];
    for (config, rate) in bad {
        assert!(config.validate(rate).is_err(), "{config:?} at {rate} Hz");
    }
}

#[test]
fn a_tracker_can_move_to_another_thread() {
    fn send<T: Send + 'static>(_: &T) {}
    let tracker = PitchTracker::new(48_000.0, PitchConfig::default());
    send(&tracker);
    let latency = std::thread::spawn(move || tracker.latency_frames())
        .join()
        .unwrap();
    assert_eq!(latency, 961 + 256);
}
