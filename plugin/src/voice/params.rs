//! Mixsmith Voice's host-visible parameters, and the voice profile saved with the session.

use std::sync::RwLock;

use mixsmith_core::voice::{MAX_FORMANT_SEMITONES, MAX_PROTECT, MAX_TRANSPOSE_SEMITONES};
use nice_plug::prelude::*;

/// Host-visible parameters of Mixsmith Voice, all automatable.
#[derive(Params)]
pub struct VoiceParams {
    /// Pitch shift of the voice in semitones (the formants stay), within ±24; fine steps so
    /// automation can glide.
    #[id = "transpose"]
    pub transpose: FloatParam,
    /// Formant shift of the target timbre, in semitones (positive sounds smaller and brighter).
    #[id = "formant"]
    pub formant: FloatParam,
    /// How far the timbre moves towards the profile's, in percent (0 leaves the voice as it is).
    #[id = "amount"]
    pub amount: FloatParam,
    /// How much unvoiced sounds (consonants, breaths) are kept as they were, 0 to 0.5.
    #[id = "protect"]
    pub protect: FloatParam,
    /// The converted voice's share of the output, in percent; the rest is the dry input,
    /// delayed by the latency so the two stay aligned.
    #[id = "dry_wet"]
    pub dry_wet: FloatParam,
    /// The host's bypass: the input delayed by the latency.
    #[id = "bypass"]
    pub bypass: BoolParam,
    /// The voice profile as JSON (what `mixsmith voice clone` writes); empty when none is
    /// loaded. Saved with the session, so a reopened project sounds the same without the file.
    #[persist = "profile"]
    pub profile: RwLock<String>,
    /// Where the profile was loaded from or learned from, for the editor (display only).
    #[persist = "profile_source"]
    pub profile_source: RwLock<String>,
    /// The RVC v2 voice pack's folder; empty for the DSP converter. Saved with the session and
    /// loaded at activation, so a reopened project converts with the same pack.
    #[persist = "pack"]
    pub pack: RwLock<String>,
}

impl Default for VoiceParams {
    fn default() -> Self {
        Self {
            transpose: FloatParam::new(
                "Transpose",
                0.0,
                FloatRange::Linear {
                    min: -MAX_TRANSPOSE_SEMITONES,
                    max: MAX_TRANSPOSE_SEMITONES,
                },
            )
            .with_step_size(0.01)
            .with_unit(" st"),
            formant: FloatParam::new(
                "Formant",
                0.0,
                FloatRange::Linear {
                    min: -MAX_FORMANT_SEMITONES,
                    max: MAX_FORMANT_SEMITONES,
                },
            )
            .with_step_size(0.1)
            .with_unit(" st"),
            amount: FloatParam::new(
                "Amount",
                100.0,
                FloatRange::Linear {
                    min: 0.0,
                    max: 100.0,
                },
            )
            .with_step_size(1.0)
            .with_unit(" %"),
            protect: FloatParam::new(
                "Protect",
                0.33,
                FloatRange::Linear {
                    min: 0.0,
                    max: MAX_PROTECT,
                },
            )
            .with_step_size(0.01),
            dry_wet: FloatParam::new(
                "Dry/Wet",
                100.0,
                FloatRange::Linear {
                    min: 0.0,
                    max: 100.0,
                },
            )
            .with_step_size(1.0)
            .with_unit(" %"),
            bypass: BoolParam::new("Bypass", false).make_bypass(),
            profile: RwLock::new(String::new()),
            profile_source: RwLock::new(String::new()),
            pack: RwLock::new(String::new()),
        }
    }
}
