//! The Mixsmith Stems standalone runner: the Stems plugin with its own audio backend (JACK, ALSA
//! or a dummy backend for headless machines), e.g. `mixsmith-stems-standalone --backend dummy`.

fn main() {
    nice_plug::prelude::nice_export_standalone::<mixsmith_plugin::MixsmithStems>();
}
