//! The rebalanced mix: the stems summed at their gains, with click-free gain changes, and the
//! level meters the editor shows.

use mixsmith_core::separate::STEMS;
use nice_plug::prelude::AtomicF32;
use std::sync::atomic::Ordering;

/// How long a gain change takes to settle (to 1/e), in seconds: fast enough to feel immediate,
/// slow enough not to click.
const GAIN_TIME_S: f32 = 0.005;

/// The level the meters rest at, in dBFS.
pub const METER_FLOOR_DB: f32 = -90.0;

/// Peak levels of the last block, per stem (in [`mixsmith_core::separate::Stem::ALL`] order)
/// and of the rebalanced mix, in dBFS. Written by the audio thread, read by the editor.
#[derive(Debug)]
pub struct StemMeters {
    /// Per stem.
    pub stems: [AtomicF32; STEMS],
    /// The rebalanced mix.
    pub mix: AtomicF32,
}

impl Default for StemMeters {
    fn default() -> Self {
        Self {
            stems: std::array::from_fn(|_| AtomicF32::new(METER_FLOOR_DB)),
            mix: AtomicF32::new(METER_FLOOR_DB),
        }
    }
}

/// The peak of `samples` in dBFS, floored at [`METER_FLOOR_DB`].
pub fn peak_db<'a>(channels: impl IntoIterator<Item = &'a [f32]>) -> f32 {
    let peak = channels
        .into_iter()
        .flat_map(|c| c.iter())
        .fold(0.0f32, |peak, s| peak.max(s.abs()));
    (20.0 * peak.max(1e-9).log10()).max(METER_FLOOR_DB)
}

/// Sums stems at smoothed gains. Allocation-free.
#[derive(Debug, Clone)]
pub struct StemMixer {
    /// The gains now, per stem.
    current: [f32; STEMS],
    /// The per-sample smoothing factor.
    coefficient: f32,
}

impl StemMixer {
    /// A mixer at `sample_rate` Hz, starting at `gains`.
    pub fn new(sample_rate: f32, gains: [f32; STEMS]) -> Self {
        Self {
            current: gains,
            coefficient: 1.0 - (-1.0 / (GAIN_TIME_S * sample_rate.max(1.0))).exp(),
        }
    }

    /// Jumps to `gains` (after a reset, when there is nothing to smooth from).
    pub fn set(&mut self, gains: [f32; STEMS]) {
        self.current = gains;
    }

    /// Writes `Σ gain_s · stem_s(c)` to `out[c]`, the gains moving towards `targets`.
    /// `stem(s, c)` gives stem `s`'s channel `c`, as long as `out[c]`.
    pub fn mix<'a>(
        &mut self,
        targets: [f32; STEMS],
        stem: impl Fn(usize, usize) -> &'a [f32],
        out: &mut [&mut [f32]],
    ) {
        let frames = out.first().map_or(0, |c| c.len());
        let start = self.current;
        for (channel, samples) in out.iter_mut().enumerate() {
            let inputs: [&[f32]; STEMS] = std::array::from_fn(|s| stem(s, channel));
            let mut gains = start;
            for (frame, sample) in samples.iter_mut().enumerate().take(frames) {
                let mut sum = 0.0;
                for s in 0..STEMS {
                    gains[s] += (targets[s] - gains[s]) * self.coefficient;
                    sum += gains[s] * inputs[s][frame];
                }
                *sample = sum;
            }
            self.current = gains;
        }
        // Settled gains snap to their target, so a steady mix is exact.
        for (gain, target) in self.current.iter_mut().zip(targets) {
            if (*gain - target).abs() < 1e-6 {
                *gain = target;
            }
        }
    }
}

/// Publishes `value` to `meter` (relaxed: meters need no ordering).
pub fn publish(meter: &AtomicF32, value: f32) {
    meter.store(value, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_steady_gains_the_mix_is_the_weighted_sum_exactly() {
        let stems: Vec<Vec<f32>> = (0..STEMS)
            .map(|s| (0..64).map(|i| (i * (s + 1)) as f32 * 0.01).collect())
            .collect();
        let gains = [1.0, 0.5, 0.0, 2.0];
        let mut mixer = StemMixer::new(48_000.0, gains);
        let mut out = vec![0.0; 64];
        mixer.mix(gains, |s, _| &stems[s], &mut [&mut out]);
        for (i, sample) in out.iter().enumerate() {
            let expected: f32 = (0..STEMS).map(|s| gains[s] * stems[s][i]).sum();
            assert!(
                (sample - expected).abs() < 1e-6,
                "{i}: {sample} vs {expected}"
            );
        }
    }

    #[test]
    fn a_gain_change_glides_and_then_settles_on_its_target() {
        let ones = vec![1.0f32; 4800];
        let mut mixer = StemMixer::new(48_000.0, [1.0, 0.0, 0.0, 0.0]);
        let mut out = vec![0.0; 4800];
        mixer.mix([0.0; STEMS], |_, _| &ones, &mut [&mut out]);
        // No jump: each sample moves by less than the smoothing factor allows.
        assert!(out[0] > 0.99 && out[0] < 1.0, "{}", out[0]);
        assert!(out.windows(2).all(|w| w[1] <= w[0]));
        assert!(out[4799] < 1e-6, "settled after 100 ms: {}", out[4799]);
        mixer.mix([0.0; STEMS], |_, _| &ones, &mut [&mut out]);
        assert!(out.iter().all(|s| *s == 0.0));
    }

    #[test]
    fn peaks_are_read_in_dbfs_over_every_channel() {
        assert_eq!(peak_db([&[0.0f32, 0.0][..]]), METER_FLOOR_DB);
        let db = peak_db([&[0.1f32][..], &[-0.5f32, 0.2][..]]);
        assert!((db - 20.0 * 0.5f32.log10()).abs() < 1e-5, "{db}");
    }
}
