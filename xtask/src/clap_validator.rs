//! The CLAP project's own validator and fuzzer (`clap-validator`) on every plugin of a built
//! `.clap`: its test suite (`validate`) and a timed run of its fuzzer (`fuzz`), which feeds
//! hostile signals (Nyquist and DC sines, noise, constants, subnormal numbers) with random
//! parameter changes and transport events, and fails on NaN, infinite or subnormal output.
//!
//! The validator's source sits beside the repository (`<workspace>/../shared/tools/
//! clap-validator`, read-only in CI); it is built into `target/clap-validator/` (about five
//! minutes the first time, seconds afterwards).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use crate::util::{self, Workspace};

/// How long the fuzzer runs on each plugin.
const FUZZ_DURATION: &str = "60s";

/// The validator's results for one plugin.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Tally {
    /// Tests that passed.
    passed: usize,
    /// Tests that failed or crashed, as "name: details".
    failed: Vec<String>,
    /// Tests that passed with a warning (performance checks that depend on the machine).
    warnings: Vec<String>,
    /// Tests whose preconditions the plugin does not meet (an extension it does not offer).
    skipped: usize,
}

/// Builds the validator from `<workspace>/../shared/tools/clap-validator` into
/// `target/clap-validator/` and returns the binary's path.
pub fn build(workspace: &Workspace) -> Result<PathBuf> {
    let source = workspace
        .root
        .parent()
        .context("the workspace root has no parent folder")?
        .join("shared/tools/clap-validator");
    let manifest = source.join("Cargo.toml");
    ensure!(
        manifest.is_file(),
        "clap-validator's source is missing: expected {} (the project's shared tools folder, \
         `shared/`, checked out beside the repository)",
        manifest.display()
    );
    let target = workspace.target.join("clap-validator");
    util::run(workspace.cargo().arg("build").arg("--release").args([
        "--manifest-path".as_ref(),
        manifest.as_os_str(),
        "--target-dir".as_ref(),
        target.as_os_str(),
    ]))?;
    Ok(target.join("release").join("clap-validator"))
}

/// Runs `validate` and a `fuzz` of [`FUZZ_DURATION`] on every plugin in the `.clap` file
/// `bundle`; fails if the bundle holds no plugin, or on any failed or crashed test and any fuzz
/// failure, after running them all.
pub fn check(validator: &Path, bundle: &Path) -> Result<()> {
    let ids = plugin_ids(validator, bundle)?;
    ensure!(
        !ids.is_empty(),
        "clap-validator found no plugin in {}",
        bundle.display()
    );
    let mut problems = Vec::new();
    for id in &ids {
        let tally = validate(validator, bundle, id)?;
        println!(
            "clap-validator validate {id}: {} passed, {} failed, {} warnings, {} skipped",
            tally.passed,
            tally.failed.len(),
            tally.warnings.len(),
            tally.skipped
        );
        for warning in &tally.warnings {
            println!("  warning: {warning}");
        }
        problems.extend(
            tally
                .failed
                .iter()
                .map(|failure| format!("validate {id}: {failure}")),
        );
        let fuzz_failures = fuzz(validator, bundle, id)?;
        println!(
            "clap-validator fuzz {id} for {FUZZ_DURATION}: {}",
            if fuzz_failures.is_empty() {
                "no failure".to_owned()
            } else {
                format!("{} failures", fuzz_failures.len())
            }
        );
        problems.extend(
            fuzz_failures
                .iter()
                .map(|failure| format!("fuzz {id}: {failure}")),
        );
    }
    if !problems.is_empty() {
        bail!(
            "clap-validator found {} problems:\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    Ok(())
}

/// The ids of the plugins in `bundle`, from `clap-validator list plugins --json`.
fn plugin_ids(validator: &Path, bundle: &Path) -> Result<Vec<String>> {
    let listing = run_json(
        Command::new(validator)
            .args(["list", "plugins", "--json"])
            .arg(bundle),
    )?;
    parse_plugin_ids(&listing)
}

/// The plugin ids in a `list plugins --json` answer: one object per library path, with a
/// `status` and, on success, its `plugins`.
fn parse_plugin_ids(listing: &Value) -> Result<Vec<String>> {
    let libraries = listing
        .as_object()
        .context("`list plugins` did not answer with an object")?;
    let mut ids = Vec::new();
    for (path, library) in libraries {
        let status = library["status"].as_str().unwrap_or("missing");
        ensure!(
            status == "success",
            "clap-validator could not scan {path} ({status}): {}",
            library["details"].as_str().unwrap_or("no details")
        );
        let plugins = library["plugins"]
            .as_array()
            .with_context(|| format!("the scan of {path} lists no plugins array"))?;
        for plugin in plugins {
            let id = plugin["id"]
                .as_str()
                .with_context(|| format!("a plugin in {path} has no id: {plugin}"))?;
            ids.push(id.to_owned());
        }
    }
    Ok(ids)
}

/// `clap-validator validate --json -p ID BUNDLE`, tallied.
fn validate(validator: &Path, bundle: &Path, id: &str) -> Result<Tally> {
    let report = run_json(
        Command::new(validator)
            .args(["validate", "--json", "--plugin-id", id])
            .arg(bundle),
    )?;
    tally(&report)
}

/// Counts a `validate --json` report's results by their status code.
fn tally(report: &Value) -> Result<Tally> {
    let results = report["results"]
        .as_array()
        .context("the validator's report has no results array")?;
    let mut tally = Tally::default();
    for result in results {
        let status = &result["status"];
        let name = test_name(&result["test"]);
        let described = || match status["details"].as_str() {
            Some(details) => format!("{name}: {details}"),
            None => name.clone(),
        };
        match status["code"].as_str() {
            Some("success") => tally.passed += 1,
            Some("skipped") => tally.skipped += 1,
            Some("warning") => tally.warnings.push(described()),
            Some("failed" | "crashed") => tally.failed.push(described()),
            other => bail!("test {name} has an unknown status {other:?}: {status}"),
        }
    }
    Ok(tally)
}

/// A test case's name: `{"plugin-instance": {"test": NAME, ...}}` or the same under
/// `plugin-library`.
fn test_name(test: &Value) -> String {
    test.as_object()
        .and_then(|kinds| kinds.values().next())
        .and_then(|case| case["test"].as_str())
        .map_or_else(|| test.to_string(), str::to_owned)
}

/// `clap-validator fuzz --json --duration 60s -j 1 -p ID BUNDLE`: the failures, as
/// "details (seed N: reproduce with `fuzz --reproduce N`)".
fn fuzz(validator: &Path, bundle: &Path, id: &str) -> Result<Vec<String>> {
    let report = run_json(
        Command::new(validator)
            .args(["fuzz", "--json", "--duration", FUZZ_DURATION, "--jobs", "1"])
            .args(["--plugin-id", id])
            .arg(bundle),
    )?;
    fuzz_failures(&report)
}

/// The failed or crashed runs in a `fuzz --json` report: a list of results whose `status` is
/// `{"type": "success"}`, or `failed` / `crashed` with `details`.
fn fuzz_failures(report: &Value) -> Result<Vec<String>> {
    let runs = report
        .as_array()
        .context("the fuzzer's report is not a list")?;
    Ok(runs
        .iter()
        .filter(|run| run["status"]["type"] != "success")
        .map(|run| {
            let status = &run["status"];
            let details = status["details"]
                .as_str()
                .map_or_else(|| status.to_string(), str::to_owned);
            format!(
                "{details} (reproduce with `clap-validator fuzz --reproduce {}`)",
                run["seed"]
            )
        })
        .collect())
}

/// Runs the validator and parses its standard output as JSON, whatever its exit status (it
/// exits with 1 when a test fails, and the report says which).
fn run_json(command: &mut Command) -> Result<Value> {
    let line = util::describe(command);
    eprintln!("$ {line}");
    let output = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("could not start `{line}`"))?;
    serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "`{line}` ({}) printed no JSON report: {}",
            output.status,
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn plugin_ids_come_from_every_scanned_library() {
        let listing = json!({
            "/x/Mixsmith.clap": {
                "status": "success",
                "version": [1, 2, 6],
                "plugins": [{"id": "com.a"}, {"id": "com.b"}],
                "preset-providers": [],
                "duration": {"secs": 0, "nanos": 5}
            }
        });
        assert_eq!(parse_plugin_ids(&listing).unwrap(), ["com.a", "com.b"]);
        let crashed = json!({"/x/Mixsmith.clap": {"status": "crashed", "details": "SIGSEGV"}});
        let error = parse_plugin_ids(&crashed).unwrap_err().to_string();
        assert!(
            error.contains("crashed") && error.contains("SIGSEGV"),
            "{error}"
        );
    }

    #[test]
    fn the_tally_counts_each_status_and_keeps_failure_details() {
        let case = |test: &str| json!({"plugin-instance": {"test": test, "path": "/x", "plugin-id": "com.a"}});
        let report = json!({"results": [
            {"test": case("state-reproducibility-basic"), "status": {"code": "success", "details": null}},
            {"test": case("process-audio-out-of-place-basic"), "status": {"code": "failed", "details": "subnormal"}},
            {"test": {"plugin-library": {"test": "scan-time", "path": "/x"}}, "status": {"code": "warning", "details": "slow"}},
            {"test": case("preset-discovery-crawl"), "status": {"code": "skipped", "details": "no extension"}},
            {"test": case("param-set-wrong-namespace"), "status": {"code": "crashed", "details": "SIGABRT"}}
        ]});
        let tally = tally(&report).unwrap();
        assert_eq!(tally.passed, 1);
        assert_eq!(tally.skipped, 1);
        assert_eq!(tally.warnings, ["scan-time: slow"]);
        assert_eq!(
            tally.failed,
            [
                "process-audio-out-of-place-basic: subnormal",
                "param-set-wrong-namespace: SIGABRT"
            ]
        );
        let unknown = json!({"results": [{"test": case("x"), "status": {"code": "maybe"}}]});
        assert!(super::tally(&unknown).is_err());
    }

    #[test]
    fn fuzz_failures_name_their_seed() {
        let report = json!([
            {"status": {"type": "success"}, "library": "/x", "plugin-id": "com.a", "seed": 1},
            {"status": {"type": "failed", "details": "sample 44 is subnormal"}, "library": "/x", "plugin-id": "com.a", "seed": 4996940775880599832_u64},
            {"status": {"type": "crashed", "details": "SIGSEGV"}, "library": "/x", "plugin-id": "com.a", "seed": 7}
        ]);
        assert_eq!(
            fuzz_failures(&report).unwrap(),
            [
                "sample 44 is subnormal (reproduce with `clap-validator fuzz --reproduce 4996940775880599832`)",
                "SIGSEGV (reproduce with `clap-validator fuzz --reproduce 7`)"
            ]
        );
        assert!(fuzz_failures(&json!([])).unwrap().is_empty());
    }
}
