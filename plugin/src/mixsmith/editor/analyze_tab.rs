//! The Analyze tab: a live loudness meter of the plugin's input with a short-term history plot,
//! the tempo and key of what it has heard, and "Export MIDI" of captured playback or a file.

use std::path::PathBuf;
use std::sync::Arc;

use crossbeam_channel::Receiver;
use egui_plot::{HLine, Line, Plot, PlotPoints};
use mixsmith_core::analyze::{LiveLoudness, LoudnessSnapshot};
use mixsmith_core::transcribe::model_search;

use crate::editor::{FileDialog, NO_DIALOG, file_dialog};
use crate::mixsmith::midi_export::{ExportJob, ExportReport, ExportSource};
use crate::mixsmith::params::MixsmithParams;
use crate::mixsmith::session::LoudnessTarget;
use crate::mixsmith::tools::{Capture, MAX_CAPTURE_SECONDS};

/// Seconds between two history points (the meter publishes every 100 ms).
const HISTORY_PERIOD_S: f64 = 0.1;

/// The MIDI file's proposed name.
const MIDI_NAME: &str = "mixsmith-notes.mid";

/// Width of the path fields, in points (about 60 characters).
const PATH_WIDTH: f32 = 420.0;

/// Width of the labels before the path fields, in points.
const LABEL_WIDTH: f32 = 70.0;

/// What "Export MIDI" transcribes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The last stretch captured from the host's playback.
    Capture,
    /// An audio file.
    File,
}

/// Which path field a file dialog fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathField {
    Audio,
    Midi,
}

/// Audio captured from the host's playback, kept until the next capture.
struct Captured {
    /// One buffer per channel.
    audio: Arc<Vec<Vec<f32>>>,
    /// Its sample rate.
    sample_rate: u32,
}

/// The tab's state between frames.
pub(super) struct AnalyzeTab {
    /// The capture for "Export MIDI", filled by the bridge's worker while armed.
    capture: Arc<Capture>,
    /// The last stretch captured.
    captured: Option<Captured>,
    /// What to transcribe.
    source: Source,
    /// The audio file to transcribe.
    audio_file: String,
    /// The MIDI file to write.
    midi_file: String,
    /// The running export, if any.
    job: Option<ExportJob>,
    /// The last export's outcome.
    status: Option<Result<ExportReport, String>>,
    /// A file dialog running on its own thread, and the field it fills.
    dialog: Option<(PathField, Receiver<Option<String>>)>,
}

impl AnalyzeTab {
    /// The tab, arming `capture` for "Capture playback".
    pub(super) fn new(capture: Arc<Capture>) -> Self {
        let folder = dirs::audio_dir()
            .or_else(dirs::home_dir)
            .unwrap_or_default();
        Self {
            capture,
            captured: None,
            source: Source::Capture,
            audio_file: String::new(),
            midi_file: folder.join(MIDI_NAME).display().to_string(),
            job: None,
            status: None,
            dialog: None,
        }
    }

    /// Draws the tab. `sample_rate` is the current activation's.
    pub(super) fn show(
        &mut self,
        ui: &mut egui::Ui,
        params: &MixsmithParams,
        loudness: &LiveLoudness,
        sample_rate: f32,
    ) {
        self.poll();
        let snapshot = loudness.snapshot();
        let target = params
            .session
            .read()
            .map(|session| session.loudness_target)
            .unwrap_or_default();

        ui.horizontal(|ui| {
            ui.label("Target");
            if let Ok(mut session) = params.session.write() {
                for choice in LoudnessTarget::ALL {
                    ui.selectable_value(&mut session.loudness_target, choice, choice.label());
                }
            }
            if ui
                .button("Reset")
                .on_hover_text("Start loudness, tempo and key afresh")
                .clicked()
            {
                loudness.request_reset();
            }
        });
        readings(ui, &snapshot, target);
        ui.separator();
        self.export_midi(ui, sample_rate);
        ui.separator();
        history_plot(ui, &snapshot, target);
    }

    /// Collects a finished export or file dialog.
    fn poll(&mut self) {
        if let Some((field, receiver)) = &self.dialog
            && let Ok(choice) = receiver.try_recv()
        {
            if let Some(path) = choice {
                match field {
                    PathField::Audio => self.audio_file = path,
                    PathField::Midi => self.midi_file = path,
                }
            }
            self.dialog = None;
        }
        if let Some(outcome) = self.job.as_ref().and_then(ExportJob::outcome) {
            self.job = None;
            self.status = Some(outcome);
        }
    }

    fn open_dialog(&mut self, field: PathField) {
        let kind = match field {
            PathField::Audio => FileDialog::OpenAudio,
            PathField::Midi => FileDialog::SaveMidi(MIDI_NAME.to_owned()),
        };
        match file_dialog(kind) {
            Some(receiver) => self.dialog = Some((field, receiver)),
            None => self.status = Some(Err(NO_DIALOG.to_owned())),
        }
    }

    /// The "Export MIDI" section: the source, the paths, the button, progress and outcome.
    fn export_midi(&mut self, ui: &mut egui::Ui, sample_rate: f32) {
        ui.horizontal(|ui| {
            ui.strong("Export MIDI from");
            ui.selectable_value(&mut self.source, Source::Capture, "captured playback");
            ui.selectable_value(&mut self.source, Source::File, "an audio file");
        });
        match self.source {
            Source::Capture => {
                ui.horizontal(|ui| {
                    row_label(ui, "Playback");
                    self.capture_controls(ui, sample_rate);
                });
            }
            Source::File => {
                if path_row(
                    ui,
                    "Audio file",
                    &mut self.audio_file,
                    "/path/to/song.wav",
                    "Browse…",
                ) {
                    self.open_dialog(PathField::Audio);
                }
            }
        }
        if path_row(
            ui,
            "MIDI file",
            &mut self.midi_file,
            "/path/to/notes.mid",
            "Save as…",
        ) {
            self.open_dialog(PathField::Midi);
        }
        if let Some(job) = &self.job {
            ui.add(
                egui::ProgressBar::new(job.progress())
                    .text(format!("Transcribing… {:.0} %", job.progress() * 100.0)),
            );
            return;
        }
        let source = self.export_source();
        let button = ui
            .add_enabled(source.is_some(), egui::Button::new("Export MIDI"))
            .on_hover_text("Transcribe the notes with basic-pitch and write a .mid file")
            .on_disabled_hover_text(match self.source {
                Source::Capture => "Capture some playback first",
                Source::File => "Choose an audio file first",
            });
        if button.clicked()
            && let Some(source) = source
        {
            self.status = None;
            self.job = Some(ExportJob::start(
                source,
                PathBuf::from(self.midi_file.trim()),
                model_search(None),
            ));
        }
        match &self.status {
            Some(Ok(report)) => {
                ui.label(success(report));
            }
            Some(Err(error)) => {
                ui.colored_label(egui::Color32::YELLOW, format!("Export failed: {error}"));
            }
            None => {}
        }
    }

    /// "Capture" / "Stop" and how much was captured.
    fn capture_controls(&mut self, ui: &mut egui::Ui, sample_rate: f32) {
        if self.capture.is_running() {
            if ui.button("Stop").clicked() {
                let audio = self.capture.finish();
                self.captured = Some(Captured {
                    audio: Arc::new(audio),
                    sample_rate: sample_rate.round() as u32,
                });
            }
            ui.label(format!(
                "capturing: {:.1} s (up to {MAX_CAPTURE_SECONDS:.0} s)",
                self.capture.seconds(sample_rate)
            ));
        } else {
            if ui
                .button("Capture")
                .on_hover_text("Start, play in the host, then Stop")
                .clicked()
            {
                self.captured = None;
                self.status = None;
                self.capture.start();
            }
            ui.label(match &self.captured {
                Some(captured) => format!(
                    "captured: {:.1} s at {} Hz",
                    captured.audio.first().map_or(0, Vec::len) as f64
                        / f64::from(captured.sample_rate.max(1)),
                    captured.sample_rate
                ),
                None => "nothing captured yet (0.0 s)".to_owned(),
            });
        }
    }

    /// The source to export, if one is ready.
    fn export_source(&self) -> Option<ExportSource> {
        match self.source {
            Source::Capture => self
                .captured
                .as_ref()
                .filter(|c| c.audio.first().is_some_and(|a| !a.is_empty()))
                .map(|c| ExportSource::Captured {
                    audio: Arc::clone(&c.audio),
                    sample_rate: c.sample_rate,
                }),
            Source::File => {
                let path = self.audio_file.trim();
                (!path.is_empty()).then(|| ExportSource::File(PathBuf::from(path)))
            }
        }
    }
}

/// A row's label, as wide as the widest one so the fields line up.
fn row_label(ui: &mut egui::Ui, text: &str) {
    let width = ui.label(text).rect.width();
    ui.add_space((LABEL_WIDTH - width).max(0.0));
}

/// A labelled path field and a button beside it; true when the button was clicked.
fn path_row(ui: &mut egui::Ui, label: &str, path: &mut String, hint: &str, button: &str) -> bool {
    ui.horizontal(|ui| {
        row_label(ui, label);
        ui.add(
            egui::TextEdit::singleline(path)
                .hint_text(hint)
                .desired_width(PATH_WIDTH),
        );
        ui.button(button).clicked()
    })
    .inner
}

/// `Wrote 12 notes (8.0 s at 120.0 BPM) to /path/notes.mid`.
fn success(report: &ExportReport) -> String {
    let tempo = if report.tempo_measured {
        format!("{:.1} BPM", report.tempo_bpm)
    } else {
        format!("{:.0} BPM, no steady beat found", report.tempo_bpm)
    };
    format!(
        "Wrote {} notes ({:.1} s at {tempo}) to {}",
        report.notes,
        report.duration_s,
        report.midi.display()
    )
}

/// The readings in two columns of label and value; tempo and key last.
fn readings(ui: &mut egui::Ui, snapshot: &LoudnessSnapshot, target: LoudnessTarget) {
    let versus_target = if snapshot.integrated.is_finite() {
        format!("{:+.1} LU", snapshot.integrated - target.lufs())
    } else {
        "— LU".to_owned()
    };
    let cells = [
        ("Momentary", format_level(snapshot.momentary, "LUFS")),
        ("Short-term", format_level(snapshot.short_term, "LUFS")),
        ("Integrated", format_level(snapshot.integrated, "LUFS")),
        ("Integrated vs target", versus_target),
        (
            "Loudness range",
            format_level(snapshot.loudness_range, "LU"),
        ),
        ("True peak", format_level(snapshot.true_peak_dbtp, "dBTP")),
        (
            "Sample peak",
            format_level(snapshot.sample_peak_dbfs, "dBFS"),
        ),
    ];
    egui::Grid::new("loudness")
        .num_columns(4)
        .spacing([16.0, 4.0])
        .show(ui, |ui| {
            for pair in cells.chunks(2) {
                for (label, value) in pair {
                    ui.label(*label);
                    ui.monospace(value);
                }
                ui.end_row();
            }
        });
    ui.horizontal(|ui| {
        ui.strong("Tempo (last 20 s)");
        ui.monospace(match snapshot.bpm {
            Some(bpm) => format!("{bpm:.1} BPM"),
            None => "— BPM (no steady beat yet)".to_owned(),
        });
        ui.add_space(16.0);
        ui.strong("Key (since reset)");
        ui.monospace(match snapshot.key {
            Some(key) => key.to_string(),
            None => "— (no tonal centre yet)".to_owned(),
        });
    });
}

fn history_plot(ui: &mut egui::Ui, snapshot: &LoudnessSnapshot, target: LoudnessTarget) {
    let points: PlotPoints = snapshot
        .history
        .iter()
        .enumerate()
        .filter(|(_, lufs)| lufs.is_finite())
        .map(|(index, lufs)| [index as f64 * HISTORY_PERIOD_S, f64::from(*lufs)])
        .collect();
    Plot::new("short-term history")
        .height(ui.available_height().max(80.0))
        .include_x(0.0)
        .include_x(30.0)
        .include_y(-40.0)
        .include_y(0.0)
        .x_axis_label("seconds")
        .y_axis_label("short-term LUFS")
        .allow_scroll(false)
        .show(ui, |plot| {
            plot.line(Line::new("short-term", points));
            plot.hline(HLine::new(target.label(), target.lufs()));
        });
}

/// `-23.0 LUFS`, or a dash for silence / not enough audio yet.
fn format_level(value: f64, unit: &str) -> String {
    if value.is_finite() {
        format!("{value:.1} {unit}")
    } else {
        format!("— {unit}")
    }
}
