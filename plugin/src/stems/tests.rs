//! The Stems engine with a model pack: the first pass captures and separates, later passes play
//! the pack's stems wherever the audio is unchanged, and the DSP stems where it changed.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mixsmith_core::audio::{SampleFormat, WavWriter};
use mixsmith_core::inference::ModelPack;
use mixsmith_core::inference::test_graph::{mdx_low_pass, write_pack};
use mixsmith_core::realtime::{EngineStats, RenderMode};
use mixsmith_core::separate::ahead::{CELL_FRAMES, cell_of};
use mixsmith_core::separate::{PackSeparator, STEMS, Stem, StemLayout};

use super::ahead::{AheadCommand, AheadShared, AheadThreads};
use super::engine::StemsEngine;
use crate::test_support::load_runtime;

const RATE: u32 = 44_100;
const BLOCK: usize = 512;

/// An mdx pack whose graph keeps the bins below 500 Hz as the bass.
pub(crate) fn bass_pack(dir: &Path) {
    let head = "name = \"low 500\"\ntask = \"separate\"\nconvention = \"mdx\"\nsample_rate = 44100\n\
                stems = [\"bass\"]\n[params]\nn_fft = 4096\ndim_f = 1024\ndim_t = 64\ncompensation = 1.0\n";
    write_pack(
        dir,
        "model.onnx",
        &mdx_low_pass(4096, 1024, Some(64), 500.0),
        head,
    )
    .unwrap();
}

/// A 100 Hz + 3 kHz stereo mix; `edit` adds a 1.5 kHz tone to frames in that range.
fn mix(frames: usize, edit: Option<std::ops::Range<usize>>) -> Vec<Vec<f32>> {
    (0..2)
        .map(|c| {
            (0..frames)
                .map(|t| {
                    let x = t as f32 / RATE as f32;
                    let mut v = 0.4 * (std::f32::consts::TAU * 100.0 * x).sin()
                        + 0.2 * (std::f32::consts::TAU * 3000.0 * x + c as f32).sin();
                    if edit.as_ref().is_some_and(|r| r.contains(&t)) {
                        v += 0.2 * (std::f32::consts::TAU * 1500.0 * x).sin();
                    }
                    v
                })
                .collect()
        })
        .collect()
}

/// Plays `input` through `engine` from timeline 0 (or stopped), returning the four aux stems.
fn play(engine: &mut StemsEngine, input: &[Vec<f32>], playing: bool) -> [Vec<Vec<f32>>; STEMS] {
    let frames = input[0].len();
    let mut out: [Vec<Vec<f32>>; STEMS] = std::array::from_fn(|_| vec![Vec::new(); 2]);
    let mut main = [vec![0.0; BLOCK], vec![0.0; BLOCK]];
    let mut aux: [Vec<f32>; 8] = std::array::from_fn(|_| vec![0.0; BLOCK]);
    for start in (0..frames).step_by(BLOCK) {
        let n = BLOCK.min(frames - start);
        for (m, i) in main.iter_mut().zip(input) {
            m[..n].copy_from_slice(&i[start..start + n]);
        }
        let [left, right] = &mut main;
        let mut aux_slices = aux.each_mut().map(|c| &mut c[..n]);
        engine.process(
            &mut [&mut left[..n], &mut right[..n]],
            &mut aux_slices,
            [1.0; STEMS],
            playing.then_some(start as i64),
        );
        for stem in 0..STEMS {
            for c in 0..2 {
                out[stem][c].extend_from_slice(&aux[stem * 2 + c][..n]);
            }
        }
    }
    out
}

/// A bass pack in `dir`, chosen, and an offline engine separating ahead with it.
fn offline_engine_with_pack(dir: &Path) -> (Arc<AheadShared>, AheadThreads, StemsEngine) {
    load_runtime();
    bass_pack(dir);
    let shared = Arc::new(AheadShared::default());
    shared.set_pack(&dir.display().to_string());
    let (threads, ahead) = AheadThreads::start(RATE, 2, Arc::clone(&shared)).unwrap();
    let engine = StemsEngine::start(
        RATE as f32,
        2,
        BLOCK,
        RenderMode::Offline,
        [1.0; STEMS],
        Arc::default(),
        Arc::new(EngineStats::default()),
        Some(ahead),
    )
    .unwrap();
    (shared, threads, engine)
}

/// What the pack in `dir` makes of `song`, run directly (as `mixsmith separate --model`).
fn pack_stems(dir: &Path, song: &[Vec<f32>]) -> [Vec<Vec<f32>>; STEMS] {
    PackSeparator::load(&[ModelPack::load(dir).unwrap()])
        .unwrap()
        .separate(
            song,
            RATE,
            StemLayout::Four,
            &mut |_, _| {},
            &Default::default(),
        )
        .unwrap()
}

#[test]
fn a_played_region_is_separated_by_the_pack_and_its_stems_play_where_the_audio_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (shared, threads, mut engine) = offline_engine_with_pack(dir.path());
    let latency = engine.latency_frames();
    let frames = 3 * RATE as usize;
    let song = mix(frames, None);
    let expected = pack_stems(dir.path(), &song);

    // First pass: captured; the stems are the live DSP ones.
    let first = play(&mut engine, &song, true);
    // Stopped: the region closes and the pack separates it.
    let deadline = Instant::now() + Duration::from_secs(120);
    while shared.cached.lock().unwrap().0 == 0 {
        assert!(
            Instant::now() < deadline,
            "{}",
            shared.status.lock().unwrap()
        );
        play(&mut engine, &mix(BLOCK, None), false);
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = shared.status.lock().unwrap().clone();
    assert!(status.starts_with("Separated 3.0 s"), "{status}");

    // Second pass, the same audio: the pack's stems, to the bit, in every whole cell.
    let second = play(&mut engine, &song, true);
    let bass = Stem::Bass.index();
    let whole_cells = cell_of(frames as i64) as usize * CELL_FRAMES;
    for t in latency..whole_cells {
        for c in 0..2 {
            for stem in 0..STEMS {
                assert_eq!(
                    second[stem][c][t],
                    expected[stem][c][t - latency],
                    "stem {stem}, channel {c}, frame {t}"
                );
            }
        }
    }
    assert_ne!(
        first[bass][0][latency..whole_cells],
        second[bass][0][latency..whole_cells]
    );
    // Stopped long enough for the second pass's region to close: it is not separated again.
    stop_for(&mut engine, Duration::from_millis(800));
    assert!(!shared.busy.load(Ordering::Acquire));
    assert_eq!(
        shared.cached.lock().unwrap().0,
        1,
        "the unchanged second pass was not separated again"
    );

    // Third pass with an edit in the middle: those cells fall back to the live stems (which
    // still add up to the input), the rest keeps the pack's.
    let edit = RATE as usize..RATE as usize + 10_000;
    let edited = mix(frames, Some(edit.clone()));
    let third = play(&mut engine, &edited, true);
    let changed = |t: usize| {
        let cell = cell_of((t - latency) as i64);
        (cell_of(edit.start as i64)..=cell_of(edit.end as i64 - 1)).contains(&cell)
    };
    for t in latency..whole_cells {
        let from_pack = (0..STEMS).all(|s| third[s][0][t] == expected[s][0][t - latency]);
        assert_eq!(
            from_pack,
            !changed(t),
            "frame {t}: {:?} against {:?}",
            (0..STEMS).map(|s| third[s][0][t]).collect::<Vec<_>>(),
            (0..STEMS)
                .map(|s| expected[s][0][t - latency])
                .collect::<Vec<_>>()
        );
        let sum: f32 = (0..STEMS).map(|s| third[s][0][t]).sum();
        assert!(
            (sum - edited[0][t - latency]).abs() < 1e-4,
            "frame {t}: {sum}"
        );
    }
    drop(engine);
    drop(threads);
    assert_eq!(shared.dropped_frames.load(Ordering::Relaxed), 0);
}

#[test]
fn a_picked_file_is_found_where_the_host_plays_it_and_its_pack_stems_play_from_the_first_pass() {
    let dir = tempfile::tempdir().unwrap();
    let (shared, threads, mut engine) = offline_engine_with_pack(dir.path());
    let latency = engine.latency_frames();
    let frames = 3 * RATE as usize;
    let song = mix(frames, None);
    let file = dir.path().join("song.wav");
    let mut writer = WavWriter::create(&file, RATE, 2, SampleFormat::Float32).unwrap();
    writer.write_planar(&song).unwrap();
    writer.finalize().unwrap();
    let expected = pack_stems(dir.path(), &song);

    // A file that cannot be read says so.
    let commands = threads.commands();
    commands
        .send(AheadCommand::SeparateFile(dir.path().join("missing.wav")))
        .unwrap();
    let status = wait_for_status(&shared, &mut engine, "Cannot read");
    assert!(status.contains("missing.wav"), "{status}");
    commands.send(AheadCommand::SeparateFile(file)).unwrap();
    wait_for_status(&shared, &mut engine, "Separated song.wav (3.0 s)");

    // The track plays the file from 7000 frames on (not on a cell boundary), after silence:
    // a first offline pass already gives the pack's stems, to the bit, in every whole cell
    // heard from the one the file starts in (silent before the file) to its last.
    let offset = 7_000;
    let mut input = vec![vec![0.0; offset]; 2];
    for (i, s) in input.iter_mut().zip(&song) {
        i.extend_from_slice(s);
    }
    let on_timeline = |stem: usize, c: usize, source: usize| {
        source
            .checked_sub(offset)
            .map_or(0.0, |frame| expected[stem][c][frame])
    };
    let first = play(&mut engine, &input, true);
    let status = shared.status.lock().unwrap().clone();
    assert!(
        status.starts_with("Found song.wav on the timeline at 0.16 s"),
        "{status}"
    );
    let cells = cell_of(offset as i64) as usize * CELL_FRAMES
        ..cell_of(input[0].len() as i64 - latency as i64) as usize * CELL_FRAMES;
    assert!(
        cells.start < offset && cells.len() > 2 * RATE as usize,
        "{cells:?}"
    );
    let pack_stems_in_cells = |output: &[Vec<Vec<f32>>; STEMS]| {
        for (stem, channels) in output.iter().enumerate() {
            for (c, samples) in channels.iter().enumerate() {
                for source in cells.clone() {
                    assert_eq!(
                        samples[source + latency],
                        on_timeline(stem, c, source),
                        "stem {stem}, channel {c}, source frame {source}"
                    );
                }
            }
        }
    };
    pack_stems_in_cells(&first);
    // What was played is the file after silence: it is not separated again, and a second
    // render gives the same stems.
    stop_for(&mut engine, Duration::from_millis(800));
    assert!(!shared.busy.load(Ordering::Acquire));
    assert_eq!(shared.cached.lock().unwrap().0, 1);
    pack_stems_in_cells(&play(&mut engine, &input, true));
    drop(engine);
    drop(threads);
}

/// Keeps `engine` stopped for `time`.
fn stop_for(engine: &mut StemsEngine, time: Duration) {
    let stopped = Instant::now();
    while stopped.elapsed() < time {
        play(engine, &mix(BLOCK, None), false);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Keeps `engine` stopped until the status line starts with `prefix`; returns it.
fn wait_for_status(shared: &AheadShared, engine: &mut StemsEngine, prefix: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status = shared.status.lock().unwrap().clone();
        if status.starts_with(prefix) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "waiting for {prefix:?}: {status}"
        );
        play(engine, &mix(BLOCK, None), false);
        std::thread::sleep(Duration::from_millis(20));
    }
}
