//! Client-side rate limiting, the per-provider concurrency cap and cancellation.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::error::ClientError;

/// How often blocked waits look at their cancel flag.
const CANCEL_CHECK: Duration = Duration::from_millis(20);

/// A shared cancellation flag, checked by every wait and between requests.
#[derive(Clone, Debug, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    /// A flag that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the flag.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether the flag is set.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// `Err(Cancelled)` once the flag is set.
    pub fn check(&self) -> Result<(), ClientError> {
        if self.is_cancelled() {
            Err(ClientError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Sleeps for `d`, waking early (with `Err(Cancelled)`) when cancelled.
    pub fn sleep(&self, d: Duration) -> Result<(), ClientError> {
        let end = Instant::now() + d;
        loop {
            self.check()?;
            let now = Instant::now();
            if now >= end {
                return Ok(());
            }
            std::thread::sleep((end - now).min(CANCEL_CHECK));
        }
    }
}

/// Spaces requests to one provider at least `min_interval` apart, and holds every request back
/// after a `Retry-After`. Shared by all jobs of a [`super::Client`].
#[derive(Debug)]
pub struct RateLimiter {
    min_interval: Duration,
    next: Mutex<Instant>,
}

impl RateLimiter {
    /// A limiter allowing one request per `min_interval` (zero: no spacing).
    pub fn new(min_interval: Duration) -> Self {
        RateLimiter {
            min_interval,
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for this request's turn.
    pub fn acquire(&self, cancel: &CancelFlag) -> Result<(), ClientError> {
        loop {
            cancel.check()?;
            let wait = {
                let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                if now >= *next {
                    *next = now + self.min_interval;
                    return Ok(());
                }
                *next - now
            };
            std::thread::sleep(wait.min(CANCEL_CHECK));
        }
    }

    /// Holds every request back for `d` from now (a `Retry-After`).
    pub fn defer(&self, d: Duration) {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let until = Instant::now() + d;
        if until > *next {
            *next = until;
        }
    }
}

/// Caps the jobs of one provider that are in flight at once (the plan's concurrency).
#[derive(Debug)]
pub struct ConcurrencyCap {
    max: usize,
    used: Mutex<usize>,
    freed: Condvar,
}

/// A slot of a [`ConcurrencyCap`], released on drop.
#[derive(Debug)]
pub struct Permit(Arc<ConcurrencyCap>);

impl Drop for Permit {
    fn drop(&mut self) {
        let mut used = self.0.used.lock().unwrap_or_else(|e| e.into_inner());
        *used = used.saturating_sub(1);
        self.0.freed.notify_one();
    }
}

impl ConcurrencyCap {
    /// A cap of `max` (at least 1).
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(ConcurrencyCap {
            max: max.max(1),
            used: Mutex::new(0),
            freed: Condvar::new(),
        })
    }

    /// Slots in use.
    pub fn in_use(&self) -> usize {
        *self.used.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a free slot.
    pub fn acquire(self: &Arc<Self>, cancel: &CancelFlag) -> Result<Permit, ClientError> {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            cancel.check()?;
            if *used < self.max {
                *used += 1;
                return Ok(Permit(self.clone()));
            }
            used = self
                .freed
                .wait_timeout(used, CANCEL_CHECK)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}
