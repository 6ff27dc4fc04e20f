//! Mixsmith Voice's audio path, apart from the plugin API so tests and benches can drive it:
//! one [`VoiceConverter`] per channel on the audio thread itself (it is allocation-free and
//! cheap), the dry signal delayed by the same latency for the dry/wet mix and the bypass, the
//! profile picked up from a lock-free handoff, and the mono input and output sent to the
//! monitor thread for the pitch plot and "Learn voice". With an RVC v2 pack the
//! conversion runs on the realtime bridge's worker instead, a fixed latency later.

use std::sync::Arc;

use mixsmith_core::realtime::handoff::{HandoffReceiver, HandoffSender, handoff};
use mixsmith_core::realtime::{Bridge, BridgeAudio, BridgeConfig, EngineStats, RenderMode};
use mixsmith_core::voice::RvcConverter;
use mixsmith_core::voice::envelope::{GRID_POINTS, grid_frequencies};
use mixsmith_core::voice::rvc::{RvcStream, RvcStreamShared};
use mixsmith_core::voice::{
    ConvertSettings, PROFILE_VERSION, PitchStats, VoiceConverter, VoiceProfile,
};
use rtrb::{Producer, RingBuffer};

/// The most channels the plugin has (stereo).
pub const MAX_CHANNELS: usize = 2;

/// Seconds of mono input and output the monitor ring holds: the monitor thread may fall this
/// far behind before samples are dropped (the plot skips them; nothing else is affected).
const MONITOR_RING_SECONDS: f32 = 2.0;

/// The parameters the audio path follows, read from the host's parameters once per block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VoiceControls {
    /// The converter's settings.
    pub convert: ConvertSettings,
    /// The converted voice's share of the output, 0 to 1.
    pub wet: f32,
    /// The host's bypass: the dry signal, delayed.
    pub bypass: bool,
}

/// A delay line of a fixed length.
struct Delay {
    /// The delayed samples, a ring.
    ring: Vec<f32>,
    /// Where the next sample is written (and the oldest read).
    position: usize,
}

impl Delay {
    fn new(frames: usize) -> Self {
        Self {
            ring: vec![0.0; frames.max(1)],
            position: 0,
        }
    }

    /// Replaces each sample of `block` by the one `frames` earlier; NaN and infinite samples
    /// come out as 0, as the converter reads them.
    fn process(&mut self, block: &mut [f32]) {
        for x in block {
            let delayed = self.ring[self.position];
            self.ring[self.position] = if x.is_finite() { *x } else { 0.0 };
            *x = delayed;
            self.position = (self.position + 1) % self.ring.len();
        }
    }

    fn reset(&mut self) {
        self.ring.fill(0.0);
        self.position = 0;
    }
}

/// A running Voice engine for one configuration (sample rate, channels, largest block).
pub struct VoiceEngine {
    /// One converter per channel.
    converters: Vec<VoiceConverter>,
    /// The dry signal per channel, delayed by the converters' latency.
    dry: Vec<Delay>,
    /// One channel's converted block.
    wet: Vec<f32>,
    /// The mono input of the current block, for the monitor.
    mono_in: Vec<f32>,
    /// The profile in force, from the editor or the learning thread.
    profile: HandoffReceiver<VoiceProfile>,
    /// The address of the profile the converters were last given, to notice a new one.
    applied: usize,
    /// Mono input and output samples, interleaved, for the monitor thread.
    monitor: Producer<f32>,
    /// The converters' latency in frames.
    latency: usize,
    /// Converting with an RVC pack on the bridge's worker instead of the converters.
    rvc: Option<RvcPath>,
}

/// The RVC pack's path through the engine: the realtime bridge running an [`RvcStream`], and
/// the dry signal delayed as much for the dry/wet mix and the bypass.
struct RvcPath {
    bridge: Bridge,
    /// The transpose the worker follows, its window count and any error.
    shared: Arc<RvcStreamShared>,
    /// The dry signal per channel, delayed by the bridge's latency.
    dry: Vec<Delay>,
    /// One block of each channel's delayed dry signal.
    scratch: Vec<Vec<f32>>,
    /// Realtime never waits for the worker; offline always does.
    mode: RenderMode,
}

impl RvcPath {
    /// Processes frames `done..done + len` of the first `count` channels in place.
    fn process(
        &mut self,
        channels: &mut [&mut [f32]],
        (done, len, count): (usize, usize, usize),
        controls: VoiceControls,
    ) {
        self.shared
            .set_transpose(controls.convert.transpose_semitones);
        for (c, channel) in channels.iter().take(count).enumerate() {
            let dry = &mut self.scratch[c][..len];
            dry.copy_from_slice(&channel[done..done + len]);
            self.dry[c].process(dry);
        }
        let mut parts = channels
            .iter_mut()
            .take(count)
            .map(|c| &mut c[done..done + len]);
        let mut blocks: [&mut [f32]; MAX_CHANNELS] =
            std::array::from_fn(|_| parts.next().unwrap_or(&mut [][..]));
        self.bridge.audio().process(&mut blocks[..count], self.mode);
        let wet = controls.wet.clamp(0.0, 1.0);
        for (c, channel) in channels.iter_mut().take(count).enumerate() {
            let dry = &self.scratch[c][..len];
            for (x, &d) in channel[done..done + len].iter_mut().zip(dry) {
                *x = if controls.bypass {
                    d
                } else {
                    wet * *x + (1.0 - wet) * d
                };
            }
        }
    }
}

/// The other ends of an engine's channels, for the threads around it.
pub struct EngineLinks {
    /// Publishes profiles to the audio thread.
    pub profile: HandoffSender<VoiceProfile>,
    /// The audio thread's mono input and output, interleaved.
    pub monitor: rtrb::Consumer<f32>,
}

impl VoiceEngine {
    /// An engine for `channels` (1 or 2) at `sample_rate` Hz and blocks of up to `max_block`
    /// frames. Allocates everything the audio thread will use; call it from `activate()`.
    pub fn new(
        sample_rate: f32,
        channels: usize,
        max_block: usize,
    ) -> Result<(Self, EngineLinks), String> {
        if !(1..=MAX_CHANNELS).contains(&channels) {
            return Err(format!("{channels} channels (mono or stereo only)"));
        }
        // A NaN rate fails the test too.
        if sample_rate.is_nan() || sample_rate < 8_000.0 {
            return Err(format!("{sample_rate} Hz (8 kHz or more)"));
        }
        // Until a profile arrives the converters run at amount 0: the delayed input, transposed.
        let neutral = neutral_profile();
        let converters: Vec<VoiceConverter> = (0..channels)
            .map(|_| VoiceConverter::new(&neutral, sample_rate, ConvertSettings::default()))
            .collect();
        let latency = converters[0].latency_frames();
        let max_block = max_block.max(1);
        let (profile_sender, profile) = handoff();
        let ring = (2.0 * MONITOR_RING_SECONDS * sample_rate) as usize;
        let (monitor, monitor_consumer) = RingBuffer::new(ring.max(2 * max_block));
        Ok((
            Self {
                converters,
                dry: (0..channels).map(|_| Delay::new(latency)).collect(),
                wet: vec![0.0; max_block],
                mono_in: vec![0.0; max_block],
                profile,
                applied: 0,
                monitor,
                latency,
                rvc: None,
            },
            EngineLinks {
                profile: profile_sender,
                monitor: monitor_consumer,
            },
        ))
    }

    /// An engine converting with an RVC pack on the realtime bridge's worker (see
    /// [`new`](Self::new) for the rest): `mode` says whether the audio thread may wait for it,
    /// `stats` counts its underruns. The returned handle carries the worker's error, if a
    /// window fails (the output is then the delayed input).
    pub fn with_pack(
        sample_rate: f32,
        channels: usize,
        max_block: usize,
        converter: Arc<RvcConverter>,
        mode: RenderMode,
        stats: Arc<EngineStats>,
    ) -> Result<(Self, EngineLinks, Arc<RvcStreamShared>), String> {
        let (mut engine, links) = Self::new(sample_rate, channels, max_block)?;
        let shared = Arc::new(RvcStreamShared::default());
        let stream = RvcStream::new(converter, channels, sample_rate as u32, shared.clone())
            .map_err(|e| e.to_string())?;
        let config = BridgeConfig {
            channels,
            output_channels: channels,
            sample_rate,
            max_block_frames: max_block.max(1),
        };
        let bridge = Bridge::start(stream, config, stats)
            .map_err(|e| format!("the bridge's worker could not start: {e}"))?;
        let latency = bridge.latency_frames();
        engine.latency = latency;
        engine.rvc = Some(RvcPath {
            bridge,
            shared: shared.clone(),
            dry: (0..channels).map(|_| Delay::new(latency)).collect(),
            scratch: vec![vec![0.0; max_block.max(1)]; channels],
            mode,
        });
        Ok((engine, links, shared))
    }

    /// The latency to report, in frames: the same for every block size and setting.
    pub fn latency_frames(&self) -> usize {
        self.latency
    }

    /// The realtime bridge's audio side when converting with a pack (to restart its stream on
    /// a transport jump).
    pub fn bridge(&mut self) -> Option<&mut BridgeAudio> {
        self.rvc.as_mut().map(|rvc| rvc.bridge.audio())
    }

    /// Forgets the audio heard (after a transport jump or a host reset).
    pub fn reset(&mut self) {
        if let Some(rvc) = &mut self.rvc {
            rvc.bridge.audio().reset();
            for delay in &mut rvc.dry {
                delay.reset();
            }
        }
        for converter in &mut self.converters {
            converter.reset();
        }
        for delay in &mut self.dry {
            delay.reset();
        }
    }

    /// Processes one block in place: `channels` slices of equal length, at most the largest
    /// block. Allocation-free and lock-free; wait-free except offline with a pack, where it waits
    /// for the bridge's worker (so the render is the converted one).
    pub fn process(&mut self, channels: &mut [&mut [f32]], controls: VoiceControls) {
        let has_profile = self.pick_up_profile();
        let mut settings = controls.convert;
        if !has_profile {
            settings.amount = 0.0;
        }
        let frames = channels.first().map_or(0, |c| c.len());
        let count = channels.len().min(self.converters.len());
        for done in (0..frames).step_by(self.wet.len()) {
            let len = (frames - done).min(self.wet.len());
            let share = 1.0 / count as f32;
            self.mono_in[..len].fill(0.0);
            for channel in channels.iter() {
                for (m, x) in self.mono_in[..len]
                    .iter_mut()
                    .zip(&channel[done..done + len])
                {
                    *m += share * x;
                }
            }
            if let Some(rvc) = &mut self.rvc {
                rvc.process(channels, (done, len, count), controls);
                self.send_to_monitor(channels, done, len, count);
                continue;
            }
            for (index, channel) in channels.iter_mut().take(count).enumerate() {
                let block = &mut channel[done..done + len];
                let converter = &mut self.converters[index];
                converter.set_settings(settings);
                converter.process(block, &mut self.wet[..len]);
                self.dry[index].process(block);
                if !controls.bypass {
                    let wet = controls.wet.clamp(0.0, 1.0);
                    for (x, w) in block.iter_mut().zip(&self.wet[..len]) {
                        *x = wet * w + (1.0 - wet) * *x;
                    }
                }
            }
            self.send_to_monitor(channels, done, len, count);
        }
    }

    /// Applies a newly published profile to the converters; whether one is in force.
    fn pick_up_profile(&mut self) -> bool {
        let current = self.profile.current();
        let address = current.map_or(0, |p| std::ptr::from_ref(p) as usize);
        if address != self.applied {
            if let Some(profile) = current {
                for converter in &mut self.converters {
                    converter.set_profile(profile);
                }
            }
            self.applied = address;
        }
        address != 0
    }

    /// Sends the block's mono input and output to the monitor; drops them when its ring is
    /// full (the monitor fell behind).
    fn send_to_monitor(&mut self, channels: &[&mut [f32]], done: usize, len: usize, count: usize) {
        let Ok(chunk) = self.monitor.write_chunk_uninit(2 * len) else {
            return;
        };
        let share = 1.0 / count as f32;
        let samples = (0..len).flat_map(|i| {
            let output: f32 = channels.iter().map(|c| c[done + i]).sum::<f32>() * share;
            [self.mono_in[i], output]
        });
        chunk.fill_from_iter(samples);
    }
}

/// A flat profile for the converters before any profile arrives (they run at amount 0 then, so
/// its shape never shows).
fn neutral_profile() -> VoiceProfile {
    VoiceProfile {
        version: PROFILE_VERSION,
        seconds: 0.0,
        voiced_seconds: 0.0,
        pitch: PitchStats {
            median_hz: 0.0,
            p5_hz: 0.0,
            p95_hz: 0.0,
        },
        hnr_db: 0.0,
        grid_hz: grid_frequencies().to_vec(),
        envelope_db: vec![0.0; GRID_POINTS],
        covered_points: GRID_POINTS,
        spread_db: Vec::new(),
        classes: Vec::new(),
        high_db: Vec::new(),
        high_covered: 0,
        warnings: Vec::new(),
    }
}
