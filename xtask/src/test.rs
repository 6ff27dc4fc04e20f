//! `cargo xtask test`: everything CI runs, in order, stopping at the first failure.
//!
//! set-up, formatting check, a debug build of the workspace with the plugin bundled into
//! `target/test-bundles/` (with allocation checks in `process()` and the standalone runner), the
//! whole workspace's tests against it, the CLAP project's validator and fuzzer on every plugin in
//! that bundle, and clippy with warnings denied. The same features are used
//! for every cargo call so dependencies are compiled once (clippy checks them once more).

use crate::bundle::{self, Variant};
use crate::clap_validator;
use crate::fetch;
use crate::setup;
use crate::util::{self, Steps, Workspace};
use anyhow::Result;

/// The plugin features of the test build, spelled for workspace-wide cargo commands.
const WORKSPACE_FEATURES: &str = "mixsmith-plugin/assert_process_allocs,mixsmith-plugin/standalone";

/// The debug build: the whole workspace with every target and the test features, so that cargo
/// resolves the same features as `cargo test --workspace` (dev-dependencies included) and the test
/// step finds everything built, the plugin library included.
const BUILD_ARGS: [&str; 4] = [
    "--workspace",
    "--all-targets",
    "--features",
    WORKSPACE_FEATURES,
];

/// Runs every CI step; the error names the step that failed.
pub fn run(workspace: &Workspace) -> Result<()> {
    // A CI run builds once from clean: incremental caches would only take disk (gigabytes).
    // SAFETY: set before any thread is started; every cargo run below inherits it.
    unsafe { std::env::set_var("CARGO_INCREMENTAL", "0") };
    let mut steps = Steps::default();
    steps.run("setup", || setup::run(workspace))?;
    steps.run("cargo fmt --check", || {
        util::run(workspace.cargo().args(["fmt", "--all", "--", "--check"]))
    })?;
    let bundles = steps.run("debug build + plugin bundles (target/test-bundles)", || {
        bundle::bundle(workspace, Variant::Debug, &BUILD_ARGS.map(str::to_owned))
    })?;
    let runtime = setup::ensure_file(workspace, fetch::ONNXRUNTIME)?;
    let basic_pitch = setup::ensure_file(workspace, fetch::BASIC_PITCH)?;
    steps.run("cargo test --workspace", || {
        util::run(
            workspace
                .cargo()
                // Every test binary runs even after a failure, so one run shows all results;
                // the step still fails if any test did.
                .args([
                    "test",
                    "--workspace",
                    "--no-fail-fast",
                    "--features",
                    WORKSPACE_FEATURES,
                ])
                .env("MIXSMITH_BUNDLE_DIR", &bundles.dir)
                .env(
                    "MIXSMITH_STANDALONE",
                    workspace.target.join("debug").join("mixsmith-standalone"),
                )
                .env("ORT_DYLIB_PATH", &runtime)
                .env("MIXSMITH_BASIC_PITCH_ONNX", &basic_pitch),
        )
    })?;
    let validator = steps.run("build clap-validator (target/clap-validator)", || {
        clap_validator::build(workspace)
    })?;
    steps.run("clap-validator validate + fuzz (every plugin)", || {
        clap_validator::check(&validator, &bundles.clap)
    })?;
    steps.run("cargo clippy -D warnings", || {
        util::run(workspace.cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--features",
            WORKSPACE_FEATURES,
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    steps.print_summary();
    println!("cargo xtask test: all steps passed");
    Ok(())
}
