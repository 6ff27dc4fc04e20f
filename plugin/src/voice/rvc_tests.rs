//! Mixsmith Voice with an RVC v2 pack (the generated test graphs: a "ContentVec" whose features
//! are each frame's level and a synthesizer singing a sine at `pitchf`): the offline render
//! equals `mixsmith voice convert --model`, its pitch is the input's times the transpose,
//! realtime falls back to the delayed dry signal without allocating, and a bad pack is a clear
//! error.

use std::f64::consts::TAU;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use mixsmith_core::inference::test_graph::{rvc_sine, write_pack_files, write_rvc_sine_pack};
use mixsmith_core::realtime::{EngineStats, RenderMode};
use mixsmith_core::voice::{ConvertSettings, PitchConfig, RvcConverter, RvcSettings, track};

use super::engine::{VoiceControls, VoiceEngine};
use super::pack::{PackCache, PackLoad};
use super::tests::{delayed, no_allocation, process_in_blocks};
use crate::test_support::load_runtime;

const MAX_BLOCK: usize = 512;

/// Writes the sine test pack (40 kHz synthesizer) into `dir` and loads it.
fn sine_pack(dir: &Path) -> Arc<RvcConverter> {
    load_runtime();
    write_rvc_sine_pack(dir, "sine voice").unwrap();
    PackCache::default()
        .load(&dir.display().to_string())
        .unwrap()
}

/// A sung-like tone around `hz` (±40 cents of vibrato at 0.8 Hz), amplitude 0.5.
fn tone(rate: u32, frames: usize, hz: f64) -> Vec<f32> {
    let mut phase = 0.0f64;
    (0..frames)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            phase += TAU * hz * (0.4 * (TAU * 0.8 * t).sin() / 12.0).exp2() / f64::from(rate);
            0.5 * phase.sin() as f32
        })
        .collect()
}

fn controls(transpose: f32, wet: f32, bypass: bool) -> VoiceControls {
    VoiceControls {
        convert: ConvertSettings {
            transpose_semitones: transpose,
            ..ConvertSettings::default()
        },
        wet,
        bypass,
    }
}

/// Plays `input` then `tail` frames of silence through `engine` in blocks cycling through
/// `blocks`, each block under the allocation check.
fn play(
    engine: &mut VoiceEngine,
    input: &[Vec<f32>],
    tail: usize,
    blocks: &[usize],
    c: VoiceControls,
) -> Vec<Vec<f32>> {
    let frames = input[0].len() + tail;
    let mut out: Vec<Vec<f32>> = input
        .iter()
        .map(|ch| {
            let mut ch = ch.clone();
            ch.resize(frames, 0.0);
            ch
        })
        .collect();
    process_in_blocks(engine, &mut out, blocks, c, true);
    out
}

/// The pitch error of `output` against `input` transposed, in cents over the frames voiced in
/// both, 0.1 s from either end: (median, 99th percentile, frames).
fn pitch_error(input: &[f32], output: &[f32], rate: u32, transpose: f32) -> (f64, f64, usize) {
    let config = PitchConfig::default();
    let (a, b) = (
        track(input, rate as f32, &config),
        track(output, rate as f32, &config),
    );
    let end = input.len() as f64 / f64::from(rate) - 0.1;
    let ratio = f64::from(transpose / 12.0).exp2();
    let mut errors: Vec<f64> = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| x.time > 0.1 && x.time < end && x.f0_hz > 0.0 && y.f0_hz > 0.0)
        .map(|(x, y)| (1200.0 * (f64::from(y.f0_hz) / (f64::from(x.f0_hz) * ratio)).log2()).abs())
        .collect();
    errors.sort_by(f64::total_cmp);
    let n = errors.len();
    assert!(n > 0, "no frame voiced in both");
    (errors[n / 2], errors[(n - 1) * 99 / 100], n)
}

#[test]
fn offline_a_pack_renders_what_the_cli_does_singing_the_input_pitch_transposed() {
    let tmp = tempfile::tempdir().unwrap();
    let converter = sine_pack(tmp.path());
    for (rate, transpose) in [(44_100u32, 7.0f32), (48_000, -5.0)] {
        let frames = rate as usize * 3 + 501;
        let input = vec![tone(rate, frames, 196.0), tone(rate, frames, 294.0)];
        let (mut engine, _links, stream) = VoiceEngine::with_pack(
            rate as f32,
            2,
            MAX_BLOCK,
            converter.clone(),
            RenderMode::Offline,
            Arc::new(EngineStats::default()),
        )
        .unwrap();
        let latency = engine.latency_frames();
        eprintln!(
            "{rate} Hz, blocks of up to {MAX_BLOCK}, 40 kHz pack: latency {latency} frames = \
             {:.1} ms",
            1000.0 * latency as f64 / f64::from(rate)
        );
        let c = controls(transpose, 1.0, false);
        let out = play(&mut engine, &input, latency, &[MAX_BLOCK, 100, 333], c);
        assert!(stream.error().is_none());
        let settings = RvcSettings {
            transpose,
            ..RvcSettings::default()
        };
        let cli = converter
            .convert(
                &input,
                rate,
                &settings,
                &mut |_, _| {},
                &AtomicBool::new(false),
            )
            .unwrap();
        for (c, ((x, y), z)) in input.iter().zip(&out).zip(&cli).enumerate() {
            assert_eq!(
                &y[..latency],
                &vec![0.0; latency][..],
                "silent until the latency"
            );
            let rendered = &y[latency..];
            assert_eq!(
                rendered,
                &z[..],
                "{rate} Hz, channel {c}: the render is the CLI's"
            );
            let (median, p99, voiced) = pitch_error(x, rendered, rate, transpose);
            eprintln!(
                "  channel {c}, transpose {transpose:+}: pitch error median {median:.2} cents, \
                 99th percentile {p99:.2} cents over {voiced} frames"
            );
            assert!(median < 3.0 && p99 < 12.0, "{median:.2} / {p99:.2} cents");
        }
    }
}

#[test]
fn realtime_never_waits_late_blocks_are_the_delayed_dry_signal_and_nothing_allocates() {
    let tmp = tempfile::tempdir().unwrap();
    let converter = sine_pack(tmp.path());
    let rate = 48_000u32;
    let stats = Arc::new(EngineStats::default());
    let (mut engine, _links, _stream) = VoiceEngine::with_pack(
        rate as f32,
        1,
        MAX_BLOCK,
        converter,
        RenderMode::Realtime,
        stats.clone(),
    )
    .unwrap();
    let latency = engine.latency_frames();
    let input = tone(rate, rate as usize * 4, 220.0);
    let dry = delayed(&input, latency);
    let mut out = input.clone();
    let c = controls(3.0, 1.0, false);
    let (mut underran, mut blocks) = (0, 0);
    // Faster than real time, never waiting: whenever the worker is late the block counts an
    // underrun and is the dry signal, delayed by the latency, bit for bit.
    for (start, block) in out.chunks_mut(MAX_BLOCK).enumerate() {
        let before = stats.snapshot().underruns;
        no_allocation(|| engine.process(&mut [&mut block[..]], c));
        let start = start * MAX_BLOCK;
        if stats.snapshot().underruns > before {
            underran += 1;
            assert_eq!(block, &dry[start..start + block.len()], "block at {start}");
        }
        blocks += 1;
    }
    eprintln!("realtime, faster than real time: {underran} of {blocks} blocks underran");
    // Bypassed, the output is the input delayed by the latency, bit for bit.
    let (mut engine, _links, _stream) = VoiceEngine::with_pack(
        rate as f32,
        1,
        MAX_BLOCK,
        sine_pack(&tmp.path().join("again")),
        RenderMode::Realtime,
        Arc::new(EngineStats::default()),
    )
    .unwrap();
    let mut out = input.clone();
    for block in out.chunks_mut(MAX_BLOCK) {
        no_allocation(|| engine.process(&mut [&mut block[..]], controls(3.0, 1.0, true)));
    }
    assert!(out == dry, "bypass is the delayed input");
}

#[test]
fn a_wrong_or_missing_pack_is_a_clear_error_naming_it() {
    load_runtime();
    let tmp = tempfile::tempdir().unwrap();
    let mut packs = PackCache::default();
    let missing = tmp.path().join("nowhere");
    let error = packs.load(&missing.display().to_string()).unwrap_err();
    assert!(error.contains("nowhere"), "{error}");
    // A voice pack without its ContentVec.
    let head = "name = \"half\"\ntask = \"voice\"\nconvention = \"rvc-v2\"\nsample_rate = 40000\n";
    write_pack_files(
        tmp.path(),
        head,
        &[("voice.onnx", &rvc_sine(40_000, 768), None)],
    )
    .unwrap();
    let error = packs.load(&tmp.path().display().to_string()).unwrap_err();
    assert!(
        error.contains("contentvec") && error.contains("manifest"),
        "{error}"
    );
}

/// Waits for a pack load's answer (the load itself takes well under a second here).
fn finished(load: &PackLoad) -> Result<(), String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        if let Some(result) = load.poll() {
            return result;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the pack never loaded"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn a_pack_chosen_in_the_editor_loads_into_the_cache_on_its_own_thread() {
    load_runtime();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pack");
    write_rvc_sine_pack(&dir, "sine voice").unwrap();
    let folder = dir.display().to_string();
    let cache = Arc::new(Mutex::new(PackCache::default()));

    let load = PackLoad::start(cache.clone(), folder.clone());
    assert_eq!(load.folder(), folder);
    finished(&load).unwrap();
    // activate() then finds it loaded: even with its files gone, the cache hands it over.
    std::fs::remove_dir_all(&dir).unwrap();
    let converter = cache.lock().unwrap().load(&folder).unwrap();
    assert_eq!(converter.sample_rate(), 40_000);

    let missing = tmp.path().join("nowhere").display().to_string();
    let error = finished(&PackLoad::start(cache.clone(), missing)).unwrap_err();
    assert!(error.contains("nowhere"), "{error}");
}
