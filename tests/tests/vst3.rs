//! The Mixsmith VST3 bundle in a VST3 host (vst3-host, in-process). Every scenario runs in a
//! child process (see `mixsmith_tests::isolate`): the debug bundle aborts on an allocation in
//! `process()`.

use anyhow::{Result, ensure};
use mixsmith_tests::harness::{self, TestHost, Vst3UnderTest};
use mixsmith_tests::isolated_test;
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

mixsmith_tests::shared_host_scenarios!();

/// Mono through VST3 bus arrangements (kMono in and out).
fn mono_layout() -> Result<()> {
    harness::mono(&mut Vst3UnderTest::new(48_000.0, 512, 1)?)
}
isolated_test!(mono_layout);

/// A fresh stereo instance for the Master scenarios, the state loaded before activation.
fn open(rate: f64, max_block: usize, state: Option<&[u8]>) -> Result<Box<dyn TestHost>> {
    Ok(Box::new(Vst3UnderTest::with_state(
        rate, max_block, 2, state,
    )?))
}
