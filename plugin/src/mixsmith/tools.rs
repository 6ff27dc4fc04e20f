//! The plugin's tool slot: the processor the bridge's worker runs, switching between tools
//! without re-activating the plugin.
//!
//! The slot reserves the latency of the heaviest tool (mastering's linear-phase FIR plus the
//! limiter's look-ahead) for the whole activation, so switching the mode or installing a newly
//! learned match never changes the latency the host compensates. Tools built off the audio
//! thread (a new [`Mastering`] after "Learn" or a settings change) arrive through a channel and
//! are swapped in, and the old one dropped, on the worker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, Sender};
use mixsmith_core::master::{Mastering, TruePeakLimiter, fir_latency};
use mixsmith_core::realtime::StreamProcessor;

use crate::mixsmith::params::Mode;

/// Frames per chunk on the bridge: the mastering convolver's partition size.
pub const TOOL_CHUNK_FRAMES: usize = mixsmith_core::master::DEFAULT_CHUNK_FRAMES;

/// The longest capture kept, in seconds: a mix longer than this is learned (or transcribed) from
/// its first ten minutes.
pub const MAX_CAPTURE_SECONDS: f32 = 600.0;

/// The latency the slot reserves at `sample_rate`: what [`Mastering`] adds there.
pub fn reserved_latency(sample_rate: u32) -> usize {
    let limiter = TruePeakLimiter::new(1, sample_rate, -1.0, 200.0, false);
    fir_latency(sample_rate) + limiter.latency()
}

/// Audio captured from the plugin's input (for the Master tab's "Learn" or the Analyze tab's
/// "Export MIDI"), shared by the worker and the editor.
#[derive(Debug, Default)]
pub struct Capture {
    /// True while the worker appends the input to `audio`.
    armed: AtomicBool,
    /// The captured audio, one buffer per channel. Locked by the worker (never the audio thread)
    /// and by the editor.
    audio: Mutex<Vec<Vec<f32>>>,
}

impl Capture {
    /// Starts a new capture, dropping any earlier one.
    pub fn start(&self) {
        if let Ok(mut audio) = self.audio.lock() {
            audio.clear();
        }
        self.armed.store(true, Ordering::Release);
    }

    /// Whether a capture is running.
    pub fn is_running(&self) -> bool {
        self.armed.load(Ordering::Acquire)
    }

    /// Stops the capture and takes what was recorded.
    pub fn finish(&self) -> Vec<Vec<f32>> {
        self.armed.store(false, Ordering::Release);
        self.audio
            .lock()
            .map(|mut audio| std::mem::take(&mut *audio))
            .unwrap_or_default()
    }

    /// Seconds captured so far at `sample_rate`.
    pub fn seconds(&self, sample_rate: f32) -> f32 {
        self.audio
            .lock()
            .map(|audio| audio.first().map_or(0, Vec::len) as f32 / sample_rate.max(1.0))
            .unwrap_or(0.0)
    }

    fn record(&self, input: &[&[f32]], sample_rate: f32) {
        if !self.is_running() {
            return;
        }
        let Ok(mut audio) = self.audio.lock() else {
            return;
        };
        if audio.len() != input.len() {
            *audio = vec![Vec::new(); input.len()];
        }
        let limit = (MAX_CAPTURE_SECONDS * sample_rate) as usize;
        for (buffer, channel) in audio.iter_mut().zip(input) {
            let room = limit.saturating_sub(buffer.len());
            buffer.extend_from_slice(&channel[..channel.len().min(room)]);
        }
    }
}

/// The captures the tool slot fills on the bridge's worker, each armed by its own tab.
#[derive(Debug, Clone, Default)]
pub struct Captures {
    /// For the Master tab's "Learn from playback".
    pub learn: Arc<Capture>,
    /// For the Analyze tab's "Export MIDI" of captured playback.
    pub midi: Arc<Capture>,
}

/// The processor the bridge runs: the active tool, the captures, and the input history that delays the pass-through to the same latency and primes newly installed matches.
pub struct ToolSlot {
    /// Reads the active mode (the plugin's `mode` parameter: an atomic, never a lock).
    mode: Box<dyn Fn() -> Mode + Send>,
    /// The current match, if one was learned. It runs in every mode so switching is seamless.
    master: Option<Mastering>,
    /// New matches built off the audio thread.
    incoming: Receiver<Option<Mastering>>,
    /// The most recent input, one ring per channel, a whole number of chunks long.
    history: Vec<Vec<f32>>,
    /// Where the next chunk goes in `history` (a multiple of the chunk size).
    history_pos: usize,
    /// The reserved latency.
    latency: usize,
    /// Captures of the input.
    captures: Captures,
    /// Sample rate, for the capture limit.
    sample_rate: f32,
}

impl ToolSlot {
    /// A slot for `channels` at `sample_rate`, with `master` as the initial match. Returns the
    /// sender through which later matches are installed.
    pub fn new(
        mode: impl Fn() -> Mode + Send + 'static,
        master: Option<Mastering>,
        channels: usize,
        sample_rate: u32,
        captures: Captures,
    ) -> (Self, Sender<Option<Mastering>>) {
        let (sender, incoming) = crossbeam_channel::unbounded();
        let latency = reserved_latency(sample_rate);
        // Room for the pass-through delay plus enough past input to prime a new match's filters.
        let history_len =
            (2 * latency + TOOL_CHUNK_FRAMES).div_ceil(TOOL_CHUNK_FRAMES) * TOOL_CHUNK_FRAMES;
        let slot = Self {
            mode: Box::new(mode),
            master,
            incoming,
            history: vec![vec![0.0; history_len]; channels],
            history_pos: 0,
            latency,
            captures,
            sample_rate: sample_rate as f32,
        };
        (slot, sender)
    }

    /// Feeds a newly installed match the recent input, oldest first, so its filters and
    /// limiter are in the state they would have had, and its next output joins without a gap.
    fn prime(&self, master: &mut Mastering) {
        let channels = self.history.len();
        let len = self.history[0].len();
        let mut scratch = vec![vec![0.0_f32; TOOL_CHUNK_FRAMES]; channels];
        for chunk_start in (0..len).step_by(TOOL_CHUNK_FRAMES) {
            let start = (self.history_pos + chunk_start) % len;
            let input: Vec<&[f32]> = self
                .history
                .iter()
                .map(|ring| &ring[start..start + TOOL_CHUNK_FRAMES])
                .collect();
            let mut output: Vec<&mut [f32]> = scratch.iter_mut().map(Vec::as_mut_slice).collect();
            master.process_chunk(&input, &mut output);
        }
    }

    fn remember(&mut self, input: &[&[f32]]) {
        for (ring, channel) in self.history.iter_mut().zip(input) {
            ring[self.history_pos..self.history_pos + channel.len()].copy_from_slice(channel);
        }
    }

    /// Writes the input of this chunk delayed by the reserved latency.
    fn delayed(&self, output: &mut [&mut [f32]]) {
        let len = self.history[0].len();
        let read_start = self.history_pos + len - self.latency;
        for (ring, out) in self.history.iter().zip(output.iter_mut()) {
            for (offset, sample) in out.iter_mut().enumerate() {
                *sample = ring[(read_start + offset) % len];
            }
        }
    }
}

impl StreamProcessor for ToolSlot {
    fn chunk_frames(&self) -> usize {
        TOOL_CHUNK_FRAMES
    }

    fn latency_frames(&self) -> usize {
        self.latency
    }

    fn reset(&mut self) {
        if let Some(master) = &mut self.master {
            master.reset();
        }
        self.history.iter_mut().for_each(|ring| ring.fill(0.0));
    }

    fn process_chunk(&mut self, input: &[&[f32]], output: &mut [&mut [f32]]) {
        while let Ok(mut next) = self.incoming.try_recv() {
            if let Some(master) = &mut next {
                self.prime(master);
            }
            self.master = next;
        }
        self.captures.learn.record(input, self.sample_rate);
        self.captures.midi.record(input, self.sample_rate);
        self.remember(input);
        match &mut self.master {
            Some(master) => {
                master.process_chunk(input, output);
                if (self.mode)() != Mode::Master {
                    self.delayed(output);
                }
            }
            None => self.delayed(output),
        }
        let len = self.history[0].len();
        self.history_pos = (self.history_pos + TOOL_CHUNK_FRAMES) % len;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use mixsmith_core::master::{
        BufferSource, MatchProfile, MatchSettings, learn, render, render_chunk_frames,
    };
    use mixsmith_core::realtime::{Bridge, BridgeConfig, EngineStats, RenderMode};

    use super::*;

    const RATE: u32 = 48_000;

    /// Deterministic noise, brighter on the right channel.
    fn noise(frames: usize, seed: u32, tilt: f32) -> Vec<Vec<f32>> {
        let mut state = seed;
        let mut next = move || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1 << 24) as f32 - 0.5
        };
        let mut previous = 0.0_f32;
        let mut left = Vec::with_capacity(frames);
        let mut right = Vec::with_capacity(frames);
        for _ in 0..frames {
            let white = next();
            previous = 0.9 * previous + 0.1 * white;
            left.push(0.6 * previous + 0.05 * white);
            right.push(0.5 * previous + tilt * white);
        }
        vec![left, right]
    }

    /// A match learned from 8 s of noise (also a stored session's profile in session tests).
    pub(crate) fn learned() -> (MatchProfile, MatchSettings) {
        let settings = MatchSettings::default();
        let target = noise(8 * RATE as usize, 1, 0.02);
        let reference = noise(8 * RATE as usize, 2, 0.3);
        let profile = learn(
            &mut BufferSource::new("target", RATE, &target),
            &mut BufferSource::new("reference", RATE, &reference),
            &settings,
            &mut |_| {},
        )
        .unwrap();
        (profile, settings)
    }

    /// Runs `audio` through a slot on a real bridge in offline mode, the way the
    /// plugin does, and returns the output aligned with the input.
    fn render_through_bridge(slot: ToolSlot, audio: &[Vec<f32>], block: usize) -> Vec<Vec<f32>> {
        let config = BridgeConfig {
            channels: 2,
            output_channels: 2,
            sample_rate: RATE as f32,
            max_block_frames: block,
        };
        let mut bridge = Bridge::start(slot, config, Arc::new(EngineStats::default())).unwrap();
        let latency = bridge.latency_frames();
        let mut left = audio[0].clone();
        let mut right = audio[1].clone();
        left.resize(audio[0].len() + latency, 0.0);
        right.resize(audio[0].len() + latency, 0.0);
        for (l, r) in left.chunks_mut(block).zip(right.chunks_mut(block)) {
            bridge.audio().process(&mut [l, r], RenderMode::Offline);
        }
        vec![left[latency..].to_vec(), right[latency..].to_vec()]
    }

    #[test]
    fn offline_render_equals_the_cli_render() {
        let (profile, settings) = learned();
        let target = noise(5 * RATE as usize, 1, 0.02);

        let mut cli = [Vec::new(), Vec::new()];
        render(
            &profile,
            &settings,
            &mut BufferSource::new("target", RATE, &target),
            render_chunk_frames(RATE),
            &mut |block: &[Vec<f32>]| {
                for (out, channel) in cli.iter_mut().zip(block) {
                    out.extend_from_slice(channel);
                }
                Ok(())
            },
            &mut |_| {},
        )
        .unwrap();

        let master = Mastering::new(&profile, &settings, RATE, 2, TOOL_CHUNK_FRAMES).unwrap();
        let (slot, _installer) =
            ToolSlot::new(|| Mode::Master, Some(master), 2, RATE, Captures::default());
        let plugin = render_through_bridge(slot, &target, 333);

        let mut peak_error = 0.0_f32;
        let mut peak = 0.0_f32;
        for (a, b) in plugin.iter().flatten().zip(cli.iter().flatten()) {
            peak_error = peak_error.max((a - b).abs());
            peak = peak.max(b.abs());
        }
        let error_db = 20.0 * (peak_error / peak).log10();
        assert!(peak > 0.1, "the render is not silent");
        assert!(error_db < -90.0, "plugin vs CLI differ by {error_db:.1} dB");
    }

    #[test]
    fn monitor_mode_is_the_input_delayed_by_the_reserved_latency() {
        let (profile, settings) = learned();
        let master = Mastering::new(&profile, &settings, RATE, 2, TOOL_CHUNK_FRAMES).unwrap();
        let input = noise(RATE as usize, 3, 0.1);
        let (slot, _) = ToolSlot::new(|| Mode::Monitor, Some(master), 2, RATE, Captures::default());
        assert_eq!(render_through_bridge(slot, &input, 512), input);
        let (slot, _) = ToolSlot::new(|| Mode::Master, None, 2, RATE, Captures::default());
        assert_eq!(
            render_through_bridge(slot, &input, 64),
            input,
            "Master mode without a match passes through"
        );
    }

    #[test]
    fn a_match_installed_while_running_joins_without_a_gap() {
        let (profile, settings) = learned();
        let input = noise(4 * RATE as usize, 4, 0.1);
        // The reference: a slot that had the match from the start.
        let master = Mastering::new(&profile, &settings, RATE, 2, TOOL_CHUNK_FRAMES).unwrap();
        let (slot, _) = ToolSlot::new(|| Mode::Master, Some(master), 2, RATE, Captures::default());
        let expected = {
            let mut slot = slot;
            run_chunks(&mut slot, &input, |_, _| {})
        };
        // The same match installed after one second, primed from the slot's history.
        let (mut slot, installer) =
            ToolSlot::new(|| Mode::Master, None, 2, RATE, Captures::default());
        let switch_chunk = RATE as usize / TOOL_CHUNK_FRAMES;
        let got = run_chunks(&mut slot, &input, |index, _| {
            if index == switch_chunk {
                let master =
                    Mastering::new(&profile, &settings, RATE, 2, TOOL_CHUNK_FRAMES).unwrap();
                installer.send(Some(master)).unwrap();
            }
        });
        // Two seconds after the switch the outputs must agree closely: priming replayed the
        // history, so the new match does not start from silence.
        let check_from = (switch_chunk + 1) * TOOL_CHUNK_FRAMES;
        let max_error = got[0][check_from..]
            .iter()
            .zip(&expected[0][check_from..])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0_f32, f32::max);
        assert!(max_error < 1e-3, "after the switch: {max_error}");
    }

    fn run_chunks(
        slot: &mut ToolSlot,
        input: &[Vec<f32>],
        mut before: impl FnMut(usize, &mut ToolSlot),
    ) -> Vec<Vec<f32>> {
        let mut output = vec![Vec::new(), Vec::new()];
        let mut left = vec![0.0; TOOL_CHUNK_FRAMES];
        let mut right = vec![0.0; TOOL_CHUNK_FRAMES];
        for (index, start) in (0..input[0].len() - TOOL_CHUNK_FRAMES)
            .step_by(TOOL_CHUNK_FRAMES)
            .enumerate()
        {
            before(index, slot);
            let end = start + TOOL_CHUNK_FRAMES;
            slot.process_chunk(
                &[&input[0][start..end], &input[1][start..end]],
                &mut [&mut left, &mut right],
            );
            output[0].extend_from_slice(&left);
            output[1].extend_from_slice(&right);
        }
        output
    }

    #[test]
    fn capture_records_the_input_until_finished() {
        let captures = Captures::default();
        let (mut slot, _) = ToolSlot::new(|| Mode::Monitor, None, 2, RATE, captures.clone());
        let input = noise(8 * TOOL_CHUNK_FRAMES, 5, 0.1);
        run_chunks(&mut slot, &input, |_, _| {});
        for capture in [&captures.learn, &captures.midi] {
            assert!(capture.finish().iter().all(Vec::is_empty), "not armed yet");
        }
        // Each capture records only while its own tab has armed it.
        captures.midi.start();
        let recorded = run_chunks(&mut slot, &input, |_, _| {});
        assert_eq!(recorded[0].len(), 7 * TOOL_CHUNK_FRAMES);
        assert!(captures.learn.finish().iter().all(Vec::is_empty));
        captures.learn.start();
        run_chunks(&mut slot, &input, |_, _| {});
        let learned = captures.learn.finish();
        assert_eq!(learned[0], input[0][..7 * TOOL_CHUNK_FRAMES]);
        let midi = captures.midi.finish();
        assert_eq!(midi[1].len(), 14 * TOOL_CHUNK_FRAMES);
        assert_eq!(
            midi[1][..7 * TOOL_CHUNK_FRAMES],
            input[1][..7 * TOOL_CHUNK_FRAMES]
        );
        assert!(!captures.learn.is_running() && !captures.midi.is_running());
    }
}
