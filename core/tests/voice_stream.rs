//! The RVC path as a stream ([`RvcStream`] on the realtime bridge) against the whole-file
//! conversion the CLI runs, with the generated test graphs (a "ContentVec" whose features are
//! each frame's level and a synthesizer singing a sine at `pitchf` with that level).
//!
//! Needs ONNX Runtime from `cargo xtask setup` (`ORT_DYLIB_PATH`, else `<workspace>/vendor/`).

mod common;

use std::f64::consts::TAU;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use common::fetched;
use mixsmith_core::inference::test_graph::{contentvec_mean_abs, rvc_sine, write_pack_files};
use mixsmith_core::inference::{LIBRARY_FILE, ModelPack, Runtime, RuntimeSearch};
use mixsmith_core::realtime::{Bridge, BridgeConfig, EngineStats, RenderMode, StreamProcessor};
use mixsmith_core::voice::rvc::{RvcStream, RvcStreamShared};
use mixsmith_core::voice::{RvcConverter, RvcSettings};

/// The host's largest block in these tests.
const BLOCK: usize = 512;

fn converter(dir: &Path, rate: u32) -> Arc<RvcConverter> {
    let lib = fetched(
        "ORT_DYLIB_PATH",
        &format!("vendor/onnxruntime/{LIBRARY_FILE}"),
    );
    Runtime::global_with(|| RuntimeSearch::explicit([lib])).expect("load ONNX Runtime");
    let head = format!(
        "name = \"sine voice\"\ntask = \"voice\"\nconvention = \"rvc-v2\"\nsample_rate = {rate}\n"
    );
    write_pack_files(
        dir,
        &head,
        &[
            ("voice.onnx", &rvc_sine(rate, 768), None),
            (
                "contentvec.onnx",
                &contentvec_mean_abs(768, false),
                Some("contentvec"),
            ),
        ],
    )
    .unwrap();
    Arc::new(RvcConverter::load(&ModelPack::load(dir).unwrap()).unwrap())
}

/// `silence` frames of silence, then a sung-like tone around `hz` (±40 cents of vibrato at
/// 0.8 Hz) at amplitude 0.5, `frames` long in all.
fn voice(rate: u32, frames: usize, silence: usize, hz: f64) -> Vec<f32> {
    let mut phase = 0.0f64;
    (0..frames)
        .map(|i| {
            if i < silence {
                return 0.0;
            }
            let t = i as f64 / f64::from(rate);
            phase += TAU * hz * (0.4 * (TAU * 0.8 * t).sin() / 12.0).exp2() / f64::from(rate);
            0.5 * phase.sin() as f32
        })
        .collect()
}

fn cli(converter: &RvcConverter, input: &[Vec<f32>], rate: u32, transpose: f32) -> Vec<Vec<f32>> {
    let settings = RvcSettings {
        transpose,
        ..RvcSettings::default()
    };
    converter
        .convert(
            input,
            rate,
            &settings,
            &mut |_, _| {},
            &AtomicBool::new(false),
        )
        .unwrap()
}

#[test]
fn the_stream_equals_the_cli_its_latency_later_with_no_frame_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let converter = converter(tmp.path(), 40_000);
    for (rate, transpose) in [(44_100u32, 7.0f32), (48_000, -5.0)] {
        let frames = rate as usize * 3 + 777;
        let input = vec![voice(rate, frames, 0, 220.0), voice(rate, frames, 0, 330.0)];
        let shared = Arc::new(RvcStreamShared::default());
        shared.set_transpose(transpose);
        let mut stream = RvcStream::new(converter.clone(), 2, rate, shared.clone()).unwrap();
        let (chunk, latency) = (stream.chunk_frames(), stream.latency_frames());
        // The input, then silence until the converted stream has come out.
        let total = (frames + latency).div_ceil(chunk) * chunk;
        let mut out = vec![Vec::new(); 2];
        for start in (0..total).step_by(chunk) {
            let block: Vec<Vec<f32>> = input
                .iter()
                .map(|c| {
                    (start..start + chunk)
                        .map(|i| c.get(i).copied().unwrap_or(0.0))
                        .collect()
                })
                .collect();
            let mut result = vec![vec![0.0; chunk]; 2];
            let ins: Vec<&[f32]> = block.iter().map(Vec::as_slice).collect();
            let mut outs: Vec<&mut [f32]> = result.iter_mut().map(Vec::as_mut_slice).collect();
            stream.process_chunk(&ins, &mut outs);
            for (o, r) in out.iter_mut().zip(result) {
                o.extend(r);
            }
        }
        assert_eq!(
            stream.missing_frames(),
            0,
            "every converted frame was there when due"
        );
        assert!(shared.error().is_none());
        let expected = cli(&converter, &input, rate, transpose);
        for (c, (o, e)) in out.iter().zip(&expected).enumerate() {
            let streamed = &o[latency..latency + frames];
            let worst = streamed
                .iter()
                .zip(e)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert_eq!(
                streamed,
                &e[..],
                "{rate} Hz, channel {c}: differs by up to {worst}"
            );
        }
    }
}

#[test]
fn an_offline_render_through_the_bridge_equals_the_cli_and_the_reported_latency_is_the_delay() {
    let tmp = tempfile::tempdir().unwrap();
    let converter = converter(tmp.path(), 40_000);
    for rate in [44_100u32, 48_000] {
        // 0.7 s of silence, then the voice: its onset shows the delay.
        let silence = rate as usize * 7 / 10;
        let frames = rate as usize * 3;
        let input = voice(rate, frames, silence, 196.0);
        let shared = Arc::new(RvcStreamShared::default());
        let stream = RvcStream::new(converter.clone(), 1, rate, shared).unwrap();
        let config = BridgeConfig {
            channels: 1,
            output_channels: 1,
            sample_rate: rate as f32,
            max_block_frames: BLOCK,
        };
        let mut bridge = Bridge::start(stream, config, Arc::new(EngineStats::default())).unwrap();
        let latency = bridge.latency_frames();
        eprintln!(
            "{rate} Hz, 40 kHz pack, blocks of {BLOCK}: latency {latency} frames = {:.1} ms",
            1000.0 * latency as f64 / f64::from(rate)
        );
        let mut out = Vec::with_capacity(frames + latency);
        let mut block = vec![0.0f32; BLOCK];
        for start in (0..frames + latency).step_by(BLOCK) {
            for (i, x) in block.iter_mut().enumerate() {
                *x = input.get(start + i).copied().unwrap_or(0.0);
            }
            bridge
                .audio()
                .process(&mut [&mut block[..]], RenderMode::Offline);
            out.extend_from_slice(&block);
        }
        assert_eq!(bridge.stats().underruns, 0);
        let expected = cli(&converter, std::slice::from_ref(&input), rate, 0.0);
        assert_eq!(&out[latency..latency + frames], &expected[0][..]);
        // Measured: the output's onset (first sample above a fifth of the input's level)
        // against the input's, within one ContentVec frame (20 ms: the features' level steps
        // once per frame).
        let onset = out.iter().position(|x| x.abs() > 0.1).unwrap();
        let delay = onset as i64 - silence as i64;
        let frame = i64::from(rate) / 50;
        eprintln!(
            "{rate} Hz: onset delayed by {delay} frames, reported {latency} ({:+.1} ms)",
            1000.0 * (delay - latency as i64) as f64 / f64::from(rate)
        );
        assert!(
            (delay - latency as i64).abs() <= frame,
            "measured delay {delay}, reported latency {latency}"
        );
    }
}
