//! Pitch bends from the contour output and frame times, as basic-pitch 0.4.0 computes them
//! (`get_pitch_bends`, `model_frames_to_time`, `drop_overlapping_pitch_bends`).

use super::model::{Activations, CONTOUR_BINS};
use super::notes::MIDI_OFFSET;
use crate::inference::basic_pitch;

/// Contour bins searched on each side of a note's own bin.
const BEND_RANGE: usize = 25;
/// Standard deviation, in contour bins, of the Gaussian that favours bins near the note.
const BEND_STD: f64 = 5.0;
/// Contour bins per semitone.
pub const BINS_PER_SEMITONE: i32 = 3;

/// One pitch bend per frame of a note `[start, end)` of `pitch`, in thirds of a semitone: the
/// contour's strongest bin near the note (weighted by a Gaussian around it), relative to the
/// note's own bin.
pub(crate) fn pitch_bends(act: &Activations, start: usize, end: usize, pitch: u8) -> Vec<i32> {
    let hz = 440.0 * 2f64.powf((f64::from(pitch) - 69.0) / 12.0);
    let centre = (12.0 * f64::from(BINS_PER_SEMITONE) * (hz / 27.5).log2()).round() as i64;
    debug_assert_eq!(centre, 3 * i64::from(pitch - MIDI_OFFSET));
    let centre = centre as usize;
    let lo = centre.saturating_sub(BEND_RANGE);
    let hi = (centre + BEND_RANGE + 1).min(CONTOUR_BINS);
    let weight = |bin: usize| {
        let x = bin as f64 - centre as f64;
        (-(x * x) / (2.0 * BEND_STD * BEND_STD)).exp()
    };
    let weights: Vec<f64> = (lo..hi).map(weight).collect();
    (start..end)
        .map(|t| {
            let row = &act.contour()[t * CONTOUR_BINS + lo..t * CONTOUR_BINS + hi];
            let mut best = 0;
            let mut best_value = f64::NEG_INFINITY;
            for (j, (&c, &w)) in row.iter().zip(&weights).enumerate() {
                let v = f64::from(c) * w;
                if v > best_value {
                    best = j;
                    best_value = v;
                }
            }
            (lo + best) as i32 - centre as i32
        })
        .collect()
}

/// The time in seconds the reference gives frame `frame`: the frame's hop time, less a
/// correction per 172-frame window (the windows advance by slightly less than 172 frames).
pub fn frame_time(frame: usize) -> f64 {
    let hop = f64::from(basic_pitch::HOP);
    let rate = f64::from(basic_pitch::SAMPLE_RATE);
    let window_frames = basic_pitch::FRAMES as f64;
    // The reference's own constant ("needed for this to align properly").
    let window_offset =
        (hop / rate) * (window_frames - (basic_pitch::WINDOW as f64 / hop)) + 0.0018;
    let window_number = (frame as f64 / window_frames).floor();
    (frame as f64 * hop) / rate - window_offset * window_number
}

/// MIDI pitch-bend value (-8192..=8191, ±2 semitones) of a bend in thirds of a semitone.
pub fn bend_to_midi(bend: i32) -> i16 {
    let ticks = (f64::from(bend) * 4096.0 / f64::from(BINS_PER_SEMITONE)).round();
    ticks.clamp(-8192.0, 8191.0) as i16
}
