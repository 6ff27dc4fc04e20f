//! The Mixsmith Voice standalone runner: the Voice plugin with its own audio backend (JACK, ALSA
//! or a dummy backend for headless machines), e.g. `mixsmith-voice-standalone --backend dummy`.

fn main() {
    nice_plug::prelude::nice_export_standalone::<mixsmith_plugin::MixsmithVoice>();
}
