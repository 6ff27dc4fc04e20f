//! Loading ONNX Runtime from an explicit absolute path, once per process.
//!
//! `ort` is built with `load-dynamic`: nothing links against `libonnxruntime`, and no `ort` API
//! may be touched before [`Runtime`] has loaded a library successfully (an `ort` call without a
//! loaded library would search the global library path and panic when that fails). The search
//! never uses the dynamic loader's global search, which another plugin in the same host could
//! shadow. In order:
//!
//! 1. next to the binary that contains this code: the plugin's `.so` inside its bundle (found
//!    with `dladdr`), or the executable for the CLI and tests;
//! 2. `ORT_DYLIB_PATH` (a file, or a folder holding [`LIBRARY_FILE`]);
//! 3. the user data folder, `<data dir>/mixsmith/onnxruntime/` (see [`user_data_dir`]).
//!
//! A candidate that exists but cannot be used (not a library, too old) is skipped and recorded;
//! the first usable one wins. Loading is process-global in ONNX Runtime, so the outcome of the
//! first attempt (success or error) is kept and returned to every later caller: installing the
//! library while a host is running takes effect after the host restarts.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::error::InferenceError;
use super::session::{ModelSession, SessionCache};

/// The ONNX Runtime release Mixsmith ships and tests against (`cargo xtask setup` fetches it).
pub const RUNTIME_VERSION: &str = "1.31.1";

/// The library file searched for in each location.
#[cfg(target_os = "linux")]
pub const LIBRARY_FILE: &str = "libonnxruntime.so.1.31.1";
/// The library file searched for in each location.
#[cfg(target_os = "macos")]
pub const LIBRARY_FILE: &str = "libonnxruntime.1.31.1.dylib";
/// The library file searched for in each location.
#[cfg(target_os = "windows")]
pub const LIBRARY_FILE: &str = "onnxruntime.dll";
/// The library file searched for in each location.
#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
pub const LIBRARY_FILE: &str = "libonnxruntime.so";

/// The environment variable naming the library explicitly (same name `ort` itself uses).
pub const ENV_DYLIB_PATH: &str = "ORT_DYLIB_PATH";

/// The oldest ONNX Runtime the compiled-in `ort` API level accepts.
pub fn required_version() -> String {
    format!("1.{}.0", ort::MINOR_VERSION)
}

/// Mixsmith's folder in the user's data directory (`$XDG_DATA_HOME/mixsmith`, usually
/// `~/.local/share/mixsmith` on Linux). Model packs live in its `models/`, a user-installed
/// ONNX Runtime in its `onnxruntime/`.
pub fn user_data_dir() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("mixsmith"))
}

/// Where a runtime candidate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandidateOrigin {
    /// Beside the plugin (or executable) that contains the engine.
    BesideBinary,
    /// The `ORT_DYLIB_PATH` environment variable.
    EnvVar,
    /// The user data folder.
    UserData,
    /// Given by the caller (tests, integrators).
    Explicit,
}

impl fmt::Display for CandidateOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BesideBinary => "beside the plugin binary",
            Self::EnvVar => "ORT_DYLIB_PATH",
            Self::UserData => "user data folder",
            Self::Explicit => "explicit path",
        })
    }
}

/// One place where the runtime library may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Absolute path of the library file.
    pub path: PathBuf,
    /// Which rule produced it.
    pub origin: CandidateOrigin,
}

/// The ordered list of places to look for the runtime library.
#[derive(Debug, Clone, Default)]
pub struct RuntimeSearch {
    candidates: Vec<Candidate>,
}

impl RuntimeSearch {
    /// The default search: beside this binary, then `ORT_DYLIB_PATH`, then the data folder.
    pub fn from_environment() -> Self {
        let binary = own_binary_path();
        let cwd = std::env::current_dir().ok();
        Self::from_parts(
            binary.as_deref(),
            std::env::var_os(ENV_DYLIB_PATH),
            cwd.as_deref(),
            user_data_dir().as_deref(),
        )
    }

    /// The default search built from explicit inputs (what [`from_environment`] reads), so the
    /// rules can be tested. `binary` is the file containing the engine; a relative
    /// `ORT_DYLIB_PATH` is resolved against `cwd`.
    ///
    /// [`from_environment`]: Self::from_environment
    pub fn from_parts(
        binary: Option<&Path>,
        env_value: Option<OsString>,
        cwd: Option<&Path>,
        data_dir: Option<&Path>,
    ) -> Self {
        let mut search = Self::default();
        if let Some(binary) = binary {
            if let Some(dir) = binary.parent() {
                search.push(dir.join(LIBRARY_FILE), CandidateOrigin::BesideBinary);
            }
            // A plugin symlinked into a host's plugin folder: also look beside the real file.
            if let Some(dir) = std::fs::canonicalize(binary)
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf))
            {
                search.push(dir.join(LIBRARY_FILE), CandidateOrigin::BesideBinary);
            }
        }
        if let Some(value) = env_value.filter(|v| !v.is_empty()) {
            let mut path = PathBuf::from(value);
            if path.is_relative()
                && let Some(cwd) = cwd
            {
                path = cwd.join(path);
            }
            if path.is_dir() {
                path.push(LIBRARY_FILE);
            }
            search.push(path, CandidateOrigin::EnvVar);
        }
        if let Some(data) = data_dir {
            search.push(
                data.join("onnxruntime").join(LIBRARY_FILE),
                CandidateOrigin::UserData,
            );
        }
        search
    }

    /// A search over exactly these paths, in order.
    pub fn explicit<P: Into<PathBuf>>(paths: impl IntoIterator<Item = P>) -> Self {
        let mut search = Self::default();
        for p in paths {
            search.push(p.into(), CandidateOrigin::Explicit);
        }
        search
    }

    fn push(&mut self, path: PathBuf, origin: CandidateOrigin) {
        if !self.candidates.iter().any(|c| c.path == path) {
            self.candidates.push(Candidate { path, origin });
        }
    }

    /// The candidates in search order.
    pub fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }
}

/// The absolute path of the binary (shared object or executable) that contains this code.
///
/// Inside a plugin this is the plugin's `.so`, not the host executable: `dladdr` is asked which
/// loaded object holds the address of this very function.
#[cfg(unix)]
pub fn own_binary_path() -> Option<PathBuf> {
    use std::ffi::CStr;
    use std::os::unix::ffi::OsStrExt;

    let mut info: libc::Dl_info = libc::Dl_info {
        dli_fname: std::ptr::null(),
        dli_fbase: std::ptr::null_mut(),
        dli_sname: std::ptr::null(),
        dli_saddr: std::ptr::null_mut(),
    };
    let address = own_binary_path as fn() -> Option<PathBuf> as *const libc::c_void;
    // SAFETY: `dladdr` only reads the address and fills `info`; `dli_fname` points into the
    // loader's link map, valid while the object is loaded (it contains this code, so it is).
    let found = unsafe { libc::dladdr(address, &mut info) };
    let name = if found != 0 && !info.dli_fname.is_null() {
        // SAFETY: non-null and NUL-terminated, see above.
        let bytes = unsafe { CStr::from_ptr(info.dli_fname) }.to_bytes();
        PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
    } else {
        PathBuf::new()
    };
    if name.is_absolute() {
        return Some(name);
    }
    // The main executable is reported as it was invoked (possibly relative or empty).
    if !name.as_os_str().is_empty()
        && let Ok(p) = std::fs::canonicalize(&name)
    {
        return Some(p);
    }
    std::env::current_exe().ok()
}

/// The absolute path of the binary that contains this code (the executable on this platform).
#[cfg(not(unix))]
pub fn own_binary_path() -> Option<PathBuf> {
    std::env::current_exe().ok()
}

/// A candidate that existed but was not used, and why.
#[derive(Debug, Clone)]
pub struct SkippedCandidate {
    /// The candidate.
    pub candidate: Candidate,
    /// Why it was skipped.
    pub error: InferenceError,
}

/// The loaded ONNX Runtime: one per process, obtained from [`Runtime::global`].
///
/// It owns the `ort` environment and the process-wide cache of sessions
/// ([`Runtime::session`]).
pub struct Runtime {
    environment: ort::environment::Environment,
    library: PathBuf,
    version: Option<String>,
    origin: CandidateOrigin,
    skipped: Vec<SkippedCandidate>,
    load_time: Duration,
    sessions: SessionCache,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("library", &self.library)
            .field("version", &self.version)
            .field("origin", &self.origin)
            .field("skipped", &self.skipped)
            .finish_non_exhaustive()
    }
}

static GLOBAL: OnceLock<Result<Runtime, InferenceError>> = OnceLock::new();

impl Runtime {
    /// The process-wide runtime, loaded on first use with the default search
    /// ([`RuntimeSearch::from_environment`]). Every later call returns the same outcome.
    ///
    /// Loading takes tens of milliseconds: call it from a worker, never the audio thread.
    pub fn global() -> Result<&'static Runtime, InferenceError> {
        Self::global_with(RuntimeSearch::from_environment)
    }

    /// Like [`global`](Self::global), but the first caller chooses the search (tests and
    /// integrators that know where the library is). If the runtime was already loaded (or failed
    /// to load), `search` is not called and the recorded outcome is returned.
    pub fn global_with(
        search: impl FnOnce() -> RuntimeSearch,
    ) -> Result<&'static Runtime, InferenceError> {
        GLOBAL
            .get_or_init(|| Self::load(&search()))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The recorded outcome, if loading was already attempted in this process.
    pub fn try_global() -> Option<Result<&'static Runtime, InferenceError>> {
        GLOBAL.get().map(|r| r.as_ref().map_err(Clone::clone))
    }

    /// Tries the candidates in order. Private: ONNX Runtime allows one environment per process,
    /// so only [`GLOBAL`] may call it.
    fn load(search: &RuntimeSearch) -> Result<Runtime, InferenceError> {
        let started = Instant::now();
        let mut skipped = Vec::new();
        for candidate in search.candidates() {
            if !candidate.path.is_file() {
                continue;
            }
            let builder = match ort::init_from(&candidate.path) {
                Ok(builder) => builder,
                Err(e) => {
                    skipped.push(SkippedCandidate {
                        candidate: candidate.clone(),
                        error: map_load_error(e, &candidate.path),
                    });
                    continue;
                }
            };
            // The library is now bound for the whole process: an environment failure is final.
            let environment = builder
                .with_name("mixsmith")
                .with_telemetry(false)
                .build()
                .map_err(|e| InferenceError::RuntimeLoad {
                    path: candidate.path.clone(),
                    reason: format!("creating the ONNX Runtime environment failed: {e}"),
                })?;
            return Ok(Runtime {
                environment,
                version: loaded_version(&candidate.path),
                library: candidate.path.clone(),
                origin: candidate.origin,
                skipped,
                load_time: started.elapsed(),
                sessions: SessionCache::default(),
            });
        }
        match skipped.into_iter().next() {
            Some(first) => Err(first.error),
            None => Err(InferenceError::RuntimeMissing {
                file: LIBRARY_FILE.to_owned(),
                searched: search.candidates().iter().map(|c| c.path.clone()).collect(),
            }),
        }
    }

    /// The library file that was loaded.
    pub fn library_path(&self) -> &Path {
        &self.library
    }

    /// The version the loaded library reports (e.g. `1.31.1`), when it can be read.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// Which search rule found it.
    pub fn origin(&self) -> CandidateOrigin {
        self.origin
    }

    /// Candidates that existed but were unusable before the one that loaded (worth a warning).
    pub fn skipped(&self) -> &[SkippedCandidate] {
        &self.skipped
    }

    /// How long loading the library and creating the environment took.
    pub fn load_time(&self) -> Duration {
        self.load_time
    }

    /// ONNX Runtime's build description (version, commit, flags).
    pub fn build_info(&self) -> &'static str {
        ort::info()
    }

    /// The `ort` environment, for callers that build sessions themselves.
    pub fn environment(&self) -> &ort::environment::Environment {
        &self.environment
    }

    /// The session for `model`, created on first use (one intra-op thread, full graph
    /// optimisation) and then cached by canonical path. A file changed on disk since (size or
    /// modification time) gets a new session.
    ///
    /// Creating a session takes 100 ms or more and allocates: **never call this from the audio
    /// thread**. Create and warm up sessions on a worker, then hand the `Arc` over.
    pub fn session(&self, model: &Path) -> Result<Arc<ModelSession>, InferenceError> {
        self.sessions.get_or_create(&self.environment, model)
    }

    /// Drops every cached session (they are freed when the last user lets go).
    pub fn clear_sessions(&self) {
        self.sessions.clear();
    }
}

/// The version string of an already loaded ONNX Runtime library (`OrtGetApiBase()->
/// GetVersionString()`), looked up without loading anything new (`RTLD_NOLOAD`).
#[cfg(unix)]
fn loaded_version(path: &Path) -> Option<String> {
    use std::ffi::{CStr, CString};
    use std::os::unix::ffi::OsStrExt;

    #[repr(C)]
    struct ApiBase {
        get_api: unsafe extern "C" fn(u32) -> *const libc::c_void,
        get_version_string: unsafe extern "C" fn() -> *const libc::c_char,
    }

    let c_path = CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: RTLD_NOLOAD only returns a handle to an object that is already loaded (ort loaded
    // it), adding a reference that is dropped below; nothing is initialised again.
    let handle = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD) };
    if handle.is_null() {
        return None;
    }
    // SAFETY: `OrtGetApiBase` has this signature in every ONNX Runtime release, and its
    // `OrtApiBase` starts with these two function pointers; the version string is static.
    unsafe {
        let symbol = libc::dlsym(handle, c"OrtGetApiBase".as_ptr());
        let version = if symbol.is_null() {
            None
        } else {
            let get_base: unsafe extern "C" fn() -> *const ApiBase = std::mem::transmute(symbol);
            let base = get_base();
            if base.is_null() {
                None
            } else {
                let s = ((*base).get_version_string)();
                (!s.is_null()).then(|| CStr::from_ptr(s).to_string_lossy().into_owned())
            }
        };
        libc::dlclose(handle);
        version
    }
}

#[cfg(not(unix))]
fn loaded_version(_path: &Path) -> Option<String> {
    None
}

/// Turns `ort`'s loader error into ours.
pub(crate) fn map_load_error(error: ort::LoadDynamicError, candidate: &Path) -> InferenceError {
    use ort::LoadDynamicError as E;
    match error {
        E::BadVersion { version_str, path } => InferenceError::RuntimeVersion {
            path,
            found: version_str,
            required: required_version(),
        },
        E::Dlopen { error, path } => InferenceError::RuntimeLoad {
            path,
            reason: format!("not a loadable library: {error}"),
        },
        E::MissingApi { path } => InferenceError::RuntimeLoad {
            path,
            reason: "not ONNX Runtime: the library does not export `OrtGetApiBase`".to_owned(),
        },
        E::InvalidVersionString => InferenceError::RuntimeLoad {
            path: candidate.to_path_buf(),
            reason: "the library reported a malformed version string".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::test_child::{child_mode, run_child};

    #[test]
    fn default_search_order_is_binary_env_data() {
        let tmp = tempfile::tempdir().unwrap();
        let binary = tmp.path().join("plugin").join("mixsmith.so");
        let search = RuntimeSearch::from_parts(
            Some(&binary),
            Some("/opt/ort/custom.so".into()),
            Some(Path::new("/cwd")),
            Some(Path::new("/home/u/.local/share/mixsmith")),
        );
        let got: Vec<_> = search
            .candidates()
            .iter()
            .map(|c| (c.path.clone(), c.origin))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    tmp.path().join("plugin").join(LIBRARY_FILE),
                    CandidateOrigin::BesideBinary
                ),
                (PathBuf::from("/opt/ort/custom.so"), CandidateOrigin::EnvVar),
                (
                    PathBuf::from("/home/u/.local/share/mixsmith/onnxruntime").join(LIBRARY_FILE),
                    CandidateOrigin::UserData
                ),
            ]
        );
    }

    #[test]
    fn env_var_may_be_relative_or_a_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let search =
            RuntimeSearch::from_parts(None, Some("lib/ort.so".into()), Some(tmp.path()), None);
        assert_eq!(search.candidates()[0].path, tmp.path().join("lib/ort.so"));

        let search = RuntimeSearch::from_parts(None, Some(tmp.path().into()), None, None);
        assert_eq!(search.candidates()[0].path, tmp.path().join(LIBRARY_FILE));

        let search = RuntimeSearch::from_parts(None, Some("".into()), None, None);
        assert!(search.candidates().is_empty());
    }

    #[test]
    fn dladdr_finds_the_binary_holding_this_code() {
        // In the unit-test binary the engine is linked into the executable itself.
        let found = own_binary_path().expect("dladdr found nothing");
        assert!(found.is_absolute(), "{}", found.display());
        let exe = std::env::current_exe().unwrap();
        assert_eq!(
            std::fs::canonicalize(found).unwrap(),
            std::fs::canonicalize(exe).unwrap()
        );
    }

    #[test]
    fn missing_everywhere_lists_every_searched_path() {
        // No candidate exists, so `ort` is never touched and this is safe in-process.
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a").join(LIBRARY_FILE);
        let b = tmp.path().join("b.so");
        let err = Runtime::load(&RuntimeSearch::explicit([a.clone(), b.clone()])).unwrap_err();
        match &err {
            InferenceError::RuntimeMissing { searched, file } => {
                assert_eq!(searched, &vec![a.clone(), b.clone()]);
                assert_eq!(file, LIBRARY_FILE);
            }
            other => panic!("expected RuntimeMissing, got {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains(&a.display().to_string()), "{msg}");
        assert!(msg.contains(&b.display().to_string()), "{msg}");
        assert!(msg.contains("cargo xtask setup"), "{msg}");
        assert!(err.is_runtime_unavailable());
    }

    #[test]
    fn bad_version_maps_to_runtime_version() {
        let err = map_load_error(
            ort::LoadDynamicError::BadVersion {
                version_str: "1.20.0".into(),
                path: "/x/libonnxruntime.so".into(),
            },
            Path::new("/x/libonnxruntime.so"),
        );
        match err {
            InferenceError::RuntimeVersion {
                found, required, ..
            } => {
                assert_eq!(found, "1.20.0");
                assert_eq!(required, required_version());
            }
            other => panic!("expected RuntimeVersion, got {other:?}"),
        }
    }

    // ---- failed loads, each in its own process -------------------------------------------
    //
    // ONNX Runtime is bound once per process: after any test in this binary has loaded the real
    // library, `ort::init_from` ignores the path it is given. Failed loads are therefore tested
    // in a child process running exactly one `#[ignore]`d test (see `test_child`).

    const CHILD_TEXT: &str = "inference::runtime::tests::child_not_a_library";
    const CHILD_NO_API: &str = "inference::runtime::tests::child_library_without_ort_api";
    const CHILD_OLD: &str = "inference::runtime::tests::child_old_runtime_version";
    const CHILD_GLOBAL: &str = "inference::runtime::tests::child_global_records_the_failure";

    #[test]
    fn a_text_file_is_a_typed_load_error() {
        run_child(CHILD_TEXT, &[]);
    }

    #[test]
    #[ignore = "runs in a child process started by a_text_file_is_a_typed_load_error"]
    fn child_not_a_library() {
        if !child_mode() {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let fake = tmp.path().join(LIBRARY_FILE);
        std::fs::write(&fake, "this is not a shared library\n").unwrap();
        let err = Runtime::load(&RuntimeSearch::explicit([&fake])).unwrap_err();
        match &err {
            InferenceError::RuntimeLoad { path, reason } => {
                assert_eq!(path, &fake);
                assert!(reason.contains("not a loadable library"), "{reason}");
            }
            other => panic!("expected RuntimeLoad, got {other:?}"),
        }
    }

    #[test]
    fn a_library_that_is_not_onnx_runtime_is_a_typed_error() {
        run_child(CHILD_NO_API, &[]);
    }

    #[test]
    #[ignore = "runs in a child process started by a_library_that_is_not_onnx_runtime_is_a_typed_error"]
    fn child_library_without_ort_api() {
        if !child_mode() {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let lib = compile_c(
            tmp.path(),
            "libplain.so",
            "int mixsmith_plain(void) { return 1; }\n",
        );
        let err = Runtime::load(&RuntimeSearch::explicit([&lib])).unwrap_err();
        match &err {
            InferenceError::RuntimeLoad { path, reason } => {
                assert_eq!(path, &lib);
                assert!(reason.contains("OrtGetApiBase"), "{reason}");
            }
            other => panic!("expected RuntimeLoad, got {other:?}"),
        }
    }

    #[test]
    fn an_old_runtime_is_a_version_error_and_later_candidates_are_tried() {
        run_child(CHILD_OLD, &[]);
    }

    #[test]
    #[ignore = "runs in a child process started by an_old_runtime_is_a_version_error_and_later_candidates_are_tried"]
    fn child_old_runtime_version() {
        if !child_mode() {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let old = compile_c(tmp.path(), "libonnxruntime.so.1.20.0", FAKE_OLD_RUNTIME);
        let missing = tmp.path().join("nothing-here.so");
        let err = Runtime::load(&RuntimeSearch::explicit([&missing, &old])).unwrap_err();
        match &err {
            InferenceError::RuntimeVersion {
                path,
                found,
                required,
            } => {
                assert_eq!(path, &old);
                assert_eq!(found, "1.20.0");
                assert_eq!(required, &required_version());
            }
            other => panic!("expected RuntimeVersion, got {other:?}"),
        }
        assert!(err.to_string().contains("1.20.0"), "{err}");
    }

    #[test]
    fn the_global_runtime_records_a_failed_load() {
        let tmp = tempfile::tempdir().unwrap();
        run_child(
            CHILD_GLOBAL,
            &[
                (
                    ENV_DYLIB_PATH,
                    tmp.path().join("absent.so").into_os_string(),
                ),
                ("XDG_DATA_HOME", tmp.path().join("data").into_os_string()),
            ],
        );
    }

    #[test]
    #[ignore = "runs in a child process started by the_global_runtime_records_a_failed_load"]
    fn child_global_records_the_failure() {
        if !child_mode() {
            return;
        }
        let env = PathBuf::from(std::env::var_os(ENV_DYLIB_PATH).unwrap());
        let data = PathBuf::from(std::env::var_os("XDG_DATA_HOME").unwrap());
        let first = Runtime::global().unwrap_err();
        let InferenceError::RuntimeMissing { searched, .. } = &first else {
            panic!("expected RuntimeMissing, got {first:?}");
        };
        let exe_dir = std::env::current_exe()
            .unwrap()
            .parent()
            .unwrap()
            .to_path_buf();
        assert_eq!(searched.first(), Some(&exe_dir.join(LIBRARY_FILE)));
        assert!(searched.contains(&env), "{searched:?}");
        assert!(
            searched.contains(&data.join("mixsmith/onnxruntime").join(LIBRARY_FILE)),
            "{searched:?}"
        );
        // The second caller gets the recorded outcome, even with a search that would differ.
        let second = Runtime::global_with(|| panic!("search must not run twice")).unwrap_err();
        assert_eq!(second.to_string(), first.to_string());
        assert!(Runtime::try_global().unwrap().is_err());
    }

    /// A stand-in for an old ONNX Runtime: exports `OrtGetApiBase` reporting version 1.20.0.
    const FAKE_OLD_RUNTIME: &str = r#"
typedef struct {
    const void *(*GetApi)(unsigned int version);
    const char *(*GetVersionString)(void);
} OrtApiBase;
static const void *get_api(unsigned int version) { (void)version; return 0; }
static const char *version_string(void) { return "1.20.0"; }
static const OrtApiBase base = { get_api, version_string };
const OrtApiBase *OrtGetApiBase(void) { return &base; }
"#;

    /// Builds a shared library from C source with the system C compiler (the one Rust links with).
    fn compile_c(dir: &Path, name: &str, source: &str) -> PathBuf {
        let src = dir.join(format!("{name}.c"));
        std::fs::write(&src, source).unwrap();
        let out = dir.join(name);
        let status = std::process::Command::new(std::env::var("CC").unwrap_or("cc".into()))
            .args(["-shared", "-fPIC", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .expect("this test needs a C compiler (`cc`) to build a fake library");
        assert!(status.success(), "cc failed to build {name}");
        out
    }
}
