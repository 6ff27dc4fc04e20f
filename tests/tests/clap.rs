//! The Mixsmith CLAP bundle in a CLAP host (clack-host). Every scenario runs in a child process
//! (see `mixsmith_tests::isolate`): the debug bundle aborts on an allocation in `process()`.

use anyhow::{Result, ensure};
use mixsmith_tests::harness::{self, ClapUnderTest, TestHost};
use mixsmith_tests::isolated_test;
use mixsmith_tests::master_scenarios;

fn stereo() -> Result<ClapUnderTest> {
    ClapUnderTest::new(48_000.0, 512, 2)
}

/// Loading, the descriptor, parameters and the latency restart handshake.
fn activation_and_params() -> Result<()> {
    let mut host = stereo()?;
    let params = host.plugin.params()?;
    let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
    for (id, name) in [
        ("gain", "Output Gain"),
        ("bypass", "Bypass"),
        ("mode", "Mode"),
    ] {
        let hash = mixsmith_tests::spec::param_hash(id);
        ensure!(
            params.iter().any(|p| p.id == hash && p.name == name),
            "no parameter {name:?} with id hash({id}) = {hash}; the plugin has {names:?}"
        );
    }
    let gain = params
        .iter()
        .find(|p| p.name == "Output Gain")
        .expect("checked above");
    ensure!(
        gain.min == 0.0 && gain.max == 1.0 && (gain.default - 0.5).abs() < 1e-9,
        "gain should be normalised 0..1 with default 0.5 (0 dB): {gain:?}"
    );
    // The plugin's own text parser gives the same CLAP value as the spec's mapping.
    let minus_six = host.plugin.text_to_value(gain.id, "-6")?;
    ensure!(
        (minus_six - mixsmith_tests::spec::gain_normalized(-6.0)).abs() < 1e-6,
        "text_to_value(\"-6\") = {minus_six}"
    );
    harness::figure(format!(
        "CLAP restarts honoured during activation: {}, latency notifications: {}",
        host.plugin.restarts_honoured(),
        host.plugin.latency_change_notifications()
    ));
    ensure!(
        host.latency()? == mixsmith_tests::spec::expected_latency(512, host.sample_rate()),
        "latency {} after activation",
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

/// Switching the render mode while active (the plugin asks for a restart) and back.
fn render_mode_switch_while_active() -> Result<()> {
    let mut host = stereo()?;
    harness::check_impulse(&mut host, &|n, max| {
        mixsmith_tests::signal::fixed_blocks(n, max)
    })?;
    let before = host.plugin.restarts_honoured();
    host.set_offline(true)?;
    harness::check_impulse(&mut host, &|n, max| {
        mixsmith_tests::signal::fixed_blocks(n, max)
    })?;
    host.set_offline(false)?;
    harness::check_impulse(&mut host, &|n, max| {
        mixsmith_tests::signal::fixed_blocks(n, max)
    })?;
    harness::figure(format!(
        "CLAP restarts for two render-mode switches: {}",
        host.plugin.restarts_honoured() - before
    ));
    Ok(())
}
isolated_test!(render_mode_switch_while_active);

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

/// The plugin offers stereo and mono audio-port configurations; the mono one processes.
fn mono_layout() -> Result<()> {
    let mut probe = mixsmith_tests::clap_host::ClapPlugin::load_mixsmith(
        &mixsmith_tests::paths::clap_bundle()?,
    )?;
    let configs = probe.port_configs()?;
    ensure!(
        configs.iter().any(|c| c.2 == 2 && c.3 == 2)
            && configs.iter().any(|c| c.2 == 1 && c.3 == 1),
        "expected stereo and mono audio-port configurations, got {configs:?}"
    );
    drop(probe);
    harness::mono(&mut ClapUnderTest::new(48_000.0, 512, 1)?)
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

/// Stopping and restarting processing (nice-plug resets the plugin) mid-stream keeps the output
/// aligned, free-running and with a playing transport.
fn processing_restart() -> Result<()> {
    let mut host = stereo()?;
    harness::check_continuous(&mut host, 3, &mut |host: &mut ClapUnderTest, _| {
        host.plugin.restart_processing()
    })?;
    harness::flush(&mut host)?;
    host.play_from(0)?;
    harness::check_continuous(&mut host, 3, &mut |host: &mut ClapUnderTest, _| {
        host.plugin.restart_processing()
    })
}
isolated_test!(processing_restart);

/// A fresh stereo instance for the Master scenarios, the state loaded before activation.
fn open(rate: f64, max_block: usize, state: Option<&[u8]>) -> Result<Box<dyn TestHost>> {
    Ok(Box::new(ClapUnderTest::with_state(
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
