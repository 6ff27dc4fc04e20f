//! `mixsmith analyze IN... [--json] [--beats] [--tempo-key]`: loudness, peaks, tempo and key of
//! one file, or of each of several (a folder of loops and samples to tag).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use anyhow::{Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use mixsmith_core::analyze::{AnalysisReport, AnalyzeOptions, analyze_file};

use crate::progress::frames_bar;

/// Arguments of `mixsmith analyze`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The audio file(s) (WAV, FLAC, MP3, OGG/Vorbis or AIFF). Several are analysed side by side,
    /// one per core; one that cannot be read is reported and the others still are.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Print JSON instead of a table: one object for one file; for several, one object per
    /// line (JSON Lines), each beginning with its `"file"`. Undefined values (the loudness or
    /// peak of silence) are `null`.
    #[arg(long)]
    pub json: bool,
    /// Also print the beat times (seconds from the start).
    #[arg(long)]
    pub beats: bool,
    /// Measure only tempo and key, not loudness and peaks: several times faster, for tagging a
    /// library of loops and samples. The JSON then has no loudness or peak fields.
    #[arg(long)]
    pub tempo_key: bool,
}

/// Runs the command: analyses each file and prints its report on stdout, in the order given, as
/// soon as it and those before it are done. Fails (after the others) when any file could not be
/// analysed.
pub fn run(args: &Args) -> Result<()> {
    let options = AnalyzeOptions {
        beats: args.beats,
        tempo_key_only: args.tempo_key,
        single_thread: false,
    };
    if let [input] = args.inputs.as_slice() {
        let report = analyze_one(input, &options, true)?;
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            print!("{}", table(&input.display().to_string(), &report));
        }
        return Ok(());
    }
    // Files side by side, one per core, each on one thread (the single-file pipeline's second
    // thread would only add hand-offs); reports are printed in the order the files were given.
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(args.inputs.len());
    let options = AnalyzeOptions {
        single_thread: workers > 1,
        ..options
    };
    let files = files_bar(args.inputs.len());
    let next = AtomicUsize::new(0);
    let (done_tx, done_rx) = mpsc::channel();
    let failed = std::thread::scope(|scope| -> Result<usize> {
        for _ in 0..workers {
            let (done_tx, next, files) = (done_tx.clone(), &next, &files);
            scope.spawn(move || {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(input) = args.inputs.get(index) else {
                        return;
                    };
                    files.set_message(file_label(input));
                    let report = analyze_one(input, &options, false);
                    if done_tx.send((index, report)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        let mut finished = BTreeMap::new();
        let (mut printed, mut failed) = (0, 0);
        for (index, report) in done_rx {
            files.inc(1);
            finished.insert(index, report);
            while let Some(report) = finished.remove(&printed) {
                let input = &args.inputs[printed];
                match report {
                    Ok(report) => files.suspend(|| -> Result<()> {
                        if args.json {
                            println!("{}", json_line(input, &report)?);
                        } else {
                            if printed > 0 {
                                println!();
                            }
                            print!("{}", table(&input.display().to_string(), &report));
                        }
                        Ok(())
                    })?,
                    Err(error) => {
                        failed += 1;
                        files.suspend(|| eprintln!("error: {error:#}"));
                    }
                }
                printed += 1;
            }
        }
        Ok(failed)
    })?;
    files.finish_and_clear();
    if failed > 0 {
        bail!(
            "{failed} of {} files could not be analysed (see above)",
            args.inputs.len()
        );
    }
    Ok(())
}

/// Analyses one file (with a progress bar over its frames when `bar` and it is long), warning
/// on stderr about replaced samples and skipped damage.
fn analyze_one(input: &Path, options: &AnalyzeOptions, bar: bool) -> Result<AnalysisReport> {
    let label = file_label(input);
    let mut frames = None;
    let report = analyze_file(input, options, |p| {
        if bar {
            frames
                .get_or_insert_with(|| frames_bar(&label, p.total_frames, p.sample_rate))
                .set_position(p.frames_done);
        }
    });
    if let Some(frames) = frames {
        frames.finish_and_clear();
    }
    let report = report?;
    let stream = &report.stream;
    if stream.non_finite_samples > 0 {
        eprintln!(
            "warning: {}: {} NaN or infinite samples were replaced by 0",
            input.display(),
            stream.non_finite_samples
        );
    }
    if stream.skipped_packets > 0 {
        eprintln!(
            "warning: {}: {} damaged stretch(es) could not be decoded and were skipped",
            input.display(),
            stream.skipped_packets
        );
    }
    Ok(report)
}

/// A file's name for progress messages.
fn file_label(input: &Path) -> String {
    input.file_name().map_or_else(
        || input.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// A bar over the files of a batch (hidden when stderr is not a terminal).
fn files_bar(total: usize) -> ProgressBar {
    ProgressBar::new(total as u64).with_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} files eta {eta}")
            .expect("static template")
            .progress_chars("=> "),
    )
}

/// One line of the batch's JSON Lines: `{"file": ...,` then the report's fields in their order.
fn json_line(input: &Path, report: &AnalysisReport) -> Result<String> {
    let file = serde_json::to_string(&input.display().to_string())?;
    let fields = serde_json::to_string(report)?;
    // The report is an object with fields: `{` then at least one `"key":value`.
    Ok(format!("{{\"file\":{file},{}", &fields[1..]))
}

/// The human-readable form of a report (without loudness rows when it was not measured).
fn table(file: &str, report: &AnalysisReport) -> String {
    let s = &report.stream;
    let m = &report.musical;
    let db = |v: Option<f64>, unit: &str| match v {
        Some(v) => format!("{v:.1} {unit}"),
        None => "-inf (silent or too short)".to_string(),
    };
    let minutes = (s.duration_s / 60.0).floor();
    let mut rows = vec![
        ("File", file.to_string()),
        (
            "Duration",
            format!(
                "{}:{:06.3} ({:.3} s)",
                minutes,
                s.duration_s - minutes * 60.0,
                s.duration_s
            ),
        ),
        ("Sample rate", format!("{} Hz", s.sample_rate)),
        ("Channels", s.channels.to_string()),
    ];
    if let Some(r) = &report.loudness {
        rows.extend([
            ("Integrated", db(r.lufs, "LUFS")),
            (
                "Loudness range",
                match r.lra {
                    Some(v) => format!("{v:.1} LU"),
                    None => "n/a".into(),
                },
            ),
            ("True peak", db(r.true_peak_dbtp, "dBTP (BS.1770)")),
            (
                "Reconstructed",
                db(r.reconstructed_peak_dbfs, "dBFS (band-limited peak)"),
            ),
            ("Sample peak", db(r.sample_peak_dbfs, "dBFS")),
        ]);
    }
    rows.extend([
        (
            "Tempo",
            match (m.bpm, m.bpm_confidence) {
                (Some(bpm), Some(c)) => format!("{bpm:.1} BPM (confidence {c:.2})"),
                _ => "none (no steady beat)".into(),
            },
        ),
        (
            "Key",
            match (m.key, m.key_confidence) {
                (Some(key), Some(c)) => format!("{key} (confidence {c:.2})"),
                _ => "none (no tonal centre)".into(),
            },
        ),
    ]);
    let mut out = String::new();
    for (k, v) in rows {
        out.push_str(&format!("{k:<16}{v}\n"));
    }
    if s.non_finite_samples > 0 {
        out.push_str(&format!("{:<16}{}\n", "Non-finite", s.non_finite_samples));
    }
    if let Some(beats) = &m.beats {
        let times: Vec<String> = beats.iter().map(|t| format!("{t:.3}")).collect();
        out.push_str(&format!("{:<16}{} s\n", "Beats", times.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mixsmith_core::analyze::{Key, LoudnessReport, Mode, MusicalReport, StreamReport};

    #[test]
    fn table_shows_units_and_silence() {
        let loudness = LoudnessReport {
            lufs: Some(-23.04),
            lra: Some(0.0),
            true_peak_dbtp: None,
            reconstructed_peak_dbfs: None,
            sample_peak_dbfs: Some(-20.0),
        };
        let stream = StreamReport {
            duration_s: 75.5,
            sample_rate: 48_000,
            channels: 2,
            non_finite_samples: 0,
            skipped_packets: 0,
        };
        let musical = MusicalReport {
            bpm: None,
            bpm_confidence: None,
            key: None,
            key_confidence: None,
            beats: None,
        };
        let mut r = AnalysisReport {
            loudness: Some(loudness),
            stream,
            musical,
        };
        let t = table("x.wav", &r);
        assert!(t.contains("Integrated      -23.0 LUFS"), "{t}");
        assert!(t.contains("1:15.500 (75.500 s)"), "{t}");
        assert!(t.contains("True peak       -inf"), "{t}");
        assert!(t.contains("Tempo           none (no steady beat)"), "{t}");
        assert!(t.contains("Key             none (no tonal centre)"), "{t}");
        assert!(!t.contains("Non-finite"));
        assert!(!t.contains("Beats"));

        r.musical = MusicalReport {
            bpm: Some(123.4),
            bpm_confidence: Some(0.8),
            key: Some(Key {
                tonic: 3,
                mode: Mode::Major,
            }),
            key_confidence: Some(0.9),
            beats: Some(vec![0.5, 0.986]),
        };
        let t = table("x.wav", &r);
        assert!(
            t.contains("Tempo           123.4 BPM (confidence 0.80)"),
            "{t}"
        );
        assert!(
            t.contains("Key             Eb major (confidence 0.90)"),
            "{t}"
        );
        assert!(t.contains("Beats           0.500 0.986 s"), "{t}");

        r.loudness = None;
        let t = table("x.wav", &r);
        assert!(!t.contains("Integrated") && !t.contains("peak"), "{t}");
        assert!(t.contains("Tempo           123.4 BPM"), "{t}");
    }
}
