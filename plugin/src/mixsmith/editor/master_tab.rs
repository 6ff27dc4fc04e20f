//! The Master tab: choose a reference, learn the match from the host's playback or a file, set
//! amount, ceiling and limiter, compare level-matched, and see the spectra and the match curve.

use std::sync::Arc;

use crossbeam_channel::Receiver;
use egui_plot::{Legend, Line, Plot, PlotPoints};
use mixsmith_core::master::{MatchProfile, MatchSettings, grid_frequencies};
use nice_plug::prelude::ParamSetter;
use nice_plug_egui::widgets::ParamSlider;

use crate::mixsmith::learn::{LearnJob, LearnSource, MasterLink};
use crate::mixsmith::params::MixsmithParams;
use crate::mixsmith::session::MasterSession;
use crate::mixsmith::tools::MAX_CAPTURE_SECONDS;

/// Width of the path fields in points: long enough to read a full path.
const PATH_WIDTH: f32 = 400.0;
/// Width of the path fields' labels, so both fields line up.
const PATH_LABEL_WIDTH: f32 = 120.0;

/// Which path field a file dialog fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathField {
    Reference,
    Target,
}

/// The tab's state between frames.
#[derive(Default)]
pub(super) struct MasterTab {
    /// The running "Learn", if any.
    job: Option<LearnJob>,
    /// The last error or status line.
    status: Option<String>,
    /// A file dialog running on its own thread (it blocks), and the field it fills.
    dialog: Option<(PathField, Receiver<Option<String>>)>,
}

impl MasterTab {
    /// Draws the tab.
    pub(super) fn show(
        &mut self,
        ui: &mut egui::Ui,
        params: &MixsmithParams,
        setter: &ParamSetter,
        link: &MasterLink,
        sample_rate: f32,
    ) {
        let Ok(mut session) = params.session.write() else {
            return;
        };
        let master = &mut session.master;
        self.poll(master, link);

        // Rows rather than a grid: a grid caps its columns' widths and would squeeze the
        // paths into a few characters.
        for (label, path, hint, field) in [
            (
                "Reference",
                &mut master.reference,
                "the mastered song to match (WAV, FLAC, MP3, Ogg)",
                PathField::Reference,
            ),
            (
                "Mix file (optional)",
                &mut master.target_file,
                "learn from this file instead of the playback",
                PathField::Target,
            ),
        ] {
            ui.horizontal(|ui| {
                ui.add_sized([PATH_LABEL_WIDTH, 18.0], egui::Label::new(label));
                ui.add(
                    egui::TextEdit::singleline(path)
                        .hint_text(hint)
                        .desired_width(PATH_WIDTH),
                );
                if ui.button("Browse…").clicked() {
                    self.open_dialog(field);
                }
            });
        }
        self.learn_controls(ui, master, link, sample_rate);
        ui.separator();
        self.settings(ui, master, link);
        egui::Grid::new("master-params")
            .num_columns(2)
            .show(ui, |ui| {
                ui.label("Mode");
                ui.add(ParamSlider::for_param(&params.mode, setter));
                ui.end_row();
                ui.label("A/B original (level-matched)");
                ui.add(ParamSlider::for_param(&params.compare, setter));
                ui.end_row();
                ui.label("Output gain");
                ui.add(ParamSlider::for_param(&params.gain, setter));
                ui.end_row();
            });
        if let Some(profile) = &master.profile {
            summary(ui, profile, master.settings.amount);
            limiting_summary(ui, profile, &master.settings);
            spectrum_plot(ui, profile, master.settings.amount);
        } else {
            ui.label("No match learned yet: choose a reference, then Learn.");
        }
    }

    /// Collects a finished learn job or file dialog.
    fn poll(&mut self, master: &mut MasterSession, link: &MasterLink) {
        if let Some((field, receiver)) = &self.dialog
            && let Ok(choice) = receiver.try_recv()
        {
            if let Some(path) = choice {
                match field {
                    PathField::Reference => master.reference = path,
                    PathField::Target => master.target_file = path,
                }
            }
            self.dialog = None;
        }
        let Some(outcome) = self.job.as_ref().and_then(LearnJob::outcome) else {
            return;
        };
        self.job = None;
        self.status = Some(match outcome {
            Ok(profile) => {
                master.profile = Some(profile);
                match link.install(master) {
                    Ok(()) => "Match learned and applied.".to_owned(),
                    Err(error) => format!("Match learned but not applied: {error}"),
                }
            }
            Err(error) => format!("Learn failed: {error}"),
        });
    }

    fn open_dialog(&mut self, field: PathField) {
        match crate::editor::file_dialog(crate::editor::FileDialog::OpenAudio) {
            Some(receiver) => self.dialog = Some((field, receiver)),
            None => self.status = Some(crate::editor::NO_DIALOG.to_owned()),
        }
    }

    fn learn_controls(
        &mut self,
        ui: &mut egui::Ui,
        master: &MasterSession,
        link: &MasterLink,
        sample_rate: f32,
    ) {
        if let Some(job) = &self.job {
            ui.add(egui::ProgressBar::new(job.progress()).text("Learning…"));
            return;
        }
        let capture = Arc::clone(&link.capture);
        ui.horizontal(|ui| {
            if capture.is_running() {
                ui.label(format!(
                    "Capturing playback: {:.0} s (up to {MAX_CAPTURE_SECONDS:.0} s)",
                    capture.seconds(sample_rate)
                ));
                if ui.button("Stop and learn").clicked() {
                    let audio = capture.finish();
                    self.start(
                        master,
                        LearnSource::Captured {
                            audio,
                            sample_rate: sample_rate.round() as u32,
                        },
                    );
                }
            } else {
                if ui
                    .button("Learn from playback")
                    .on_hover_text("Start, play the mix in the host, then stop to learn")
                    .clicked()
                {
                    capture.start();
                    self.status = None;
                }
                let has_file = !master.target_file.trim().is_empty();
                if ui
                    .add_enabled(has_file, egui::Button::new("Learn from mix file"))
                    .clicked()
                {
                    self.start(master, LearnSource::File(master.target_file.clone()));
                }
            }
        });
        if let Some(status) = &self.status {
            ui.label(status);
        }
    }

    fn start(&mut self, master: &MasterSession, source: LearnSource) {
        if master.reference.trim().is_empty() {
            self.status = Some("Choose a reference file first.".to_owned());
            return;
        }
        self.job = Some(LearnJob::start(
            source,
            master.reference.clone(),
            master.settings,
        ));
    }

    /// The match settings; a finished change rebuilds and installs the match.
    fn settings(&mut self, ui: &mut egui::Ui, master: &mut MasterSession, link: &MasterLink) {
        let settings = &mut master.settings;
        let mut changed = false;
        egui::Grid::new("master-settings")
            .num_columns(2)
            .show(ui, |ui| {
                ui.label("Amount");
                let mut percent = settings.amount * 100.0;
                let response = ui.add(egui::Slider::new(&mut percent, 0.0..=100.0).suffix(" %"));
                settings.amount = percent / 100.0;
                changed |= response.drag_stopped() || (response.changed() && !response.dragged());
                ui.end_row();

                ui.label("Smoothing (next Learn)");
                egui::ComboBox::from_id_salt("smoothing")
                    .selected_text(octave_label(settings.smoothing_octaves))
                    .show_ui(ui, |ui| {
                        for octaves in [1.0 / 12.0, 1.0 / 6.0, 1.0 / 3.0, 0.5, 1.0, 2.0] {
                            ui.selectable_value(
                                &mut settings.smoothing_octaves,
                                octaves,
                                octave_label(octaves),
                            );
                        }
                    });
                ui.end_row();

                ui.label("Ceiling");
                let response = ui
                    .add(egui::Slider::new(&mut settings.ceiling_dbtp, -6.0..=0.0).suffix(" dBTP"));
                changed |= response.drag_stopped() || (response.changed() && !response.dragged());
                ui.end_row();

                ui.label("Limiter release");
                let response = ui.add(
                    egui::Slider::new(&mut settings.limiter_release_ms, 10.0..=2000.0)
                        .logarithmic(true)
                        .suffix(" ms"),
                );
                changed |= response.drag_stopped() || (response.changed() && !response.dragged());
                ui.end_row();

                ui.label("Limiter");
                changed |= ui.checkbox(&mut settings.limiter, "on").changed();
                ui.end_row();

                ui.label("Gentle limiting");
                changed |= ui
                    .checkbox(
                        &mut settings.gentle_limiting,
                        "may stay quieter than the reference",
                    )
                    .on_hover_text(
                        "Off (default): the limiter works as hard as it takes for the master to \
                         reach the reference's loudness. On: only the loudness match goes into \
                         the limiter, which limits less and may leave the master quieter.",
                    )
                    .changed();
                ui.end_row();
            });
        if changed && master.profile.is_some() {
            self.status = link.install(master).err();
        }
    }
}

fn octave_label(octaves: f32) -> String {
    if octaves >= 1.0 {
        format!("{octaves:.0} octave")
    } else {
        format!("1/{:.0} octave", 1.0 / octaves)
    }
}

fn summary(ui: &mut egui::Ui, profile: &MatchProfile, amount: f32) {
    let lufs = |value: Option<f64>| value.map_or("—".to_owned(), |v| format!("{v:.1} LUFS"));
    ui.label(format!(
        "Mix {} → reference {}; loudness gain {:+.1} dB; width {:+.1} dB at {:.0} %",
        lufs(profile.target.loudness.integrated_lufs),
        lufs(profile.reference.loudness.integrated_lufs),
        profile.loudness_gain_db(amount),
        profile.width_db * amount,
        amount * 100.0,
    ));
    for note in &profile.notes {
        ui.colored_label(egui::Color32::YELLOW, note);
    }
}

/// How much limiting the match takes in the mode in force, as learned.
fn limiting_summary(ui: &mut egui::Ui, profile: &MatchProfile, settings: &MatchSettings) {
    if !settings.limiter || !settings.match_loudness {
        return;
    }
    let Some(limiting) = profile.limiting else {
        ui.label("Learn again to see how much limiting the match takes.");
        return;
    };
    let (estimate, mode) = if settings.gentle_limiting {
        (limiting.gentle, "Gentle limiting")
    } else {
        (limiting.matched, "Loudness match")
    };
    let reference = profile
        .reference
        .loudness
        .integrated_lufs
        .unwrap_or(f64::NAN);
    let output = estimate.output_lufs.unwrap_or(f64::NAN);
    ui.label(format!(
        "{mode}: limiter max {:.1} dB / mean {:.2} dB of gain reduction (+{:.1} dB pushed in); \
         output about {output:.1} LUFS ({:+.1} LU from the reference)",
        estimate.max_gain_reduction_db,
        estimate.mean_gain_reduction_db,
        estimate.extra_gain_db,
        output - reference,
    ));
}

/// Reference and mix mid spectra and the match curve (scaled by the amount) over a log axis.
fn spectrum_plot(ui: &mut egui::Ui, profile: &MatchProfile, amount: f32) {
    let frequencies = grid_frequencies();
    let line = |values: &[f32], scale: f32| -> PlotPoints {
        frequencies
            .iter()
            .zip(values)
            .filter(|(_, db)| db.is_finite())
            .map(|(hz, db)| [hz.log10(), f64::from(*db * scale)])
            .collect()
    };
    Plot::new("master-spectra")
        .height(ui.available_height().max(140.0))
        .legend(Legend::default())
        .x_axis_formatter(|mark, _| format!("{:.0} Hz", 10f64.powf(mark.value)))
        .x_axis_label("frequency")
        .y_axis_label("dB")
        .allow_scroll(false)
        .show(ui, |plot| {
            plot.line(Line::new("reference", line(&profile.reference.mid_db, 1.0)));
            plot.line(Line::new("mix", line(&profile.target.mid_db, 1.0)));
            plot.line(Line::new(
                "match curve × amount",
                line(&profile.mid_curve_db, amount),
            ));
        });
}
