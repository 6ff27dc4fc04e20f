//! The Stems plugin's audio path per 512-frame stereo block at 48 kHz, against a baseline
//! measured in the same run (copying the block to the main and the four auxiliary outputs,
//! the least any stem plugin does):
//!
//! - offline, where each block waits for the worker's separation: the whole cost of a block;
//! - realtime at real-time pace: what the host's audio thread pays per `process()`, with the
//!   worker's load and the underruns.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use mixsmith_core::realtime::{EngineStats, RenderMode};
use mixsmith_plugin::stems::engine::StemsEngine;

const RATE: f32 = 48_000.0;
const BLOCK: usize = 512;

/// A stereo block of a chord over noise hits, different every call.
struct Source {
    frame: usize,
}

impl Source {
    fn fill(&mut self, main: &mut [Vec<f32>; 2]) {
        let [left, right] = main;
        for (i, (l, r)) in left.iter_mut().zip(right.iter_mut()).enumerate() {
            let t = (self.frame + i) as f32 / RATE;
            let tone = (std::f32::consts::TAU * 220.0 * t).sin() * 0.2;
            let hit = if (self.frame + i) % 12_000 < 200 {
                0.3
            } else {
                0.0
            };
            *l = tone + hit;
            *r = 0.5 * tone + hit;
        }
        self.frame += BLOCK;
    }
}

fn engine(mode: RenderMode, stats: Arc<EngineStats>) -> StemsEngine {
    StemsEngine::start(RATE, 2, BLOCK, mode, [1.0; 4], Arc::default(), stats, None).expect("engine")
}

/// One block through `engine`: the main buffer in place, eight auxiliary channels out.
fn run_block(engine: &mut StemsEngine, main: &mut [Vec<f32>; 2], aux: &mut [Vec<f32>; 8]) {
    let [left, right] = main;
    let mut aux_slices = aux.each_mut().map(|c| &mut c[..]);
    engine.process(
        &mut [&mut left[..], &mut right[..]],
        &mut aux_slices,
        [1.0; 4],
        None,
    );
}

/// The baseline: the block copied to the four auxiliary outputs' channels.
fn copy_block(main: &[Vec<f32>; 2], aux: &mut [Vec<f32>; 8]) {
    for (index, out) in aux.iter_mut().enumerate() {
        out.copy_from_slice(std::hint::black_box(&main[index % 2]));
    }
}

fn offline(c: &mut Criterion) -> (f64, f64) {
    let mut group = c.benchmark_group("stems 512-frame stereo block");
    let mut main = [vec![0.0; BLOCK], vec![0.0; BLOCK]];
    let mut aux: [Vec<f32>; 8] = std::array::from_fn(|_| vec![0.0; BLOCK]);
    let mut source = Source { frame: 0 };
    let mut engine = engine(RenderMode::Offline, Arc::default());
    let mut timings = [Vec::new(), Vec::new()];
    group.bench_function("offline (waits for the separation)", |b| {
        b.iter_custom(|iterations| {
            let started = Instant::now();
            for _ in 0..iterations {
                source.fill(&mut main);
                run_block(&mut engine, &mut main, &mut aux);
            }
            let elapsed = started.elapsed();
            timings[0].push(elapsed.as_secs_f64() / iterations as f64);
            elapsed
        })
    });
    group.bench_function("baseline: copy to the stem outputs", |b| {
        b.iter_custom(|iterations| {
            let started = Instant::now();
            for _ in 0..iterations {
                source.fill(&mut main);
                copy_block(&main, &mut aux);
            }
            let elapsed = started.elapsed();
            timings[1].push(elapsed.as_secs_f64() / iterations as f64);
            elapsed
        })
    });
    group.finish();
    let median = |t: &mut Vec<f64>| {
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    };
    (median(&mut timings[0]), median(&mut timings[1]))
}

/// Blocks at real-time pace for `seconds`: the audio thread's cost per block.
fn paced_realtime(seconds: f64) {
    let stats = Arc::new(EngineStats::default());
    let mut engine = engine(RenderMode::Realtime, stats.clone());
    let mut main = [vec![0.0; BLOCK], vec![0.0; BLOCK]];
    let mut aux: [Vec<f32>; 8] = std::array::from_fn(|_| vec![0.0; BLOCK]);
    let mut source = Source { frame: 0 };
    let period = Duration::from_secs_f64(BLOCK as f64 / f64::from(RATE));
    let blocks = (seconds / period.as_secs_f64()) as usize;
    let (mut costs, mut baseline) = (Vec::new(), Vec::new());
    let start = Instant::now();
    for index in 0..blocks {
        source.fill(&mut main);
        let started = Instant::now();
        run_block(&mut engine, &mut main, &mut aux);
        costs.push(started.elapsed());
        let started = Instant::now();
        copy_block(&main, &mut aux);
        baseline.push(started.elapsed());
        if let Some(wait) =
            (start + period * (index as u32 + 1)).checked_duration_since(Instant::now())
        {
            std::thread::sleep(wait);
        }
    }
    costs.sort();
    baseline.sort();
    let snapshot = stats.snapshot();
    let (median, copy) = (costs[blocks / 2], baseline[blocks / 2]);
    println!(
        "stems, realtime at real-time pace, {blocks} blocks of {BLOCK} frames @ 48 kHz: \
         process() median {:.1} us, max {:.1} us; copy baseline {:.2} us (ratio {:.0}x); \
         block period {:.0} us; separator worker load {:.3} of one core; underruns {}",
        median.as_secs_f64() * 1e6,
        costs[blocks - 1].as_secs_f64() * 1e6,
        copy.as_secs_f64() * 1e6,
        median.as_secs_f64() / copy.as_secs_f64().max(1e-9),
        period.as_secs_f64() * 1e6,
        snapshot.load,
        snapshot.underruns,
    );
}

fn main() {
    let mut criterion = Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500))
        .configure_from_args();
    let (offline, copy) = offline(&mut criterion);
    criterion.final_summary();
    println!(
        "stems, offline, per {BLOCK}-frame stereo block: {:.1} us (separation included) against \
         a {:.2} us copy to the stem outputs (ratio {:.0}x); the block lasts {:.0} us, so an \
         offline render runs {:.0}x faster than real time",
        offline * 1e6,
        copy * 1e6,
        offline / copy.max(1e-12),
        BLOCK as f64 / f64::from(RATE) * 1e6,
        BLOCK as f64 / f64::from(RATE) / offline,
    );
    paced_realtime(3.0);
}
