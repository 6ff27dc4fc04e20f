//! Engine counters shared by the audio thread, the worker and the GUI, all lock-free.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// Counters written by the audio thread and the worker and read by the GUI. Every field is an
/// atomic, so reading never blocks either writer.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// The latency reported to the host, in frames.
    latency_frames: AtomicU32,
    /// Blocks output as delayed dry signal because the worker was late (realtime mode only).
    underruns: AtomicU64,
    /// Chunks processed by the worker since it started.
    chunks: AtomicU64,
    /// The worker's processing time of its last chunks as a fraction of their duration, stored as
    /// `f32` bits. Above 1.0 the worker cannot keep up with real time.
    load_bits: AtomicU32,
    /// Set when the processor panicked: the worker stopped and the output stays dry.
    worker_failed: AtomicBool,
}

/// A copy of [`EngineStats`] taken at one moment, for display.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StatsSnapshot {
    /// The latency reported to the host, in frames.
    pub latency_frames: u32,
    /// Blocks that fell back to the delayed dry signal.
    pub underruns: u64,
    /// Chunks processed by the worker.
    pub chunks: u64,
    /// Worker processing time as a fraction of real time (smoothed).
    pub load: f32,
    /// True when the worker stopped after a failure.
    pub worker_failed: bool,
}

impl EngineStats {
    /// Takes a snapshot of all counters.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            latency_frames: self.latency_frames.load(Ordering::Relaxed),
            underruns: self.underruns.load(Ordering::Relaxed),
            chunks: self.chunks.load(Ordering::Relaxed),
            load: f32::from_bits(self.load_bits.load(Ordering::Relaxed)),
            worker_failed: self.worker_failed.load(Ordering::Acquire),
        }
    }

    pub(super) fn set_latency(&self, frames: usize) {
        self.latency_frames
            .store(u32::try_from(frames).unwrap_or(u32::MAX), Ordering::Relaxed);
    }

    pub(super) fn count_underrun(&self) {
        self.underruns.fetch_add(1, Ordering::Relaxed);
    }

    /// Records one processed chunk that took `busy_fraction` of its real-time duration, smoothed
    /// over roughly the last 16 chunks.
    pub(super) fn record_chunk(&self, busy_fraction: f32) {
        self.chunks.fetch_add(1, Ordering::Relaxed);
        let previous = f32::from_bits(self.load_bits.load(Ordering::Relaxed));
        let smoothed = previous + (busy_fraction - previous) / 16.0;
        self.load_bits.store(smoothed.to_bits(), Ordering::Relaxed);
    }

    pub(super) fn mark_failed(&self) {
        self.worker_failed.store(true, Ordering::Release);
    }

    pub(super) fn failed(&self) -> bool {
        self.worker_failed.load(Ordering::Acquire)
    }
}
