//! Separation with model packs (`mdx`, `demucs-onnx`), chained, on a whole signal.
//!
//! Packs run in the order given, each on what the ones before left of the mix (the
//! *remainder*): an `mdx` pack takes its one stem out of it (a pack whose stem is the
//! accompaniment, `instrumental`, gives the vocals as remainder minus its output), a
//! `demucs-onnx` pack takes all four (its `guitar` and `piano` sources go to `other`). So a
//! vocal model followed by an instrumental model on the rest refines the vocals with what the
//! second finds in the accompaniment.
//!
//! The graphs run at 44.1 kHz stereo: other rates are resampled (rubato) and mono is
//! duplicated, and each stem is converted back to the input's rate and channels (stereo
//! averaged for mono). More than two channels are separated a pair at a time (1-2, 3-4, ...;
//! an odd last channel as mono), as the graphs know no other layout. The final remainder, input minus the packs' stems at the input's rate, is
//! what the packs did not claim: where the layout needs a stem no pack gives (e.g. drums after
//! a vocal model), the DSP separator splits the remainder and that stem gets its share; every
//! other part of it goes to `other`. So the stems always add up to the input to float
//! rounding, whatever the graphs output.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use super::demucs::DemucsModel;
use super::mdx::MdxModel;
use super::sections::{Sections, SliceSource};
use super::{DspSeparator, STEMS, SeparateError, Separator, Stem, StemLayout};
use crate::audio::Resampler;
use crate::inference::{Convention, ModelPack, Task};

/// The rate every supported convention runs at.
pub(super) const MODEL_RATE: u32 = 44_100;

/// What an `mdx` pack's output stands for.
struct MdxRole {
    stem: Stem,
    /// The output is everything but `stem` (e.g. an instrumental model for `vocals`).
    complement: bool,
}

enum PackModel {
    Mdx(MdxModel, MdxRole),
    Demucs(DemucsModel),
}

/// One or more model packs run in a chain, with the DSP separator for the stems they do not
/// give (see the module documentation). Loading opens and warms up every graph; separating
/// runs them on the calling thread (one intra-op thread each): call it from a worker.
pub struct PackSeparator {
    models: Vec<PackModel>,
    /// How long signals are cut up (see `sections.rs`).
    pub(super) sections: Sections,
}

impl std::fmt::Debug for PackSeparator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let files: Vec<PathBuf> = self
            .models
            .iter()
            .map(|m| match m {
                PackModel::Mdx(m, _) => m.path().to_path_buf(),
                PackModel::Demucs(m) => m.path().to_path_buf(),
            })
            .collect();
        f.debug_struct("PackSeparator")
            .field("models", &files)
            .finish()
    }
}

impl PackSeparator {
    /// Opens the graphs of `packs` (in chain order) in the process-wide ONNX Runtime, checking
    /// each against its convention and manifest. Fails, naming the file, if there are no packs,
    /// a pack is not a separation pack of a supported convention, names a stem this engine
    /// cannot place, or its graph disagrees with its manifest; and when ONNX Runtime is missing.
    pub fn load(packs: &[ModelPack]) -> Result<Self, SeparateError> {
        if packs.is_empty() {
            return Err(SeparateError::Pack {
                path: PathBuf::new(),
                reason: "no model pack given".to_owned(),
            });
        }
        let models = packs
            .iter()
            .map(|pack| {
                let m = pack.manifest();
                let fail = |reason: String| SeparateError::Pack {
                    path: pack.manifest_path().to_path_buf(),
                    reason,
                };
                if m.task != Task::Separate {
                    return Err(fail(format!(
                        "a `{}` pack, not a separation (`separate`) pack",
                        m.task
                    )));
                }
                match m.convention {
                    Convention::Mdx => {
                        let role = mdx_role(&m.stems[0]).ok_or_else(|| {
                            fail(format!(
                                "stems: an mdx stem must be vocals, drums, bass, other or \
                                 instrumental (the accompaniment), not `{}`",
                                m.stems[0]
                            ))
                        })?;
                        Ok(PackModel::Mdx(MdxModel::load(pack)?, role))
                    }
                    Convention::DemucsOnnx => Ok(PackModel::Demucs(DemucsModel::load(pack)?)),
                    other => Err(fail(format!("the `{other}` convention does not separate"))),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            models,
            sections: Sections::default(),
        })
    }

    /// Separates long signals in sections of `section_seconds` (default
    /// [`PACK_SECTION_SECONDS`](super::PACK_SECTION_SECONDS)) that cross-fade over
    /// `fade_seconds` (default [`PACK_FADE_SECONDS`](super::PACK_FADE_SECONDS)): shorter
    /// sections hold less in memory, and add a seam per section.
    pub fn with_sections(mut self, section_seconds: f32, fade_seconds: f32) -> Self {
        self.sections = Sections {
            section: section_seconds,
            fade: fade_seconds,
        };
        self
    }

    /// The stems the packs give (the others come from the DSP separator).
    pub fn stems(&self) -> Vec<Stem> {
        Stem::ALL
            .into_iter()
            .filter(|s| {
                self.models.iter().any(|m| match m {
                    PackModel::Mdx(_, role) => role.stem == *s,
                    PackModel::Demucs(_) => true,
                })
            })
            .collect()
    }

    /// Separates planar `audio` (any number of channels of equal length at `sample_rate`; more
    /// than two a pair at a time; long signals in sections, see
    /// [`separate_stream`](Self::separate_stream)) into the four stems (in [`Stem::ALL`] order,
    /// each planar like the input and as long), which add up to the input. `layout` says which
    /// stems are wanted: in a two-stem layout whose stem a pack gives, the DSP separator does
    /// not run and the rest of the mix is all in `other`. `progress(done, total)` counts input
    /// frames; `cancel` stops the run between two graph runs with [`SeparateError::Cancelled`].
    pub fn separate(
        &self,
        audio: &[Vec<f32>],
        sample_rate: u32,
        layout: StemLayout,
        progress: &mut dyn FnMut(usize, usize),
        cancel: &AtomicBool,
    ) -> Result<[Vec<Vec<f32>>; STEMS], SeparateError> {
        let channels = audio.len();
        let frames = audio.first().map_or(0, Vec::len);
        let mut stems: [Vec<Vec<f32>>; STEMS] =
            std::array::from_fn(|_| vec![Vec::with_capacity(frames); channels]);
        let mut source = SliceSource { audio, position: 0 };
        self.separate_stream(
            &mut source,
            sample_rate,
            channels,
            layout,
            &mut |part, count| {
                for (stem, part) in stems.iter_mut().zip(part) {
                    for (channel, part) in stem.iter_mut().zip(part) {
                        channel.extend_from_slice(&part[..count]);
                    }
                }
                Ok(())
            },
            &mut |done| progress(done as usize, frames),
            cancel,
        )?;
        Ok(stems)
    }

    /// [`separate`](Self::separate) on one section, whole: planar `audio` (any number of
    /// channels of equal length at `sample_rate`; more than two a pair at a time) into the four
    /// stems (in [`Stem::ALL`] order, each planar like the input and as long), which add
    /// up to the input. `layout` says which stems are wanted: in a two-stem layout whose stem a
    /// pack gives, the DSP separator does not run and the rest of the mix is all in `other`.
    /// `progress(done, total)` counts graph runs (and the DSP pass); `cancel` stops the run
    /// between two of them with [`SeparateError::Cancelled`].
    pub(super) fn separate_whole(
        &self,
        audio: &[Vec<f32>],
        sample_rate: u32,
        layout: StemLayout,
        progress: &mut dyn FnMut(usize, usize),
        cancel: &AtomicBool,
    ) -> Result<[Vec<Vec<f32>>; STEMS], SeparateError> {
        let channels = audio.len();
        let frames = audio.first().map_or(0, Vec::len);
        if channels > 2 {
            return self.separate_in_pairs(audio, sample_rate, layout, progress, cancel);
        }
        if channels == 0
            || !(1000..=768_000).contains(&sample_rate)
            || audio.iter().any(|c| c.len() != frames)
        {
            return Err(SeparateError::Unsupported {
                channels,
                sample_rate,
            });
        }
        let covered = self.stems();
        let wanted: Vec<Stem> = match layout {
            StemLayout::Four => Stem::ALL.to_vec(),
            StemLayout::Two(stem) => vec![stem],
        };
        let dsp_needed = wanted.iter().any(|s| !covered.contains(s));
        let mut rest = to_model(audio, sample_rate)?;
        let model_frames = rest[0].len();
        let total = self.runs_at_model_rate(model_frames) + usize::from(dsp_needed);
        let mut done = 0;
        let mut tick = || {
            done += 1;
            progress(done, total);
        };
        let mut parts: [Option<[Vec<f32>; 2]>; STEMS] = Default::default();
        for model in &self.models {
            match model {
                PackModel::Mdx(model, role) => {
                    let mut part = model.run(&rest, &mut tick, cancel)?;
                    if role.complement {
                        for (p, r) in part.iter_mut().zip(&rest) {
                            p.iter_mut().zip(r).for_each(|(p, r)| *p = r - *p);
                        }
                    }
                    take(&mut rest, &mut parts[role.stem.index()], part);
                }
                PackModel::Demucs(model) => {
                    let stems = model.run(&rest, &mut tick, cancel)?;
                    for (stem, part) in stems.into_iter().enumerate() {
                        take(&mut rest, &mut parts[stem], part);
                    }
                }
            }
        }
        drop(rest);
        let mut stems: [Vec<Vec<f32>>; STEMS] =
            std::array::from_fn(|_| vec![vec![0.0; frames]; channels]);
        let mut remainder = audio.to_vec();
        for (stem, part) in stems.iter_mut().zip(parts) {
            if let Some(part) = part {
                *stem = from_model(part, sample_rate, channels, frames)?;
                for (r, s) in remainder.iter_mut().zip(stem.iter()) {
                    r.iter_mut().zip(s).for_each(|(r, s)| *r -= s);
                }
            }
        }
        if dsp_needed {
            if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(SeparateError::Cancelled);
            }
            let split = dsp_split(&remainder, sample_rate)?;
            for (stem, share) in Stem::ALL.into_iter().zip(split) {
                let to = if wanted.contains(&stem) && !covered.contains(&stem) {
                    stem
                } else {
                    Stem::Other
                };
                add(&mut stems[to.index()], &share);
            }
            tick();
        } else {
            add(&mut stems[Stem::Other.index()], &remainder);
        }
        Ok(stems)
    }

    /// The graph runs separating `model_frames` frames (at the models' rate) takes, every
    /// pack's.
    pub(super) fn runs_at_model_rate(&self, model_frames: usize) -> usize {
        self.models
            .iter()
            .map(|m| match m {
                PackModel::Mdx(m, _) => m.runs(model_frames),
                PackModel::Demucs(m) => m.runs(model_frames),
            })
            .sum()
    }

    /// [`separate_whole`](Self::separate_whole) for more than two channels: each pair of channels (and an
    /// odd last one) on its own, the stems' channels put back in the input's order.
    fn separate_in_pairs(
        &self,
        audio: &[Vec<f32>],
        sample_rate: u32,
        layout: StemLayout,
        progress: &mut dyn FnMut(usize, usize),
        cancel: &AtomicBool,
    ) -> Result<[Vec<Vec<f32>>; STEMS], SeparateError> {
        let groups = audio.len().div_ceil(2);
        let mut stems: [Vec<Vec<f32>>; STEMS] = Default::default();
        for (index, pair) in audio.chunks(2).enumerate() {
            let mut pair_progress =
                |done: usize, total: usize| progress(index * total + done, groups * total);
            let pair_stems =
                self.separate_whole(pair, sample_rate, layout, &mut pair_progress, cancel)?;
            for (stem, part) in stems.iter_mut().zip(pair_stems) {
                stem.extend(part);
            }
        }
        Ok(stems)
    }
}

/// The role of an `mdx` pack's stem name.
fn mdx_role(name: &str) -> Option<MdxRole> {
    match name {
        "instrumental" | "accompaniment" | "no_vocals" => Some(MdxRole {
            stem: Stem::Vocals,
            complement: true,
        }),
        name => name.parse().ok().map(|stem| MdxRole {
            stem,
            complement: false,
        }),
    }
}

/// Moves `part` out of `rest` and adds it to `slot`.
fn take(rest: &mut [Vec<f32>; 2], slot: &mut Option<[Vec<f32>; 2]>, part: [Vec<f32>; 2]) {
    for (r, p) in rest.iter_mut().zip(&part) {
        r.iter_mut().zip(p).for_each(|(r, p)| *r -= p);
    }
    match slot {
        Some(sum) => {
            for (s, p) in sum.iter_mut().zip(&part) {
                s.iter_mut().zip(p).for_each(|(s, p)| *s += p);
            }
        }
        None => *slot = Some(part),
    }
}

fn add(to: &mut [Vec<f32>], from: &[Vec<f32>]) {
    for (t, f) in to.iter_mut().zip(from) {
        t.iter_mut().zip(f).for_each(|(t, f)| *t += f);
    }
}

/// `audio` as 44.1 kHz stereo.
fn to_model(audio: &[Vec<f32>], sample_rate: u32) -> Result<[Vec<f32>; 2], SeparateError> {
    let mut out = if sample_rate == MODEL_RATE {
        audio.to_vec()
    } else {
        let mut resampler = Resampler::new(sample_rate, MODEL_RATE, audio.len())?;
        let mut out = vec![Vec::new(); audio.len()];
        resampler.process(audio, &mut out)?;
        resampler.finish(&mut out)?;
        out
    };
    let left = out.remove(0);
    let right = out.pop().unwrap_or_else(|| left.clone());
    Ok([left, right])
}

/// A 44.1 kHz stereo stem at `sample_rate` with `channels` channels (1: the average), exactly
/// `frames` long.
fn from_model(
    stem: [Vec<f32>; 2],
    sample_rate: u32,
    channels: usize,
    frames: usize,
) -> Result<Vec<Vec<f32>>, SeparateError> {
    let [left, right] = stem;
    let planes = if channels == 1 {
        vec![
            left.iter()
                .zip(&right)
                .map(|(l, r)| 0.5 * (l + r))
                .collect(),
        ]
    } else {
        vec![left, right]
    };
    let mut out = if sample_rate == MODEL_RATE {
        planes
    } else {
        let mut resampler = Resampler::new(MODEL_RATE, sample_rate, channels)?;
        let mut out = vec![Vec::new(); channels];
        resampler.process(&planes, &mut out)?;
        resampler.finish(&mut out)?;
        out
    };
    for channel in &mut out {
        channel.resize(frames, 0.0);
    }
    Ok(out)
}

/// The DSP separator's four stems of `audio`, aligned with it.
fn dsp_split(
    audio: &[Vec<f32>],
    sample_rate: u32,
) -> Result<[Vec<Vec<f32>>; STEMS], SeparateError> {
    const BLOCK: usize = 1024;
    let channels = audio.len();
    let frames = audio[0].len();
    let mut dsp = DspSeparator::new(sample_rate, channels)?;
    let latency = dsp.latency();
    let mut out: [Vec<Vec<f32>>; STEMS] =
        std::array::from_fn(|_| vec![Vec::with_capacity(frames); channels]);
    let mut block: [Vec<Vec<f32>>; STEMS] = std::array::from_fn(|_| vec![Vec::new(); channels]);
    let zeros = vec![0.0f32; BLOCK];
    let mut fed = 0;
    while fed < frames + latency {
        let n = BLOCK.min(frames + latency - fed);
        let planes: Vec<&[f32]> = audio
            .iter()
            .map(|c| {
                if fed + n <= frames {
                    &c[fed..fed + n]
                } else if fed < frames {
                    &c[fed..frames]
                } else {
                    &zeros[..n]
                }
            })
            .collect();
        let n = planes[0].len();
        dsp.process(&planes, &mut block);
        // Output sample `fed + i` stands for input sample `fed + i - latency`.
        let skip = latency.saturating_sub(fed).min(n);
        let keep = (frames + latency).saturating_sub(fed).min(n);
        for (o, b) in out.iter_mut().zip(&block) {
            for (oc, bc) in o.iter_mut().zip(b) {
                oc.extend_from_slice(&bc[skip..keep.max(skip)]);
            }
        }
        fed += n;
    }
    Ok(out)
}
