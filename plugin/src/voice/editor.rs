//! The Voice editor: the RVC pack, the voice profile (load, learn from playback or a file), the
//! conversion controls, and a live plot of the pitch going in and coming out.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use egui_plot::{GridInput, GridMark, Legend, Line, Plot, PlotPoints};
use mixsmith_core::voice::VoiceProfile;
use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug::prelude::{AtomicF32, ParamSetter};
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{EguiEditor, EguiEditorState, Frame, NiceEguiApp, baseview};

use super::monitor::{HISTORY_SECONDS, PitchPoint, VoiceCommand, VoiceShared, profile_summary};
use super::pack::{PackCache, PackLoad};
use super::params::VoiceParams;
use crate::editor::{
    FileDialog, NO_DIALOG, field_label, file_dialog, installed_packs, pack_row, toggle,
};
use mixsmith_core::inference::Task;

/// The width of the labels in the first column, in points.
const FIELD_WIDTH: f32 = 52.0;
/// How often the plot refreshes.
const REFRESH: Duration = Duration::from_millis(50);
/// The sliders' width, in points.
const SLIDER_WIDTH: f32 = 220.0;
/// The plot's lowest and highest note shown at first (MIDI numbers: C2 to C6).
const PLOT_NOTES: (f64, f64) = (36.0, 84.0);

/// The editor's initial size.
pub(super) fn default_state() -> Arc<EguiEditorState> {
    EguiEditorState::from_size(LogicalSize::new(640.0, 560.0), 1.0)
}

/// Creates the editor window.
pub(super) fn create(
    state: Arc<EguiEditorState>,
    app: VoiceEditor,
) -> Option<EguiEditor<VoiceEditor>> {
    crate::editor::create(state, "Mixsmith Voice", app)
}

/// Which file dialog is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Picking {
    /// A profile (`.json`) to load.
    Profile,
    /// An audio file to learn a voice from.
    Reference,
    /// An RVC v2 pack's folder.
    Pack,
}

/// The editor application.
pub struct VoiceEditor {
    /// Conversion controls and the saved profile.
    params: Arc<VoiceParams>,
    /// The sample rate of the current activation.
    sample_rate: Arc<AtomicF32>,
    /// Pitch history, learning progress and status.
    shared: Arc<VoiceShared>,
    /// The monitor thread's commands, while the plugin is active.
    commands: Arc<Mutex<Option<Sender<VoiceCommand>>>>,
    /// A file dialog running on its own thread, and what it is for.
    file_dialog: Option<(Picking, Receiver<Option<String>>)>,
    /// The host connection, present while the window is open.
    gui: Option<GuiContext>,
    /// The pack folder being typed or picked, applied with "Use pack".
    pack_path: String,
    /// The voice packs found in the models folder: (name, folder), scanned when the editor
    /// opens.
    packs: Vec<(String, String)>,
    /// The plugin's loaded packs, shared so a chosen pack loads before the restart.
    pack_cache: Arc<Mutex<PackCache>>,
    /// The chosen pack while it loads.
    pack_load: Option<PackLoad>,
}

impl VoiceEditor {
    /// The editor over the plugin's shared state.
    pub(super) fn new(
        params: Arc<VoiceParams>,
        sample_rate: Arc<AtomicF32>,
        shared: Arc<VoiceShared>,
        commands: Arc<Mutex<Option<Sender<VoiceCommand>>>>,
        pack_cache: Arc<Mutex<PackCache>>,
    ) -> Self {
        let pack_path = params.pack.read().map(|p| p.clone()).unwrap_or_default();
        Self {
            params,
            sample_rate,
            shared,
            commands,
            file_dialog: None,
            gui: None,
            pack_path,
            packs: installed_packs(Task::Voice),
            pack_cache,
            pack_load: None,
        }
    }

    /// The status bar: latency and sample rate.
    fn status_bar(&self, ui: &mut egui::Ui) {
        let rate = self.sample_rate.load(Ordering::Relaxed).max(1.0);
        let latency = self.shared.latency_frames.load(Ordering::Relaxed);
        ui.horizontal(|ui| {
            ui.heading("Mixsmith Voice");
            ui.separator();
            ui.label(format!(
                "latency {latency} frames ({:.1} ms)",
                f64::from(latency) * 1000.0 / f64::from(rate)
            ));
            ui.separator();
            ui.label(format!("{:.1} kHz", rate / 1000.0));
            let rvc = self.shared.rvc.lock().ok().and_then(|r| r.clone());
            if let Some(rvc) = rvc {
                let stats = self.shared.stats.snapshot();
                ui.separator();
                ui.label(format!(
                    "pack: {} windows, load {:.0} %, {} underruns",
                    rvc.windows(),
                    100.0 * stats.load,
                    stats.underruns
                ))
                .on_hover_text(
                    "Underruns: realtime blocks that were the delayed dry signal because the \
                     pack's worker was late",
                );
            }
        });
    }

    /// The RVC pack: one of the installed packs, or any pack's folder (typed or picked), applied
    /// by restarting the plugin, and what converts now.
    fn pack_section(&mut self, ui: &mut egui::Ui) {
        ui.strong("Voice pack (RVC v2)");
        if let Some(selected) = pack_row(
            ui,
            FIELD_WIDTH,
            "Installed",
            &self.packs,
            &self.params.pack,
            "DSP converter (no pack)",
            "No voice packs in the models folder: type or pick a pack's folder.",
        ) {
            self.pack_path.clone_from(&selected);
            self.apply_pack(selected);
        }
        ui.horizontal(|ui| {
            field_label(ui, FIELD_WIDTH, "Folder");
            ui.add(
                egui::TextEdit::singleline(&mut self.pack_path)
                    .hint_text("none: the DSP converter")
                    .desired_width(300.0),
            );
            if ui.button("Pick…").clicked() {
                self.open_dialog(Picking::Pack, FileDialog::OpenFolder);
            }
            if ui
                .button("Use pack")
                .on_hover_text("Loads the pack: the host restarts the plugin (new latency)")
                .clicked()
            {
                let folder = self.pack_path.trim().to_owned();
                self.apply_pack(folder);
            }
            if ui.button("DSP").clicked() {
                self.pack_path.clear();
                self.apply_pack(String::new());
            }
        });
        let rvc = self.shared.rvc.lock().ok().and_then(|r| r.clone());
        if let Some(error) = rvc.and_then(|r| r.error()) {
            ui.colored_label(
                egui::Color32::LIGHT_RED,
                format!("The pack failed while converting: {error}. The input passes delayed."),
            );
        }
        let status = self.shared.pack_status();
        if !status.is_empty() {
            ui.add(egui::Label::new(status).wrap());
        }
    }

    /// Uses the pack in `folder` (empty: the DSP converter): a pack is first loaded on a thread
    /// of its own ([`poll_pack_load`](Self::poll_pack_load) takes it from there); the DSP
    /// converter is saved at once. Either way the host then restarts the plugin, which finds
    /// the pack loaded in `activate()` and reports the new latency.
    fn apply_pack(&mut self, folder: String) {
        if folder.is_empty() {
            self.pack_load = None;
            self.save_pack_and_restart(folder);
            return;
        }
        self.shared
            .set_pack_status(format!("Loading the pack {folder}…"));
        self.pack_load = Some(PackLoad::start(self.pack_cache.clone(), folder));
    }

    /// Once the chosen pack has loaded, saves it and restarts the plugin; a pack that failed is
    /// named with the reason and nothing changes.
    fn poll_pack_load(&mut self) {
        let Some(result) = self.pack_load.as_ref().and_then(PackLoad::poll) else {
            return;
        };
        let Some(load) = self.pack_load.take() else {
            return;
        };
        match result {
            Ok(()) => self.save_pack_and_restart(load.folder().to_owned()),
            Err(error) => self
                .shared
                .set_pack_status(format!("{error}. The plugin goes on as it was.")),
        }
    }

    /// Saves `folder` as the pack and asks the host to restart the plugin.
    fn save_pack_and_restart(&mut self, folder: String) {
        if let Ok(mut pack) = self.params.pack.write() {
            *pack = folder;
        }
        self.shared
            .set_pack_status("Restarting the plugin with the pack…");
        if let Some(gui) = &self.gui {
            gui.request_restart();
        }
    }

    /// The profile in use, loading one, and "Learn voice".
    fn profile_section(&mut self, ui: &mut egui::Ui) {
        let sender = self.commands.lock().ok().and_then(|c| c.clone());
        let json = self
            .params
            .profile
            .read()
            .map(|p| p.clone())
            .unwrap_or_default();
        let source = self
            .params
            .profile_source
            .read()
            .map(|s| s.clone())
            .unwrap_or_default();
        ui.strong("Voice profile");
        ui.horizontal(|ui| {
            field_label(ui, FIELD_WIDTH, "Voice");
            if json.is_empty() && self.params.transpose.value() == 0.0 {
                ui.weak("none: the voice passes unchanged");
            } else if json.is_empty() {
                ui.weak("none: the voice keeps its timbre and is only transposed");
            } else {
                ui.add(egui::Label::new(source.as_str()).truncate())
                    .on_hover_text(source.as_str());
            }
        });
        if let Ok(profile) = VoiceProfile::from_json(&json) {
            ui.horizontal(|ui| {
                field_label(ui, FIELD_WIDTH, "");
                ui.label(profile_summary(&profile));
            });
        }
        let idle = sender.is_some() && !self.shared.busy.load(Ordering::Relaxed);
        ui.horizontal(|ui| {
            field_label(ui, FIELD_WIDTH, "");
            if ui
                .add_enabled(
                    idle && self.file_dialog.is_none(),
                    egui::Button::new("Load profile…"),
                )
                .on_hover_text("A .json profile written by `mixsmith voice clone`")
                .clicked()
            {
                self.open_dialog(Picking::Profile, FileDialog::OpenProfile);
            }
            if ui
                .add_enabled(idle && !json.is_empty(), egui::Button::new("Clear"))
                .clicked()
                && let Some(sender) = &sender
            {
                let _ = sender.send(VoiceCommand::Clear);
            }
        });
        ui.horizontal(|ui| {
            field_label(ui, FIELD_WIDTH, "Learn");
            let capturing = self.shared.capturing.load(Ordering::Relaxed);
            if capturing {
                let seconds = self.shared.captured_seconds.load(Ordering::Relaxed);
                if ui
                    .add_enabled(
                        idle,
                        egui::Button::new(format!("Learn from {seconds:.1} s")),
                    )
                    .clicked()
                    && let Some(sender) = &sender
                {
                    let _ = sender.send(VoiceCommand::LearnCaptured);
                }
            } else if ui
                .add_enabled(idle, egui::Button::new("Capture playback"))
                .on_hover_text(
                    "Records what the host plays into this track (10 s or more of voice)",
                )
                .clicked()
                && let Some(sender) = &sender
            {
                let _ = sender.send(VoiceCommand::StartCapture);
            }
            if ui
                .add_enabled(
                    idle && self.file_dialog.is_none(),
                    egui::Button::new("Learn from file…"),
                )
                .clicked()
            {
                self.open_dialog(Picking::Reference, FileDialog::OpenAudio);
            }
        });
        self.poll_dialog(sender.as_ref());
        if self.shared.busy.load(Ordering::Relaxed) {
            let progress = self.shared.progress.load(Ordering::Relaxed);
            ui.add(
                egui::ProgressBar::new(progress)
                    .show_percentage()
                    .text(format!("learning the voice: {:.0} %", progress * 100.0)),
            );
        }
        let status = self.shared.status();
        if !status.is_empty() {
            ui.add(egui::Label::new(status).wrap());
        }
    }

    /// Opens a file dialog for `picking`.
    fn open_dialog(&mut self, picking: Picking, kind: FileDialog) {
        match file_dialog(kind) {
            Some(receiver) => self.file_dialog = Some((picking, receiver)),
            None => self.shared.set_status(NO_DIALOG),
        }
    }

    /// Acts on the file dialog's answer, when it has come.
    fn poll_dialog(&mut self, sender: Option<&Sender<VoiceCommand>>) {
        let Some((picking, receiver)) = &self.file_dialog else {
            return;
        };
        let Ok(answer) = receiver.try_recv() else {
            return;
        };
        let picking = *picking;
        self.file_dialog = None;
        let Some(path) = answer else {
            return;
        };
        let command = match picking {
            Picking::Pack => {
                self.pack_path = path;
                return;
            }
            Picking::Reference => VoiceCommand::LearnFile(PathBuf::from(path)),
            Picking::Profile => match load_profile(&path) {
                Ok(profile) => VoiceCommand::Use(Box::new(profile), path),
                Err(error) => {
                    self.shared.set_status(error);
                    return;
                }
            },
        };
        let Some(sender) = sender else {
            return;
        };
        let _ = sender.send(command);
    }

    /// The conversion controls.
    fn controls(&self, ui: &mut egui::Ui, setter: &ParamSetter) {
        ui.strong("Conversion");
        egui::Grid::new("controls")
            .num_columns(2)
            .spacing([12.0, 6.0])
            .show(ui, |ui| {
                for (label, param, hint) in [
                    (
                        "Transpose",
                        &self.params.transpose,
                        "Moves the pitch, in semitones; the formants stay",
                    ),
                    (
                        "Amount",
                        &self.params.amount,
                        "How far the timbre moves to the profile's",
                    ),
                    (
                        "Formant",
                        &self.params.formant,
                        "Shifts the profile's formants (positive: smaller, brighter)",
                    ),
                    (
                        "Protect",
                        &self.params.protect,
                        "Keeps consonants and breaths: 0 leaves them as they are, 0.5 converts them fully",
                    ),
                    (
                        "Dry/Wet",
                        &self.params.dry_wet,
                        "The converted voice's share of the output",
                    ),
                ] {
                    ui.label(label).on_hover_text(hint);
                    ui.add(ParamSlider::for_param(param, setter).with_width(SLIDER_WIDTH));
                    ui.end_row();
                }
                ui.label("");
                toggle(ui, &self.params.bypass, "Bypass", setter);
                ui.end_row();
            });
    }

    /// The pitch plot: input and output F0 of the last seconds, on a note scale.
    fn pitch_plot(&self, ui: &mut egui::Ui) {
        let history: Vec<PitchPoint> = self
            .shared
            .history
            .lock()
            .map(|h| h.iter().copied().collect())
            .unwrap_or_default();
        let newest = history.last().map_or(0.0, |p| p.time);
        let input = voiced_runs(&history, newest, |p| p.input_hz);
        let output = voiced_runs(&history, newest, |p| p.output_hz);
        Plot::new("pitch")
            .height(ui.available_height().max(140.0))
            .legend(Legend::default())
            .include_x(-HISTORY_SECONDS)
            .include_x(0.0)
            .include_y(PLOT_NOTES.0)
            .include_y(PLOT_NOTES.1)
            .x_axis_label("seconds")
            .y_grid_spacer(note_grid)
            .y_axis_formatter(|mark, _| note_name(mark.value))
            .y_axis_label("pitch")
            .allow_scroll(false)
            .show(ui, |plot| {
                for run in input {
                    plot.line(Line::new("input", PlotPoints::from(run)));
                }
                for run in output {
                    plot.line(Line::new("output", PlotPoints::from(run)));
                }
            });
    }
}

impl NiceEguiApp for VoiceEditor {
    fn build(
        &mut self,
        _egui_ctx: egui::Context,
        gui: GuiContext,
        _frame: &mut Frame,
    ) -> Result<(), baseview::HandlerError> {
        self.gui = Some(gui);
        Ok(())
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut Frame) {
        ui.ctx().request_repaint_after(REFRESH);
        let Some(gui) = self.gui.clone() else {
            return;
        };
        let setter = gui.param_setter();
        egui::Frame::new()
            .inner_margin(egui::Margin::same(8))
            .show(ui, |ui| {
                self.poll_pack_load();
                self.status_bar(ui);
                ui.separator();
                self.pack_section(ui);
                ui.separator();
                self.profile_section(ui);
                ui.separator();
                self.controls(ui, &setter);
                ui.separator();
                self.pitch_plot(ui);
            });
    }

    fn editor_closed(&mut self) {
        self.gui = None;
    }
}

/// Reads and checks a profile file; the error names the file.
fn load_profile(path: &str) -> Result<VoiceProfile, String> {
    let text =
        std::fs::read_to_string(path).map_err(|error| format!("Cannot read {path}: {error}"))?;
    VoiceProfile::from_json(&text)
        .map_err(|error| format!("{path} is not a voice profile: {error}"))
}

/// The voiced stretches of `history` as lines of (seconds before `newest`, MIDI note).
fn voiced_runs(
    history: &[PitchPoint],
    newest: f64,
    hz: impl Fn(&PitchPoint) -> f32,
) -> Vec<Vec<[f64; 2]>> {
    let mut runs: Vec<Vec<[f64; 2]>> = Vec::new();
    let mut open = false;
    for point in history {
        let f0 = hz(point);
        if f0 > 0.0 {
            let note = 69.0 + 12.0 * (f64::from(f0) / 440.0).log2();
            if !open {
                runs.push(Vec::new());
                open = true;
            }
            if let Some(run) = runs.last_mut() {
                run.push([point.time - newest, note]);
            }
        } else {
            open = false;
        }
    }
    runs
}

/// Grid lines on the pitch axis: every C (labelled), and every semitone when they are far
/// enough apart to see.
fn note_grid(input: GridInput) -> Vec<GridMark> {
    let (low, high) = input.bounds;
    let semitones = input.base_step_size <= 0.5;
    (low.ceil() as i64..=high.floor() as i64)
        .filter_map(|note| {
            if note.rem_euclid(12) == 0 {
                Some(GridMark {
                    value: note as f64,
                    step_size: 12.0,
                })
            } else {
                semitones.then_some(GridMark {
                    value: note as f64,
                    step_size: 1.0,
                })
            }
        })
        .collect()
}

/// The name of a C on the pitch axis (`"C4"`); other marks are left unlabelled.
fn note_name(note: f64) -> String {
    let rounded = note.round();
    if (note - rounded).abs() > 0.01 || (rounded as i64).rem_euclid(12) != 0 {
        return String::new();
    }
    format!("C{}", (rounded as i64).div_euclid(12) - 1)
}
