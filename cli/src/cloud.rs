//! Shared plumbing of the cloud commands (`generate`, `jobs`, `hanolab`, `musicapi`): provider
//! configuration, the job store, and following jobs with one progress bar each.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use mixsmith_core::client::{
    Client, ClientConfig, JobEvent, JobHandle, JobOutcome, JobStore, ProviderKind, TaskState,
};

/// Options every cloud command takes.
#[derive(Debug, clap::Args)]
pub struct CloudOpts {
    /// Base URL of the provider: its API host, e.g. https://api.example.com (else
    /// MIXSMITH_<PROVIDER>_BASE_URL, else `base_url` in the config file).
    #[arg(long, value_name = "URL", global = true)]
    pub base_url: Option<String>,
    /// Config file (default: <config dir>/mixsmith/config.toml).
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Folder of job records (default: <data dir>/mixsmith/jobs).
    #[arg(long, value_name = "DIR", global = true)]
    pub jobs_dir: Option<PathBuf>,
    /// Print events as lines instead of progress bars.
    #[arg(long, global = true)]
    pub verbose: bool,
}

impl CloudOpts {
    /// The configuration file.
    pub fn config(&self) -> Result<ClientConfig> {
        Ok(match &self.config {
            Some(p) => ClientConfig::load(p)?,
            None => ClientConfig::load_default()?,
        })
    }

    /// The job store.
    pub fn store(&self) -> Result<JobStore> {
        Ok(match &self.jobs_dir {
            Some(d) => JobStore::new(d)?,
            None => JobStore::open_default()?,
        })
    }

    /// A client for `kind`; `fallback_base` (a job record's) is used when nothing configures
    /// a base URL.
    pub fn client(&self, kind: ProviderKind, fallback_base: Option<&str>) -> Result<Client> {
        let config = self.config()?;
        let pc = match config.provider(kind, self.base_url.as_deref()) {
            Ok(pc) => pc,
            Err(mixsmith_core::client::ClientError::Config(_)) if fallback_base.is_some() => {
                config.provider(kind, fallback_base)?
            }
            Err(e) => return Err(e.into()),
        };
        for notice in &pc.notices {
            eprintln!("note: {notice}");
        }
        Ok(Client::new(&pc, self.store()?)?)
    }
}

fn bar_for(multi: &MultiProgress, label: &str) -> ProgressBar {
    let bar = multi.add(ProgressBar::new(100));
    bar.set_style(
        ProgressStyle::with_template("{prefix:.bold} [{bar:30}] {percent:>3}% {msg}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    bar.set_message("submitting");
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn state_word(state: TaskState) -> &'static str {
    match state {
        TaskState::Queued => "queued",
        TaskState::Running => "running",
        TaskState::Succeeded => "done, downloading",
        TaskState::Failed => "failed",
    }
}

/// Follows jobs to their end with a progress bar each; prints saved files on stdout. Fails
/// when any job did not complete.
pub fn follow(handles: Vec<JobHandle>, verbose: bool) -> Result<()> {
    let multi = MultiProgress::new();
    if verbose {
        multi.set_draw_target(ProgressDrawTarget::hidden());
    }
    let mut failures = Vec::new();
    let threads: Vec<_> = handles
        .into_iter()
        .map(|handle| {
            let bar = bar_for(&multi, handle.id());
            std::thread::spawn(move || follow_one(handle, bar, verbose))
        })
        .collect();
    for t in threads {
        match t.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(e.to_string()),
            Err(_) => failures.push("a job thread panicked".into()),
        }
    }
    match failures.len() {
        0 => Ok(()),
        1 => bail!("{}", failures[0]),
        n => bail!("{n} jobs failed: {}", failures.join("; ")),
    }
}

fn follow_one(handle: JobHandle, bar: ProgressBar, verbose: bool) -> Result<()> {
    let id = handle.id().to_string();
    for event in handle.events().iter() {
        if verbose {
            eprintln!("{id}: {event:?}");
        }
        match event {
            JobEvent::Submitted { task_id } => bar.set_message(format!("submitted ({task_id})")),
            JobEvent::State {
                state,
                progress,
                provider_state,
            } => {
                if let Some(p) = progress {
                    bar.set_position((p * 100.0).round() as u64);
                }
                bar.set_message(format!("{} ({provider_state})", state_word(state)));
            }
            JobEvent::Note(n) => bar.set_message(n),
            JobEvent::Saved { path } => {
                bar.suspend(|| println!("{}", path.display()));
            }
            JobEvent::Finished(_) => break,
        }
    }
    let outcome = handle.wait();
    match outcome {
        JobOutcome::Completed { files } => {
            bar.set_position(100);
            bar.finish_with_message(format!("done, {} file(s)", files.len()));
            Ok(())
        }
        JobOutcome::Failed { message, .. } => {
            bar.abandon_with_message("failed");
            bail!("{id}: {message}")
        }
        JobOutcome::Undelivered { message } => {
            bar.abandon_with_message("no result");
            bail!("{id}: {message}; the job stays resumable: `mixsmith jobs resume {id}`")
        }
        JobOutcome::Cancelled => {
            bar.abandon_with_message("cancelled");
            bail!("{id}: cancelled")
        }
        JobOutcome::Stopped => {
            bar.abandon_with_message("stopped");
            bail!("{id}: stopped; resume with `mixsmith jobs resume {id}`")
        }
    }
}

/// Reads a text file given to an option (lyrics).
pub fn read_text(path: &std::path::Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read the {what}", path.display()))
}
