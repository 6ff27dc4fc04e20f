//! The choice among each frame's candidates: a Viterbi search over pitch bins and an unvoiced
//! state, decided a fixed number of frames behind the newest one (fixed-lag smoothing).
//!
//! States are `bins` voiced pitch bins of [`CENTS_PER_BIN`] from the lowest pitch up, and one
//! unvoiced state. Scores are log-likelihoods plus log transition weights:
//!
//! - staying voiced and moving by up to [`MAX_GLIDE_BINS`] bins costs [`GLIDE_COST`] per bin
//!   (glides and vibrato are free in effect);
//! - moving further, to any bin, costs `ln JUMP_WEIGHT` (a new note: taken at once when the
//!   new pitch is clear, while a single frame's octave error costs two jumps and is not);
//! - switching between voiced and unvoiced costs `ln SWITCH_WEIGHT`.
//!
//! A voiced bin's observation is the probability mass of the frame's candidates in it (each
//! candidate shared linearly between its two nearest bins); the unvoiced state's is the
//! probability that the frame is unvoiced times [`UNVOICED_WEIGHT`].
//!
//! The decided frame's frequency is the exact frequency of the candidate nearest its bin (so the
//! bins' resolution does not limit precision), or of a candidate an octave away, moved by that
//! octave, when the path holds a pitch against an octave error; when no candidate is near, it is
//! the bin's centre.

use super::yin::Candidates;

/// Width of a pitch bin in cents.
const CENTS_PER_BIN: f32 = 20.0;
/// Largest move between consecutive frames that counts as a glide, in bins (240 cents per
/// frame, about 45 semitones per second at 5.3 ms hops).
const MAX_GLIDE_BINS: usize = 12;
/// Cost (negative log weight) of a glide, per bin moved.
const GLIDE_COST: f32 = 0.1;
/// Weight of a jump to any bin beyond a glide.
const JUMP_WEIGHT: f32 = 1e-3;
/// Weight of a switch between voiced and unvoiced.
const SWITCH_WEIGHT: f32 = 2e-3;
/// Scale of the unvoiced state's observation against the voiced bins': below 1 it takes less
/// than an even chance of periodicity to call a frame voiced.
const UNVOICED_WEIGHT: f32 = 0.03;
/// Smallest observation, so that no state becomes impossible.
const OBSERVATION_FLOOR: f32 = 1e-3;
/// A candidate within this many bins of the decided bin gives the frame its frequency.
const MATCH_BINS: f32 = 2.5;
/// Bins per octave.
const BINS_PER_OCTAVE: f32 = 1200.0 / CENTS_PER_BIN;

/// One decided frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Decision {
    /// Index of the frame in the stream.
    pub(super) frame: u64,
    /// Fundamental in Hz, 0 when unvoiced.
    pub(super) hz: f32,
    /// The frame's probability of being voiced (its candidates' total).
    pub(super) voiced_probability: f32,
}

/// The fixed-lag Viterbi search.
pub(super) struct PitchPath {
    /// log2 of the lowest bin's centre frequency.
    min_log2: f32,
    /// Number of voiced bins; the unvoiced state has index `bins`.
    bins: usize,
    /// Frames between the newest frame and the one decided.
    lookahead: usize,
    /// Score of each state after the newest frame.
    score: Vec<f32>,
    /// The scores being computed.
    next: Vec<f32>,
    /// Each state's observation log-likelihood in the newest frame.
    observation: Vec<f32>,
    /// Best predecessor of each state, for the last `lookahead + 1` frames (ring by frame).
    back: Vec<u16>,
    /// Candidates of the last `lookahead + 1` frames (ring by frame).
    history: Vec<Candidates>,
    /// The states of the undecided frames, filled when the stream ends.
    tail: Vec<u16>,
    /// Frames pushed since the start of the stream.
    frames: u64,
}

impl PitchPath {
    /// A search over pitches from `min_hz` to `max_hz` deciding each frame `lookahead` frames
    /// after it arrives.
    pub(super) fn new(min_hz: f32, max_hz: f32, lookahead: usize) -> Self {
        let bins = ((max_hz / min_hz).log2() * BINS_PER_OCTAVE).ceil() as usize + 1;
        assert!(bins < usize::from(u16::MAX), "pitch range too wide");
        let slots = lookahead + 1;
        Self {
            min_log2: min_hz.log2(),
            bins,
            lookahead,
            score: vec![0.0; bins + 1],
            next: vec![0.0; bins + 1],
            observation: vec![0.0; bins + 1],
            back: vec![0; slots * (bins + 1)],
            history: vec![Candidates::default(); slots],
            tail: vec![0; slots],
            frames: 0,
        }
    }

    /// Forgets the stream.
    pub(super) fn reset(&mut self) {
        self.score.fill(0.0);
        self.frames = 0;
    }

    /// Frames between the newest frame and the one decided.
    pub(super) fn lookahead(&self) -> usize {
        self.lookahead
    }

    /// Frames pushed since the start of the stream.
    pub(super) fn frames(&self) -> u64 {
        self.frames
    }

    /// Adds the next frame's candidates; returns the frame decided by it, if any.
    pub(super) fn push(&mut self, candidates: &Candidates) -> Option<Decision> {
        let slot = self.slot(self.frames);
        self.history[slot] = *candidates;
        self.observe(candidates);
        self.step(slot);
        self.frames += 1;
        let newest = self.frames - 1;
        let decided = newest.checked_sub(self.lookahead as u64)?;
        let mut state = self.best_state();
        for frame in (decided + 1..=newest).rev() {
            state = usize::from(self.back[self.slot(frame) * (self.bins + 1) + state]);
        }
        Some(self.decision(decided, state))
    }

    /// Decides the frames still waiting for their look-ahead (the stream has ended), in order.
    pub(super) fn finish(&mut self, mut emit: impl FnMut(Decision)) {
        let first = self.frames.saturating_sub(self.lookahead as u64);
        if first == self.frames {
            return;
        }
        let mut state = self.best_state();
        for frame in (first..self.frames).rev() {
            self.tail[(frame - first) as usize] = state as u16;
            state = usize::from(self.back[self.slot(frame) * (self.bins + 1) + state]);
        }
        for frame in first..self.frames {
            let state = usize::from(self.tail[(frame - first) as usize]);
            emit(self.decision(frame, state));
        }
    }

    fn slot(&self, frame: u64) -> usize {
        (frame % (self.lookahead as u64 + 1)) as usize
    }

    /// The continuous bin position of `hz`.
    fn position(&self, hz: f32) -> f32 {
        bin_position(hz, self.min_log2)
    }

    /// Fills `observation` from the frame's candidates.
    fn observe(&mut self, candidates: &Candidates) {
        let voiced = &mut self.observation[..self.bins];
        voiced.fill(0.0);
        let last = (self.bins - 1) as f32;
        for c in candidates.as_slice() {
            let position = bin_position(c.hz, self.min_log2).clamp(0.0, last);
            let low = position.floor();
            let frac = position - low;
            let low = low as usize;
            voiced[low] += c.probability * (1.0 - frac);
            if frac > 0.0 {
                voiced[low + 1] += c.probability * frac;
            }
        }
        // Only the few bins near a candidate need a logarithm.
        let floor = OBSERVATION_FLOOR.ln();
        for v in voiced.iter_mut() {
            *v = if *v > OBSERVATION_FLOOR {
                v.ln()
            } else {
                floor
            };
        }
        let unvoiced = (1.0 - candidates.voiced_probability()).max(OBSERVATION_FLOOR);
        self.observation[self.bins] = (unvoiced * UNVOICED_WEIGHT).ln();
    }

    /// One Viterbi step into ring slot `slot`.
    fn step(&mut self, slot: usize) {
        let bins = self.bins;
        let unvoiced = bins;
        let (best_voiced, best_bin) =
            self.score[..bins]
                .iter()
                .enumerate()
                .fold((f32::NEG_INFINITY, 0), |best, (i, &s)| {
                    if s > best.0 { (s, i) } else { best }
                });
        let jump = best_voiced + JUMP_WEIGHT.ln();
        let switch = SWITCH_WEIGHT.ln();
        let from_unvoiced = self.score[unvoiced] + switch;
        let back = &mut self.back[slot * (bins + 1)..(slot + 1) * (bins + 1)];
        let voiced = self.next[..bins].iter_mut().zip(&mut back[..bins]);
        for (bin, (next, back)) in voiced.enumerate() {
            let (mut best, mut from) = if jump >= from_unvoiced {
                (jump, best_bin)
            } else {
                (from_unvoiced, unvoiced)
            };
            let low = bin.saturating_sub(MAX_GLIDE_BINS);
            let high = (bin + MAX_GLIDE_BINS).min(bins - 1);
            for prev in low..=high {
                let s = self.score[prev] - GLIDE_COST * prev.abs_diff(bin) as f32;
                if s > best {
                    best = s;
                    from = prev;
                }
            }
            *next = best + self.observation[bin];
            *back = from as u16;
        }
        let (best, from) = if self.score[unvoiced] >= best_voiced + switch {
            (self.score[unvoiced], unvoiced)
        } else {
            (best_voiced + switch, best_bin)
        };
        self.next[unvoiced] = best + self.observation[unvoiced];
        back[unvoiced] = from as u16;
        // Keep the scores near 0 so that f32 keeps its precision over long streams.
        let top = self.next.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
        for (score, next) in self.score.iter_mut().zip(&self.next) {
            *score = next - top;
        }
    }

    /// The state with the highest score (the first of equals).
    fn best_state(&self) -> usize {
        self.score
            .iter()
            .enumerate()
            .fold((f32::NEG_INFINITY, 0), |best, (i, &s)| {
                if s > best.0 { (s, i) } else { best }
            })
            .1
    }

    /// The frame `frame` (still in the ring) decided in `state`.
    fn decision(&self, frame: u64, state: usize) -> Decision {
        let candidates = &self.history[self.slot(frame)];
        let voiced_probability = candidates.voiced_probability();
        let hz = if state == self.bins {
            0.0
        } else {
            self.frequency(candidates, state as f32)
        };
        Decision {
            frame,
            hz,
            voiced_probability,
        }
    }

    /// The frequency of a frame decided in bin `bin`.
    fn frequency(&self, candidates: &Candidates, bin: f32) -> f32 {
        let mut best: Option<(f32, f32)> = None;
        for c in candidates.as_slice() {
            let position = self.position(c.hz);
            for (octave, factor) in [(0.0, 1.0), (BINS_PER_OCTAVE, 0.5), (-BINS_PER_OCTAVE, 2.0)] {
                // A penalty of one bin for the octave moves: the candidate itself wins ties.
                let distance =
                    (position - octave - bin).abs() + if octave == 0.0 { 0.0 } else { 1.0 };
                if distance <= MATCH_BINS && best.is_none_or(|b| distance < b.0) {
                    best = Some((distance, c.hz * factor));
                }
            }
        }
        best.map_or_else(|| (self.min_log2 + bin / BINS_PER_OCTAVE).exp2(), |b| b.1)
    }
}

/// The continuous bin position of `hz` when bin 0 is centred on `2^min_log2` Hz.
fn bin_position(hz: f32, min_log2: f32) -> f32 {
    (hz.log2() - min_log2) * BINS_PER_OCTAVE
}
