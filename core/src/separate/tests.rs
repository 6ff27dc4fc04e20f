use std::sync::atomic::AtomicBool;

use proptest::prelude::*;

use super::*;
use crate::audio::testutil::write_wav;
use crate::audio::{SampleFormat, read_file};

fn energy(x: &[f32]) -> f64 {
    x.iter().map(|v| f64::from(*v).powi(2)).sum()
}

/// A deterministic noise source in -1..1.
fn noise(seed: u32) -> impl FnMut() -> f32 {
    let mut state = seed | 1;
    move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state as f32 / u32::MAX as f32 * 2.0 - 1.0
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    /// Whatever the rate, channel count, block size and signal, the stems add up to the input.
    #[test]
    fn stems_sum_to_the_input(
        rate in prop::sample::select(vec![8_000u32, 22_050, 44_100, 96_000]),
        channels in 1usize..=3,
        block in 1usize..3000,
        seed in any::<u32>(),
    ) {
        let mut next = noise(seed);
        let frames = (rate as usize) / 2 + 123;
        let input: Vec<Vec<f32>> = (0..channels)
            .map(|c| (0..frames).map(|i| {
                let t = i as f32 / rate as f32;
                0.3 * next() + 0.5 * (std::f32::consts::TAU * (110.0 + 50.0 * c as f32) * t).sin()
            }).collect())
            .collect();
        let mut separator = DspSeparator::new(rate, channels).unwrap();
        let stems = separate_buffer(&mut separator, &input, block);
        for (c, x) in input.iter().enumerate() {
            let error: Vec<f32> = (0..frames)
                .map(|i| x[i] - stems.iter().map(|s| s[c][i]).sum::<f32>())
                .collect();
            let ratio_db = 10.0 * (energy(&error) / energy(x)).log10();
            prop_assert!(ratio_db < -90.0, "channel {c}: residual {ratio_db:.1} dB");
        }
    }
}

/// A mix of a sine bass, a click track, a hard-panned chord and a centred vibrato "voice":
/// each part lands mostly in its own stem.
#[test]
fn each_part_of_a_simple_mix_lands_in_its_stem() {
    let rate = 44_100u32;
    let frames = 6 * rate as usize;
    let tau = std::f32::consts::TAU;
    let t = |i: usize| i as f32 / rate as f32;
    let bass: Vec<f32> = (0..frames)
        .map(|i| 0.4 * (tau * 55.0 * t(i)).sin())
        .collect();
    let mut next = noise(7);
    // Noise hits four times a second, decaying over 30 ms, as loud as the other parts.
    let clicks: Vec<f32> = (0..frames)
        .map(|i| {
            let since = i % (rate as usize / 4);
            0.9 * next() * (-(since as f32) / (0.03 * rate as f32)).exp()
        })
        .collect();
    // A chord hard left, another hard right (piano-like partials).
    let chord = |root: f32, i: usize| -> f32 {
        [1.0, 1.26, 1.5]
            .iter()
            .flat_map(|r| (1..6).map(move |h| (r, h)))
            .map(|(r, h)| 0.05 / h as f32 * (tau * root * r * h as f32 * t(i)).sin())
            .sum()
    };
    let left: Vec<f32> = (0..frames).map(|i| chord(262.0, i)).collect();
    let right: Vec<f32> = (0..frames).map(|i| chord(330.0, i)).collect();
    // A voice: a harmonic tone gliding with vibrato, in the centre.
    let mut phase = 0.0f32;
    let voice: Vec<f32> = (0..frames)
        .map(|i| {
            let f0 = 300.0 + 80.0 * (tau * 0.2 * t(i)).sin() + 6.0 * (tau * 5.5 * t(i)).sin();
            phase += tau * f0 / rate as f32;
            (1..10)
                .map(|h| 0.12 / h as f32 * (phase * h as f32).sin())
                .sum()
        })
        .collect();
    let parts = [&bass, &clicks, &voice];
    let mix: Vec<Vec<f32>> = [&left, &right]
        .iter()
        .map(|side| {
            (0..frames)
                .map(|i| parts.iter().map(|p| p[i]).sum::<f32>() + side[i])
                .collect()
        })
        .collect();
    let mut separator = DspSeparator::new(rate, 2).unwrap();
    let stems = separate_buffer(&mut separator, &mix, 512);
    // Skip the first second (the medians settle); each stem's SDR against its source (measured
    // 22, 11, 6.4 and 4.3 dB when this was written).
    let from = rate as usize;
    let check = |stem: Stem, source: &[Vec<f32>], least_gain_db: f64| {
        let mut error = 0.0;
        let mut reference = 0.0;
        for (c, s) in source.iter().enumerate() {
            let est = &stems[stem.index()][c][from..];
            let truth = &s[from..];
            error += est
                .iter()
                .zip(truth)
                .map(|(e, t)| f64::from(e - t).powi(2))
                .sum::<f64>();
            reference += energy(truth);
        }
        let sdr = 10.0 * (reference / error).log10();
        assert!(sdr > least_gain_db, "{stem}: SDR {sdr:.1} dB");
    };
    let both = |x: &Vec<f32>| vec![x.clone(), x.clone()];
    check(Stem::Bass, &both(&bass), 15.0);
    check(Stem::Drums, &both(&clicks), 8.0);
    check(Stem::Vocals, &both(&voice), 4.0);
    check(Stem::Other, &[left.clone(), right.clone()], 3.0);
}

#[test]
fn an_impulse_comes_out_after_exactly_the_latency() {
    let mut separator = DspSeparator::new(48_000, 1).unwrap();
    let latency = separator.latency();
    let mut input = vec![0.0f32; latency + 10_000];
    input[1000] = 1.0;
    let mut stems: [Vec<Vec<f32>>; STEMS] = std::array::from_fn(|_| vec![Vec::new()]);
    separator.process(&[&input], &mut stems);
    let sum: Vec<f32> = (0..input.len())
        .map(|i| stems.iter().map(|s| s[0][i]).sum())
        .collect();
    let peak = sum
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .unwrap();
    assert_eq!(peak.0, 1000 + latency);
    assert!((peak.1 - 1.0).abs() < 1e-5, "{}", peak.1);
}

#[test]
fn on_the_bridge_the_live_separator_gives_the_stems_delayed_by_the_reported_latency() {
    use crate::realtime::{Bridge, BridgeConfig, RenderMode, StreamProcessor};
    let (rate, channels, frames) = (44_100, 2, 60_000);
    let mut next = noise(7);
    let input: Vec<Vec<f32>> = (0..channels)
        .map(|_| (0..frames).map(|_| 0.5 * next()).collect())
        .collect();
    let expected = separate_buffer(
        &mut DspSeparator::new(rate, channels).unwrap(),
        &input,
        1000,
    );

    let live = LiveSeparator::new(rate, channels).unwrap();
    let own_latency = live.latency_frames();
    let config = BridgeConfig {
        channels,
        output_channels: live.output_channels(),
        sample_rate: rate as f32,
        max_block_frames: 700,
    };
    let mut bridge = Bridge::start(live, config, Default::default()).unwrap();
    let latency = bridge.latency_frames();
    assert!(latency > own_latency);
    let mut output = vec![Vec::new(); STEMS * channels];
    let mut block = vec![vec![0.0; 700]; STEMS * channels];
    let mut pos = 0;
    for len in [1, 700, 333, 512].into_iter().cycle() {
        let len = len.min(frames + latency - pos);
        if len == 0 {
            break;
        }
        let slices: Vec<Vec<f32>> = input
            .iter()
            .map(|c| {
                (pos..pos + len)
                    .map(|i| c.get(i).copied().unwrap_or(0.0))
                    .collect()
            })
            .collect();
        let planes: Vec<&[f32]> = slices.iter().map(Vec::as_slice).collect();
        let mut outs: Vec<&mut [f32]> = block.iter_mut().map(|c| &mut c[..len]).collect();
        bridge
            .audio()
            .process_into(&planes, &mut outs, RenderMode::Offline);
        for (all, part) in output.iter_mut().zip(&outs) {
            all.extend_from_slice(part);
        }
        pos += len;
    }
    for stem in Stem::ALL {
        for channel in 0..channels {
            let got = &output[LiveSeparator::output_channel(stem, channel, channels)];
            assert!(
                got[..latency].iter().all(|s| *s == 0.0),
                "{stem} before the latency"
            );
            assert_eq!(
                got[latency..],
                expected[stem.index()][channel][..],
                "{stem}, channel {channel}"
            );
        }
    }
}

#[test]
fn silence_and_the_quietest_signals_give_finite_stems_that_add_up() {
    for amplitude in [0.0, 1e-30, 1e-20, 1e-12, 1.0] {
        let mut next = noise(3);
        // Silence, then a tone on the left only, then noise at `amplitude`.
        let left: Vec<f32> = (0..40_000)
            .map(|t| match t {
                0..10_000 => 0.0,
                10_000..20_000 => amplitude * (t as f32 * 0.05).sin(),
                _ => amplitude * next(),
            })
            .collect();
        let right: Vec<f32> = left
            .iter()
            .enumerate()
            .map(|(t, x)| if t < 20_000 { 0.0 } else { *x * 0.5 })
            .collect();
        let input = [left, right];
        let stems = separate_buffer(&mut DspSeparator::new(44_100, 2).unwrap(), &input, 700);
        for (c, channel) in input.iter().enumerate() {
            for (t, x) in channel.iter().enumerate() {
                let parts: Vec<f32> = stems.iter().map(|s| s[c][t]).collect();
                assert!(
                    parts.iter().all(|p| p.is_finite()),
                    "{amplitude}: {t} {parts:?}"
                );
                let sum: f32 = parts.iter().sum();
                assert!(
                    (sum - x).abs() <= 1e-5 * amplitude.max(1e-30),
                    "{amplitude}: {t}"
                );
            }
        }
    }
}

#[test]
fn unsupported_layouts_are_refused() {
    assert!(DspSeparator::new(44_100, 0).is_err());
    assert!(DspSeparator::new(44_100, 65).is_err());
    assert!(DspSeparator::new(500, 2).is_err());
    assert!("Vocals".parse::<Stem>().is_ok());
    assert!("voice".parse::<Stem>().is_err());
    assert_eq!(StemLayout::Two(Stem::Drums).names(), ["drums", "no_drums"]);
}

/// [`separate_file`] into `out` as 32-bit float, not cancelled, without progress.
fn separate_into(
    input: &std::path::Path,
    out: &std::path::Path,
    layout: StemLayout,
) -> Result<SeparateSummary, SeparateError> {
    separate_file(
        input,
        out,
        layout,
        SampleFormat::Float32,
        &AtomicBool::new(false),
        &mut |_, _, _| {},
    )
}

/// Reads a written stem file.
fn read(path: &std::path::Path) -> Vec<Vec<f32>> {
    read_file(path).unwrap().channels().to_vec()
}

#[test]
fn a_file_separates_into_stems_as_long_as_it_that_add_up_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("mix.wav");
    let rate = 22_050;
    let mut next = noise(3);
    let mix: Vec<Vec<f32>> = (0..2)
        .map(|_| (0..rate as usize * 2 + 77).map(|_| 0.5 * next()).collect())
        .collect();
    write_wav(&input, rate, &mix, SampleFormat::Float32);
    let out = dir.path().join("stems");
    let cancel = AtomicBool::new(false);
    let mut calls = 0;
    let summary = separate_file(
        &input,
        &out,
        StemLayout::Four,
        SampleFormat::Float32,
        &cancel,
        &mut |_, _, _| calls += 1,
    )
    .unwrap();
    assert!(calls > 0);
    assert_eq!(summary.files.len(), 4);
    let stems: Vec<Vec<Vec<f32>>> = summary.files.iter().map(|f| read(&f.path)).collect();
    for (c, x) in mix.iter().enumerate() {
        for (i, v) in x.iter().enumerate() {
            let sum: f32 = stems.iter().map(|s| s[c][i]).sum();
            assert!((sum - v).abs() < 1e-5, "frame {i}: {sum} vs {v}");
        }
        assert!(stems.iter().all(|s| s[c].len() == x.len()));
    }
    // Two stems: the kept one, and the rest.
    let two = dir.path().join("two");
    let summary = separate_into(&input, &two, StemLayout::Two(Stem::Vocals)).unwrap();
    let names: Vec<&str> = summary.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["vocals", "no_vocals"]);
    let vocals = read(&summary.files[0].path);
    let rest = read(&summary.files[1].path);
    let four_vocals = &stems[0];
    for c in 0..2 {
        for i in 0..mix[c].len() {
            assert!((vocals[c][i] - four_vocals[c][i]).abs() < 1e-6);
            assert!((vocals[c][i] + rest[c][i] - mix[c][i]).abs() < 1e-5);
        }
    }
}

#[test]
fn bad_input_writes_nothing_under_a_final_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stems");
    let cancel = AtomicBool::new(false);
    let corrupt = dir.path().join("corrupt.wav");
    std::fs::write(&corrupt, b"RIFF\x10\0\0\0WAVEjunkjunk").unwrap();
    let empty = dir.path().join("empty.wav");
    write_wav(&empty, 44_100, &[vec![], vec![]], SampleFormat::Int16);
    for input in [&corrupt, &empty, &dir.path().join("missing.wav")] {
        let result = separate_file(
            input,
            &out,
            StemLayout::Four,
            SampleFormat::Int24,
            &cancel,
            &mut |_, _, _| {},
        );
        assert!(result.is_err(), "{}", input.display());
        let left: Vec<_> = std::fs::read_dir(&out)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{}: left {left:?}", input.display());
    }
    // A cancelled run leaves nothing either.
    let input = dir.path().join("mix.wav");
    write_wav(&input, 8_000, &[vec![0.1; 8_000]], SampleFormat::Int16);
    let cancelled = AtomicBool::new(true);
    let result = separate_file(
        &input,
        &out,
        StemLayout::Four,
        SampleFormat::Int24,
        &cancelled,
        &mut |_, _, _| {},
    );
    assert!(matches!(result, Err(SeparateError::Cancelled)));
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
}

#[test]
fn nan_samples_and_a_one_frame_file_give_stems_all_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let nan = dir.path().join("nan.wav");
    // Written with hound: our writer would zero the NaN and the infinity.
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8_000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut writer = hound::WavWriter::create(&nan, spec).unwrap();
    for i in 0..9_000 {
        let x = match i {
            100 => f32::NAN,
            200 => f32::INFINITY,
            _ => 0.25,
        };
        writer.write_sample(x).unwrap();
    }
    writer.finalize().unwrap();
    let summary = separate_into(&nan, &dir.path().join("a"), StemLayout::Four).unwrap();
    assert_eq!(summary.non_finite_samples, 2);
    for file in &summary.files {
        let stem = read(&file.path);
        assert_eq!(stem[0].len(), 9_000);
        assert!(stem[0].iter().all(|x| x.is_finite()));
    }
    let one = dir.path().join("one.wav");
    write_wav(&one, 192_000, &vec![vec![0.5]; 6], SampleFormat::Int24);
    let summary = separate_into(&one, &dir.path().join("b"), StemLayout::Four).unwrap();
    assert_eq!((summary.frames, summary.channels), (1, 6));
    let sum: f32 = summary.files.iter().map(|f| read(&f.path)[5][0]).sum();
    assert!((sum - 0.5).abs() < 1e-4, "{sum}");
}
