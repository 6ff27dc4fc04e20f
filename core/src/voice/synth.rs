//! Voice-like test signals rendered by formula, with their F0 known at every instant: a
//! band-limited harmonic source with a glottal spectral tilt, through a cascade of formant
//! resonators, with aspiration noise. Only `std`, so that the benches can include this file.

#![allow(dead_code)]

use std::f64::consts::{PI, TAU};

/// Formants (centre and bandwidth in Hz) of the vowel /a/.
pub const VOWEL_A: &[(f64, f64)] = &[(730.0, 90.0), (1090.0, 110.0), (2440.0, 160.0)];
/// Formants of the vowel /i/: a low first formant, a high second one.
pub const VOWEL_I: &[(f64, f64)] = &[(270.0, 60.0), (2290.0, 100.0), (3010.0, 120.0)];
/// Formants of the vowel /u/: low first and second formants.
pub const VOWEL_U: &[(f64, f64)] = &[(300.0, 60.0), (870.0, 90.0), (2240.0, 120.0)];

/// Highest harmonic frequency rendered, in Hz (and at most 0.45 of the sample rate).
const MAX_HARMONIC_HZ: f64 = 10_000.0;
/// Time constant of the level's rise and fall at voicing changes, in seconds.
const ENVELOPE_S: f64 = 0.005;

/// A voice's timbre.
#[derive(Debug, Clone, Copy)]
pub struct Timbre {
    /// Harmonic `k` has amplitude `k^-tilt` (1 is a sawtooth; glottal flow is near 2, its
    /// derivative, which is what radiates, near 1).
    pub tilt: f64,
    /// The lowest harmonic rendered: 1 for a full tone, 2 or more for a missing fundamental.
    pub first_harmonic: usize,
    /// Formant resonators (centre, bandwidth in Hz) applied in cascade; none for the bare source.
    pub formants: &'static [(f64, f64)],
    /// RMS of the white aspiration noise relative to the voiced source's RMS.
    pub noise: f64,
}

impl Timbre {
    /// A plain sine (a tilt so steep that harmonic 2 is 360 dB down).
    pub const SINE: Self = Self {
        tilt: 60.0,
        first_harmonic: 1,
        formants: &[],
        noise: 0.0,
    };

    /// A sung vowel with `formants` and slight breathiness (noise 30 dB below the voice).
    pub fn vowel(formants: &'static [(f64, f64)]) -> Self {
        Self {
            tilt: 1.0,
            first_harmonic: 1,
            formants,
            noise: 0.03,
        }
    }
}

/// A two-pole resonator with unit gain at its centre (roughly).
struct Resonator {
    a1: f64,
    a2: f64,
    gain: f64,
    y1: f64,
    y2: f64,
}

impl Resonator {
    fn new(centre: f64, bandwidth: f64, rate: f64) -> Self {
        let r = (-PI * bandwidth / rate).exp();
        Self {
            a1: 2.0 * r * (TAU * centre / rate).cos(),
            a2: -r * r,
            gain: 1.0 - r,
            y1: 0.0,
            y2: 0.0,
        }
    }

    fn process(&mut self, x: f64) -> f64 {
        let y = self.gain * x + self.a1 * self.y1 + self.a2 * self.y2;
        self.y2 = self.y1;
        self.y1 = y;
        y
    }
}

/// A Park–Miller generator of white noise in -1..1, repeatable from its seed.
struct WhiteNoise(u64);

impl WhiteNoise {
    fn sample(&mut self) -> f64 {
        self.0 = self.0 * 48_271 % 2_147_483_647;
        self.0 as f64 / 1_073_741_823.5 - 1.0
    }
}

/// `seconds` of mono audio at `rate` Hz whose fundamental at time `t` is `f0(t)` Hz (0 for
/// silence; the level fades in and out over a few ms), scaled to a peak of 0.5.
pub fn render(f0: impl Fn(f64) -> f64, timbre: &Timbre, rate: f64, seconds: f64) -> Vec<f32> {
    let len = (seconds * rate).round() as usize;
    let mut resonators: Vec<Resonator> = timbre
        .formants
        .iter()
        .filter(|&&(centre, _)| centre < 0.45 * rate)
        .map(|&(centre, bandwidth)| Resonator::new(centre, bandwidth, rate))
        .collect();
    let mut noise = WhiteNoise(12_345);
    let fade = (-1.0 / (ENVELOPE_S * rate)).exp();
    let mut level = 0.0;
    let mut phase = 0.0f64;
    let mut last_f0 = 100.0;
    let max_harmonics = (MAX_HARMONIC_HZ / 20.0) as usize;
    let amplitudes: Vec<f64> = (0..=max_harmonics)
        .map(|k| {
            if k >= timbre.first_harmonic {
                (k as f64).powf(-timbre.tilt)
            } else {
                0.0
            }
        })
        .collect();
    let mut out = Vec::with_capacity(len);
    for n in 0..len {
        let f = f0(n as f64 / rate);
        let target = if f > 0.0 {
            last_f0 = f;
            1.0
        } else {
            0.0
        };
        level = target + fade * (level - target);
        phase = (phase + TAU * last_f0 / rate) % TAU;
        let harmonics = ((MAX_HARMONIC_HZ.min(0.45 * rate) / last_f0) as usize).min(max_harmonics);
        // sin(k phase) by the Chebyshev recurrence sin(k p) = 2 cos(p) sin((k-1) p) - sin((k-2) p).
        let two_cos = 2.0 * phase.cos();
        let (mut before, mut current) = (0.0, phase.sin());
        let (mut voiced, mut power) = (0.0, 0.0);
        for &amplitude in &amplitudes[1..=harmonics] {
            voiced += amplitude * current;
            power += 0.5 * amplitude * amplitude;
            (before, current) = (current, two_cos * current - before);
        }
        let mut x = level * (voiced + timbre.noise * power.sqrt() * 3f64.sqrt() * noise.sample());
        for r in &mut resonators {
            x = r.process(x);
        }
        out.push(x);
    }
    let peak = out.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let scale = if peak > 0.0 { 0.5 / peak } else { 0.0 };
    out.into_iter().map(|x| (x * scale) as f32).collect()
}

/// The frequency in Hz of MIDI note `note` (69 = A4 = 440 Hz).
pub fn midi_hz(note: f64) -> f64 {
    440.0 * ((note - 69.0) / 12.0).exp2()
}

/// The distance from `truth` to `hz` in cents.
pub fn cents(hz: f64, truth: f64) -> f64 {
    1200.0 * (hz / truth).log2()
}
