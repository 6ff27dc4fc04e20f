//! The Mixsmith CLAP bundle in a CLAP host (clack-host). Every scenario runs in a child process
//! (see `mixsmith_tests::isolate`): the debug bundle aborts on an allocation in `process()`.

use anyhow::{Result, ensure};
use mixsmith_tests::harness::{self, ClapUnderTest, TestHost};
use mixsmith_tests::isolated_test;

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

mixsmith_tests::shared_host_scenarios!();

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
