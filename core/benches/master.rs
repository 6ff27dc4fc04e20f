//! Reference mastering: speed and quality against the Python `matchering` package on the same
//! files in the same run, and the realtime cost per block against a baseline.
//!
//! 1. Generates reference-mastering cases as 44.1 kHz stereo 24-bit WAV in
//!    `target/bench-master/` (or `$MIXSMITH_BENCH_DIR`): quiet, dynamic mixes at -18, -21 and
//!    -24 LUFS (rhythmic, EQ-coloured pink noise with a bass line) against dense masters at
//!    -9 LUFS and a -1.2 dB sample peak (brighter, wider, driven into a soft clipper as hard as
//!    that takes), 30 s long, plus one 3-minute pair.
//! 2. Times `mixsmith master` as a whole process, start to exit (`$MIXSMITH_CLI`, which
//!    `cargo xtask bench` builds in release), with its default settings.
//! 3. If `$MIXSMITH_MATCHERING_PYTHON` (default `python3`) can `import matchering`, times
//!    `matchering.process(target, reference, results=[matchering.pcm24(out)])` inside one warm
//!    Python process that imported matchering once (its start-up is not counted), and prints
//!    the ratio per call.
//!
//!    The machine is shared and its load swings, so the tools take turns: three rounds of one
//!    run each, the page cache written back (`sync`, untimed) before every run, and the median
//!    of each tool's three runs.
//! 4. For every output: the integrated-loudness error against the reference (and its mean over
//!    the cases), the BS.1770 true peak and the reconstructed (band-limited) peak, and the
//!    1/3-octave distance to the reference.
//! 5. criterion: `Mastering::process_chunk` per 512-frame block against a plain copy of the block.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group};
use mixsmith_core::analyze::{AnalyzeOptions, LoudnessMeter, analyze_file};
use mixsmith_core::audio::{AudioBuffer, SampleFormat, read_file, write_wav};
use mixsmith_core::master::spectrum::{band_distance_db, third_octave_levels};
use mixsmith_core::master::{BufferSource, Mastering, MatchSettings, learn};
use mixsmith_core::realtime::{PassThrough, StreamProcessor};

const RATE: u32 = 44_100;
const BLOCK: usize = 512;

/// xorshift white noise in [-1, 1).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// Pink noise by Paul Kellet's filter.
fn pink(seed: u64, frames: usize) -> Vec<f32> {
    let mut n = Noise(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut b = [0.0f32; 7];
    (0..frames)
        .map(|_| {
            let w = n.next();
            b[0] = 0.99886 * b[0] + w * 0.055_517_9;
            b[1] = 0.99332 * b[1] + w * 0.075_075_9;
            b[2] = 0.969 * b[2] + w * 0.153_852;
            b[3] = 0.8665 * b[3] + w * 0.310_485_6;
            b[4] = 0.55 * b[4] + w * 0.532_952_2;
            b[5] = -0.7616 * b[5] - w * 0.016_898;
            let out = b.iter().sum::<f32>() + w * 0.5362;
            b[6] = w * 0.115_926;
            out * 0.11
        })
        .collect()
}

/// One-pole low-pass (`a` close to 1 is darker), for colouring.
fn lowpass(x: &[f32], a: f32) -> Vec<f32> {
    let mut y = 0.0;
    x.iter()
        .map(|s| {
            y = a * y + (1.0 - a) * s;
            y
        })
        .collect()
}

/// A music-like stereo signal `seconds` long: a beat-modulated noise bed, a bass line, a quiet
/// intro.
fn music(
    seed: u64,
    seconds: usize,
    bright: f32,
    width: f32,
    gain: f32,
    intro_seconds: f64,
) -> Vec<Vec<f32>> {
    let frames = RATE as usize * seconds;
    let common = pink(seed, frames);
    let dark = lowpass(&common, 0.6);
    let sides = [pink(seed + 1, frames), pink(seed + 2, frames)];
    let beat = (RATE as f64 * 0.5) as usize;
    let bass_notes = [55.0, 55.0, 73.4, 65.4];
    (0..2)
        .map(|c| {
            (0..frames)
                .map(|i| {
                    let t = i as f64 / f64::from(RATE);
                    let env = (-((i % beat) as f64) / (0.12 * f64::from(RATE))).exp() as f32;
                    let bed = bright * common[i] + (1.0 - bright) * dark[i];
                    let note = bass_notes[(i / (4 * beat)) % bass_notes.len()];
                    let bass = 0.25 * (std::f64::consts::TAU * note * t).sin() as f32;
                    let s = (0.4 + 0.6 * env) * bed + width * sides[c][i] + bass * (0.5 + env);
                    let intro = if t < intro_seconds { 0.15 } else { 1.0 };
                    gain * intro * s
                })
                .collect()
        })
        .collect()
}

fn bench_dir() -> PathBuf {
    std::env::var_os("MIXSMITH_BENCH_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-master"),
        PathBuf::from,
    )
}

fn third_octaves(path: &Path) -> Vec<f64> {
    let buffer: AudioBuffer = read_file(path).expect("read");
    third_octave_levels(buffer.channels(), buffer.sample_rate())
}

/// `planes` scaled by `db`.
fn scaled(planes: Vec<Vec<f32>>, db: f64) -> Vec<Vec<f32>> {
    let g = 10f64.powf(db / 20.0) as f32;
    planes
        .into_iter()
        .map(|c| c.into_iter().map(|s| s * g).collect())
        .collect()
}

/// Integrated loudness of planar audio, LUFS.
fn planar_lufs(planes: &[Vec<f32>]) -> f64 {
    let mut meter = LoudnessMeter::new(planes.len(), RATE).expect("meter");
    meter.add_frames(planes).expect("meter");
    meter.integrated()
}

/// One reference-mastering case on disk.
struct Case {
    name: String,
    target: PathBuf,
    reference: PathBuf,
    seconds: usize,
}

/// Writes a quiet mix at `mix_lufs` and a dense master near -9 LUFS / -1.2 dBTP.
fn make_case(dir: &Path, seed: u64, seconds: usize, mix_lufs: f64) -> Case {
    let name = format!("{seconds}s-{}lufs", -mix_lufs);
    let mix = music(
        seed,
        seconds,
        0.25,
        0.15,
        0.5,
        15.0_f64.min(seconds as f64 / 10.0),
    );
    let mix = {
        let level = planar_lufs(&mix);
        scaled(mix, mix_lufs - level)
    };
    // Driven into tanh, then set to a -1.2 dB sample peak (its true peak lands near -1.2 dBTP);
    // the drive is found by bisection so the master lands at -9.0 LUFS (denser drives are
    // louder at the same peak).
    let master = music(seed + 100, seconds, 0.9, 0.45, 1.6, 0.0);
    let drive = |db: f64| -> Vec<Vec<f32>> {
        let driven: Vec<Vec<f32>> = scaled(master.clone(), db)
            .into_iter()
            .map(|c| c.into_iter().map(|s| s.tanh()).collect())
            .collect();
        let peak = driven.iter().flatten().fold(0.0f32, |m, s| m.max(s.abs()));
        scaled(driven, -1.2 - 20.0 * f64::from(peak).log10())
    };
    let (mut low, mut high) = (-24.0, 12.0);
    for _ in 0..12 {
        let mid = 0.5 * (low + high);
        if planar_lufs(&drive(mid)) < -9.0 {
            low = mid;
        } else {
            high = mid;
        }
    }
    let dense = drive(0.5 * (low + high));
    let target = dir.join(format!("{name}-target.wav"));
    let reference = dir.join(format!("{name}-reference.wav"));
    let write = |path: &Path, planes: Vec<Vec<f32>>| {
        let buffer = AudioBuffer::from_planar(RATE, planes).expect("buffer");
        write_wav(path, &buffer, SampleFormat::Int24).expect("write");
    };
    write(&target, mix);
    write(&reference, dense);
    Case {
        name,
        target,
        reference,
        seconds,
    }
}

/// Runs `mixsmith master` as a process, start to exit; returns the wall time.
fn mixsmith_cli(cli: &str, target: &Path, reference: &Path, out: &Path) -> Duration {
    let _ = std::fs::remove_file(out);
    let start = Instant::now();
    let run = Command::new(cli)
        .arg("master")
        .arg(target)
        .arg("--reference")
        .arg(reference)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap_or_else(|e| panic!("{cli}: {e}"));
    let elapsed = start.elapsed();
    assert!(
        run.status.success(),
        "{cli} master failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    elapsed
}

/// Rounds of the timed comparison; each tool's median is reported.
const ROUNDS: usize = 3;

/// Writes dirty pages back to disk (untimed), so the next timed run does not share the machine
/// with the previous run's writeback.
fn settle() {
    let _ = Command::new("sync").status();
}

/// The median of `runs` in seconds.
fn median(mut runs: Vec<f64>) -> f64 {
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

/// One warm Python process that imported matchering once and times `process()` per request
/// (a line `target\treference\toutput` in, the seconds out).
struct Matchering {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl Matchering {
    fn start(python: &str) -> Result<Self, String> {
        let script = "import sys, time, matchering as mg\n\
                      print('ready', flush=True)\n\
                      for line in sys.stdin:\n\
                      \x20   t, r, o = line.rstrip('\\n').split('\\t')\n\
                      \x20   start = time.perf_counter()\n\
                      \x20   mg.process(target=t, reference=r, results=[mg.pcm24(o)])\n\
                      \x20   print(time.perf_counter() - start, flush=True)\n";
        let mut child = Command::new(python)
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{python}: {e}"))?;
        let input = child.stdin.take().ok_or("no stdin")?;
        let mut output = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut line = String::new();
        output.read_line(&mut line).map_err(|e| e.to_string())?;
        if line.trim() != "ready" {
            let _ = child.kill();
            return Err(format!("{python} cannot import matchering"));
        }
        Ok(Self {
            child,
            input,
            output,
        })
    }

    /// Times one `process()` call, in seconds.
    fn process(&mut self, target: &Path, reference: &Path, out: &Path) -> Result<f64, String> {
        let _ = std::fs::remove_file(out);
        writeln!(
            self.input,
            "{}\t{}\t{}",
            target.display(),
            reference.display(),
            out.display()
        )
        .map_err(|e| e.to_string())?;
        let mut line = String::new();
        self.output
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        line.trim()
            .parse()
            .map_err(|_| "matchering failed (no time printed)".to_owned())
    }
}

impl Drop for Matchering {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The figures of one output file against its reference.
struct Quality {
    lufs_error: f64,
    true_peak_dbtp: f64,
    reconstructed_peak_dbfs: f64,
    distance_db: f64,
}

fn quality(out: &Path, reference: &Path) -> Quality {
    let ours = analyze_file(out, &AnalyzeOptions::default(), |_| {})
        .expect("analyse output")
        .loudness
        .expect("loudness is measured by default");
    let theirs = analyze_file(reference, &AnalyzeOptions::default(), |_| {})
        .expect("analyse reference")
        .loudness
        .expect("loudness is measured by default");
    Quality {
        lufs_error: ours.lufs.unwrap_or(f64::NEG_INFINITY)
            - theirs.lufs.unwrap_or(f64::NEG_INFINITY),
        true_peak_dbtp: ours.true_peak_dbtp.unwrap_or(f64::NEG_INFINITY),
        reconstructed_peak_dbfs: ours.reconstructed_peak_dbfs.unwrap_or(f64::NEG_INFINITY),
        distance_db: band_distance_db(&third_octaves(out), &third_octaves(reference)),
    }
}

fn comparison() {
    let dir = bench_dir();
    std::fs::create_dir_all(&dir).expect("create the bench folder");
    let gen_start = Instant::now();
    let mut cases: Vec<Case> = [(1, -18.0), (2, -21.0), (3, -24.0)]
        .into_iter()
        .map(|(seed, lufs)| make_case(&dir, seed, 30, lufs))
        .collect();
    cases.push(make_case(&dir, 4, 180, -21.0));
    println!(
        "master: generated {} cases in {} ({:.1} s)",
        cases.len(),
        dir.display(),
        gen_start.elapsed().as_secs_f64()
    );
    for case in &cases {
        let (t, r) = (
            analyze_file(&case.target, &AnalyzeOptions::default(), |_| {})
                .expect("analyse")
                .loudness
                .expect("loudness is measured by default"),
            analyze_file(&case.reference, &AnalyzeOptions::default(), |_| {})
                .expect("analyse")
                .loudness
                .expect("loudness is measured by default"),
        );
        println!(
            "master: case {:<14} mix {:.1} LUFS, reference {:.1} LUFS / {:.2} dBTP",
            case.name,
            t.lufs.unwrap_or(f64::NAN),
            r.lufs.unwrap_or(f64::NAN),
            r.true_peak_dbtp.unwrap_or(f64::NAN)
        );
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let Ok(cli) = std::env::var("MIXSMITH_CLI") else {
        println!("master: $MIXSMITH_CLI is not set (cargo xtask bench sets it); no comparison");
        return;
    };
    let python =
        std::env::var("MIXSMITH_MATCHERING_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let mut matchering = Matchering::start(&python);
    if let Err(why) = &matchering {
        println!("master: matchering comparison skipped: {why}");
    }
    let mut errors = Vec::new();
    for case in &cases {
        let ours = dir.join(format!("{}-mixsmith.wav", case.name));
        let theirs = dir.join(format!("{}-matchering.wav", case.name));
        let (mut our_runs, mut their_runs) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            settle();
            our_runs.push(mixsmith_cli(&cli, &case.target, &case.reference, &ours).as_secs_f64());
            if let Ok(m) = &mut matchering {
                settle();
                match m.process(&case.target, &case.reference, &theirs) {
                    Ok(seconds) => their_runs.push(seconds),
                    Err(why) => println!("master: {}: {why}", case.name),
                }
            }
        }
        let q = quality(&ours, &case.reference);
        errors.push(q.lufs_error);
        let our_time = median(our_runs);
        println!(
            "master: {:<14} mixsmith  LUFS error {:+.2} LU  true peak {:+.2} dBTP (BS.1770)  \
             reconstructed peak {:+.2} dBFS  1/3-oct distance {:.2} dB  `mixsmith master` {:.3} s",
            case.name,
            q.lufs_error,
            q.true_peak_dbtp,
            q.reconstructed_peak_dbfs,
            q.distance_db,
            our_time
        );
        if !their_runs.is_empty() {
            let t = quality(&theirs, &case.reference);
            let their_time = median(their_runs);
            println!(
                "master: {:<14} matchering LUFS error {:+.2} LU  true peak {:+.2} dBTP (BS.1770)  \
                 reconstructed peak {:+.2} dBFS  1/3-oct distance {:.2} dB  process() {:.3} s",
                case.name,
                t.lufs_error,
                t.true_peak_dbtp,
                t.reconstructed_peak_dbfs,
                t.distance_db,
                their_time
            );
            println!(
                "master: {:<14} per call ({} s pair, {cores} cores): matchering process() in a \
                 warm Python / whole `mixsmith master` process = {:.1}x",
                case.name,
                case.seconds,
                their_time / our_time
            );
        }
    }
    let mean = errors.iter().sum::<f64>() / errors.len() as f64;
    let worst = errors.iter().fold(0.0f64, |m, e| m.max(e.abs()));
    println!(
        "master: mixsmith mean LUFS error over {} cases {mean:+.2} LU (worst {worst:.2} LU)",
        errors.len()
    );
}

fn process_chunk(c: &mut Criterion) {
    let frames = RATE as usize * 10;
    let t = music(3, 10, 0.25, 0.15, 0.5, 0.0);
    let r = music(4, 10, 0.9, 0.45, 1.6, 0.0);
    let t = [t[0][..frames].to_vec(), t[1][..frames].to_vec()];
    let r = [r[0][..frames].to_vec(), r[1][..frames].to_vec()];
    let settings = MatchSettings::default();
    let profile = learn(
        &mut BufferSource::new("target", RATE, &t),
        &mut BufferSource::new("reference", RATE, &r),
        &settings,
        &mut |_| {},
    )
    .expect("learn");
    let mut mastering = Mastering::new(&profile, &settings, RATE, 2, BLOCK).expect("mastering");
    let mut copy = PassThrough::new(BLOCK);
    let input = [t[0][..BLOCK].to_vec(), t[1][..BLOCK].to_vec()];
    let mut output = [vec![0.0f32; BLOCK], vec![0.0f32; BLOCK]];
    let mut group = c.benchmark_group("master_block");
    for (name, processor) in [
        ("baseline_copy", &mut copy as &mut dyn StreamProcessor),
        ("mastering", &mut mastering as &mut dyn StreamProcessor),
    ] {
        group.bench_function(BenchmarkId::new(name, BLOCK), |b| {
            b.iter(|| {
                let (left, right) = output.split_at_mut(1);
                processor.process_chunk(
                    &[&input[0], &input[1]],
                    &mut [&mut left[0][..], &mut right[0][..]],
                );
                std::hint::black_box(&output);
            })
        });
    }
    group.finish();
    println!(
        "master: a {BLOCK}-frame block is {:.1} ms of audio at {RATE} Hz; latency {} frames",
        BLOCK as f64 * 1000.0 / f64::from(RATE),
        mastering.latency_frames()
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    targets = process_chunk
}

fn main() {
    comparison();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
