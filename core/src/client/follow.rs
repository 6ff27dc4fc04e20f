//! Submitting and following jobs on background threads.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use crossbeam_channel::{Receiver, Sender, unbounded};

use super::config::ProviderConfig;
use super::download::{DownloadLimits, save_output};
use super::error::{ApiErrorKind, ClientError};
use super::http::Http;
use super::limit::{CancelFlag, ConcurrencyCap};
use super::provider::{Provider, ProviderKind, provider_for};
use super::request::JobRequest;
use super::store::{JobPhase, JobRecord, JobStore, SavedFile, now_unix};
use super::task::{RemoteTask, TaskState, TaskStatus};

/// What a job reports while it runs. Messages never contain an API key.
#[derive(Clone, Debug, PartialEq)]
pub enum JobEvent {
    /// The provider accepted the job.
    Submitted {
        /// The provider's task id.
        task_id: String,
    },
    /// The remote state or progress changed.
    State {
        /// Common state.
        state: TaskState,
        /// Progress 0..=1, when known.
        progress: Option<f32>,
        /// The provider's own state word.
        provider_state: String,
    },
    /// Something about the connection worth showing (reconnecting, falling back to polling,
    /// waiting for a rate limit, a transient error).
    Note(String),
    /// A result was saved.
    Saved {
        /// Its path.
        path: PathBuf,
    },
    /// The job is over; the last event.
    Finished(JobOutcome),
}

/// How a job ended.
#[derive(Clone, Debug, PartialEq)]
pub enum JobOutcome {
    /// Every result was saved.
    Completed {
        /// The saved files.
        files: Vec<PathBuf>,
    },
    /// The job failed; the message says why.
    Failed {
        /// The error, as text.
        message: String,
        /// Whether it was a moderation refusal.
        moderation: bool,
    },
    /// The task finished without naming a result file (not even in its record); nothing was
    /// saved, and the job stays resumable (`jobs resume` reads the record again).
    Undelivered {
        /// The error, as text.
        message: String,
    },
    /// Cancelled by the user.
    Cancelled,
    /// Following stopped (handle dropped, program closing); the job can be resumed.
    Stopped,
}

/// The latest state of a job, readable without locks from any thread (a GUI).
#[derive(Clone, Debug, PartialEq)]
pub struct JobSnapshot {
    /// Life-cycle phase.
    pub phase: JobPhase,
    /// Remote state.
    pub state: Option<TaskState>,
    /// Progress 0..=1.
    pub progress: Option<f32>,
    /// Files saved so far.
    pub files: Vec<PathBuf>,
    /// The error, once failed.
    pub error: Option<String>,
}

/// A job followed on a background thread.
pub struct JobHandle {
    id: String,
    events: Receiver<JobEvent>,
    abort: CancelFlag,
    cancel_requested: Arc<AtomicBool>,
    snapshot: Arc<ArcSwap<JobSnapshot>>,
    thread: Option<JoinHandle<JobOutcome>>,
}

impl std::fmt::Debug for JobHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobHandle").field("id", &self.id).finish()
    }
}

impl JobHandle {
    /// The local job id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The event channel (every event is sent once; clone the receiver to share it).
    pub fn events(&self) -> &Receiver<JobEvent> {
        &self.events
    }

    /// The latest snapshot (lock-free).
    pub fn snapshot(&self) -> Arc<JobSnapshot> {
        self.snapshot.load_full()
    }

    /// Cancels the job: following stops and the record is marked cancelled. (No provider
    /// documents a cancel endpoint, so the remote task itself runs to its end.)
    pub fn cancel(&self) {
        self.cancel_requested.store(true, Ordering::SeqCst);
        self.abort.cancel();
    }

    /// Stops following without cancelling: the record stays resumable.
    pub fn stop(&self) {
        self.abort.cancel();
    }

    /// Whether the thread has ended.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Waits for the end of the job.
    pub fn wait(mut self) -> JobOutcome {
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(outcome)) => outcome,
            Some(Err(_)) => JobOutcome::Failed {
                message: "the job thread panicked".into(),
                moderation: false,
            },
            None => JobOutcome::Stopped,
        }
    }
}

impl Drop for JobHandle {
    /// Dropping a handle stops following (the job stays resumable); it does not wait.
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.abort.cancel();
        }
    }
}

/// A provider with its connection, limits and job store. Share it (`Arc`) between jobs so the
/// rate limiter and concurrency cap apply to all of them.
#[derive(Debug, Clone)]
pub struct Client {
    provider: Arc<dyn Provider>,
    http: Http,
    cap: Arc<ConcurrencyCap>,
    store: JobStore,
}

impl Client {
    /// A client for one provider.
    pub fn new(config: &ProviderConfig, store: JobStore) -> Result<Self, ClientError> {
        Ok(Client {
            provider: Arc::from(provider_for(config.kind)),
            http: Http::new(config)?,
            cap: ConcurrencyCap::new(config.tuning.max_concurrent),
            store,
        })
    }

    /// The provider.
    pub fn provider(&self) -> &dyn Provider {
        &*self.provider
    }

    /// The provider's id.
    pub fn kind(&self) -> ProviderKind {
        self.provider.kind()
    }

    /// The HTTP connection (statistics, tuning).
    pub fn http(&self) -> &Http {
        &self.http
    }

    /// The job store.
    pub fn store(&self) -> &JobStore {
        &self.store
    }

    /// The concurrency cap.
    pub fn cap(&self) -> &ConcurrencyCap {
        &self.cap
    }

    /// Validates `request` (nothing is sent when it is invalid), records the job and starts
    /// following it on a new thread.
    pub fn start(&self, request: JobRequest, output_dir: &Path) -> Result<JobHandle, ClientError> {
        self.provider.validate(&request)?;
        let now = now_unix();
        let id = format!(
            "{}-{}-{:06x}",
            self.kind().id(),
            now,
            fastrand::u32(..0x100_0000)
        );
        let output_dir =
            std::path::absolute(output_dir).map_err(|e| ClientError::io(output_dir, e))?;
        let mut record = JobRecord {
            id,
            provider: self.kind(),
            base_url: self.http.base_url().to_string(),
            request,
            output_dir,
            phase: JobPhase::New,
            task: None,
            state: None,
            progress: None,
            saved: Vec::new(),
            error: None,
            cancel_requested: false,
            last_event_id: None,
            created_unix: now,
            updated_unix: now,
        };
        self.store.save(&mut record)?;
        self.spawn(record)
    }

    /// Resumes a stored job (after a restart).
    pub fn resume(&self, id: &str) -> Result<JobHandle, ClientError> {
        let record = self.store.load(id)?;
        if record.provider != self.kind() {
            return Err(ClientError::Config(format!(
                "job {id} belongs to {}, not {}",
                record.provider,
                self.kind()
            )));
        }
        if record.phase.is_terminal() {
            return Err(ClientError::Store {
                path: self.store.path_of(id),
                message: format!("job is already {:?}", record.phase).to_lowercase(),
            });
        }
        self.spawn(record)
    }

    /// The unfinished jobs of this provider in the store.
    pub fn unfinished(&self) -> Result<Vec<JobRecord>, ClientError> {
        let (records, _) = self.store.list()?;
        Ok(records
            .into_iter()
            .filter(|r| r.provider == self.kind() && !r.phase.is_terminal())
            .collect())
    }

    fn spawn(&self, record: JobRecord) -> Result<JobHandle, ClientError> {
        let Some(lock) = self.store.try_lock(&record.id)? else {
            return Err(ClientError::Store {
                path: self.store.path_of(&record.id),
                message: "this job is already being followed (by this or another process)".into(),
            });
        };
        let (tx, rx) = unbounded();
        let abort = CancelFlag::new();
        let cancel_requested = Arc::new(AtomicBool::new(false));
        let snapshot = Arc::new(ArcSwap::from_pointee(JobSnapshot {
            phase: record.phase,
            state: record.state,
            progress: record.progress,
            files: record.saved.iter().map(|s| s.path.clone()).collect(),
            error: None,
        }));
        let id = record.id.clone();
        let mut follower = Follower {
            client: self.clone(),
            record,
            tx,
            abort: abort.clone(),
            cancel_requested: cancel_requested.clone(),
            snapshot: snapshot.clone(),
            _lock: lock,
            deadline: Instant::now() + self.http.tuning().job_deadline,
        };
        let thread = std::thread::Builder::new()
            .name(format!("mixsmith-job-{id}"))
            .spawn(move || follower.run())
            .ok();
        Ok(JobHandle {
            id,
            events: rx,
            abort,
            cancel_requested,
            snapshot,
            thread,
        })
    }
}

struct Follower {
    client: Client,
    record: JobRecord,
    tx: Sender<JobEvent>,
    abort: CancelFlag,
    cancel_requested: Arc<AtomicBool>,
    snapshot: Arc<ArcSwap<JobSnapshot>>,
    /// Held while the job is followed.
    _lock: super::store::JobLock,
    /// Following gives up after this instant (`job_deadline` after this follower started).
    deadline: Instant,
}

impl Follower {
    fn emit(&self, e: JobEvent) {
        let e = match e {
            JobEvent::Note(n) => JobEvent::Note(self.client.http.redact_str(&n)),
            other => other,
        };
        let _ = self.tx.send(e);
    }

    fn publish(&self) {
        self.snapshot.store(Arc::new(JobSnapshot {
            phase: self.record.phase,
            state: self.record.state,
            progress: self.record.progress,
            files: self.record.saved.iter().map(|s| s.path.clone()).collect(),
            error: self.record.error.clone(),
        }));
    }

    fn save(&mut self) -> Result<(), ClientError> {
        self.client.store.save(&mut self.record)?;
        if self.record.cancel_requested {
            self.cancel_requested.store(true, Ordering::SeqCst);
            self.abort.cancel();
        }
        self.publish();
        Ok(())
    }

    /// Stops at the next step when `jobs cancel` was run from another process.
    fn check_remote_cancel(&self) -> Result<(), ClientError> {
        if self.client.store.cancel_requested(&self.record.id) {
            self.cancel_requested.store(true, Ordering::SeqCst);
            self.abort.cancel();
        }
        self.abort.check()
    }

    fn run(&mut self) -> JobOutcome {
        let result = self.run_inner().map_err(|e| self.client.http.redact(e));
        let outcome = match result {
            Ok(files) => JobOutcome::Completed { files },
            Err(ClientError::Cancelled) if self.cancel_requested.load(Ordering::SeqCst) => {
                self.record.phase = JobPhase::Cancelled;
                self.record.error = Some("cancelled".into());
                let _ = self.save();
                JobOutcome::Cancelled
            }
            Err(ClientError::Cancelled) => {
                self.publish();
                JobOutcome::Stopped
            }
            Err(e @ ClientError::NoResult { .. }) => {
                let message = e.to_string();
                // The task succeeded: resuming reads its record again for the result URLs.
                self.record.phase = JobPhase::Downloading;
                self.record.error = Some(message.clone());
                let _ = self.save();
                JobOutcome::Undelivered { message }
            }
            Err(e) => {
                let moderation = matches!(
                    &e,
                    ClientError::TaskFailed {
                        moderation: true,
                        ..
                    } | ClientError::Api {
                        kind: ApiErrorKind::Moderation,
                        ..
                    }
                );
                let message = e.to_string();
                self.record.phase = JobPhase::Failed;
                self.record.error = Some(message.clone());
                let _ = self.save();
                JobOutcome::Failed {
                    message,
                    moderation,
                }
            }
        };
        self.emit(JobEvent::Finished(outcome.clone()));
        outcome
    }

    fn run_inner(&mut self) -> Result<Vec<PathBuf>, ClientError> {
        let _permit = self.client.cap.acquire(&self.abort)?;
        self.check_remote_cancel()?;
        let task = match self.record.task.clone() {
            Some(t) => t,
            None => {
                if self.record.phase == JobPhase::Submitting {
                    return Err(ClientError::Store {
                        path: self.client.store.path_of(&self.record.id),
                        message: "the submission was interrupted before the provider answered; \
                                  it is not sent again (it could be billed twice): start a new job"
                            .into(),
                    });
                }
                self.record.phase = JobPhase::Submitting;
                self.save()?;
                let task = self.client.provider.submit(
                    &self.client.http,
                    &self.record.request,
                    &self.abort,
                );
                let task = match task {
                    Ok(t) => t,
                    Err(e) => {
                        // Nothing was created remotely when the provider refused.
                        return Err(e);
                    }
                };
                self.record.task = Some(task.clone());
                self.record.phase = JobPhase::Following;
                self.save()?;
                self.emit(JobEvent::Submitted {
                    task_id: task.id.clone(),
                });
                task
            }
        };
        let status = if self.record.phase == JobPhase::Downloading {
            // The task had succeeded; fetch fresh result URLs (they may expire).
            self.poll_until_done(&task)?
        } else {
            self.follow(&task)?
        };
        if status.state == TaskState::Failed {
            return Err(ClientError::TaskFailed {
                provider: self.client.kind(),
                task_id: task.id.clone(),
                code: status.error_code.clone(),
                message: status
                    .message
                    .clone()
                    .unwrap_or_else(|| status.provider_state.clone()),
                moderation: status.moderation,
            });
        }
        if !status.delivers(self.record.request.expects_media()) {
            return Err(ClientError::NoResult {
                provider: self.client.kind(),
                task_id: task.id.clone(),
            });
        }
        self.download(&status)
    }

    fn note_state(&mut self, st: &TaskStatus) -> Result<(), ClientError> {
        let changed = self.record.state != Some(st.state)
            || (st.progress.is_some() && self.record.progress != st.progress);
        if changed {
            self.record.state = Some(st.state);
            if st.progress.is_some() {
                self.record.progress = st.progress;
            }
            self.save()?;
            self.emit(JobEvent::State {
                state: st.state,
                progress: st.progress,
                provider_state: st.provider_state.clone(),
            });
        }
        Ok(())
    }

    /// SSE first (reconnecting, then falling back to polling), else polling.
    fn follow(&mut self, task: &RemoteTask) -> Result<TaskStatus, ClientError> {
        if let Some(st) = &task.immediate {
            self.note_state(st)?;
            return Ok(st.clone());
        }
        let tuning = self.client.http.tuning().clone();
        let deadline = self.deadline;
        let media = self.record.request.expects_media();
        let mut broken = 0u32;
        loop {
            self.check_remote_cancel()?;
            if Instant::now() > deadline {
                return Err(self.deadline_error(task));
            }
            let opened = self.client.provider.progress_stream(
                &self.client.http,
                task,
                self.record.last_event_id.as_deref(),
                &self.abort,
            );
            let stream = match opened {
                None => break,
                Some(Ok(s)) => s,
                Some(Err(e)) => {
                    if matches!(
                        e.api_kind(),
                        Some(ApiErrorKind::Unauthorized | ApiErrorKind::Credits)
                    ) || matches!(e, ClientError::Cancelled)
                    {
                        return Err(e);
                    }
                    broken += 1;
                    self.emit(JobEvent::Note(format!("progress stream unavailable: {e}")));
                    if broken > tuning.sse_reconnects {
                        break;
                    }
                    self.abort.sleep(self.client.http.backoff(broken - 1))?;
                    continue;
                }
            };
            for item in stream {
                self.check_remote_cancel()?;
                match item {
                    Ok((st, event_id)) => {
                        if event_id.is_some() && event_id != self.record.last_event_id {
                            self.record.last_event_id = event_id;
                        }
                        self.note_state(&st)?;
                        if st.state.is_terminal() {
                            if st.state == TaskState::Succeeded && !st.delivers(media) {
                                // The event announced completion; the record has the URLs.
                                return self.poll_until_done(task);
                            }
                            return Ok(st);
                        }
                    }
                    Err(ClientError::Cancelled) => return Err(ClientError::Cancelled),
                    Err(e) => {
                        self.emit(JobEvent::Note(format!("progress stream broke: {e}")));
                        break;
                    }
                }
            }
            broken += 1;
            if broken > tuning.sse_reconnects {
                break;
            }
            self.emit(JobEvent::Note(format!(
                "reconnecting to the progress stream ({broken}/{})",
                tuning.sse_reconnects
            )));
            self.abort.sleep(self.client.http.backoff(broken - 1))?;
        }
        if self.client.provider.progress_stream_supported() {
            self.emit(JobEvent::Note(
                "progress stream failed; falling back to polling".into(),
            ));
        }
        self.poll_until_done(task)
    }

    fn deadline_error(&self, task: &RemoteTask) -> ClientError {
        ClientError::Timeout {
            provider: self.client.kind(),
            what: format!("task {} to finish", task.id),
            after: self.client.http.tuning().job_deadline,
        }
    }

    /// Polls with back-off until the task is terminal.
    fn poll_until_done(&mut self, task: &RemoteTask) -> Result<TaskStatus, ClientError> {
        let tuning = self.client.http.tuning().clone();
        let deadline = self.deadline;
        let mut interval = tuning.poll_interval;
        let mut transient = 0u32;
        loop {
            self.check_remote_cancel()?;
            match self
                .client
                .provider
                .status(&self.client.http, task, &self.abort)
            {
                Ok(st) => {
                    transient = 0;
                    let changed = self.record.state != Some(st.state);
                    self.note_state(&st)?;
                    if st.state.is_terminal() {
                        return Ok(st);
                    }
                    interval = if changed {
                        tuning.poll_interval
                    } else {
                        Duration::from_secs_f64(
                            (interval.as_secs_f64() * 1.5)
                                .min(tuning.max_poll_interval.as_secs_f64()),
                        )
                    };
                }
                Err(e) if e.is_transient() => {
                    transient += 1;
                    if transient > tuning.max_retries {
                        return Err(e);
                    }
                    self.emit(JobEvent::Note(format!("will retry: {e}")));
                    interval = self.client.http.backoff(transient);
                }
                Err(e) => return Err(e),
            }
            if Instant::now() + interval > deadline {
                return Err(self.deadline_error(task));
            }
            self.abort.sleep(interval)?;
        }
    }

    fn download(&mut self, status: &TaskStatus) -> Result<Vec<PathBuf>, ClientError> {
        if self.record.phase != JobPhase::Downloading {
            self.record.phase = JobPhase::Downloading;
            self.save()?;
        }
        let tuning = self.client.http.tuning().clone();
        let limits = DownloadLimits {
            max_bytes: tuning.max_download_bytes,
        };
        let label = self.record.request.label();
        let label: String = label.chars().take(40).collect();
        for (index, output) in status.outputs.iter().enumerate() {
            if self.record.saved.iter().any(|s| s.index == index) {
                continue;
            }
            let stem = if output.name.is_empty() || output.name == label {
                label.clone()
            } else {
                format!("{label}-{}", output.name)
            };
            let mut attempt = 0;
            let path = loop {
                self.check_remote_cancel()?;
                match save_output(
                    &self.client.http,
                    output,
                    &self.record.output_dir,
                    &stem,
                    limits,
                    &self.abort,
                ) {
                    Ok(p) => break p,
                    Err(ClientError::Cancelled) => return Err(ClientError::Cancelled),
                    Err(
                        e @ (ClientError::Download { .. }
                        | ClientError::Check { .. }
                        | ClientError::Timeout { .. }
                        | ClientError::Network { .. }),
                    ) if attempt < tuning.max_retries => {
                        attempt += 1;
                        self.emit(JobEvent::Note(format!(
                            "download failed, retrying ({attempt}/{}): {e}",
                            tuning.max_retries
                        )));
                        self.abort.sleep(self.client.http.backoff(attempt - 1))?;
                    }
                    Err(e) => return Err(e),
                }
            };
            self.record.saved.push(SavedFile {
                index,
                path: path.clone(),
            });
            self.save()?;
            self.emit(JobEvent::Saved { path });
        }
        self.record.phase = JobPhase::Done;
        self.record.progress = Some(1.0);
        self.record.error = None;
        self.save()?;
        Ok(self.record.saved.iter().map(|s| s.path.clone()).collect())
    }
}
