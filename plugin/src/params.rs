//! The plugin's parameters and persisted fields.

use std::sync::{Arc, RwLock};

use nice_plug::prelude::*;

use crate::session::Session;

/// What the plugin does with the audio. Each tool adds its mode as it lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum Mode {
    /// Pass-through through the realtime bridge: the engine runs, the sound does not change.
    #[id = "monitor"]
    Monitor,
    /// Reference mastering: the learned match (tone, width, loudness) and the limiter.
    #[id = "master"]
    Master,
}

/// Host-visible parameters, plus the session persisted with them.
#[derive(Params)]
pub struct MixsmithParams {
    /// Output gain in dB, applied after the engine.
    #[id = "gain"]
    pub gain: FloatParam,
    /// The host's bypass: the output is the input delayed by the plugin's latency.
    #[id = "bypass"]
    pub bypass: BoolParam,
    /// The active tool.
    #[id = "mode"]
    pub mode: EnumParam<Mode>,
    /// Level-matched A/B in Master mode: the dry signal at the master's loudness gain, so the
    /// comparison is about tone and dynamics, not level.
    #[id = "compare"]
    pub compare: BoolParam,
    /// The versioned session (see [`crate::session`]); shared with the editor.
    #[persist = "session"]
    pub session: Arc<RwLock<Session>>,
}

impl Default for MixsmithParams {
    fn default() -> Self {
        Self {
            gain: FloatParam::new(
                "Output Gain",
                0.0,
                FloatRange::Linear {
                    min: -24.0,
                    max: 24.0,
                },
            )
            .with_smoother(SmoothingStyle::Linear(10.0))
            .with_step_size(0.01)
            .with_unit(" dB"),
            bypass: BoolParam::new("Bypass", false).make_bypass(),
            mode: EnumParam::new("Mode", Mode::Monitor),
            compare: BoolParam::new("A/B Original", false),
            session: Arc::new(RwLock::new(Session::default())),
        }
    }
}
