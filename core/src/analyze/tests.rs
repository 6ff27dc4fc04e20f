//! EBU Tech 3341 / 3342 style checks on signals generated in code.

use super::*;
use crate::audio::SampleFormat;
use crate::audio::testutil::{sine, write_wav};

/// Meters planar audio in blocks of `block` frames.
fn meter(rate: u32, planar: &[Vec<f32>], block: usize) -> LoudnessMeter {
    let mut m = LoudnessMeter::new(planar.len(), rate).unwrap();
    let frames = planar[0].len();
    let mut pos = 0;
    while pos < frames {
        let n = block.min(frames - pos);
        let parts: Vec<&[f32]> = planar.iter().map(|c| &c[pos..pos + n]).collect();
        m.add_frames(&parts).unwrap();
        pos += n;
    }
    m
}

/// Concatenates stereo 1 kHz sine segments of (seconds, dBFS).
fn segments(rate: u32, parts: &[(f64, f64)]) -> Vec<Vec<f32>> {
    let mut out = vec![Vec::new(), Vec::new()];
    for &(secs, db) in parts {
        for (o, s) in out.iter_mut().zip(sine(rate, 1000.0, db, secs, 2)) {
            o.extend(s);
        }
    }
    out
}

fn assert_near(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: {got:.3}, want {want} ± {tol}"
    );
}

#[test]
fn tech3341_case1_and_2_stereo_sine_reads_its_level() {
    for (db, rate) in [
        (-23.0, 48_000),
        (-33.0, 48_000),
        (-23.0, 44_100),
        (-23.0, 96_000),
    ] {
        let m = meter(rate, &segments(rate, &[(20.0, db)]), 4096);
        // Tech 3341 allows ±0.1 LU; exact gating does much better (a 0.1 LU histogram would not).
        assert_near(m.integrated(), db, 0.02, "integrated");
        assert_near(m.momentary(), db, 0.1, "momentary");
        assert_near(m.short_term(), db, 0.1, "short-term");
        assert_near(m.sample_peak_dbfs(), db, 0.01, "sample peak");
    }
}

#[test]
fn tech3341_case3_to_5_gating() {
    let rate = 48_000;
    let case3 = segments(rate, &[(10.0, -36.0), (60.0, -23.0), (10.0, -36.0)]);
    assert_near(meter(rate, &case3, 1000).integrated(), -23.0, 0.1, "case 3");
    let case5 = segments(rate, &[(20.0, -26.0), (20.1, -20.0), (20.0, -26.0)]);
    assert_near(meter(rate, &case5, 1000).integrated(), -23.0, 0.1, "case 5");
    // Blocks below the -70 LUFS absolute gate do not count.
    let gated = segments(rate, &[(10.0, -23.0), (10.0, -80.0)]);
    assert_near(
        meter(rate, &gated, 1000).integrated(),
        -23.0,
        0.1,
        "absolute gate",
    );
}

#[test]
fn tech3342_loudness_range() {
    let rate = 48_000;
    for (a, b, lra) in [
        (-20.0, -30.0, 10.0),
        (-20.0, -15.0, 5.0),
        (-40.0, -20.0, 20.0),
    ] {
        let m = meter(rate, &segments(rate, &[(20.0, a), (20.0, b)]), 4800);
        assert_near(m.loudness_range(), lra, 1.0, "LRA");
    }
}

#[test]
fn true_peak_reads_the_inter_sample_peak() {
    // A sine at fs/4 with a 45 degree phase: every sample sits at 0.707 of the real peak.
    let rate = 48_000;
    let amp = 0.5f64;
    let x: Vec<f32> = (0..rate as usize * 2)
        .map(|i| {
            (amp * (std::f64::consts::FRAC_PI_2 * i as f64 + std::f64::consts::FRAC_PI_4).sin())
                as f32
        })
        .collect();
    let m = meter(rate, &[x.clone(), x], 1024);
    let real_peak = 20.0 * amp.log10(); // -6.02 dB
    assert_near(m.sample_peak_dbfs(), real_peak - 3.01, 0.02, "sample peak");
    assert_near(m.true_peak_dbtp(), real_peak, 0.3, "true peak");
    assert!(m.true_peak_dbtp() > m.sample_peak_dbfs() + 2.5);
}

#[test]
fn any_rate_and_channel_count() {
    // Mono counts one channel: 3 dB below the same sine on two channels.
    let mono = sine(44_100, 1000.0, -23.0, 10.0, 1);
    assert_near(meter(44_100, &mono, 512).integrated(), -26.0, 0.1, "mono");
    // 5.1 (L R C LFE Ls Rs): a sine in L and R only reads like stereo; LFE does not count.
    let s = sine(32_000, 1000.0, -23.0, 10.0, 1).remove(0);
    let silent = vec![0.0; s.len()];
    let loud_lfe = sine(32_000, 1000.0, -3.0, 10.0, 1).remove(0);
    let six = vec![
        s.clone(),
        s,
        silent.clone(),
        loud_lfe,
        silent.clone(),
        silent,
    ];
    assert_near(meter(32_000, &six, 700).integrated(), -23.0, 0.1, "5.1");
    assert!(LoudnessMeter::new(0, 48_000).is_err());
    assert!(LoudnessMeter::new(65, 48_000).is_err());
    assert!(LoudnessMeter::new(2, 8).is_err());
    let mut m = LoudnessMeter::new(2, 48_000).unwrap();
    assert!(m.add_frames(&[[0.0f32; 4]]).is_err());
    assert!(m.add_frames(&[&[0.0f32; 4][..], &[0.0f32; 3][..]]).is_err());
}

#[test]
fn block_size_does_not_matter_and_reset_forgets() {
    let rate = 48_000;
    let sig = segments(rate, &[(5.0, -30.0), (5.0, -18.0)]);
    let a = meter(rate, &sig, 64);
    let b = meter(rate, &sig, 48_000);
    assert_near(a.integrated(), b.integrated(), 1e-9, "integrated");
    assert_near(a.loudness_range(), b.loudness_range(), 1e-9, "lra");
    assert_near(a.true_peak(), b.true_peak(), 1e-9, "true peak");
    let mut m = meter(rate, &sig, 1000);
    m.reset();
    assert_eq!(m.frames(), 0);
    assert_eq!(m.integrated(), f64::NEG_INFINITY);
    assert_eq!(m.sample_peak(), 0.0);
}

#[test]
fn history_samples_short_term_into_a_bounded_ring() {
    let rate = 48_000;
    let sig = segments(rate, &[(6.0, -30.0), (6.0, -18.0)]);
    let mut m = LoudnessMeter::new(2, rate).unwrap();
    m.enable_history(1.0, 8);
    let parts: Vec<&[f32]> = sig.iter().map(|c| &c[..]).collect();
    m.add_frames(&parts).unwrap();
    let h: Vec<f32> = m.history().collect();
    assert_eq!(h.len(), 8); // 12 values recorded, the oldest 4 dropped
    assert_near(f64::from(h[0]), -30.0, 0.2, "history at 5 s");
    assert_near(f64::from(h[7]), -18.0, 0.2, "history at 12 s");
}

#[test]
fn silence_gives_null_in_json() {
    let m = meter(48_000, &[vec![0.0; 48_000], vec![0.0; 48_000]], 1000);
    let r = LoudnessReport::from_meter(&m);
    assert_eq!(
        (r.lufs, r.true_peak_dbtp, r.sample_peak_dbfs),
        (None, None, None)
    );
    let json: serde_json::Value = serde_json::to_value(&r).unwrap();
    assert!(json["lufs"].is_null() && json["true_peak_dbtp"].is_null());
}

#[test]
fn analyze_file_reports_a_wav() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tone.wav");
    let data = sine(44_100, 1000.0, -23.0, 12.0, 2);
    write_wav(&path, 44_100, &data, SampleFormat::Float32);
    let mut calls = 0;
    let mut last = None;
    let r = analyze_file(&path, &AnalyzeOptions::default(), |p| {
        calls += 1;
        last = Some(p);
    })
    .unwrap();
    let full = r.clone();
    let stream = &r.stream;
    assert_near(stream.duration_s, 12.0, 1e-9, "duration");
    assert_eq!(
        (
            stream.sample_rate,
            stream.channels,
            stream.non_finite_samples
        ),
        (44_100, 2, 0)
    );
    let r = r.loudness.expect("loudness is measured by default");
    assert_near(r.lufs.unwrap(), -23.0, 0.1, "lufs");
    assert_near(r.sample_peak_dbfs.unwrap(), -23.0, 0.01, "sample peak");
    assert!(r.lra.unwrap() < 0.5);
    assert!(calls > 10);
    assert_eq!(
        last,
        Some(Progress {
            frames_done: 529_200,
            total_frames: Some(529_200),
            sample_rate: 44_100
        })
    );
    let keys: Vec<String> = serde_json::to_value(&full)
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let mut want = [
        "lufs",
        "lra",
        "true_peak_dbtp",
        "reconstructed_peak_dbfs",
        "sample_peak_dbfs",
        "duration_s",
        "sample_rate",
        "channels",
        "bpm",
        "bpm_confidence",
        "key",
        "key_confidence",
    ];
    want.sort();
    assert_eq!(keys, want);
}

#[test]
fn analyze_file_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let zero = dir.path().join("zero.wav");
    write_wav(&zero, 48_000, &[vec![]], SampleFormat::Int16);
    let err = analyze_file(&zero, &AnalyzeOptions::default(), |_| {}).unwrap_err();
    assert!(matches!(err, AnalyzeError::NoAudio { .. }), "{err:?}");
    assert!(err.to_string().starts_with(&zero.display().to_string()));

    let missing = dir.path().join("missing.flac");
    let err = analyze_file(&missing, &AnalyzeOptions::default(), |_| {}).unwrap_err();
    assert!(matches!(
        err,
        AnalyzeError::Audio(AudioError::NotFound { .. })
    ));
    assert_eq!(
        err.to_string(),
        format!("{}: file not found", missing.display())
    );
}

#[test]
fn analyze_file_counts_non_finite_samples() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nan.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for i in 0..48_000 {
        w.write_sample(if i % 1000 == 0 { f32::NAN } else { 0.1 })
            .unwrap();
    }
    w.finalize().unwrap();
    let r = analyze_file(&path, &AnalyzeOptions::default(), |_| {}).unwrap();
    assert_eq!(r.stream.non_finite_samples, 48);
    let peak = r.loudness.as_ref().and_then(|l| l.sample_peak_dbfs);
    assert_near(peak.unwrap(), -20.0, 0.01, "peak");
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["non_finite_samples"], 48);
}

#[test]
fn tempo_key_only_skips_loudness_and_one_thread_gives_the_same_reports() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clicks.wav");
    let rate = 44_100;
    // A click every 0.5 s (120 BPM) for 12 s, on an A minor triad.
    let data: Vec<Vec<f32>> = (0..2)
        .map(|_| {
            (0..12 * rate)
                .map(|i| {
                    let t = i as f64 / f64::from(rate);
                    let chord: f64 = [220.0, 261.63, 329.63]
                        .iter()
                        .map(|f| (std::f64::consts::TAU * f * t).sin())
                        .sum();
                    let click = if i % (rate / 2) < 200 { 0.8 } else { 0.0 };
                    (0.1 * chord + click * (i as f64 * 0.9).sin()) as f32
                })
                .collect()
        })
        .collect();
    write_wav(&path, rate, &data, SampleFormat::Float32);
    let full = analyze_file(&path, &AnalyzeOptions::default(), |_| {}).unwrap();
    let options = AnalyzeOptions {
        tempo_key_only: true,
        ..AnalyzeOptions::default()
    };
    let only = analyze_file(&path, &options, |_| {}).unwrap();
    assert!(only.loudness.is_none());
    assert_eq!(only.stream, full.stream);
    assert_eq!(only.musical, full.musical);
    assert!(full.musical.bpm.is_some(), "{:?}", full.musical);
    let json = serde_json::to_value(&only).unwrap();
    assert!(json.get("lufs").is_none() && json.get("true_peak_dbtp").is_none());
    assert_eq!(json["duration_s"], 12.0);
    assert_eq!(json["bpm"], full.musical.bpm.unwrap());

    // On one thread (as a batch of files side by side runs it) the reports are the same.
    for options in [AnalyzeOptions::default(), options] {
        let single = AnalyzeOptions {
            single_thread: true,
            ..options
        };
        let alone = analyze_file(&path, &single, |_| {}).unwrap();
        let piped = analyze_file(&path, &options, |_| {}).unwrap();
        assert_eq!(alone, piped, "{options:?}");
    }
}
