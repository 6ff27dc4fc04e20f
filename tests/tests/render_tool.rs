//! The `mixsmith-host render` tool: latency-compensated renders through the CLAP bundle. The
//! tool runs as a child process, so an abort in the plugin fails the test, not the runner.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, ensure};
use mixsmith_tests::render::{read_wav, write_wav};
use mixsmith_tests::signal::{self, Planar};
use mixsmith_tests::spec;

fn run_tool(args: &[&str]) -> Result<(bool, String, String)> {
    let output = Command::new(env!("CARGO_BIN_EXE_mixsmith-host"))
        .args(args)
        .output()
        .context("running mixsmith-host")?;
    Ok((
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

/// Renders `input` with gain -6 dB and checks OUT == IN * gain, frame for frame.
fn render_and_check(dir: &Path, input: &Planar, offline: bool, block: usize) -> Result<()> {
    let clap = mixsmith_tests::paths::clap_bundle()?;
    let in_path = dir.join(format!("in-{}-{offline}-{block}.wav", input.len()));
    let out_path = dir.join(format!("out-{}-{offline}-{block}.wav", input.len()));
    write_wav(&in_path, input, 44_100)?;
    let block_text = block.to_string();
    let mut args = vec![
        "render",
        "--plugin",
        clap.to_str().context("bundle path")?,
        "--input",
        in_path.to_str().context("temp path")?,
        "--output",
        out_path.to_str().context("temp path")?,
        "--block",
        &block_text,
        "--param",
        "gain=-6",
    ];
    if offline {
        args.push("--offline");
    }
    let (ok, stdout, stderr) = run_tool(&args)?;
    ensure!(
        ok,
        "mixsmith-host failed\nstdout: {stdout}\nstderr: {stderr}"
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.trim())
        .with_context(|| format!("summary is not one JSON line: {stdout}"))?;
    let frames = input[0].len();
    ensure!(summary["frames"] == frames, "summary {summary}");
    ensure!(
        summary["latency"] == spec::expected_latency(block as u32, 44_100.0),
        "summary {summary}"
    );
    ensure!(
        summary["mode"] == if offline { "offline" } else { "realtime" },
        "summary {summary}"
    );
    let expected_blocks =
        (frames + spec::expected_latency(block as u32, 44_100.0) as usize).div_ceil(block);
    ensure!(summary["blocks"] == expected_blocks, "summary {summary}");
    ensure!(summary["seconds"].as_f64().is_some(), "summary {summary}");

    let (output, rate) = read_wav(&out_path)?;
    ensure!(rate == 44_100, "output rate {rate}");
    let reader = hound::WavReader::open(&out_path)?;
    ensure!(
        reader.spec().sample_format == hound::SampleFormat::Float
            && reader.spec().bits_per_sample == 32,
        "output is not 32-bit float: {:?}",
        reader.spec()
    );
    // Aligned: latency 0, gain -6 dB from the first frame (set before activation).
    signal::check_delayed(input, &output, 0, spec::db_to_amplitude(-6.0), 0, 1e-5)
        .with_context(|| format!("render (offline {offline}, block {block})"))?;
    Ok(())
}

#[test]
fn renders_stereo_aligned_in_realtime_and_offline_modes() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut input = signal::noise(2, 20_000, 5);
    input[0][1234] = 0.9;
    render_and_check(dir.path(), &input, false, 512)?;
    render_and_check(dir.path(), &input, true, 512)?;
    render_and_check(dir.path(), &input, true, 100)?;
    Ok(())
}

#[test]
fn renders_mono() -> Result<()> {
    let dir = tempfile::tempdir()?;
    render_and_check(dir.path(), &signal::noise(1, 9_000, 6), true, 256)
}

#[test]
fn bypass_param_renders_the_dry_signal() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let clap = mixsmith_tests::paths::clap_bundle()?;
    let input = signal::noise(2, 6_000, 8);
    let in_path = dir.path().join("in.wav");
    write_wav(&in_path, &input, 48_000)?;
    for on in ["1", "on"] {
        let out_path = dir.path().join(format!("out-{on}.wav"));
        let bypass = format!("bypass={on}");
        let (ok, stdout, stderr) = run_tool(&[
            "render",
            "--plugin",
            clap.to_str().context("bundle path")?,
            "--input",
            in_path.to_str().context("temp path")?,
            "--output",
            out_path.to_str().context("temp path")?,
            "--offline",
            "--param",
            "gain=-12",
            "--param",
            &bypass,
        ])?;
        ensure!(
            ok,
            "mixsmith-host failed\nstdout: {stdout}\nstderr: {stderr}"
        );
        let (output, _) = read_wav(&out_path)?;
        signal::check_delayed(&input, &output, 0, 1.0, 0, 1e-6)
            .with_context(|| format!("bypass={on} with gain -12 dB should be the dry input"))?;
    }
    Ok(())
}

#[test]
fn bad_input_gives_a_clear_error() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("missing.wav");
    let out = dir.path().join("out.wav");
    let clap = mixsmith_tests::paths::clap_bundle()?;
    let (ok, _, stderr) = run_tool(&[
        "render",
        "--plugin",
        clap.to_str().unwrap(),
        "--input",
        missing.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ])?;
    ensure!(!ok && stderr.contains("missing.wav"), "stderr: {stderr}");
    ensure!(!stderr.contains("panicked"), "stderr: {stderr}");

    let input = dir.path().join("in.wav");
    write_wav(&input, &signal::noise(2, 1000, 1), 48_000)?;
    let (ok, _, stderr) = run_tool(&[
        "render",
        "--plugin",
        clap.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--param",
        "volume=3",
    ])?;
    ensure!(
        !ok && stderr.contains("volume") && !stderr.contains("panicked"),
        "stderr: {stderr}"
    );
    Ok(())
}
