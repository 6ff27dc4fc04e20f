//! The Mixsmith plugin suite as CLAP and VST3 plugins (and standalone runners), on nice-plug:
//! [`Mixsmith`] (analysis, reference mastering, generation) and [`MixsmithStems`] (stem
//! separation) and [`MixsmithVoice`] (voice conversion), each in its own folder, sharing the editor's shell and the suite's pieces.

use nice_plug::prelude::*;

mod editor;
pub mod mixsmith;
pub mod stems;
mod suite;
#[cfg(test)]
mod test_support;
pub mod voice;

pub use mixsmith::Mixsmith;
pub use stems::MixsmithStems;
pub use voice::MixsmithVoice;

nice_export_clap!(Mixsmith, MixsmithStems, MixsmithVoice);
nice_export_vst3!(Mixsmith, MixsmithStems, MixsmithVoice);
