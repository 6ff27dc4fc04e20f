//! The editor shell every plugin of the suite shares: the window, the status bar and file
//! dialogs.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::thread;

use crossbeam_channel::Receiver;
use mixsmith_core::inference::{Task, scan_packs, user_models_dir};
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

/// A row to choose a pack from, labelled `field` in a first column `label_width` wide: "none" (`none_label`, the empty folder) and
/// each of `packs` (name, folder), showing the name of the folder in `saved` (or the folder
/// itself when it is not in the list), and `empty_hint` below it when there are no packs. Returns the
/// folder the user chose (empty for none) when it differs from the saved one.
pub(crate) fn pack_row(
    ui: &mut egui::Ui,
    label_width: f32,
    field: &str,
    packs: &[(String, String)],
    saved: &RwLock<String>,
    none_label: &str,
    empty_hint: &str,
) -> Option<String> {
    let chosen = saved.read().map(|p| p.clone()).unwrap_or_default();
    let label = |folder: &str| {
        if folder.is_empty() {
            none_label.to_owned()
        } else {
            packs
                .iter()
                .find(|(_, f)| f == folder)
                .map_or_else(|| folder.to_owned(), |(name, _)| name.clone())
        }
    };
    let mut selected = chosen.clone();
    ui.horizontal(|ui| {
        field_label(ui, label_width, field);
        egui::ComboBox::from_id_salt("pack")
            .width(300.0)
            .selected_text(label(&chosen))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut selected, String::new(), none_label);
                for (name, folder) in packs {
                    ui.selectable_value(&mut selected, folder.clone(), name);
                }
            });
    });
    if packs.is_empty() {
        ui.add(egui::Label::new(egui::RichText::new(empty_hint).weak()).wrap());
    }
    (selected != chosen).then_some(selected)
}

/// The packs for `task` in the user's models folder that load, as (name, folder), for an
/// editor's pack list (scanned when the editor opens).
pub(crate) fn installed_packs(task: Task) -> Vec<(String, String)> {
    user_models_dir().map_or_else(Vec::new, |dir| packs_in(&dir, task))
}

/// The packs for `task` in `dir` that load (a pack whose files fail their checksum, or of
/// another task, is left out), as (name, folder).
fn packs_in(dir: &Path, task: Task) -> Vec<(String, String)> {
    scan_packs(dir)
        .into_iter()
        .filter_map(|(folder, pack)| {
            let pack = pack.ok()?;
            (pack.manifest().task == task)
                .then(|| (pack.manifest().name.clone(), folder.display().to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use mixsmith_core::inference::test_graph::write_rvc_sine_pack;

    use super::*;
    use crate::stems::tests::bass_pack;

    #[test]
    fn a_pack_list_holds_the_packs_of_its_task_that_load() {
        let dir = tempfile::tempdir().unwrap();
        write_rvc_sine_pack(&dir.path().join("b-voice"), "sine voice").unwrap();
        write_rvc_sine_pack(&dir.path().join("a-broken"), "broken voice").unwrap();
        std::fs::write(dir.path().join("a-broken/voice.onnx"), b"not the graph").unwrap();
        bass_pack(&dir.path().join("c-stems"));
        std::fs::create_dir(dir.path().join("d-empty")).unwrap();

        let folder = |name: &str| dir.path().join(name).display().to_string();
        assert_eq!(
            packs_in(dir.path(), Task::Voice),
            [("sine voice".to_owned(), folder("b-voice"))]
        );
        assert_eq!(
            packs_in(dir.path(), Task::Separate),
            [("low 500".to_owned(), folder("c-stems"))]
        );
        assert!(packs_in(&dir.path().join("missing"), Task::Voice).is_empty());
    }
}
