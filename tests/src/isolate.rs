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
