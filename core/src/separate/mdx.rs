//! UVR MDX-Net packs (`mdx`): one stem per model, its complex spectrogram in and out.
//!
//! The processing follows UVR 5.6's `SeperateMDX.demix` / `run_model` and its `STFT` class:
//!
//! - 44.1 kHz stereo (the caller converts); the signal is preceded by `trim = n_fft / 2` zeros
//!   and followed by `gen + trim - len % gen` zeros, `gen = chunk - 2 trim`,
//!   `chunk = hop (dim_t - 1)` samples;
//! - chunks overlap by a share of their length (UVR's `overlap` option, `params.overlap`,
//!   default [`DEFAULT_OVERLAP`]); each chunk's centred
//!   STFT (periodic Hann `n_fft`, hop 1024, reflect padding, `dim_t` frames) is cut to the first
//!   `dim_f` bins, laid out as `[1, 4, dim_f, dim_t]` (L-re, L-im, R-re, R-im), and bins 0, 1 and
//!   2 are zeroed (UVR's `spek[:, :, :3, :] *= 0`);
//! - the graph's output, the stem's spectrogram, is padded with zero bins and inverted (centred
//!   iSTFT, window-square normalised); chunks are overlap-added with symmetric Hann weights
//!   (`np.hanning` over each chunk; none at overlap 0) and divided by the summed weights; the
//!   `trim` lead is dropped,
//!   the result cut to the input's length and multiplied by the compensation factor.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use super::SeparateError;
use crate::audio::periodic_hann;
use crate::inference::{Convention, InferenceError, ModelPack, ModelSession};

/// Samples between STFT frames in every MDX-Net model.
pub const MDX_HOP: usize = 1024;
/// The share of a chunk that the next one overlaps, unless a manifest sets `params.overlap`.
/// UVR's 0.25 rather than its "Default" (an overlap of just `n_fft` samples): there both chunks
/// weigh about the same where each sees the edge of its reflect-padded STFT: with the low-pass
/// test graph (`core/tests/separate_packs.rs`) a two-tone mix separates to -58 ... -76 dB there,
/// and to -75 ... -97 dB at 0.25, for a third more graph runs.
pub const DEFAULT_OVERLAP: f64 = 0.25;
/// Low bins zeroed before the graph (UVR's `spek[:, :, :3, :] *= 0`).
const ZEROED_BINS: usize = 3;

/// One opened `mdx` graph with its manifest numbers.
pub(crate) struct MdxModel {
    session: Arc<ModelSession>,
    input: String,
    output: String,
    n_fft: usize,
    dim_f: usize,
    dim_t: usize,
    compensation: f32,
    /// Samples between chunk starts, and whether chunks are Hann-weighted.
    step: usize,
    weighted: bool,
    window: Vec<f32>,
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
}

impl MdxModel {
    /// Opens the pack's one `.onnx` file and checks its graph against the manifest's `dim_f` and
    /// `dim_t`.
    pub(crate) fn load(pack: &ModelPack) -> Result<Self, SeparateError> {
        let manifest = pack.manifest();
        let file = single_onnx(pack)?;
        let path = pack.files_dir().join(&file);
        let param = |key: &str| manifest.params.get(key).copied();
        // The manifest check already required these to be positive integers.
        let n_fft = param("n_fft").unwrap_or(0.0) as usize;
        let dim_f = param("dim_f").unwrap_or(0.0) as usize;
        let dim_t = param("dim_t").unwrap_or(0.0) as usize;
        let compensation = param("compensation").unwrap_or(1.0) as f32;
        let fail = |reason: String| SeparateError::Pack {
            path: pack.manifest_path().to_path_buf(),
            reason,
        };
        let chunk = MDX_HOP * (dim_t.max(1) - 1);
        if !n_fft.is_multiple_of(2) || chunk <= n_fft {
            return Err(fail(format!(
                "params: n_fft must be even and a chunk of {MDX_HOP} x (dim_t - 1) samples \
                 longer than n_fft (n_fft {n_fft}, dim_t {dim_t})"
            )));
        }
        let overlap = param("overlap").unwrap_or(DEFAULT_OVERLAP);
        if !(0.0..=0.99).contains(&overlap) {
            return Err(fail(format!(
                "params.overlap must be between 0 and 0.99, got {overlap}"
            )));
        }
        let step = (((1.0 - overlap) * chunk as f64) as usize).max(1);
        let session = pack.open_session(&file.to_string_lossy())?;
        let signature = session.signature();
        let input = &signature.inputs[0];
        let output = &signature.outputs[0];
        for (kind, port) in [("input", input), ("output", output)] {
            for (axis, (want, key)) in [(dim_f, "dim_f"), (dim_t, "dim_t")].into_iter().enumerate()
            {
                if let Some(got) = port.dims[axis + 2]
                    && got != want as u64
                {
                    return Err(InferenceError::ShapeMismatch {
                        path: path.clone(),
                        convention: Convention::Mdx,
                        kind,
                        name: port.name.clone(),
                        expected: format!(
                            "{key} = {want} (from the manifest) on axis {}",
                            axis + 2
                        ),
                        got: format!("{got}"),
                    }
                    .into());
                }
            }
        }
        let mut planner = RealFftPlanner::<f32>::new();
        Ok(Self {
            input: input.name.clone(),
            output: output.name.clone(),
            session,
            n_fft,
            dim_f,
            dim_t,
            compensation,
            step,
            weighted: overlap > 0.0,
            window: periodic_hann(n_fft),
            forward: planner.plan_fft_forward(n_fft),
            inverse: planner.plan_fft_inverse(n_fft),
        })
    }

    /// The model file.
    pub(crate) fn path(&self) -> &Path {
        self.session.path()
    }

    fn chunk(&self) -> usize {
        MDX_HOP * (self.dim_t - 1)
    }

    fn trim(&self) -> usize {
        self.n_fft / 2
    }

    /// Graph runs for a signal of `frames` samples.
    pub(crate) fn runs(&self, frames: usize) -> usize {
        (self.trim() + frames).div_ceil(self.step)
    }

    /// The model's stem of `mix` (44.1 kHz stereo, equal lengths), as long as the mix. Calls
    /// `tick` after every graph run; stops with [`SeparateError::Cancelled`] when `cancel` is set.
    pub(crate) fn run(
        &self,
        mix: &[Vec<f32>; 2],
        tick: &mut dyn FnMut(),
        cancel: &AtomicBool,
    ) -> Result<[Vec<f32>; 2], SeparateError> {
        let len = mix[0].len();
        let (chunk, trim, step) = (self.chunk(), self.trim(), self.step);
        let gen_size = chunk - 2 * trim;
        let padded = trim + len + gen_size + trim - len % gen_size;
        let mut result = [vec![0.0f32; len], vec![0.0f32; len]];
        let mut divider = vec![0.0f32; len];
        let mut spec = vec![0.0f32; 4 * self.dim_f * self.dim_t];
        let mut scratch = Scratch::new(self);
        let mut start = 0;
        while start < trim + len {
            if cancel.load(Ordering::Relaxed) {
                return Err(SeparateError::Cancelled);
            }
            for (c, channel) in mix.iter().enumerate() {
                // The chunk of the padded signal: `trim` zeros, the mix, zeros.
                for (i, x) in scratch.chunk.iter_mut().enumerate() {
                    *x = (start + i)
                        .checked_sub(trim)
                        .and_then(|p| channel.get(p))
                        .copied()
                        .unwrap_or(0.0);
                }
                self.analyse(&mut scratch, &mut spec, c);
            }
            let shape = [1, 4, self.dim_f, self.dim_t];
            let outputs = self.session.run_f32(&self.input, &shape, &spec)?;
            let out = outputs.require(self.path(), &self.output)?;
            if out.shape() != shape {
                return Err(InferenceError::run(
                    self.path(),
                    format!(
                        "output `{}` has shape {:?}, expected {shape:?}",
                        self.output,
                        out.shape()
                    ),
                )
                .into());
            }
            let out = out.as_standard_layout();
            let out = out.as_slice().expect("standard layout is contiguous");
            let actual = chunk.min(padded - start);
            let weights = if self.weighted {
                symmetric_hann(actual)
            } else {
                vec![1.0; actual]
            };
            for (c, result) in result.iter_mut().enumerate() {
                self.synthesise(&mut scratch, out, c);
                for (i, w) in weights.iter().enumerate() {
                    if let Some(p) = (start + i).checked_sub(trim).filter(|&p| p < len) {
                        result[p] += scratch.chunk[i] * w;
                        if c == 0 {
                            divider[p] += w;
                        }
                    }
                }
            }
            tick();
            start += step;
        }
        for result in &mut result {
            for (x, d) in result.iter_mut().zip(&divider) {
                *x = if *d > 0.0 {
                    *x / d * self.compensation
                } else {
                    0.0
                };
            }
        }
        Ok(result)
    }

    /// The centred, reflect-padded STFT of `scratch.chunk` into channel pair `c` of `spec`.
    fn analyse(&self, s: &mut Scratch, spec: &mut [f32], c: usize) {
        let (n, half) = (self.n_fft, self.n_fft / 2);
        let len = s.chunk.len();
        let plane = self.dim_f * self.dim_t;
        for t in 0..self.dim_t {
            for (i, (f, w)) in s.frame.iter_mut().zip(&self.window).enumerate() {
                let q = (t * MDX_HOP + i) as isize - half as isize;
                *f = s.chunk[reflect(q, len)] * w;
            }
            self.forward
                .process_with_scratch(&mut s.frame, &mut s.bins, &mut s.fft)
                .expect("buffer sizes come from the plan");
            for (k, z) in s.bins[..self.dim_f].iter().enumerate() {
                let (re, im) = if k < ZEROED_BINS {
                    (0.0, 0.0)
                } else {
                    (z.re, z.im)
                };
                spec[(2 * c) * plane + k * self.dim_t + t] = re;
                spec[(2 * c + 1) * plane + k * self.dim_t + t] = im;
            }
        }
        debug_assert_eq!(s.frame.len(), n);
    }

    /// The centred iSTFT of channel pair `c` of the graph output into `scratch.chunk`.
    fn synthesise(&self, s: &mut Scratch, out: &[f32], c: usize) {
        let (n, half) = (self.n_fft, self.n_fft / 2);
        let plane = self.dim_f * self.dim_t;
        s.acc.fill(0.0);
        for t in 0..self.dim_t {
            s.bins.fill(Complex32::default());
            for (k, z) in s.bins[..self.dim_f].iter_mut().enumerate() {
                *z = Complex32::new(
                    out[(2 * c) * plane + k * self.dim_t + t],
                    out[(2 * c + 1) * plane + k * self.dim_t + t],
                );
            }
            s.bins[0].im = 0.0;
            s.bins[half].im = 0.0;
            self.inverse
                .process_with_scratch(&mut s.bins, &mut s.frame, &mut s.fft)
                .expect("buffer sizes come from the plan");
            for ((a, x), w) in s.acc[t * MDX_HOP..t * MDX_HOP + n]
                .iter_mut()
                .zip(&s.frame)
                .zip(&self.window)
            {
                *a += x * w / n as f32;
            }
        }
        for (i, y) in s.chunk.iter_mut().enumerate() {
            let e = s.envelope[i + half];
            *y = if e > 1e-11 { s.acc[i + half] / e } else { 0.0 };
        }
    }
}

/// Buffers reused across chunks.
struct Scratch {
    chunk: Vec<f32>,
    frame: Vec<f32>,
    bins: Vec<Complex32>,
    fft: Vec<Complex32>,
    /// The overlap-add of the centred frames (`chunk + n_fft` long) and its window-square sum.
    acc: Vec<f32>,
    envelope: Vec<f32>,
}

impl Scratch {
    fn new(m: &MdxModel) -> Self {
        let n = m.n_fft;
        let padded = m.chunk() + n;
        let mut envelope = vec![0.0f32; padded];
        for t in 0..m.dim_t {
            for (e, w) in envelope[t * MDX_HOP..t * MDX_HOP + n]
                .iter_mut()
                .zip(&m.window)
            {
                *e += w * w;
            }
        }
        Self {
            chunk: vec![0.0; m.chunk()],
            frame: vec![0.0; n],
            bins: vec![Complex32::default(); n / 2 + 1],
            fft: vec![
                Complex32::default();
                m.forward.get_scratch_len().max(m.inverse.get_scratch_len())
            ],
            acc: vec![0.0; padded],
            envelope,
        }
    }
}

/// The index `q` of a signal of `len` samples reflected at both ends (`x[-k] = x[k]`, as
/// `torch.stft(center=True)` and `pad1d(mode="reflect")` pad).
pub(crate) fn reflect(q: isize, len: usize) -> usize {
    if len < 2 {
        return 0;
    }
    let last = len as isize - 1;
    let mut q = q;
    while q < 0 || q > last {
        q = if q < 0 { -q } else { 2 * last - q };
    }
    q as usize
}

/// The symmetric Hann window (`np.hanning(n)`; `[1]` for one sample).
fn symmetric_hann(n: usize) -> Vec<f32> {
    if n == 1 {
        return vec![1.0];
    }
    (0..n)
        .map(|i| (0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / (n - 1) as f64).cos()) as f32)
        .collect()
}

/// The one `.onnx` file of a single-graph pack.
pub(crate) fn single_onnx(pack: &ModelPack) -> Result<PathBuf, SeparateError> {
    let files: Vec<&PathBuf> = pack.onnx_files().map(|f| &f.path).collect();
    match files[..] {
        [file] => Ok(file.clone()),
        _ => Err(SeparateError::Pack {
            path: pack.manifest_path().to_path_buf(),
            reason: format!(
                "a `{}` pack holds exactly one .onnx file, this one lists {}",
                pack.manifest().convention,
                files.len()
            ),
        }),
    }
}
