//! The Engine tab: the plugin-wide controls.

use nice_plug::prelude::ParamSetter;
use nice_plug_egui::widgets::ParamSlider;

use crate::mixsmith::params::MixsmithParams;

/// Draws the tab.
pub(super) fn show(ui: &mut egui::Ui, params: &MixsmithParams, setter: &ParamSetter) {
    egui::Grid::new("engine").num_columns(2).show(ui, |ui| {
        ui.label("Mode");
        ui.add(ParamSlider::for_param(&params.mode, setter));
        ui.end_row();
        ui.label("Output gain");
        ui.add(ParamSlider::for_param(&params.gain, setter));
        ui.end_row();
        ui.label("Bypass");
        ui.add(ParamSlider::for_param(&params.bypass, setter));
        ui.end_row();
    });
}
