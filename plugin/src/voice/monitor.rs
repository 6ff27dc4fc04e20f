//! Mixsmith Voice's monitor thread: follows the pitch of the voice going in and coming out for
//! the editor's plot, and learns a voice profile ("Learn voice") from what the host plays or
//! from a picked file, publishing it to the audio thread and to the saved state.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use mixsmith_core::audio::read_file;
use mixsmith_core::realtime::EngineStats;
use mixsmith_core::voice::rvc::RvcStreamShared;
use mixsmith_core::voice::{PitchConfig, PitchFrame, PitchTracker, ProfileBuilder, VoiceProfile};
use nice_plug::prelude::AtomicF32;

use super::engine::EngineLinks;
use super::params::VoiceParams;

/// Seconds of pitch history the plot shows.
pub const HISTORY_SECONDS: f64 = 10.0;
/// The longest capture "Learn voice" keeps, in seconds (ten minutes, as the CLI accepts).
pub const MAX_CAPTURE_SECONDS: f32 = 600.0;
/// How long the monitor waits for audio or a command before looking again.
const POLL: Duration = Duration::from_millis(20);
/// The most audio the monitor reads and tracks between two looks at its stop flag, seconds.
const DRAIN_SECONDS: f32 = 0.05;

/// One point of the pitch plot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PitchPoint {
    /// Seconds since the monitor started.
    pub time: f64,
    /// The input's F0 in Hz, 0 when unvoiced.
    pub input_hz: f32,
    /// The output's F0 in Hz, 0 when unvoiced.
    pub output_hz: f32,
}

/// What the monitor, the editor and the plugin share.
#[derive(Debug, Default)]
pub struct VoiceShared {
    /// The latency reported to the host, in frames.
    pub latency_frames: AtomicU32,
    /// The last [`HISTORY_SECONDS`] of pitch points, oldest first.
    pub history: Mutex<VecDeque<PitchPoint>>,
    /// Capturing the host's input for "Learn voice".
    pub capturing: AtomicBool,
    /// Seconds captured so far.
    pub captured_seconds: AtomicF32,
    /// A profile is being learned.
    pub busy: AtomicBool,
    /// The learning's progress, 0 to 1.
    pub progress: AtomicF32,
    /// The last thing to tell the user (learned, failed, loaded, ...).
    pub status: Mutex<String>,
    /// What converts: the RVC pack in use and its latency, or why the pack named in the state
    /// could not be used (the DSP converter runs then).
    pub pack_status: Mutex<String>,
    /// The pack's worker: its windows and any error; `None` with the DSP converter.
    pub rvc: Mutex<Option<Arc<RvcStreamShared>>>,
    /// The bridge's counters with a pack: underruns (blocks that were the delayed dry signal
    /// because the worker was late, realtime only) and the worker's load.
    pub stats: Arc<EngineStats>,
}

impl VoiceShared {
    /// Sets the status line.
    pub fn set_status(&self, status: impl Into<String>) {
        if let Ok(mut line) = self.status.lock() {
            *line = status.into();
        }
    }

    /// The status line.
    pub fn status(&self) -> String {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Sets the pack's line.
    pub fn set_pack_status(&self, status: impl Into<String>) {
        if let Ok(mut line) = self.pack_status.lock() {
            *line = status.into();
        }
    }

    /// The pack's line.
    pub fn pack_status(&self) -> String {
        self.pack_status
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }
}

/// What the editor asks of the monitor thread.
#[derive(Debug, Clone)]
pub enum VoiceCommand {
    /// Start capturing the host's input (forgetting an earlier capture).
    StartCapture,
    /// Stop capturing and learn a profile from what was captured.
    LearnCaptured,
    /// Learn a profile from an audio file.
    LearnFile(PathBuf),
    /// Use this profile (loaded by the editor from a file), `source` naming where it came from.
    Use(Box<VoiceProfile>, String),
    /// Go back to no profile (the voice passes unchanged).
    Clear,
}

/// The running monitor thread; stopped and joined on drop.
pub struct Monitor {
    commands: Sender<VoiceCommand>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Monitor {
    /// Starts the monitor for audio at `sample_rate` Hz on the engine's `links`.
    pub fn start(
        sample_rate: f32,
        links: EngineLinks,
        params: Arc<VoiceParams>,
        shared: Arc<VoiceShared>,
    ) -> std::io::Result<Self> {
        let (commands, receiver) = crossbeam_channel::unbounded();
        let stop = Arc::new(AtomicBool::new(false));
        let mut state = MonitorState::new(sample_rate, links, params, shared, stop.clone());
        let thread = thread::Builder::new()
            .name("mixsmith-voice-monitor".into())
            .spawn(move || state.run(&receiver))?;
        Ok(Self {
            commands,
            stop,
            thread: Some(thread),
        })
    }

    /// The monitor's command queue.
    pub fn commands(&self) -> Sender<VoiceCommand> {
        self.commands.clone()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The monitor thread's own state.
struct MonitorState {
    sample_rate: f32,
    links: EngineLinks,
    params: Arc<VoiceParams>,
    shared: Arc<VoiceShared>,
    stop: Arc<AtomicBool>,
    input_tracker: PitchTracker,
    output_tracker: PitchTracker,
    /// Input F0 frames waiting for the output frame of the same time.
    pending_input: VecDeque<PitchFrame>,
    /// The captured input for "Learn voice".
    capture: Vec<f32>,
    /// The monitor's scratch for one chunk of mono input and output.
    input: Vec<f32>,
    output: Vec<f32>,
}

impl MonitorState {
    fn new(
        sample_rate: f32,
        links: EngineLinks,
        params: Arc<VoiceParams>,
        shared: Arc<VoiceShared>,
        stop: Arc<AtomicBool>,
    ) -> Self {
        Self {
            sample_rate,
            links,
            params,
            shared,
            stop,
            input_tracker: PitchTracker::new(sample_rate, PitchConfig::default()),
            output_tracker: PitchTracker::new(sample_rate, PitchConfig::default()),
            pending_input: VecDeque::new(),
            capture: Vec::new(),
            input: Vec::new(),
            output: Vec::new(),
        }
    }

    fn run(&mut self, commands: &Receiver<VoiceCommand>) {
        while !self.stop.load(Ordering::Relaxed) {
            self.links.profile.collect_retired();
            self.drain_audio();
            match commands.recv_timeout(POLL) {
                Ok(command) => self.handle(command),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
    }

    /// Reads what the audio thread sent, a bounded chunk at a time until the ring is empty or
    /// the monitor is asked to stop (so deactivating never waits for a long backlog).
    fn drain_audio(&mut self) {
        let most = 2 * ((DRAIN_SECONDS * self.sample_rate) as usize).max(1);
        while !self.stop.load(Ordering::Relaxed) {
            let available = self.links.monitor.slots().min(most) / 2 * 2;
            if available == 0 {
                return;
            }
            self.drain_chunk(available);
        }
    }

    /// Reads `len` interleaved samples: tracks both pitches and captures the input.
    fn drain_chunk(&mut self, len: usize) {
        let Ok(chunk) = self.links.monitor.read_chunk(len) else {
            return;
        };
        self.input.clear();
        self.output.clear();
        let (first, second) = chunk.as_slices();
        for pair in first.chunks_exact(2).chain(second.chunks_exact(2)) {
            self.input.push(pair[0]);
            self.output.push(pair[1]);
        }
        chunk.commit_all();
        if self.shared.capturing.load(Ordering::Relaxed) {
            let room = (MAX_CAPTURE_SECONDS * self.sample_rate) as usize - self.capture.len();
            let take = room.min(self.input.len());
            self.capture.extend_from_slice(&self.input[..take]);
            self.shared.captured_seconds.store(
                self.capture.len() as f32 / self.sample_rate,
                Ordering::Relaxed,
            );
        }
        let pending = &mut self.pending_input;
        self.input_tracker
            .process(&self.input, &mut |frame| pending.push_back(frame));
        let mut points = Vec::new();
        self.output_tracker.process(&self.output, &mut |frame| {
            if let Some(input) = pending.pop_front() {
                points.push(PitchPoint {
                    time: frame.time,
                    input_hz: input.f0_hz,
                    output_hz: frame.f0_hz,
                });
            }
        });
        if let Ok(mut history) = self.shared.history.lock() {
            history.extend(points);
            let newest = history.back().map_or(0.0, |p| p.time);
            while history
                .front()
                .is_some_and(|p| p.time < newest - HISTORY_SECONDS)
            {
                history.pop_front();
            }
        }
    }

    fn handle(&mut self, command: VoiceCommand) {
        match command {
            VoiceCommand::StartCapture => {
                self.capture.clear();
                self.shared.captured_seconds.store(0.0, Ordering::Relaxed);
                self.shared.capturing.store(true, Ordering::Relaxed);
                self.shared
                    .set_status("Capturing: play the voice to learn, then press Learn.");
            }
            VoiceCommand::LearnCaptured => {
                self.shared.capturing.store(false, Ordering::Relaxed);
                let rate = self.sample_rate;
                let samples = std::mem::take(&mut self.capture);
                let seconds = samples.len() as f32 / self.sample_rate;
                let source = format!("the host's playback ({seconds:.1} s)");
                self.learn(source, |builder, progress| {
                    builder
                        .add_clip(&samples, rate, progress)
                        .map_err(|e| e.to_string())
                });
            }
            VoiceCommand::LearnFile(path) => {
                let source = path.display().to_string();
                self.learn(source, |builder, progress| {
                    let audio = read_file(&path)
                        .map_err(|e| format!("Cannot read {}: {e}", path.display()))?;
                    let mono = mono_mix(audio.channels());
                    builder
                        .add_clip(&mono, audio.sample_rate() as f32, progress)
                        .map_err(|e| e.to_string())
                });
            }
            VoiceCommand::Use(profile, source) => self.publish(*profile, source),
            VoiceCommand::Clear => {
                if self.links.profile.publish(None).is_ok() {
                    set_persisted(&self.params, String::new(), String::new());
                    self.shared
                        .set_status("No profile: the voice passes unchanged.");
                }
            }
        }
    }

    /// Learns a profile with `add` on this thread (the pitch plot pauses meanwhile), with the
    /// progress shown, and publishes it.
    fn learn(
        &mut self,
        source: String,
        add: impl FnOnce(&mut ProfileBuilder, &mut dyn FnMut(f64)) -> Result<(), String>,
    ) {
        self.shared.busy.store(true, Ordering::Relaxed);
        self.shared.progress.store(0.0, Ordering::Relaxed);
        self.shared
            .set_status(format!("Learning the voice of {source}…"));
        let shared = self.shared.clone();
        let mut builder = ProfileBuilder::new();
        let result = add(&mut builder, &mut |p| {
            shared.progress.store(p as f32, Ordering::Relaxed);
        })
        .and_then(|()| builder.finish().map_err(|e| e.to_string()));
        self.shared.busy.store(false, Ordering::Relaxed);
        match result {
            Ok(profile) => self.publish(profile, source),
            Err(error) => self.shared.set_status(format!("Not learned: {error}")),
        }
        // What was played meanwhile is stale for the plot.
        self.pending_input.clear();
        self.input_tracker.reset();
        self.output_tracker.reset();
    }

    /// Hands `profile` to the audio thread and saves it in the plugin state.
    fn publish(&mut self, profile: VoiceProfile, source: String) {
        let json = profile.to_json();
        let summary = profile_summary(&profile);
        match self.links.profile.publish(Some(Arc::new(profile))) {
            Ok(()) => {
                set_persisted(&self.params, json, source.clone());
                self.shared
                    .set_status(format!("Voice of {source}: {summary}"));
            }
            Err(error) => self.shared.set_status(format!("Not applied: {error}")),
        }
    }
}

/// One line about a profile: its range, breathiness and how much voice it was learned from,
/// with its first warning.
pub fn profile_summary(profile: &VoiceProfile) -> String {
    let mut line = format!(
        "{:.0}–{:.0} Hz (median {:.0} Hz), HNR {:.1} dB, {:.1} s voiced",
        profile.pitch.p5_hz,
        profile.pitch.p95_hz,
        profile.pitch.median_hz,
        profile.hnr_db,
        profile.voiced_seconds
    );
    if let Some(warning) = profile.warnings.first() {
        line.push_str("; ");
        line.push_str(warning);
    }
    line
}

/// Saves the profile's JSON and source in the plugin state.
fn set_persisted(params: &VoiceParams, json: String, source: String) {
    if let Ok(mut saved) = params.profile.write() {
        *saved = json;
    }
    if let Ok(mut saved) = params.profile_source.write() {
        *saved = source;
    }
}

/// The average of `channels`.
fn mono_mix(channels: &[Vec<f32>]) -> Vec<f32> {
    let share = 1.0 / channels.len().max(1) as f32;
    let frames = channels.first().map_or(0, Vec::len);
    (0..frames)
        .map(|i| channels.iter().map(|c| c[i]).sum::<f32>() * share)
        .collect()
}
