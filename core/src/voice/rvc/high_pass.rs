//! RVC's high-pass on the 16 kHz input: a 5th-order Butterworth at 48 Hz
//! (`signal.butter(N=5, Wn=48, btype="high", fs=16000)` in RVC's `pipeline.py`), which takes
//! rumble, handling noise and DC away before the F0 and the content features are measured.
//!
//! RVC runs it forward and backward over the whole file (`filtfilt`), which a stream cannot.
//! [`HighPass`] runs the same filter twice forward instead: the same magnitude response (the
//! filter's squared, −6.02 dB at 48 Hz, −76 dB at 20 Hz, within 0.01 dB of flat above 200 Hz), with the phase of
//! a causal filter, which only the partials below about 150 Hz feel.

/// One second-order section in transposed direct form II, `f64` state.
#[derive(Debug, Clone, Copy, Default)]
struct Section {
    /// Numerator `b0, b1, b2`.
    b: [f64; 3],
    /// Denominator `a1, a2` (`a0` is 1).
    a: [f64; 2],
    /// The two state values.
    z: [f64; 2],
}

impl Section {
    fn run(&mut self, x: f64) -> f64 {
        let y = self.b[0] * x + self.z[0];
        self.z[0] = self.b[1] * x - self.a[0] * y + self.z[1];
        self.z[1] = self.b[2] * x - self.a[1] * y;
        y
    }
}

/// Corner frequency of RVC's high-pass, in Hz.
const CORNER_HZ: f64 = 48.0;
/// The Butterworth filter's order.
const ORDER: usize = 5;

/// The 5th-order Butterworth high-pass at 48 Hz, run twice (see the module documentation).
#[derive(Debug, Clone)]
pub(super) struct HighPass {
    /// The filter's three sections (one first-order, two second-order), then the same again.
    sections: [Section; 6],
}

impl HighPass {
    /// The filter for a stream at `rate` Hz.
    pub(super) fn new(rate: u32) -> Self {
        // Bilinear transform with the corner pre-warped: the analogue prototype's poles, in
        // pairs at Q = 1 / (2 sin((2k - 1) π / 2N)), and one real pole.
        let k = (std::f64::consts::PI * CORNER_HZ / f64::from(rate)).tan();
        let first_order = {
            let norm = 1.0 / (1.0 + k);
            Section {
                b: [norm, -norm, 0.0],
                a: [(k - 1.0) * norm, 0.0],
                z: [0.0; 2],
            }
        };
        let second_order = |pair: usize| {
            let angle = (2 * pair - 1) as f64 * std::f64::consts::PI / (2 * ORDER) as f64;
            let q = 1.0 / (2.0 * angle.sin());
            let norm = 1.0 / (1.0 + k / q + k * k);
            Section {
                b: [norm, -2.0 * norm, norm],
                a: [2.0 * (k * k - 1.0) * norm, (1.0 - k / q + k * k) * norm],
                z: [0.0; 2],
            }
        };
        let once = [first_order, second_order(1), second_order(2)];
        Self {
            sections: [once[0], once[1], once[2], once[0], once[1], once[2]],
        }
    }

    /// Filters `samples` in place, continuing the stream.
    pub(super) fn process(&mut self, samples: &mut [f32]) {
        for sample in samples {
            let mut x = f64::from(*sample);
            for section in &mut self.sections {
                x = section.run(x);
            }
            *sample = x as f32;
        }
    }

    /// Forgets the stream.
    pub(super) fn reset(&mut self) {
        for section in &mut self.sections {
            section.z = [0.0; 2];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gain in dB of the filter at 16 kHz for a sine at `hz`, measured after it settles.
    fn gain_db(hz: f64) -> f64 {
        let rate = 16_000.0;
        let mut filter = HighPass::new(16_000);
        let mut sine: Vec<f32> = (0..16_000 * 8)
            .map(|t| (std::f64::consts::TAU * hz * t as f64 / rate).sin() as f32)
            .collect();
        filter.process(&mut sine);
        let settled = &sine[16_000 * 4..];
        let rms = (settled.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>()
            / settled.len() as f64)
            .sqrt();
        20.0 * (rms * 2f64.sqrt()).log10()
    }

    #[test]
    fn the_magnitude_is_the_butterworth_filters_squared() {
        // |H(f)|² of a 5th-order Butterworth high-pass is 1 / (1 + (fc / f)^10); two passes
        // square it again.
        for hz in [20.0, 30.0, 48.0, 80.0, 200.0, 1000.0] {
            let want = -20.0 * (1.0 + (CORNER_HZ / hz).powi(10)).log10();
            let got = gain_db(hz);
            assert!(
                (got - want).abs() < 0.05,
                "{hz} Hz: {got:.3} dB, want {want:.3}"
            );
        }
    }

    #[test]
    fn dc_goes_and_blocks_equal_one_pass() {
        let input: Vec<f32> = (0..20_000)
            .map(|t| 0.5 + 0.1 * (t as f32 * 0.05).sin())
            .collect();
        let mut whole = input.clone();
        HighPass::new(16_000).process(&mut whole);
        let mut filter = HighPass::new(16_000);
        let mut blocks = input.clone();
        for block in blocks.chunks_mut(333) {
            filter.process(block);
        }
        assert_eq!(blocks, whole);
        let tail_mean = whole[16_000..].iter().sum::<f32>() / 4_000.0;
        assert!(tail_mean.abs() < 1e-3, "DC left: {tail_mean}");
        filter.reset();
        let mut again = input[..4].to_vec();
        filter.process(&mut again);
        assert_eq!(again[..], whole[..4]);
    }
}
