//! Mixsmith Voice's RVC v2 packs: loading the pack named in the state (off the audio thread,
//! its ONNX sessions created and warmed with one intra-op thread each), kept across
//! activations so a host's re-activation does not reload it. A pack chosen in the editor is
//! loaded on a thread of its own ([`PackLoad`]) before the plugin restarts with it, so the
//! host's `activate()` finds it loaded and a pack that fails leaves the plugin as it was.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;

use crossbeam_channel::{Receiver, TryRecvError};

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

/// A pack being loaded into the shared [`PackCache`] on a thread of its own.
#[derive(Debug)]
pub struct PackLoad {
    /// The pack's folder.
    folder: String,
    /// The loading thread's answer.
    done: Receiver<Result<(), String>>,
}

impl PackLoad {
    /// Starts loading the pack in `folder` into `cache`.
    pub fn start(cache: Arc<Mutex<PackCache>>, folder: String) -> Self {
        let (sender, done) = crossbeam_channel::bounded(1);
        let loading = folder.clone();
        let spawned = thread::Builder::new()
            .name("mixsmith-voice-pack".into())
            .spawn(move || {
                let result = match cache.lock() {
                    Ok(mut cache) => cache.load(&loading).map(drop),
                    Err(_) => Err("the pack cache is unusable after a crash".to_owned()),
                };
                let _ = sender.send(result);
            });
        if let Err(error) = spawned {
            let (sender, failed) = crossbeam_channel::bounded(1);
            let _ = sender.send(Err(format!("no thread to load the pack on: {error}")));
            return Self {
                folder,
                done: failed,
            };
        }
        Self { folder, done }
    }

    /// The pack's folder.
    pub fn folder(&self) -> &str {
        &self.folder
    }

    /// `None` while loading, then whether the pack loaded (or why not, naming its folder).
    pub fn poll(&self) -> Option<Result<(), String>> {
        match self.done.try_recv() {
            Ok(result) => Some(result),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                Some(Err(format!("loading the pack {} stopped", self.folder)))
            }
        }
    }
}
