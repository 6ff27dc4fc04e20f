//! Job records on disk, so that a restarted DAW or CLI resumes following and downloading.
//!
//! One JSON file per job in `<data dir>/mixsmith/jobs/` (`$XDG_DATA_HOME` on Linux), written
//! atomically (temporary file, then rename). A record holds the request, the provider's task id,
//! the files already saved and the phase; never an API key (keys have no serialization at all).
//! A job being followed is locked (`flock` on `<id>.lock`), so two processes never follow the
//! same job; a killed process releases its lock with its file descriptors.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::error::ClientError;
use super::provider::ProviderKind;
use super::request::JobRequest;
use super::task::{RemoteTask, TaskState};

/// The default folder of job records: `<data dir>/mixsmith/jobs`.
pub fn default_jobs_dir() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("mixsmith").join("jobs"))
}

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobPhase {
    /// Created, nothing sent yet.
    New,
    /// The submission was sent; no answer recorded yet. A job found in this phase after a
    /// crash is not submitted again (it could be billed twice).
    Submitting,
    /// Submitted; following the remote task.
    Following,
    /// The task succeeded; results are being downloaded.
    Downloading,
    /// Every result is in the output folder.
    Done,
    /// Ended with an error.
    Failed,
    /// Cancelled by the user.
    Cancelled,
}

impl JobPhase {
    /// Whether the job is over.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobPhase::Done | JobPhase::Failed | JobPhase::Cancelled
        )
    }
}

/// A result already saved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedFile {
    /// Index of the output in the task's result list.
    pub index: usize,
    /// Where it was saved.
    pub path: PathBuf,
}

/// Everything needed to resume a job. Contains no secrets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Local job id (also the file name).
    pub id: String,
    /// The provider.
    pub provider: ProviderKind,
    /// The provider's base URL when the job was started (resuming uses the current
    /// configuration; this is for display and checks).
    pub base_url: String,
    /// What was asked.
    pub request: JobRequest,
    /// Where results go.
    pub output_dir: PathBuf,
    /// Life-cycle phase.
    pub phase: JobPhase,
    /// The remote task, once submitted.
    pub task: Option<RemoteTask>,
    /// Last known remote state.
    pub state: Option<TaskState>,
    /// Last known progress (0..=1).
    pub progress: Option<f32>,
    /// Results saved so far.
    pub saved: Vec<SavedFile>,
    /// The error that ended the job.
    pub error: Option<String>,
    /// Set by `jobs cancel` from any process; the follower stops at its next step.
    #[serde(default)]
    pub cancel_requested: bool,
    /// Last SSE event id (to resume the stream).
    pub last_event_id: Option<String>,
    /// Creation time, seconds since the Unix epoch.
    pub created_unix: u64,
    /// Last update, seconds since the Unix epoch.
    pub updated_unix: u64,
}

pub(crate) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The folder of job records.
#[derive(Clone, Debug)]
pub struct JobStore {
    dir: PathBuf,
}

/// An exclusive lock on a job, held while it is followed.
#[derive(Debug)]
pub struct JobLock {
    _file: File,
}

impl JobStore {
    /// A store in `dir` (created, mode 0700).
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, ClientError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| ClientError::io(&dir, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(0o700));
        }
        Ok(JobStore { dir })
    }

    /// The store in the user data folder.
    pub fn open_default() -> Result<Self, ClientError> {
        let dir = default_jobs_dir().ok_or_else(|| {
            ClientError::Config("no user data folder (set XDG_DATA_HOME or HOME)".into())
        })?;
        Self::new(dir)
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of a record.
    pub fn path_of(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn check_id(&self, id: &str) -> Result<(), ClientError> {
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ClientError::Store {
                path: self.dir.join(id),
                message: "not a job id".into(),
            });
        }
        Ok(())
    }

    /// Writes a record atomically. A cancel requested by another process is kept.
    pub fn save(&self, record: &mut JobRecord) -> Result<(), ClientError> {
        self.check_id(&record.id)?;
        let path = self.path_of(&record.id);
        if !record.cancel_requested
            && let Ok(old) = self.load(&record.id)
            && old.cancel_requested
        {
            record.cancel_requested = true;
        }
        record.updated_unix = now_unix();
        let json = serde_json::to_vec_pretty(record).map_err(|e| ClientError::Store {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".record-")
            .suffix(".tmp")
            .tempfile_in(&self.dir)
            .map_err(|e| ClientError::io(&self.dir, e))?;
        tmp.write_all(&json)
            .and_then(|_| tmp.as_file().sync_all())
            .map_err(|e| ClientError::io(tmp.path(), e))?;
        tmp.persist(&path)
            .map_err(|e| ClientError::io(&path, e.error))?;
        Ok(())
    }

    /// Reads a record.
    pub fn load(&self, id: &str) -> Result<JobRecord, ClientError> {
        self.check_id(id)?;
        let path = self.path_of(id);
        let bytes = fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ClientError::Store {
                    path: path.clone(),
                    message: format!("no job `{id}`"),
                }
            } else {
                ClientError::io(&path, e)
            }
        })?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Store {
            path,
            message: format!("unreadable record: {e}"),
        })
    }

    /// Every readable record, oldest first (unreadable files are reported, not fatal).
    pub fn list(&self) -> Result<(Vec<JobRecord>, Vec<ClientError>), ClientError> {
        let mut out = Vec::new();
        let mut bad = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(|e| ClientError::io(&self.dir, e))? {
            let entry = entry.map_err(|e| ClientError::io(&self.dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".json") else {
                continue;
            };
            if id.starts_with('.') {
                continue;
            }
            match self.load(id) {
                Ok(r) => out.push(r),
                Err(e) => bad.push(e),
            }
        }
        out.sort_by(|a, b| (a.created_unix, &a.id).cmp(&(b.created_unix, &b.id)));
        Ok((out, bad))
    }

    /// Removes a record and its lock file.
    pub fn remove(&self, id: &str) -> Result<(), ClientError> {
        self.check_id(id)?;
        let path = self.path_of(id);
        fs::remove_file(&path).map_err(|e| ClientError::io(&path, e))?;
        let _ = fs::remove_file(self.dir.join(format!("{id}.lock")));
        Ok(())
    }

    /// Asks whoever follows `id` to stop and cancel it; marks it cancelled at once when nobody
    /// does.
    pub fn request_cancel(&self, id: &str) -> Result<JobRecord, ClientError> {
        let mut rec = self.load(id)?;
        if rec.phase.is_terminal() {
            return Ok(rec);
        }
        rec.cancel_requested = true;
        if let Some(_lock) = self.try_lock(id)? {
            rec.phase = JobPhase::Cancelled;
            rec.error = Some("cancelled".into());
        }
        self.save(&mut rec)?;
        Ok(rec)
    }

    /// Whether a cancel was requested for `id`.
    pub fn cancel_requested(&self, id: &str) -> bool {
        self.load(id).map(|r| r.cancel_requested).unwrap_or(false)
    }

    /// Takes the job's lock, or `None` when another process (or handle) holds it.
    pub fn try_lock(&self, id: &str) -> Result<Option<JobLock>, ClientError> {
        self.check_id(id)?;
        let path = self.dir.join(format!("{id}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| ClientError::io(&path, e))?;
        if lock_exclusive(&file) {
            Ok(Some(JobLock { _file: file }))
        } else {
            Ok(None)
        }
    }
}

#[cfg(unix)]
fn lock_exclusive(file: &File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: `flock` on a file descriptor we own; the lock goes with the descriptor.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

#[cfg(not(unix))]
fn lock_exclusive(_file: &File) -> bool {
    true
}
