//! Live loudness, tempo and key on the realtime bridge's worker, for the plugin's Analyze tab.
//!
//! [`MeteredProcessor`] wraps any [`StreamProcessor`]: it meters the chunk the worker receives
//! (the plugin's input) with a [`LoudnessMeter`] and a live [`MusicalAnalyzer`], and then runs
//! the wrapped tool. Every 100 ms of audio it publishes a [`LoudnessSnapshot`] through
//! [`LiveLoudness`], a lock-free cell the editor reads at its own pace; tempo and key are
//! re-estimated once a second.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;

use super::{Key, LoudnessMeter, MeterError, MusicalAnalyzer};
use crate::realtime::StreamProcessor;

/// How often, in seconds of audio, a snapshot is published and a history point recorded.
const PUBLISH_PERIOD_S: f64 = 0.1;
/// History points kept for the plot: two minutes at one point per 100 ms.
const HISTORY_CAPACITY: usize = 1200;
/// How often, in seconds of audio, tempo and key are estimated again.
const MUSICAL_PERIOD_S: f64 = 1.0;
/// The live tempo is that of this many of the last seconds.
const LIVE_TEMPO_WINDOW_S: f64 = 20.0;

/// The meter's readings at one moment. Loudness in LUFS (LU for the range), peaks in dBFS/dBTP;
/// `-inf` where undefined (silence, or too little audio yet).
#[derive(Debug, Clone, PartialEq)]
pub struct LoudnessSnapshot {
    /// Momentary loudness (400 ms).
    pub momentary: f64,
    /// Short-term loudness (3 s).
    pub short_term: f64,
    /// Integrated (gated) loudness since the last reset.
    pub integrated: f64,
    /// Loudness range since the last reset.
    pub loudness_range: f64,
    /// Highest inter-sample peak since the last reset.
    pub true_peak_dbtp: f64,
    /// Highest sample peak since the last reset.
    pub sample_peak_dbfs: f64,
    /// Short-term loudness every 100 ms, oldest first.
    pub history: Vec<f32>,
    /// Frames metered since the last reset.
    pub frames: u64,
    /// Tempo of the last 20 s in BPM, `None` without a steady beat.
    pub bpm: Option<f64>,
    /// Key of everything heard since the last reset, `None` without a tonal centre.
    pub key: Option<Key>,
}

impl Default for LoudnessSnapshot {
    fn default() -> Self {
        Self {
            momentary: f64::NEG_INFINITY,
            short_term: f64::NEG_INFINITY,
            integrated: f64::NEG_INFINITY,
            loudness_range: f64::NEG_INFINITY,
            true_peak_dbtp: f64::NEG_INFINITY,
            sample_peak_dbfs: f64::NEG_INFINITY,
            history: Vec::new(),
            frames: 0,
            bpm: None,
            key: None,
        }
    }
}

impl LoudnessSnapshot {
    fn read(meter: &LoudnessMeter, bpm: Option<f64>, key: Option<Key>) -> Self {
        Self {
            momentary: meter.momentary(),
            short_term: meter.short_term(),
            integrated: meter.integrated(),
            loudness_range: meter.loudness_range(),
            true_peak_dbtp: meter.true_peak_dbtp(),
            sample_peak_dbfs: meter.sample_peak_dbfs(),
            history: meter.history().collect(),
            frames: meter.frames(),
            bpm,
            key,
        }
    }
}

/// The meter's readings shared between the worker (writer) and the GUI (reader), lock-free.
#[derive(Debug, Default)]
pub struct LiveLoudness {
    /// The latest published readings.
    latest: ArcSwap<LoudnessSnapshot>,
    /// Set by the GUI's reset button, cleared by the worker when it has reset the meter.
    reset_requested: AtomicBool,
}

impl LiveLoudness {
    /// The latest readings.
    pub fn snapshot(&self) -> Arc<LoudnessSnapshot> {
        self.latest.load_full()
    }

    /// Asks the worker to start metering afresh at its next chunk.
    pub fn request_reset(&self) {
        self.reset_requested.store(true, Ordering::Release);
    }
}

/// A [`StreamProcessor`] that meters its input and then runs `inner` on it.
pub struct MeteredProcessor<P> {
    /// The tool that produces the output.
    inner: P,
    /// The meter, fed every chunk.
    meter: LoudnessMeter,
    /// Where readings are published.
    live: Arc<LiveLoudness>,
    /// Frames between two publications.
    publish_every: u64,
    /// Frames metered since the last publication.
    since_publish: u64,
    /// Tempo and key of the input.
    musical: MusicalAnalyzer,
    /// Frames between two tempo and key estimates.
    estimate_every: u64,
    /// Frames since the last tempo and key estimate.
    since_estimate: u64,
    /// The latest tempo estimate.
    bpm: Option<f64>,
    /// The latest key estimate.
    key: Option<Key>,
}

impl<P: StreamProcessor> MeteredProcessor<P> {
    /// Meters `channels` channels at `sample_rate` Hz in front of `inner`, publishing to `live`.
    pub fn new(
        inner: P,
        channels: usize,
        sample_rate: u32,
        live: Arc<LiveLoudness>,
    ) -> Result<Self, MeterError> {
        let mut meter = LoudnessMeter::new(channels, sample_rate)?;
        meter.enable_history(PUBLISH_PERIOD_S, HISTORY_CAPACITY);
        live.latest.store(Arc::default());
        Ok(Self {
            inner,
            meter,
            live,
            publish_every: (f64::from(sample_rate) * PUBLISH_PERIOD_S).round() as u64,
            since_publish: 0,
            musical: MusicalAnalyzer::live(sample_rate, LIVE_TEMPO_WINDOW_S),
            estimate_every: (f64::from(sample_rate) * MUSICAL_PERIOD_S).round() as u64,
            since_estimate: 0,
            bpm: None,
            key: None,
        })
    }

    fn restart_meter(&mut self) {
        self.meter.reset();
        self.musical.reset();
        (self.bpm, self.key) = (None, None);
        self.since_publish = 0;
        self.since_estimate = 0;
        self.live.latest.store(Arc::default());
    }
}

impl<P: StreamProcessor> StreamProcessor for MeteredProcessor<P> {
    fn chunk_frames(&self) -> usize {
        self.inner.chunk_frames()
    }

    fn latency_frames(&self) -> usize {
        self.inner.latency_frames()
    }

    fn reset(&mut self) {
        self.restart_meter();
        self.inner.reset();
    }

    fn process_chunk(&mut self, input: &[&[f32]], output: &mut [&mut [f32]]) {
        if self.live.reset_requested.swap(false, Ordering::AcqRel) {
            self.restart_meter();
        }
        // The block always matches the meter's channel count: both come from the bridge.
        if self.meter.add_frames(input).is_ok() {
            let frames = input.first().map_or(0, |c| c.len()) as u64;
            self.musical.add_frames(input);
            self.since_estimate += frames;
            if self.since_estimate >= self.estimate_every {
                self.since_estimate -= self.estimate_every;
                let report = self.musical.finish(false);
                (self.bpm, self.key) = (report.bpm, report.key);
            }
            self.since_publish += frames;
            if self.since_publish >= self.publish_every {
                self.since_publish -= self.publish_every;
                self.live.latest.store(Arc::new(LoudnessSnapshot::read(
                    &self.meter,
                    self.bpm,
                    self.key,
                )));
            }
        }
        self.inner.process_chunk(input, output);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::analyze_file;
    use crate::audio::{SampleFormat, WavWriter};
    use crate::realtime::{Bridge, BridgeConfig, EngineStats, PassThrough, RenderMode};

    /// A 1 kHz tone at -20 dBFS then at -30 dBFS, stereo, `frames` long.
    fn programme(sample_rate: u32, frames: usize) -> Vec<Vec<f32>> {
        let left: Vec<f32> = (0..frames)
            .map(|i| {
                let level = if i < frames * 3 / 5 { 0.1 } else { 0.031_622_8 };
                let t = i as f32 / sample_rate as f32;
                level * (2.0 * std::f32::consts::PI * 1000.0 * t).sin()
            })
            .collect();
        vec![left.clone(), left]
    }

    #[test]
    fn offline_render_through_the_bridge_reads_what_the_cli_reads() {
        let sample_rate = 44_100;
        // 12.8 s: a whole number of 256-frame chunks and of 100 ms publications, so the worker
        // meters every frame the host sent and publishes right after the last one.
        let audio = programme(sample_rate, 2205 * 256);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("programme.wav");
        let mut writer = WavWriter::create(&path, sample_rate, 2, SampleFormat::Float32).unwrap();
        writer.write_planar(&audio).unwrap();
        writer.finalize().unwrap();
        let cli = analyze_file(&path, &crate::analyze::AnalyzeOptions::default(), |_| {})
            .unwrap()
            .loudness
            .expect("loudness is measured by default");

        let live = Arc::new(LiveLoudness::default());
        let processor =
            MeteredProcessor::new(PassThrough::new(256), 2, sample_rate, live.clone()).unwrap();
        let config = BridgeConfig {
            channels: 2,
            output_channels: 2,
            sample_rate: sample_rate as f32,
            max_block_frames: 512,
        };
        let mut bridge =
            Bridge::start(processor, config, Arc::new(EngineStats::default())).unwrap();
        let mut left = audio[0].clone();
        let mut right = audio[1].clone();
        for (l, r) in left.chunks_mut(441).zip(right.chunks_mut(441)) {
            bridge.audio().process(&mut [l, r], RenderMode::Offline);
        }
        let total = audio[0].len() as u64;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while live.snapshot().frames < total && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let snapshot = live.snapshot();
        let cli_lufs = cli.lufs.unwrap();
        assert!(
            (snapshot.integrated - cli_lufs).abs() < 0.01,
            "plugin {} vs cli {cli_lufs}",
            snapshot.integrated
        );
        assert!((snapshot.true_peak_dbtp - cli.true_peak_dbtp.unwrap()).abs() < 0.01);
        assert!((snapshot.loudness_range - cli.lra.unwrap()).abs() < 0.1);
        assert!(snapshot.history.len() >= 90);
    }

    #[test]
    fn reset_request_starts_metering_afresh() {
        let live = Arc::new(LiveLoudness::default());
        let mut processor =
            MeteredProcessor::new(PassThrough::new(4800), 1, 48_000, live.clone()).unwrap();
        let loud = vec![0.5_f32; 4800];
        let mut out = vec![0.0_f32; 4800];
        for _ in 0..10 {
            processor.process_chunk(&[&loud], &mut [&mut out]);
        }
        assert_eq!(out, loud, "the wrapped tool still produces the output");
        assert!(live.snapshot().sample_peak_dbfs > -7.0);
        live.request_reset();
        let quiet = vec![0.01_f32; 4800];
        processor.process_chunk(&[&quiet], &mut [&mut out]);
        let snapshot = live.snapshot();
        assert_eq!(snapshot.frames, 4800);
        assert!(snapshot.sample_peak_dbfs < -39.0);
    }

    #[test]
    fn tempo_and_key_of_what_was_heard_are_published_and_reset() {
        use crate::analyze::synth::{ROCK, Song};
        let rate = 48_000;
        let mut song = Song::new(rate, 24.0, 8);
        song.drums(ROCK, 118.0, 0.5, 0.0, 24.0);
        song.progression(9, true, 118.0, 0.0, 0.0);
        let live = Arc::new(LiveLoudness::default());
        let mut processor =
            MeteredProcessor::new(PassThrough::new(480), 1, rate, live.clone()).unwrap();
        let mut out = vec![0.0_f32; 480];
        for chunk in song.samples.chunks_exact(480) {
            processor.process_chunk(&[chunk], &mut [&mut out]);
        }
        let snapshot = live.snapshot();
        let bpm = snapshot.bpm.expect("a tempo");
        assert!((bpm / 118.0 - 1.0).abs() < 0.02, "{bpm}");
        assert_eq!(
            snapshot.key.map(|k| k.to_string()).as_deref(),
            Some("A minor")
        );
        live.request_reset();
        processor.process_chunk(&[&[0.0; 480]], &mut [&mut out]);
        let snapshot = live.snapshot();
        assert_eq!((snapshot.bpm, snapshot.key), (None, None));
    }
}
