//! Progress bars on stderr (hidden automatically when stderr is not a terminal).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Files shorter than this many seconds get no progress bar.
pub const MIN_SECONDS_FOR_BAR: f64 = 5.0;

/// A bar over `total` audio frames labelled `label`, or a hidden bar when the work is short.
pub fn frames_bar(label: &str, total: Option<u64>, sample_rate: u32) -> ProgressBar {
    let long_enough = total.is_none_or(|t| t as f64 / f64::from(sample_rate) > MIN_SECONDS_FOR_BAR);
    if !long_enough {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(t) => ProgressBar::new(t).with_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {percent:>3}% eta {eta}")
                .expect("static template")
                .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner(),
    };
    bar.set_message(label.to_string());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
