//! The Stems editor: one channel strip per stem (level meter, gain, mute, solo) and the
//! rebalanced mix's meter, under the suite's status bar.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mixsmith_core::inference::Task;
use mixsmith_core::separate::{STEMS, Stem};
use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug::prelude::{AtomicF32, ParamSetter};
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{EguiEditor, EguiEditorState, Frame, NiceEguiApp, baseview};

use super::ahead::{AheadCommand, AheadShared};
use super::mixer::{METER_FLOOR_DB, StemMeters};
use super::params::StemsParams;
use crate::editor::{
    FileDialog, NO_DIALOG, engine_status, field_label, file_dialog, installed_packs, pack_row,
    toggle,
};
use mixsmith_core::realtime::EngineStats;

/// The width of the labels in the first column, in points.
const FIELD_WIDTH: f32 = 62.0;
/// How often the meters refresh.
const REFRESH: Duration = Duration::from_millis(50);
/// The lowest level a meter shows, in dBFS.
const METER_MIN_DB: f32 = -60.0;
/// How fast a meter falls, in dB per second (peaks rise at once).
const METER_FALL_DB_PER_S: f32 = 24.0;
/// The meter bars' size, in points.
const METER_SIZE: egui::Vec2 = egui::vec2(22.0, 150.0);
/// Where the meters' scale has a tick, in dBFS.
const METER_TICKS: [f32; 5] = [0.0, -6.0, -12.0, -24.0, -48.0];
/// A channel strip's width, in points.
const STRIP_WIDTH: f32 = 112.0;
/// The gain sliders' width, in points (their value box sits beside them).
const SLIDER_WIDTH: f32 = 56.0;

/// The editor's initial size.
pub(super) fn default_state() -> Arc<EguiEditorState> {
    EguiEditorState::from_size(LogicalSize::new(660.0, 520.0), 1.0)
}

/// Creates the editor window.
pub(super) fn create(
    state: Arc<EguiEditorState>,
    app: StemsEditor,
) -> Option<EguiEditor<StemsEditor>> {
    crate::editor::create(state, "Mixsmith Stems", app)
}

/// The editor application.
pub struct StemsEditor {
    /// Per-stem controls.
    params: Arc<StemsParams>,
    /// Engine counters.
    stats: Arc<EngineStats>,
    /// The sample rate of the current activation.
    sample_rate: Arc<AtomicF32>,
    /// Levels written by the audio thread.
    meters: Arc<StemMeters>,
    /// The levels shown: per stem, then the mix, falling at [`METER_FALL_DB_PER_S`].
    shown: [f32; STEMS + 1],
    /// When `shown` was last updated.
    last_frame: Instant,
    /// Separating ahead: the chosen pack, progress and status.
    ahead: Arc<AheadShared>,
    /// The separation thread's commands, while the plugin is active.
    commands: Arc<Mutex<Option<Sender<AheadCommand>>>>,
    /// The separation packs found in the models folder: (name, folder), scanned when the
    /// editor opens.
    packs: Vec<(String, String)>,
    /// The folder "Export stems" writes to.
    export_folder: String,
    /// The file "Separate file" separates ahead of playback.
    picked_file: String,
    /// A file dialog for `picked_file`, running on its own thread.
    file_dialog: Option<Receiver<Option<String>>>,
    /// The host connection, present while the window is open.
    gui: Option<GuiContext>,
}

impl StemsEditor {
    /// The editor over the plugin's shared state.
    pub(super) fn new(
        params: Arc<StemsParams>,
        stats: Arc<EngineStats>,
        sample_rate: Arc<AtomicF32>,
        meters: Arc<StemMeters>,
        ahead: Arc<AheadShared>,
        commands: Arc<Mutex<Option<Sender<AheadCommand>>>>,
    ) -> Self {
        let export_folder = dirs::audio_dir()
            .or_else(dirs::home_dir)
            .map(|dir| dir.join("Mixsmith stems").display().to_string())
            .unwrap_or_default();
        Self {
            params,
            stats,
            sample_rate,
            meters,
            shown: [METER_FLOOR_DB; STEMS + 1],
            last_frame: Instant::now(),
            ahead,
            commands,
            packs: installed_packs(Task::Separate),
            export_folder,
            picked_file: String::new(),
            file_dialog: None,
            gui: None,
        }
    }

    /// The model pack choice, the separation's progress and "Export stems".
    fn pack_section(&mut self, ui: &mut egui::Ui) {
        let picked = pack_row(
            ui,
            FIELD_WIDTH,
            "Separator",
            &self.packs,
            &self.params.pack,
            "Built-in DSP only (no model)",
            "No separation packs installed (mixsmith models add FILE.onnx adds one).",
        );
        if let Some(selected) = &picked {
            if let Ok(mut pack) = self.params.pack.write() {
                selected.clone_into(&mut pack);
            }
            self.ahead.set_pack(selected);
        }
        let selected = self
            .params
            .pack
            .read()
            .map(|p| p.clone())
            .unwrap_or_default();
        let sender = self.commands.lock().ok().and_then(|c| c.clone());
        if !selected.is_empty() {
            ui.weak(
                "Play the part you want separated: the pack separates it in the background and \
                 plays its stems from then on wherever the audio is unchanged. Or separate the \
                 file the track plays before playing it: its stems play from the first pass.",
            );
            ui.horizontal(|ui| {
                field_label(ui, FIELD_WIDTH, "File");
                ui.add(
                    egui::TextEdit::singleline(&mut self.picked_file)
                        .desired_width(330.0)
                        .hint_text("the WAV, FLAC or AIFF file this track plays"),
                );
                if ui
                    .add_enabled(self.file_dialog.is_none(), egui::Button::new("Browse…"))
                    .clicked()
                {
                    self.file_dialog = file_dialog(FileDialog::OpenAudio);
                    if self.file_dialog.is_none() {
                        self.ahead.set_status(NO_DIALOG.to_owned());
                    }
                }
                if let Some(receiver) = &self.file_dialog
                    && let Ok(answer) = receiver.try_recv()
                {
                    if let Some(path) = answer {
                        self.picked_file = path;
                    }
                    self.file_dialog = None;
                }
                let ready = sender.is_some() && !self.picked_file.trim().is_empty();
                let button = ui.add_enabled(ready, egui::Button::new("Separate file"));
                if button.clicked()
                    && let Some(sender) = &sender
                {
                    let path = PathBuf::from(self.picked_file.trim());
                    let _ = sender.send(AheadCommand::SeparateFile(path));
                }
            });
        }
        if self.ahead.busy.load(Ordering::Relaxed) {
            let progress = self.ahead.progress.load(Ordering::Relaxed);
            ui.add(
                egui::ProgressBar::new(progress)
                    .show_percentage()
                    .text(format!(
                        "separating with the pack: {:.0} %",
                        progress * 100.0
                    )),
            );
        }
        let (regions, seconds) = self.ahead.cached.lock().map(|c| *c).unwrap_or_default();
        if regions > 0 {
            ui.label(format!(
                "Cached: {regions} region(s), {seconds:.1} s of stems from the pack"
            ));
        }
        let dropped = self.ahead.dropped_frames.load(Ordering::Relaxed);
        if dropped > 0 {
            ui.colored_label(
                egui::Color32::YELLOW,
                format!("{dropped} frames of playback could not be captured (system too busy)"),
            );
        }
        ui.horizontal(|ui| {
            field_label(ui, FIELD_WIDTH, "Export to");
            ui.add(
                egui::TextEdit::singleline(&mut self.export_folder)
                    .desired_width(330.0)
                    .hint_text("a folder for vocals.wav, drums.wav, bass.wav, other.wav"),
            );
            let button = ui.add_enabled(sender.is_some(), egui::Button::new("Export stems"));
            if button.clicked()
                && let Some(sender) = sender
            {
                let _ = sender.send(AheadCommand::Export(PathBuf::from(&self.export_folder)));
            }
        });
        if let Ok(status) = self.ahead.status.lock()
            && !status.is_empty()
        {
            ui.label(status.as_str());
        }
    }

    /// Moves the shown levels towards the audio thread's: up at once, down at the fall rate.
    fn update_levels(&mut self) {
        let now = Instant::now();
        let fall = METER_FALL_DB_PER_S * now.duration_since(self.last_frame).as_secs_f32();
        self.last_frame = now;
        let live = self
            .meters
            .stems
            .iter()
            .chain(std::iter::once(&self.meters.mix))
            .map(|meter| meter.load(Ordering::Relaxed));
        for (shown, level) in self.shown.iter_mut().zip(live) {
            *shown = level.max(*shown - fall);
        }
    }

    fn strip(&self, ui: &mut egui::Ui, stem: Stem, setter: &ParamSetter) {
        let params = self.params.stem(stem);
        ui.vertical(|ui| {
            ui.set_width(STRIP_WIDTH);
            ui.strong(capitalised(stem.name()));
            level_meter(ui, self.shown[stem.index()]);
            ui.add(ParamSlider::for_param(&params.gain, setter).with_width(SLIDER_WIDTH));
            ui.horizontal(|ui| {
                toggle(ui, &params.mute, "Mute", setter);
                toggle(ui, &params.solo, "Solo", setter);
            });
        });
    }
}

impl NiceEguiApp for StemsEditor {
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
        self.update_levels();
        egui::Frame::new()
            .inner_margin(egui::Margin::same(8))
            .show(ui, |ui| {
                engine_status(
                    ui,
                    "Mixsmith Stems",
                    &self.stats,
                    self.sample_rate.load(Ordering::Relaxed),
                );
                ui.separator();
                self.pack_section(ui);
                ui.separator();
                ui.horizontal(|ui| {
                    for stem in Stem::ALL {
                        self.strip(ui, stem, &setter);
                    }
                    ui.separator();
                    ui.vertical(|ui| {
                        ui.strong("Mix");
                        level_meter(ui, self.shown[STEMS]);
                        toggle(ui, &self.params.bypass, "Bypass", &setter);
                    });
                });
                ui.add_space(6.0);
                ui.add(
                    egui::Label::new(
                        egui::RichText::new(
                            "Auxiliary outputs 2-5 carry vocals, drums, bass and other as \
                             separated; the main output is their mix at the gains above.",
                        )
                        .weak(),
                    )
                    .wrap(),
                );
            });
    }

    fn editor_closed(&mut self) {
        self.gui = None;
    }
}

/// `name` with a capital first letter.
fn capitalised(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A vertical peak meter from [`METER_MIN_DB`] to 0 dBFS with a scale, and the level as text.
fn level_meter(ui: &mut egui::Ui, db: f32) {
    ui.horizontal(|ui| {
        let (rect, _) = ui.allocate_exact_size(METER_SIZE, egui::Sense::hover());
        let painter = ui.painter_at(rect.expand(40.0));
        painter.rect_filled(rect, 2.0, egui::Color32::from_gray(30));
        let height =
            |db: f32| ((db - METER_MIN_DB) / -METER_MIN_DB).clamp(0.0, 1.0) * rect.height();
        let top = rect.bottom() - height(db);
        let colour = if db > -1.0 {
            egui::Color32::from_rgb(220, 60, 50)
        } else if db > -12.0 {
            egui::Color32::from_rgb(220, 190, 60)
        } else {
            egui::Color32::from_rgb(70, 190, 90)
        };
        painter.rect_filled(
            egui::Rect::from_min_max(egui::pos2(rect.left(), top), rect.right_bottom()),
            2.0,
            colour,
        );
        for tick in METER_TICKS {
            let y = rect.bottom() - height(tick);
            painter.line_segment(
                [
                    egui::pos2(rect.right(), y),
                    egui::pos2(rect.right() + 4.0, y),
                ],
                egui::Stroke::new(1.0, egui::Color32::GRAY),
            );
            painter.text(
                egui::pos2(rect.right() + 6.0, y),
                egui::Align2::LEFT_CENTER,
                format!("{tick:.0}"),
                egui::FontId::proportional(10.0),
                egui::Color32::GRAY,
            );
        }
        ui.add_space(28.0);
    });
    let text = if db <= METER_MIN_DB {
        "-inf dBFS".to_owned()
    } else {
        format!("{db:.1} dBFS")
    };
    ui.monospace(text);
}
