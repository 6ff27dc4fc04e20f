//! The Mixsmith VST3 bundle in a VST3 host (vst3-host, in-process). Every scenario runs in a
//! child process (see `mixsmith_tests::isolate`): the debug bundle aborts on an allocation in
//! `process()`.

use anyhow::{Result, ensure};
use mixsmith_tests::harness::{self, TestHost, Vst3UnderTest};
use mixsmith_tests::isolated_test;
use mixsmith_tests::master_scenarios;
use mixsmith_tests::spec;

fn stereo() -> Result<Vst3UnderTest> {
    Vst3UnderTest::new(48_000.0, 512, 2)
}

/// Loading, parameters by name, the latency after the restart handshake.
fn activation_and_params() -> Result<()> {
    let mut host = stereo()?;
    ensure!(
        host.plugin.name() == "Mixsmith",
        "plugin name {:?}",
        host.plugin.name()
    );
    let params = host.plugin.params()?;
    for (id, name) in [
        ("gain", spec::GAIN_NAME),
        ("bypass", spec::BYPASS_NAME),
        ("mode", "Mode"),
    ] {
        ensure!(
            host.plugin.param_id(name)? == spec::param_hash(id),
            "parameter {name:?} should have id hash({id}) = {}; the plugin has {params:?}",
            spec::param_hash(id)
        );
    }
    // Set by name, read back by id, formatted by the plugin. While processing, nice-plug takes
    // parameter changes from the process call, so one block runs before reading back.
    let gain = spec::param_hash("gain");
    host.plugin
        .set_param_by_name(spec::GAIN_NAME, spec::gain_normalized(-6.0))?;
    host.plugin.process(&vec![vec![0.0; 512]; 2], &[512], &[])?;
    let value = host.plugin.param_value(gain)?;
    ensure!(
        (value - spec::gain_normalized(-6.0)).abs() < 1e-6,
        "gain reads back {value}"
    );
    let text = host.plugin.format_param(gain, value)?;
    ensure!(text.contains("-6"), "gain -6 dB formats as {text:?}");
    harness::figure(format!(
        "VST3 restarts serviced after start: {}, gain text {text:?}",
        host.plugin.restarts_serviced()
    ));
    ensure!(
        host.latency()? == spec::expected_latency(512, host.sample_rate()),
        "latency {} after start",
        host.latency()?
    );
    Ok(())
}
isolated_test!(activation_and_params);

fn realtime_delay_and_gain() -> Result<()> {
    harness::delay_and_gain(&mut stereo()?, false)
}
isolated_test!(realtime_delay_and_gain);

fn offline_delay_and_gain() -> Result<()> {
    harness::delay_and_gain(&mut stereo()?, true)
}
isolated_test!(offline_delay_and_gain);

fn gain_automation() -> Result<()> {
    harness::gain_automation(&mut stereo()?)
}
isolated_test!(gain_automation);

fn gain_automation_offline() -> Result<()> {
    let mut host = stereo()?;
    host.set_offline(true)?;
    harness::gain_automation(&mut host)
}
isolated_test!(gain_automation_offline);

fn bypass() -> Result<()> {
    harness::bypass(&mut stereo()?)
}
isolated_test!(bypass);

fn state_round_trip() -> Result<()> {
    harness::state_round_trip(&mut stereo()?, &|| {
        Ok(Box::new(stereo()?) as Box<dyn TestHost>)
    })
}
isolated_test!(state_round_trip);

fn state_old_version() -> Result<()> {
    harness::state_old_version(&mut stereo()?)
}
isolated_test!(state_old_version);

fn state_corrupt_session() -> Result<()> {
    harness::state_corrupt_session(&mut stereo()?)
}
isolated_test!(state_corrupt_session);

fn state_corrupt_blob() -> Result<()> {
    harness::state_corrupt_blob(&mut stereo()?)
}
isolated_test!(state_corrupt_blob);

fn sample_rates() -> Result<()> {
    harness::sample_rates(&mut stereo()?)
}
isolated_test!(sample_rates);

fn block_sizes() -> Result<()> {
    harness::block_sizes(&mut stereo()?)
}
isolated_test!(block_sizes);

fn sample_rates_offline() -> Result<()> {
    let mut host = stereo()?;
    host.set_offline(true)?;
    harness::sample_rates(&mut host)
}
isolated_test!(sample_rates_offline);

fn block_sizes_offline() -> Result<()> {
    let mut host = stereo()?;
    host.set_offline(true)?;
    harness::block_sizes(&mut host)
}
isolated_test!(block_sizes_offline);

/// Mono through VST3 bus arrangements (kMono in and out).
fn mono_layout() -> Result<()> {
    harness::mono(&mut Vst3UnderTest::new(48_000.0, 512, 1)?)
}
isolated_test!(mono_layout);

fn transport_jumps() -> Result<()> {
    harness::transport_jumps(&mut stereo()?)
}
isolated_test!(transport_jumps);

fn transport_jumps_offline() -> Result<()> {
    let mut host = stereo()?;
    host.set_offline(true)?;
    harness::transport_jumps(&mut host)
}
isolated_test!(transport_jumps_offline);

/// A fresh stereo instance for the Master scenarios, the state loaded before activation.
fn open(rate: f64, max_block: usize, state: Option<&[u8]>) -> Result<Box<dyn TestHost>> {
    Ok(Box::new(Vst3UnderTest::with_state(
        rate, max_block, 2, state,
    )?))
}

fn master_offline_equals_cli_render() -> Result<()> {
    master_scenarios::offline_equals_cli_render(&open)
}
isolated_test!(master_offline_equals_cli_render);

fn master_realtime_blocks_processed_or_dry() -> Result<()> {
    master_scenarios::realtime_blocks_processed_or_dry(&open)
}
isolated_test!(master_realtime_blocks_processed_or_dry);

fn master_compare_is_level_matched_dry() -> Result<()> {
    master_scenarios::compare_is_level_matched_dry(&open)
}
isolated_test!(master_compare_is_level_matched_dry);

fn master_state_round_trip_keeps_the_match() -> Result<()> {
    master_scenarios::state_round_trip_keeps_the_match(&open)
}
isolated_test!(master_state_round_trip_keeps_the_match);

fn master_damaged_profile_passes_dry_with_notice() -> Result<()> {
    master_scenarios::damaged_profile_passes_dry_with_notice(&open)
}
isolated_test!(master_damaged_profile_passes_dry_with_notice);

fn master_match_loaded_while_active() -> Result<()> {
    master_scenarios::match_loaded_while_active(&open)
}
isolated_test!(master_match_loaded_while_active);

fn master_damaged_match_loaded_while_active() -> Result<()> {
    master_scenarios::damaged_match_loaded_while_active(&open)
}
isolated_test!(master_damaged_match_loaded_while_active);
