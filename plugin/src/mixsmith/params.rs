//! The plugin's parameters and persisted fields.

use std::ops::Deref;
use std::sync::{OnceLock, PoisonError, RwLock};

use nice_plug::params::persist::PersistentField;
use nice_plug::prelude::*;

use crate::mixsmith::session::Session;

/// What runs when the host loads a state: gets the loaded session and may return a notice for
/// the user (e.g. the stored match could not be used).
type OnLoad = Box<dyn Fn(&Session) -> Option<String> + Send + Sync>;

/// The persisted session (read and written like the `RwLock` it derefs to), plus a hook run
/// whenever the host loads a state into it. nice-plug does not re-activate the plugin when a
/// CLAP host loads a state while it is active, so the hook is how the loaded match reaches the
/// running engine.
#[derive(Default)]
pub struct SessionField {
    /// The session.
    session: RwLock<Session>,
    /// Set once by the plugin; runs on every state load (off the audio thread).
    on_load: OnceLock<OnLoad>,
}

impl SessionField {
    /// Sets the hook run on every state load. Only the first call has an effect.
    pub fn set_on_load(&self, hook: impl Fn(&Session) -> Option<String> + Send + Sync + 'static) {
        let _ = self.on_load.set(Box::new(hook));
    }
}

impl Deref for SessionField {
    type Target = RwLock<Session>;

    fn deref(&self) -> &Self::Target {
        &self.session
    }
}

impl<'a> PersistentField<'a, Session> for SessionField {
    fn set(&self, new_value: Session) {
        let notice = self.on_load.get().and_then(|hook| hook(&new_value));
        let mut session = self.session.write().unwrap_or_else(PoisonError::into_inner);
        *session = new_value;
        if notice.is_some() {
            session.notice = notice;
        }
    }

    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&Session) -> R,
    {
        f(&self.session.read().unwrap_or_else(PoisonError::into_inner))
    }
}

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
    /// The versioned session (see [`crate::mixsmith::session`]); shared with the editor.
    #[persist = "session"]
    pub session: SessionField,
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
            session: SessionField::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn a_state_load_runs_the_hook_and_keeps_its_notice() {
        let field = SessionField::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        field.set_on_load(move |session| {
            counter.fetch_add(1, Ordering::Relaxed);
            (session.master.reference == "bad").then(|| "cannot use it".to_owned())
        });
        let mut loaded = Session::default();
        loaded.master.reference = "good".into();
        PersistentField::set(&field, loaded.clone());
        assert_eq!(*field.read().unwrap(), loaded);
        loaded.master.reference = "bad".into();
        PersistentField::set(&field, loaded);
        assert_eq!(
            field.read().unwrap().notice.as_deref(),
            Some("cannot use it")
        );
        assert_eq!(calls.load(Ordering::Relaxed), 2);
        assert_eq!(field.map(|s| s.master.reference.clone()), "bad");
    }
}
