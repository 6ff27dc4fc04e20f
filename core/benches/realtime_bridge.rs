//! The realtime bridge's cost on the audio thread, against a baseline measured in the same run.
//!
//! - criterion: one offline-mode block through the bridge (the full round trip through the worker)
//!   versus the baseline, a plain copy of the block through a delay line on the same thread;
//! - a paced realtime run (blocks issued at the pace of a 48 kHz stream): the `process()` cost
//!   per block as median and maximum, underruns, and the worker's processing time as a ratio of
//!   real time;
//! - the subnormal flush the plugin runs over every output block, against a plain copy of the
//!   same block (criterion, and a ratio of medians printed at the end).

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group};
use mixsmith_core::realtime::{
    Bridge, BridgeConfig, EngineStats, PassThrough, RenderMode, flush_subnormals,
};

const SAMPLE_RATE: f32 = 48_000.0;
const CHUNK: usize = 256;

fn bridge(block: usize) -> Bridge {
    let config = BridgeConfig {
        channels: 2,
        output_channels: 2,
        sample_rate: SAMPLE_RATE,
        max_block_frames: block,
    };
    Bridge::start(
        PassThrough::new(CHUNK),
        config,
        Arc::new(EngineStats::default()),
    )
    .expect("start the bridge")
}

/// The baseline: what a plugin without a worker pays to delay a block by the same latency.
struct DelayBaseline {
    lines: Vec<Vec<f32>>,
    position: usize,
}

impl DelayBaseline {
    fn process(&mut self, channels: &mut [&mut [f32]]) {
        for (line, channel) in self.lines.iter_mut().zip(channels.iter_mut()) {
            let len = line.len();
            for (offset, sample) in channel.iter_mut().enumerate() {
                let slot = &mut line[(self.position + offset) % len];
                std::mem::swap(slot, sample);
            }
        }
        self.position = (self.position + channels[0].len()) % self.lines[0].len();
    }
}

fn offline_blocks(c: &mut Criterion) {
    let mut group = c.benchmark_group("block");
    for block in [64_usize, 512] {
        let mut left = vec![0.25_f32; block];
        let mut right = vec![-0.25_f32; block];
        let mut baseline = DelayBaseline {
            lines: vec![vec![0.0; 2 * CHUNK + block]; 2],
            position: 0,
        };
        group.bench_function(BenchmarkId::new("baseline_delay_copy", block), |b| {
            b.iter(|| baseline.process(&mut [&mut left[..], &mut right[..]]))
        });
        let mut bridge = bridge(block);
        group.bench_function(BenchmarkId::new("bridge_offline_round_trip", block), |b| {
            b.iter(|| {
                bridge
                    .audio()
                    .process(&mut [&mut left[..], &mut right[..]], RenderMode::Offline)
            })
        });
    }
    group.finish();
}

/// Issues blocks at real-time pace for `seconds` and reports the audio thread's cost per block.
fn paced_realtime(block: usize, seconds: f64) {
    let mut bridge = bridge(block);
    let mut left = vec![0.25_f32; block];
    let mut right = vec![-0.25_f32; block];
    let period = Duration::from_secs_f64(block as f64 / f64::from(SAMPLE_RATE));
    let blocks = (seconds / period.as_secs_f64()) as usize;
    let mut costs = Vec::with_capacity(blocks);
    let mut baseline_costs = Vec::with_capacity(blocks);
    let mut baseline = DelayBaseline {
        lines: vec![vec![0.0; bridge.latency_frames() + block]; 2],
        position: 0,
    };
    let start = Instant::now();
    for index in 0..blocks {
        let started = Instant::now();
        bridge
            .audio()
            .process(&mut [&mut left[..], &mut right[..]], RenderMode::Realtime);
        costs.push(started.elapsed());
        let started = Instant::now();
        baseline.process(&mut [&mut left[..], &mut right[..]]);
        baseline_costs.push(started.elapsed());
        if let Some(wait) =
            (start + period * (index as u32 + 1)).checked_duration_since(Instant::now())
        {
            std::thread::sleep(wait);
        }
    }
    costs.sort();
    baseline_costs.sort();
    let stats = bridge.stats();
    let median = costs[costs.len() / 2];
    let baseline_median = baseline_costs[baseline_costs.len() / 2];
    println!(
        "paced realtime, {block} frames @ 48 kHz, {blocks} blocks: process() median {:.2} us, max {:.2} us \
         (baseline delay copy median {:.2} us, ratio {:.1}x; block period {:.0} us); \
         underruns {}; worker time / real time {:.4}",
        median.as_secs_f64() * 1e6,
        costs[costs.len() - 1].as_secs_f64() * 1e6,
        baseline_median.as_secs_f64() * 1e6,
        median.as_secs_f64() / baseline_median.as_secs_f64().max(1e-9),
        period.as_secs_f64() * 1e6,
        stats.underruns,
        stats.load,
    );
}

/// A stereo 512-frame block of noise with every fourth sample subnormal.
fn hostile_block() -> [Vec<f32>; 2] {
    let mut state = 0x2545_f491_u32;
    let mut next = move |index: usize| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        if index.is_multiple_of(4) {
            f32::from_bits((state & 0x807f_ffff) | 1)
        } else {
            (state >> 8) as f32 / (1 << 24) as f32 - 0.5
        }
    };
    [
        (0..512).map(&mut next).collect(),
        (0..512).map(&mut next).collect(),
    ]
}

/// The plugin's last pass over each output block: copy-sized work, so a copy is the baseline.
fn subnormal_flush(c: &mut Criterion) {
    let source = hostile_block();
    let mut block = source.clone();
    let mut group = c.benchmark_group("output_512_stereo");
    group.bench_function("baseline_copy", |b| {
        b.iter(|| {
            for (out, inp) in block.iter_mut().zip(&source) {
                out.copy_from_slice(std::hint::black_box(inp));
            }
        })
    });
    group.bench_function("flush_subnormals", |b| {
        b.iter(|| {
            for channel in block.iter_mut() {
                flush_subnormals(std::hint::black_box(channel));
            }
        })
    });
    group.finish();
}

/// The median of `rounds` timings of `runs` calls of `work`, per call.
fn median_per_call(rounds: usize, runs: u32, mut work: impl FnMut()) -> Duration {
    let mut timings: Vec<Duration> = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..runs {
                work();
            }
            started.elapsed() / runs
        })
        .collect();
    timings.sort();
    timings[rounds / 2]
}

/// Prints the flush's cost per block against a plain copy, both measured here, alternately.
fn flush_ratio() {
    let source = hostile_block();
    let mut block = source.clone();
    let mut copy = Vec::new();
    let mut flush = Vec::new();
    for _ in 0..5 {
        copy.push(median_per_call(21, 20_000, || {
            for (out, inp) in block.iter_mut().zip(&source) {
                out.copy_from_slice(std::hint::black_box(inp));
            }
        }));
        flush.push(median_per_call(21, 20_000, || {
            for channel in block.iter_mut() {
                flush_subnormals(std::hint::black_box(channel));
            }
        }));
    }
    copy.sort();
    flush.sort();
    let (copy, flush) = (copy[2], flush[2]);
    println!(
        "subnormal flush, 512-frame stereo block: {:.1} ns against a plain copy's {:.1} ns \
         (ratio {:.2}x; the block period at 48 kHz is 10667 us)",
        flush.as_secs_f64() * 1e9,
        copy.as_secs_f64() * 1e9,
        flush.as_secs_f64() / copy.as_secs_f64().max(1e-12),
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    targets = offline_blocks, subnormal_flush
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    paced_realtime(64, 3.0);
    paced_realtime(512, 3.0);
    flush_ratio();
}
