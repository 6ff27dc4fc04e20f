//! `analyze_file` (the code behind `mixsmith analyze`) on a 3-minute 44.1 kHz stereo WAV: time
//! and ratio to real time, with everything and with tempo and key alone (`--tempo-key`); then peak memory (VmHWM) of a child process analysing a 3-minute and
//! a 60-minute file, and their ratio, which stays near 1 because every pass streams.
//!
//! It also counts heap allocations made by `LoudnessMeter::add_frames` on a warmed-up stereo
//! meter (the realtime use inside the plugin), which should be 0.
//!
//! The child is this bench binary itself, re-run with `MIXSMITH_BENCH_ANALYZE_CHILD=<file>`: it
//! analyses the file and prints its VmHWM from /proc/self/status.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use criterion::Criterion;
use mixsmith_core::analyze::{AnalyzeOptions, LoudnessMeter, analyze_file};

/// Counts allocations so the bench can show that metering does not allocate.
struct CountingAlloc;

static ALLOCATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Allocations made while feeding 60 s of stereo audio in 512-frame blocks to a meter with
/// history enabled, after one warm-up block.
fn meter_allocations() -> u64 {
    let block: Vec<Vec<f32>> = (0..2)
        .map(|c| {
            (0..512)
                .map(|i| ((i * (c + 3)) as f32 * 0.01).sin() * 0.3)
                .collect()
        })
        .collect();
    let mut meter = LoudnessMeter::new(2, 48_000).expect("meter");
    meter.enable_history(0.1, 1024);
    meter.add_frames(&block).expect("feed");
    let before = ALLOCATIONS.load(std::sync::atomic::Ordering::Relaxed);
    for _ in 0..(60 * 48_000 / 512) {
        meter.add_frames(&block).expect("feed");
    }
    let after = ALLOCATIONS.load(std::sync::atomic::Ordering::Relaxed);
    std::hint::black_box(meter.momentary());
    after - before
}

const CHILD_ENV: &str = "MIXSMITH_BENCH_ANALYZE_CHILD";
const RATE: u32 = 44_100;

fn main() {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        let t = Instant::now();
        let report = analyze_file(&path, &AnalyzeOptions::default(), |_| {}).expect("analyze");
        let secs = t.elapsed().as_secs_f64();
        std::hint::black_box(report);
        println!("{} {secs}", common::vm_hwm_kib());
        return;
    }

    println!(
        "LoudnessMeter::add_frames, 60 s of stereo in 512-frame blocks: {} allocations",
        meter_allocations()
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let short = dir.path().join("3min.wav");
    common::write_test_wav(&short, RATE, 180);

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(15))
        .configure_from_args();
    c.bench_function("analyze_3min_stereo_44k1_wav", |b| {
        b.iter(|| analyze_file(&short, &AnalyzeOptions::default(), |_| {}).expect("analyze"))
    });
    c.final_summary();

    let wall = common::best_of(3, || {
        analyze_file(&short, &AnalyzeOptions::default(), |_| {}).expect("analyze");
    });
    println!(
        "\nanalyze 180 s: {:.3} s wall, {:.0} x real time (best of 3)",
        wall.as_secs_f64(),
        180.0 / wall.as_secs_f64()
    );
    let tempo_key = AnalyzeOptions {
        tempo_key_only: true,
        ..AnalyzeOptions::default()
    };
    let tempo_key_wall = common::best_of(3, || {
        analyze_file(&short, &tempo_key, |_| {}).expect("analyze");
    });
    println!(
        "analyze 180 s, tempo and key only: {:.3} s wall, {:.0} x real time, {:.1} x faster \
         than the whole analysis (best of 3)",
        tempo_key_wall.as_secs_f64(),
        180.0 / tempo_key_wall.as_secs_f64(),
        wall.as_secs_f64() / tempo_key_wall.as_secs_f64()
    );

    // The CLI binary itself, when a release build of it sits next to this bench.
    let cli = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.join("mixsmith")))
        .filter(|p| p.exists());
    match cli {
        Some(cli) => {
            let t = common::best_of(3, || {
                let out = Command::new(&cli)
                    .args(["analyze", "--json"])
                    .arg(&short)
                    .output()
                    .expect("run mixsmith");
                assert!(out.status.success());
            });
            println!(
                "mixsmith analyze --json on the 180 s file: {:.3} s wall (whole process), {:.0} x real time",
                t.as_secs_f64(),
                180.0 / t.as_secs_f64()
            );
        }
        None => println!(
            "(build `cargo build --release -p mixsmith` to also time the CLI binary itself)"
        ),
    }

    let t = Instant::now();
    let long = dir.path().join("60min.wav");
    common::write_test_wav(&long, RATE, 3600);
    println!(
        "wrote the 60-minute file ({:.0} MB) in {:.1} s",
        std::fs::metadata(&long).map(|m| m.len()).unwrap_or(0) as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let (short_kib, short_t) = common::child_peak(CHILD_ENV, &short);
    let (long_kib, long_t) = common::child_peak(CHILD_ENV, &long);
    std::fs::remove_file(&long).ok();
    println!(
        "peak memory (VmHWM of a child running analyze_file): 3 min {:.1} MiB ({:.2} s), \
         60 min {:.1} MiB ({:.2} s, {:.0} x real time); ratio 60/3 = {:.3}",
        short_kib as f64 / 1024.0,
        short_t.as_secs_f64(),
        long_kib as f64 / 1024.0,
        long_t.as_secs_f64(),
        3600.0 / long_t.as_secs_f64(),
        long_kib as f64 / short_kib as f64
    );
}
