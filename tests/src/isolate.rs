//! Runs a test scenario in a child process.
//!
//! The debug bundles are built with nice-plug's `assert_process_allocs`, which aborts the whole
//! process ("memory allocation of N bytes failed") on an allocation inside `process()`. So every
//! scenario that processes audio runs in a re-executed copy of the current test binary; an abort
//! there is a failing test with the child's output attached, not a crashed test runner.
//!
//! Use [`isolated_test!`](crate::isolated_test): for a scenario `fn name() -> anyhow::Result<()>`
//! it generates `name::isolated` (the test that spawns the child) and `name::scenario` (the
//! ignored test the child runs).

use std::process::Command;

/// Set in the child's environment so the scenario knows it is already isolated.
pub const CHILD_ENV: &str = "MIXSMITH_ISOLATED_CHILD";

/// Whether this process is an isolated child.
pub fn in_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// The libtest name of a scenario test from its `module_path!()` (the crate name dropped).
pub fn scenario_test_name(module_path: &str) -> String {
    let without_crate = module_path
        .split_once("::")
        .map_or(module_path, |(_, rest)| rest);
    format!("{without_crate}::scenario")
}

/// Re-executes the current test binary running only the test `test_name` (exactly, including
/// ignored tests) and panics, with the child's stdout and stderr, unless the child exited 0 and
/// reported that exactly one test passed.
pub fn run_isolated(test_name: &str) {
    let exe = std::env::current_exe().expect("the current test binary's path");
    let output = Command::new(&exe)
        .args([
            test_name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .unwrap_or_else(|e| panic!("could not re-run {}: {e}", exe.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let ran = stdout.contains("1 passed");
    if !output.status.success() || !ran {
        let how = describe_status(&output.status);
        let why = if output.status.success() {
            "the child did not run the scenario (wrong test name?)".to_owned()
        } else {
            format!("the child {how}")
        };
        panic!(
            "scenario `{test_name}` failed in its subprocess: {why}\n\
             --- child stdout ---\n{stdout}\n--- child stderr ---\n{stderr}"
        );
    }
    // Keep the figures the scenario printed visible with `--nocapture`.
    // (libtest prints "test name ... " before the test runs, so a figure may share that line.)
    for line in stdout.lines() {
        if let Some(at) = line.find("figure:") {
            println!("{}", &line[at..]);
        }
    }
}

/// "exited with code N" or "was killed by signal N (SIGABRT: ...)".
pub fn describe_status(status: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(libc::SIGABRT)) => format!(
            "was killed by signal {} (SIGABRT: an abort, e.g. an allocation in process() \
             under assert_process_allocs, or a panic in a no-unwind context)",
            libc::SIGABRT
        ),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => "ended without a status".to_owned(),
    }
}

/// Declares an isolated test for the scenario `fn $name() -> anyhow::Result<()>` defined next
/// to the macro call. See the [module docs](crate::isolate).
#[macro_export]
macro_rules! isolated_test {
    ($name:ident) => {
        mod $name {
            #[test]
            fn isolated() {
                $crate::isolate::run_isolated(&$crate::isolate::scenario_test_name(module_path!()));
            }

            #[test]
            #[ignore = "the scenario body; `isolated` runs it in a child process"]
            fn scenario() {
                if !$crate::isolate::in_child() {
                    $crate::isolate::run_isolated(&$crate::isolate::scenario_test_name(
                        module_path!(),
                    ));
                    return;
                }
                if let Err(error) = super::$name() {
                    panic!("{error:#}");
                }
            }
        }
    };
}

/// The scenarios every host format runs the same way, each registered with [`isolated_test!`].
/// The invoking test file defines `stereo()` (a fresh stereo host at 48 kHz / 512) and
/// `open(rate, max_block, state)` (a fresh host, optionally with a state loaded before
/// activation, for the Master scenarios).
#[macro_export]
macro_rules! shared_host_scenarios {
    () => {
        fn realtime_delay_and_gain() -> ::anyhow::Result<()> {
            $crate::harness::delay_and_gain(&mut stereo()?, false)
        }
        $crate::isolated_test!(realtime_delay_and_gain);

        fn offline_delay_and_gain() -> ::anyhow::Result<()> {
            $crate::harness::delay_and_gain(&mut stereo()?, true)
        }
        $crate::isolated_test!(offline_delay_and_gain);

        fn gain_automation() -> ::anyhow::Result<()> {
            $crate::harness::gain_automation(&mut stereo()?)
        }
        $crate::isolated_test!(gain_automation);

        fn gain_automation_offline() -> ::anyhow::Result<()> {
            let mut host = stereo()?;
            host.set_offline(true)?;
            $crate::harness::gain_automation(&mut host)
        }
        $crate::isolated_test!(gain_automation_offline);

        fn bypass() -> ::anyhow::Result<()> {
            $crate::harness::bypass(&mut stereo()?)
        }
        $crate::isolated_test!(bypass);

        fn state_round_trip() -> ::anyhow::Result<()> {
            $crate::harness::state_round_trip(&mut stereo()?, &|| {
                Ok(Box::new(stereo()?) as Box<dyn $crate::harness::TestHost>)
            })
        }
        $crate::isolated_test!(state_round_trip);

        fn state_old_version() -> ::anyhow::Result<()> {
            $crate::harness::state_old_version(&mut stereo()?)
        }
        $crate::isolated_test!(state_old_version);

        fn state_corrupt_session() -> ::anyhow::Result<()> {
            $crate::harness::state_corrupt_session(&mut stereo()?)
        }
        $crate::isolated_test!(state_corrupt_session);

        fn state_corrupt_blob() -> ::anyhow::Result<()> {
            $crate::harness::state_corrupt_blob(&mut stereo()?)
        }
        $crate::isolated_test!(state_corrupt_blob);

        fn sample_rates() -> ::anyhow::Result<()> {
            $crate::harness::sample_rates(&mut stereo()?)
        }
        $crate::isolated_test!(sample_rates);

        fn block_sizes() -> ::anyhow::Result<()> {
            $crate::harness::block_sizes(&mut stereo()?)
        }
        $crate::isolated_test!(block_sizes);

        fn sample_rates_offline() -> ::anyhow::Result<()> {
            let mut host = stereo()?;
            host.set_offline(true)?;
            $crate::harness::sample_rates(&mut host)
        }
        $crate::isolated_test!(sample_rates_offline);

        fn block_sizes_offline() -> ::anyhow::Result<()> {
            let mut host = stereo()?;
            host.set_offline(true)?;
            $crate::harness::block_sizes(&mut host)
        }
        $crate::isolated_test!(block_sizes_offline);

        fn transport_jumps() -> ::anyhow::Result<()> {
            $crate::harness::transport_jumps(&mut stereo()?)
        }
        $crate::isolated_test!(transport_jumps);

        fn transport_jumps_offline() -> ::anyhow::Result<()> {
            let mut host = stereo()?;
            host.set_offline(true)?;
            $crate::harness::transport_jumps(&mut host)
        }
        $crate::isolated_test!(transport_jumps_offline);

        fn master_offline_equals_cli_render() -> ::anyhow::Result<()> {
            $crate::master_scenarios::offline_equals_cli_render(&open)
        }
        $crate::isolated_test!(master_offline_equals_cli_render);

        fn master_realtime_blocks_processed_or_dry() -> ::anyhow::Result<()> {
            $crate::master_scenarios::realtime_blocks_processed_or_dry(&open)
        }
        $crate::isolated_test!(master_realtime_blocks_processed_or_dry);

        fn master_compare_is_level_matched_dry() -> ::anyhow::Result<()> {
            $crate::master_scenarios::compare_is_level_matched_dry(&open)
        }
        $crate::isolated_test!(master_compare_is_level_matched_dry);

        fn master_state_round_trip_keeps_the_match() -> ::anyhow::Result<()> {
            $crate::master_scenarios::state_round_trip_keeps_the_match(&open)
        }
        $crate::isolated_test!(master_state_round_trip_keeps_the_match);

        fn master_damaged_profile_passes_dry_with_notice() -> ::anyhow::Result<()> {
            $crate::master_scenarios::damaged_profile_passes_dry_with_notice(&open)
        }
        $crate::isolated_test!(master_damaged_profile_passes_dry_with_notice);

        fn master_match_loaded_while_active() -> ::anyhow::Result<()> {
            $crate::master_scenarios::match_loaded_while_active(&open)
        }
        $crate::isolated_test!(master_match_loaded_while_active);

        fn no_subnormal_output_in_any_mode() -> ::anyhow::Result<()> {
            $crate::master_scenarios::no_subnormal_output(&open)
        }
        $crate::isolated_test!(no_subnormal_output_in_any_mode);

        fn master_damaged_match_loaded_while_active() -> ::anyhow::Result<()> {
            $crate::master_scenarios::damaged_match_loaded_while_active(&open)
        }
        $crate::isolated_test!(master_damaged_match_loaded_while_active);
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_names_drop_the_crate() {
        assert_eq!(
            scenario_test_name("clap::realtime_processing"),
            "realtime_processing::scenario"
        );
    }
}
