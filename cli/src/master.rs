//! `mixsmith master IN --reference REF -o OUT`: match the tone, width and loudness of a mix to
//! a reference track and true-peak limit it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use mixsmith_core::audio::{SampleFormat, WavWriter};
use mixsmith_core::master::{
    AudioSource, FileSource, MasterReport, MatchSettings, learn_for_render, parse_octaves,
};

/// Arguments of `mixsmith master`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The mix to master (WAV, FLAC, MP3, OGG/Vorbis or AIFF; mono or stereo, any rate).
    pub input: PathBuf,
    /// The reference track whose tone, width and loudness to match (any format, rate and
    /// channel count of 1 or 2, independent of the input's).
    #[arg(long, short = 'r')]
    pub reference: PathBuf,
    /// Where to write the master (WAV, at the input's sample rate and channel count).
    #[arg(long, short = 'o')]
    pub output: PathBuf,
    /// How much of the tone and width match to apply, in percent (0–100). The loudness match
    /// applies whatever the amount.
    #[arg(long, default_value_t = 100.0)]
    pub amount: f32,
    /// Spectral smoothing in octaves, as a fraction or a decimal (1/24 to 2). Wider is gentler.
    #[arg(long, default_value = "1/3")]
    pub smoothing: String,
    /// True-peak ceiling of the limiter in dBTP.
    #[arg(long, default_value_t = -1.0, allow_negative_numbers = true)]
    pub ceiling: f32,
    /// Limiter release in milliseconds (longer is gentler).
    #[arg(long, default_value_t = 200.0)]
    pub release: f32,
    /// Do not limit (peaks may then exceed the ceiling and clip an integer file).
    #[arg(long)]
    pub no_limiter: bool,
    /// Gentle limiting: put only the loudness match into the limiter, even where that leaves
    /// the master quieter than the reference. By default the limiter works as hard as it takes
    /// (up to 12 dB more) for the master to reach the reference's loudness.
    #[arg(long)]
    pub gentle_limiting: bool,
    /// Keep the input's loudness (match tone and width only).
    #[arg(long)]
    pub no_loudness: bool,
    /// Keep the input's stereo width.
    #[arg(long)]
    pub no_width: bool,
    /// Write 32-bit float WAV instead of 24-bit integer.
    #[arg(long)]
    pub float: bool,
    /// Also write the full report (loudness, true peak, gain, gain reduction, curves) as JSON.
    #[arg(long, value_name = "FILE.json")]
    pub report: Option<PathBuf>,
}

impl Args {
    fn settings(&self) -> Result<MatchSettings> {
        if !(0.0..=100.0).contains(&self.amount) {
            bail!("--amount {} is outside 0..=100 (percent)", self.amount);
        }
        let settings = MatchSettings {
            amount: self.amount / 100.0,
            smoothing_octaves: parse_octaves(&self.smoothing)?,
            ceiling_dbtp: self.ceiling,
            limiter: !self.no_limiter,
            limiter_release_ms: self.release,
            match_loudness: !self.no_loudness,
            match_width: !self.no_width,
            gentle_limiting: self.gentle_limiting,
        };
        settings.validate()?;
        Ok(settings)
    }
}

/// A percentage bar on stderr (hidden when stderr is not a terminal).
fn bar(label: &str) -> ProgressBar {
    let bar = ProgressBar::new(1000).with_style(
        ProgressStyle::with_template("{msg:10} [{bar:30}] {percent:>3}% eta {eta}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_message(label.to_string());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// A temporary path next to `path`, renamed into place once the file is complete.
pub(crate) fn partial_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.mixsmith-partial"))
}

/// Runs the command.
pub fn run(args: &Args) -> Result<()> {
    let settings = args.settings()?;
    let mut target = FileSource::open(&args.input)?;
    let mut reference = FileSource::streaming(&args.reference)?;

    let learning = bar("analysing");
    let learned = learn_for_render(&mut target, &mut reference, &settings, &mut |p| {
        learning.set_position((p * 1000.0) as u64)
    });
    learning.finish_and_clear();
    let mut learned = learned?;

    let format = if args.float {
        SampleFormat::Float32
    } else {
        SampleFormat::Int24
    };
    let partial = partial_path(&args.output);
    let mut writer = WavWriter::create(&partial, target.sample_rate(), target.channels(), format)?;
    let rendering = bar("mastering");
    let summary = learned.render(
        &mut target,
        &mut |block| Ok(writer.write_planar(block)?),
        &mut |p| rendering.set_position((p * 1000.0) as u64),
    );
    rendering.finish_and_clear();
    let finished = summary
        .map_err(anyhow::Error::from)
        .and_then(|s| writer.finalize().map(|()| s).map_err(Into::into))
        .and_then(|s| {
            std::fs::rename(&partial, &args.output)
                .with_context(|| format!("{}: cannot write", args.output.display()))
                .map(|()| s)
        });
    let summary = match finished {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };

    let report = MasterReport::new(&learned.profile, &settings, &summary);
    if let Some(path) = &args.report {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("{}: cannot write the report", path.display()))?;
    }
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    if report.non_finite_input_samples > 0 {
        eprintln!(
            "warning: {}: NaN or infinite samples were read as 0",
            args.input.display()
        );
    }
    print!("{}", summary_text(&report, &args.output));
    Ok(())
}

/// The few lines printed after a master.
fn summary_text(r: &MasterReport, output: &Path) -> String {
    let lufs = |v: Option<f64>| v.map_or("silent".into(), |v| format!("{v:.1} LUFS"));
    let tp = |v: Option<f64>| v.map_or("-inf".into(), |v| format!("{v:.1} dBTP"));
    let mut s = String::new();
    s.push_str(&format!(
        "{:<12}{} ({}, {})\n",
        "Target",
        r.target.name,
        lufs(r.target.loudness.integrated_lufs),
        tp(r.target.loudness.true_peak_dbtp)
    ));
    s.push_str(&format!(
        "{:<12}{} ({}, {})\n",
        "Reference",
        r.reference.name,
        lufs(r.reference.loudness.integrated_lufs),
        tp(r.reference.loudness.true_peak_dbtp)
    ));
    s.push_str(&format!(
        "{:<12}{} ({}, {})\n",
        "Output",
        output.display(),
        lufs(r.output.integrated_lufs),
        tp(r.output.true_peak_dbtp)
    ));
    s.push_str(&format!(
        "{:<12}{:+.1} dB gain, {:+.1} dB width, limiter max {:.1} dB / mean {:.2} dB GR\n",
        "Applied",
        r.loudness_gain_db,
        r.width_db,
        r.limiter.max_gain_reduction_db,
        r.limiter.mean_gain_reduction_db
    ));
    if let Some(peak) = r.output.reconstructed_peak_dbfs {
        s.push_str(&format!(
            "{:<12}{peak:.2} dBFS reconstructed (the band-limited waveform), {} BS.1770\n",
            "Peaks",
            tp(r.output.true_peak_dbtp)
        ));
    }
    s.push_str(&format!(
        "{:<12}{}\n",
        "Loudness", r.loudness_match.explanation
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn arguments_map_to_settings() {
        let cli = Cli::parse_from([
            "x",
            "in.wav",
            "--reference",
            "ref.wav",
            "-o",
            "out.wav",
            "--amount",
            "50",
            "--smoothing",
            "1/6",
            "--ceiling",
            "-2",
            "--no-limiter",
            "--gentle-limiting",
        ]);
        let s = cli.args.settings().unwrap();
        assert_eq!(s.amount, 0.5);
        assert!((s.smoothing_octaves - 1.0 / 6.0).abs() < 1e-7);
        assert_eq!(s.ceiling_dbtp, -2.0);
        assert!(!s.limiter && s.gentle_limiting);
        let default = Cli::parse_from(["x", "a", "-r", "b", "-o", "c"]);
        assert!(!default.args.settings().unwrap().gentle_limiting);
        let bad = Cli::parse_from(["x", "a", "-r", "b", "-o", "c", "--amount", "150"]);
        assert!(
            bad.args
                .settings()
                .unwrap_err()
                .to_string()
                .contains("--amount")
        );
        let bad = Cli::parse_from(["x", "a", "-r", "b", "-o", "c", "--smoothing", "x/y"]);
        assert!(bad.args.settings().is_err());
    }
}
