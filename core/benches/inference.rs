//! ONNX inference costs on the real basic-pitch graph (fetched by `cargo xtask setup`).
//!
//! - criterion: creating a session for `nmp.onnx` (level-3 optimisation, one intra-op thread),
//!   and running one basic-pitch window (43 844 samples = 1.99 s of 22.05 kHz audio);
//! - a summary: median times, and the window's run time as a fraction of the audio it covers
//!   (the real-time factor; below 1 means faster than real time).
//!
//! Paths: `ORT_DYLIB_PATH` and `MIXSMITH_BASIC_PITCH_ONNX`, else `<workspace>/vendor/...`. When
//! either is missing the bench prints why and skips.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::Criterion;
use mixsmith_core::inference::{LIBRARY_FILE, ModelSession, Runtime, RuntimeSearch, basic_pitch};

fn locate(var: &str, fallback: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(fallback)
        });
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found ({var} or {fallback})",
            path.display()
        ))
    }
}

/// A test tone: a few sines, so the graph sees ordinary musical input.
fn window() -> Vec<f32> {
    (0..basic_pitch::WINDOW as usize)
        .map(|n| {
            let t = n as f32 / basic_pitch::SAMPLE_RATE as f32;
            0.3 * (std::f32::consts::TAU * 220.0 * t).sin()
                + 0.2 * (std::f32::consts::TAU * 329.63 * t).sin()
        })
        .collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let paths = locate(
        "ORT_DYLIB_PATH",
        &format!("vendor/onnxruntime/{LIBRARY_FILE}"),
    )
    .and_then(|lib| {
        locate(
            "MIXSMITH_BASIC_PITCH_ONNX",
            "vendor/models/basic-pitch/nmp.onnx",
        )
        .map(|m| (lib, m))
    });
    let (library, model) = match paths {
        Ok(p) => p,
        Err(why) => {
            println!("inference bench SKIPPED: {why}; run `cargo xtask setup`");
            return;
        }
    };
    let runtime = match Runtime::global_with(|| RuntimeSearch::explicit([library])) {
        Ok(r) => r,
        Err(e) => {
            println!("inference bench SKIPPED: {e}");
            return;
        }
    };
    let create = || ModelSession::create(runtime.environment(), &model).expect("create session");
    let session = create();
    let input = window();
    let shape = [1, input.len(), 1];
    session.warm_up().expect("warm up");

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("inference");
    group.sample_size(10);
    group.bench_function("basic_pitch_session_create", |b| {
        b.iter(|| black_box(create()))
    });
    group.bench_function("basic_pitch_window_run", |b| {
        b.iter(|| {
            black_box(
                session
                    .run_f32(basic_pitch::INPUT, &shape, black_box(&input))
                    .expect("run"),
            )
        })
    });
    group.finish();
    c.final_summary();

    // Plain timings for the summary (same session, same input).
    let creations: Vec<Duration> = (0..5)
        .map(|_| {
            let t = Instant::now();
            black_box(create());
            t.elapsed()
        })
        .collect();
    let runs: Vec<Duration> = (0..20)
        .map(|_| {
            let t = Instant::now();
            black_box(
                session
                    .run_f32(basic_pitch::INPUT, &shape, &input)
                    .expect("run"),
            );
            t.elapsed()
        })
        .collect();
    let audio =
        Duration::from_secs_f64(basic_pitch::WINDOW as f64 / f64::from(basic_pitch::SAMPLE_RATE));
    let run = median(runs);
    println!();
    println!(
        "== inference summary (basic-pitch nmp.onnx, ONNX Runtime {}, 1 intra-op thread) ==",
        runtime.version().unwrap_or("?")
    );
    println!(
        "runtime load (library + environment): {:>8.1} ms",
        runtime.load_time().as_secs_f64() * 1e3
    );
    println!(
        "session creation, median of 5:        {:>8.1} ms",
        median(creations).as_secs_f64() * 1e3
    );
    println!(
        "warm-up run (first run on zeros):      {:>8.1} ms",
        session.warm_up().expect("warm up").as_secs_f64() * 1e3
    );
    println!(
        "one window ({:.2} s of audio), median of 20: {:>6.1} ms",
        audio.as_secs_f64(),
        run.as_secs_f64() * 1e3
    );
    println!(
        "real-time factor (run time / audio time):  {:>6.3}  ({:.0}x faster than real time)",
        run.as_secs_f64() / audio.as_secs_f64(),
        audio.as_secs_f64() / run.as_secs_f64()
    );
}
