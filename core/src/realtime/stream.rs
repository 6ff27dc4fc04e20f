//! The streaming bridge: the audio thread's side, the worker's start-up and shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread::{self, JoinHandle, Thread};
use std::time::Duration;

use rtrb::{Consumer, Producer, RingBuffer};

use super::stats::{EngineStats, StatsSnapshot};
use super::{StreamProcessor, worker};

/// How the host is running the plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderMode {
    /// Live playback: the audio thread never waits for the worker.
    Realtime,
    /// Offline render (bounce/freeze): the audio thread waits for the worker so the result is
    /// deterministic and equal to the CLI's.
    Offline,
}

/// The fixed configuration of one bridge. A change of any field means a new bridge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BridgeConfig {
    /// Channels of the host's input.
    pub channels: usize,
    /// Channels the processor outputs: usually `channels`; a separator outputs one group of
    /// channels per stem. Wherever processed audio is missing (start-up, an underrun, a failed
    /// worker) the output is the delayed input in the first `channels` output channels and
    /// silence in the rest.
    pub output_channels: usize,
    /// Sample rate in Hz, used for the worker's load figure.
    pub sample_rate: f32,
    /// The largest block the host will pass to one `process()` call.
    pub max_block_frames: usize,
}

/// State the audio thread and the worker share, all atomic.
#[derive(Debug)]
pub(super) struct Shared {
    /// Generation of the latest reset asked for by the audio thread.
    pub(super) reset_request: AtomicU32,
    /// Generation of the latest reset the worker has carried out.
    pub(super) reset_ack: AtomicU32,
    /// Tells the worker to exit.
    pub(super) shutdown: AtomicBool,
    /// Counters for the GUI.
    pub(super) stats: Arc<EngineStats>,
}

/// A running bridge: its audio-thread side and the worker thread that serves it. Dropping it stops
/// and joins the worker, so drop it off the audio thread (in `deactivate()` or with the plugin).
pub struct Bridge {
    /// The side the audio thread uses.
    audio: BridgeAudio,
    /// The worker thread, joined on drop.
    worker: Option<JoinHandle<()>>,
}

impl Bridge {
    /// Starts a worker thread running `processor` and returns the bridge. Allocates every buffer
    /// the audio thread will use, so call it from `activate()`, never from `process()`. `stats`
    /// outlives the bridge, so a GUI can keep reading it across re-activations.
    pub fn start<P: StreamProcessor>(
        processor: P,
        config: BridgeConfig,
        stats: Arc<EngineStats>,
    ) -> std::io::Result<Self> {
        assert!(
            config.channels > 0 && config.output_channels > 0,
            "a bridge needs at least one channel each way"
        );
        let max_block = config.max_block_frames.max(1);
        let chunk = processor.chunk_frames();
        // One chunk to fill, one host block for the worker to process it before it is due, and
        // one more chunk of headroom for scheduling jitter.
        let bridge_latency = 2 * chunk + max_block;
        let warmup = processor.latency_frames();
        let total_latency = bridge_latency + warmup;
        // Room for everything in flight plus a block, so neither side ever overwrites the other.
        let ring_frames = bridge_latency + 2 * chunk + 2 * max_block;

        let (input_tx, input_rx) = RingBuffer::new(ring_frames * config.channels);
        let (output_tx, output_rx) = RingBuffer::new(ring_frames * config.output_channels);
        let shared = Arc::new(Shared {
            reset_request: AtomicU32::new(0),
            reset_ack: AtomicU32::new(0),
            shutdown: AtomicBool::new(false),
            stats,
        });
        shared.stats.set_latency(total_latency);

        let worker_shared = Arc::clone(&shared);
        let worker = thread::Builder::new()
            .name("mixsmith-bridge".into())
            .spawn(move || {
                worker::run(
                    processor,
                    input_rx,
                    output_tx,
                    &worker_shared,
                    (config.channels, config.output_channels),
                    config.sample_rate,
                )
            })?;

        let audio = BridgeAudio {
            channels: config.channels,
            outputs: config.output_channels,
            max_block,
            warmup,
            bridge_latency,
            total_latency,
            input: input_tx,
            output: output_rx,
            dry: DelayLine::new(config.channels, total_latency, max_block),
            pushed: 0,
            popped: 0,
            resetting: false,
            generation: 0,
            worker_thread: worker.thread().clone(),
            shared,
        };
        Ok(Self {
            audio,
            worker: Some(worker),
        })
    }

    /// The latency reported to the host: the bridge's own plus the processor's look-ahead.
    pub fn latency_frames(&self) -> usize {
        self.audio.total_latency
    }

    /// The audio thread's side of the bridge.
    pub fn audio(&mut self) -> &mut BridgeAudio {
        &mut self.audio
    }

    /// A snapshot of the engine counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.audio.shared.stats.snapshot()
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.audio.shared.shutdown.store(true, Ordering::Release);
        if let Some(worker) = self.worker.take() {
            worker.thread().unpark();
            // A worker that panicked has already stopped; there is nothing left to clean up.
            let _ = worker.join();
        }
    }
}

/// The audio thread's side of a [`Bridge`]. Every method is allocation-free and lock-free.
pub struct BridgeAudio {
    /// Channel count of the input stream.
    channels: usize,
    /// Channel count of the processed stream.
    outputs: usize,
    /// Largest block processed in one go; longer host blocks are split.
    max_block: usize,
    /// The processor's look-ahead: after a (re)start its first this many output frames depend
    /// on input from before the start, so the delayed dry signal stands in for them.
    warmup: usize,
    /// Frames between a sample entering the input ring and its processed version being due.
    bridge_latency: usize,
    /// `bridge_latency` plus the processor's look-ahead: what the host is told.
    total_latency: usize,
    /// Interleaved host input on its way to the worker.
    input: Producer<f32>,
    /// Interleaved processed audio on its way back.
    output: Consumer<f32>,
    /// The dry signal delayed by `total_latency`, output whenever processed audio is not there.
    dry: DelayLine,
    /// Frames pushed to the worker since the stream (re)started.
    pushed: u64,
    /// Processed frames taken from the worker since the stream (re)started.
    popped: u64,
    /// True between asking the worker to reset and its acknowledgement.
    resetting: bool,
    /// Generation of the last reset asked for.
    generation: u32,
    /// Handle used to wake the worker when new input is there (a futex wake, never blocking).
    worker_thread: Thread,
    /// State shared with the worker.
    shared: Arc<Shared>,
}

impl BridgeAudio {
    /// Restarts the stream (a transport jump or a host reset). The worker forgets its history;
    /// until it has, and for one latency period after, the output is the delayed dry signal.
    pub fn reset(&mut self) {
        if self.pushed == 0 && !self.resetting {
            // Nothing was sent since the (re)start: the stream is already fresh. Hosts reset
            // right after activation; skipping that keeps the first blocks processed.
            return;
        }
        self.generation = self.generation.wrapping_add(1);
        self.shared
            .reset_request
            .store(self.generation, Ordering::Release);
        self.resetting = true;
        self.worker_thread.unpark();
    }

    /// Processes one host block in place: `channels` holds one slice per channel, all the same
    /// length. The output is the processed signal delayed by [`Self::latency_frames`]. Only for
    /// a bridge with as many output channels as input channels.
    pub fn process(&mut self, channels: &mut [&mut [f32]], mode: RenderMode) {
        self.process_in_place(channels, mode, false);
    }

    /// Like [`Self::process`], but the output is the dry signal delayed by the same latency. The
    /// worker keeps running on the input, so switching back is seamless and analysis continues.
    pub fn process_bypassed(&mut self, channels: &mut [&mut [f32]], mode: RenderMode) {
        self.process_in_place(channels, mode, true);
    }

    /// Processes one host block from `input` (one slice per input channel) into `output` (one
    /// slice per output channel, all as long as the input): the processed signal delayed by
    /// [`Self::latency_frames`], or where it is missing the delayed input in the first output
    /// channels and silence in the rest.
    pub fn process_into(&mut self, input: &[&[f32]], output: &mut [&mut [f32]], mode: RenderMode) {
        debug_assert_eq!(input.len(), self.channels);
        debug_assert_eq!(output.len(), self.outputs);
        let frames = input.first().map_or(0, |c| c.len());
        let mut start = 0;
        while start < frames {
            let len = (frames - start).min(self.max_block);
            let source = self.accept(input, start, len, mode);
            self.emit(output, start, len, source);
            start += len;
        }
    }

    fn process_in_place(&mut self, channels: &mut [&mut [f32]], mode: RenderMode, bypassed: bool) {
        debug_assert_eq!(channels.len(), self.channels);
        debug_assert_eq!(
            self.outputs, self.channels,
            "in-place processing keeps the layout"
        );
        let frames = channels.first().map_or(0, |c| c.len());
        let mut start = 0;
        while start < frames {
            let len = (frames - start).min(self.max_block);
            let source = self.accept(channels, start, len, mode);
            // Bypassed, the processed frames are still taken, so the worker never backs up.
            self.emit(channels, start, len, source);
            if bypassed {
                self.write_dry(channels, start, len, 0);
            }
            start += len;
        }
    }

    /// Takes one block (at most `max_block` frames) of input: into the dry line and, unless the
    /// stream is restarting or the worker is gone, to the worker. Says where the block's output
    /// comes from.
    fn accept<C: AsRef<[f32]>>(
        &mut self,
        input: &[C],
        start: usize,
        len: usize,
        mode: RenderMode,
    ) -> Source {
        self.dry.write(input, start, len);
        if self.worker_gone() {
            return Source::Dry;
        }
        if self.resetting && !self.finish_reset(mode) {
            return Source::Dry;
        }

        if !self.push_input(input, start, len, mode) {
            // The worker fell so far behind that its input ring is full: restart the stream.
            self.shared.stats.count_underrun();
            self.reset();
            return Source::Dry;
        }

        // Stream positions (since the restart) of the output frames this block needs.
        let due_start = self.pushed as i64 - len as i64 - self.bridge_latency as i64;
        let due_end = due_start + len as i64;
        let warmup = self.warmup as i64;
        if due_end <= warmup {
            // Still inside the first latency period: nothing processed is due yet, and what the
            // worker delivers for the warm-up is never played, so free its room in the ring.
            self.skip_late_frames(self.warmup as u64);
            return Source::Dry;
        }
        let preroll = (warmup - due_start).max(0) as usize;
        let first_due = due_start.max(warmup) as u64;
        if self.wait_for_output(first_due + (len - preroll) as u64, mode) {
            Source::Processed { preroll, first_due }
        } else {
            self.shared.stats.count_underrun();
            Source::Dry
        }
    }

    /// Writes the output of the block [`Self::accept`] took last.
    fn emit(&mut self, output: &mut [&mut [f32]], start: usize, len: usize, source: Source) {
        match source {
            Source::Dry => self.write_dry(output, start, len, 0),
            Source::Processed { preroll, first_due } => {
                if preroll > 0 {
                    self.write_dry(output, start, preroll, 0);
                }
                self.skip_late_frames(first_due);
                self.pop_output(output, start + preroll, len - preroll);
            }
        }
    }

    /// The delayed input for `len` frames from `offset` frames into the last accepted block, in
    /// the first output channels; silence in the others.
    fn write_dry(&self, output: &mut [&mut [f32]], start: usize, len: usize, offset: usize) {
        self.dry.read_into_from(output, start, len, offset);
        for channel in output.iter_mut().skip(self.channels) {
            channel[start..start + len].fill(0.0);
        }
    }

    /// True when the worker stopped after a failure: the bridge then passes the dry signal.
    fn worker_gone(&self) -> bool {
        self.shared.stats.failed()
    }

    /// Completes a pending reset once the worker acknowledged it. Offline, waits for it.
    fn finish_reset(&mut self, mode: RenderMode) -> bool {
        loop {
            if self.shared.reset_ack.load(Ordering::Acquire) == self.generation {
                // Everything still in the output ring predates the reset.
                let stale = self.output.slots();
                if let Ok(chunk) = self.output.read_chunk(stale) {
                    chunk.commit_all();
                }
                self.pushed = 0;
                self.popped = 0;
                self.resetting = false;
                return true;
            }
            if mode == RenderMode::Realtime || self.worker_gone() {
                return false;
            }
            offline_wait();
        }
    }

    /// Sends a block to the worker. Offline, waits for room; realtime, fails when there is none.
    fn push_input<C: AsRef<[f32]>>(
        &mut self,
        channels: &[C],
        start: usize,
        len: usize,
        mode: RenderMode,
    ) -> bool {
        let samples = len * self.channels;
        while self.input.slots() < samples {
            if mode == RenderMode::Realtime || self.worker_gone() {
                return false;
            }
            offline_wait();
        }
        let Ok(chunk) = self.input.write_chunk_uninit(samples) else {
            return false;
        };
        let interleaved = (start..start + len)
            .flat_map(|frame| channels.iter().map(move |ch| ch.as_ref()[frame]));
        chunk.fill_from_iter(interleaved);
        self.pushed += len as u64;
        self.worker_thread.unpark();
        true
    }

    /// Drops processed frames that arrived too late to be played.
    fn skip_late_frames(&mut self, first_due: u64) {
        let late = first_due.saturating_sub(self.popped) as usize;
        let available = self.output.slots() / self.outputs;
        let skip = late.min(available);
        if skip > 0
            && let Ok(chunk) = self.output.read_chunk(skip * self.outputs)
        {
            chunk.commit_all();
            self.popped += skip as u64;
        }
    }

    /// Whether the processed frames up to stream position `end` (exclusive) have arrived.
    /// Offline, waits until they have.
    fn wait_for_output(&self, end: u64, mode: RenderMode) -> bool {
        loop {
            let arrived = self.popped + (self.output.slots() / self.outputs) as u64;
            if arrived >= end {
                return true;
            }
            if mode == RenderMode::Realtime || self.worker_gone() {
                return false;
            }
            offline_wait();
        }
    }

    fn pop_output(&mut self, channels: &mut [&mut [f32]], start: usize, frames: usize) {
        let Ok(chunk) = self.output.read_chunk(frames * self.outputs) else {
            return;
        };
        let (first, second) = chunk.as_slices();
        for (index, sample) in first.iter().chain(second).enumerate() {
            channels[index % self.outputs][start + index / self.outputs] = *sample;
        }
        chunk.commit_all();
        self.popped += frames as u64;
    }
}

/// Where the output of an accepted block comes from.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// The delayed input (warm-up, restart, underrun, failed worker, bypass).
    Dry,
    /// The worker's output, after `preroll` frames of the delayed input (the end of the
    /// warm-up); `first_due` is the stream position of the first processed frame.
    Processed {
        /// Frames of delayed input before the processed ones.
        preroll: usize,
        /// The stream position of the first processed frame.
        first_due: u64,
    },
}

/// Offline renders may block; this is the only place the audio thread ever sleeps.
fn offline_wait() {
    thread::sleep(Duration::from_micros(50));
}

/// A multichannel delay line of fixed length, written once per block and read for any part of it.
struct DelayLine {
    /// One circular buffer per channel.
    buffers: Vec<Vec<f32>>,
    /// The delay in frames.
    delay: usize,
    /// Where the next block's first frame goes.
    write_pos: usize,
    /// Frames written by the last `write()`, so reads can find that block's start.
    last_block: usize,
}

impl DelayLine {
    fn new(channels: usize, delay: usize, max_block: usize) -> Self {
        Self {
            buffers: vec![vec![0.0; delay + max_block]; channels],
            delay,
            write_pos: 0,
            last_block: 0,
        }
    }

    fn write<C: AsRef<[f32]>>(&mut self, channels: &[C], start: usize, len: usize) {
        for (buffer, channel) in self.buffers.iter_mut().zip(channels) {
            let capacity = buffer.len();
            for (offset, sample) in channel.as_ref()[start..start + len].iter().enumerate() {
                buffer[(self.write_pos + offset) % capacity] = *sample;
            }
        }
        let capacity = self.buffers[0].len();
        self.write_pos = (self.write_pos + len) % capacity;
        self.last_block = len;
    }

    /// Copies the delayed signal for `len` frames starting `offset` frames into the last written
    /// block, to `channels[..][start..]`.
    fn read_into_from(&self, channels: &mut [&mut [f32]], start: usize, len: usize, offset: usize) {
        for (buffer, channel) in self.buffers.iter().zip(channels.iter_mut()) {
            let capacity = buffer.len();
            let block_start = self.write_pos + capacity - self.last_block;
            let read_start = block_start + capacity - self.delay + offset;
            for (index, sample) in channel[start..start + len].iter_mut().enumerate() {
                *sample = buffer[(read_start + index) % capacity];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::PassThrough;

    fn ramp(len: usize, from: usize) -> Vec<f32> {
        (from..from + len)
            .map(|i| (i as f32 + 1.0) * 1e-4)
            .collect()
    }

    /// Runs `blocks` of `block` frames of a stereo ramp through the bridge and returns channel 0.
    fn run(bridge: &mut Bridge, block: usize, blocks: usize, mode: RenderMode) -> Vec<f32> {
        let mut out = Vec::new();
        for index in 0..blocks {
            let mut left = ramp(block, index * block);
            let mut right: Vec<f32> = left.iter().map(|s| -s).collect();
            bridge
                .audio()
                .process(&mut [&mut left[..], &mut right[..]], mode);
            assert!(left.iter().zip(&right).all(|(l, r)| *l == -*r));
            out.extend_from_slice(&left);
        }
        out
    }

    fn config(max_block: usize) -> BridgeConfig {
        BridgeConfig {
            channels: 2,
            output_channels: 2,
            sample_rate: 48_000.0,
            max_block_frames: max_block,
        }
    }

    #[test]
    fn offline_output_is_input_delayed_by_reported_latency() {
        for (block, chunk) in [(64, 256), (1, 32), (1000, 128), (512, 512)] {
            let mut bridge =
                Bridge::start(PassThrough::new(chunk), config(block), Arc::default()).unwrap();
            let latency = bridge.latency_frames();
            let out = run(&mut bridge, block, 40_000 / block, RenderMode::Offline);
            let expected: Vec<f32> = (0..out.len())
                .map(|i| {
                    if i < latency {
                        0.0
                    } else {
                        (i - latency + 1) as f32 * 1e-4
                    }
                })
                .collect();
            assert_eq!(out, expected, "block {block}, chunk {chunk}");
            assert_eq!(bridge.stats().underruns, 0);
        }
    }

    #[test]
    fn blocks_longer_than_the_maximum_are_split() {
        let mut bridge = Bridge::start(PassThrough::new(64), config(100), Arc::default()).unwrap();
        let latency = bridge.latency_frames();
        let out = run(&mut bridge, 1000, 10, RenderMode::Offline);
        assert_eq!(out[latency], 1e-4);
        assert_eq!(out[latency + 5000], 5001.0 * 1e-4);
    }

    #[test]
    fn realtime_without_worker_output_plays_delayed_dry_and_counts_underruns() {
        /// A processor far slower than real time that negates its input.
        struct Slow;
        impl StreamProcessor for Slow {
            fn chunk_frames(&self) -> usize {
                64
            }
            fn reset(&mut self) {}
            fn process_chunk(&mut self, input: &[&[f32]], output: &mut [&mut [f32]]) {
                thread::sleep(Duration::from_millis(200));
                for (o, i) in output.iter_mut().zip(input) {
                    for (o, i) in o.iter_mut().zip(i.iter()) {
                        *o = -*i;
                    }
                }
            }
        }
        let mut bridge = Bridge::start(Slow, config(64), Arc::default()).unwrap();
        let latency = bridge.latency_frames();
        let out = run(&mut bridge, 64, 50, RenderMode::Realtime);
        // Every block is either the delayed dry signal or the processed one, never a gap.
        for (i, sample) in out.iter().enumerate().skip(latency) {
            let dry = (i - latency + 1) as f32 * 1e-4;
            assert!(*sample == dry || *sample == -dry, "frame {i}: {sample}");
        }
        assert!(bridge.stats().underruns > 0);
    }

    #[test]
    fn a_reset_before_any_audio_keeps_the_first_blocks_processed() {
        let mut bridge = Bridge::start(PassThrough::new(64), config(64), Arc::default()).unwrap();
        bridge.audio().reset();
        assert!(!bridge.audio().resetting, "no handshake for a fresh stream");
        run(&mut bridge, 64, 4, RenderMode::Realtime);
        bridge.audio().reset();
        assert!(
            bridge.audio().resetting,
            "a stream with audio in flight restarts"
        );
    }

    #[test]
    fn reset_restarts_the_stream_without_a_gap() {
        let mut bridge = Bridge::start(PassThrough::new(128), config(256), Arc::default()).unwrap();
        let latency = bridge.latency_frames();
        run(&mut bridge, 256, 20, RenderMode::Offline);
        bridge.audio().reset();
        let out = run(&mut bridge, 256, 20, RenderMode::Offline);
        // Right after the reset the dry line keeps the old signal flowing, then the new stream.
        assert_eq!(out[latency], 1e-4);
        assert_eq!(out[out.len() - 1], (out.len() - latency) as f32 * 1e-4);
    }

    /// A look-ahead processor: its output is its input delayed by `LOOKAHEAD`, and whatever it
    /// outputs before it has seen that much input after a reset is garbage.
    struct LookAhead {
        history: Vec<Vec<f32>>,
        seen: usize,
    }

    const LOOKAHEAD: usize = 300;

    impl StreamProcessor for LookAhead {
        fn chunk_frames(&self) -> usize {
            128
        }
        fn latency_frames(&self) -> usize {
            LOOKAHEAD
        }
        fn reset(&mut self) {
            self.history.iter_mut().for_each(Vec::clear);
            self.seen = 0;
        }
        fn process_chunk(&mut self, input: &[&[f32]], output: &mut [&mut [f32]]) {
            // Slow enough that offline blocks must wait for it, warm-up included.
            thread::sleep(Duration::from_millis(1));
            for ((history, inp), out) in self.history.iter_mut().zip(input).zip(output.iter_mut()) {
                history.extend_from_slice(inp);
                for (offset, sample) in out.iter_mut().enumerate() {
                    let index = self.seen + offset;
                    *sample = if index < LOOKAHEAD {
                        999.0
                    } else {
                        history[index - LOOKAHEAD]
                    };
                }
            }
            self.seen += input[0].len();
        }
    }

    #[test]
    fn look_ahead_warm_up_is_covered_by_the_dry_signal_after_every_restart() {
        let processor = LookAhead {
            history: vec![Vec::new(), Vec::new()],
            seen: 0,
        };
        let mut bridge = Bridge::start(processor, config(64), Arc::default()).unwrap();
        let latency = bridge.latency_frames();
        let first = run(&mut bridge, 64, 100, RenderMode::Offline);
        bridge.audio().reset();
        let second = run(&mut bridge, 64, 100, RenderMode::Offline);
        let expected: Vec<f32> = (0..first.len())
            .map(|i| {
                if i < latency {
                    0.0
                } else {
                    (i - latency + 1) as f32 * 1e-4
                }
            })
            .collect();
        assert_eq!(first, expected);
        assert_eq!(
            bridge.stats().underruns,
            0,
            "offline never falls back to dry"
        );
        // After the restart the dry line continues the old stream, then the new one follows.
        assert!(second.iter().all(|s| *s != 999.0));
        assert_eq!(second[latency..], expected[latency..]);
    }

    #[test]
    fn a_warm_up_longer_than_the_rings_does_not_stall_offline() {
        struct LongLookAhead;
        impl StreamProcessor for LongLookAhead {
            fn chunk_frames(&self) -> usize {
                16
            }
            fn latency_frames(&self) -> usize {
                5000
            }
            fn reset(&mut self) {}
            fn process_chunk(&mut self, input: &[&[f32]], output: &mut [&mut [f32]]) {
                for (o, i) in output.iter_mut().zip(input) {
                    o.copy_from_slice(i);
                }
            }
        }
        let mut bridge = Bridge::start(LongLookAhead, config(1), Arc::default()).unwrap();
        let out = run(&mut bridge, 1, 8000, RenderMode::Offline);
        assert_eq!(out.len(), 8000);
        assert_eq!(bridge.stats().underruns, 0);
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_worker_flushes_subnormal_arithmetic_to_zero() {
        use std::hint::black_box;
        /// Outputs 1.0 on the left (-1.0 on the right, as `run` expects) where the worker's CPU
        /// flushed a subnormal result (FTZ) and read a subnormal input as zero (DAZ), 2.0 otherwise.
        struct Probe;
        impl StreamProcessor for Probe {
            fn chunk_frames(&self) -> usize {
                32
            }
            fn reset(&mut self) {}
            fn process_chunk(&mut self, _: &[&[f32]], output: &mut [&mut [f32]]) {
                let result = black_box(f32::MIN_POSITIVE) / black_box(4.0);
                let input = black_box(f32::from_bits(1)) + black_box(0.0);
                let flushed = if result == 0.0 && input == 0.0 {
                    1.0
                } else {
                    2.0
                };
                output[0].fill(flushed);
                output[1].fill(-flushed);
            }
        }
        let mut bridge = Bridge::start(Probe, config(32), Arc::default()).unwrap();
        let latency = bridge.latency_frames();
        let out = run(&mut bridge, 32, 20, RenderMode::Offline);
        assert!(out[latency..].iter().all(|s| *s == 1.0), "{out:?}");
    }

    #[test]
    fn a_long_bypass_offline_neither_stalls_nor_loses_the_stream() {
        /// Negates its input, so processed and dry output differ.
        struct Negate;
        impl StreamProcessor for Negate {
            fn chunk_frames(&self) -> usize {
                64
            }
            fn reset(&mut self) {}
            fn process_chunk(&mut self, input: &[&[f32]], output: &mut [&mut [f32]]) {
                for (o, i) in output.iter_mut().zip(input) {
                    for (o, i) in o.iter_mut().zip(i.iter()) {
                        *o = -*i;
                    }
                }
            }
        }
        let mut bridge = Bridge::start(Negate, config(64), Arc::default()).unwrap();
        let latency = bridge.latency_frames();
        // Far more blocks than the rings hold.
        for index in 0..400 {
            let mut left = ramp(64, index * 64);
            let mut right: Vec<f32> = left.iter().map(|s| -s).collect();
            bridge
                .audio()
                .process_bypassed(&mut [&mut left[..], &mut right[..]], RenderMode::Offline);
            if index * 64 >= latency {
                assert_eq!(left[0], (index * 64 - latency + 1) as f32 * 1e-4, "dry");
            }
        }
        let mut left = ramp(64, 400 * 64);
        let mut right: Vec<f32> = left.iter().map(|s| -s).collect();
        bridge
            .audio()
            .process(&mut [&mut left[..], &mut right[..]], RenderMode::Offline);
        assert_eq!(
            left[0],
            -((400 * 64 - latency + 1) as f32) * 1e-4,
            "processed"
        );
    }

    /// Two channels in, four out: the input negated, then doubled.
    struct Spread {
        /// Sleeps this long per chunk (to force underruns).
        delay: Duration,
    }

    impl StreamProcessor for Spread {
        fn chunk_frames(&self) -> usize {
            64
        }
        fn reset(&mut self) {}
        fn process_chunk(&mut self, input: &[&[f32]], output: &mut [&mut [f32]]) {
            thread::sleep(self.delay);
            for (index, out) in output.iter_mut().enumerate() {
                let (source, factor) = (input[index % 2], [-1.0, 2.0][index / 2]);
                for (o, i) in out.iter_mut().zip(source.iter()) {
                    *o = factor * i;
                }
            }
        }
    }

    /// Runs a stereo ramp through a two-in, four-out bridge in blocks of 100; returns the four
    /// output channels.
    fn run_spread(delay: Duration, mode: RenderMode) -> (Vec<Vec<f32>>, usize, u64) {
        let config = BridgeConfig {
            output_channels: 4,
            ..config(100)
        };
        let mut bridge = Bridge::start(Spread { delay }, config, Arc::default()).unwrap();
        let mut outputs = vec![Vec::new(); 4];
        for index in 0..40 {
            let left = ramp(100, index * 100);
            let right: Vec<f32> = left.iter().map(|s| -s).collect();
            let mut block = vec![vec![7.0; 100]; 4];
            let mut slices: Vec<&mut [f32]> = block.iter_mut().map(Vec::as_mut_slice).collect();
            bridge
                .audio()
                .process_into(&[&left, &right], &mut slices, mode);
            for (all, part) in outputs.iter_mut().zip(&block) {
                all.extend_from_slice(part);
            }
        }
        let underruns = bridge.stats().underruns;
        (outputs, bridge.latency_frames(), underruns)
    }

    #[test]
    fn more_outputs_than_inputs_come_out_delayed_by_the_latency() {
        let (outputs, latency, underruns) = run_spread(Duration::ZERO, RenderMode::Offline);
        assert_eq!(underruns, 0);
        for (index, output) in outputs.iter().enumerate() {
            let factor = [-1.0, 2.0][index / 2] * [1.0, -1.0][index % 2];
            for (frame, sample) in output.iter().enumerate() {
                let expected = if frame < latency {
                    0.0
                } else {
                    factor * (frame - latency + 1) as f32 * 1e-4
                };
                assert_eq!(*sample, expected, "output {index}, frame {frame}");
            }
        }
    }

    #[test]
    fn without_processed_audio_the_input_fills_the_first_outputs_and_the_rest_is_silent() {
        let (outputs, latency, underruns) =
            run_spread(Duration::from_millis(100), RenderMode::Realtime);
        assert!(underruns > 0);
        let [first, second, third, fourth] = &outputs[..] else {
            panic!("four outputs");
        };
        for (frame, sample) in first.iter().enumerate().skip(latency) {
            let dry = (frame - latency + 1) as f32 * 1e-4;
            if *sample == dry {
                assert_eq!(second[frame], -dry);
                assert_eq!((third[frame], fourth[frame]), (0.0, 0.0));
            } else {
                assert_eq!(*sample, -dry, "frame {frame}");
                assert_eq!(third[frame], 2.0 * dry, "frame {frame}");
            }
        }
    }

    #[test]
    fn a_panicking_processor_leaves_the_dry_signal() {
        struct Broken;
        impl StreamProcessor for Broken {
            fn chunk_frames(&self) -> usize {
                32
            }
            fn reset(&mut self) {}
            fn process_chunk(&mut self, _: &[&[f32]], _: &mut [&mut [f32]]) {
                panic!("model exploded");
            }
        }
        let mut bridge = Bridge::start(Broken, config(32), Arc::default()).unwrap();
        let latency = bridge.latency_frames();
        let out = run(&mut bridge, 32, 200, RenderMode::Offline);
        assert!(bridge.stats().worker_failed);
        let last = out.len() - 1;
        assert_eq!(out[last], (last - latency + 1) as f32 * 1e-4);
    }
}
