//! "Learn" for the Master tab: the match computed on a background thread with a progress bar,
//! and the link that installs a match on the running bridge.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use crossbeam_channel::Sender;
use mixsmith_core::master::{
    BufferSource, FileSource, Mastering, MatchProfile, MatchSettings, learn,
};
use nice_plug::prelude::AtomicF32;

use crate::mixsmith::job::BackgroundJob;
use crate::mixsmith::session::MasterSession;
use crate::mixsmith::tools::{Capture, TOOL_CHUNK_FRAMES};

/// Where the mix to learn from comes from.
pub enum LearnSource {
    /// Audio captured from the host's playback.
    Captured {
        /// One buffer per channel.
        audio: Vec<Vec<f32>>,
        /// Its sample rate.
        sample_rate: u32,
    },
    /// A file chosen by the user.
    File(String),
}

/// A running "Learn": its progress and, at the end, the match or a one-line error.
pub type LearnJob = BackgroundJob<MatchProfile>;

impl LearnJob {
    /// Starts learning `source` against the reference file on a new thread.
    pub fn start(source: LearnSource, reference: String, settings: MatchSettings) -> Self {
        BackgroundJob::spawn("mixsmith-learn", "learn", move |report| {
            run(source, &reference, &settings, report)
        })
    }
}

fn run(
    source: LearnSource,
    reference: &str,
    settings: &MatchSettings,
    progress: &dyn Fn(f32),
) -> Result<MatchProfile, String> {
    let mut reference = FileSource::streaming(reference).map_err(|e| e.to_string())?;
    let mut report = |fraction: f32| progress(fraction);
    match source {
        LearnSource::Captured { audio, sample_rate } => {
            let mut target = BufferSource::new("captured playback", sample_rate, &audio);
            learn(&mut target, &mut reference, settings, &mut report)
        }
        LearnSource::File(path) => {
            let mut target = FileSource::open(&path).map_err(|e| e.to_string())?;
            learn(&mut target, &mut reference, settings, &mut report)
        }
    }
    .map_err(|e| e.to_string())
}

/// What the plugin and its editor share to drive mastering on the running bridge.
pub struct MasterLink {
    /// Capture for "Learn" (armed by the editor, filled by the worker).
    pub capture: Arc<Capture>,
    /// The sample rate and channel count of the current activation and the channel to its tool
    /// slot; `None` while the plugin is not active. Locked only off the audio thread.
    active: Mutex<Option<ActiveSlot>>,
    /// The linear gain of the level-matched A/B (the match's loudness gain), read by the audio
    /// thread.
    compare_gain: AtomicF32,
}

impl Default for MasterLink {
    fn default() -> Self {
        Self {
            capture: Arc::default(),
            active: Mutex::new(None),
            compare_gain: AtomicF32::new(1.0),
        }
    }
}

/// The running tool slot's configuration.
struct ActiveSlot {
    sample_rate: u32,
    channels: usize,
    installer: Sender<Option<Mastering>>,
}

impl MasterLink {
    /// Builds the processor for `session` at the given configuration, or `None` without a match.
    pub fn build(
        &self,
        session: &MasterSession,
        sample_rate: u32,
        channels: usize,
    ) -> Result<Option<Mastering>, String> {
        let Some(profile) = &session.profile else {
            self.compare_gain.store(1.0, Ordering::Relaxed);
            return Ok(None);
        };
        let master = Mastering::new(
            profile,
            &session.settings,
            sample_rate,
            channels,
            TOOL_CHUNK_FRAMES,
        )
        .map_err(|e| e.to_string())?;
        self.compare_gain.store(
            10f32.powf(master.gain_db() as f32 / 20.0),
            Ordering::Relaxed,
        );
        Ok(Some(master))
    }

    /// Records the activation's configuration and the slot's installer.
    pub fn attach(&self, sample_rate: u32, channels: usize, installer: Sender<Option<Mastering>>) {
        if let Ok(mut active) = self.active.lock() {
            *active = Some(ActiveSlot {
                sample_rate,
                channels,
                installer,
            });
        }
    }

    /// Forgets the slot (on deactivation).
    pub fn detach(&self) {
        if let Ok(mut active) = self.active.lock() {
            *active = None;
        }
    }

    /// Rebuilds the processor for `session` and installs it on the running slot. Does nothing
    /// while the plugin is inactive (the next activation builds it).
    pub fn install(&self, session: &MasterSession) -> Result<(), String> {
        let Ok(active) = self.active.lock() else {
            return Ok(());
        };
        let Some(slot) = active.as_ref() else {
            return Ok(());
        };
        let master = self.build(session, slot.sample_rate, slot.channels)?;
        slot.installer
            .send(master)
            .map_err(|_| "the engine is restarting; try again".to_owned())
    }

    /// The level-matched A/B gain.
    pub fn compare_gain(&self) -> f32 {
        self.compare_gain.load(Ordering::Relaxed)
    }
}
