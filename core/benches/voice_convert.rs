//! The DSP voice converter's cost: its real-time factor on a minute of mono 48 kHz voice and
//! its `process()` time per 128- and 512-frame block, untransposed and transposed (+7
//! semitones), against a plain STFT pass-through of the same frame and hop (forward FFT,
//! inverse FFT, weighted overlap-add) measured in the same run.

#[path = "../src/voice/synth.rs"]
mod synth;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group};
use mixsmith_core::voice::envelope::frame_len;
use mixsmith_core::voice::{ConvertSettings, VoiceConverter, learn};
use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use synth::{Timbre, VOWEL_A, VOWEL_I, VOWEL_U, render};

const RATE: f32 = 48_000.0;
/// The transposed case's settings: up a fifth.
const TRANSPOSED: ConvertSettings = ConvertSettings {
    amount: 1.0,
    formant_semitones: 0.0,
    protect: 0.33,
    transpose_semitones: 7.0,
};

/// `seconds` of a voice singing vowels /a/, /i/, /u/ in turn on a few notes around `base_hz`,
/// each note 0.5 s.
fn voice(base_hz: f64, seconds: f64) -> Vec<f32> {
    const STEPS: [f64; 6] = [0.0, 2.0, 4.0, 5.0, 7.0, 4.0];
    let vowels = [VOWEL_A, VOWEL_I, VOWEL_U];
    (0..(seconds / 0.5) as usize)
        .flat_map(|i| {
            let hz = base_hz * 2f64.powf(STEPS[i % STEPS.len()] / 12.0);
            render(|_| hz, &Timbre::vowel(vowels[i % 3]), f64::from(RATE), 0.5)
        })
        .collect()
}

/// A streaming STFT that changes nothing: the converter's framing without its analysis.
struct StftPassThrough {
    hop: usize,
    window: Vec<f32>,
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
    input: Vec<f32>,
    frame: Vec<f32>,
    spectrum: Vec<Complex32>,
    scratch: Vec<Complex32>,
    overlap: Vec<f32>,
    ready: Vec<f32>,
    filled: usize,
}

impl StftPassThrough {
    fn new(n: usize) -> Self {
        let mut planner = RealFftPlanner::<f32>::new();
        let forward = planner.plan_fft_forward(n);
        let inverse = planner.plan_fft_inverse(n);
        let scratch =
            vec![Complex32::default(); forward.get_scratch_len().max(inverse.get_scratch_len())];
        Self {
            hop: n / 4,
            window: (0..n)
                .map(|i| 0.5 - 0.5 * (std::f32::consts::TAU * i as f32 / n as f32).cos())
                .collect(),
            spectrum: forward.make_output_vec(),
            forward,
            inverse,
            input: vec![0.0; n],
            frame: vec![0.0; n],
            scratch,
            overlap: vec![0.0; n],
            ready: vec![0.0; n / 4],
            filled: 0,
        }
    }

    fn process(&mut self, input: &[f32], output: &mut [f32]) {
        let (n, hop) = (self.input.len(), self.hop);
        let mut done = 0;
        while done < input.len() {
            let take = (hop - self.filled).min(input.len() - done);
            let fresh = n - hop + self.filled;
            self.input[fresh..fresh + take].copy_from_slice(&input[done..done + take]);
            output[done..done + take].copy_from_slice(&self.ready[self.filled..self.filled + take]);
            self.filled += take;
            done += take;
            if self.filled == hop {
                for ((f, x), w) in self.frame.iter_mut().zip(&self.input).zip(&self.window) {
                    *f = x * w;
                }
                self.forward
                    .process_with_scratch(&mut self.frame, &mut self.spectrum, &mut self.scratch)
                    .expect("plan sizes");
                self.inverse
                    .process_with_scratch(&mut self.spectrum, &mut self.frame, &mut self.scratch)
                    .expect("plan sizes");
                let norm = 1.0 / (n as f32 * 1.5);
                for ((o, s), w) in self.overlap.iter_mut().zip(&self.frame).zip(&self.window) {
                    *o += s * w * norm;
                }
                self.ready.copy_from_slice(&self.overlap[..hop]);
                self.overlap.copy_within(hop.., 0);
                self.overlap[n - hop..].fill(0.0);
                self.input.copy_within(hop.., 0);
                self.filled = 0;
            }
        }
    }
}

/// The fastest of three passes of `process` over `signal` in 512-frame blocks.
fn best_pass(signal: &[f32], mut process: impl FnMut(&[f32], &mut [f32])) -> Duration {
    let mut out = vec![0.0; 512];
    (0..3)
        .map(|_| {
            let started = Instant::now();
            for block in signal.chunks(512) {
                process(block, &mut out[..block.len()]);
            }
            started.elapsed()
        })
        .min()
        .expect("three passes")
}

/// Prints the real-time factors and the latencies.
fn real_time_factor() {
    let profile = learn(&voice(130.0, 20.0), RATE).expect("a profile of the reference voice");
    let input = voice(220.0, 60.0);
    let seconds = input.len() as f64 / f64::from(RATE);
    let mut converter = VoiceConverter::new(&profile, RATE, ConvertSettings::default());
    let mut transposer = VoiceConverter::new(&profile, RATE, TRANSPOSED);
    let mut baseline = StftPassThrough::new(frame_len(RATE));
    let convert = best_pass(&input, |i, o| converter.process(i, o));
    let transpose = best_pass(&input, |i, o| transposer.process(i, o));
    let pass = best_pass(&input, |i, o| baseline.process(i, o));
    let report = |what: &str, time: Duration| {
        println!(
            "voice_convert: {seconds:.0} s of mono 48 kHz voice: {what} {:.1} ms (real-time \
             factor {:.4}, {:.2} x the STFT pass-through)",
            time.as_secs_f64() * 1e3,
            time.as_secs_f64() / seconds,
            time.as_secs_f64() / pass.as_secs_f64()
        );
    };
    report("converter", convert);
    report("converter transposed +7 st", transpose);
    report("STFT pass-through", pass);
    for rate in [44_100.0f32, 48_000.0] {
        let converter = VoiceConverter::new(&profile, rate, ConvertSettings::default());
        println!(
            "voice_convert: latency at {rate} Hz: {} frames = {:.1} ms",
            converter.latency_frames(),
            1000.0 * converter.latency_frames() as f32 / rate
        );
    }
}

fn blocks(c: &mut Criterion) {
    let profile = learn(&voice(130.0, 12.0), RATE).expect("a profile of the reference voice");
    let signal = voice(220.0, 4.0);
    let len = signal.len();
    let mut group = c.benchmark_group("voice_convert_block");
    for block in [128usize, 512] {
        let mut converter = VoiceConverter::new(&profile, RATE, ConvertSettings::default());
        let mut transposer = VoiceConverter::new(&profile, RATE, TRANSPOSED);
        let mut baseline = StftPassThrough::new(frame_len(RATE));
        let mut out = vec![0.0; block];
        let mut at = 0;
        // Walk through the signal so the converter sees voice, not one block over and over.
        let mut next = move || {
            at = (at + block) % (len - block);
            at
        };
        group.bench_function(BenchmarkId::new("baseline_stft", block), |b| {
            b.iter(|| {
                let at = next();
                baseline.process(&signal[at..at + block], &mut out);
            })
        });
        group.bench_function(BenchmarkId::new("converter", block), |b| {
            b.iter(|| {
                let at = next();
                converter.process(&signal[at..at + block], &mut out);
            })
        });
        group.bench_function(BenchmarkId::new("converter_transposed", block), |b| {
            b.iter(|| {
                let at = next();
                transposer.process(&signal[at..at + block], &mut out);
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    targets = blocks
}

fn main() {
    real_time_factor();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
