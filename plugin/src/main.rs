//! The Mixsmith standalone runner: the plugin with its own audio backend (JACK, ALSA or a dummy
//! backend for headless machines), e.g. `mixsmith-standalone --backend dummy`.

fn main() {
    nice_plug::prelude::nice_export_standalone::<mixsmith_plugin::Mixsmith>();
}
