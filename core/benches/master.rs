//! Reference mastering: speed and quality against the Python `matchering` package on the same
//! files in the same run, and the realtime cost per block against a baseline.
//!
//! 1. Generates a 3-minute 44.1 kHz stereo pair (a music-like target: rhythmic, EQ-coloured pink
//!    noise with a bass line and a quiet intro; a brighter, wider, louder reference) as 24-bit
//!    WAV in `target/bench-master/` (or `$MIXSMITH_BENCH_DIR`).
//! 2. Times Mixsmith's learn + render from file to 24-bit file (what `mixsmith master` does).
//!    If `$MIXSMITH_CLI` names a built `mixsmith` binary (`cargo xtask bench` builds the release
//!    one), also times `mixsmith master` as a process, start to exit.
//! 3. If `$MIXSMITH_MATCHERING_PYTHON` (default `python3`) can `import matchering`, times
//!    `matchering.process(target, reference, results=[matchering.pcm24(out)])` on the same
//!    files, and prints both wall times and their ratio.
//!
//!    The machine is shared and its load swings, so the tools take turns: three rounds of one
//!    run each, the page cache written back (`sync`, untimed) before every run so that none
//!    pays for the previous one's output, and the median of each tool's three runs.
//! 4. For both outputs: the 1/3-octave distance to the reference (mean absolute dB over
//!    50 Hz–16 kHz, level offset removed) and the integrated-loudness error in LU.
//! 5. criterion: `Mastering::process_chunk` per 512-frame block against a plain copy of the block.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group};
use mixsmith_core::analyze::{AnalyzeOptions, analyze_file};
use mixsmith_core::audio::{AudioBuffer, SampleFormat, WavWriter, read_file, write_wav};
use mixsmith_core::master::spectrum::{band_distance_db, third_octave_levels};
use mixsmith_core::master::{
    AudioSource, BufferSource, FileSource, Mastering, MatchSettings, learn, render,
    render_chunk_frames,
};
use mixsmith_core::realtime::{PassThrough, StreamProcessor};

const RATE: u32 = 44_100;
const SECONDS: usize = 180;
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

/// A music-like stereo signal: a beat-modulated noise bed, a bass line, a quiet intro.
fn music(seed: u64, bright: f32, width: f32, gain: f32, intro_seconds: f64) -> Vec<Vec<f32>> {
    let frames = RATE as usize * SECONDS;
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

/// Integrated loudness of a file in LUFS.
fn lufs(path: &Path) -> f64 {
    analyze_file(path, &AnalyzeOptions::default(), |_| {})
        .expect("analyse")
        .loudness
        .lufs
        .unwrap_or(f64::NEG_INFINITY)
}

fn third_octaves(path: &Path) -> Vec<f64> {
    let buffer: AudioBuffer = read_file(path).expect("read");
    third_octave_levels(buffer.channels(), buffer.sample_rate())
}

/// Learn + render file to file, as `mixsmith master` does. Returns the wall time.
fn mixsmith_master(
    target: &Path,
    reference: &Path,
    out: &Path,
    ceiling_dbtp: f32,
    loudness_priority: bool,
) -> Duration {
    // A previous run's output would be truncated inside the timed part; neither tool is timed
    // for that.
    let _ = std::fs::remove_file(out);
    let start = Instant::now();
    let settings = MatchSettings {
        ceiling_dbtp,
        loudness_priority,
        ..MatchSettings::default()
    };
    let mut t = FileSource::open(target).expect("open target");
    let mut r = FileSource::streaming(reference).expect("open reference");
    let profile = learn(&mut t, &mut r, &settings, &mut |_| {}).expect("learn");
    t.rewind().expect("rewind");
    let mut writer = WavWriter::create(out, t.sample_rate(), t.channels(), SampleFormat::Int24)
        .expect("create output");
    let chunk = render_chunk_frames(t.sample_rate());
    render(
        &profile,
        &settings,
        &mut t,
        chunk,
        &mut |block| Ok(writer.write_planar(block)?),
        &mut |_| {},
    )
    .expect("render");
    writer.finalize().expect("finalize");
    start.elapsed()
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

/// The median of `runs` and all of them in seconds (rounded to the millisecond).
fn median(mut runs: Vec<Duration>) -> (Duration, Vec<f64>) {
    runs.sort();
    let seconds = runs
        .iter()
        .map(|r| (r.as_secs_f64() * 1000.0).round() / 1000.0)
        .collect();
    (runs[runs.len() / 2], seconds)
}

/// Runs matchering; returns (process() time, whole subprocess time) or why it could not.
fn matchering(
    python: &str,
    target: &Path,
    reference: &Path,
    out: &Path,
) -> Result<(Duration, Duration), String> {
    let probe = Command::new(python)
        .args(["-c", "import matchering"])
        .output()
        .map_err(|e| format!("{python}: {e}"))?;
    if !probe.status.success() {
        return Err(format!("{python} cannot import matchering"));
    }
    let script = "import sys, time, matchering as mg\n\
                  t = time.perf_counter()\n\
                  mg.process(target=sys.argv[1], reference=sys.argv[2], results=[mg.pcm24(sys.argv[3])])\n\
                  print(time.perf_counter() - t)\n";
    let _ = std::fs::remove_file(out);
    let start = Instant::now();
    let run = Command::new(python)
        .args(["-c", script])
        .arg(target)
        .arg(reference)
        .arg(out)
        .output()
        .map_err(|e| format!("{python}: {e}"))?;
    let total = start.elapsed();
    if !run.status.success() {
        return Err(format!(
            "matchering failed: {}",
            String::from_utf8_lossy(&run.stderr)
        ));
    }
    let inner: f64 = String::from_utf8_lossy(&run.stdout)
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .ok_or("matchering printed no time")?;
    Ok((Duration::from_secs_f64(inner), total))
}

fn comparison() {
    let dir = bench_dir();
    std::fs::create_dir_all(&dir).expect("create the bench folder");
    let (target, reference) = (dir.join("target.wav"), dir.join("reference.wav"));
    let (ours, theirs) = (dir.join("mixsmith.wav"), dir.join("matchering.wav"));
    let gen_start = Instant::now();
    let t = AudioBuffer::from_planar(RATE, music(1, 0.25, 0.15, 0.5, 15.0)).expect("target");
    let r = AudioBuffer::from_planar(RATE, music(7, 0.9, 0.45, 1.6, 0.0)).expect("reference");
    write_wav(&target, &t, SampleFormat::Int24).expect("write target");
    write_wav(&reference, &r, SampleFormat::Int24).expect("write reference");
    println!(
        "master: generated a {SECONDS} s {RATE} Hz stereo pair in {} ({:.1} s)",
        dir.display(),
        gen_start.elapsed().as_secs_f64()
    );

    let ref_lufs = lufs(&reference);
    let ref_bands = third_octaves(&reference);
    println!(
        "master: target {:.2} LUFS, reference {ref_lufs:.2} LUFS, target 1/3-oct distance to reference {:.2} dB",
        lufs(&target),
        band_distance_db(&third_octaves(&target), &ref_bands)
    );

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cli = std::env::var("MIXSMITH_CLI").ok();
    let python =
        std::env::var("MIXSMITH_MATCHERING_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let (mut ours_runs, mut cli_runs, mut theirs_runs) = (Vec::new(), Vec::new(), Vec::new());
    let mut theirs_failed = None;
    for _ in 0..ROUNDS {
        settle();
        ours_runs.push(mixsmith_master(&target, &reference, &ours, -1.0, false));
        if let Some(cli) = &cli {
            settle();
            cli_runs.push(mixsmith_cli(cli, &target, &reference, &ours));
        }
        if theirs_failed.is_none() {
            settle();
            match matchering(&python, &target, &reference, &theirs) {
                Ok(times) => theirs_runs.push(times),
                Err(why) => theirs_failed = Some(why),
            }
        }
    }
    let (ours_time, runs) = median(ours_runs);
    println!("master: mixsmith runs {runs:?} s on {cores} cores (in process); median below");
    let cli_time = (!cli_runs.is_empty()).then(|| {
        let (time, runs) = median(cli_runs);
        println!(
            "master: mixsmith master (the CLI, start to exit) runs {runs:?} s; median {:.2} s",
            time.as_secs_f64()
        );
        time
    });
    let ours_quality = (
        band_distance_db(&third_octaves(&ours), &ref_bands),
        lufs(&ours) - ref_lufs,
    );
    println!(
        "master: mixsmith   wall {:>7.2} s  1/3-oct distance {:.2} dB  LUFS error {:+.2} LU",
        ours_time.as_secs_f64(),
        ours_quality.0,
        ours_quality.1
    );

    // Like for like with matchering's limiter, which stops at full scale (sample peak).
    let loud = dir.join("mixsmith-ceiling0.wav");
    let loud_time = mixsmith_master(&target, &reference, &loud, 0.0, false);
    println!(
        "master: mixsmith   wall {:>7.2} s  1/3-oct distance {:.2} dB  LUFS error {:+.2} LU  (--ceiling 0)",
        loud_time.as_secs_f64(),
        band_distance_db(&third_octaves(&loud), &ref_bands),
        lufs(&loud) - ref_lufs
    );

    // Loudness priority: the limiter is pushed until the output reaches the reference.
    let pushed = dir.join("mixsmith-priority.wav");
    let pushed_time = mixsmith_master(&target, &reference, &pushed, -1.0, true);
    println!(
        "master: mixsmith   wall {:>7.2} s  1/3-oct distance {:.2} dB  LUFS error {:+.2} LU  (--loudness-priority)",
        pushed_time.as_secs_f64(),
        band_distance_db(&third_octaves(&pushed), &ref_bands),
        lufs(&pushed) - ref_lufs
    );

    let theirs_times = if let Some(why) = theirs_failed {
        Err(why)
    } else {
        let (inner, _) = median(theirs_runs.iter().map(|t| t.0).collect());
        let (total, runs) = median(theirs_runs.iter().map(|t| t.1).collect());
        println!("master: matchering runs {runs:?} s; median below");
        Ok((inner, total))
    };
    match theirs_times {
        Ok((inner, total)) => {
            let quality = (
                band_distance_db(&third_octaves(&theirs), &ref_bands),
                lufs(&theirs) - ref_lufs,
            );
            println!(
                "master: matchering wall {:>7.2} s (process() {:.2} s)  1/3-oct distance {:.2} dB  LUFS error {:+.2} LU",
                total.as_secs_f64(),
                inner.as_secs_f64(),
                quality.0,
                quality.1
            );
            println!(
                "master: speed ratio matchering/mixsmith: {:.1}x (process() only: {:.1}x)",
                total.as_secs_f64() / ours_time.as_secs_f64(),
                inner.as_secs_f64() / ours_time.as_secs_f64()
            );
            if let Some(cli_time) = cli_time {
                println!(
                    "master: speed ratio matchering/`mixsmith master`, both whole processes: {:.1}x",
                    total.as_secs_f64() / cli_time.as_secs_f64()
                );
            }
        }
        Err(why) => println!("master: matchering comparison skipped: {why}"),
    }
}

fn process_chunk(c: &mut Criterion) {
    let frames = RATE as usize * 10;
    let t = music(3, 0.25, 0.15, 0.5, 0.0);
    let r = music(4, 0.9, 0.45, 1.6, 0.0);
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
