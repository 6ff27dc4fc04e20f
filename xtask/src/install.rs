//! `cargo xtask install`: the release bundles copied into the user's plugin folders.

use crate::bundle::{self, Variant};
use crate::util::{self, Workspace};
use anyhow::{Context, Result};

/// Builds the release bundles (with `cargo_args`) and copies them to `~/.vst3/Mixsmith.vst3/` and
/// `~/.clap/Mixsmith/` (the `.clap` with the ONNX Runtime library beside it; CLAP hosts scan
/// `~/.clap` recursively).
pub fn run(workspace: &Workspace, cargo_args: &[String]) -> Result<()> {
    let bundles = bundle::bundle(workspace, Variant::Release, cargo_args)?;
    let home = dirs::home_dir().context("could not find the home folder")?;

    let vst3_name = bundles
        .vst3
        .file_name()
        .context("VST3 bundle has no name")?;
    let vst3_destination = home.join(".vst3").join(vst3_name);
    util::remove_path(&vst3_destination)?;
    util::copy_dir(&bundles.vst3, &vst3_destination)?;

    let clap_folder = home.join(".clap").join("Mixsmith");
    util::remove_path(&clap_folder)?;
    let clap_name = bundles
        .clap
        .file_name()
        .context("CLAP bundle has no name")?;
    util::copy_file(&bundles.clap, &clap_folder.join(clap_name))?;
    let runtime_name = bundles
        .runtime
        .file_name()
        .context("runtime has no file name")?;
    util::copy_file(&bundles.runtime, &clap_folder.join(runtime_name))?;

    println!("installed VST3: {}", vst3_destination.display());
    println!("installed CLAP: {}", clap_folder.join(clap_name).display());
    println!(
        "(each with {} beside the plugin binary)",
        runtime_name.to_string_lossy()
    );
    Ok(())
}
