//! Model packs: a folder with `manifest.toml` and the files it lists.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::error::InferenceError;
use super::manifest::{MANIFEST_FILE, Manifest, PackFile};
use super::runtime::{Runtime, user_data_dir};
use super::session::ModelSession;

/// A model pack whose manifest is valid and whose files all match their SHA-256.
#[derive(Debug, Clone)]
pub struct ModelPack {
    manifest_path: PathBuf,
    files_dir: PathBuf,
    manifest: Manifest,
}

impl ModelPack {
    /// Loads the pack in `dir` (`dir/manifest.toml` and the files beside it), verifying every
    /// file's SHA-256. Reads every file once: call it off the audio thread.
    pub fn load(dir: &Path) -> Result<Self, InferenceError> {
        Self::load_from(&dir.join(MANIFEST_FILE), dir)
    }

    /// Loads a pack whose manifest and files live in different folders (the source tree keeps
    /// manifests in `models/<pack>/`, `cargo xtask setup` puts the fetched files under
    /// `vendor/models/<pack>/`).
    pub fn load_from(manifest_path: &Path, files_dir: &Path) -> Result<Self, InferenceError> {
        Self::load_with(Manifest::load(manifest_path)?, manifest_path, files_dir)
    }

    /// Loads the files of an already parsed `manifest` from `files_dir`, verifying every file's
    /// SHA-256. For packs whose manifest is built into the engine (the fetched basic-pitch model
    /// is a bare `nmp.onnx`); `manifest_path` names where the manifest came from in messages.
    pub fn load_with(
        manifest: Manifest,
        manifest_path: &Path,
        files_dir: &Path,
    ) -> Result<Self, InferenceError> {
        for file in &manifest.files {
            let path = files_dir.join(&file.path);
            let actual = sha256_file(&path)?;
            if actual != file.sha256 {
                return Err(InferenceError::Checksum {
                    file: path,
                    expected: file.sha256.clone(),
                    actual,
                });
            }
        }
        Ok(Self {
            manifest_path: manifest_path.to_path_buf(),
            files_dir: files_dir.to_path_buf(),
            manifest,
        })
    }

    /// The validated manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Where the manifest was read from.
    pub fn manifest_path(&self) -> &Path {
        &self.manifest_path
    }

    /// The folder holding the pack's files.
    pub fn files_dir(&self) -> &Path {
        &self.files_dir
    }

    /// The manifest entry for `file` (its path as written in the manifest).
    pub fn file(&self, file: &str) -> Result<&PackFile, InferenceError> {
        self.manifest
            .files
            .iter()
            .find(|f| f.path == Path::new(file))
            .ok_or_else(|| InferenceError::ModelFile {
                path: self.files_dir.join(file),
                reason: format!("not listed in `{}`", self.manifest_path.display()),
            })
    }

    /// The `.onnx` files of the pack, in manifest order.
    pub fn onnx_files(&self) -> impl Iterator<Item = &PackFile> {
        self.manifest
            .files
            .iter()
            .filter(|f| f.path.extension().is_some_and(|e| e == "onnx"))
    }

    /// The session for `file` in the process-wide runtime ([`Runtime::global`]); see
    /// [`open_session_in`](Self::open_session_in).
    pub fn open_session(&self, file: &str) -> Result<Arc<ModelSession>, InferenceError> {
        self.open_session_in(Runtime::global()?, file)
    }

    /// The session for `file` (a path listed in the manifest): created on first use, checked
    /// against the file's convention (input/output names, types and shapes), warmed up once,
    /// then cached by canonical path.
    ///
    /// **Never call this from the audio thread**: creating a session takes 100 ms or more,
    /// allocates and reads the disk. Open sessions on a worker and hand the `Arc` over.
    pub fn open_session_in(
        &self,
        runtime: &Runtime,
        file: &str,
    ) -> Result<Arc<ModelSession>, InferenceError> {
        let entry = self.file(file)?;
        let path = self.files_dir.join(&entry.path);
        let session = runtime.session(&path)?;
        self.manifest
            .convention_of(entry)
            .check_graph(&path, session.signature())?;
        let convention = self.manifest.convention_of(entry);
        session.warm_up_with(|input, dim| convention.warm_up_dim(&self.manifest, input, dim))?;
        Ok(session)
    }
}

/// Lower-case hex SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String, InferenceError> {
    file_digest::<Sha256>(path, u64::MAX)
}

/// Lower-case hex digest `D` of a file's last `tail` bytes (of the whole file when it is
/// shorter), streamed.
pub(crate) fn file_digest<D: Digest>(path: &Path, tail: u64) -> Result<String, InferenceError> {
    let io = |e| InferenceError::io(path, e);
    let mut file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(tail)))
        .map_err(io)?;
    let mut hasher = D::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The folder where user-installed packs live: `<data dir>/mixsmith/models`.
pub fn user_models_dir() -> Option<PathBuf> {
    user_data_dir().map(|d| d.join("models"))
}

/// Every sub-folder of `dir` holding a `manifest.toml`, loaded. Packs that fail keep their
/// error, so a list in the GUI can show what is wrong with each.
pub fn scan_packs(dir: &Path) -> Vec<(PathBuf, Result<ModelPack, InferenceError>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join(MANIFEST_FILE).is_file())
        .collect();
    dirs.sort();
    dirs.into_iter()
        .map(|d| {
            let pack = ModelPack::load(&d);
            (d, pack)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pack(dir: &Path, file: &str, contents: &[u8], sha: &str) {
        std::fs::write(dir.join(file), contents).unwrap();
        std::fs::write(
            dir.join(MANIFEST_FILE),
            format!(
                "name = \"t\"\ntask = \"pitch\"\nconvention = \"crepe\"\nsample_rate = 16000\n\
                 [[files]]\npath = \"{file}\"\nsha256 = \"{sha}\"\n"
            ),
        )
        .unwrap();
    }

    #[test]
    fn sha256_of_a_known_string() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("abc");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_pack_with_matching_checksums_loads() {
        let tmp = tempfile::tempdir().unwrap();
        write_pack(
            tmp.path(),
            "m.onnx",
            b"abc",
            "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
        );
        let pack = ModelPack::load(tmp.path()).unwrap();
        assert_eq!(pack.onnx_files().count(), 1);
        assert!(pack.file("m.onnx").is_ok());
        assert!(matches!(
            pack.file("other.onnx"),
            Err(InferenceError::ModelFile { .. })
        ));
    }

    #[test]
    fn a_checksum_mismatch_names_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let wrong = "0".repeat(64);
        write_pack(tmp.path(), "m.onnx", b"abd", &wrong);
        let err = ModelPack::load(tmp.path()).unwrap_err();
        match &err {
            InferenceError::Checksum {
                file,
                expected,
                actual,
            } => {
                assert_eq!(file, &tmp.path().join("m.onnx"));
                assert_eq!(expected, &wrong);
                assert_eq!(actual, &sha256_file(&tmp.path().join("m.onnx")).unwrap());
            }
            other => panic!("expected Checksum, got {other:?}"),
        }
        assert!(err.to_string().contains("m.onnx"), "{err}");
    }

    #[test]
    fn a_missing_file_or_manifest_is_an_io_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        match ModelPack::load(tmp.path()).unwrap_err() {
            InferenceError::Io { path, .. } => assert_eq!(path, tmp.path().join(MANIFEST_FILE)),
            other => panic!("expected Io, got {other:?}"),
        }
        write_pack(tmp.path(), "m.onnx", b"abc", &"0".repeat(64));
        std::fs::remove_file(tmp.path().join("m.onnx")).unwrap();
        match ModelPack::load(tmp.path()).unwrap_err() {
            InferenceError::Io { path, .. } => assert_eq!(path, tmp.path().join("m.onnx")),
            other => panic!("expected Io, got {other:?}"),
        }
    }

    #[test]
    fn scanning_keeps_each_packs_outcome() {
        let tmp = tempfile::tempdir().unwrap();
        let good = tmp.path().join("good");
        let bad = tmp.path().join("bad");
        std::fs::create_dir_all(&good).unwrap();
        std::fs::create_dir_all(&bad).unwrap();
        std::fs::create_dir_all(tmp.path().join("not-a-pack")).unwrap();
        write_pack(
            &good,
            "m.onnx",
            b"abc",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        );
        std::fs::write(bad.join(MANIFEST_FILE), "name = 3").unwrap();
        let found = scan_packs(tmp.path());
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].0, bad);
        assert!(matches!(
            &found[0].1,
            Err(InferenceError::Manifest { field, .. }) if field == "name"
        ));
        assert!(found[1].1.is_ok());
        assert!(scan_packs(&tmp.path().join("absent")).is_empty());
    }
}
