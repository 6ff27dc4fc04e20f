//! Model packs over signals of any length in bounded memory: the signal is separated in
//! sections that overlap by a cross-fade.
//!
//! Section `k` takes input frames `[k S, (k + 1) S + F)` (`S` the section, `F` the fade) and
//! is separated whole by [`PackSeparator::separate_whole`]; over the `F` frames two sections
//! share, the stems cross-fade from the earlier section's to the later one's with raised-cosine
//! weights that add up to one, so the stems still add up to the input. Each section is faded
//! in where it lacks left context and out where it lacks right context, so the models' edges
//! are never heard at full weight. A signal no longer than `S + F` is one section: the same as
//! separating it whole.

use std::sync::atomic::AtomicBool;

use super::pack::MODEL_RATE;
use super::{PackSeparator, STEMS, SeparateError, StemLayout};
use crate::audio::AudioReader;

/// Default seconds of input per section (a whole 3-minute song is one section).
pub const PACK_SECTION_SECONDS: f32 = 180.0;
/// Default seconds two consecutive sections share and cross-fade over (longer than any
/// supported model's window, so each section's seams are faded out).
pub const PACK_FADE_SECONDS: f32 = 10.0;

/// Section and fade lengths, in seconds of input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Sections {
    /// Seconds between the starts of consecutive sections.
    pub section: f32,
    /// Seconds two consecutive sections share.
    pub fade: f32,
}

impl Sections {
    /// `(section, fade)` in frames at `sample_rate`, at least one each.
    fn frames(self, sample_rate: u32) -> (usize, usize) {
        let frames = |seconds: f32| ((seconds * sample_rate as f32) as usize).max(1);
        (frames(self.section), frames(self.fade))
    }
}

impl Default for Sections {
    fn default() -> Self {
        Self {
            section: PACK_SECTION_SECONDS,
            fade: PACK_FADE_SECONDS,
        }
    }
}

/// Where [`PackSeparator::separate_stream`] puts the stems of a section (in
/// [`Stem::ALL`](super::Stem::ALL) order, planar) and how many of their leading frames are
/// final.
pub type SectionSink<'a> =
    dyn FnMut(&[Vec<Vec<f32>>; STEMS], usize) -> Result<(), SeparateError> + 'a;

/// Where [`PackSeparator::separate_stream`] gets its input.
pub trait SectionSource {
    /// Appends frames to `audio` (one plane per channel) until each plane holds at least
    /// `frames` or the input ends; returns whether it ended.
    fn fill(&mut self, audio: &mut [Vec<f32>], frames: usize) -> Result<bool, SeparateError>;
}

impl PackSeparator {
    /// Separates a signal of any length from `source` (`channels` planes at `sample_rate`) in
    /// sections (see the module documentation), holding about one section in memory. `write`
    /// gets each section's stems, in order; their final frames cover the input exactly.
    /// `progress(done)` counts input frames done. Returns the frames separated.
    #[allow(clippy::too_many_arguments)]
    pub fn separate_stream(
        &self,
        source: &mut dyn SectionSource,
        sample_rate: u32,
        channels: usize,
        layout: StemLayout,
        write: &mut SectionSink,
        progress: &mut dyn FnMut(u64),
        cancel: &AtomicBool,
    ) -> Result<u64, SeparateError> {
        if channels == 0 || !(1000..=768_000).contains(&sample_rate) {
            return Err(SeparateError::Unsupported {
                channels,
                sample_rate,
            });
        }
        let (section, fade) = self.sections.frames(sample_rate);
        let weights = fade_in_weights(fade);
        let mut input = vec![Vec::new(); channels];
        let mut carry: Option<[Vec<Vec<f32>>; STEMS]> = None;
        let mut done = 0u64;
        loop {
            let ended = source.fill(&mut input, section + fade)?;
            let available = input.first().map_or(0, Vec::len);
            let frames = if ended { available } else { section + fade };
            if frames == 0 {
                break;
            }
            let part: Vec<Vec<f32>> = input.iter().map(|c| c[..frames].to_vec()).collect();
            // The last `fade` frames of all but the last section are final only after the next.
            let finished = (frames - if ended { 0 } else { fade }) as u64;
            let mut stems = self.separate_whole(
                &part,
                sample_rate,
                layout,
                &mut |step, steps| progress(done + finished * step as u64 / steps.max(1) as u64),
                cancel,
            )?;
            drop(part);
            if let Some(previous) = carry.take() {
                cross_fade(&previous, &mut stems, &weights);
            }
            write(&stems, finished as usize)?;
            done += finished;
            if ended {
                break;
            }
            carry = Some(stems.map(|stem| {
                stem.into_iter()
                    .map(|channel| channel[frames - fade..].to_vec())
                    .collect()
            }));
            for channel in &mut input {
                channel.drain(..section);
            }
        }
        Ok(done)
    }

    /// How many graph runs separating `frames` frames of `channels` channels at
    /// `sample_rate` takes, over every section and channel pair (for another rate than the
    /// models', to within a run of the resampled length's rounding).
    pub fn graph_runs(&self, frames: usize, sample_rate: u32, channels: usize) -> usize {
        let (section, fade) = self.sections.frames(sample_rate);
        let pairs = channels.div_ceil(2);
        let mut runs = 0;
        let mut start = 0;
        while start < frames {
            let length = (frames - start).min(section + fade);
            let model_frames =
                (length as u64 * u64::from(MODEL_RATE)).div_ceil(u64::from(sample_rate)) as usize;
            runs += pairs * self.runs_at_model_rate(model_frames);
            if frames - start <= section + fade {
                break;
            }
            start += section;
        }
        runs
    }
}

/// Raised-cosine fade-in weights over `frames`, `sin²` of a quarter period: with their
/// complements (`cos²`) they add up to one.
fn fade_in_weights(frames: usize) -> Vec<f32> {
    (0..frames)
        .map(|i| {
            let phase = std::f64::consts::FRAC_PI_2 * (i as f64 + 0.5) / frames as f64;
            phase.sin().powi(2) as f32
        })
        .collect()
}

/// Cross-fades the start of `stems` from `previous` (the earlier section's last frames).
fn cross_fade(previous: &[Vec<Vec<f32>>; STEMS], stems: &mut [Vec<Vec<f32>>; STEMS], fade: &[f32]) {
    for (stem, before) in stems.iter_mut().zip(previous) {
        for (channel, before) in stem.iter_mut().zip(before) {
            for ((x, b), w) in channel.iter_mut().zip(before).zip(fade) {
                *x = b + (*x - b) * w;
            }
        }
    }
}

/// A file, read block by block.
impl SectionSource for AudioReader {
    fn fill(&mut self, audio: &mut [Vec<f32>], frames: usize) -> Result<bool, SeparateError> {
        while audio.first().map_or(0, Vec::len) < frames {
            let Some(block) = self.next_block()? else {
                return Ok(true);
            };
            for (plane, samples) in audio.iter_mut().zip(block) {
                plane.extend_from_slice(samples);
            }
        }
        Ok(false)
    }
}

/// A [`SectionSource`] over planar audio in memory.
pub(super) struct SliceSource<'a> {
    /// The planes.
    pub audio: &'a [Vec<f32>],
    /// Frames handed out so far.
    pub position: usize,
}

impl SectionSource for SliceSource<'_> {
    fn fill(&mut self, audio: &mut [Vec<f32>], frames: usize) -> Result<bool, SeparateError> {
        let total = self.audio.first().map_or(0, Vec::len);
        let have = audio.first().map_or(0, Vec::len);
        let end = (self.position + frames.saturating_sub(have)).min(total);
        for (out, plane) in audio.iter_mut().zip(self.audio) {
            out.extend_from_slice(&plane[self.position..end]);
        }
        self.position = end;
        Ok(end == total)
    }
}
