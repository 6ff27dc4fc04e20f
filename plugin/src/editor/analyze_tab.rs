//! The Analyze tab: a live loudness meter of the plugin's input with a short-term history plot,
//! and the tempo and key of what it has heard.

use egui_plot::{HLine, Line, Plot, PlotPoints};
use mixsmith_core::analyze::{LiveLoudness, LoudnessSnapshot};

use crate::params::MixsmithParams;
use crate::session::LoudnessTarget;

/// Seconds between two history points (the meter publishes every 100 ms).
const HISTORY_PERIOD_S: f64 = 0.1;

/// Draws the tab.
pub(super) fn show(ui: &mut egui::Ui, params: &MixsmithParams, loudness: &LiveLoudness) {
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
        if ui.button("Reset").clicked() {
            loudness.request_reset();
        }
    });
    readings(ui, &snapshot, target);
    history_plot(ui, &snapshot, target);
}

fn readings(ui: &mut egui::Ui, snapshot: &LoudnessSnapshot, target: LoudnessTarget) {
    egui::Grid::new("loudness").num_columns(2).show(ui, |ui| {
        for (label, value, unit) in [
            ("Momentary", snapshot.momentary, "LUFS"),
            ("Short-term", snapshot.short_term, "LUFS"),
            ("Integrated", snapshot.integrated, "LUFS"),
            ("Loudness range", snapshot.loudness_range, "LU"),
            ("True peak", snapshot.true_peak_dbtp, "dBTP"),
            ("Sample peak", snapshot.sample_peak_dbfs, "dBFS"),
        ] {
            ui.label(label);
            ui.monospace(format_level(value, unit));
            ui.end_row();
        }
        ui.label("Integrated vs target");
        if snapshot.integrated.is_finite() {
            ui.monospace(format!("{:+.1} LU", snapshot.integrated - target.lufs()));
        } else {
            ui.monospace("—");
        }
        ui.end_row();
        ui.label("Tempo (last 20 s)");
        ui.monospace(match snapshot.bpm {
            Some(bpm) => format!("{bpm:.1} BPM"),
            None => "— BPM (no steady beat yet)".into(),
        });
        ui.end_row();
        ui.label("Key");
        ui.monospace(match snapshot.key {
            Some(key) => key.to_string(),
            None => "— (no tonal centre yet)".into(),
        });
        ui.end_row();
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
        .height(ui.available_height().max(120.0))
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
