//! Keeping subnormal numbers out of the signal.
//!
//! Subnormal floats (magnitudes below `f32::MIN_POSITIVE`, about 1.2e-38, and not zero) take a
//! slow path on many CPUs, so a decaying tail that reaches them costs the host and every plugin
//! after this one dearly. Two measures keep them out:
//!
//! - [`flush_subnormals`] replaces every subnormal sample of a buffer with zero. It runs where
//!   samples leave the plugin, because copied samples (the delayed dry signal, a bypass) never
//!   pass through an arithmetic instruction that the CPU's flush modes would catch;
//! - [`flush_denormals_on_this_thread`] makes the CPU treat subnormal inputs as zero and flush
//!   subnormal results to zero on the calling thread, for the worker threads that compute the
//!   audio the plugin plays.

/// The exponent bits of an `f32`: all zero for zero and for subnormal numbers.
const EXPONENT_MASK: u32 = 0x7f80_0000;

/// The sign bit of an `f32`.
const SIGN_MASK: u32 = 0x8000_0000;

/// Replaces every subnormal sample in `samples` with a zero of the same sign. Normal numbers,
/// zeros, infinities and NaN are left as they are. Branch-free and allocation-free, so the
/// compiler vectorises it; safe on the audio thread.
pub fn flush_subnormals(samples: &mut [f32]) {
    for sample in samples.iter_mut() {
        let bits = sample.to_bits();
        // Zero exponent: keep only the sign (a zero or a subnormal becomes a signed zero).
        let keep = if bits & EXPONENT_MASK == 0 {
            SIGN_MASK
        } else {
            u32::MAX
        };
        *sample = f32::from_bits(bits & keep);
    }
}

/// Sets flush-to-zero (FTZ: subnormal results become zero) and denormals-are-zero (DAZ:
/// subnormal inputs are read as zero) for the rest of the calling thread's life. Meant for the
/// threads this crate starts for audio work, never for a thread borrowed from a host, whose
/// floating-point mode belongs to the host.
///
/// On x86_64 this sets the two bits in MXCSR, which governs every `f32`/`f64` operation there.
/// Other architectures are left as they are: their outputs are still flushed by
/// [`flush_subnormals`].
pub(crate) fn flush_denormals_on_this_thread() {
    #[cfg(target_arch = "x86_64")]
    {
        /// MXCSR bit 15: flush to zero.
        const FTZ: u32 = 1 << 15;
        /// MXCSR bit 6: denormals are zero.
        const DAZ: u32 = 1 << 6;
        let mut mxcsr: u32 = 0;
        // SAFETY: `stmxcsr` stores the 32-bit MXCSR register to the address given, which is a
        // live, aligned `u32` on this stack frame; `ldmxcsr` loads it back with two control bits
        // set. FTZ and DAZ are valid on every x86_64 CPU (SSE2 is part of the base ISA) and only
        // change how this thread rounds subnormal values; no memory other than `mxcsr` is touched.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut mxcsr, options(nostack));
            mxcsr |= FTZ | DAZ;
            std::arch::asm!("ldmxcsr [{}]", in(reg) &mxcsr, options(nostack, readonly));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::hint::black_box;

    use super::*;

    #[test]
    fn subnormal_samples_come_out_as_zero_and_the_rest_unchanged() {
        let smallest = f32::from_bits(1);
        let largest_subnormal = f32::from_bits(!(EXPONENT_MASK | SIGN_MASK));
        let subnormal = [smallest, -smallest, largest_subnormal, -largest_subnormal];
        let others = [
            f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE,
            0.5,
            -1.0,
            0.0,
            -0.0,
            f32::INFINITY,
        ];
        assert!(subnormal.iter().all(|s| s.is_subnormal()));
        let mut samples: Vec<f32> = subnormal.iter().chain(&others).copied().collect();
        flush_subnormals(&mut samples);
        assert_eq!(samples[..4], [0.0; 4]);
        assert!(samples[0].is_sign_positive() && samples[1].is_sign_negative());
        assert_eq!(samples[4..], others);
        assert!(samples.iter().all(|s| !s.is_subnormal()));

        let mut nan = [f32::NAN];
        flush_subnormals(&mut nan);
        assert!(nan[0].is_nan(), "NaN is not this function's business");
    }

    /// `MIN_POSITIVE / 4` and `subnormal + 0` as the CPU computes them on this thread.
    fn subnormal_arithmetic() -> (f32, f32) {
        let result = black_box(f32::MIN_POSITIVE) / black_box(4.0);
        let input = black_box(f32::from_bits(1)) + black_box(0.0);
        (result, input)
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_thread_flushes_subnormal_results_and_inputs_once_set() {
        std::thread::spawn(|| {
            let (result, input) = subnormal_arithmetic();
            assert!(
                result.is_subnormal() && input.is_subnormal(),
                "IEEE default"
            );
            flush_denormals_on_this_thread();
            assert_eq!(subnormal_arithmetic(), (0.0, 0.0), "FTZ and DAZ");
        })
        .join()
        .unwrap();
    }
}
