//! RVC v2 voice packs (`rvc-v2`): ContentVec features, the F0 track and the RVC synthesizer,
//! run in overlapping windows on a whole signal.
//!
//! # The pack
//!
//! One folder, one manifest (`task = "voice"`, `convention = "rvc-v2"`, `sample_rate` the
//! synthesizer's: 32000, 40000 or 48000) listing two graphs: the synthesizer (the pack's
//! convention) and its content encoder, marked with its own `convention = "contentvec"`:
//!
//! ```toml
//! name = "my voice"
//! task = "voice"
//! convention = "rvc-v2"
//! sample_rate = 40000
//!
//! [[files]]
//! path = "my_voice.onnx"
//! sha256 = "..."
//!
//! [[files]]
//! path = "contentvec.onnx"
//! sha256 = "..."
//! convention = "contentvec"
//! ```
//!
//! A third file with `convention = "fcpe"` (FCPE exported as one graph: wav [1, N] at 16 kHz to
//! F0 [1, N/160 + 1] in Hz, 0 unvoiced) or `convention = "crepe"` gives the F0 instead of the
//! project's tracker. CREPE runs as RVC runs it (`torchcrepe.predict`, hop 160, 50..1100 Hz,
//! batches of 512): 1024-sample frames every 160 samples, centred (the signal padded with 512
//! zeros each side), each made zero-mean and divided by its (unbiased) standard deviation; each
//! batch decoded by torchcrepe's default Viterbi over the bins of 50..1100 Hz (without its
//! random ±20-cent dither); then RVC's median filter of 3 frames on the periodicity (the chosen
//! bin's probability) and mean filter of 3 on the pitch, unvoiced where the filtered
//! periodicity is below 0.1. Any other `.onnx` file is refused.
//!
//! # What runs (following RVC's `infer/modules/vc/pipeline.py`)
//!
//! Each channel on its own, as a stream ([`RvcChannel`], which the plugin's [`RvcStream`] runs
//! too): resampled to 16 kHz; high-passed as RVC does (a 5th-order Butterworth at 48 Hz, run
//! twice forward where RVC runs it forward and backward); the first [`CONTEXT`] samples reflected before the start (RVC's
//! `t_pad`); then per window of [`WINDOW`] samples, run as soon as its last sample is in: F0 by
//! the project's own tracker (or the pack's F0 graph) on the window every 10 ms (RVC's `window`
//! of 160 samples), multiplied by `2^(transpose / 12)`; coarse pitch on RVC's mel scale (50 to
//! 1100 Hz onto 1..=255); ContentVec features (50 frames/s) repeated twice to 100 frames/s (a
//! partial last frame repeats the one before, so `phone` always has one frame per 10 ms),
//! standard normal `rnd` noise from a generator seeded with [`RvcSettings::seed`] and the
//! window's index (so a run repeats exactly), speaker `ds`; the synthesizer's output at its
//! own rate, the context dropped, windows cross-faded; the result resampled back to the
//! input's rate. [`RvcConverter::convert`] feeds silence after the end (what a plugin hears
//! after a clip) until the output covers the input, and cuts it to the input's length.
//!
//! Differences from RVC's offline pipeline, on purpose: RVC cuts a file at quiet points about
//! every 38 s (on CPU) and concatenates the pieces; here windows are short and fixed so the
//! same code can stream, and each seam is cross-faded over [`FADE`] after a synchronised
//! overlap-add search ([`SEARCH`], the SOLA of realtime RVC clients) that aligns the new
//! window's waveform with the previous one's, since a synthesizer's excitation starts with a
//! new phase in every call. RVC's 48 Hz high-pass before the features and its RMS mix are not
//! applied. RVC's `protect` only blends index-retrieved features with the original ones, so
//! index-free (as packs are) it changes nothing, and it is not offered here.
//!
//! # Latency for a realtime use
//!
//! A window can run once its last sample has arrived, and it finishes the output from the start
//! of its cross-fade: [`REALTIME_LATENCY_SAMPLES`] at 16 kHz (0.76 s), plus the resamplers'
//! delays ([`RvcChannel::latency_frames`]), plus the time the graphs take for one window (the
//! realtime bridge's margin).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::pitch::{PitchConfig, track};

mod high_pass;
mod stream;

use crate::audio::AudioError;
use crate::inference::{Convention, InferenceError, InputTensor, ModelPack, ModelSession, Task};
pub use stream::{RvcChannel, RvcStream, RvcStreamShared};

/// The rate ContentVec and the F0 track run at.
pub const CONTENT_RATE: u32 = 16_000;
/// Samples at 16 kHz per synthesizer frame (100 frames/s): RVC's `window`.
pub const FRAME: usize = 160;
/// Samples at 16 kHz per ContentVec frame (50 frames/s).
const CONTENT_FRAME: usize = 320;
/// Samples at 16 kHz between window starts (0.5 s).
pub const STEP: usize = 8_000;
/// Samples at 16 kHz of context before and after each window's used part, dropped from its
/// output (0.2 s; RVC's `t_pad` offline is 1 s).
pub const CONTEXT: usize = 3_200;
/// Samples at 16 kHz over which consecutive windows cross-fade (40 ms).
pub const FADE: usize = 640;
/// Samples at 16 kHz of the range searched for the best alignment of a window with the one
/// before (20 ms, one period at 50 Hz), centred on the nominal position.
pub const SEARCH: usize = 320;
/// Samples at 16 kHz per window (0.96 s, 96 synthesizer frames).
pub const WINDOW: usize = STEP + FADE + SEARCH + 2 * CONTEXT;
/// The delay a streaming use of these windows adds, in samples at 16 kHz, before the graphs'
/// own time: a window runs once its last sample has arrived, and finishes the output from the
/// start of its cross-fade, `WINDOW - CONTEXT` samples earlier.
pub const REALTIME_LATENCY_SAMPLES: usize = WINDOW - CONTEXT;
/// Channels of the synthesizer's `rnd` noise input.
pub const NOISE_CHANNELS: usize = 192;
/// The noise seed of [`RvcSettings::default`].
pub const DEFAULT_SEED: u64 = 0x5EED;
/// The widest transpose accepted, in semitones.
pub const MAX_TRANSPOSE: f32 = 36.0;

// Every length above is a whole number of ContentVec frames, so it is a whole number of
// samples at every synthesizer rate.
const _: () = assert!(
    STEP.is_multiple_of(CONTENT_FRAME)
        && CONTEXT.is_multiple_of(CONTENT_FRAME)
        && FADE.is_multiple_of(CONTENT_FRAME)
        && SEARCH.is_multiple_of(CONTENT_FRAME)
);

/// What can go wrong loading or running an RVC pack.
#[derive(Debug, thiserror::Error)]
pub enum RvcError {
    /// ONNX Runtime is missing, or a graph could not be opened or run, or disagrees with its
    /// convention (the message names the file).
    #[error(transparent)]
    Model(#[from] InferenceError),
    /// The pack is not a usable voice pack (the message names its manifest).
    #[error("{}: {reason}", .path.display())]
    Pack {
        /// The pack's manifest.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Resampling failed.
    #[error(transparent)]
    Audio(#[from] AudioError),
    /// The input or the settings cannot be converted.
    #[error("{0}")]
    Unsupported(String),
    /// The run was cancelled.
    #[error("cancelled")]
    Cancelled,
}

/// The user's controls of the RVC path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RvcSettings {
    /// Pitch shift in semitones applied to the F0 before synthesis (±[`MAX_TRANSPOSE`]).
    pub transpose: f32,
    /// Speaker id fed as `ds` (0 for single-speaker models).
    pub speaker: i64,
    /// Seed of the synthesizer's noise: equal seeds give equal output.
    pub seed: u64,
}

impl Default for RvcSettings {
    fn default() -> Self {
        Self {
            transpose: 0.0,
            speaker: 0,
            seed: DEFAULT_SEED,
        }
    }
}

/// A loaded RVC pack: its synthesizer and content encoder, opened, checked and warmed up.
/// Converting runs them on the calling thread: call it from a worker.
pub struct RvcConverter {
    synth: Arc<ModelSession>,
    content: Arc<ModelSession>,
    /// The content graph's input name, and whether it is [1, N] (`audio`) rather than [1, 1, N].
    content_input: String,
    content_flat: bool,
    content_output: String,
    /// Width of `phone` (768 for v2 models, 256 for v1).
    width: usize,
    /// The pack's F0 graph (`fcpe` or `crepe`), when it has one (else the F0 comes from
    /// [`track`]).
    pitch: Option<(Convention, Arc<ModelSession>)>,
    sample_rate: u32,
}

impl std::fmt::Debug for RvcConverter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RvcConverter")
            .field("synth", &self.synth.path())
            .field("content", &self.content.path())
            .field("sample_rate", &self.sample_rate)
            .finish_non_exhaustive()
    }
}

impl RvcConverter {
    /// Opens the pack's two graphs in the process-wide ONNX Runtime. Fails naming the manifest
    /// when the pack is not an `rvc-v2` voice pack with exactly one synthesizer and one
    /// `contentvec` file, naming the graph when it disagrees with its convention or the two
    /// disagree on the feature width, and with [`InferenceError::RuntimeMissing`] when ONNX
    /// Runtime cannot be loaded.
    pub fn load(pack: &ModelPack) -> Result<Self, RvcError> {
        let m = pack.manifest();
        let fail = |reason: String| RvcError::Pack {
            path: pack.manifest_path().to_path_buf(),
            reason,
        };
        if m.task != Task::Voice || m.convention != Convention::RvcV2 {
            return Err(fail(format!(
                "a `{}` pack of the `{}` convention, not an `rvc-v2` voice pack",
                m.task, m.convention
            )));
        }
        let mut synth = Vec::new();
        let mut content = Vec::new();
        let mut pitch = Vec::new();
        for file in pack.onnx_files() {
            match m.convention_of(file) {
                Convention::RvcV2 => synth.push(file),
                Convention::ContentVec => content.push(file),
                Convention::Fcpe | Convention::Crepe => pitch.push(file),
                other => {
                    return Err(fail(format!(
                        "files: `{}` is a `{other}` graph; a voice pack holds its synthesizer, \
                         one `contentvec` encoder and optionally one `fcpe` or `crepe` F0 graph",
                        file.path.display()
                    )));
                }
            }
        }
        let [synth] = synth[..] else {
            return Err(fail(format!(
                "files: a voice pack lists exactly one `rvc-v2` synthesizer, this one {}",
                synth.len()
            )));
        };
        let [content] = content[..] else {
            return Err(fail(format!(
                "files: a voice pack lists exactly one file with `convention = \"contentvec\"`, \
                 this one {}",
                content.len()
            )));
        };
        if pitch.len() > 1 {
            return Err(fail(format!(
                "files: a voice pack lists at most one F0 graph (`fcpe` or `crepe`), this one {}",
                pitch.len()
            )));
        }
        let synth = pack.open_session(&synth.path.to_string_lossy())?;
        let content = pack.open_session(&content.path.to_string_lossy())?;
        let pitch = pitch
            .first()
            .map(|file| {
                let session = pack.open_session(&file.path.to_string_lossy())?;
                Ok::<_, InferenceError>((m.convention_of(file), session))
            })
            .transpose()?;
        let signature = content.signature();
        let content_flat = signature.inputs[0].dims.len() == 2;
        let output = if content_flat {
            signature.output("units")
        } else {
            signature.outputs.first()
        }
        .expect("the convention check found the output");
        let phone = synth
            .signature()
            .input("phone")
            .expect("the convention check found `phone`");
        let width = phone.dims[2].unwrap_or(768) as usize;
        if let Some(got) = output.dims[2]
            && got != width as u64
        {
            return Err(InferenceError::ShapeMismatch {
                path: content.path().to_path_buf(),
                convention: Convention::ContentVec,
                kind: "output",
                name: output.name.clone(),
                expected: format!(
                    "features {width} wide, as the synthesizer's `phone` (`{}`)",
                    synth.path().display()
                ),
                got: format!("{got} wide"),
            }
            .into());
        }
        Ok(Self {
            content_input: signature.inputs[0].name.clone(),
            content_output: output.name.clone(),
            content_flat,
            width,
            sample_rate: m.sample_rate,
            synth,
            content,
            pitch,
        })
    }

    /// The synthesizer's sample rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// The synthesizer's file.
    pub fn path(&self) -> &Path {
        self.synth.path()
    }

    /// The windows (graph runs per channel) converting `frames` frames at `sample_rate` takes:
    /// none for an empty signal, else one per [`STEP`] at 16 kHz begun.
    pub fn windows(frames: usize, sample_rate: u32) -> usize {
        if frames == 0 {
            return 0;
        }
        resampled_len(frames, sample_rate, CONTENT_RATE)
            .div_ceil(STEP)
            .max(1)
    }

    /// Converts planar `audio` (1 to 64 channels of equal length at `sample_rate`, 8 kHz or
    /// more), each channel on its own, into as many channels as long at the same rate.
    /// `progress(done, total)` counts windows over all channels; `cancel` stops the run between
    /// two windows with [`RvcError::Cancelled`].
    pub fn convert(
        &self,
        audio: &[Vec<f32>],
        sample_rate: u32,
        settings: &RvcSettings,
        progress: &mut dyn FnMut(usize, usize),
        cancel: &AtomicBool,
    ) -> Result<Vec<Vec<f32>>, RvcError> {
        let channels = audio.len();
        let frames = audio.first().map_or(0, Vec::len);
        if !(1..=64).contains(&channels)
            || !(8_000..=768_000).contains(&sample_rate)
            || audio.iter().any(|c| c.len() != frames)
        {
            return Err(RvcError::Unsupported(format!(
                "cannot convert {channels} channels at {sample_rate} Hz (1 to 64 channels of \
                 equal length, 8 to 768 kHz)"
            )));
        }
        if settings.transpose.is_nan() || settings.transpose.abs() > MAX_TRANSPOSE {
            return Err(RvcError::Unsupported(format!(
                "transpose {} is outside ±{MAX_TRANSPOSE} semitones",
                settings.transpose
            )));
        }
        if frames == 0 {
            return Ok(vec![Vec::new(); channels]);
        }
        let windows = Self::windows(frames, sample_rate);
        let total = windows * channels;
        // Half a second at a time, then silence after the end (what a plugin hears after a
        // clip) until the converted stream covers the input.
        let block = (sample_rate as usize / 2).max(1);
        let silence = vec![0.0; block];
        let mut out = Vec::with_capacity(channels);
        for (c, channel) in audio.iter().enumerate() {
            let mut stream = RvcChannel::new(self, sample_rate)?;
            let (mut fed, mut done) = (0, 0);
            while stream.converted() < frames {
                let input = channel
                    .get(fed..(fed + block).min(frames))
                    .unwrap_or_default();
                let input = if input.is_empty() { &silence } else { input };
                fed += input.len();
                stream.push(input)?;
                while stream.window_ready() {
                    if cancel.load(Ordering::Relaxed) {
                        return Err(RvcError::Cancelled);
                    }
                    stream.run_window(self, settings)?;
                    done += 1;
                    if done <= windows {
                        progress(c * windows + done, total);
                    }
                }
            }
            out.push(stream.take_converted(frames));
        }
        Ok(out)
    }

    /// Samples at the synthesizer's rate for `samples` (a multiple of [`FRAME`]) at 16 kHz.
    fn at_model(&self, samples: usize) -> usize {
        samples / FRAME * (self.sample_rate as usize / 100)
    }

    /// Converts one window (`index`) of [`WINDOW`] samples of the padded 16 kHz stream: its F0
    /// (times `2^(transpose / 12)`), ContentVec and the synthesizer, then joins it to the
    /// windows before: returns the [`STEP`] samples (at the synthesizer's rate) that are final
    /// from the start of the previous window's cross-fade, and keeps the window's own
    /// cross-fade tail in `tail`. Window 0 starts the output at the end of its context.
    fn join_window(
        &self,
        window: &[f32],
        settings: &RvcSettings,
        index: usize,
        tail: &mut Vec<f32>,
    ) -> Result<Vec<f32>, RvcError> {
        let ratio = 2f32.powf(settings.transpose / 12.0);
        let f0 = self.f0(window)?;
        let pitchf: Vec<f32> = (0..WINDOW / FRAME)
            .map(|i| f0.get(i).copied().unwrap_or(0.0) * ratio)
            .collect();
        let voice = self.synthesize(window, &pitchf, settings, index)?;
        let (step, fade, context) = (
            self.at_model(STEP),
            self.at_model(FADE),
            self.at_model(CONTEXT),
        );
        let half_search = self.at_model(SEARCH) / 2;
        let from = if index == 0 {
            context
        } else {
            let region = &voice[context - half_search..context + half_search + fade];
            context - half_search + best_alignment(tail, region, half_search)
        };
        let part = &voice[from..from + step + fade];
        let mut done = Vec::with_capacity(step);
        if index == 0 {
            done.extend_from_slice(&part[..step]);
        } else {
            cross_fade(tail, &part[..fade]);
            done.extend_from_slice(tail);
            done.extend_from_slice(&part[fade..step]);
        }
        tail.clear();
        tail.extend_from_slice(&part[step..]);
        Ok(done)
    }

    /// Runs ContentVec and the synthesizer on one window (`index`, which seeds its noise) of
    /// [`WINDOW`] samples at 16 kHz with its [`WINDOW`] / [`FRAME`] F0 frames (Hz, transposed);
    /// returns the window's [`WINDOW`] / [`FRAME`] × `sample_rate / 100` samples at the
    /// synthesizer's rate, context included. What [`convert`](Self::convert) runs per window,
    /// for a streaming worker (and the bench that times the graphs).
    pub fn synthesize(
        &self,
        window: &[f32],
        pitchf: &[f32],
        settings: &RvcSettings,
        index: usize,
    ) -> Result<Vec<f32>, RvcError> {
        let t = pitchf.len();
        let phone = self.features(window, t)?;
        let pitch: Vec<i64> = pitchf.iter().map(|&f| coarse_pitch(f)).collect();
        let rnd = noise(settings.seed, index, NOISE_CHANNELS * t);
        let outputs = self.synth.run(&[
            (
                "phone",
                InputTensor::F32 {
                    shape: &[1, t, self.width],
                    data: &phone,
                },
            ),
            (
                "phone_lengths",
                InputTensor::I64 {
                    shape: &[1],
                    data: &[t as i64],
                },
            ),
            (
                "pitch",
                InputTensor::I64 {
                    shape: &[1, t],
                    data: &pitch,
                },
            ),
            (
                "pitchf",
                InputTensor::F32 {
                    shape: &[1, t],
                    data: pitchf,
                },
            ),
            (
                "ds",
                InputTensor::I64 {
                    shape: &[1],
                    data: &[settings.speaker],
                },
            ),
            (
                "rnd",
                InputTensor::F32 {
                    shape: &[1, NOISE_CHANNELS, t],
                    data: &rnd,
                },
            ),
        ])?;
        let audio = outputs.require(self.synth.path(), "audio")?;
        let want = self.at_model(WINDOW);
        if audio.len() < want {
            return Err(InferenceError::run(
                self.synth.path(),
                format!(
                    "`audio` has {} samples for {t} frames; expected {want} ({} per frame at {} Hz)",
                    audio.len(),
                    self.sample_rate / 100,
                    self.sample_rate
                ),
            )
            .into());
        }
        Ok(audio.iter().take(want).copied().collect())
    }

    /// The F0 in Hz (0 unvoiced) every [`FRAME`] samples of a 16 kHz signal, frame `t` centred
    /// on sample `t FRAME`: from the pack's F0 graph when it has one, else from [`track`].
    fn f0(&self, signal: &[f32]) -> Result<Vec<f32>, RvcError> {
        let Some((convention, session)) = &self.pitch else {
            let config = PitchConfig {
                hop_seconds: FRAME as f32 / CONTENT_RATE as f32,
                ..PitchConfig::default()
            };
            let frames = track(signal, CONTENT_RATE as f32, &config);
            return Ok(frames.iter().map(|f| f.f0_hz).collect());
        };
        graph_f0(*convention, session, signal)
    }

    /// ContentVec features of one window, repeated to `frames` frames at 100 frames/s, flat
    /// [frames, width].
    fn features(&self, window: &[f32], frames: usize) -> Result<Vec<f32>, RvcError> {
        let shape: &[usize] = if self.content_flat {
            &[1, window.len()]
        } else {
            &[1, 1, window.len()]
        };
        let outputs = self.content.run(&[(
            self.content_input.as_str(),
            InputTensor::F32 {
                shape,
                data: window,
            },
        )])?;
        let feats = outputs.require(self.content.path(), &self.content_output)?;
        let dims = feats.shape();
        if dims.len() != 3 || dims[0] != 1 || dims[1] == 0 || dims[2] != self.width {
            return Err(InferenceError::run(
                self.content.path(),
                format!(
                    "`{}` has shape {dims:?}; expected [1, frames, {}]",
                    self.content_output, self.width
                ),
            )
            .into());
        }
        let units: Vec<f32> = feats.iter().copied().collect();
        let last = dims[1] - 1;
        let mut phone = Vec::with_capacity(frames * self.width);
        for i in 0..frames {
            let unit = (i / 2).min(last) * self.width;
            phone.extend_from_slice(&units[unit..unit + self.width]);
        }
        Ok(phone)
    }
}

/// Samples per CREPE frame.
const CREPE_FRAME: usize = 1024;
/// CREPE frames per graph run; torchcrepe decodes each such batch on its own (RVC's 512).
const CREPE_BATCH: usize = 512;
/// CREPE's pitch bins.
const CREPE_BINS: usize = 360;
/// The cents (above 10 Hz) of CREPE's bin 0; bins are 20 cents apart.
const CREPE_CENTS_0: f64 = 1_997.379_408_437_619;
/// The smallest positive normal f32: what librosa's Viterbi adds before taking logarithms of
/// float32 probabilities.
const F32_TINY: f64 = f32::MIN_POSITIVE as f64;

/// The frequency in Hz of a (fractional) CREPE bin.
pub fn crepe_bin_hz(bin: f64) -> f64 {
    10.0 * ((CREPE_CENTS_0 + 20.0 * bin) / 1200.0).exp2()
}

/// The F0 in Hz (0 unvoiced) every [`FRAME`] samples of a 16 kHz signal (`len / FRAME + 1`
/// frames, frame `t` centred on sample `t FRAME`) from a voice pack's F0 graph `session` of
/// `convention` ([`Convention::Crepe`] or [`Convention::Fcpe`]), processed as
/// [`RvcConverter`] does (see the module documentation).
pub fn graph_f0(
    convention: Convention,
    session: &ModelSession,
    signal: &[f32],
) -> Result<Vec<f32>, RvcError> {
    if convention == Convention::Crepe {
        return crepe_f0(session, signal);
    }
    let signature = session.signature();
    let outputs = session.run_f32(&signature.inputs[0].name, &[1, signal.len()], signal)?;
    let f0 = outputs.require(session.path(), &signature.outputs[0].name)?;
    Ok(f0
        .iter()
        .map(|&f| if f.is_finite() && f > 0.0 { f } else { 0.0 })
        .collect())
}

/// The F0 from a CREPE graph as RVC gets it from `torchcrepe.predict` (see the module
/// documentation).
fn crepe_f0(session: &ModelSession, signal: &[f32]) -> Result<Vec<f32>, RvcError> {
    let frames = signal.len() / FRAME + 1;
    let half = CREPE_FRAME / 2;
    let signature = session.signature();
    let (input, output) = (&signature.inputs[0].name, &signature.outputs[0].name);
    let mut pitch = Vec::with_capacity(frames);
    let mut periodicity = Vec::with_capacity(frames);
    let mut batch = Vec::with_capacity(CREPE_BATCH * CREPE_FRAME);
    for first in (0..frames).step_by(CREPE_BATCH) {
        let count = CREPE_BATCH.min(frames - first);
        batch.clear();
        for t in first..first + count {
            let start = batch.len();
            // Frame t covers signal[t FRAME - 512 .. t FRAME + 512), zeros outside.
            batch.extend((0..CREPE_FRAME).map(|i| {
                (t * FRAME + i)
                    .checked_sub(half)
                    .and_then(|j| signal.get(j))
                    .copied()
                    .unwrap_or(0.0)
            }));
            // torchcrepe: minus the mean, divided by max(1e-10, the unbiased deviation).
            let frame = &mut batch[start..];
            let mean = frame.iter().map(|&x| f64::from(x)).sum::<f64>() / CREPE_FRAME as f64;
            let var = frame
                .iter()
                .map(|&x| (f64::from(x) - mean).powi(2))
                .sum::<f64>()
                / (CREPE_FRAME - 1) as f64;
            let scale = 1.0 / var.sqrt().max(1e-10);
            frame
                .iter_mut()
                .for_each(|x| *x = ((f64::from(*x) - mean) * scale) as f32);
        }
        let outputs = session.run_f32(input, &[count, CREPE_FRAME], &batch)?;
        let probabilities = outputs.require(session.path(), output)?;
        let flat: Vec<f32> = probabilities.iter().copied().collect();
        if flat.len() != count * CREPE_BINS {
            return Err(InferenceError::run(
                session.path(),
                format!(
                    "`{output}` has {} values for {count} frames of {CREPE_BINS} bins",
                    flat.len()
                ),
            )
            .into());
        }
        let (p, h) = crepe_decode(&flat);
        pitch.extend(p);
        periodicity.extend(h);
    }
    Ok(crepe_voicing(&pitch, &periodicity))
}

/// The pitch bins torchcrepe keeps for RVC's 50..1100 Hz: `floor(bin(50))..ceil(bin(1100))`.
fn crepe_range() -> std::ops::Range<usize> {
    let bin_of = |hz: f64| (1200.0 * (hz / 10.0).log2() - CREPE_CENTS_0) / 20.0;
    bin_of(50.0).floor() as usize..(bin_of(1100.0).ceil() as usize).min(CREPE_BINS)
}

/// torchcrepe's default (Viterbi) decoding of one batch of CREPE outputs (`probabilities`, flat
/// [frames, 360]) restricted to 50..1100 Hz: the emissions are the softmax of the probabilities
/// over the kept bins, the transitions `max(12 - |i - j|, 0)` normalised per row, the path
/// librosa's Viterbi (uniform start, ties to the lowest bin). Returns the F0 of each frame's
/// bin (torchcrepe adds ±20 cents of random dither here, which is left out) and its
/// periodicity (the probability of that bin).
fn crepe_decode(probabilities: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let frames = probabilities.len() / CREPE_BINS;
    if frames == 0 {
        return (Vec::new(), Vec::new());
    }
    let range = crepe_range();
    let log_trans: Vec<f64> = (0..CREPE_BINS)
        .flat_map(|i| {
            let weight = move |j: usize| 12usize.saturating_sub(i.abs_diff(j)) as f64;
            let total: f64 = (0..CREPE_BINS).map(weight).sum();
            (0..CREPE_BINS).map(move |j| (weight(j) / total + F32_TINY).ln())
        })
        .collect();
    let log_emission = |row: &[f32]| -> Vec<f64> {
        let kept = &row[range.clone()];
        let top = kept.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let total: f64 = kept.iter().map(|&p| f64::from(p - top).exp()).sum();
        (0..CREPE_BINS)
            .map(|j| {
                let p = if range.contains(&j) {
                    (f64::from(row[j] - top).exp() / total) as f32
                } else {
                    0.0
                };
                (f64::from(p) + F32_TINY).ln()
            })
            .collect()
    };
    let rows: Vec<&[f32]> = probabilities.chunks_exact(CREPE_BINS).collect();
    let init = (1.0 / CREPE_BINS as f64 + F32_TINY).ln();
    let mut value: Vec<f64> = log_emission(rows[0]).iter().map(|e| e + init).collect();
    let mut pointers = vec![0u16; frames * CREPE_BINS];
    for (t, row) in rows.iter().enumerate().skip(1) {
        let emission = log_emission(row);
        let mut next = vec![0.0; CREPE_BINS];
        for j in 0..CREPE_BINS {
            let (mut best, mut from) = (f64::NEG_INFINITY, 0);
            for (k, v) in value.iter().enumerate() {
                let score = v + log_trans[k * CREPE_BINS + j];
                if score > best {
                    (best, from) = (score, k);
                }
            }
            pointers[t * CREPE_BINS + j] = from as u16;
            next[j] = emission[j] + best;
        }
        value = next;
    }
    let mut state = (0..CREPE_BINS).fold(0, |b, j| if value[j] > value[b] { j } else { b });
    let mut bins = vec![0; frames];
    for t in (0..frames).rev() {
        bins[t] = state;
        state = usize::from(pointers[t * CREPE_BINS + state]);
    }
    let pitch = bins
        .iter()
        .map(|&b| crepe_bin_hz(b as f64) as f32)
        .collect();
    let periodicity = bins.iter().zip(&rows).map(|(&b, row)| row[b]).collect();
    (pitch, periodicity)
}

/// RVC's steps after `torchcrepe.predict`: a median filter of 3 on the periodicity and a mean
/// filter of 3 on the pitch (both as torchcrepe's filters: the median takes the lower of the
/// two values at an end, the mean averages the two), then 0 where the filtered periodicity is
/// below 0.1.
fn crepe_voicing(pitch: &[f32], periodicity: &[f32]) -> Vec<f32> {
    let n = pitch.len();
    (0..n)
        .map(|t| {
            let window = t.saturating_sub(1)..(t + 2).min(n);
            let mut p: Vec<f32> = periodicity[window.clone()].to_vec();
            p.sort_by(f32::total_cmp);
            let median = p[(p.len() - 1) / 2];
            let mean = pitch[window.clone()].iter().sum::<f32>() / window.len() as f32;
            if median < 0.1 { 0.0 } else { mean }
        })
        .collect()
}

/// `round(len * to / from)`, the length [`crate::audio::Resampler`] gives.
fn resampled_len(len: usize, from: u32, to: u32) -> usize {
    ((len as u128 * u128::from(to) + u128::from(from) / 2) / u128::from(from)) as usize
}

/// RVC's coarse pitch: `f0_hz` on the mel scale, 50..1100 Hz mapped onto 1..=255 (1 when
/// unvoiced or below), rounded half to even.
pub fn coarse_pitch(f0_hz: f32) -> i64 {
    let mel = |hz: f64| 1127.0 * (1.0 + hz / 700.0).ln();
    let (low, high) = (mel(50.0), mel(1100.0));
    let m = mel(f64::from(f0_hz.max(0.0)));
    let m = if m > 0.0 {
        (m - low) * 254.0 / (high - low) + 1.0
    } else {
        m
    };
    m.clamp(1.0, 255.0).round_ties_even() as i64
}

/// `len` standard normal values (Box-Muller) from a generator seeded by `seed` and `window`.
fn noise(seed: u64, window: usize, len: usize) -> Vec<f32> {
    let mut rng =
        fastrand::Rng::with_seed(seed ^ (window as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut out = Vec::with_capacity(len + 1);
    while out.len() < len {
        let radius = (-2.0 * (1.0 - rng.f64()).ln()).sqrt();
        let angle = std::f64::consts::TAU * rng.f64();
        out.push((radius * angle.cos()) as f32);
        out.push((radius * angle.sin()) as f32);
    }
    out.truncate(len);
    out
}

/// The offset (0..=2 `half`) into `region` where the next `tail.len()` samples best continue
/// `tail`: the highest normalised cross-correlation, the centre (`half`) on ties and in silence.
fn best_alignment(tail: &[f32], region: &[f32], half: usize) -> usize {
    let score = |o: usize| {
        let candidate = &region[o..o + tail.len()];
        let dot: f64 = tail
            .iter()
            .zip(candidate)
            .map(|(&a, &b)| f64::from(a) * f64::from(b))
            .sum();
        let energy: f64 = candidate.iter().map(|&b| f64::from(b).powi(2)).sum();
        dot / (energy + 1e-9).sqrt()
    };
    let mut best = (half, score(half));
    for o in 0..=2 * half {
        let s = score(o);
        if s > best.1 {
            best = (o, s);
        }
    }
    best.0
}

/// Fades `out` out and `incoming` in over their common length (raised cosine, gains summing
/// to 1: the aligned signals are correlated).
fn cross_fade(out: &mut [f32], incoming: &[f32]) {
    let len = incoming.len();
    for (i, (o, &x)) in out.iter_mut().zip(incoming).enumerate() {
        let w = 0.5 - 0.5 * (std::f32::consts::PI * (i as f32 + 0.5) / len as f32).cos();
        *o = *o * (1.0 - w) + x * w;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Flat [frames, 360] CREPE outputs, each frame a peak of `height` at its bin.
    fn peaks(bins: &[usize], height: f32) -> Vec<f32> {
        bins.iter()
            .flat_map(|&b| {
                (0..CREPE_BINS)
                    .map(move |i| height * (-((i as f32 - b as f32) / 1.5).powi(2)).exp())
            })
            .collect()
    }

    #[test]
    fn crepe_keeps_torchcrepes_bins_for_50_to_1100_hz() {
        // torchcrepe: floor(frequency_to_bins(50)) = 39, ceil(frequency_to_bins(1100)) = 308.
        assert_eq!(crepe_range(), 39..308);
    }

    #[test]
    fn crepe_viterbi_follows_the_peak_and_ignores_a_one_frame_jump() {
        let mut bins = vec![150; 20];
        bins.extend([160; 20]);
        bins[5] = 300; // an octave-ish outlier for one frame: Viterbi's transitions refuse it
        let (pitch, periodicity) = crepe_decode(&peaks(&bins, 0.9));
        assert_eq!(pitch[0], crepe_bin_hz(150.0) as f32);
        assert_eq!(pitch[5], crepe_bin_hz(150.0) as f32);
        assert_eq!(pitch[39], crepe_bin_hz(160.0) as f32);
        assert!(periodicity[5] < 0.01 && (periodicity[0] - 0.9).abs() < 1e-6);
    }

    #[test]
    fn crepe_voicing_filters_as_rvc_does() {
        let pitch = [100.0, 200.0, 300.0, 400.0];
        // A low periodicity alone is outvoted by the median inside, not at an end (where the
        // lower of two wins); the pitch is the mean of three (two at an end).
        let voiced = crepe_voicing(&pitch, &[0.5, 0.05, 0.5, 0.5]);
        assert_eq!(voiced, [0.0, 200.0, 300.0, 350.0]);
        let ends = crepe_voicing(&pitch, &[0.05, 0.5, 0.5, 0.05]);
        assert_eq!(ends, [0.0, 200.0, 300.0, 0.0]);
    }

    #[test]
    fn coarse_pitch_follows_rvc_mel_scale() {
        assert_eq!(coarse_pitch(0.0), 1);
        assert_eq!(coarse_pitch(30.0), 1);
        assert_eq!(coarse_pitch(50.0), 1);
        assert_eq!(coarse_pitch(1100.0), 255);
        assert_eq!(coarse_pitch(4000.0), 255);
        // 1127 ln(1 + 220/700) = 307.6 mel; (307.6 - 77.76) * 254 / (1064.4 - 77.76) + 1 = 60.2
        assert_eq!(coarse_pitch(220.0), 60);
        let steps: Vec<i64> = [100.0, 200.0, 400.0, 800.0].map(coarse_pitch).to_vec();
        assert!(steps.windows(2).all(|w| w[0] < w[1]), "{steps:?}");
    }

    #[test]
    fn noise_is_standard_normal_and_repeats_per_seed_and_window() {
        let a = noise(7, 3, 100_000);
        assert_eq!(a, noise(7, 3, 100_000));
        assert_ne!(a[..10], noise(7, 4, 10)[..]);
        assert_ne!(a[..10], noise(8, 3, 10)[..]);
        let mean = a.iter().map(|&x| f64::from(x)).sum::<f64>() / a.len() as f64;
        let var = a
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / a.len() as f64;
        assert!(
            mean.abs() < 0.02 && (var - 1.0).abs() < 0.02,
            "{mean} {var}"
        );
    }

    #[test]
    fn alignment_finds_the_phase_that_continues_a_sine() {
        let sine = |phase: f32| -> Vec<f32> {
            (0..2000).map(|i| (0.05 * i as f32 + phase).sin()).collect()
        };
        let tail = &sine(0.0)[1000..1400];
        // The region starts 37 samples later in the same sine: the tail continues at 1000 - 963.
        let region = &sine(0.0)[963..963 + 400 + 100];
        assert_eq!(best_alignment(tail, region, 50), 37);
        assert_eq!(best_alignment(&[0.0; 40], &[0.0; 60], 10), 10);
    }
}
