//! The F0 tracker (`voice::PitchTracker`, behind `mixsmith voice pitch` and the voice
//! converter) on 30 s of a generated voice-like melody at 48 kHz, against a baseline measured in
//! the same run: plain YIN (de Cheveigné & Kawahara 2002) per frame, its difference function
//! summed in the time domain, one threshold, no tracking, same frames and hop.
//!
//! Prints the real-time factor of both, the tracker's cost per 128- and 512-frame block of a
//! stream, the heap allocations made while streaming (should be 0: it runs on audio threads), and
//! the accuracy of both against the melody's known F0: RMSE in cents over the frames both the
//! truth and the estimate call voiced, gross errors (more than 50 cents off) and voicing errors.

mod common;
#[path = "../src/voice/synth.rs"]
mod synth;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;
use mixsmith_core::voice::{PitchConfig, PitchFrame, PitchTracker, track};
use synth::{Timbre, VOWEL_A, VOWEL_I, VOWEL_U, cents, midi_hz, render};

/// Counts allocations so the bench can show that streaming does not allocate.
struct CountingAlloc;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

const RATE: f64 = 48_000.0;
const SECONDS: f64 = 30.0;
/// Each vowel sings a third of the melody.
const VOWELS: [&[(f64, f64)]; 3] = [VOWEL_A, VOWEL_I, VOWEL_U];

/// A melody of `(start s, MIDI note)` with rests (`None`), notes of 120–480 ms in a singer's
/// range (MIDI 45–76, A2–E5) moving by steps and leaps of up to an octave, deterministic.
fn melody() -> Vec<(f64, Option<f64>)> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut notes = Vec::new();
    let (mut t, mut note) = (0.1, 60.0);
    while t < SECONDS {
        let rest = next() < 0.12;
        if !rest {
            let step = [-12.0, -7.0, -5.0, -2.0, -1.0, 1.0, 2.0, 3.0, 5.0, 7.0, 12.0]
                [(next() * 11.0) as usize];
            note = f64::clamp(note + step, 45.0, 76.0);
        }
        notes.push((t, (!rest).then_some(note)));
        t += 0.12 + 0.36 * next();
    }
    notes
}

/// The melody's F0 at `t` (0 in rests), with a 5.5 Hz vibrato of ±40 cents that grows in after
/// 150 ms of a note.
fn f0_at(notes: &[(f64, Option<f64>)], t: f64) -> f64 {
    let i = notes.partition_point(|n| n.0 <= t);
    let Some(&(start, Some(note))) = i.checked_sub(1).map(|i| &notes[i]) else {
        return 0.0;
    };
    let depth = 40.0 * ((t - start - 0.15) / 0.2).clamp(0.0, 1.0);
    midi_hz(note) * (depth / 1200.0 * (std::f64::consts::TAU * 5.5 * (t - start)).sin()).exp2()
}

/// Plain YIN on the frame centred on each hop: difference over `max_lag` samples, CMNDF,
/// absolute threshold 0.1 (else the global minimum, as unvoiced), parabolic interpolation.
fn plain_yin(signal: &[f32], rate: f32, config: &PitchConfig, hop: usize) -> Vec<f32> {
    let min_lag = (rate / config.max_hz) as usize;
    let max_lag = (rate / config.min_hz).ceil() as usize + 1;
    let window = max_lag;
    let mut padded = vec![0.0f32; window + signal.len() + 2 * max_lag];
    padded[window..window + signal.len()].copy_from_slice(signal);
    let mut diff = vec![0.0f32; max_lag + 2];
    let mut out = Vec::with_capacity(signal.len() / hop + 1);
    for centre in (0..signal.len()).step_by(hop) {
        // Frame [centre - window, centre + window) in signal samples.
        let frame = &padded[centre..centre + 2 * window + 2];
        let mut running = 0.0f32;
        diff[0] = 1.0;
        for lag in 1..=max_lag + 1 {
            let d: f32 = (0..window)
                .map(|j| (frame[j] - frame[j + lag]).powi(2))
                .sum();
            running += d;
            diff[lag] = if running > 0.0 {
                d * lag as f32 / running
            } else {
                1.0
            };
        }
        let dip = (min_lag..=max_lag).find(|&l| diff[l] < 0.1 && diff[l] <= diff[l + 1]);
        out.push(dip.map_or(0.0, |l| {
            let (a, b, c) = (diff[l - 1], diff[l], diff[l + 1]);
            let curvature = a - 2.0 * b + c;
            let shift = if curvature > 0.0 {
                0.5 * (a - c) / curvature
            } else {
                0.0
            };
            rate / (l as f32 + shift)
        }));
    }
    out
}

/// RMSE in cents over frames voiced in both, the share of those more than 50 cents off, and the
/// share of all frames whose voicing is wrong (truth sampled at each frame's time).
fn accuracy(estimates: &[(f64, f32)], truth: impl Fn(f64) -> f64) -> (f64, f64, f64) {
    let (mut sum, mut both, mut gross, mut voicing) = (0.0, 0usize, 0usize, 0usize);
    for &(t, f0) in estimates {
        let expected = truth(t);
        if (expected > 0.0) != (f0 > 0.0) {
            voicing += 1;
        } else if expected > 0.0 {
            let c = cents(f64::from(f0), expected);
            both += 1;
            if c.abs() > 50.0 {
                gross += 1;
            } else {
                sum += c * c;
            }
        }
    }
    let fine = (both - gross).max(1) as f64;
    (
        (sum / fine).sqrt(),
        gross as f64 / both.max(1) as f64,
        voicing as f64 / estimates.len().max(1) as f64,
    )
}

/// Mean wall time of `process` per block when streaming `signal` in `block`-frame blocks, and the
/// allocations made meanwhile (after the tracker is built).
fn per_block(signal: &[f32], rate: f32, block: usize) -> (Duration, u64) {
    let mut tracker = PitchTracker::new(rate, PitchConfig::default());
    let mut last = PitchFrame {
        time: 0.0,
        f0_hz: 0.0,
        voiced_probability: 0.0,
    };
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let start = Instant::now();
    for chunk in signal.chunks(block) {
        tracker.process(chunk, &mut |f| last = f);
    }
    tracker.finish(&mut |f| last = f);
    let elapsed = start.elapsed();
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    std::hint::black_box(last);
    (elapsed / signal.len().div_ceil(block) as u32, allocations)
}

fn main() {
    let notes = melody();
    let third = SECONDS / 3.0;
    let mut signal = Vec::new();
    for (i, vowel) in VOWELS.iter().enumerate() {
        let offset = i as f64 * third;
        let part = render(
            |t| f0_at(&notes, t + offset),
            &Timbre::vowel(vowel),
            RATE,
            third,
        );
        signal.extend(part);
    }
    let rate = RATE as f32;
    let config = PitchConfig::default();
    let tracker = PitchTracker::new(rate, config);
    println!(
        "{SECONDS} s of a voice-like melody ({} notes and rests, MIDI 45–76, leaps up to an \
         octave, vibrato) at {RATE} Hz; hop {} samples, latency {} samples ({:.1} ms)",
        notes.len(),
        tracker.hop_frames(),
        tracker.latency_frames(),
        tracker.latency_frames() as f64 / RATE * 1e3
    );

    for block in [128, 512] {
        let (cost, allocations) = per_block(&signal, rate, block);
        println!(
            "process() per {block}-frame block: {:.2} µs mean ({:.3} % of the block's {:.2} ms), \
             {allocations} allocations while streaming",
            cost.as_secs_f64() * 1e6,
            cost.as_secs_f64() / (block as f64 / RATE) * 100.0,
            block as f64 / RATE * 1e3
        );
    }

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10))
        .configure_from_args();
    c.bench_function("pitch_track_30s_48k", |b| {
        b.iter(|| track(&signal, rate, &config))
    });
    c.final_summary();

    let mut frames = Vec::new();
    let ours = common::best_of(3, || frames = track(&signal, rate, &config));
    let mut plain = Vec::new();
    let baseline = common::best_of(3, || {
        plain = plain_yin(&signal, rate, &config, tracker.hop_frames())
    });
    let rtf = |d: Duration| d.as_secs_f64() / SECONDS;
    println!(
        "\ntracker: {:.3} s for {SECONDS} s, real-time factor {:.5} ({:.0} x real time)\n\
         plain time-domain YIN (baseline): {:.3} s, real-time factor {:.5}; the tracker takes \
         {:.3} of its time",
        ours.as_secs_f64(),
        rtf(ours),
        1.0 / rtf(ours),
        baseline.as_secs_f64(),
        rtf(baseline),
        ours.as_secs_f64() / baseline.as_secs_f64()
    );

    let truth = |t: f64| f0_at(&notes, t);
    let ours: Vec<(f64, f32)> = frames.iter().map(|f| (f.time, f.f0_hz)).collect();
    let hop_s = tracker.hop_frames() as f64 / RATE;
    let plain: Vec<(f64, f32)> = plain
        .iter()
        .enumerate()
        .map(|(i, &f)| (i as f64 * hop_s, f))
        .collect();
    for (name, estimates) in [("tracker", &ours), ("plain YIN", &plain)] {
        let (rmse, gross, voicing) = accuracy(estimates, truth);
        println!(
            "{name:<10} RMSE {rmse:.2} cents, gross errors {:.2} %, voicing errors {:.2} %",
            gross * 100.0,
            voicing * 100.0
        );
    }
}
