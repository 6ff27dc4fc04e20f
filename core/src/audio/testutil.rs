//! Test fixtures generated in code (test builds only).

use std::path::Path;
use std::process::Command;

use super::{SampleFormat, WavWriter};

/// A sine of `freq` Hz with peak level `peak_dbfs` on every channel.
pub(crate) fn sine(
    rate: u32,
    freq: f64,
    peak_dbfs: f64,
    secs: f64,
    channels: usize,
) -> Vec<Vec<f32>> {
    let amp = 10f64.powf(peak_dbfs / 20.0);
    let frames = (secs * f64::from(rate)).round() as usize;
    let one: Vec<f32> = (0..frames)
        .map(|i| (amp * (std::f64::consts::TAU * freq * i as f64 / f64::from(rate)).sin()) as f32)
        .collect();
    vec![one; channels]
}

/// Writes planar audio as a WAV file with our writer.
pub(crate) fn write_wav(path: &Path, rate: u32, planar: &[Vec<f32>], format: SampleFormat) {
    let mut w = WavWriter::create(path, rate, planar.len(), format).unwrap();
    w.write_planar(planar).unwrap();
    w.finalize().unwrap();
}

/// Writes planar audio as a 16-bit big-endian AIFF file, by hand.
pub(crate) fn write_aiff16(path: &Path, rate: u32, planar: &[Vec<f32>]) {
    let channels = planar.len();
    let frames = planar[0].len();
    let data_len = frames * channels * 2;
    let mut b = Vec::with_capacity(54 + data_len);
    b.extend_from_slice(b"FORM");
    b.extend_from_slice(&((4 + 26 + 16 + data_len) as u32).to_be_bytes());
    b.extend_from_slice(b"AIFF");
    b.extend_from_slice(b"COMM");
    b.extend_from_slice(&18u32.to_be_bytes());
    b.extend_from_slice(&(channels as u16).to_be_bytes());
    b.extend_from_slice(&(frames as u32).to_be_bytes());
    b.extend_from_slice(&16u16.to_be_bytes());
    // The sample rate as an 80-bit IEEE extended float.
    let e = 31 - rate.leading_zeros();
    b.extend_from_slice(&((16383 + e) as u16).to_be_bytes());
    b.extend_from_slice(&((u64::from(rate)) << (63 - e)).to_be_bytes());
    b.extend_from_slice(b"SSND");
    b.extend_from_slice(&((8 + data_len) as u32).to_be_bytes());
    b.extend_from_slice(&[0; 8]);
    for i in 0..frames {
        for ch in planar {
            let v = (ch[i] * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
            b.extend_from_slice(&v.to_be_bytes());
        }
    }
    std::fs::write(path, b).unwrap();
}

/// An external encoder the tests drive to make FLAC, MP3 and OGG fixtures.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Encoder {
    /// `flac` (Debian package `flac`).
    Flac,
    /// `lame` (Debian package `lame`).
    Mp3,
    /// `oggenc` (Debian package `vorbis-tools`).
    Ogg,
}

impl Encoder {
    pub(crate) fn tool(self) -> &'static str {
        match self {
            Encoder::Flac => "flac",
            Encoder::Mp3 => "lame",
            Encoder::Ogg => "oggenc",
        }
    }
}

/// Encodes the WAV file `wav` into `out` with an external encoder; panics with instructions
/// when the encoder is not installed.
pub(crate) fn encode(enc: Encoder, wav: &Path, out: &Path) {
    let mut cmd = Command::new(enc.tool());
    match enc {
        Encoder::Flac => cmd.args(["--silent", "--force", "-o"]).arg(out).arg(wav),
        Encoder::Mp3 => cmd.args(["--quiet", "-b", "192"]).arg(wav).arg(out),
        Encoder::Ogg => cmd.args(["--quiet", "-q", "6", "-o"]).arg(out).arg(wav),
    };
    let status = cmd.status().unwrap_or_else(|e| {
        panic!(
            "cannot run `{}` ({e}): the FLAC/MP3/OGG tests need the Debian packages \
             flac, lame and vorbis-tools; run `cargo xtask setup`",
            enc.tool()
        )
    });
    assert!(
        status.success(),
        "{} failed on {}",
        enc.tool(),
        wav.display()
    );
}
