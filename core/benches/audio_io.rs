//! Decode throughput per format (WAV, AIFF, FLAC, MP3, OGG/Vorbis) through the streaming
//! `AudioReader`, plus each format's speed as a ratio of real time and of WAV decoding, measured
//! in the same run. Files are 30 s of 44.1 kHz stereo generated into a temporary folder; FLAC,
//! MP3 and OGG need the `flac`, `lame` and `oggenc` tools (`cargo xtask setup`) and are skipped
//! with a message when those are missing.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, Throughput};
use mixsmith_core::audio::AudioReader;

const SECONDS: u32 = 30;
const RATE: u32 = 44_100;

/// Decodes the whole file; returns the frame count so the work cannot be optimised away.
fn decode(path: &Path) -> u64 {
    let mut reader = AudioReader::open(path).expect("open");
    let mut frames = 0u64;
    let mut acc = 0.0f32;
    while let Some(block) = reader.next_block().expect("decode") {
        frames += block[0].len() as u64;
        acc += block[0][0];
    }
    std::hint::black_box(acc);
    frames
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wav = dir.path().join("test.wav");
    common::write_test_wav(&wav, RATE, SECONDS);
    let mut files: Vec<(&str, PathBuf)> = vec![("wav", wav.clone())];
    let aiff = dir.path().join("test.aiff");
    common::wav_to_aiff(&wav, &aiff);
    files.push(("aiff", aiff));
    for (name, tool) in [("flac", "flac"), ("mp3", "lame"), ("ogg", "oggenc")] {
        let out = dir.path().join(format!("test.{name}"));
        if common::encode(tool, &wav, &out) {
            files.push((name, out));
        }
    }

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    {
        let mut group = c.benchmark_group("decode_30s_stereo_44k1");
        group.throughput(Throughput::Elements(u64::from(SECONDS * RATE)));
        for (name, path) in &files {
            group.bench_function(*name, |b| b.iter(|| decode(path)));
        }
        group.finish();
    }
    c.final_summary();

    println!("\ndecode of {SECONDS} s of 44.1 kHz stereo (best of 3, same run):");
    let audio = Duration::from_secs(u64::from(SECONDS));
    let wav_time = common::best_of(3, || {
        decode(&wav);
    });
    for (name, path) in &files {
        let t = common::best_of(3, || {
            decode(path);
        });
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        println!(
            "  {name:<5} {:>8.1} ms  {:>7.0} x real time  {:>6.1} Mframes/s  {:>5.2} x WAV time  ({:.1} MB)",
            t.as_secs_f64() * 1e3,
            audio.as_secs_f64() / t.as_secs_f64(),
            f64::from(SECONDS * RATE) / t.as_secs_f64() / 1e6,
            t.as_secs_f64() / wav_time.as_secs_f64(),
            size as f64 / 1e6,
        );
    }
}
