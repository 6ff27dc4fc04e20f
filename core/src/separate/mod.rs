//! Stem separation: vocals, drums, bass and other, from any mix.
//!
//! A [`Separator`] streams planar audio in and the four stems out, a fixed
//! [`latency`](Separator::latency) behind, and the stems always add up to the input (to float
//! rounding), so nothing of the mix is lost whatever the separation gets wrong.
//! [`DspSeparator`] is the default that needs no model (see `dsp.rs`). [`separate_file`]
//! runs one over a whole file in constant memory and writes one WAV per stem, or per stem and
//! its complement in a two-stem [`StemLayout`]. [`PackSeparator`] runs model packs (UVR
//! MDX-Net `mdx`, HTDemucs `demucs-onnx`) over a whole signal ("analyse ahead"), and
//! [`separate_file_with`] runs it over a file.

pub mod ahead;
mod demucs;
mod dsp;
mod file;
mod known;
mod live;
mod mdx;
mod median;
mod pack;
mod sections;

#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

pub use demucs::SEGMENT as DEMUCS_SEGMENT;
pub use dsp::DspSeparator;
pub use file::{SeparateSummary, StemFile, separate_file, separate_file_with, write_stems};
pub use known::{KnownMdxModel, known_mdx_model, known_mdx_models, uvr_model_hash};
pub use live::{LIVE_ORDER, LiveSeparator};
pub use mdx::MDX_HOP;
pub use pack::PackSeparator;
pub use sections::{PACK_FADE_SECONDS, PACK_SECTION_SECONDS, SectionSink, SectionSource};

use crate::audio::AudioError;
use crate::inference::InferenceError;

/// The number of stems a [`Separator`] produces.
pub const STEMS: usize = 4;

/// One part of a mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stem {
    /// The lead voice (and whatever shares its place: centred, harmonic, mid-range).
    Vocals,
    /// Drums and percussion.
    Drums,
    /// The bass.
    Bass,
    /// Everything else.
    Other,
}

impl Stem {
    /// Every stem, in output order.
    pub const ALL: [Stem; STEMS] = [Stem::Vocals, Stem::Drums, Stem::Bass, Stem::Other];

    /// The stem's index in [`Stem::ALL`] and in a separator's output.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The stem's name, as in file names and on the command line (`"vocals"`).
    pub fn name(self) -> &'static str {
        match self {
            Stem::Vocals => "vocals",
            Stem::Drums => "drums",
            Stem::Bass => "bass",
            Stem::Other => "other",
        }
    }
}

impl fmt::Display for Stem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Stem {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Stem::ALL
            .into_iter()
            .find(|stem| stem.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown stem `{s}` (vocals, drums, bass or other)"))
    }
}

/// Which files a separation writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StemLayout {
    /// The four stems.
    Four,
    /// One stem and its complement (the mix without it, `no_<stem>`), e.g. vocals and
    /// accompaniment.
    Two(Stem),
}

impl StemLayout {
    /// The output names, in order: `["vocals", "drums", "bass", "other"]` or e.g.
    /// `["vocals", "no_vocals"]`.
    pub fn names(self) -> Vec<String> {
        match self {
            StemLayout::Four => Stem::ALL.iter().map(|s| s.name().to_owned()).collect(),
            StemLayout::Two(stem) => vec![stem.name().to_owned(), format!("no_{stem}")],
        }
    }
}

/// A streaming stem separator.
pub trait Separator: Send {
    /// The channel count it separates.
    fn channels(&self) -> usize;

    /// Frames between an input sample and the stems' sample for it.
    fn latency(&self) -> usize;

    /// Forgets everything heard (the output starts with `latency` frames of silence again).
    fn reset(&mut self);

    /// Separates a planar block (one slice per channel, equal lengths): `stems[s][c]` becomes
    /// exactly as long as the input, holding stem `s` (in [`Stem::ALL`] order) of channel `c`
    /// [`latency`](Self::latency) frames behind it. The four stems add up to the input
    /// delayed by the latency.
    fn process(&mut self, input: &[&[f32]], stems: &mut [Vec<Vec<f32>>; STEMS]);
}

/// Runs `separator` over the whole of `input` (planar) in blocks of `block` frames and returns
/// the four stems aligned with it (the latency removed), each as long as the input.
pub fn separate_buffer(
    separator: &mut dyn Separator,
    input: &[Vec<f32>],
    block: usize,
) -> [Vec<Vec<f32>>; STEMS] {
    let channels = input.len();
    let frames = input.first().map_or(0, Vec::len);
    let latency = separator.latency();
    let mut stems: [Vec<Vec<f32>>; STEMS] = std::array::from_fn(|_| vec![Vec::new(); channels]);
    let mut out: [Vec<Vec<f32>>; STEMS] =
        std::array::from_fn(|_| vec![Vec::with_capacity(frames + latency); channels]);
    let mut pos = 0;
    while pos < frames + latency {
        let n = block.max(1).min(frames + latency - pos);
        let planes: Vec<Vec<f32>> = input
            .iter()
            .map(|c| {
                (pos..pos + n)
                    .map(|i| c.get(i).copied().unwrap_or(0.0))
                    .collect()
            })
            .collect();
        let planes: Vec<&[f32]> = planes.iter().map(Vec::as_slice).collect();
        separator.process(&planes, &mut stems);
        for (o, s) in out.iter_mut().zip(&stems) {
            for (oc, sc) in o.iter_mut().zip(s) {
                debug_assert_eq!(sc.len(), n, "a stem block as long as the input block");
                oc.extend_from_slice(sc);
            }
        }
        pos += n;
    }
    out.map(|stem| stem.into_iter().map(|c| c[latency..].to_vec()).collect())
}

/// Why a separation failed.
#[derive(Debug, thiserror::Error)]
pub enum SeparateError {
    /// The input could not be read or an output not written.
    #[error(transparent)]
    Audio(#[from] AudioError),
    /// The separator does not support this channel count or sample rate.
    #[error(
        "cannot separate {channels} channels at {sample_rate} Hz (1 to 64 channels, 1 to 768 kHz)"
    )]
    Unsupported {
        /// The input's channel count.
        channels: usize,
        /// The input's sample rate in Hz.
        sample_rate: u32,
    },
    /// The input holds no audio frames.
    #[error("{0}: no audio frames (duration 0): nothing to separate")]
    Empty(String),
    /// The run was cancelled; nothing was written under a final name.
    #[error("cancelled")]
    Cancelled,
    /// A model pack could not be loaded or run (the message names the file).
    #[error(transparent)]
    Model(#[from] InferenceError),
    /// A model pack cannot be used for separation.
    #[error("{}: {reason}", .path.display())]
    Pack {
        /// The pack's manifest.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// An output folder could not be made or a finished file not moved into place.
    #[error("{path}: {source}")]
    Io {
        /// The folder or file.
        path: String,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
}
