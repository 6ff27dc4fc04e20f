//! "Export MIDI" end to end on real audio: the job the button starts, with the real ONNX Runtime
//! and basic-pitch model (from `cargo xtask setup`: `ORT_DYLIB_PATH` and
//! `MIXSMITH_BASIC_PITCH_ONNX`, else the workspace's `vendor/`), as the core's transcription
//! tests use them.

use std::f64::consts::TAU;
use std::thread;
use std::time::{Duration, Instant};

use mixsmith_core::transcribe::TICKS_PER_BEAT;

use super::*;
use crate::test_support::{fetched, load_runtime};

const RATE: u32 = 48_000;

/// The pitches played, in order: C4, E4, G4, C5.
const PITCHES: [u8; 4] = [60, 64, 67, 72];

/// Loads the fetched runtime for this process and returns the folder holding `nmp.onnx`.
fn model_dir() -> PathBuf {
    load_runtime();
    let onnx = fetched(
        "MIXSMITH_BASIC_PITCH_ONNX",
        "vendor/models/basic-pitch/nmp.onnx",
    );
    onnx.parent().unwrap().to_path_buf()
}

/// Seconds between two notes' onsets (80 BPM).
const NOTE_PERIOD_S: f64 = 0.75;

/// When the first note starts, in seconds.
const FIRST_ONSET_S: f64 = 0.25;

/// Stereo playback of [`PITCHES`], one every [`NOTE_PERIOD_S`] for 0.5 s, as flute-like tones
/// (a strong fundamental, weak second and third harmonics; brighter timbres make basic-pitch add
/// notes at their harmonics, as the Python package does) with a short attack and a decay,
/// slightly different levels per channel, 3.5 s in all.
fn played_notes() -> Vec<Vec<f32>> {
    let rate = f64::from(RATE);
    let frames = (3.5 * rate) as usize;
    let mut left = vec![0.0_f32; frames];
    let mut right = vec![0.0_f32; frames];
    for (index, &pitch) in PITCHES.iter().enumerate() {
        let f0 = 440.0 * 2f64.powf((f64::from(pitch) - 69.0) / 12.0);
        let start = (FIRST_ONSET_S + NOTE_PERIOD_S * index as f64) * rate;
        for n in 0..(0.5 * rate) as usize {
            let t = n as f64 / rate;
            let envelope = (t / 0.01).min(1.0) * (-t / 0.4).exp() * ((0.5 - t) / 0.02).min(1.0);
            let tone: f64 = [1.0, 0.15, 0.05]
                .iter()
                .enumerate()
                .map(|(h, amp)| amp * (TAU * f0 * (h + 1) as f64 * t).sin())
                .sum();
            let sample = 0.3 * envelope * tone;
            left[start as usize + n] += (0.9 * sample) as f32;
            right[start as usize + n] += (1.1 * sample) as f32;
        }
    }
    vec![left, right]
}

/// Waits for the job (the editor polls it once a frame; here every 20 ms).
fn wait(job: &ExportJob) -> Result<ExportReport, String> {
    let started = Instant::now();
    loop {
        if let Some(outcome) = job.outcome() {
            return outcome;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the export did not finish"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// The note-ons of a MIDI file written at `bpm` (480 ticks per beat): (seconds, pitch), in time
/// order.
fn midi_notes(path: &Path, bpm: f64) -> Vec<(f64, u8)> {
    let bytes = std::fs::read(path).unwrap();
    let smf = midly::Smf::parse(&bytes).unwrap();
    let mut ons = Vec::new();
    for track in &smf.tracks {
        let mut tick = 0_u32;
        for event in track {
            tick += event.delta.as_int();
            if let midly::TrackEventKind::Midi {
                message: midly::MidiMessage::NoteOn { key, vel },
                ..
            } = event.kind
                && vel > 0
            {
                ons.push((tick, key.as_int()));
            }
        }
    }
    ons.sort();
    let seconds_per_tick = 60.0 / bpm / f64::from(TICKS_PER_BEAT);
    ons.into_iter()
        .map(|(tick, key)| (f64::from(tick) * seconds_per_tick, key))
        .collect()
}

/// Asserts that the MIDI file holds exactly the notes played, each starting within 30 ms of
/// when it was played, at their tempo.
fn assert_played(report: &ExportReport) {
    let notes = midi_notes(&report.midi, report.tempo_bpm);
    let pitches: Vec<u8> = notes.iter().map(|&(_, pitch)| pitch).collect();
    assert_eq!(pitches, PITCHES, "{report:?}: {notes:?}");
    for (index, &(start, _)) in notes.iter().enumerate() {
        let played = FIRST_ONSET_S + NOTE_PERIOD_S * index as f64;
        assert!((start - played).abs() < 0.03, "{notes:?}");
    }
    assert_eq!(report.notes, PITCHES.len());
    // The notes' own tempo is written (one note per beat), so they sit on a DAW's grid.
    assert!(
        report.tempo_measured && (report.tempo_bpm - 60.0 / NOTE_PERIOD_S).abs() < 1.0,
        "{report:?}"
    );
}

#[test]
fn captured_playback_exports_the_notes_played() {
    let dir = tempfile::tempdir().unwrap();
    let source = ExportSource::Captured {
        audio: Arc::new(played_notes()),
        sample_rate: RATE,
    };
    // No extension: `.mid` is added.
    let job = ExportJob::start(source, dir.path().join("notes"), vec![model_dir()]);
    let report = wait(&job).unwrap();
    assert_eq!(report.midi, dir.path().join("notes.mid"));
    assert_eq!(job.progress(), 1.0);
    assert_played(&report);
    assert!((report.duration_s - 3.5).abs() < 1e-6, "{report:?}");
}

#[test]
fn a_picked_file_exports_the_notes_played() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("played.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: RATE,
        bits_per_sample: 24,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&wav, spec).unwrap();
    let audio = played_notes();
    for (l, r) in audio[0].iter().zip(&audio[1]) {
        for sample in [l, r] {
            writer
                .write_sample((sample * 8_388_607.0).round() as i32)
                .unwrap();
        }
    }
    writer.finalize().unwrap();
    let midi = dir.path().join("from-file.mid");
    let job = ExportJob::start(ExportSource::File(wav), midi.clone(), vec![model_dir()]);
    let report = wait(&job).unwrap();
    assert_eq!(report.midi, midi);
    assert_played(&report);
}

#[test]
fn failures_are_one_clear_line_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let midi = dir.path().join("out.mid");
    let captured = || ExportSource::Captured {
        audio: Arc::new(played_notes()),
        sample_rate: RATE,
    };
    // No model where it is looked for.
    let empty = dir.path().join("no-model");
    std::fs::create_dir(&empty).unwrap();
    let error = export_midi(&captured(), &midi, std::slice::from_ref(&empty), |_| {}).unwrap_err();
    assert!(
        error.contains("nmp.onnx")
            && error.contains("cargo xtask setup")
            && error.contains(&empty.display().to_string()),
        "{error}"
    );
    // An unreadable file is named.
    let missing = dir.path().join("absent.wav");
    let error = export_midi(
        &ExportSource::File(missing.clone()),
        &midi,
        &[model_dir()],
        |_| {},
    )
    .unwrap_err();
    assert!(
        error.contains(&missing.display().to_string()) && error.contains("not found"),
        "{error}"
    );
    // Nothing captured, no output path, a relative one, a missing folder.
    let nothing = ExportSource::Captured {
        audio: Arc::new(vec![Vec::new(), Vec::new()]),
        sample_rate: RATE,
    };
    let error = export_midi(&nothing, &midi, &[model_dir()], |_| {}).unwrap_err();
    assert!(error.contains("nothing captured"), "{error}");
    for (output, expected) in [
        (PathBuf::new(), "choose where"),
        (PathBuf::from("notes.mid"), "full path"),
        (dir.path().join("absent/notes.mid"), "folder does not exist"),
    ] {
        let error = export_midi(&captured(), &output, &[model_dir()], |_| {}).unwrap_err();
        assert!(error.contains(expected), "{output:?}: {error}");
    }
    assert!(!midi.exists());
}
