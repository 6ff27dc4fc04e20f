//! The voice converter allocates nothing after `new`: a counting allocator watches `process`
//! and `set_settings` over random block sizes, silence, NaN and parameter changes (transpose
//! included).

#[path = "../src/voice/synth.rs"]
mod synth;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use mixsmith_core::voice::{ConvertSettings, VoiceConverter, learn};
use synth::{Timbre, VOWEL_A, VOWEL_I, render};

thread_local! {
    /// Allocations made by this thread while counting is on; `None` when off.
    static COUNT: Cell<Option<u64>> = const { Cell::new(None) };
}

struct Counting;

impl Counting {
    fn count() {
        // `try_with`: the thread-local may be gone while the thread shuts down.
        let _ = COUNT.try_with(|c| c.set(c.get().map(|n| n + 1)));
    }
}

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn process_and_set_settings_do_not_allocate() {
    let rate = 48_000.0;
    let reference = render(|_| 140.0, &Timbre::vowel(VOWEL_A), 48_000.0, 3.0);
    let profile = learn(&reference, rate).unwrap();
    let mut input = render(|_| 230.0, &Timbre::vowel(VOWEL_I), 48_000.0, 2.0);
    input.extend(std::iter::repeat_n(0.0, 20_000));
    input[1234] = f32::NAN;
    let mut output = vec![0.0; input.len()];
    let mut converter = VoiceConverter::new(&profile, rate, ConvertSettings::default());

    COUNT.with(|c| c.set(Some(0)));
    let mut at = 0;
    let mut step = 0usize;
    while at < input.len() {
        step += 1;
        let block = (step * 7919 % 1500 + 1).min(input.len() - at);
        if step.is_multiple_of(50) {
            converter.set_settings(ConvertSettings {
                amount: (step % 3) as f32 / 2.0,
                formant_semitones: (step % 7) as f32 - 3.0,
                protect: 0.25,
                // Through 0, so the transpose's phases also glide back to the untouched path.
                transpose_semitones: ((step % 5) as f32 - 2.0) * 6.0,
            });
        }
        converter.process(&input[at..at + block], &mut output[at..at + block]);
        at += block;
    }
    converter.reset();
    let allocations = COUNT.with(|c| c.replace(None)).unwrap();
    assert_eq!(
        allocations, 0,
        "allocations in process / set_settings / reset"
    );
    assert!(output.iter().all(|v| v.is_finite()));
}
