//! The editor shell every plugin of the suite shares: the window, the status bar and file
//! dialogs.

use std::sync::Arc;
use std::thread;

use crossbeam_channel::Receiver;
use mixsmith_core::realtime::EngineStats;
use nice_plug::prelude::{BoolParam, ParamSetter};
use nice_plug_egui::{EguiEditor, EguiEditorState, EguiNiceSettings, NiceEguiApp, RepaintNotifier};

/// What a file dialog asks for.
#[derive(Debug, Clone)]
pub(crate) enum FileDialog {
    /// An existing audio file.
    OpenAudio,
    /// A voice profile (`.json`, from `mixsmith voice clone`).
    OpenProfile,
    /// A MIDI file to write, proposing this name.
    SaveMidi(String),
    /// A folder (a model pack).
    OpenFolder,
}

/// Shown when no file dialog can be opened.
pub(crate) const NO_DIALOG: &str = "No file dialog here: type the path.";

/// Runs a file dialog on its own thread (it blocks until the user answers). The receiver gets
/// the chosen path, or `None` when cancelled; `None` when no thread could be started.
pub(crate) fn file_dialog(kind: FileDialog) -> Option<Receiver<Option<String>>> {
    let (sender, receiver) = crossbeam_channel::bounded(1);
    thread::Builder::new()
        .name("mixsmith-file-dialog".into())
        .spawn(move || {
            let picked = match kind {
                FileDialog::OpenAudio => rfd::FileDialog::new()
                    .add_filter("Audio", &["wav", "flac", "mp3", "ogg", "aif", "aiff"])
                    .pick_file(),
                FileDialog::OpenProfile => rfd::FileDialog::new()
                    .add_filter("Voice profile", &["json"])
                    .pick_file(),
                FileDialog::SaveMidi(name) => rfd::FileDialog::new()
                    .add_filter("MIDI", &["mid"])
                    .set_file_name(name)
                    .save_file(),
                FileDialog::OpenFolder => rfd::FileDialog::new().pick_folder(),
            };
            let _ = sender.send(picked.map(|path| path.display().to_string()));
        })
        .ok()?;
    Some(receiver)
}

/// Creates the editor window of one of the suite's plugins, titled `title`.
pub(crate) fn create<App: NiceEguiApp>(
    state: Arc<EguiEditorState>,
    title: &str,
    app: App,
) -> Option<EguiEditor<App>> {
    nice_plug_egui::create_egui_editor(
        state,
        RepaintNotifier::new(),
        EguiNiceSettings::new().with_tile(title),
        app,
    )
}

/// The status bar every plugin of the suite shows: its name, the latency it reports, its
/// worker's load, underruns and a stopped worker.
pub(crate) fn engine_status(ui: &mut egui::Ui, name: &str, stats: &EngineStats, sample_rate: f32) {
    let stats = stats.snapshot();
    ui.horizontal(|ui| {
        ui.heading(name);
        ui.separator();
        ui.label(format!(
            "latency {} frames ({:.1} ms)",
            stats.latency_frames,
            f64::from(stats.latency_frames) * 1000.0 / f64::from(sample_rate.max(1.0))
        ));
        ui.separator();
        ui.label(format!("worker load {:.0} %", stats.load * 100.0));
        ui.separator();
        let underruns = format!("underruns {}", stats.underruns);
        if stats.underruns > 0 {
            ui.colored_label(egui::Color32::YELLOW, underruns);
        } else {
            ui.label(underruns);
        }
        if stats.worker_failed {
            ui.separator();
            ui.colored_label(egui::Color32::RED, "worker stopped: passing dry audio");
        }
    });
}

/// A button that shows and flips a bool parameter as one host gesture.
pub(crate) fn toggle(ui: &mut egui::Ui, param: &BoolParam, label: &str, setter: &ParamSetter) {
    let on = param.value();
    if ui.add(egui::Button::selectable(on, label)).clicked() {
        setter.begin_set_parameter(param);
        setter.set_parameter(param, !on);
        setter.end_set_parameter(param);
    }
}

/// A label `width` points wide in an editor's first column, so the fields beside it line up.
pub(crate) fn field_label(ui: &mut egui::Ui, width: f32, text: &str) {
    ui.add_sized([width, 18.0], egui::Label::new(text));
}
