//! User settings of a reference match.

use serde::{Deserialize, Serialize};

use super::MasterError;

/// How a target is matched to a reference. Every field has a sensible default
/// ([`MatchSettings::default`]); JSON and plugin state may omit fields.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MatchSettings {
    /// How much of the tone (EQ curve) and width change to apply, 0.0 (none) to 1.0 (full).
    /// The loudness match is applied whatever the amount (see `match_loudness`).
    pub amount: f32,
    /// Width of the smoothing applied to both spectra before they are compared, in octaves
    /// (1/3 by default; smaller follows the reference more closely, larger is gentler).
    /// Allowed: 1/24 to 2 octaves.
    pub smoothing_octaves: f32,
    /// The limiter's true-peak ceiling in dBTP (-1.0 by default). Allowed: -24 to 0.
    pub ceiling_dbtp: f32,
    /// Whether the true-peak limiter runs. Without it nothing stops the loudness gain from
    /// pushing peaks past the ceiling (or past full scale in an integer file).
    pub limiter: bool,
    /// The limiter's release time in milliseconds (200 by default). Longer is gentler.
    /// Allowed: 10 to 2000.
    pub limiter_release_ms: f32,
    /// Whether the output is brought to the reference's integrated loudness. Off, the loudness
    /// gain is 0 dB and only tone and width are matched.
    pub match_loudness: bool,
    /// Whether the stereo width (side-to-mid balance) is matched. Off, the width gain is 0 dB.
    pub match_width: bool,
    /// Gentle limiting: only the loudness match goes into the limiter, so where the target
    /// cannot reach the reference's loudness without more limiting the output stays quieter
    /// (the report says by how much). Off by default: the limiter is pushed with the extra
    /// gain learned for the output to reach the reference's loudness (within 0.3 LU), up to
    /// [`MAX_COMPENSATION_DB`](super::MAX_COMPENSATION_DB) more. Learning measures both, so
    /// this switches without learning again.
    pub gentle_limiting: bool,
}

impl Default for MatchSettings {
    fn default() -> Self {
        Self {
            amount: 1.0,
            smoothing_octaves: 1.0 / 3.0,
            ceiling_dbtp: -1.0,
            limiter: true,
            limiter_release_ms: 200.0,
            match_loudness: true,
            match_width: true,
            gentle_limiting: false,
        }
    }
}

impl MatchSettings {
    /// Checks every field, naming the first one out of range.
    pub fn validate(&self) -> Result<(), MasterError> {
        check("amount", self.amount, 0.0, 1.0)?;
        check(
            "smoothing_octaves",
            self.smoothing_octaves,
            1.0 / 24.0 - 1e-6,
            2.0,
        )?;
        check("ceiling_dbtp", self.ceiling_dbtp, -24.0, 0.0)?;
        check("limiter_release_ms", self.limiter_release_ms, 10.0, 2000.0)?;
        Ok(())
    }
}

fn check(field: &'static str, value: f32, min: f32, max: f32) -> Result<(), MasterError> {
    if value.is_finite() && (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(MasterError::InvalidSettings {
            field,
            reason: format!("{value} is outside {min:.4}..={max}"),
        })
    }
}

/// Parses a smoothing width written as a fraction (`"1/3"`) or a decimal (`"0.5"`), in octaves.
pub fn parse_octaves(text: &str) -> Result<f32, MasterError> {
    let bad = || MasterError::InvalidSettings {
        field: "smoothing_octaves",
        reason: format!("{text:?} is not a fraction like 1/3 or a number like 0.5"),
    };
    let value = match text.trim().split_once('/') {
        Some((num, den)) => {
            let num: f32 = num.trim().parse().map_err(|_| bad())?;
            let den: f32 = den.trim().parse().map_err(|_| bad())?;
            if den == 0.0 {
                return Err(bad());
            }
            num / den
        }
        None => text.trim().parse().map_err(|_| bad())?,
    };
    if !value.is_finite() {
        return Err(bad());
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_fields_are_named() {
        assert!(MatchSettings::default().validate().is_ok());
        let bad = MatchSettings {
            amount: 1.5,
            ..MatchSettings::default()
        };
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("amount"), "{err}");
        let nan = MatchSettings {
            ceiling_dbtp: f32::NAN,
            ..MatchSettings::default()
        };
        assert!(
            nan.validate()
                .unwrap_err()
                .to_string()
                .contains("ceiling_dbtp")
        );
    }

    #[test]
    fn octaves_parse_as_fractions_or_decimals() {
        assert!((parse_octaves("1/3").unwrap() - 1.0 / 3.0).abs() < 1e-7);
        assert_eq!(parse_octaves(" 0.5 ").unwrap(), 0.5);
        assert!(parse_octaves("1/0").is_err());
        assert!(parse_octaves("third").is_err());
    }

    #[test]
    fn partial_json_uses_defaults() {
        let s: MatchSettings = serde_json::from_str(r#"{"amount":0.5}"#).unwrap();
        assert_eq!(s.amount, 0.5);
        assert_eq!(s.ceiling_dbtp, -1.0);
    }
}
