//! RVC conversion as a stream: what [`RvcConverter::convert`] runs on a whole signal, fed a
//! block at a time, and [`RvcStream`], the realtime bridge's processor built on it.
//!
//! [`RvcChannel`] resamples its input to 16 kHz as it comes, reflects the first [`CONTEXT`]
//! samples before the start (RVC's `t_pad`), and converts each window of [`WINDOW`] samples
//! once its last sample is in, joining it to the one before; the joined output is resampled
//! back to the input's rate. Everything after the start is the stream itself: the CLI feeds
//! silence after the end of a file, which is what a plugin hears after a clip, so a plugin's
//! offline render equals the CLI's output sample for sample, the reported latency later.
//!
//! [`RvcStream`] reports a fixed look-ahead ([`RvcStream::latency_frames`]): the window's
//! ([`REALTIME_LATENCY_SAMPLES`] at 16 kHz, 0.76 s) plus a bound on each resampler's delay;
//! its output is the converted stream exactly that much later.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::high_pass::HighPass;
use super::{
    CONTENT_RATE, CONTEXT, MAX_TRANSPOSE, REALTIME_LATENCY_SAMPLES, RvcConverter, RvcError,
    RvcSettings, STEP, WINDOW,
};
use crate::audio::Resampler;
use crate::realtime::StreamProcessor;

/// One channel of an RVC conversion, fed in blocks of any size. Runs on the calling thread
/// (a worker): it allocates.
#[derive(Debug)]
pub struct RvcChannel {
    /// The input's rate to 16 kHz.
    to_content: Resampler,
    /// RVC's 48 Hz high-pass on the 16 kHz stream.
    high_pass: HighPass,
    /// The synthesizer's rate back to the input's.
    to_input: Resampler,
    /// The first 16 kHz samples, until there are enough to reflect before the start.
    head: Vec<f32>,
    /// The padded 16 kHz stream from the next window's start.
    padded: Vec<f32>,
    /// The next window's index.
    next: usize,
    /// The last window's cross-fade tail at the synthesizer's rate, not final yet.
    tail: Vec<f32>,
    /// Converted samples at the input's rate, not taken yet.
    converted: VecDeque<f32>,
    /// Scratch for the resamplers' output.
    scratch: Vec<Vec<f32>>,
}

impl RvcChannel {
    /// A channel converting input at `sample_rate` Hz with `converter`'s pack.
    pub fn new(converter: &RvcConverter, sample_rate: u32) -> Result<Self, RvcError> {
        Ok(Self {
            to_content: Resampler::new(sample_rate, CONTENT_RATE, 1)?,
            high_pass: HighPass::new(CONTENT_RATE),
            to_input: Resampler::new(converter.sample_rate(), sample_rate, 1)?,
            head: Vec::with_capacity(CONTEXT + 1),
            padded: Vec::with_capacity(2 * WINDOW),
            next: 0,
            tail: Vec::new(),
            converted: VecDeque::new(),
            scratch: vec![Vec::new()],
        })
    }

    /// The frames of input at `sample_rate` after which the converted frame of a given input
    /// time is sure to be there (with windows run as soon as they are ready): the window's
    /// [`REALTIME_LATENCY_SAMPLES`] and each resampler's delay bound, rounded up.
    pub fn latency_frames(converter: &RvcConverter, sample_rate: u32) -> Result<usize, RvcError> {
        let rate = u64::from(sample_rate);
        let to_content = Resampler::new(sample_rate, CONTENT_RATE, 1)?.emission_delay_bound();
        let to_input =
            Resampler::new(converter.sample_rate(), sample_rate, 1)?.emission_delay_bound() as u64;
        let window = (REALTIME_LATENCY_SAMPLES as u64 * rate).div_ceil(u64::from(CONTENT_RATE));
        let back = (to_input * rate).div_ceil(u64::from(converter.sample_rate()));
        // One frame each for the rounding of the two rate changes.
        Ok(to_content + window as usize + back as usize + 2)
    }

    /// Forgets the stream: the next sample is a new start.
    pub fn reset(&mut self) {
        self.to_content.reset();
        self.high_pass.reset();
        self.to_input.reset();
        self.head.clear();
        self.padded.clear();
        self.next = 0;
        self.tail.clear();
        self.converted.clear();
    }

    /// Feeds `input` (at the rate the channel was made for).
    pub fn push(&mut self, input: &[f32]) -> Result<(), RvcError> {
        self.scratch[0].clear();
        self.to_content.process(&[input], &mut self.scratch)?;
        self.high_pass.process(&mut self.scratch[0]);
        let samples = &self.scratch[0];
        if self.head.len() > CONTEXT {
            self.padded.extend_from_slice(samples);
            return Ok(());
        }
        self.head.extend_from_slice(samples);
        if self.head.len() > CONTEXT {
            self.padded.extend(reflected_start(&self.head));
            self.padded.extend_from_slice(&self.head);
        }
        Ok(())
    }

    /// Whether the next window's samples are all in.
    pub fn window_ready(&self) -> bool {
        self.padded.len() >= WINDOW
    }

    /// Converts the next window (call only when [`window_ready`](Self::window_ready)) and adds
    /// the samples it makes final to the converted stream.
    pub fn run_window(
        &mut self,
        converter: &RvcConverter,
        settings: &RvcSettings,
    ) -> Result<(), RvcError> {
        let done =
            converter.join_window(&self.padded[..WINDOW], settings, self.next, &mut self.tail)?;
        self.padded.drain(..STEP);
        self.next += 1;
        self.scratch[0].clear();
        self.to_input.process(&[done], &mut self.scratch)?;
        self.converted.extend(&self.scratch[0]);
        Ok(())
    }

    /// Converted frames not taken yet.
    pub fn converted(&self) -> usize {
        self.converted.len()
    }

    /// Takes the next `frames` converted frames (fewer if there are not as many).
    pub fn take_converted(&mut self, frames: usize) -> Vec<f32> {
        let frames = frames.min(self.converted.len());
        self.converted.drain(..frames).collect()
    }

    /// The next converted frame, if there is one.
    fn pop(&mut self) -> Option<f32> {
        self.converted.pop_front()
    }
}

/// The [`CONTEXT`] samples before the start of a stream beginning with `head` (at least
/// `CONTEXT + 1` samples): its reflection as numpy's `reflect` makes it (the first sample is
/// not repeated).
fn reflected_start(head: &[f32]) -> impl Iterator<Item = f32> + '_ {
    head[1..=CONTEXT].iter().rev().copied()
}

/// What an [`RvcStream`] shares with the plugin: the transpose it follows and how it is doing.
#[derive(Debug, Default)]
pub struct RvcStreamShared {
    /// The transpose in semitones, as `f32` bits, read at each window.
    transpose_bits: AtomicU32,
    /// Windows converted since the stream began (all channels).
    windows: AtomicU64,
    /// The first error a window ran into; the stream passes its input (delayed) from then on.
    error: Mutex<Option<String>>,
}

impl RvcStreamShared {
    /// Sets the transpose in semitones (clamped to ±[`MAX_TRANSPOSE`]; NaN is 0) for the
    /// windows from the next one.
    pub fn set_transpose(&self, semitones: f32) {
        let semitones = if semitones.is_nan() {
            0.0
        } else {
            semitones.clamp(-MAX_TRANSPOSE, MAX_TRANSPOSE)
        };
        self.transpose_bits
            .store(semitones.to_bits(), Ordering::Relaxed);
    }

    /// The transpose in semitones.
    pub fn transpose(&self) -> f32 {
        f32::from_bits(self.transpose_bits.load(Ordering::Relaxed))
    }

    /// Windows converted since the stream began, over all channels.
    pub fn windows(&self) -> u64 {
        self.windows.load(Ordering::Relaxed)
    }

    /// The error that stopped the conversion, if one did.
    pub fn error(&self) -> Option<String> {
        self.error.lock().ok()?.clone()
    }
}

/// The realtime bridge's processor for an RVC pack: one [`RvcChannel`] per channel, each
/// window run as soon as its input is in, the output the converted stream delayed by exactly
/// [`latency_frames`](StreamProcessor::latency_frames). Works in chunks of half a second
/// (one [`STEP`]), so each chunk runs about one window per channel. If a window fails, the
/// error goes to [`RvcStreamShared::error`] and the output is the input, delayed as much.
pub struct RvcStream {
    converter: Arc<RvcConverter>,
    channels: Vec<RvcChannel>,
    /// The input of each channel, kept for the latency, the output after a failure.
    dry: Vec<VecDeque<f32>>,
    settings: RvcSettings,
    shared: Arc<RvcStreamShared>,
    chunk: usize,
    latency: usize,
    /// Output frames written since the (re)start.
    position: u64,
    /// Converted frames that were not there when due (never, while the latency holds).
    missing: u64,
    failed: bool,
}

impl std::fmt::Debug for RvcStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RvcStream")
            .field("converter", &self.converter)
            .field("channels", &self.channels.len())
            .field("latency", &self.latency)
            .finish_non_exhaustive()
    }
}

impl RvcStream {
    /// A processor for `channels` channels at `sample_rate` Hz (8 kHz or more) converting with
    /// `converter`, following `shared`'s transpose.
    pub fn new(
        converter: Arc<RvcConverter>,
        channels: usize,
        sample_rate: u32,
        shared: Arc<RvcStreamShared>,
    ) -> Result<Self, RvcError> {
        if channels == 0 || sample_rate < 8_000 {
            return Err(RvcError::Unsupported(format!(
                "cannot stream {channels} channels at {sample_rate} Hz"
            )));
        }
        let latency = RvcChannel::latency_frames(&converter, sample_rate)?;
        let chunk = (STEP as u64 * u64::from(sample_rate)).div_ceil(u64::from(CONTENT_RATE));
        Ok(Self {
            channels: (0..channels)
                .map(|_| RvcChannel::new(&converter, sample_rate))
                .collect::<Result<_, _>>()?,
            dry: vec![VecDeque::with_capacity(latency + chunk as usize); channels],
            converter,
            settings: RvcSettings::default(),
            shared,
            chunk: chunk as usize,
            latency,
            position: 0,
            missing: 0,
            failed: false,
        })
    }

    /// Converted frames that were due before they were there: 0 unless the latency bound is
    /// wrong (the output has silence there).
    pub fn missing_frames(&self) -> u64 {
        self.missing
    }

    /// Feeds one chunk to every channel and runs the windows it completes.
    fn convert(&mut self, input: &[&[f32]]) -> Result<(), RvcError> {
        self.settings.transpose = self.shared.transpose();
        for (channel, samples) in self.channels.iter_mut().zip(input) {
            channel.push(samples)?;
            while channel.window_ready() {
                channel.run_window(&self.converter, &self.settings)?;
                self.shared.windows.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}

impl StreamProcessor for RvcStream {
    fn chunk_frames(&self) -> usize {
        self.chunk
    }

    fn latency_frames(&self) -> usize {
        self.latency
    }

    fn reset(&mut self) {
        for channel in &mut self.channels {
            channel.reset();
        }
        for dry in &mut self.dry {
            dry.clear();
        }
        self.position = 0;
    }

    fn process_chunk(&mut self, input: &[&[f32]], output: &mut [&mut [f32]]) {
        for (dry, samples) in self.dry.iter_mut().zip(input) {
            dry.extend(samples.iter());
        }
        if !self.failed
            && let Err(error) = self.convert(input)
        {
            self.failed = true;
            if let Ok(mut slot) = self.shared.error.lock() {
                *slot = Some(error.to_string());
            }
        }
        let frames = input.first().map_or(0, |c| c.len());
        for (c, out) in output.iter_mut().enumerate() {
            let (channel, dry) = (&mut self.channels[c], &mut self.dry[c]);
            for (i, sample) in out.iter_mut().take(frames).enumerate() {
                let position = self.position + i as u64;
                if position < self.latency as u64 {
                    *sample = 0.0;
                    continue;
                }
                let delayed = dry.pop_front().unwrap_or(0.0);
                *sample = if self.failed {
                    delayed
                } else if let Some(converted) = channel.pop() {
                    converted
                } else {
                    self.missing += 1;
                    0.0
                };
            }
        }
        self.position += frames as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_is_reflected_without_repeating_the_first_sample() {
        let head: Vec<f32> = (1..=CONTEXT + 5).map(|i| i as f32).collect();
        let before: Vec<f32> = reflected_start(&head).collect();
        assert_eq!(before.len(), CONTEXT);
        assert_eq!(before[CONTEXT - 1], 2.0);
        assert_eq!(before[CONTEXT - 2], 3.0);
        assert_eq!(before[0], (CONTEXT + 1) as f32);
    }
}
