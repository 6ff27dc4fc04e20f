//! The RVC v2 pack path's own cost against the DSP voice converter on the same minute of mono
//! 48 kHz voice, in one run, on one core.
//!
//! The graphs are the generated test graphs (`inference::test_graph`: a "ContentVec" of frame
//! levels and a "synthesizer" that renders a sine at `pitchf`), which cost about as little as a
//! graph with these tensor shapes can; so the RVC figure is the engine's overhead (resampling,
//! the F0 track, windows, noise, alignment, cross-fades) that a real model adds its own time to.
//! Graph time = the same number of windows through both graphs
//! ([`RvcConverter::synthesize`], which also lays out the features and draws the noise),
//! measured in the same process. Also prints the latency a streaming use of the windows costs
//! next to the DSP converter's.
//!
//! Needs ONNX Runtime (`ORT_DYLIB_PATH`, else `<workspace>/vendor/`); skipped without it.

mod common;

use std::f64::consts::TAU;
use std::sync::atomic::AtomicBool;

use mixsmith_core::inference::ModelPack;
use mixsmith_core::inference::test_graph::{contentvec_mean_abs, rvc_sine, write_pack_files};
use mixsmith_core::voice::rvc::{CONTENT_RATE, FRAME, REALTIME_LATENCY_SAMPLES, WINDOW};
use mixsmith_core::voice::{
    ConvertSettings, RvcConverter, RvcSettings, VoiceConverter, convert, learn,
};

const RATE: u32 = 48_000;
const SECONDS: usize = 60;
/// The synthesizer's rate in the bench pack.
const MODEL_RATE: u32 = 40_000;

/// `seconds` of a sung-like tone at `RATE`: a sawtooth-ish sum of five harmonics walking over a
/// few notes around `hz` (0.5 s each) with vibrato, and a short gap between notes.
fn voice(hz: f64, seconds: usize) -> Vec<f32> {
    const STEPS: [f64; 6] = [0.0, 2.0, 4.0, 5.0, 7.0, 4.0];
    let rate = f64::from(RATE);
    let mut phase = 0.0f64;
    (0..seconds * RATE as usize)
        .map(|i| {
            let t = i as f64 / rate;
            let note = (t / 0.5) as usize;
            if t - note as f64 * 0.5 > 0.45 {
                return 0.0;
            }
            let f = hz * ((STEPS[note % STEPS.len()] + 0.3 * (TAU * 5.0 * t).sin()) / 12.0).exp2();
            phase += TAU * f / rate;
            let x: f64 = (1..=5).map(|k| (k as f64 * phase).sin() / k as f64).sum();
            (0.2 * x) as f32
        })
        .collect()
}

fn main() {
    if !common::load_runtime("voice_packs") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    write_pack_files(
        dir.path(),
        &format!(
            "name = \"sine voice\"\ntask = \"voice\"\nconvention = \"rvc-v2\"\n\
             sample_rate = {MODEL_RATE}\n"
        ),
        &[
            ("voice.onnx", &rvc_sine(MODEL_RATE, 768), None),
            (
                "contentvec.onnx",
                &contentvec_mean_abs(768, false),
                Some("contentvec"),
            ),
        ],
    )
    .expect("write pack");
    let pack = ModelPack::load(dir.path()).expect("load pack");
    let rvc = RvcConverter::load(&pack).expect("open pack");
    let input = voice(196.0, SECONDS);
    let audio = [input.clone()];
    let cancel = AtomicBool::new(false);
    let settings = RvcSettings::default();
    let total = common::best_of(3, || {
        std::hint::black_box(
            rvc.convert(&audio, RATE, &settings, &mut |_, _| {}, &cancel)
                .expect("convert"),
        );
    });

    // The graphs alone: the same number of windows through both graphs.
    let windows = RvcConverter::windows(input.len(), RATE);
    let window = vec![0.01f32; WINDOW];
    let pitchf = vec![200.0f32; WINDOW / FRAME];
    let graph = common::best_of(3, || {
        for index in 0..windows {
            std::hint::black_box(
                rvc.synthesize(&window, &pitchf, &settings, index)
                    .expect("synthesize"),
            );
        }
    });

    let profile = learn(&voice(147.0, 20), RATE as f32).expect("profile");
    let dsp_settings = ConvertSettings::default();
    let dsp = common::best_of(3, || {
        std::hint::black_box(convert(&profile, &input, RATE as f32, dsp_settings));
    });
    let dsp_latency = VoiceConverter::new(&profile, RATE as f32, dsp_settings).latency_frames();

    let minutes = SECONDS as f64 / 60.0;
    let around = total.saturating_sub(graph);
    println!(
        "RVC pack path (generated graphs, {MODEL_RATE} Hz synthesizer), {SECONDS} s mono \
         {RATE} Hz: {:.2} s per minute (real-time factor {:.4}); {windows} windows, the graphs \
         alone {:.2} s, the work around them {:.2} s = {:.1} ms per window",
        total.as_secs_f64() / minutes,
        total.as_secs_f64() / SECONDS as f64,
        graph.as_secs_f64(),
        around.as_secs_f64(),
        around.as_secs_f64() * 1000.0 / windows as f64,
    );
    println!(
        "DSP converter, same input: {:.2} s per minute (real-time factor {:.4}); the RVC path's \
         overhead = {:.1}x the DSP converter's time",
        dsp.as_secs_f64() / minutes,
        dsp.as_secs_f64() / SECONDS as f64,
        around.as_secs_f64() / dsp.as_secs_f64().max(1e-9),
    );
    println!(
        "latency if streamed: RVC windows {:.0} ms + one window's graph time; DSP converter \
         {:.1} ms",
        1000.0 * REALTIME_LATENCY_SAMPLES as f64 / f64::from(CONTENT_RATE),
        1000.0 * dsp_latency as f64 / f64::from(RATE),
    );
}
