//! Tonal test material rendered by formula, with its notes known: harmonic tones with an attack,
//! an exponential decay, a release and optional vibrato. `models/scripts/basic_pitch_notes.py`
//! renders the same formula in Python, so both sides transcribe the same samples.

#![allow(dead_code)]

use std::f64::consts::TAU;

use serde::{Deserialize, Serialize};

/// Attack time in seconds (linear).
const ATTACK_S: f64 = 0.01;
/// Release time in seconds after a note's duration (linear).
const RELEASE_S: f64 = 0.05;

/// An instrument-like timbre.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Timbre {
    /// Amplitude of harmonic 1, 2, 3, ...
    pub harmonics: Vec<f64>,
    /// Time constant of the exponential decay, in seconds.
    pub decay_s: f64,
}

/// One rendered note.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SynthNote {
    /// MIDI pitch.
    pub pitch: u8,
    /// Start in seconds.
    pub start: f64,
    /// Duration in seconds (the release follows).
    pub dur: f64,
    /// Peak amplitude.
    pub amp: f64,
    /// Index into the timbres.
    pub timbre: usize,
    /// Vibrato depth in cents (0 = none).
    pub vibrato_cents: f64,
    /// Vibrato rate in Hz.
    pub vibrato_hz: f64,
}

/// `seconds` of mono audio at `rate` holding `notes`, computed in f64 and stored as f32.
pub fn render(notes: &[SynthNote], timbres: &[Timbre], rate: u32, seconds: f64) -> Vec<f32> {
    let len = (seconds * f64::from(rate)).round() as usize;
    let mut out = vec![0.0f64; len];
    let sr = f64::from(rate);
    for note in notes {
        let timbre = &timbres[note.timbre];
        let f0 = 440.0 * 2f64.powf((f64::from(note.pitch) - 69.0) / 12.0);
        let depth = 2f64.powf(note.vibrato_cents / 1200.0) - 1.0;
        let first = (note.start * sr).ceil() as usize;
        let last = (((note.start + note.dur + RELEASE_S) * sr).ceil() as usize).min(len);
        for (n, sample) in out.iter_mut().enumerate().take(last).skip(first) {
            let local = n as f64 / sr - note.start;
            let mut env = (local / ATTACK_S).min(1.0) * (-local / timbre.decay_s).exp();
            if local > note.dur {
                env *= (1.0 - (local - note.dur) / RELEASE_S).max(0.0);
            }
            let mut phase = TAU * f0 * local;
            if note.vibrato_hz > 0.0 {
                phase +=
                    f0 * depth / note.vibrato_hz * (1.0 - (TAU * note.vibrato_hz * local).cos());
            }
            let mut v = 0.0;
            for (h, &a) in timbre.harmonics.iter().enumerate() {
                let k = (h + 1) as f64;
                if k * f0 < 0.45 * sr {
                    v += a * (k * phase).sin();
                }
            }
            *sample += note.amp * env * v;
        }
    }
    out.into_iter().map(|v| v as f32).collect()
}
