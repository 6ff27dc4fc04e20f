//! The Mixsmith VST3 bundle in a VST3 host (vst3-host, in-process). Every scenario runs in a
//! child process (see `mixsmith_tests::isolate`): the debug bundle aborts on an allocation in
//! `process()`.

use anyhow::{Result, ensure};
use mixsmith_tests::harness::{self, TestHost, Vst3UnderTest};
use mixsmith_tests::isolated_test;
use mixsmith_tests::{signal, spec};

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

/// Steinberg's validator's "Parameter Bypass persistence" sequence: after `setProcessing(true)`
/// the edit controller reads back what `setParamNormalized` set at once, before any process
/// call (hosts read parameters back this way), and the processor applies the value the host
/// sends it with the next block.
fn bypass_reads_back_while_processing() -> Result<()> {
    let mut host = stereo()?;
    // At -12 dB, only a bypassed plugin passes the input at unity.
    host.plugin
        .set_param(spec::param_hash("gain"), spec::gain_normalized(-12.0))?;
    let bypass = spec::param_hash("bypass");
    for value in [1.0, 0.0, 1.0] {
        host.plugin.set_param(bypass, value)?;
        let read = host.plugin.param_value(bypass)?;
        ensure!(
            read == value,
            "while processing, setParamNormalized(bypass, {value}) reads back as {read}"
        );
    }
    // The processor gets the host's queued changes (1, 0, 1) with the next block: bypassed, the
    // output is the dry input delayed by the latency at unity gain, and the controller still
    // reads 1.
    let latency = host.latency()? as usize;
    let frames = latency + 2048;
    let input = signal::noise(2, frames, 3);
    let output = host
        .plugin
        .process(&input, &signal::fixed_blocks(frames, 512), &[])?;
    signal::check_delayed(&input, &output, latency, 1.0, 0, harness::TOLERANCE)?;
    let read = host.plugin.param_value(bypass)?;
    ensure!(read == 1.0, "after processing, bypass reads {read}");
    Ok(())
}
isolated_test!(bypass_reads_back_while_processing);

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
