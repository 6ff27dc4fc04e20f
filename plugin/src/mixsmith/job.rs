//! Work the editor starts on a background thread (never the GUI or the audio thread): its
//! progress for a bar, and its outcome once it ends.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;

use crossbeam_channel::Receiver;
use nice_plug::prelude::AtomicF32;

/// A running background job: its progress and, at the end, its result or a one-line error.
pub struct BackgroundJob<T> {
    /// 0.0..=1.0, written by the job's thread.
    progress: Arc<AtomicF32>,
    /// The outcome, sent once.
    outcome: Receiver<Result<T, String>>,
}

impl<T: Send + 'static> BackgroundJob<T> {
    /// Runs `work` on a new thread called `name`; `work` reports its progress (0.0..=1.0)
    /// through the function it is given. A thread that cannot start ends the job at once with
    /// an error naming `what` the job does.
    pub fn spawn(
        name: &str,
        what: &str,
        work: impl FnOnce(&dyn Fn(f32)) -> Result<T, String> + Send + 'static,
    ) -> Self {
        let progress = Arc::new(AtomicF32::new(0.0));
        let (sender, outcome) = crossbeam_channel::bounded(1);
        let job_progress = Arc::clone(&progress);
        let spawned = thread::Builder::new().name(name.into()).spawn(move || {
            let report = |fraction: f32| job_progress.store(fraction, Ordering::Relaxed);
            let _ = sender.send(work(&report));
        });
        if let Err(error) = spawned {
            let (sender, failed) = crossbeam_channel::bounded(1);
            let _ = sender.send(Err(format!("could not start the {what} thread: {error}")));
            return Self {
                progress,
                outcome: failed,
            };
        }
        Self { progress, outcome }
    }

    /// Progress from 0.0 to 1.0.
    pub fn progress(&self) -> f32 {
        self.progress.load(Ordering::Relaxed)
    }

    /// The outcome, once the job is over.
    pub fn outcome(&self) -> Option<Result<T, String>> {
        self.outcome.try_recv().ok()
    }
}
