//! Audio to MIDI: `mixsmith midi` against the Python basic-pitch package, process to process.
//!
//! 1. Renders songs with known notes (harmonic tones with piano-, organ-, pluck- and flute-like
//!    timbres, chords, a bass line, a melody with vibrato; several tempos and keys) as 44.1 kHz
//!    stereo 16-bit WAV in `target/bench-transcribe/` (or `$MIXSMITH_BENCH_DIR`).
//! 2. Runs `$MIXSMITH_CLI midi SONG -o SONG.mid --json` (`cargo xtask bench` builds the release
//!    CLI) and, if `$MIXSMITH_BASIC_PITCH_CLI` names the `basic-pitch` command of a Python
//!    environment with `basic-pitch==0.4.0` and onnxruntime, `basic-pitch OUT SONG
//!    --save-note-events` on the same files, the two taking turns.
//! 3. Prints note precision / recall / F against the rendered notes (onset within 50 ms, same
//!    pitch, each note matched once, mir_eval's rule without offsets), the agreement of the two
//!    tools (same pitch, onset and offset within one frame) and the wall time of each.

#[path = "../tests/common/synth.rs"]
mod synth;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mixsmith_core::audio::{AudioBuffer, SampleFormat, write_wav};
use synth::{SynthNote, Timbre, render};

const RATE: u32 = 44_100;
/// Onset tolerance of the accuracy figures (mir_eval's default).
const ONSET_TOLERANCE_S: f64 = 0.05;
/// One model frame: the agreement tolerance.
const FRAME_S: f64 = 1.0 / 86.0;

/// A note as either tool reports it.
#[derive(Debug, Clone, Copy)]
struct Est {
    start: f64,
    end: f64,
    pitch: u8,
}

fn timbres() -> Vec<Timbre> {
    let t = |h: &[f64], decay_s| Timbre {
        harmonics: h.to_vec(),
        decay_s,
    };
    vec![
        t(&[1.0, 0.5, 0.33, 0.25, 0.2, 0.15], 0.9),
        t(&[1.0, 0.0, 0.5, 0.0, 0.3, 0.0, 0.2], 20.0),
        t(&[1.0, 0.8, 0.6, 0.45, 0.3, 0.2, 0.1], 0.35),
        t(&[1.0, 0.15, 0.05], 30.0),
    ]
}

/// A small deterministic generator.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() * items.len() as f64) as usize % items.len()]
    }
}

/// A song of `bars` 4/4 bars at `bpm` in the major key of `tonic`: a chord per bar (organ),
/// a bass note on beats 1 and 3 (pluck), and a melody of eighths and quarters (flute with
/// vibrato, or piano).
fn song(seed: u64, bpm: f64, tonic: u8, bars: usize) -> Vec<SynthNote> {
    let mut rng = Lcg(seed);
    let beat = 60.0 / bpm;
    let scale = [0u8, 2, 4, 5, 7, 9, 11];
    let progression = [0usize, 5, 3, 4];
    let mut notes = Vec::new();
    let n = |pitch, start, dur, amp, timbre, vibrato_cents| SynthNote {
        pitch,
        start,
        dur,
        amp,
        timbre,
        vibrato_cents,
        vibrato_hz: 5.5,
    };
    let melody_timbre = if seed.is_multiple_of(2) { 3 } else { 0 };
    for bar in 0..bars {
        let t0 = bar as f64 * 4.0 * beat;
        let degree = progression[bar % 4];
        for k in [0, 2, 4] {
            let d = degree + k;
            let pitch = tonic + 12 * (d / 7) as u8 + scale[d % 7];
            notes.push(n(pitch, t0, 4.0 * beat - 0.05, 0.08, 1, 0.0));
        }
        for b in [0.0, 2.0] {
            notes.push(n(
                tonic - 24 + scale[degree],
                t0 + b * beat,
                1.5 * beat,
                0.3,
                2,
                0.0,
            ));
        }
        let mut pos = 0.0;
        while pos < 4.0 {
            let len = rng.pick(&[0.5f64, 1.0, 1.0, 1.5]).min(4.0 - pos);
            let d = rng.pick(&[0usize, 1, 2, 3, 4, 5, 6, 7, 9]);
            let pitch = tonic + 12 + 12 * (d / 7) as u8 + scale[d % 7];
            if len * beat >= 0.16 && rng.next() > 0.15 {
                let vibrato = if melody_timbre == 3 { 25.0 } else { 0.0 };
                notes.push(n(
                    pitch,
                    t0 + pos * beat,
                    len * beat * 0.9,
                    0.2,
                    melody_timbre,
                    vibrato,
                ));
            }
            pos += len;
        }
    }
    notes
}

fn bench_dir() -> PathBuf {
    std::env::var_os("MIXSMITH_BENCH_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-transcribe"),
        PathBuf::from,
    )
}

/// Runs `cmd`, returning its stdout and wall time.
fn timed(cmd: &mut Command) -> Result<(String, Duration), String> {
    let start = Instant::now();
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    let elapsed = start.elapsed();
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok((String::from_utf8_lossy(&out.stdout).into_owned(), elapsed))
}

fn mixsmith(cli: &str, wav: &Path, dir: &Path) -> Result<(Vec<Est>, Duration), String> {
    let mid = dir.join("mixsmith.mid");
    let (stdout, t) = timed(
        Command::new(cli)
            .arg("midi")
            .arg(wav)
            .arg("-o")
            .arg(&mid)
            .arg("--json"),
    )?;
    let v: serde_json::Value = serde_json::from_str(&stdout).map_err(|e| e.to_string())?;
    let notes = v["notes"]
        .as_array()
        .ok_or("no notes in the JSON")?
        .iter()
        .map(|n| Est {
            start: n["start_s"].as_f64().unwrap_or(f64::NAN),
            end: n["end_s"].as_f64().unwrap_or(f64::NAN),
            pitch: n["pitch"].as_u64().unwrap_or(0) as u8,
        })
        .collect();
    Ok((notes, t))
}

fn basic_pitch(cli: &str, wav: &Path, dir: &Path) -> Result<(Vec<Est>, Duration), String> {
    let out = dir.join("basic-pitch");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let (_, t) = timed(
        Command::new(cli)
            .arg(&out)
            .arg(wav)
            .arg("--save-note-events"),
    )?;
    let stem = wav.file_stem().unwrap().to_string_lossy();
    let csv = std::fs::read_to_string(out.join(format!("{stem}_basic_pitch.csv")))
        .map_err(|e| e.to_string())?;
    let notes = csv
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some(Est {
                start: f.first()?.parse().ok()?,
                end: f.get(1)?.parse().ok()?,
                pitch: f.get(2)?.parse().ok()?,
            })
        })
        .collect();
    Ok((notes, t))
}

/// Matched pairs of `reference` and `estimate`: same pitch, onset within `tol` (and the offset
/// too when `offsets`), each note used once, closest onset first.
fn matches(reference: &[Est], estimate: &[Est], tol: f64, offsets: bool) -> usize {
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    for (i, r) in reference.iter().enumerate() {
        for (j, e) in estimate.iter().enumerate() {
            let d = (r.start - e.start).abs();
            if r.pitch == e.pitch
                && d <= tol + 1e-9
                && (!offsets || (r.end - e.end).abs() <= tol + 1e-9)
            {
                pairs.push((d, i, j));
            }
        }
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut used_r, mut used_e) = (vec![false; reference.len()], vec![false; estimate.len()]);
    let mut n = 0;
    for (_, i, j) in pairs {
        if !used_r[i] && !used_e[j] {
            used_r[i] = true;
            used_e[j] = true;
            n += 1;
        }
    }
    n
}

/// Sums of (matched, estimated, reference) over files.
#[derive(Default, Clone, Copy)]
struct Counts {
    matched: usize,
    estimated: usize,
    reference: usize,
}

impl Counts {
    fn add(&mut self, matched: usize, estimated: usize, reference: usize) {
        self.matched += matched;
        self.estimated += estimated;
        self.reference += reference;
    }

    fn prf(&self) -> (f64, f64, f64) {
        let p = self.matched as f64 / self.estimated.max(1) as f64;
        let r = self.matched as f64 / self.reference.max(1) as f64;
        let f = if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        };
        (p, r, f)
    }
}

fn main() {
    let dir = bench_dir();
    std::fs::create_dir_all(&dir).expect("create the bench folder");
    let Ok(cli) = std::env::var("MIXSMITH_CLI") else {
        println!("transcribe: MIXSMITH_CLI is not set (cargo xtask bench sets it); skipped");
        return;
    };
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        let lib = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../vendor/onnxruntime/libonnxruntime.so.1.31.1");
        // SAFETY: set before any thread is started.
        unsafe { std::env::set_var("ORT_DYLIB_PATH", lib) };
    }
    let python = std::env::var("MIXSMITH_BASIC_PITCH_CLI").ok();
    let timbres = timbres();
    // (seed, tempo, tonic, bars)
    let songs = [
        (1, 72.0, 60, 8),
        (2, 96.0, 62, 10),
        (3, 120.0, 57, 12),
        (4, 140.0, 65, 14),
        (5, 176.0, 55, 16),
        (6, 108.0, 64, 12),
    ];
    let (mut ours, mut theirs) = (Counts::default(), Counts::default());
    let mut agreement = Counts::default();
    let (mut ours_t, mut theirs_t) = (Duration::ZERO, Duration::ZERO);
    let mut audio_s = 0.0;
    for (k, &(seed, bpm, tonic, bars)) in songs.iter().enumerate() {
        let notes = song(seed, bpm, tonic, bars);
        let seconds = bars as f64 * 4.0 * 60.0 / bpm + 1.0;
        audio_s += seconds;
        let mono = render(&notes, &timbres, RATE, seconds);
        let wav = dir.join(format!("song{seed}.wav"));
        let buffer = AudioBuffer::from_planar(RATE, vec![mono.clone(), mono]).expect("buffer");
        write_wav(&wav, &buffer, SampleFormat::Int16).expect("write song");
        let truth: Vec<Est> = notes
            .iter()
            .map(|n| Est {
                start: n.start,
                end: n.start + n.dur,
                pitch: n.pitch,
            })
            .collect();

        // The tools take turns: odd songs start with Python.
        let run_ours = || mixsmith(&cli, &wav, &dir).expect("mixsmith midi");
        let run_theirs = || python.as_deref().map(|p| basic_pitch(p, &wav, &dir));
        let (a, b) = if k % 2 == 0 {
            let a = run_ours();
            (a, run_theirs())
        } else {
            let b = run_theirs();
            (run_ours(), b)
        };
        ours.add(
            matches(&truth, &a.0, ONSET_TOLERANCE_S, false),
            a.0.len(),
            truth.len(),
        );
        ours_t += a.1;
        let mut line = format!(
            "transcribe: song{seed} {bpm} BPM, {seconds:.1} s, {} notes: mixsmith {} notes in {:.2} s",
            truth.len(),
            a.0.len(),
            a.1.as_secs_f64()
        );
        match b {
            Some(Ok((b_notes, b_t))) => {
                theirs.add(
                    matches(&truth, &b_notes, ONSET_TOLERANCE_S, false),
                    b_notes.len(),
                    truth.len(),
                );
                agreement.add(
                    matches(&b_notes, &a.0, FRAME_S, true),
                    a.0.len(),
                    b_notes.len(),
                );
                theirs_t += b_t;
                line += &format!(
                    ", basic-pitch {} notes in {:.2} s",
                    b_notes.len(),
                    b_t.as_secs_f64()
                );
            }
            Some(Err(why)) => line += &format!(", basic-pitch failed: {why}"),
            None => {}
        }
        println!("{line}");
    }
    let (p, r, f) = ours.prf();
    println!(
        "transcribe: mixsmith midi     P {p:.3} R {r:.3} F {f:.3} (onset 50 ms, pitch), {:.2} s per file",
        ours_t.as_secs_f64() / songs.len() as f64
    );
    if python.is_none() {
        println!("transcribe: Python basic-pitch skipped (set MIXSMITH_BASIC_PITCH_CLI)");
        return;
    }
    let (p, r, f) = theirs.prf();
    println!(
        "transcribe: basic-pitch 0.4.0 P {p:.3} R {r:.3} F {f:.3}, {:.2} s per file",
        theirs_t.as_secs_f64() / songs.len() as f64
    );
    let (p, r, f) = agreement.prf();
    println!(
        "transcribe: agreement (same pitch, onset and offset within one frame): {} of {} Python notes, P {p:.3} R {r:.3} F {f:.3}",
        agreement.matched, agreement.reference
    );
    println!(
        "transcribe: {audio_s:.0} s of audio; process to process mixsmith is {:.2}x faster than basic-pitch",
        theirs_t.as_secs_f64() / ours_t.as_secs_f64()
    );
}
