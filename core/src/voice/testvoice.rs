//! Synthetic singers for the voice tests: a band-limited glottal source (PolyBLEP sawtooth
//! with a spectral tilt) through a Klatt-style cascade of formant resonators, with vowels,
//! vibrato, consonant noise bursts and pauses between phrases.

use crate::analyze::synth::Noise;

/// Vowel formants (F1..F4 in Hz) of an adult male voice: /a/, /i/, /u/, /e/, /o/.
const VOWELS: [[f32; 4]; 5] = [
    [730.0, 1090.0, 2440.0, 3400.0],
    [270.0, 2290.0, 3010.0, 3700.0],
    [300.0, 870.0, 2240.0, 3300.0],
    [530.0, 1840.0, 2480.0, 3500.0],
    [570.0, 840.0, 2410.0, 3300.0],
];
/// Formant bandwidths in Hz.
const BANDWIDTHS: [f32; 4] = [80.0, 100.0, 140.0, 200.0];

/// A synthetic voice: its formants are the vowels' scaled by `formant_scale` (a shorter vocal
/// tract is higher), its source tilt is a one-pole low-pass coefficient (higher is darker).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Singer {
    pub(crate) formant_scale: f32,
    pub(crate) tilt: f32,
    /// Aspiration noise mixed into the source (0 = none).
    pub(crate) breath: f32,
}

/// Voice X: a large, dark voice.
pub(crate) const X: Singer = Singer {
    formant_scale: 0.9,
    tilt: 0.6,
    breath: 0.02,
};
/// Voice Y: a small, bright voice.
pub(crate) const Y: Singer = Singer {
    formant_scale: 1.25,
    tilt: 0.2,
    breath: 0.02,
};

/// A two-pole resonator with unity gain at DC.
struct Resonator {
    b1: f32,
    b2: f32,
    y1: f32,
    y2: f32,
}

impl Resonator {
    fn new() -> Self {
        Self {
            b1: 0.0,
            b2: 0.0,
            y1: 0.0,
            y2: 0.0,
        }
    }

    fn tune(&mut self, hz: f32, bandwidth: f32, rate: f32) {
        let r = (-std::f32::consts::PI * bandwidth / rate).exp();
        self.b1 = 2.0 * r * (std::f32::consts::TAU * hz / rate).cos();
        self.b2 = -r * r;
    }

    fn run(&mut self, x: f32) -> f32 {
        let y = (1.0 - self.b1 - self.b2) * x + self.b1 * self.y1 + self.b2 * self.y2;
        self.y2 = self.y1;
        self.y1 = y;
        y
    }
}

/// PolyBLEP correction for a sawtooth at phase `t` (0..1) advancing by `dt` per sample.
fn blep(t: f32, dt: f32) -> f32 {
    if t < dt {
        let t = t / dt;
        2.0 * t - t * t - 1.0
    } else if t > 1.0 - dt {
        let t = (t - 1.0) / dt;
        t * t + 2.0 * t + 1.0
    } else {
        0.0
    }
}

/// Sings `notes` (MIDI note, seconds) at `rate`: each note a vowel (cycling), some starting
/// with a consonant noise burst, a short pause after every fourth note. Peak about 0.5.
pub(crate) fn sing(singer: Singer, notes: &[(f32, f32)], rate: f32, seed: u64) -> Vec<f32> {
    let mut noise = Noise::new(seed);
    let mut formants: Vec<Resonator> = (0..4).map(|_| Resonator::new()).collect();
    let mut out = Vec::new();
    let (mut phase, mut tilt_state, mut vib_phase) = (0.0f32, 0.0f32, 0.0f32);
    for (i, &(note, seconds)) in notes.iter().enumerate() {
        let vowel = VOWELS[i % VOWELS.len()];
        for ((r, f), bw) in formants.iter_mut().zip(vowel).zip(BANDWIDTHS) {
            r.tune(f * singer.formant_scale, bw * singer.formant_scale, rate);
        }
        if i % 3 == 1 {
            // A consonant: 60 ms of bright noise.
            let mut last = 0.0;
            for _ in 0..(0.06 * rate) as usize {
                let x = noise.next();
                out.push(0.08 * (x - last));
                last = x;
            }
        }
        let hz = 440.0 * 2f32.powf((note - 69.0) / 12.0);
        let len = (seconds * rate) as usize;
        for j in 0..len {
            vib_phase += 5.5 / rate;
            let f = hz * 2f32.powf(0.2 / 12.0 * (std::f32::consts::TAU * vib_phase).sin());
            let dt = f / rate;
            phase += dt;
            if phase >= 1.0 {
                phase -= 1.0;
            }
            let saw = 2.0 * phase - 1.0 - blep(phase, dt);
            tilt_state = singer.tilt * tilt_state + (1.0 - singer.tilt) * saw;
            let mut x = tilt_state + singer.breath * noise.next();
            for r in &mut formants {
                x = r.run(x);
            }
            let t = j as f32 / rate;
            let envelope = (t / 0.03).min(1.0) * ((seconds - t) / 0.03).clamp(0.0, 1.0);
            out.push(x * envelope);
        }
        if i % 4 == 3 {
            out.extend(std::iter::repeat_n(0.0, (0.25 * rate) as usize));
        }
    }
    let peak = out.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(1e-9);
    out.iter_mut().for_each(|x| *x *= 0.5 / peak);
    out
}

/// A melody of `count` notes of `seconds` each around MIDI note `centre`, from a simple
/// pattern that `seed` rotates (different seeds are different songs).
pub(crate) fn melody(centre: f32, count: usize, seconds: f32, seed: usize) -> Vec<(f32, f32)> {
    const STEPS: [f32; 8] = [0.0, 2.0, 4.0, 5.0, 4.0, 2.0, -1.0, -3.0];
    (0..count)
        .map(|i| {
            (
                centre + STEPS[(i * (seed + 1) + seed) % STEPS.len()],
                seconds,
            )
        })
        .collect()
}
