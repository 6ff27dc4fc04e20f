//! Mixsmith Voice in the CLAP and VST3 hosts. Every scenario runs in a child process (see
//! `mixsmith_tests::isolate`): the debug bundle aborts on an allocation in `process()`.

use anyhow::{Result, ensure};
use mixsmith_tests::isolated_test;
use mixsmith_tests::voice_scenarios::{
    self as voice, ClapVoice, VoiceHost, Vst3Voice, test_profile, test_voice,
};

/// Without a profile the voice passes delayed; below 8 kHz, where the converter does not run,
/// it passes unchanged with no latency.
fn clap_dry_without_profile() -> Result<()> {
    for rate in [44_100.0, 48_000.0, 4_000.0] {
        voice::passes_delayed_without_a_profile(
            &mut ClapVoice::new(rate, 512, false, None, None)?,
            rate,
        )?;
    }
    Ok(())
}
isolated_test!(clap_dry_without_profile);

/// Offline and realtime alike (the converter runs on the audio thread), the render is the CLI's.
fn clap_render_equals_cli() -> Result<()> {
    let profile = test_profile(48_000.0)?;
    let work = tempfile::tempdir()?;
    for offline in [true, false] {
        let mut host = ClapVoice::new(48_000.0, 512, offline, Some(&profile), None)?;
        voice::offline_render_equals_the_cli(&mut host, &profile, 48_000.0, work.path())?;
    }
    Ok(())
}
isolated_test!(clap_render_equals_cli);

fn clap_amount_automation() -> Result<()> {
    let profile = test_profile(48_000.0)?;
    let mut host = ClapVoice::new(48_000.0, 480, true, Some(&profile), None)?;
    voice::amount_automation_returns_to_the_dry_voice(&mut host, 48_000.0)
}
isolated_test!(clap_amount_automation);

/// The profile lives in the saved state: a new instance loaded from it sounds the same.
fn clap_state_round_trip() -> Result<()> {
    let profile = test_profile(48_000.0)?;
    let mut first = ClapVoice::new(48_000.0, 512, true, Some(&profile), None)?;
    let blob = first.save_state()?;
    let input = test_voice(48_000.0);
    let blocks = mixsmith_tests::signal::fixed_blocks(input[0].len(), 512);
    let a = first.process(&input, &blocks, &[])?;
    let mut second = ClapVoice::new(48_000.0, 512, true, None, Some(&blob))?;
    let b = second.process(&input, &blocks, &[])?;
    ensure!(a == b, "the reloaded instance renders differently");
    Ok(())
}
isolated_test!(clap_state_round_trip);

fn vst3_dry_without_profile() -> Result<()> {
    voice::passes_delayed_without_a_profile(
        &mut Vst3Voice::new(48_000.0, 512, false, None)?,
        48_000.0,
    )
}
isolated_test!(vst3_dry_without_profile);

fn vst3_render_equals_cli() -> Result<()> {
    let profile = test_profile(44_100.0)?;
    let work = tempfile::tempdir()?;
    let mut host = Vst3Voice::new(44_100.0, 512, true, Some(&profile))?;
    voice::offline_render_equals_the_cli(&mut host, &profile, 44_100.0, work.path())
}
isolated_test!(vst3_render_equals_cli);

fn vst3_amount_automation() -> Result<()> {
    let profile = test_profile(48_000.0)?;
    let mut host = Vst3Voice::new(48_000.0, 480, true, Some(&profile))?;
    voice::amount_automation_returns_to_the_dry_voice(&mut host, 48_000.0)
}
isolated_test!(vst3_amount_automation);
