//! The Voice engine and monitor: the delayed dry path, conversion equal to the CLI's for any
//! block size, the dry/wet mix, the pitch plot and learning a voice from playback.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mixsmith_core::voice::{ConvertSettings, VoiceProfile, convert, learn};

use super::engine::{VoiceControls, VoiceEngine};
use super::monitor::{Monitor, VoiceCommand, VoiceShared};
use super::params::VoiceParams;
use nice_plug::prelude::{Param, ParamFlags, Params};

const RATE: f32 = 48_000.0;
const MAX_BLOCK: usize = 512;

/// A sung vowel: a sawtooth at `f0` Hz (with a 5.5 Hz vibrato of ±30 cents) through resonators
/// at `formants` Hz.
fn vowel(seconds: f32, f0: f32, formants: &[f32]) -> Vec<f32> {
    let frames = (seconds * RATE) as usize;
    let mut phase = 0.0f32;
    let mut source = Vec::with_capacity(frames);
    for t in 0..frames {
        let time = t as f32 / RATE;
        let cents = 30.0 * (std::f32::consts::TAU * 5.5 * time).sin();
        phase = (phase + f0 * 2f32.powf(cents / 1200.0) / RATE).fract();
        source.push(2.0 * phase - 1.0);
    }
    let mut out = vec![0.0f32; frames];
    for &formant in formants {
        // A two-pole resonator, 80 Hz wide.
        let r = (-std::f32::consts::PI * 80.0 / RATE).exp();
        let c = 2.0 * r * (std::f32::consts::TAU * formant / RATE).cos();
        let (mut y1, mut y2) = (0.0f32, 0.0f32);
        for (o, &x) in out.iter_mut().zip(&source) {
            let y = (1.0 - r) * x + c * y1 - r * r * y2;
            y2 = y1;
            y1 = y;
            *o += 0.3 * y;
        }
    }
    out
}

/// The voice the profile is learned from, and a different one to convert.
fn voices() -> (Vec<f32>, Vec<f32>) {
    (
        vowel(12.0, 180.0, &[300.0, 2300.0, 3000.0]),
        vowel(3.0, 220.0, &[800.0, 1200.0, 2500.0]),
    )
}

fn controls(amount: f32, wet: f32, bypass: bool) -> VoiceControls {
    VoiceControls {
        convert: ConvertSettings {
            amount,
            formant_semitones: 0.0,
            protect: 0.33,
            transpose_semitones: 0.0,
        },
        wet,
        bypass,
    }
}

/// Plays `input` (planar) through `engine` in blocks cycling through `blocks`.
fn play(
    engine: &mut VoiceEngine,
    input: &[Vec<f32>],
    blocks: &[usize],
    c: VoiceControls,
) -> Vec<Vec<f32>> {
    let mut out = input.to_vec();
    process_in_blocks(engine, &mut out, blocks, c, false);
    out
}

/// Processes `audio` (planar) in place through `engine` in blocks cycling through `blocks`,
/// each block under the allocation check when `checked`.
pub(super) fn process_in_blocks(
    engine: &mut VoiceEngine,
    audio: &mut [Vec<f32>],
    blocks: &[usize],
    c: VoiceControls,
    checked: bool,
) {
    let frames = audio[0].len();
    let mut done = 0;
    for &block in blocks.iter().cycle() {
        if done == frames {
            break;
        }
        let len = block.min(frames - done);
        let mut channels: Vec<&mut [f32]> = audio
            .iter_mut()
            .map(|ch| &mut ch[done..done + len])
            .collect();
        if checked {
            no_allocation(|| engine.process(&mut channels, c));
        } else {
            engine.process(&mut channels, c);
        }
        done += len;
    }
}

/// `signal` delayed by `frames` (same length).
pub(super) fn delayed(signal: &[f32], frames: usize) -> Vec<f32> {
    let mut out = vec![0.0; frames.min(signal.len())];
    out.extend_from_slice(&signal[..signal.len() - out.len()]);
    out
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn profile() -> VoiceProfile {
    learn(&voices().0, RATE).expect("the reference is a voice")
}

#[test]
fn without_a_profile_the_voice_passes_delayed_and_bypass_is_exact() {
    let (mut engine, _links) = VoiceEngine::new(RATE, 1, MAX_BLOCK).unwrap();
    let latency = engine.latency_frames();
    assert!(latency as f32 / RATE <= 0.030, "{latency} frames");
    let input = vec![voices().1];
    let out = play(&mut engine, &input, &[MAX_BLOCK], controls(1.0, 1.0, false));
    let expected = delayed(&input[0], latency);
    assert!(max_difference(&out[0], &expected) < 1e-4);

    let (mut engine, mut links) = VoiceEngine::new(RATE, 1, MAX_BLOCK).unwrap();
    links.profile.publish(Some(Arc::new(profile()))).unwrap();
    let out = play(&mut engine, &input, &[MAX_BLOCK], controls(1.0, 1.0, true));
    assert!(
        out[0] == expected,
        "bypass is the input delayed, bit for bit"
    );
}

#[test]
fn a_profile_converts_each_channel_as_the_cli_does_in_any_block_size() {
    let profile = profile();
    let (_, y) = voices();
    let other = vowel(3.0, 150.0, &[500.0, 1500.0, 2600.0]);
    let input = vec![y, other];
    let settings = controls(0.8, 1.0, false);
    let (mut engine, mut links) = VoiceEngine::new(RATE, 2, MAX_BLOCK).unwrap();
    links
        .profile
        .publish(Some(Arc::new(profile.clone())))
        .unwrap();
    let latency = engine.latency_frames();
    let out = play(&mut engine, &input, &[17, 512, 1, 300, 64], settings);
    for (channel, output) in input.iter().zip(&out) {
        let cli = convert(&profile, channel, RATE, settings.convert);
        let aligned = &output[latency..];
        assert_eq!(
            aligned,
            &cli[..aligned.len()],
            "offline render = voice convert"
        );
        let dry = &channel[..aligned.len()];
        assert!(
            max_difference(aligned, dry) > 0.01,
            "the voice was converted"
        );
    }
}

#[test]
fn dry_wet_mixes_the_delayed_input_with_the_converted_voice() {
    let profile = Arc::new(profile());
    let input = vec![voices().1];
    let run = |wet: f32| {
        let (mut engine, mut links) = VoiceEngine::new(RATE, 1, MAX_BLOCK).unwrap();
        links.profile.publish(Some(profile.clone())).unwrap();
        let latency = engine.latency_frames();
        (
            play(&mut engine, &input, &[256], controls(1.0, wet, false)),
            latency,
        )
    };
    let (full, latency) = run(1.0);
    let (half, _) = run(0.5);
    let dry = delayed(&input[0], latency);
    for ((h, f), d) in half[0].iter().zip(&full[0]).zip(&dry) {
        assert!((h - 0.5 * (f + d)).abs() < 1e-5);
    }
}

/// Polls `done` until it holds; the generous limit only turns a hang into a failure (a debug
/// build learning a voice on a loaded CI machine has taken over a minute).
fn wait_for(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_monitor_plots_the_pitch_and_learns_a_voice_from_playback() {
    let (mut engine, links) = VoiceEngine::new(RATE, 1, MAX_BLOCK).unwrap();
    let params = Arc::new(VoiceParams::default());
    let shared = Arc::new(VoiceShared::default());
    let monitor = Monitor::start(RATE, links, params.clone(), shared.clone()).unwrap();
    let commands = monitor.commands();
    commands.send(VoiceCommand::StartCapture).unwrap();
    wait_for("the capture", || shared.capturing.load(Ordering::Relaxed));
    let reference = voices().0;
    let mut played = 0;
    for chunk in reference.chunks(RATE as usize / 4) {
        // Real-time playback would pace this; here the monitor (whose ring holds 2 s) is given
        // the time to read each quarter second before the next.
        play(
            &mut engine,
            &[chunk.to_vec()],
            &[MAX_BLOCK],
            controls(1.0, 1.0, false),
        );
        played += chunk.len();
        let seconds = played as f32 / RATE;
        wait_for("the monitor to read", || {
            shared.captured_seconds.load(Ordering::Relaxed) >= seconds - 1e-3
        });
    }
    let voiced: Vec<f32> = shared
        .history
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p.input_hz > 0.0)
        .map(|p| p.input_hz)
        .collect();
    assert!(voiced.len() > 100, "{} voiced points", voiced.len());
    let mut sorted = voiced.clone();
    sorted.sort_by(f32::total_cmp);
    let median = sorted[sorted.len() / 2];
    assert!(
        (1200.0 * (median / 180.0).log2()).abs() < 20.0,
        "median {median} Hz"
    );

    commands.send(VoiceCommand::LearnCaptured).unwrap();
    wait_for("the profile", || !params.profile.read().unwrap().is_empty());
    let learned = VoiceProfile::from_json(&params.profile.read().unwrap()).unwrap();
    assert!(
        (learned.pitch.median_hz / 180.0 - 1.0).abs() < 0.02,
        "{:?}",
        learned.pitch
    );
    assert!(
        shared.status().starts_with("Voice of the host's playback"),
        "{}",
        shared.status()
    );

    commands
        .send(VoiceCommand::LearnFile("/nonexistent/voice.wav".into()))
        .unwrap();
    wait_for("the error", || shared.status().starts_with("Not learned"));
    assert!(
        shared.status().contains("/nonexistent/voice.wav"),
        "{}",
        shared.status()
    );
    assert!(
        !params.profile.read().unwrap().is_empty(),
        "a failed learn keeps the profile"
    );
}

#[test]
fn transpose_is_an_automatable_parameter_in_semitones() {
    let params = VoiceParams::default();
    let transpose = &params.transpose;
    assert_eq!(transpose.value(), 0.0);
    assert!(transpose.to_string().ends_with(" st"), "{transpose}");
    assert_eq!(transpose.preview_plain(0.0), -24.0);
    assert_eq!(transpose.preview_plain(1.0), 24.0);
    assert!(
        !transpose.flags().contains(ParamFlags::NON_AUTOMATABLE),
        "{:?}",
        transpose.flags()
    );
    let ids: Vec<String> = params.param_map().into_iter().map(|(id, ..)| id).collect();
    assert!(ids.iter().any(|id| id == "transpose"), "{ids:?}");
}

#[test]
fn transpose_automation_moves_the_pitch_without_allocating() {
    let profile = Arc::new(profile());
    let input = vec![voices().1, vowel(3.0, 150.0, &[500.0, 1500.0, 2600.0])];
    let (mut engine, mut links) = VoiceEngine::new(RATE, 2, MAX_BLOCK).unwrap();
    links.profile.publish(Some(profile.clone())).unwrap();
    let mut out = input.clone();
    let frames = input[0].len();
    let (mut done, mut step) = (0, 0usize);
    while done < frames {
        step += 1;
        let len = (step * 7919 % MAX_BLOCK + 1).min(frames - done);
        // Automation: a new transpose every block, gliding from -12 to +12 semitones.
        let mut c = controls(1.0, 1.0, false);
        c.convert.transpose_semitones = 24.0 * done as f32 / frames as f32 - 12.0;
        let mut channels: Vec<&mut [f32]> =
            out.iter_mut().map(|ch| &mut ch[done..done + len]).collect();
        no_allocation(|| engine.process(&mut channels, c));
        done += len;
    }
    assert!(out.iter().flatten().all(|x| x.is_finite()));

    // A fixed +12 transposes as `voice convert --transpose 12` does.
    let (mut engine, mut links) = VoiceEngine::new(RATE, 1, MAX_BLOCK).unwrap();
    links.profile.publish(Some(profile.clone())).unwrap();
    let mut c = controls(1.0, 1.0, false);
    c.convert.transpose_semitones = 12.0;
    let mono = vec![input[0].clone()];
    let out = play(&mut engine, &mono, &[100, 512, 7], c);
    let cli = convert(&profile, &mono[0], RATE, c.convert);
    let latency = engine.latency_frames();
    assert_eq!(&out[0][latency..], &cli[..frames - latency]);

    // Without a profile the transpose still applies (the timbre is left as it is).
    let (mut engine, _links) = VoiceEngine::new(RATE, 1, MAX_BLOCK).unwrap();
    let out = play(&mut engine, &mono, &[MAX_BLOCK], c);
    assert!(max_difference(&out[0], &delayed(&mono[0], latency)) > 0.01);
}

/// Runs `f` with allocation forbidden, as nice-plug runs `process()` in builds with the
/// `assert_process_allocs` feature: an allocation aborts the test.
#[cfg(feature = "assert_process_allocs")]
pub(super) fn no_allocation(f: impl FnOnce()) {
    nice_assert_no_alloc::assert_no_alloc(f);
}

/// Runs `f` (allocations are only caught with the `assert_process_allocs` feature).
#[cfg(not(feature = "assert_process_allocs"))]
pub(super) fn no_allocation(f: impl FnOnce()) {
    f();
}
