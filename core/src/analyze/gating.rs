//! Gated integrated loudness (ITU-R BS.1770-4, section 2.8) in fixed memory.
//!
//! `ebur128` offers either exact gating (keeping every 400 ms block energy, memory growing with
//! the programme) or a histogram of 0.1 LU bins (fixed memory, but results snap to bin centres:
//! a -23 dBFS stereo sine reads -22.95 LUFS). This integrator keeps, per 0.01 LU bin, the count
//! and the exact sum of the block energies: memory is fixed (160 KB), the gated mean uses exact
//! energies, and only the relative-gate decision for blocks within 0.01 LU of the threshold is
//! approximate.

/// Absolute gate in LUFS.
const ABSOLUTE_GATE: f64 = -70.0;
/// Upper end of the histogram in LUFS (louder blocks share the top bin, energies stay exact).
const TOP: f64 = 30.0;
/// Bin width in LU.
const BIN: f64 = 0.01;
const BINS: usize = ((TOP - ABSOLUTE_GATE) / BIN) as usize;

/// Loudness in LUFS of a mean-square (K-weighted, channel-weighted) energy.
pub(crate) fn energy_to_lufs(energy: f64) -> f64 {
    10.0 * energy.log10() - 0.691
}

/// Energy of a loudness in LUFS.
pub(crate) fn lufs_to_energy(lufs: f64) -> f64 {
    10f64.powf((lufs + 0.691) / 10.0)
}

/// Accumulates 400 ms gating-block energies and computes the gated loudness.
pub(crate) struct GatedIntegrator {
    counts: Box<[u64]>,
    energies: Box<[f64]>,
}

impl GatedIntegrator {
    pub(crate) fn new() -> Self {
        Self {
            counts: vec![0; BINS].into_boxed_slice(),
            energies: vec![0.0; BINS].into_boxed_slice(),
        }
    }

    pub(crate) fn reset(&mut self) {
        self.counts.fill(0);
        self.energies.fill(0.0);
    }

    fn bin(lufs: f64) -> usize {
        (((lufs - ABSOLUTE_GATE) / BIN).floor().max(0.0) as usize).min(BINS - 1)
    }

    /// Adds one gating block's energy; blocks at or below the absolute gate are dropped.
    pub(crate) fn add(&mut self, energy: f64) {
        if !(energy > 0.0 && energy.is_finite()) {
            return;
        }
        let lufs = energy_to_lufs(energy);
        if lufs <= ABSOLUTE_GATE {
            return;
        }
        let i = Self::bin(lufs);
        self.counts[i] += 1;
        self.energies[i] += energy;
    }

    /// The gated loudness in LUFS, `-inf` when no block passes the absolute gate.
    pub(crate) fn integrated(&self) -> f64 {
        let n: u64 = self.counts.iter().sum();
        if n == 0 {
            return f64::NEG_INFINITY;
        }
        let total: f64 = self.energies.iter().sum();
        let threshold = total / n as f64 * 0.1; // -10 LU relative gate
        let first = Self::bin(energy_to_lufs(threshold));
        let (mut count, mut sum) = (0u64, 0.0f64);
        for i in first..BINS {
            let c = self.counts[i];
            if c == 0 {
                continue;
            }
            // Inside the bin holding the threshold, judge by the bin's mean energy.
            if i == first && self.energies[i] / (c as f64) < threshold {
                continue;
            }
            count += c;
            sum += self.energies[i];
        }
        if count == 0 {
            return f64::NEG_INFINITY;
        }
        energy_to_lufs(sum / count as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The straightforward gating of BS.1770-4 on a list of block loudnesses.
    fn reference(blocks: &[f64]) -> f64 {
        let e: Vec<f64> = blocks
            .iter()
            .filter(|l| **l > ABSOLUTE_GATE)
            .map(|l| lufs_to_energy(*l))
            .collect();
        let thr = e.iter().sum::<f64>() / e.len() as f64 * 0.1;
        let kept: Vec<f64> = e.into_iter().filter(|x| *x >= thr).collect();
        energy_to_lufs(kept.iter().sum::<f64>() / kept.len() as f64)
    }

    #[test]
    fn matches_exact_gating() {
        let mut g = GatedIntegrator::new();
        assert_eq!(g.integrated(), f64::NEG_INFINITY);
        // A deterministic spread of block loudnesses, some below either gate.
        let blocks: Vec<f64> = (0..5000)
            .map(|i| -75.0 + 60.0 * ((i as f64 * 0.618_034) % 1.0))
            .collect();
        for b in &blocks {
            g.add(lufs_to_energy(*b));
        }
        let want = reference(&blocks);
        assert!(
            (g.integrated() - want).abs() < 0.005,
            "{} vs {want}",
            g.integrated()
        );
        g.reset();
        g.add(lufs_to_energy(-23.0));
        assert!((g.integrated() + 23.0).abs() < 1e-9);
    }
}
