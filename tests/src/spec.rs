//! The plugin facts from the plugin spec that the tests check against.

use mixsmith_core::master::{TruePeakLimiter, fir_latency};

/// The CLAP plugin id.
pub const CLAP_ID: &str = "com.mixsmith.mixsmith";
/// The bridge's chunk size (the mastering convolver's partition).
pub const BRIDGE_CHUNK_FRAMES: u32 = 512;
/// The gain parameter's range in dB.
pub const GAIN_RANGE_DB: (f64, f64) = (-24.0, 24.0);
/// The gain smoother's length in seconds.
pub const GAIN_SMOOTHING_SECONDS: f64 = 0.010;
/// The display name of the gain parameter.
pub const GAIN_NAME: &str = "Output Gain";
/// The display name of the bypass parameter.
pub const BYPASS_NAME: &str = "Bypass";

/// The host-visible parameter id (CLAP id, VST3 `ParamID`) of a nice-plug string id.
pub fn param_hash(id: &str) -> u32 {
    id.bytes().fold(0u32, |hash, byte| {
        hash.wrapping_mul(31).wrapping_add(u32::from(byte))
    }) & !(1 << 31)
}

/// The latency the plugin must report for a maximum block size at a sample rate: the bridge's
/// `2 * chunk + max block`, plus the latency every mode reserves so that switching to Master
/// never moves the audio (mastering's linear-phase FIR delay plus the limiter's look-ahead).
pub fn expected_latency(max_block: u32, sample_rate: f64) -> u32 {
    let rate = sample_rate.round() as u32;
    let limiter = TruePeakLimiter::new(1, rate, -1.0, 200.0, false);
    2 * BRIDGE_CHUNK_FRAMES + max_block + (fir_latency(rate) + limiter.latency()) as u32
}

/// The normalised (0..1) value of a gain in dB; the range is linear in dB.
pub fn gain_normalized(db: f64) -> f64 {
    (db - GAIN_RANGE_DB.0) / (GAIN_RANGE_DB.1 - GAIN_RANGE_DB.0)
}

/// The linear amplitude of a gain in dB.
pub fn db_to_amplitude(db: f64) -> f32 {
    10f64.powf(db / 20.0) as f32
}

/// Frames the gain smoother needs at a sample rate, rounded up, plus one.
pub fn smoothing_frames(sample_rate: f64) -> usize {
    (GAIN_SMOOTHING_SECONDS * sample_rate).ceil() as usize + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_matches_the_documented_fold() {
        // "gain": ((('g'*31 + 'a')*31 + 'i')*31 + 'n'), small enough not to wrap.
        let expected = ((103u32 * 31 + 97) * 31 + 105) * 31 + 110;
        assert_eq!(param_hash("gain"), expected);
        assert_eq!(param_hash("bypass") >> 31, 0);
    }

    #[test]
    fn latency_and_gain_mapping_follow_the_spec() {
        assert_eq!(
            expected_latency(512, 48_000.0),
            1536 + (fir_latency(48_000)
                + TruePeakLimiter::new(1, 48_000, -1.0, 200.0, false).latency())
                as u32
        );
        assert_eq!(gain_normalized(0.0), 0.5);
        assert_eq!(gain_normalized(-24.0), 0.0);
        assert!((db_to_amplitude(-6.0) - 0.501_187).abs() < 1e-5);
    }
}
