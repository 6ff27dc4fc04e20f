//! Note creation: the reference decoder of basic-pitch 0.4.0 (`note_creation.py`,
//! `output_to_notes_polyphonic`), step for step and in the same (`f64`) arithmetic, so the same
//! activations give the same notes.
//!
//! 1. Onsets are also inferred from frame differences: the smaller of the rises over one and two
//!    frames, scaled to the onset output's maximum; the larger of the two onset values counts.
//! 2. Every local maximum in time of the onsets at or above the onset threshold starts a note,
//!    latest first; the note lasts while the note activation stays at or above the frame
//!    threshold (allowing 10 frames below it), must be longer than the minimum length, and
//!    removes its energy (and its neighbours') from the remaining energy.
//! 3. The second pass grows notes from the largest remaining energy, forwards and backwards,
//!    until nothing above the frame threshold is left.

use super::model::{Activations, NOTE_BINS};

/// The lowest note of the model (A0).
pub const MIDI_OFFSET: u8 = 21;
/// Frames a note may stay below the frame threshold before it ends.
const ENERGY_TOLERANCE: usize = 11;
/// Frames over which frame differences infer onsets.
const ONSET_DIFF_FRAMES: usize = 2;

/// A note in model frames, before times and pitch bends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FrameNote {
    /// First frame.
    pub start: usize,
    /// Frame after the last.
    pub end: usize,
    /// MIDI note number.
    pub pitch: u8,
    /// Mean note activation over the note, 0..1.
    pub amplitude: f64,
}

/// The note-creation thresholds, already converted to frames.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Thresholds {
    /// Minimum onset activation.
    pub onset: f64,
    /// Minimum note activation for a note to stay on.
    pub frame: f64,
    /// Notes must be longer than this many frames.
    pub min_frames: usize,
}

/// Decodes notes from activations, in the reference's order (onset notes latest first, then the
/// second pass's notes).
pub(crate) fn decode(act: &Activations, th: Thresholds) -> Vec<FrameNote> {
    let n = act.frames();
    if n == 0 {
        return Vec::new();
    }
    let frames = act.note();
    let mut remaining: Vec<f64> = frames.iter().map(|&v| f64::from(v)).collect();
    let mut notes = Vec::new();

    if let Some(onsets) = inferred_onsets(act) {
        for (start, bin) in onset_peaks(&onsets, n, th.onset).into_iter().rev() {
            if start >= n - 1 {
                continue;
            }
            let mut i = start + 1;
            let mut below = 0;
            while i < n - 1 && below < ENERGY_TOLERANCE {
                if remaining[i * NOTE_BINS + bin] < th.frame {
                    below += 1;
                } else {
                    below = 0;
                }
                i += 1;
            }
            let end = i - below;
            if end - start <= th.min_frames {
                continue;
            }
            for t in start..end {
                clear_with_neighbours(&mut remaining, t, bin);
            }
            notes.push(frame_note(frames, start, end, bin));
        }
    }

    second_pass(frames, &mut remaining, n, th, &mut notes);
    notes
}

/// The onsets with the frame-difference onsets merged in, or `None` when the note activations
/// never rise (the reference then divides zero by zero and every onset is NaN: no onset notes).
fn inferred_onsets(act: &Activations) -> Option<Vec<f64>> {
    let n = act.frames();
    let frames = act.note();
    let mut diff = vec![0.0f64; n * NOTE_BINS];
    for t in ONSET_DIFF_FRAMES..n {
        for bin in 0..NOTE_BINS {
            let now = f64::from(frames[t * NOTE_BINS + bin]);
            let rise = (1..=ONSET_DIFF_FRAMES)
                .map(|d| now - f64::from(frames[(t - d) * NOTE_BINS + bin]))
                .fold(f64::INFINITY, f64::min);
            diff[t * NOTE_BINS + bin] = rise.max(0.0);
        }
    }
    let max_diff = diff.iter().copied().fold(0.0, f64::max);
    if max_diff <= 0.0 {
        return None;
    }
    let max_onset = f64::from(act.onset().iter().copied().fold(f32::MIN, f32::max));
    Some(
        act.onset()
            .iter()
            .zip(&diff)
            .map(|(&o, &d)| f64::from(o).max(max_onset * d / max_diff))
            .collect(),
    )
}

/// `(frame, bin)` of every strict local maximum in time at or above `threshold`, in row-major
/// order (the reference's `argrelmax` along time, whose edges are never maxima).
fn onset_peaks(onsets: &[f64], n: usize, threshold: f64) -> Vec<(usize, usize)> {
    let mut peaks = Vec::new();
    for t in 1..n.saturating_sub(1) {
        for bin in 0..NOTE_BINS {
            let v = onsets[t * NOTE_BINS + bin];
            if v > onsets[(t - 1) * NOTE_BINS + bin]
                && v > onsets[(t + 1) * NOTE_BINS + bin]
                && v >= threshold
            {
                peaks.push((t, bin));
            }
        }
    }
    peaks
}

/// The second pass ("melodia trick"): while any remaining energy exceeds the frame threshold,
/// grow a note from its maximum (the first in row-major order among equals).
///
/// The reference searches the whole matrix for each maximum; energy only ever drops to zero, so
/// visiting the candidates once in (value descending, position ascending) order and skipping
/// those already cleared finds the same maxima in the same order.
fn second_pass(
    frames: &[f32],
    remaining: &mut [f64],
    n: usize,
    th: Thresholds,
    notes: &mut Vec<FrameNote>,
) {
    let mut candidates: Vec<usize> = (0..remaining.len())
        .filter(|&i| remaining[i] > th.frame)
        .collect();
    candidates.sort_by(|&a, &b| remaining[b].total_cmp(&remaining[a]).then(a.cmp(&b)));
    for idx in candidates {
        if remaining[idx] == 0.0 {
            continue;
        }
        let (mid, bin) = (idx / NOTE_BINS, idx % NOTE_BINS);
        remaining[idx] = 0.0;

        let mut i = mid + 1;
        let mut below = 0;
        while i < n - 1 && below < ENERGY_TOLERANCE {
            below = if remaining[i * NOTE_BINS + bin] < th.frame {
                below + 1
            } else {
                0
            };
            clear_with_neighbours(remaining, i, bin);
            i += 1;
        }
        let end = i as isize - 1 - below as isize;

        let mut i = mid as isize - 1;
        let mut below = 0;
        while i > 0 && below < ENERGY_TOLERANCE {
            let t = i as usize;
            below = if remaining[t * NOTE_BINS + bin] < th.frame {
                below + 1
            } else {
                0
            };
            clear_with_neighbours(remaining, t, bin);
            i -= 1;
        }
        let start = i + 1 + below as isize;

        if end - start <= th.min_frames as isize {
            continue;
        }
        notes.push(frame_note(frames, start as usize, end as usize, bin));
    }
}

fn clear_with_neighbours(remaining: &mut [f64], t: usize, bin: usize) {
    let row = &mut remaining[t * NOTE_BINS..(t + 1) * NOTE_BINS];
    row[bin] = 0.0;
    if bin + 1 < NOTE_BINS {
        row[bin + 1] = 0.0;
    }
    if bin > 0 {
        row[bin - 1] = 0.0;
    }
}

fn frame_note(frames: &[f32], start: usize, end: usize, bin: usize) -> FrameNote {
    let sum: f64 = (start..end)
        .map(|t| f64::from(frames[t * NOTE_BINS + bin]))
        .sum();
    FrameNote {
        start,
        end,
        pitch: MIDI_OFFSET + bin as u8,
        amplitude: sum / (end - start) as f64,
    }
}
