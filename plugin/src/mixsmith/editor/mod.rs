//! Mixsmith's editor: the suite's status bar, a notice banner, and one tab per tool.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mixsmith_core::analyze::LiveLoudness;
use mixsmith_core::realtime::EngineStats;
use mixsmith_core::realtime::clip::ClipSender;
use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug::prelude::AtomicF32;
use nice_plug_egui::{EguiEditorState, Frame, NiceEguiApp, baseview};

use super::generate::Generator;
use super::learn::MasterLink;
use super::params::MixsmithParams;
use super::session::Tab;
use super::tools::Capture;
use crate::editor::engine_status;

mod analyze_tab;
mod engine_tab;
mod generate_tab;
mod master_tab;

/// How often the editor refreshes its live read-outs.
const REFRESH: Duration = Duration::from_millis(100);

/// The editor's initial size.
pub(crate) fn default_state() -> Arc<EguiEditorState> {
    EguiEditorState::from_size(LogicalSize::new(640.0, 480.0), 1.0)
}

/// The editor application.
pub struct MixsmithEditor {
    /// Parameters and session.
    params: Arc<MixsmithParams>,
    /// Engine counters written by the audio thread and the worker.
    stats: Arc<EngineStats>,
    /// The sample rate of the current activation.
    sample_rate: Arc<AtomicF32>,
    /// Live loudness readings from the worker.
    loudness: Arc<LiveLoudness>,
    /// Mastering's link to the running engine.
    master: Arc<MasterLink>,
    /// The Analyze tab's state between frames ("Export MIDI").
    analyze_tab: analyze_tab::AnalyzeTab,
    /// The Master tab's state between frames.
    master_tab: master_tab::MasterTab,
    /// Cloud jobs and audition for the Generate tab.
    generator: Generator,
    /// The transport position the host is hearing, for placing auditioned clips.
    heard_position: Arc<AtomicI64>,
    /// The host connection, present while the window is open.
    gui: Option<GuiContext>,
}

impl MixsmithEditor {
    /// The editor over the plugin's shared state: one handle per thing the engine and the editor
    /// share.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        params: Arc<MixsmithParams>,
        stats: Arc<EngineStats>,
        sample_rate: Arc<AtomicF32>,
        loudness: Arc<LiveLoudness>,
        master: Arc<MasterLink>,
        midi_capture: Arc<Capture>,
        clips: Arc<Mutex<ClipSender>>,
        heard_position: Arc<AtomicI64>,
    ) -> Self {
        Self {
            params,
            stats,
            sample_rate,
            loudness,
            master,
            analyze_tab: analyze_tab::AnalyzeTab::new(midi_capture),
            master_tab: master_tab::MasterTab::default(),
            generator: Generator::new(clips),
            heard_position,
            gui: None,
        }
    }

    fn notice_banner(&self, ui: &mut egui::Ui) {
        let Ok(mut session) = self.params.session.write() else {
            return;
        };
        let Some(notice) = session.notice.clone() else {
            return;
        };
        ui.horizontal(|ui| {
            ui.colored_label(egui::Color32::YELLOW, notice);
            if ui.button("Dismiss").clicked() {
                session.notice = None;
            }
        });
    }

    fn tab_bar(&self, ui: &mut egui::Ui) -> Tab {
        let Ok(mut session) = self.params.session.write() else {
            return Tab::default();
        };
        ui.horizontal(|ui| {
            ui.selectable_value(&mut session.tab, Tab::Engine, "Engine");
            ui.selectable_value(&mut session.tab, Tab::Analyze, "Analyze");
            ui.selectable_value(&mut session.tab, Tab::Master, "Master");
            ui.selectable_value(&mut session.tab, Tab::Generate, "Generate");
        });
        session.tab
    }
}

impl MixsmithEditor {
    fn generate_tab(&mut self, ui: &mut egui::Ui) {
        let Ok(mut session) = self.params.session.write() else {
            return;
        };
        generate_tab::show(
            ui,
            &mut self.generator,
            &mut session.generate,
            self.heard_position.load(Ordering::Relaxed),
            self.sample_rate.load(Ordering::Relaxed).round() as u32,
        );
    }
}

impl NiceEguiApp for MixsmithEditor {
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
        // A cheap handle clone, so the tabs may borrow `self` mutably.
        let Some(gui) = self.gui.clone() else {
            return;
        };
        let setter = gui.param_setter();
        egui::Frame::new()
            .inner_margin(egui::Margin::same(8))
            .show(ui, |ui| {
                engine_status(
                    ui,
                    "Mixsmith",
                    &self.stats,
                    self.sample_rate.load(Ordering::Relaxed),
                );
                self.notice_banner(ui);
                ui.separator();
                match self.tab_bar(ui) {
                    Tab::Engine => engine_tab::show(ui, &self.params, &setter),
                    Tab::Analyze => self.analyze_tab.show(
                        ui,
                        &self.params,
                        &self.loudness,
                        self.sample_rate.load(Ordering::Relaxed),
                    ),
                    Tab::Master => self.master_tab.show(
                        ui,
                        &self.params,
                        &setter,
                        &self.master,
                        self.sample_rate.load(Ordering::Relaxed),
                    ),
                    Tab::Generate => self.generate_tab(ui),
                }
            });
    }

    fn editor_closed(&mut self) {
        self.gui = None;
    }
}
