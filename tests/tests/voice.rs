//! Mixsmith Voice in the CLAP and VST3 hosts. Every scenario runs in a child process (see
//! `mixsmith_tests::isolate`): the debug bundle aborts on an allocation in `process()`.

use anyhow::{Result, ensure};
use mixsmith_tests::isolated_test;
use mixsmith_tests::voice_scenarios::{
    self as voice, ClapVoice, VoiceHost, Vst3Voice, sine_pack, test_profile, test_voice,
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

/// Offline and realtime alike (the converter runs on the audio thread), transposed or not, the
/// render is the CLI's.
fn clap_render_equals_cli() -> Result<()> {
    let profile = test_profile(48_000.0)?;
    let work = tempfile::tempdir()?;
    for (offline, transpose) in [(true, 0.0), (false, 0.0), (false, 7.0)] {
        let mut host = ClapVoice::new(48_000.0, 512, offline, Some(&profile), None)?;
        voice::offline_render_equals_the_cli(
            &mut host,
            &profile,
            transpose,
            48_000.0,
            work.path(),
        )?;
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
    for transpose in [0.0, -5.0] {
        let mut host = Vst3Voice::new(44_100.0, 512, true, Some(&profile))?;
        voice::offline_render_equals_the_cli(
            &mut host,
            &profile,
            transpose,
            44_100.0,
            work.path(),
        )?;
    }
    Ok(())
}
isolated_test!(vst3_render_equals_cli);

fn vst3_amount_automation() -> Result<()> {
    let profile = test_profile(48_000.0)?;
    let mut host = Vst3Voice::new(48_000.0, 480, true, Some(&profile))?;
    voice::amount_automation_returns_to_the_dry_voice(&mut host, 48_000.0)
}
isolated_test!(vst3_amount_automation);

/// An RVC pack named in the state: the offline render is `mixsmith voice convert --model`'s;
/// realtime (faster than real time here, so the worker falls behind and late blocks are the
/// delayed dry signal) runs under the allocation check too.
fn clap_pack_render_equals_cli() -> Result<()> {
    let work = tempfile::tempdir()?;
    let pack = sine_pack(&work.path().join("pack"))?;
    let mut host = ClapVoice::with_pack(48_000.0, 512, true, None, None, Some(&pack))?;
    voice::pack_render_equals_the_cli(&mut host, &pack, 48_000.0, work.path())?;
    let mut live = ClapVoice::with_pack(48_000.0, 512, false, None, None, Some(&pack))?;
    let input = test_voice(48_000.0);
    let blocks = mixsmith_tests::signal::fixed_blocks(input[0].len(), 512);
    let output = live.process(&input, &blocks, &[])?;
    ensure!(output.iter().flatten().all(|x| x.is_finite()));
    Ok(())
}
isolated_test!(clap_pack_render_equals_cli);

/// A pack folder that does not exist leaves the DSP converter running: without a profile the
/// voice passes delayed by its few milliseconds.
fn clap_missing_pack_keeps_the_dsp_path() -> Result<()> {
    let work = tempfile::tempdir()?;
    let missing = work.path().join("no pack here");
    let mut host = ClapVoice::with_pack(48_000.0, 512, false, None, None, Some(&missing))?;
    voice::passes_delayed_without_a_profile(&mut host, 48_000.0)
}
isolated_test!(clap_missing_pack_keeps_the_dsp_path);

fn vst3_pack_render_equals_cli() -> Result<()> {
    let work = tempfile::tempdir()?;
    let pack = sine_pack(&work.path().join("pack"))?;
    let mut host = Vst3Voice::with_pack(44_100.0, 512, true, None, Some(&pack))?;
    voice::pack_render_equals_the_cli(&mut host, &pack, 44_100.0, work.path())
}
isolated_test!(vst3_pack_render_equals_cli);
