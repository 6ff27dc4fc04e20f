//! Fixtures shared by the audio benches: quick, deterministic, music-like test files.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use mixsmith_core::audio::{SampleFormat, WavWriter};

/// Writes `secs` seconds of a stereo test signal (a 441 Hz tone with a slowly changing level,
/// so loudness range is not trivial) as 16-bit WAV, streaming in 1-second blocks.
pub fn write_test_wav(path: &Path, rate: u32, secs: u32) {
    let period = 100; // samples per cycle at 44.1 kHz: 441 Hz
    let table: Vec<f32> = (0..period)
        .map(|i| (std::f64::consts::TAU * i as f64 / period as f64).sin() as f32)
        .collect();
    let mut w = WavWriter::create(path, rate, 2, SampleFormat::Int16).expect("create WAV");
    let frames = rate as usize;
    let mut left = vec![0.0f32; frames];
    let mut right = vec![0.0f32; frames];
    for s in 0..secs {
        // Level walks between -30 and -10 dBFS over a 20-second cycle.
        let db = -20.0 + 10.0 * ((s % 20) as f32 / 10.0 - 1.0);
        let gain = 10f32.powf(db / 20.0);
        for i in 0..frames {
            let v = table[(i + s as usize * frames) % period] * gain;
            left[i] = v;
            right[i] = -v * 0.8;
        }
        w.write_planar(&[&left, &right]).expect("write WAV");
    }
    w.finalize().expect("finalise WAV");
}

/// Writes a 16-bit big-endian AIFF copy of a stereo 16-bit WAV.
pub fn wav_to_aiff(wav: &Path, aiff: &Path) {
    let reader = hound::WavReader::open(wav).expect("open WAV");
    let spec = reader.spec();
    let samples: Vec<i16> = reader
        .into_samples::<i16>()
        .map(|s| s.expect("sample"))
        .collect();
    let channels = spec.channels as usize;
    let frames = samples.len() / channels;
    let data_len = samples.len() * 2;
    let mut b = Vec::with_capacity(54 + data_len);
    b.extend_from_slice(b"FORM");
    b.extend_from_slice(&((4 + 26 + 16 + data_len) as u32).to_be_bytes());
    b.extend_from_slice(b"AIFFCOMM");
    b.extend_from_slice(&18u32.to_be_bytes());
    b.extend_from_slice(&(channels as u16).to_be_bytes());
    b.extend_from_slice(&(frames as u32).to_be_bytes());
    b.extend_from_slice(&16u16.to_be_bytes());
    let e = 31 - spec.sample_rate.leading_zeros();
    b.extend_from_slice(&((16383 + e) as u16).to_be_bytes());
    b.extend_from_slice(&(u64::from(spec.sample_rate) << (63 - e)).to_be_bytes());
    b.extend_from_slice(b"SSND");
    b.extend_from_slice(&((8 + data_len) as u32).to_be_bytes());
    b.extend_from_slice(&[0; 8]);
    for s in samples {
        b.extend_from_slice(&s.to_be_bytes());
    }
    std::fs::write(aiff, b).expect("write AIFF");
}

/// Encodes `wav` to `out` with an external encoder (`flac`, `lame` or `oggenc`). Returns false
/// (after printing why) when the encoder is missing.
pub fn encode(tool: &str, wav: &Path, out: &Path) -> bool {
    let mut cmd = Command::new(tool);
    match tool {
        "flac" => cmd.args(["--silent", "--force", "-o"]).arg(out).arg(wav),
        "lame" => cmd.args(["--quiet", "-b", "192"]).arg(wav).arg(out),
        "oggenc" => cmd.args(["--quiet", "-q", "6", "-o"]).arg(out).arg(wav),
        other => panic!("unknown encoder {other}"),
    };
    match cmd.status() {
        Ok(s) if s.success() => true,
        Ok(s) => {
            println!("skip {}: `{tool}` failed ({s})", out.display());
            false
        }
        Err(e) => {
            println!(
                "skip {}: `{tool}` is not installed ({e}); run `cargo xtask setup` \
                 (Debian packages flac, lame, vorbis-tools)",
                out.display()
            );
            false
        }
    }
}

/// The fastest of `runs` timings of `f`.
pub fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .expect("at least one run")
}

/// This process's peak resident memory (VmHWM), in KiB.
pub fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

/// Re-runs this bench binary with `env` set to `path` (its child mode, which prints its
/// VmHWM in KiB and its seconds); returns (VmHWM in KiB, wall time).
pub fn child_peak(env: &str, path: &Path) -> (u64, Duration) {
    let out = Command::new(std::env::current_exe().expect("own path"))
        .env(env, path)
        .output()
        .expect("run child");
    assert!(
        out.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut fields = text.split_whitespace();
    let kib = fields.next().and_then(|v| v.parse().ok()).expect("VmHWM");
    let secs: f64 = fields.next().and_then(|v| v.parse().ok()).expect("time");
    (kib, Duration::from_secs_f64(secs))
}

/// Loads the process-wide ONNX Runtime for a bench from `ORT_DYLIB_PATH`, else
/// `<workspace>/vendor/`; when it cannot, prints `<bench> bench SKIPPED: <why>` and returns false.
pub fn load_runtime(bench: &str) -> bool {
    use mixsmith_core::inference::{LIBRARY_FILE, Runtime, RuntimeSearch};
    let library = std::env::var_os("ORT_DYLIB_PATH")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(format!("vendor/onnxruntime/{LIBRARY_FILE}"))
        });
    match Runtime::global_with(|| RuntimeSearch::explicit([library])) {
        Ok(_) => true,
        Err(e) => {
            println!("{bench} bench SKIPPED: {e}; run `cargo xtask setup`");
            false
        }
    }
}
