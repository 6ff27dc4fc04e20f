//! `mixsmith voice convert IN --voice VOICE.json -o OUT`: move a voice's timbre towards a
//! profile with the DSP converter, each channel on its own (`--model PACK`: see `rvc.rs`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use mixsmith_core::audio::{AudioReader, SampleFormat, WavWriter};
use mixsmith_core::voice::envelope::MIN_SAMPLE_RATE;
use mixsmith_core::voice::{
    ConvertSettings, MAX_FORMANT_SEMITONES, MAX_PROTECT, MAX_TRANSPOSE_SEMITONES, PitchConfig,
    VoiceConverter, VoiceProfile, octave_transpose,
};

use crate::master::partial_path;
use crate::progress::frames_bar;

/// Frames read and converted at a time.
const CHUNK_FRAMES: usize = 1 << 15;

/// Arguments of `mixsmith voice convert`.
#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// The voice to convert (WAV, FLAC, MP3, OGG/Vorbis or AIFF; 8 kHz or more; every channel
    /// is converted, and the output keeps the input's rate and channel count).
    pub input: PathBuf,
    /// The target voice: a profile written by `mixsmith voice clone`.
    #[arg(
        long,
        value_name = "VOICE.json",
        required_unless_present = "model",
        conflicts_with = "model"
    )]
    pub voice: Option<PathBuf>,
    /// Convert with an RVC v2 model pack instead (a folder holding its `manifest.toml`, or the
    /// name of a pack in the data folder's `models/`): ContentVec features and the pack's
    /// synthesizer, in overlapping windows.
    #[arg(long, value_name = "PACK")]
    pub model: Option<PathBuf>,
    /// Where to write the converted voice (WAV; replaced only once complete).
    #[arg(long, short = 'o')]
    pub output: PathBuf,
    /// Transpose the voice by this many semitones (-24..24, fractions allowed; the formants
    /// stay), or `auto`: the whole octaves that bring the input's median pitch closest to the
    /// profile's (the input is tracked first; `--voice` only).
    #[arg(long, default_value = "0", value_parser = parse_transpose, allow_negative_numbers = true)]
    pub transpose: Transpose,
    /// Shift the target's formants by this many semitones (-12..12; up is a smaller voice).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub formant: f32,
    /// Protect unvoiced consonants and breaths (0..0.5, RVC's meaning: 0.5 converts them
    /// fully, lower keeps them closer to the source).
    #[arg(long, default_value_t = ConvertSettings::default().protect)]
    pub protect: f32,
    /// How far to move the timbre, in percent (0 leaves the input as it is).
    #[arg(long, default_value_t = 100.0)]
    pub amount: f32,
    /// Write 32-bit float WAV instead of 24-bit integer.
    #[arg(long)]
    pub float: bool,
}

/// The `--transpose` value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transpose {
    /// A fixed number of semitones.
    Semitones(f32),
    /// Whole octaves towards the profile's median pitch.
    Auto,
}

/// Parses `--transpose`: `auto` or a number of semitones within ±24.
fn parse_transpose(text: &str) -> Result<Transpose, String> {
    if text.eq_ignore_ascii_case("auto") {
        return Ok(Transpose::Auto);
    }
    match text.parse::<f32>() {
        Ok(st) if (-MAX_TRANSPOSE_SEMITONES..=MAX_TRANSPOSE_SEMITONES).contains(&st) => {
            Ok(Transpose::Semitones(st))
        }
        Ok(_) => Err(format!(
            "{text} is outside ±{MAX_TRANSPOSE_SEMITONES} semitones"
        )),
        Err(_) => Err(format!(
            "expected a number of semitones (±{MAX_TRANSPOSE_SEMITONES}) or `auto`, not {text:?}"
        )),
    }
}

impl ConvertArgs {
    fn settings(&self) -> Result<ConvertSettings> {
        if !(0.0..=100.0).contains(&self.amount) {
            bail!("--amount {} is outside 0..=100 (percent)", self.amount);
        }
        if !(0.0..=MAX_PROTECT).contains(&self.protect) {
            bail!("--protect {} is outside 0..={MAX_PROTECT}", self.protect);
        }
        if !(-MAX_FORMANT_SEMITONES..=MAX_FORMANT_SEMITONES).contains(&self.formant) {
            bail!(
                "--formant {} is outside ±{MAX_FORMANT_SEMITONES} semitones",
                self.formant
            );
        }
        Ok(ConvertSettings {
            amount: self.amount / 100.0,
            formant_semitones: self.formant,
            protect: self.protect,
            transpose_semitones: match self.transpose {
                Transpose::Semitones(st) => st,
                Transpose::Auto => 0.0,
            },
        })
    }
}

/// Runs `voice convert`.
pub fn run(args: &ConvertArgs) -> Result<()> {
    let voice = match (&args.voice, &args.model) {
        (_, Some(model)) => return super::rvc::run(args, model),
        (Some(voice), None) => voice,
        (None, None) => bail!("give the target voice: --voice VOICE.json or --model PACK"),
    };
    let mut settings = args.settings()?;
    let text = std::fs::read_to_string(voice)
        .with_context(|| format!("{}: cannot read the profile", voice.display()))?;
    let profile =
        VoiceProfile::from_json(&text).map_err(|e| anyhow!("{}: {e}", voice.display()))?;
    if args.transpose == Transpose::Auto {
        settings.transpose_semitones = auto_transpose(&args.input, &profile)?;
    }
    let mut reader = AudioReader::open(&args.input)?;
    let spec = reader.spec().clone();
    if (spec.sample_rate as f32) < MIN_SAMPLE_RATE {
        bail!(
            "{}: {} Hz audio: voice conversion needs 8000 Hz or more",
            args.input.display(),
            spec.sample_rate
        );
    }
    let format = if args.float {
        SampleFormat::Float32
    } else {
        SampleFormat::Int24
    };
    let partial = partial_path(&args.output);
    let written = convert_into(&mut reader, &profile, settings, &partial, format).and_then(|w| {
        std::fs::rename(&partial, &args.output)
            .with_context(|| format!("{}: cannot write", args.output.display()))
            .map(|()| w)
    });
    let writer = match written {
        Ok(w) => w,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    if reader.non_finite_samples() > 0 {
        eprintln!(
            "warning: {}: {} NaN or infinite samples were read as 0",
            args.input.display(),
            reader.non_finite_samples()
        );
    }
    if writer.clipped > 0 {
        eprintln!(
            "warning: {}: {} samples clipped at full scale (use --float, or lower the input)",
            args.output.display(),
            writer.clipped
        );
    }
    let rate = f64::from(spec.sample_rate);
    println!(
        "{}: {:.1} s, {} channel(s) at {} Hz, latency {:.1} ms (removed)",
        args.output.display(),
        writer.frames as f64 / rate,
        spec.channels,
        spec.sample_rate,
        1000.0 * writer.latency as f64 / rate
    );
    Ok(())
}

/// Tracks the pitch of the whole input and picks the octaves towards the profile's median,
/// saying what it chose.
fn auto_transpose(input: &Path, profile: &VoiceProfile) -> Result<f32> {
    let (_, summary) = super::track_file(&super::PitchArgs {
        input: input.to_path_buf(),
        csv: None,
        json: false,
        min_hz: PitchConfig::default().min_hz,
        max_hz: PitchConfig::default().max_hz,
    })?;
    let target = profile.pitch.median_hz;
    let Some(median) = summary.median_f0_hz else {
        println!("transpose auto: no voiced frames in the input, 0 semitones");
        return Ok(0.0);
    };
    if target.is_nan() || target <= 0.0 {
        println!("transpose auto: the profile has no median pitch, 0 semitones");
        return Ok(0.0);
    }
    let semitones = octave_transpose(median, target);
    println!(
        "transpose auto: input median {median:.1} Hz ({}), profile median {target:.1} Hz ({}): \
         {semitones:+} semitones",
        super::note_name(median),
        super::note_name(target)
    );
    Ok(semitones)
}

/// What [`convert_into`] wrote.
struct Written {
    frames: u64,
    clipped: u64,
    latency: usize,
}

/// Converts every channel of `reader` into a WAV at `path`, aligned with the input (the
/// converters' latency is skipped at the start and flushed with silence at the end).
fn convert_into(
    reader: &mut AudioReader,
    profile: &VoiceProfile,
    settings: ConvertSettings,
    path: &Path,
    format: SampleFormat,
) -> Result<Written> {
    let spec = reader.spec().clone();
    let mut converters: Vec<VoiceConverter> = (0..spec.channels)
        .map(|_| VoiceConverter::new(profile, spec.sample_rate as f32, settings))
        .collect();
    let latency = converters[0].latency_frames();
    let mut writer = WavWriter::create(path, spec.sample_rate, spec.channels, format)?;
    let bar = frames_bar("converting", spec.total_frames, spec.sample_rate);
    let mut input: Vec<Vec<f32>> = vec![Vec::with_capacity(CHUNK_FRAMES); spec.channels];
    let mut output: Vec<Vec<f32>> = vec![Vec::with_capacity(CHUNK_FRAMES); spec.channels];
    let mut to_skip = latency;
    let mut at_end = false;
    while !at_end {
        input.iter_mut().for_each(Vec::clear);
        let read = reader.read_frames(&mut input, CHUNK_FRAMES)?;
        if read < CHUNK_FRAMES {
            // Flush the converters' latency with silence.
            at_end = true;
            input.iter_mut().for_each(|c| c.resize(read + latency, 0.0));
        }
        let len = input[0].len();
        for ((converter, inp), out) in converters.iter_mut().zip(&input).zip(&mut output) {
            out.resize(len, 0.0);
            converter.process(inp, out);
        }
        let skip = to_skip.min(len);
        to_skip -= skip;
        writer.write_planar(&output.iter().map(|c| &c[skip..]).collect::<Vec<_>>())?;
        bar.set_position(reader.frames_read());
    }
    bar.finish_and_clear();
    let written = Written {
        frames: writer.frames_written(),
        clipped: writer.clipped_samples(),
        latency,
    };
    writer.finalize()?;
    Ok(written)
}
