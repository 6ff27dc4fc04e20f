//! Mixsmith Voice's RVC v2 packs: loading the pack named in the state (off the audio thread,
//! its ONNX sessions created and warmed with one intra-op thread each), kept across
//! activations so a host's re-activation does not reload it.

use std::path::Path;
use std::sync::Arc;

use mixsmith_core::inference::ModelPack;
use mixsmith_core::voice::RvcConverter;

/// The last pack loaded: its folder as the state names it and the converter.
#[derive(Debug, Default)]
pub struct PackCache {
    loaded: Option<(String, Arc<RvcConverter>)>,
}

impl PackCache {
    /// The converter for the pack in `folder` (loaded now unless it is the one loaded last),
    /// or why it cannot be used, naming the folder: a missing folder or manifest, a pack that
    /// is no `rvc-v2` voice pack or whose graphs disagree with it, or a missing ONNX Runtime
    /// (naming where it was looked for). Blocks while the graphs load: call it from
    /// `activate()` or a worker, never from `process()`.
    pub fn load(&mut self, folder: &str) -> Result<Arc<RvcConverter>, String> {
        if let Some((loaded, converter)) = &self.loaded
            && loaded == folder
        {
            return Ok(converter.clone());
        }
        self.loaded = None;
        let fail = |error: &dyn std::fmt::Display| format!("the voice pack {folder}: {error}");
        let pack = ModelPack::load(Path::new(folder)).map_err(|e| fail(&e))?;
        let converter = Arc::new(RvcConverter::load(&pack).map_err(|e| fail(&e))?);
        self.loaded = Some((folder.to_owned(), converter.clone()));
        Ok(converter)
    }
}
