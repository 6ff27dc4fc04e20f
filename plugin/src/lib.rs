//! The Mixsmith plugin suite as CLAP and VST3 plugins (and standalone runners), on nice-plug:
//! [`Mixsmith`] (analysis, reference mastering, generation) and [`MixsmithStems`] (stem
//! separation), each in its own folder, sharing the editor's shell and the suite's pieces.

use nice_plug::prelude::*;

mod editor;
pub mod mixsmith;
pub mod stems;
mod suite;
#[cfg(test)]
mod test_support;

pub use mixsmith::Mixsmith;
pub use stems::MixsmithStems;

nice_export_clap!(Mixsmith, MixsmithStems);
nice_export_vst3!(Mixsmith, MixsmithStems);
