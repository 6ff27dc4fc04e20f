//! The Generate tab: a text-to-music request for a cloud provider, the job list with progress,
//! and audition of finished clips in sync with the host transport.

use std::path::PathBuf;

use mixsmith_core::client::{GenerateRequest, JobPhase, ProviderKind};

use crate::mixsmith::generate::Generator;
use crate::mixsmith::session::GenerateSession;

/// Draws the tab. `position` is the host transport position of the next block the host will
/// hear (for placing an auditioned clip) and `sample_rate` the session's rate.
pub(super) fn show(
    ui: &mut egui::Ui,
    generator: &mut Generator,
    form: &mut GenerateSession,
    position: i64,
    sample_rate: u32,
) {
    generator.poll();
    request_form(ui, form);
    ui.horizontal(|ui| {
        let provider = ProviderKind::from_id(&form.provider).unwrap_or(ProviderKind::Suno);
        let submit = egui::Button::new(if generator.submitting() {
            "Submitting…"
        } else {
            "Generate"
        });
        if ui.add_enabled(!generator.submitting(), submit).clicked() {
            generator.submit(provider, request(form), PathBuf::from(&form.output_dir));
        }
    });
    ui.small("API keys and base URLs: MIXSMITH_<PROVIDER>_API_KEY and _BASE_URL, or ~/.config/mixsmith/config.toml (mode 0600).");
    if let Some(status) = &generator.status {
        ui.colored_label(egui::Color32::YELLOW, status);
    }
    ui.separator();
    job_list(ui, generator, position, sample_rate);
}

fn request_form(ui: &mut egui::Ui, form: &mut GenerateSession) {
    egui::Grid::new("generate-form")
        .num_columns(2)
        .show(ui, |ui| {
            ui.label("Provider");
            egui::ComboBox::from_id_salt("provider")
                .selected_text(&form.provider)
                .show_ui(ui, |ui| {
                    for kind in ProviderKind::ALL {
                        ui.selectable_value(&mut form.provider, kind.id().to_owned(), kind.id());
                    }
                });
            ui.end_row();
            for (label, text) in [
                ("Prompt", &mut form.prompt),
                ("Style", &mut form.style),
                ("Negative tags", &mut form.negative),
                ("Title", &mut form.title),
                ("Model", &mut form.model),
            ] {
                ui.label(label);
                ui.text_edit_singleline(text);
                ui.end_row();
            }
            ui.label("Lyrics");
            ui.add(egui::TextEdit::multiline(&mut form.lyrics).desired_rows(3));
            ui.end_row();
            ui.label("Instrumental");
            ui.checkbox(&mut form.instrumental, "");
            ui.end_row();
            ui.label("Duration (0 = default)");
            ui.add(egui::Slider::new(&mut form.duration_s, 0.0..=480.0).suffix(" s"));
            ui.end_row();
            ui.label("Save to");
            ui.text_edit_singleline(&mut form.output_dir);
            ui.end_row();
        });
}

/// The common request from the form: empty fields are left to the provider's defaults.
fn request(form: &GenerateSession) -> GenerateRequest {
    let text = |value: &str| Some(value.trim().to_owned()).filter(|v| !v.is_empty());
    GenerateRequest {
        prompt: text(&form.prompt),
        lyrics: text(&form.lyrics),
        style: text(&form.style),
        negative: text(&form.negative),
        title: text(&form.title),
        instrumental: form.instrumental,
        duration_s: (form.duration_s > 0.0).then_some(f64::from(form.duration_s)),
        model: text(&form.model),
        ..GenerateRequest::default()
    }
}

fn job_list(ui: &mut egui::Ui, generator: &mut Generator, position: i64, sample_rate: u32) {
    let mut audition = None;
    let mut stop = false;
    egui::ScrollArea::vertical().show(ui, |ui| {
        for job in &generator.jobs {
            let snapshot = job.snapshot();
            ui.horizontal(|ui| {
                ui.label(format!("{} · {}", job.provider.id(), job.label));
                match (&snapshot.error, snapshot.phase) {
                    (Some(error), _) => {
                        ui.colored_label(egui::Color32::RED, error);
                    }
                    (None, phase) if phase.is_terminal() => {
                        ui.label(if phase == JobPhase::Done {
                            "done"
                        } else {
                            "cancelled"
                        });
                    }
                    (None, phase) => {
                        let progress = snapshot.progress.unwrap_or(0.0);
                        ui.add(
                            egui::ProgressBar::new(progress)
                                .desired_width(160.0)
                                .text(format!("{phase:?}")),
                        );
                        if ui.small_button("Cancel").clicked() {
                            job.cancel();
                        }
                    }
                }
            });
            for file in &snapshot.files {
                ui.horizontal(|ui| {
                    ui.add_space(16.0);
                    ui.label(file.display().to_string());
                    if generator.auditioning.as_ref() == Some(file) {
                        stop |= ui.button("Stop").clicked();
                    } else if ui.button("Audition from playhead").clicked() {
                        audition = Some(file.clone());
                    }
                });
            }
        }
    });
    if stop {
        generator.stop_audition();
    }
    if let Some(file) = audition {
        generator.audition(&file, sample_rate, position);
    }
}
