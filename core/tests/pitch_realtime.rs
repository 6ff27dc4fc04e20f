//! `PitchTracker::process`, `finish` and `reset` make no heap allocation, whatever the block
//! size: the voice converter calls them on a plugin's audio thread.

#[path = "../src/voice/synth.rs"]
mod synth;

use std::cell::Cell;

use mixsmith_core::voice::{PitchConfig, PitchTracker};
use synth::{Timbre, VOWEL_A, render};

thread_local! {
    /// Whether this thread's allocations are being counted.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    /// Allocations this thread made while counting.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// Counts the allocations of the threads that ask for it (the test harness runs tests on several
/// threads; only the one under test counts).
struct CountingAlloc;

fn count() {
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// The allocations `f` makes on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    f();
    COUNTING.with(|on| on.set(false));
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn streaming_does_not_allocate() {
    for rate in [44_100.0f32, 48_000.0, 16_000.0] {
        // Voice, silence, NaN and noise-like clipping, so that every path of the analysis runs.
        let mut signal = render(
            |t| if t < 0.8 { 180.0 } else { 0.0 },
            &Timbre::vowel(VOWEL_A),
            f64::from(rate),
            1.2,
        );
        signal.extend([f32::NAN, f32::INFINITY, 1e9, -1e9]);
        let mut tracker = PitchTracker::new(rate, PitchConfig::default());
        let mut voiced = 0usize;
        let mut frames = 0usize;
        let made = allocations(|| {
            let mut emit = |f: mixsmith_core::voice::PitchFrame| {
                frames += 1;
                voiced += usize::from(f.f0_hz > 0.0);
            };
            for block in [1usize, 64, 128, 333, 512, 4096] {
                for chunk in signal.chunks(block) {
                    tracker.process(chunk, &mut emit);
                }
                tracker.finish(&mut emit);
            }
            tracker.process(&signal[..2000], &mut emit);
            tracker.reset();
        });
        assert_eq!(made, 0, "{rate} Hz: {made} allocations");
        // The tracker did its work meanwhile: six passes of frames, each two-thirds voiced.
        let per_pass = signal.len().div_ceil(tracker.hop_frames());
        assert_eq!(
            frames,
            6 * per_pass + (2000 - tracker.latency_frames()) / tracker.hop_frames() + 1
        );
        assert!(voiced > 6 * per_pass / 2, "{voiced} of {frames}");
    }
}
