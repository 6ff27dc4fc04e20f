//! The bridge between a host's realtime audio callback and the background workers.
//!
//! The audio thread never allocates, locks, blocks or logs. It writes the host's input into a
//! pre-allocated lock-free ring, a worker thread cuts that stream into fixed-size chunks and runs
//! a [`StreamProcessor`] on them, and the processed chunks travel back through a second ring. The
//! audio thread reads them exactly [`Bridge::latency_frames`] later.
//!
//! - In [`RenderMode::Realtime`] the audio thread never waits: when the worker has not delivered
//!   the frames a block needs, that block is the delayed dry signal and an underrun is counted.
//! - In [`RenderMode::Offline`] the audio thread waits for the worker, so every rendered block is
//!   the processed one and renders are deterministic.
//!
//! Whole-song results (analyse-ahead tools) are played back in sync with the host transport by
//! [`clip::ClipPlayer`] instead; both paths share the same rules.

pub mod clip;
pub mod handoff;
mod stats;
mod stream;
mod subnormal;
mod worker;

pub use stats::{EngineStats, StatsSnapshot};
pub use stream::{Bridge, BridgeAudio, BridgeConfig, RenderMode};
pub use subnormal::flush_subnormals;

/// A streaming processor run on the bridge's worker thread.
///
/// The processor sees the host's audio as a gap-free stream cut into chunks of
/// [`chunk_frames`](Self::chunk_frames) frames. Its output for a chunk is aligned with its input:
/// a processor that looks ahead delays its output by [`latency_frames`](Self::latency_frames),
/// which the bridge adds to the latency it reports.
pub trait StreamProcessor: Send + 'static {
    /// The number of frames per chunk. Fixed for the processor's lifetime.
    fn chunk_frames(&self) -> usize;

    /// The processor's own delay in frames (look-ahead), on top of the bridge's.
    fn latency_frames(&self) -> usize {
        0
    }

    /// Forget all history: called on the worker when the stream restarts (a transport jump or a
    /// reset requested by the host).
    fn reset(&mut self);

    /// Processes one chunk. `input` holds one slice per input channel and `output` one per
    /// output channel ([`BridgeConfig::output_channels`]), each exactly
    /// [`chunk_frames`](Self::chunk_frames) long. Runs on the worker thread, where allocation is
    /// allowed but should be rare.
    fn process_chunk(&mut self, input: &[&[f32]], output: &mut [&mut [f32]]);
}

/// The simplest processor: copies its input. Used to measure the bridge itself and as the
/// plugin's monitor mode.
#[derive(Debug, Clone)]
pub struct PassThrough {
    /// Frames per chunk.
    chunk_frames: usize,
}

impl PassThrough {
    /// A pass-through processor working in chunks of `chunk_frames` frames.
    pub fn new(chunk_frames: usize) -> Self {
        assert!(chunk_frames > 0, "chunk_frames must be positive");
        Self { chunk_frames }
    }
}

impl StreamProcessor for PassThrough {
    fn chunk_frames(&self) -> usize {
        self.chunk_frames
    }

    fn reset(&mut self) {}

    fn process_chunk(&mut self, input: &[&[f32]], output: &mut [&mut [f32]]) {
        for (out, inp) in output.iter_mut().zip(input) {
            out.copy_from_slice(inp);
        }
    }
}
