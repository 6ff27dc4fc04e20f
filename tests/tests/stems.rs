//! Mixsmith Stems in the CLAP and VST3 hosts. Every scenario runs in a child process (see
//! `mixsmith_tests::isolate`): the debug bundle aborts on an allocation in `process()`.

use anyhow::{Result, ensure};
use mixsmith_tests::isolated_test;
use mixsmith_tests::stems_scenarios::{self as stems, ClapStems, STEMS, StemsHost, Vst3Stems};

/// The CLAP ports: one input, the main output and one auxiliary output per stem, named; the
/// per-stem parameters.
fn clap_ports_and_params() -> Result<()> {
    let mut host = ClapStems::new(48_000.0, 512, 2, false)?;
    let (inputs, outputs) = host.plugin.audio_ports()?;
    ensure!(inputs == [(2, "Input".to_owned())], "inputs {inputs:?}");
    let expected = ["Output", "Vocals", "Drums", "Bass", "Other"];
    ensure!(
        outputs.len() == 5
            && outputs
                .iter()
                .zip(expected)
                .all(|((channels, name), want)| *channels == 2 && name == want),
        "outputs {outputs:?}"
    );
    let params = host.plugin.params()?;
    for stem in STEMS {
        for control in ["gain", "mute", "solo"] {
            let id = mixsmith_tests::spec::param_hash(&format!("{stem}_{control}"));
            ensure!(
                params.iter().any(|p| p.id == id),
                "no {stem}_{control} parameter"
            );
        }
    }
    Ok(())
}
isolated_test!(clap_ports_and_params);

fn clap_stems_add_up() -> Result<()> {
    stems::stems_add_up_to_the_delayed_mix(&mut ClapStems::new(48_000.0, 512, 2, true)?, 2)
}
isolated_test!(clap_stems_add_up);

fn clap_mono_stems_add_up() -> Result<()> {
    stems::stems_add_up_to_the_delayed_mix(&mut ClapStems::new(48_000.0, 512, 1, true)?, 1)
}
isolated_test!(clap_mono_stems_add_up);

fn clap_realtime() -> Result<()> {
    stems::realtime_keeps_the_mix_whole(&mut ClapStems::new(48_000.0, 256, 2, false)?, 2)
}
isolated_test!(clap_realtime);

fn clap_automation() -> Result<()> {
    stems::gain_mute_and_solo_rebalance_the_mix(&mut ClapStems::new(48_000.0, 480, 2, true)?)
}
isolated_test!(clap_automation);

fn clap_offline_equals_cli() -> Result<()> {
    let work = tempfile::tempdir()?;
    let mut host = ClapStems::new(48_000.0, 512, 2, true)?;
    stems::offline_stems_equal_the_cli(&mut host, work.path())
}
isolated_test!(clap_offline_equals_cli);

/// The VST3 buses: the main stereo output and four auxiliary stereo outputs.
fn vst3_buses_and_stems_add_up() -> Result<()> {
    let mut host = Vst3Stems::new(48_000.0, 512, true)?;
    let buses = host.plugin.output_buses()?;
    ensure!(buses == [2; 5], "output buses {buses:?}");
    ensure!(host.format() == "VST3");
    stems::stems_add_up_to_the_delayed_mix(&mut host, 2)
}
isolated_test!(vst3_buses_and_stems_add_up);

fn vst3_realtime() -> Result<()> {
    stems::realtime_keeps_the_mix_whole(&mut Vst3Stems::new(48_000.0, 256, false)?, 2)
}
isolated_test!(vst3_realtime);

fn vst3_automation() -> Result<()> {
    stems::gain_mute_and_solo_rebalance_the_mix(&mut Vst3Stems::new(48_000.0, 480, true)?)
}
isolated_test!(vst3_automation);

fn vst3_offline_equals_cli() -> Result<()> {
    let work = tempfile::tempdir()?;
    let mut host = Vst3Stems::new(48_000.0, 512, true)?;
    stems::offline_stems_equal_the_cli(&mut host, work.path())
}
isolated_test!(vst3_offline_equals_cli);

fn clap_pack_stems() -> Result<()> {
    let work = tempfile::tempdir()?;
    stems::clap_pack_stems_play_on_the_second_pass(work.path())
}
isolated_test!(clap_pack_stems);
