//! Stem separation with the DSP default, on one core: `separate_file` (the code behind
//! `mixsmith separate`) on a 3-minute 44.1 kHz stereo WAV against a baseline measured in the
//! same run, the same file read once and written as four WAVs (the I/O every separation pays),
//! and the ratio to real time; then the peak memory (VmHWM) of a child process separating a
//! 3-minute and a 60-minute file as it streams, and their ratio.
//!
//! The child is this bench binary itself, re-run with `MIXSMITH_BENCH_SEPARATE_CHILD=<file>`:
//! it streams the file through the separator (discarding the stems, so the 60-minute run does
//! not need gigabytes of disk) and prints its VmHWM from /proc/self/status.

mod common;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use criterion::Criterion;
use mixsmith_core::audio::{AudioReader, SampleFormat, WavWriter};
use mixsmith_core::separate::{DspSeparator, STEMS, Separator, StemLayout, separate_file};

const CHILD_ENV: &str = "MIXSMITH_BENCH_SEPARATE_CHILD";
const RATE: u32 = 44_100;

/// Streams `path` through a [`DspSeparator`], discarding the stems.
fn stream_through_separator(path: &Path) {
    let mut reader = AudioReader::open(path).expect("open");
    let spec = reader.spec().clone();
    let mut separator = DspSeparator::new(spec.sample_rate, spec.channels).expect("separator");
    let mut stems: [Vec<Vec<f32>>; STEMS] =
        std::array::from_fn(|_| vec![Vec::new(); spec.channels]);
    while let Some(block) = reader.next_block().expect("decode") {
        let planes: Vec<&[f32]> = block.iter().map(Vec::as_slice).collect();
        separator.process(&planes, &mut stems);
        std::hint::black_box(&stems);
    }
}

/// The baseline: reads `path` once and writes it as four 24-bit WAVs into `out`.
fn read_and_write_four(path: &Path, out: &Path) {
    let mut reader = AudioReader::open(path).expect("open");
    let spec = reader.spec().clone();
    let mut writers: Vec<WavWriter> = (0..STEMS)
        .map(|i| {
            WavWriter::create(
                out.join(format!("copy{i}.wav")),
                spec.sample_rate,
                spec.channels,
                SampleFormat::Int24,
            )
            .expect("create")
        })
        .collect();
    while let Some(block) = reader.next_block().expect("decode") {
        for writer in &mut writers {
            writer.write_planar(block).expect("write");
        }
    }
    for writer in writers {
        writer.finalize().expect("finalise");
    }
}

fn separate(path: &Path, out: &Path) {
    separate_file(
        path,
        out,
        StemLayout::Four,
        SampleFormat::Int24,
        &AtomicBool::new(false),
        &mut |_, _, _| {},
    )
    .expect("separate");
}

fn main() {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        let t = Instant::now();
        stream_through_separator(Path::new(&path));
        println!("{} {}", common::vm_hwm_kib(), t.elapsed().as_secs_f64());
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let song = dir.path().join("3min.wav");
    common::write_test_wav(&song, RATE, 180);
    let out = dir.path().join("stems");
    std::fs::create_dir_all(&out).expect("out dir");

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(25))
        .configure_from_args();
    c.bench_function("separate_3min/baseline_read_and_write_four", |b| {
        b.iter(|| read_and_write_four(&song, &out))
    });
    c.bench_function("separate_3min/dsp_separator", |b| {
        b.iter(|| separate(&song, &out))
    });
    c.final_summary();

    let baseline = common::best_of(3, || read_and_write_four(&song, &out));
    let separated = common::best_of(3, || separate(&song, &out));
    println!(
        "\nseparate 180 s (DSP default, one thread): {:.2} s wall, {:.0}x real time; \
         reading it and writing four WAVs alone: {:.2} s (the separation takes {:.1}x that)",
        separated.as_secs_f64(),
        180.0 / separated.as_secs_f64(),
        baseline.as_secs_f64(),
        separated.as_secs_f64() / baseline.as_secs_f64()
    );

    let long = dir.path().join("60min.wav");
    common::write_test_wav(&long, RATE, 3600);
    let (short_kib, short_t) = common::child_peak(CHILD_ENV, &song);
    let (long_kib, long_t) = common::child_peak(CHILD_ENV, &long);
    std::fs::remove_file(&long).ok();
    println!(
        "peak memory (VmHWM of a child streaming through the separator): 3 min {:.1} MiB \
         ({:.2} s), 60 min {:.1} MiB ({:.1} s, {:.0}x real time); ratio 60/3 = {:.3}",
        short_kib as f64 / 1024.0,
        short_t.as_secs_f64(),
        long_kib as f64 / 1024.0,
        long_t.as_secs_f64(),
        3600.0 / long_t.as_secs_f64(),
        long_kib as f64 / short_kib as f64
    );
}
