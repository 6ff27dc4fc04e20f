//! Client mode for the Generate tab: cloud jobs submitted, followed and auditioned, all off the
//! audio thread.
//!
//! Submitting (which validates, and for MiniMax decodes the reference) runs on a short-lived
//! thread; each job is then followed by the client's own thread and observed through its
//! lock-free snapshot. A finished clip is decoded and resampled here, then handed to the audio
//! thread's [`ClipPlayer`](mixsmith_core::realtime::clip::ClipPlayer), which plays it in sync
//! with the host transport.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;

use crossbeam_channel::{Receiver, Sender};
use mixsmith_core::audio::{read_file, resample};
use mixsmith_core::client::{
    Client, ClientConfig, GenerateRequest, JobHandle, JobRequest, JobSnapshot, JobStore,
    ProviderKind,
};
use mixsmith_core::realtime::clip::{Clip, ClipSender};

/// One job shown in the list.
pub struct GuiJob {
    /// The provider.
    pub provider: ProviderKind,
    /// A short label (title or prompt).
    pub label: String,
    /// The running follower.
    handle: JobHandle,
}

impl GuiJob {
    /// The job's current state.
    pub fn snapshot(&self) -> Arc<JobSnapshot> {
        self.handle.snapshot()
    }

    /// Cancels the job.
    pub fn cancel(&self) {
        self.handle.cancel();
    }
}

/// A job arriving from a background thread (or why it could not start), and where from.
type Arrival = (Origin, Result<GuiJob, String>);

/// Where an [`Arrival`] comes from: a submission counts in the in-flight number, a resumed job
/// of an earlier session does not.
enum Origin {
    Submitted,
    Resumed,
}

/// The Generate tab's engine: clients per provider, the job list and audition.
pub struct Generator {
    /// One client per provider, created on first use (it holds the rate limiter and the
    /// concurrency cap, so every job of a provider shares them).
    clients: Arc<Mutex<HashMap<ProviderKind, Client>>>,
    /// Jobs submitted or resumed in this session.
    pub jobs: Vec<GuiJob>,
    /// Jobs arriving from submission and resume threads.
    arrivals: (Sender<Arrival>, Receiver<Arrival>),
    /// How many submissions are being validated or sent.
    in_flight: usize,
    /// The last error or status line.
    pub status: Option<String>,
    /// Whether unfinished jobs of earlier sessions were looked for already.
    resumed: bool,
    /// Hands auditioned clips to the audio thread.
    clips: Arc<Mutex<ClipSender>>,
    /// The file being auditioned.
    pub auditioning: Option<PathBuf>,
}

impl Generator {
    /// A generator that auditions through `clips`.
    pub fn new(clips: Arc<Mutex<ClipSender>>) -> Self {
        Self {
            clients: Arc::default(),
            jobs: Vec::new(),
            arrivals: crossbeam_channel::unbounded(),
            in_flight: 0,
            status: None,
            resumed: false,
            clips,
            auditioning: None,
        }
    }

    /// Whether a submission is being validated or sent.
    pub fn submitting(&self) -> bool {
        self.in_flight > 0
    }

    /// Collects finished submissions; on the first call, resumes the unfinished jobs that earlier
    /// sessions (or the CLI) left in the job store.
    pub fn poll(&mut self) {
        if !self.resumed {
            self.resumed = true;
            self.resume_unfinished();
        }
        while let Ok((origin, arrival)) = self.arrivals.1.try_recv() {
            if let Origin::Submitted = origin {
                self.in_flight -= 1;
            }
            match arrival {
                Ok(job) => self.jobs.push(job),
                Err(error) => self.status = Some(error),
            }
        }
    }

    /// Validates and submits `request` on a background thread; results go to `output_dir`.
    pub fn submit(
        &mut self,
        provider: ProviderKind,
        request: GenerateRequest,
        output_dir: PathBuf,
    ) {
        let clients = Arc::clone(&self.clients);
        let sender = self.arrivals.0.clone();
        let label = JobRequest::Generate(request.clone()).label();
        let spawned = thread::Builder::new()
            .name("mixsmith-submit".into())
            .spawn(move || {
                let submitted = client_for(&clients, provider)
                    .and_then(|client| {
                        client
                            .start(JobRequest::Generate(request), &output_dir)
                            .map_err(|e| e.to_string())
                    })
                    .map(|handle| GuiJob {
                        provider,
                        label,
                        handle,
                    });
                let _ = sender.send((Origin::Submitted, submitted));
            });
        match spawned {
            Ok(_) => {
                self.in_flight += 1;
                self.status = None;
            }
            Err(error) => self.status = Some(format!("could not start the submission: {error}")),
        }
    }

    /// Resumes every unfinished job of every configured provider, in the background.
    fn resume_unfinished(&mut self) {
        let clients = Arc::clone(&self.clients);
        let sender = self.arrivals.0.clone();
        let spawned = thread::Builder::new()
            .name("mixsmith-resume".into())
            .spawn(move || {
                for provider in ProviderKind::ALL {
                    // An unconfigured provider has nothing to resume.
                    let Ok(client) = client_for(&clients, provider) else {
                        continue;
                    };
                    for record in client.unfinished().unwrap_or_default() {
                        let label = record.request.label();
                        let resumed = client
                            .resume(&record.id)
                            .map(|handle| GuiJob {
                                provider,
                                label,
                                handle,
                            })
                            .map_err(|e| e.to_string());
                        let _ = sender.send((Origin::Resumed, resumed));
                    }
                }
            });
        if spawned.is_err() {
            self.status = Some("could not look for unfinished jobs".to_owned());
        }
    }

    /// Decodes `path`, resamples it to `sample_rate` and plays it from the transport position
    /// `start_frame` on.
    pub fn audition(&mut self, path: &Path, sample_rate: u32, start_frame: i64) {
        let prepared = read_file(path).and_then(|buffer| {
            if buffer.sample_rate() == sample_rate {
                Ok(buffer)
            } else {
                resample(&buffer, sample_rate)
            }
        });
        let clip = match prepared {
            Ok(buffer) if buffer.frames() > 0 => Clip::new(buffer.into_channels(), start_frame),
            Ok(_) => {
                self.status = Some(format!("{}: no audio to play", path.display()));
                return;
            }
            Err(error) => {
                self.status = Some(error.to_string());
                return;
            }
        };
        if self.publish(Some(Arc::new(clip))) {
            self.auditioning = Some(path.to_owned());
        }
    }

    /// Stops the audition.
    pub fn stop_audition(&mut self) {
        if self.publish(None) {
            self.auditioning = None;
        }
    }

    fn publish(&mut self, clip: Option<Arc<Clip>>) -> bool {
        let Ok(mut clips) = self.clips.lock() else {
            return false;
        };
        match clips.publish(clip) {
            Ok(()) => true,
            Err(busy) => {
                self.status = Some(busy.to_string());
                false
            }
        }
    }
}

/// The shared client of `provider`, created from the environment and the config file on first
/// use.
fn client_for(
    clients: &Mutex<HashMap<ProviderKind, Client>>,
    provider: ProviderKind,
) -> Result<Client, String> {
    let mut clients = clients
        .lock()
        .map_err(|_| "the client list is unavailable".to_owned())?;
    if let Some(client) = clients.get(&provider) {
        return Ok(client.clone());
    }
    let config = ClientConfig::load_default()
        .and_then(|config| config.provider(provider, None))
        .map_err(|e| e.to_string())?;
    let store = JobStore::open_default().map_err(|e| e.to_string())?;
    let client = Client::new(&config, store).map_err(|e| e.to_string())?;
    clients.insert(provider, client.clone());
    Ok(client)
}
