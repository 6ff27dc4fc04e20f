//! Running one test in a child process, for tests that need a process where ONNX Runtime has
//! not been loaded (loading is process-global and cannot be undone). Public with the
//! `test-graphs` feature, for the integration tests.

use std::ffi::OsString;
use std::process::Command;

/// Set in the child's environment.
const CHILD_ENV: &str = "MIXSMITH_INFERENCE_TEST_CHILD";

/// True inside a child started by [`run_child`]. Child tests are `#[ignore]`d and return at
/// once when run any other way (e.g. `--include-ignored` in a shared process).
pub fn child_mode() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// Runs exactly the ignored test `name` of this test binary in a new process with `envs` added,
/// and fails (showing the child's output) unless it ran and passed.
pub fn run_child(name: &str, envs: &[(&str, OsString)]) {
    let exe = std::env::current_exe().expect("test binary path");
    let output = Command::new(exe)
        .args([
            name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("spawn the test binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child test {name} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
}
