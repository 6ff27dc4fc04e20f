//! The Stems plugin's host-visible parameters: gain, mute and solo per stem.

use std::sync::RwLock;

use mixsmith_core::separate::{STEMS, Stem};
use nice_plug::prelude::*;

/// The lowest stem gain, in dB.
pub const MIN_GAIN_DB: f32 = -60.0;
/// The highest stem gain, in dB.
pub const MAX_GAIN_DB: f32 = 12.0;

/// One stem's controls. Their ids are prefixed with the stem's name (`vocals_gain`).
#[derive(Params)]
pub struct StemParams {
    /// The stem's level in the rebalanced mix, in dB.
    #[id = "gain"]
    pub gain: FloatParam,
    /// Takes the stem out of the rebalanced mix.
    #[id = "mute"]
    pub mute: BoolParam,
    /// Plays only the soloed stems in the rebalanced mix.
    #[id = "solo"]
    pub solo: BoolParam,
}

impl StemParams {
    fn new(stem: &str) -> Self {
        Self {
            gain: FloatParam::new(
                format!("{stem} Gain"),
                0.0,
                FloatRange::Linear {
                    min: MIN_GAIN_DB,
                    max: MAX_GAIN_DB,
                },
            )
            .with_step_size(0.1)
            .with_unit(" dB"),
            mute: BoolParam::new(format!("{stem} Mute"), false),
            solo: BoolParam::new(format!("{stem} Solo"), false),
        }
    }
}

/// Host-visible parameters of Mixsmith Stems.
#[derive(Params)]
pub struct StemsParams {
    /// The vocals' controls.
    #[nested(id_prefix = "vocals", group = "Vocals")]
    pub vocals: StemParams,
    /// The drums' controls.
    #[nested(id_prefix = "drums", group = "Drums")]
    pub drums: StemParams,
    /// The bass's controls.
    #[nested(id_prefix = "bass", group = "Bass")]
    pub bass: StemParams,
    /// The other parts' controls.
    #[nested(id_prefix = "other", group = "Other")]
    pub other: StemParams,
    /// The host's bypass: every stem at 0 dB, so the main output is the input delayed by the
    /// latency (the auxiliary outputs keep carrying the stems).
    #[id = "bypass"]
    pub bypass: BoolParam,
    /// The model pack's folder for separating ahead; empty for the built-in DSP separator
    /// alone. Saved with the session.
    #[persist = "pack"]
    pub pack: RwLock<String>,
}

impl Default for StemsParams {
    fn default() -> Self {
        Self {
            vocals: StemParams::new("Vocals"),
            drums: StemParams::new("Drums"),
            bass: StemParams::new("Bass"),
            other: StemParams::new("Other"),
            bypass: BoolParam::new("Bypass", false).make_bypass(),
            pack: RwLock::new(String::new()),
        }
    }
}

impl StemsParams {
    /// The controls of `stem`.
    pub fn stem(&self, stem: Stem) -> &StemParams {
        match stem {
            Stem::Vocals => &self.vocals,
            Stem::Drums => &self.drums,
            Stem::Bass => &self.bass,
            Stem::Other => &self.other,
        }
    }

    /// Each stem's linear gain in the rebalanced mix, in [`Stem::ALL`] order (see
    /// [`mix_gains`]).
    pub fn mix_gains(&self) -> [f32; STEMS] {
        let settings = Stem::ALL.map(|stem| {
            let params = self.stem(stem);
            StemSetting {
                gain_db: params.gain.value(),
                mute: params.mute.value(),
                solo: params.solo.value(),
            }
        });
        mix_gains(&settings, self.bypass.value())
    }
}

/// One stem's controls as plain values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StemSetting {
    /// The gain in dB.
    pub gain_db: f32,
    /// Muted.
    pub mute: bool,
    /// Soloed.
    pub solo: bool,
}

impl Default for StemSetting {
    fn default() -> Self {
        Self {
            gain_db: 0.0,
            mute: false,
            solo: false,
        }
    }
}

/// Each stem's linear gain in the rebalanced mix: its gain, or 0 when muted, or when another
/// stem is soloed and it is not; all 1 when `bypass`ed.
pub fn mix_gains(settings: &[StemSetting; STEMS], bypass: bool) -> [f32; STEMS] {
    if bypass {
        return [1.0; STEMS];
    }
    let any_solo = settings.iter().any(|s| s.solo);
    settings.map(|s| {
        if s.mute || (any_solo && !s.solo) {
            0.0
        } else {
            util::db_to_gain(s.gain_db)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mute_and_solo_decide_which_stems_the_mix_hears() {
        let mut settings = [StemSetting::default(); STEMS];
        assert_eq!(mix_gains(&settings, false), [1.0; 4]);
        settings[1].mute = true;
        assert_eq!(mix_gains(&settings, false), [1.0, 0.0, 1.0, 1.0]);
        settings[0].solo = true;
        settings[2].solo = true;
        assert_eq!(mix_gains(&settings, false), [1.0, 0.0, 1.0, 0.0]);
        settings[2].mute = true;
        assert_eq!(
            mix_gains(&settings, false),
            [1.0, 0.0, 0.0, 0.0],
            "mute wins over solo"
        );
        settings[0].gain_db = -6.0;
        let gain = mix_gains(&settings, false)[0];
        assert!((gain - util::db_to_gain(-6.0)).abs() < 1e-6, "{gain}");
        assert_eq!(
            mix_gains(&settings, true),
            [1.0; 4],
            "bypass plays every stem at 0 dB"
        );
    }

    #[test]
    fn every_stem_has_its_own_prefixed_controls() {
        let params = StemsParams::default();
        let ids: Vec<String> = params.param_map().into_iter().map(|(id, ..)| id).collect();
        for stem in Stem::ALL {
            for control in ["gain", "mute", "solo"] {
                let id = format!("{stem}_{control}");
                assert!(ids.contains(&id), "{id} missing from {ids:?}");
            }
        }
    }
}
