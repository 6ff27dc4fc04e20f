//! Decoding and encoding tests on fixtures generated in a temporary folder.

use std::path::{Path, PathBuf};

use super::testutil::{Encoder, encode, sine, write_aiff16, write_wav};
use super::*;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

/// Writes a 2 s stereo 1 kHz sine at -6 dBFS as 16-bit WAV and returns its path and samples.
fn sine_wav(dir: &Path, name: &str) -> (PathBuf, Vec<Vec<f32>>) {
    let path = dir.join(name);
    let data = sine(44_100, 1000.0, -6.0, 2.0, 2);
    write_wav(&path, 44_100, &data, SampleFormat::Int16);
    (path, data)
}

#[test]
fn wav_round_trips_in_every_sample_format() {
    let dir = tmp();
    let data = vec![
        sine(48_000, 440.0, -3.0, 0.5, 1).remove(0),
        sine(48_000, 1234.0, -12.0, 0.5, 1).remove(0),
        sine(48_000, 50.0, -1.0, 0.5, 1).remove(0),
    ];
    for (format, tol) in [
        (SampleFormat::Int16, 1.0 / 32768.0),
        (SampleFormat::Int24, 1.0 / 8_388_608.0),
        (SampleFormat::Float32, 0.0),
    ] {
        let path = dir.path().join(format!("{format:?}.wav"));
        write_wav(&path, 48_000, &data, format);
        let reader = AudioReader::open(&path).unwrap();
        assert_eq!(reader.spec().sample_rate, 48_000);
        assert_eq!(reader.spec().channels, 3);
        assert_eq!(reader.spec().total_frames, Some(24_000));
        let back = reader.read_all().unwrap();
        assert_eq!(back.frames(), 24_000);
        for (b, d) in back.channels().iter().zip(&data) {
            let max_err = b
                .iter()
                .zip(d)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
            assert!(max_err <= tol, "{format:?}: max error {max_err}");
        }
    }
}

#[test]
fn pcm_wav_decodes_to_the_exact_scaled_integers() {
    // hound writes every PCM layout the reader converts itself; the values must be the
    // integers over full scale, bit for bit, including the extremes, at odd channel counts.
    let dir = tmp();
    let mut x = 0x9e37_79b9u32;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    for channels in [1u16, 2, 3] {
        for bits in [16u16, 24, 32] {
            let path = dir.path().join(format!("int{bits}-{channels}.wav"));
            let spec = hound::WavSpec {
                channels,
                sample_rate: 22_050,
                bits_per_sample: bits,
                sample_format: hound::SampleFormat::Int,
            };
            let full = 1i64 << (bits - 1);
            let mut w = hound::WavWriter::create(&path, spec).unwrap();
            let mut want = vec![Vec::new(); usize::from(channels)];
            for i in 0..9_001 {
                for ch in &mut want {
                    let v = match i {
                        0 => -full,
                        1 => full - 1,
                        _ => (i64::from(next()) % full) * if i % 2 == 0 { 1 } else { -1 },
                    } as i32;
                    w.write_sample(v).unwrap();
                    ch.push((f64::from(v) / full as f64) as f32);
                }
            }
            w.finalize().unwrap();
            let reader = AudioReader::open(&path).unwrap();
            assert!(reader.decodes_cheaply());
            let back = reader.read_all().unwrap();
            assert_eq!(
                back.channels(),
                &want[..],
                "{bits}-bit, {channels} channels"
            );
        }
        let path = dir.path().join(format!("float-{channels}.wav"));
        let spec = hound::WavSpec {
            channels,
            sample_rate: 22_050,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        let mut want = vec![Vec::new(); usize::from(channels)];
        for i in 0..5_003 {
            for ch in &mut want {
                let v = if i == 7 {
                    f32::NAN
                } else {
                    f32::from_bits(next() >> 2) - 1.5
                };
                w.write_sample(v).unwrap();
                ch.push(if v.is_finite() { v } else { 0.0 });
            }
        }
        w.finalize().unwrap();
        let mut reader = AudioReader::open(&path).unwrap();
        let mut got = vec![Vec::new(); usize::from(channels)];
        while reader.read_frames(&mut got, 1000).unwrap() > 0 {}
        assert_eq!(got, want, "float, {channels} channels");
        assert_eq!(reader.non_finite_samples(), u64::from(channels));
    }
}

#[test]
fn aiff_decodes() {
    let dir = tmp();
    let path = dir.path().join("tone.aiff");
    let data = sine(44_100, 1000.0, -6.0, 1.0, 2);
    write_aiff16(&path, 44_100, &data);
    let back = read_file(&path).unwrap();
    assert_eq!(
        (back.sample_rate(), back.num_channels(), back.frames()),
        (44_100, 2, 44_100)
    );
    let max_err = back
        .channel(1)
        .iter()
        .zip(&data[1])
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(max_err <= 1.0 / 32768.0, "max error {max_err}");
}

#[test]
fn flac_mp3_and_ogg_decode() {
    let dir = tmp();
    let (wav, data) = sine_wav(dir.path(), "src.wav");
    let want_rms = rms(&data[0]);
    for (enc, ext, lossless) in [
        (Encoder::Flac, "flac", true),
        (Encoder::Mp3, "mp3", false),
        (Encoder::Ogg, "ogg", false),
    ] {
        let path = dir.path().join(format!("tone.{ext}"));
        encode(enc, &wav, &path);
        let reader = AudioReader::open(&path).unwrap();
        assert_eq!(reader.spec().sample_rate, 44_100, "{ext}");
        assert_eq!(reader.spec().channels, 2, "{ext}");
        assert!(!reader.decodes_cheaply(), "{ext}");
        let back = reader.read_all().unwrap_or_else(|e| panic!("{ext}: {e}"));
        if lossless {
            assert_eq!(back.channels(), read_file(&wav).unwrap().channels());
        } else {
            // Lossy codecs may add a few hundred frames of padding at the ends.
            let diff = back.frames().abs_diff(88_200);
            assert!(diff < 3000, "{ext}: {} frames", back.frames());
            let got = rms(&back.channel(0)[10_000..80_000]);
            assert!(
                (got / want_rms - 1.0).abs() < 0.05,
                "{ext}: rms {got} vs {want_rms}"
            );
        }
    }
}

#[test]
fn content_decides_not_the_extension() {
    let dir = tmp();
    let (wav, _) = sine_wav(dir.path(), "src.wav");
    let flac_named_wav = dir.path().join("really_flac.wav");
    encode(Encoder::Flac, &wav, &flac_named_wav);
    let r = AudioReader::open(&flac_named_wav).unwrap();
    assert_eq!(r.spec().codec, "flac");
    assert_eq!(r.read_all().unwrap().frames(), 88_200);

    let wav_named_mp3 = dir.path().join("really_wav.mp3");
    std::fs::copy(&wav, &wav_named_mp3).unwrap();
    assert_eq!(read_file(&wav_named_mp3).unwrap().frames(), 88_200);
}

#[test]
fn truncated_wav_delivers_what_is_there_then_reports_truncation() {
    let dir = tmp();
    let (wav, data) = sine_wav(dir.path(), "full.wav");
    let bytes = std::fs::read(&wav).unwrap();
    let cut = dir.path().join("cut.wav");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();

    let mut reader = AudioReader::open(&cut).unwrap();
    assert_eq!(reader.spec().total_frames, Some(88_200));
    let mut got = [Vec::new(), Vec::new()];
    let err = loop {
        match reader.next_block() {
            Ok(Some(block)) => {
                for (g, b) in got.iter_mut().zip(block) {
                    g.extend_from_slice(b);
                }
            }
            Ok(None) => panic!("a truncated file must report the truncation"),
            Err(e) => break e,
        }
    };
    match &err {
        AudioError::Truncated {
            path,
            expected_frames,
            decoded_frames,
        } => {
            assert_eq!(path, &cut);
            assert_eq!(*expected_frames, 88_200);
            assert!(
                (40_000..=44_100).contains(decoded_frames),
                "{decoded_frames}"
            );
            assert_eq!(got[0].len() as u64, *decoded_frames);
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
    assert!(err.to_string().starts_with(&cut.display().to_string()));
    // What was delivered is the start of the original signal.
    let n = got[0].len();
    let max_err = got[0]
        .iter()
        .zip(&data[0][..n])
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(max_err <= 1.0 / 32768.0);
    // After the error the stream is over.
    assert!(reader.next_block().unwrap().is_none());
}

#[test]
fn truncated_flac_is_reported() {
    let dir = tmp();
    let (wav, _) = sine_wav(dir.path(), "src.wav");
    let flac = dir.path().join("full.flac");
    encode(Encoder::Flac, &wav, &flac);
    let bytes = std::fs::read(&flac).unwrap();
    let cut = dir.path().join("cut.flac");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = read_file(&cut).unwrap_err();
    assert!(matches!(err, AudioError::Truncated { .. }), "{err:?}");
}

#[test]
fn missing_empty_garbage_and_broken_files_give_typed_errors() {
    let dir = tmp();
    let missing = dir.path().join("nope.wav");
    assert!(matches!(
        AudioReader::open(&missing),
        Err(AudioError::NotFound { .. })
    ));

    let empty = dir.path().join("empty.wav");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(
        AudioReader::open(&empty),
        Err(AudioError::Empty { .. })
    ));

    let text = dir.path().join("notes.wav");
    std::fs::write(
        &text,
        "these are not the samples you are looking for\n".repeat(50),
    )
    .unwrap();
    let err = AudioReader::open(&text).unwrap_err();
    assert!(matches!(err, AudioError::Unsupported { .. }), "{err:?}");
    assert!(
        err.to_string().contains("not a recognised audio format"),
        "{err}"
    );

    let mut riff = b"RIFF\x24\x00\x00\x00WAVEfmt ".to_vec();
    riff.extend_from_slice(&[0xff; 64]);
    let broken = dir.path().join("broken.wav");
    std::fs::write(&broken, &riff).unwrap();
    let err = AudioReader::open(&broken).unwrap_err();
    assert!(
        matches!(
            err,
            AudioError::Corrupt { .. } | AudioError::Unsupported { .. }
        ),
        "{err:?}"
    );

    let header_only = dir.path().join("header.wav");
    std::fs::write(&header_only, b"RIFF").unwrap();
    assert!(matches!(
        AudioReader::open(&header_only),
        Err(AudioError::Corrupt { .. })
    ));

    assert!(matches!(
        AudioReader::open(dir.path()),
        Err(AudioError::Unsupported { .. })
    ));

    for err in [
        AudioReader::open(&missing).unwrap_err(),
        AudioReader::open(&text).unwrap_err(),
        AudioReader::open(&broken).unwrap_err(),
    ] {
        let msg = err.to_string();
        assert!(!msg.contains('\n'), "one line: {msg}");
        assert!(err.path().is_some());
    }
}

#[test]
fn zero_frame_wav_opens_and_is_empty() {
    let dir = tmp();
    let path = dir.path().join("zero.wav");
    write_wav(&path, 48_000, &[vec![], vec![]], SampleFormat::Int16);
    let mut r = AudioReader::open(&path).unwrap();
    assert_eq!(r.spec().total_frames, Some(0));
    assert_eq!(r.spec().channels, 2);
    assert!(r.next_block().unwrap().is_none());
}

#[test]
fn non_finite_samples_are_zeroed_and_counted() {
    let dir = tmp();
    let path = dir.path().join("nan.wav");
    // Write the float file with hound directly: our writer would already sanitise.
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 48_000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for i in 0..1000 {
        let s = match i {
            10 => f32::NAN,
            11 => f32::INFINITY,
            500 => f32::NEG_INFINITY,
            _ => 0.25,
        };
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
    let mut r = AudioReader::open(&path).unwrap();
    let mut all = Vec::new();
    while let Some(b) = r.next_block().unwrap() {
        all.extend(b.iter().flatten().copied());
    }
    assert_eq!(r.non_finite_samples(), 3);
    assert!(all.iter().all(|s| s.is_finite()));
    assert_eq!(all.iter().filter(|s| **s == 0.0).count(), 3);
}

#[test]
fn fixed_size_reads_match_block_reads() {
    let dir = tmp();
    let (wav, _) = sine_wav(dir.path(), "a.wav");
    let whole = read_file(&wav).unwrap();
    let mut r = AudioReader::open(&wav).unwrap();
    let mut out = vec![Vec::new(), Vec::new()];
    let mut chunks = 0;
    loop {
        let n = r.read_frames(&mut out, 1000).unwrap();
        if n < 1000 {
            break;
        }
        chunks += 1;
        assert_eq!(r.frames_read(), 1000 * chunks);
    }
    assert_eq!(out, whole.channels());
    assert!(r.read_frames(&mut [Vec::new()], 10).is_err());
}

#[test]
fn writer_clamps_integers_and_zeroes_non_finite() {
    let dir = tmp();
    let path = dir.path().join("clip.wav");
    let mut w = WavWriter::create(&path, 44_100, 1, SampleFormat::Int16).unwrap();
    w.write_planar(&[[1.5f32, -2.0, f32::NAN, 0.5]]).unwrap();
    assert_eq!((w.clipped_samples(), w.non_finite_samples()), (2, 1));
    assert!(w.write_planar(&[[0.0f32], [0.0]]).is_err());
    w.finalize().unwrap();
    let back = read_file(&path).unwrap();
    assert_eq!(back.channel(0), &[32767.0 / 32768.0, -1.0, 0.0, 0.5]);

    let path = dir.path().join("float.wav");
    let b = AudioBuffer::from_planar(44_100, vec![vec![1.5, -0.25]]).unwrap();
    write_wav(&path, 44_100, b.channels(), SampleFormat::Float32);
    assert_eq!(read_file(&path).unwrap(), b);
}

#[test]
fn damaged_flac_is_corrupt_not_truncated() {
    let dir = tmp();
    let (wav, _) = sine_wav(dir.path(), "src.wav");
    let flac = dir.path().join("full.flac");
    encode(Encoder::Flac, &wav, &flac);
    let mut bytes = std::fs::read(&flac).unwrap();
    let n = bytes.len();
    // Overwrite a stretch in the middle with a deterministic pseudo-random pattern.
    let mut x = 0x9e37_79b9u32;
    for b in &mut bytes[n / 3..n / 3 + n / 10] {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    let damaged = dir.path().join("damaged.flac");
    std::fs::write(&damaged, &bytes).unwrap();
    let err = read_file(&damaged).unwrap_err();
    assert!(matches!(err, AudioError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("damaged stretch"), "{err}");
}
