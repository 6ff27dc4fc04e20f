//! The bridge's worker thread: cuts the input stream into chunks and runs the processor.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use rtrb::{Consumer, Producer};

use super::StreamProcessor;
use super::stream::Shared;
use super::subnormal::flush_denormals_on_this_thread;

/// How long the worker sleeps when it has nothing to do and nobody wakes it.
const IDLE_WAIT: Duration = Duration::from_millis(2);

/// The worker's loop; returns when the bridge shuts down or the processor panics. Runs on a
/// thread of its own, whose subnormal arithmetic it flushes to zero.
pub(super) fn run<P: StreamProcessor>(
    mut processor: P,
    mut input: Consumer<f32>,
    mut output: Producer<f32>,
    shared: &Shared,
    (channels, out_channels): (usize, usize),
    sample_rate: f32,
) {
    flush_denormals_on_this_thread();
    let chunk = processor.chunk_frames();
    let chunk_seconds = chunk as f32 / sample_rate.max(1.0);
    let mut chunk_in = vec![vec![0.0_f32; chunk]; channels];
    let mut chunk_out = vec![vec![0.0_f32; chunk]; out_channels];
    let mut filled = 0;
    let mut generation = shared.reset_ack.load(Ordering::Acquire);

    while !shared.shutdown.load(Ordering::Acquire) {
        let requested = shared.reset_request.load(Ordering::Acquire);
        if requested != generation {
            // The audio thread stops sending until it sees the acknowledgement, so everything in
            // the ring now belongs to the old stream.
            let stale = input.slots();
            if let Ok(old) = input.read_chunk(stale) {
                old.commit_all();
            }
            filled = 0;
            processor.reset();
            generation = requested;
            shared.reset_ack.store(generation, Ordering::Release);
            continue;
        }

        let wanted = (chunk - filled) * channels;
        let available = input.slots().min(wanted) / channels * channels;
        if available > 0
            && let Ok(samples) = input.read_chunk(available)
        {
            let (first, second) = samples.as_slices();
            for (index, sample) in first.iter().chain(second).enumerate() {
                chunk_in[index % channels][filled + index / channels] = *sample;
            }
            samples.commit_all();
            filled += available / channels;
        }
        if filled < chunk {
            if available == 0 {
                thread::park_timeout(IDLE_WAIT);
            }
            continue;
        }

        if !wait_for_room(&output, chunk * out_channels, shared, generation) {
            // Shutting down, or a reset made this chunk stale.
            filled = 0;
            continue;
        }
        let started = Instant::now();
        // Two small vectors of slices per chunk: the worker may allocate, the audio thread never.
        let inputs: Vec<&[f32]> = chunk_in.iter().map(Vec::as_slice).collect();
        let mut outputs: Vec<&mut [f32]> = chunk_out.iter_mut().map(Vec::as_mut_slice).collect();
        let result = catch_unwind(AssertUnwindSafe(|| {
            processor.process_chunk(&inputs, &mut outputs)
        }));
        if result.is_err() {
            shared.stats.mark_failed();
            return;
        }
        shared
            .stats
            .record_chunk(started.elapsed().as_secs_f32() / chunk_seconds);

        if let Ok(slots) = output.write_chunk_uninit(chunk * out_channels) {
            let interleaved =
                (0..chunk).flat_map(|frame| chunk_out.iter().map(move |ch| ch[frame]));
            slots.fill_from_iter(interleaved);
        }
        filled = 0;
    }
}

/// Waits until the output ring has room for a chunk. False when the bridge shuts down or a reset
/// arrives meanwhile.
fn wait_for_room(output: &Producer<f32>, samples: usize, shared: &Shared, generation: u32) -> bool {
    while output.slots() < samples {
        if shared.shutdown.load(Ordering::Acquire)
            || shared.reset_request.load(Ordering::Acquire) != generation
        {
            return false;
        }
        thread::park_timeout(IDLE_WAIT);
    }
    true
}
