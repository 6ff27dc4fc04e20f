//! Test signals and the checks that the plugin's output is its input delayed by the latency.

use anyhow::{Result, bail};

/// Planar audio: one `Vec` per channel, all the same length.
pub type Planar = Vec<Vec<f32>>;

/// A small deterministic xorshift generator (no dependency, reproducible failures).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is replaced by a fixed non-zero seed).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A uniform integer in `1..=max`.
    pub fn block_len(&mut self, max: usize) -> usize {
        1 + (self.next_u64() % max.max(1) as u64) as usize
    }

    /// A uniform sample in `-1..1`.
    pub fn sample(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// Silence with a single impulse of `amplitude` at frame `at` on every channel.
pub fn impulse(channels: usize, frames: usize, at: usize, amplitude: f32) -> Planar {
    let mut signal = vec![vec![0.0; frames]; channels];
    for channel in &mut signal {
        channel[at] = amplitude;
    }
    signal
}

/// Deterministic noise at half scale, different on every channel.
pub fn noise(channels: usize, frames: usize, seed: u64) -> Planar {
    let mut rng = Rng::new(seed);
    (0..channels)
        .map(|_| (0..frames).map(|_| 0.5 * rng.sample()).collect())
        .collect()
}

/// Frames per stretch of [`with_subnormals`].
const SUBNORMAL_STRETCH: usize = 300;

/// Hostile input as a fuzzer feeds it: stretches of `SUBNORMAL_STRETCH` frames taking turns
/// between random subnormal numbers (any sign and size), a constant subnormal, noise at half
/// scale, and a tone decaying from 1e-37 through the subnormal range to zero. Different on
/// every channel.
pub fn with_subnormals(channels: usize, frames: usize, seed: u64) -> Planar {
    let mut rng = Rng::new(seed);
    (0..channels)
        .map(|channel| {
            (0..frames)
                .map(|frame| {
                    let offset = (frame % SUBNORMAL_STRETCH) as f32;
                    match (frame / SUBNORMAL_STRETCH + channel) % 4 {
                        0 => {
                            let bits = rng.next_u64() as u32;
                            // Any sign and mantissa with a zero exponent; a non-zero mantissa.
                            f32::from_bits((bits & 0x807f_ffff) | 1)
                        }
                        1 => -f32::from_bits(0x0000_1234),
                        2 => 0.5 * rng.sample(),
                        _ => 1e-37 * (0.3 * offset).sin() * (-0.25 * offset).exp(),
                    }
                })
                .collect()
        })
        .collect()
}

/// The number of subnormal samples in `signal`.
pub fn count_subnormals(signal: &Planar) -> usize {
    signal.iter().flatten().filter(|x| x.is_subnormal()).count()
}

/// Appends `frames` of silence to every channel (to flush the plugin's delay line).
pub fn pad(mut signal: Planar, frames: usize) -> Planar {
    for channel in &mut signal {
        channel.resize(channel.len() + frames, 0.0);
    }
    signal
}

/// Blocks of `block` frames (the last one shorter) covering `total` frames.
pub fn fixed_blocks(total: usize, block: usize) -> Vec<usize> {
    let mut blocks = vec![block; total / block];
    if !total.is_multiple_of(block) {
        blocks.push(total % block);
    }
    blocks
}

/// Blocks of random length in `1..=max` covering `total` frames.
pub fn random_blocks(total: usize, max: usize, seed: u64) -> Vec<usize> {
    let mut rng = Rng::new(seed);
    let mut blocks = Vec::new();
    let mut left = total;
    while left > 0 {
        let len = rng.block_len(max).min(left);
        blocks.push(len);
        left -= len;
    }
    blocks
}

/// The index of the largest absolute sample of a channel.
pub fn peak_index(channel: &[f32]) -> Option<usize> {
    channel
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .filter(|(_, value)| value.abs() > 0.0)
        .map(|(index, _)| index)
}

/// The delay between an impulse in `input` and its peak in `output`, per channel.
pub fn measure_delay(input: &Planar, output: &Planar) -> Result<Vec<usize>> {
    input
        .iter()
        .zip(output)
        .enumerate()
        .map(|(channel, (inp, out))| {
            let Some(at) = peak_index(inp) else {
                bail!("channel {channel}: the input has no impulse")
            };
            let Some(peak) = peak_index(out) else {
                bail!("channel {channel}: the output is silent (no impulse came out)")
            };
            if peak < at {
                bail!("channel {channel}: the output peak at {peak} precedes the impulse at {at}");
            }
            Ok(peak - at)
        })
        .collect()
}

/// Checks `output[c][t] == gain * input[c][t - latency]` (zero before the latency) for every
/// frame `t >= from`, within `tolerance`. The error names the first wrong frame and how many
/// frames are wrong.
pub fn check_delayed(
    input: &Planar,
    output: &Planar,
    latency: usize,
    gain: f32,
    from: usize,
    tolerance: f32,
) -> Result<()> {
    let end = output.first().map_or(0, Vec::len);
    check_delayed_range(input, output, latency, gain, from..end, tolerance)
}

/// Like [`check_delayed`] for the output frames in `range` only.
pub fn check_delayed_range(
    input: &Planar,
    output: &Planar,
    latency: usize,
    gain: f32,
    range: std::ops::Range<usize>,
    tolerance: f32,
) -> Result<()> {
    let from = range.start;
    if input.len() != output.len() {
        bail!(
            "{} input channels but {} output channels",
            input.len(),
            output.len()
        );
    }
    for (channel, (inp, out)) in input.iter().zip(output).enumerate() {
        if inp.len() != out.len() {
            bail!(
                "channel {channel}: {} input frames but {} output frames",
                inp.len(),
                out.len()
            );
        }
        let mut first = None;
        let mut wrong = 0usize;
        let to = range.end.min(out.len());
        for t in from..to {
            let expected = if t >= latency {
                gain * inp[t - latency]
            } else {
                0.0
            };
            let actual = out[t];
            // Written so that NaN counts as wrong.
            let close = (actual - expected).abs() <= tolerance;
            if !close {
                wrong += 1;
                first.get_or_insert((t, expected, actual));
            }
        }
        if let Some((t, expected, actual)) = first {
            bail!(
                "channel {channel}: output is not the input delayed by {latency} frames times \
                 {gain}: {wrong} of {} frames differ (checked frames {from}..{to}); first at \
                 frame {t}: expected {expected}, got {actual}",
                to.saturating_sub(from)
            );
        }
    }
    Ok(())
}

/// The RMS of a channel's frames in `range`.
pub fn rms(channel: &[f32], range: std::ops::Range<usize>) -> f32 {
    let slice = &channel[range];
    if slice.is_empty() {
        return 0.0;
    }
    (slice.iter().map(|x| x * x).sum::<f32>() / slice.len() as f32).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_check_accepts_a_delayed_copy_and_rejects_an_off_by_one() {
        let input = noise(2, 100, 7);
        let delayed: Planar = input
            .iter()
            .map(|c| {
                let mut d = vec![0.0; 10];
                d.extend_from_slice(&c[..90]);
                d.iter().map(|x| x * 0.5).collect()
            })
            .collect();
        check_delayed(&input, &delayed, 10, 0.5, 0, 1e-6).unwrap();
        assert!(check_delayed(&input, &delayed, 11, 0.5, 0, 1e-6).is_err());
        assert!(check_delayed(&input, &delayed, 10, 1.0, 0, 1e-6).is_err());
    }

    #[test]
    fn impulse_delay_is_measured() {
        let input = impulse(1, 50, 5, 1.0);
        let output = impulse(1, 50, 25, 0.5);
        assert_eq!(measure_delay(&input, &output).unwrap(), vec![20]);
        assert!(measure_delay(&input, &vec![vec![0.0; 50]]).is_err());
    }

    #[test]
    fn the_hostile_input_holds_every_kind_of_subnormal() {
        let signal = with_subnormals(2, 4 * SUBNORMAL_STRETCH, 5);
        let stretch = |index: usize| &signal[0][index * SUBNORMAL_STRETCH..][..SUBNORMAL_STRETCH];
        assert!(stretch(0).iter().all(|x| x.is_subnormal()));
        assert!(stretch(0).iter().any(|x| x.is_sign_negative()));
        assert!(stretch(1).iter().all(|x| x.is_subnormal()));
        assert!(stretch(2).iter().all(|x| x.is_normal()));
        let decay = stretch(3);
        assert!(decay[1].is_normal() && decay.iter().any(|x| x.is_subnormal()));
        assert_eq!(decay[SUBNORMAL_STRETCH - 1], 0.0);
        assert!(count_subnormals(&signal) > 2 * SUBNORMAL_STRETCH);
    }

    #[test]
    fn block_plans_cover_the_signal() {
        assert_eq!(fixed_blocks(10, 4), vec![4, 4, 2]);
        let blocks = random_blocks(10_000, 512, 3);
        assert_eq!(blocks.iter().sum::<usize>(), 10_000);
        assert!(blocks.iter().all(|&b| (1..=512).contains(&b)));
        assert!(blocks.iter().any(|&b| b != blocks[0]));
    }
}
