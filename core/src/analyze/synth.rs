//! Test material with known tempo and key, rendered in code: synthesised drums (kick, snare,
//! hi-hat) on a sixteenth-note grid with swing, and chord progressions of harmonic tones.

/// A small deterministic noise source (xorshift), so renders are repeatable.
pub(crate) struct Noise(u64);

impl Noise {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// A sample in -1..1.
    pub(crate) fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// A drum pattern: which sixteenth steps of a 16-step bar hold each drum.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pattern {
    pub(crate) kick: &'static [usize],
    pub(crate) snare: &'static [usize],
    pub(crate) hat: &'static [usize],
}

/// Kick on 1 and 3, snare on 2 and 4, eighth-note hats.
pub(crate) const ROCK: Pattern = Pattern {
    kick: &[0, 8, 10],
    snare: &[4, 12],
    hat: &[0, 2, 4, 6, 8, 10, 12, 14],
};
/// Half-time: kick on 1, snare on 3, eighth-note hats at the written tempo.
pub(crate) const HALF_TIME: Pattern = Pattern {
    kick: &[0, 3],
    snare: &[8],
    hat: &[0, 2, 4, 6, 8, 10, 12, 14],
};
/// Four on the floor with off-beat hats.
pub(crate) const DANCE: Pattern = Pattern {
    kick: &[0, 4, 8, 12],
    snare: &[4, 12],
    hat: &[2, 6, 10, 14],
};

/// Eighth-note kick and snare figure under sixteenth-note hats.
pub(crate) const SIXTEENTHS: Pattern = Pattern {
    kick: &[0, 6, 8],
    snare: &[4, 12],
    hat: &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
};

/// The major scale, in semitones above the tonic.
pub(crate) const MAJOR: [u8; 7] = [0, 2, 4, 5, 7, 9, 11];
/// The harmonic minor scale (raised seventh), in semitones above the tonic.
pub(crate) const HARMONIC_MINOR: [u8; 7] = [0, 2, 3, 5, 7, 8, 11];
/// The natural minor scale (no leading tone), in semitones above the tonic.
pub(crate) const NATURAL_MINOR: [u8; 7] = [0, 2, 3, 5, 7, 8, 10];

/// A mono song being rendered.
pub(crate) struct Song {
    pub(crate) rate: u32,
    pub(crate) samples: Vec<f32>,
    noise: Noise,
}

impl Song {
    pub(crate) fn new(rate: u32, seconds: f64, seed: u64) -> Self {
        Self {
            rate,
            samples: vec![0.0; (seconds * f64::from(rate)) as usize],
            noise: Noise::new(seed),
        }
    }

    fn add(&mut self, at_s: f64, mut sound: impl FnMut(f64, &mut Noise) -> f32, length_s: f64) {
        let rate = f64::from(self.rate);
        let start = (at_s * rate) as usize;
        let len = (length_s * rate) as usize;
        for i in 0..len {
            let Some(s) = self.samples.get_mut(start + i) else {
                break;
            };
            *s += sound(i as f64 / rate, &mut self.noise);
        }
    }

    fn kick(&mut self, at_s: f64) {
        self.add(
            at_s,
            |t, _| {
                let phase = std::f64::consts::TAU * (45.0 * t + 12.0 * (1.0 - (-t * 30.0).exp()));
                (0.8 * phase.sin() * (-t * 12.0).exp()) as f32
            },
            0.3,
        );
    }

    fn snare(&mut self, at_s: f64) {
        self.add(
            at_s,
            |t, n| {
                let tone = (std::f64::consts::TAU * 190.0 * t).sin() * (-t * 25.0).exp();
                (0.25 * tone) as f32 + 0.45 * n.next() * (-t * 18.0).exp() as f32
            },
            0.25,
        );
    }

    fn hat(&mut self, at_s: f64) {
        let mut last = 0.0f32;
        self.add(
            at_s,
            move |t, n| {
                // A first difference makes the noise bright.
                let x = n.next();
                let y = x - last;
                last = x;
                0.12 * y * (-t * 60.0).exp() as f32
            },
            0.08,
        );
    }

    /// A metronome click: a short 1.5 kHz burst.
    pub(crate) fn hat_click(&mut self, at_s: f64) {
        self.add(
            at_s,
            |t, _| ((std::f64::consts::TAU * 1500.0 * t).sin() * 0.5 * (-t * 80.0).exp()) as f32,
            0.05,
        );
    }

    /// A spoken syllable: a noisy consonant, then a voiced vowel whose pitch glides by `glide`
    /// semitones from MIDI note `note` over `length_s`.
    pub(crate) fn glide(&mut self, at_s: f64, note: f64, glide: f64, length_s: f64) {
        self.add(
            at_s,
            |t, n| 0.05 * n.next() * (-t * 40.0).exp() as f32,
            0.04,
        );
        let start_hz = 440.0 * 2f64.powf((note - 69.0) / 12.0);
        self.add(
            at_s + 0.03,
            move |t, _| {
                // Phase of a tone whose frequency moves exponentially from start_hz.
                let rate = glide / 12.0 * std::f64::consts::LN_2 / length_s;
                let phase = if rate.abs() < 1e-9 {
                    start_hz * t
                } else {
                    start_hz * ((rate * t).exp() - 1.0) / rate
                };
                let envelope = (t / 0.02).min(1.0) * ((length_s - t) / 0.03).clamp(0.0, 1.0);
                let sum: f64 = (1..=10)
                    .map(|h| (std::f64::consts::TAU * phase * h as f64).sin() / h as f64)
                    .sum();
                (0.2 * envelope * sum) as f32
            },
            length_s,
        );
    }

    /// Plays `pattern` at `bpm` from `start_s` to `end_s`; `swing` (0.5 = straight, 0.67 =
    /// triplet feel) delays every second eighth note.
    pub(crate) fn drums(
        &mut self,
        pattern: Pattern,
        bpm: f64,
        swing: f64,
        start_s: f64,
        end_s: f64,
    ) {
        let beat = 60.0 / bpm;
        let mut bar_start = start_s;
        while bar_start < end_s {
            let time = |step: usize| {
                let eighth = step / 2;
                let in_beat =
                    (eighth % 2) as f64 * 2.0 * swing * beat / 2.0 + (step % 2) as f64 * beat / 4.0;
                bar_start + (eighth / 2) as f64 * beat + in_beat
            };
            for &s in pattern.kick {
                self.kick(time(s));
            }
            for &s in pattern.snare {
                self.snare(time(s));
            }
            for &s in pattern.hat {
                self.hat(time(s));
            }
            bar_start += 4.0 * beat;
        }
    }

    /// A harmonic tone (eight partials, 1/h amplitudes) at MIDI note `note` plus `cents`.
    pub(crate) fn tone(&mut self, at_s: f64, note: f64, length_s: f64, level: f32, cents: f64) {
        let hz = 440.0 * 2f64.powf((note - 69.0 + cents / 100.0) / 12.0);
        self.add(
            at_s,
            move |t, _| {
                let envelope =
                    (t / 0.01).min(1.0) * (-t * 1.5).exp() * ((length_s - t) / 0.02).min(1.0);
                let sum: f64 = (1..=8)
                    .map(|h| (std::f64::consts::TAU * hz * h as f64 * t).sin() / h as f64)
                    .sum();
                (f64::from(level) * envelope * sum) as f32
            },
            length_s,
        );
    }

    /// Eight bars of a cadential progression in the key of `tonic` (MIDI pitch class) and
    /// `minor`, one chord per bar at `bpm`, starting at `start_s`: root-position triads in the
    /// middle register, the root in the bass, a quarter-note arpeggio above.
    pub(crate) fn progression(
        &mut self,
        tonic: u8,
        minor: bool,
        bpm: f64,
        start_s: f64,
        cents: f64,
    ) {
        if minor {
            self.chords(
                tonic,
                HARMONIC_MINOR,
                &[0, 3, 4, 0, 5, 3, 4, 0],
                bpm,
                start_s,
                cents,
            );
        } else {
            self.chords(tonic, MAJOR, &[0, 3, 4, 0, 5, 1, 4, 0], bpm, start_s, cents);
        }
    }

    /// One bar per chord of `degrees` (0-based scale degrees of the roots) of `scale` above
    /// `tonic`, voiced as in [`Song::progression`].
    pub(crate) fn chords(
        &mut self,
        tonic: u8,
        scale: [u8; 7],
        degrees: &[usize],
        bpm: f64,
        start_s: f64,
        cents: f64,
    ) {
        let note = |degree: usize| {
            let octave = degree / 7;
            f64::from(scale[degree % 7]) + 12.0 * octave as f64 + f64::from(tonic)
        };
        let beat = 60.0 / bpm;
        for (bar, &root) in degrees.iter().enumerate() {
            let at = start_s + bar as f64 * 4.0 * beat;
            let chord = [note(root), note(root + 2), note(root + 4)];
            self.tone(at, 36.0 + chord[0], 4.0 * beat, 0.25, cents);
            for &n in &chord {
                self.tone(at, 60.0 + n, 4.0 * beat, 0.08, cents);
            }
            for (i, &n) in chord.iter().chain(&chord[1..2]).enumerate() {
                self.tone(at + i as f64 * beat, 72.0 + n, beat, 0.06, cents);
            }
        }
    }
}
