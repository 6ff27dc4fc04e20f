//! `manifest.toml`: parsing and validation. Every problem is reported with the field it is about
//! (`sample_rate`, `files[1].sha256`, ...). The format is documented in `models/README.md`.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use toml::{Table, Value};

use super::convention::{Convention, Task};
use super::error::InferenceError;

/// The manifest format version this engine reads.
pub const MANIFEST_VERSION: i64 = 1;

/// The file name of a pack's manifest.
pub const MANIFEST_FILE: &str = "manifest.toml";

/// Lowest accepted `sample_rate`.
pub const MIN_SAMPLE_RATE: u32 = 8_000;
/// Highest accepted `sample_rate`.
pub const MAX_SAMPLE_RATE: u32 = 192_000;

/// One file of a pack.
#[derive(Debug, Clone, PartialEq)]
pub struct PackFile {
    /// Path relative to the pack folder (plain components only).
    pub path: PathBuf,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: String,
    /// The convention of this file when it differs from the pack's (e.g. a voice pack that
    /// also carries its content encoder).
    pub convention: Option<Convention>,
}

/// A validated `manifest.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Format version (`manifest_version`, default 1).
    pub manifest_version: i64,
    /// Human-readable pack name.
    pub name: String,
    /// What the pack is for.
    pub task: Task,
    /// The I/O convention of its graphs.
    pub convention: Convention,
    /// Sample rate the graphs expect, in Hz.
    pub sample_rate: u32,
    /// Samples per model call, when the convention has a fixed window (also used to size
    /// dynamic time axes for warm-up).
    pub window: Option<u32>,
    /// Samples between frames or windows, when meaningful.
    pub hop: Option<u32>,
    /// Stem names, in output order (separation packs only).
    pub stems: Vec<String>,
    /// Free-text description.
    pub description: Option<String>,
    /// Licence of the weights (SPDX id or text).
    pub license: Option<String>,
    /// Where the weights come from (URL or registry package).
    pub source: Option<String>,
    /// Convention-specific numbers (e.g. mdx `n_fft`, `dim_f`, `dim_t`, `compensation`).
    pub params: BTreeMap<String, f64>,
    /// The pack's files with their checksums.
    pub files: Vec<PackFile>,
}

const TOP_FIELDS: &[&str] = &[
    "manifest_version",
    "name",
    "task",
    "convention",
    "sample_rate",
    "window",
    "hop",
    "stems",
    "description",
    "license",
    "source",
    "params",
    "files",
];
const FILE_FIELDS: &[&str] = &["path", "sha256", "convention"];

impl Manifest {
    /// Reads and validates the manifest at `path`.
    pub fn load(path: &Path) -> Result<Self, InferenceError> {
        let text = std::fs::read_to_string(path).map_err(|e| InferenceError::io(path, e))?;
        Self::parse(&text, path)
    }

    /// Parses and validates manifest text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, InferenceError> {
        let table: Table =
            text.parse()
                .map_err(|e: toml::de::Error| InferenceError::ManifestSyntax {
                    path: path.to_path_buf(),
                    message: e.to_string().trim_end().to_owned(),
                })?;
        let f = Fields {
            path,
            table: &table,
        };
        f.reject_unknown("", TOP_FIELDS)?;

        let manifest_version = f.opt_int("manifest_version")?.unwrap_or(MANIFEST_VERSION);
        if manifest_version != MANIFEST_VERSION {
            return Err(f.err(
                "manifest_version",
                format!("this Mixsmith reads version {MANIFEST_VERSION}, the pack is version {manifest_version}"),
            ));
        }

        let name = f.string("name")?;
        if name.trim().is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(f.err("name", "must be 1 to 100 printable characters"));
        }

        let task_name = f.string("task")?;
        let task = Task::from_name(&task_name).ok_or_else(|| {
            f.err(
                "task",
                format!(
                    "unknown task `{task_name}`; expected one of {}",
                    list(Task::ALL.map(Task::name))
                ),
            )
        })?;
        let convention_name = f.string("convention")?;
        let convention = Convention::from_name(&convention_name).ok_or_else(|| {
            f.err(
                "convention",
                format!(
                    "unknown convention `{convention_name}`; expected one of {}",
                    list(Convention::ALL.map(Convention::name))
                ),
            )
        })?;
        if convention.task() != task {
            return Err(f.err(
                "convention",
                format!(
                    "`{convention}` models do `{}`, but the manifest's task is `{task}`",
                    convention.task()
                ),
            ));
        }

        let sample_rate = f.int("sample_rate")?;
        let sample_rate = u32::try_from(sample_rate)
            .ok()
            .filter(|r| (MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(r))
            .ok_or_else(|| {
                f.err(
                    "sample_rate",
                    format!(
                        "must be between {MIN_SAMPLE_RATE} and {MAX_SAMPLE_RATE}, got {sample_rate}"
                    ),
                )
            })?;
        let window = f.opt_positive_u32("window")?;
        let hop = f.opt_positive_u32("hop")?;
        if let (Some(w), Some(h)) = (window, hop)
            && h > w
        {
            return Err(f.err("hop", format!("must not exceed window ({w}), got {h}")));
        }

        let stems = match table.get("stems") {
            None => Vec::new(),
            Some(Value::Array(items)) => {
                let mut stems = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let field = format!("stems[{i}]");
                    let Some(s) = item.as_str() else {
                        return Err(
                            f.err(&field, format!("must be a string, got {}", item.type_str()))
                        );
                    };
                    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
                        return Err(f.err(&field, "must be a non-empty name without spaces"));
                    }
                    if stems.iter().any(|x| x == s) {
                        return Err(f.err(&field, format!("`{s}` is listed twice")));
                    }
                    stems.push(s.to_owned());
                }
                stems
            }
            Some(other) => {
                return Err(f.err(
                    "stems",
                    format!("must be an array of strings, got {}", other.type_str()),
                ));
            }
        };
        if task == Task::Separate && stems.is_empty() {
            return Err(f.err("stems", "separation packs must list their stems"));
        }
        if task != Task::Separate && !stems.is_empty() {
            return Err(f.err("stems", "only separation packs have stems"));
        }

        let params = match table.get("params") {
            None => BTreeMap::new(),
            Some(Value::Table(t)) => {
                let mut params = BTreeMap::new();
                for (k, v) in t {
                    let n = match v {
                        Value::Integer(i) => *i as f64,
                        Value::Float(x) if x.is_finite() => *x,
                        other => {
                            return Err(f.err(
                                &format!("params.{k}"),
                                format!("must be a number, got {}", other.type_str()),
                            ));
                        }
                    };
                    params.insert(k.clone(), n);
                }
                params
            }
            Some(other) => {
                return Err(f.err(
                    "params",
                    format!("must be a table, got {}", other.type_str()),
                ));
            }
        };

        let files = f.files()?;

        let manifest = Manifest {
            manifest_version,
            name,
            task,
            convention,
            sample_rate,
            window,
            hop,
            stems,
            description: f.opt_string("description")?,
            license: f.opt_string("license")?,
            source: f.opt_string("source")?,
            params,
            files,
        };
        convention
            .check_manifest(&manifest)
            .map_err(|(field, problem)| f.err(&field, problem))?;
        Ok(manifest)
    }

    /// The convention of `file` (its own, or the pack's).
    pub fn convention_of(&self, file: &PackFile) -> Convention {
        file.convention.unwrap_or(self.convention)
    }
}

fn list<const N: usize>(names: [&str; N]) -> String {
    names.map(|n| format!("`{n}`")).join(", ")
}

/// Typed access to manifest fields with errors that name them.
struct Fields<'a> {
    path: &'a Path,
    table: &'a Table,
}

impl Fields<'_> {
    fn err(&self, field: &str, problem: impl std::fmt::Display) -> InferenceError {
        InferenceError::manifest(self.path, field, problem)
    }

    fn reject_unknown(&self, prefix: &str, known: &[&str]) -> Result<(), InferenceError> {
        self.reject_unknown_in(self.table, prefix, known)
    }

    fn reject_unknown_in(
        &self,
        table: &Table,
        prefix: &str,
        known: &[&str],
    ) -> Result<(), InferenceError> {
        match table.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(self.err(
                &format!("{prefix}{k}"),
                format!("unknown field; known fields are {}", known.join(", ")),
            )),
            None => Ok(()),
        }
    }

    fn string(&self, key: &str) -> Result<String, InferenceError> {
        self.opt_string(key)?
            .ok_or_else(|| self.err(key, "missing (required)"))
    }

    fn opt_string(&self, key: &str) -> Result<Option<String>, InferenceError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => {
                Err(self.err(key, format!("must be a string, got {}", other.type_str())))
            }
        }
    }

    fn int(&self, key: &str) -> Result<i64, InferenceError> {
        self.opt_int(key)?
            .ok_or_else(|| self.err(key, "missing (required)"))
    }

    fn opt_int(&self, key: &str) -> Result<Option<i64>, InferenceError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::Integer(i)) => Ok(Some(*i)),
            Some(other) => {
                Err(self.err(key, format!("must be an integer, got {}", other.type_str())))
            }
        }
    }

    fn opt_positive_u32(&self, key: &str) -> Result<Option<u32>, InferenceError> {
        match self.opt_int(key)? {
            None => Ok(None),
            Some(v) => u32::try_from(v)
                .ok()
                .filter(|&v| v > 0)
                .map(Some)
                .ok_or_else(|| self.err(key, format!("must be a positive integer, got {v}"))),
        }
    }

    fn files(&self) -> Result<Vec<PackFile>, InferenceError> {
        let items = match self.table.get("files") {
            None => {
                return Err(self.err(
                    "files",
                    "missing (required): list each file as [[files]] with path and sha256",
                ));
            }
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(self.err(
                    "files",
                    format!(
                        "must be an array of tables ([[files]]), got {}",
                        other.type_str()
                    ),
                ));
            }
        };
        if items.is_empty() {
            return Err(self.err("files", "must list at least one file"));
        }
        let mut files: Vec<PackFile> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let prefix = format!("files[{i}]");
            let Some(t) = item.as_table() else {
                return Err(self.err(
                    &prefix,
                    format!(
                        "must be a table with path and sha256, got {}",
                        item.type_str()
                    ),
                ));
            };
            self.reject_unknown_in(t, &format!("{prefix}."), FILE_FIELDS)?;
            let get_str = |key: &str| -> Result<String, InferenceError> {
                match t.get(key) {
                    None => Err(self.err(&format!("{prefix}.{key}"), "missing (required)")),
                    Some(Value::String(s)) => Ok(s.clone()),
                    Some(other) => Err(self.err(
                        &format!("{prefix}.{key}"),
                        format!("must be a string, got {}", other.type_str()),
                    )),
                }
            };
            let raw_path = get_str("path")?;
            let path = PathBuf::from(&raw_path);
            let plain = !raw_path.is_empty()
                && !raw_path.contains('\\')
                && path.components().all(|c| matches!(c, Component::Normal(_)));
            if !plain {
                return Err(self.err(
                    &format!("{prefix}.path"),
                    format!("`{raw_path}` must be a relative path inside the pack (no `..`, no leading `/`)"),
                ));
            }
            if files.iter().any(|f| f.path == path) {
                return Err(self.err(
                    &format!("{prefix}.path"),
                    format!("`{raw_path}` is listed twice"),
                ));
            }
            let sha256 = get_str("sha256")?.to_ascii_lowercase();
            if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(self.err(
                    &format!("{prefix}.sha256"),
                    "must be 64 hexadecimal characters (the file's SHA-256)",
                ));
            }
            let convention = match t.get("convention") {
                None => None,
                Some(Value::String(s)) => Some(Convention::from_name(s).ok_or_else(|| {
                    self.err(
                        &format!("{prefix}.convention"),
                        format!("unknown convention `{s}`"),
                    )
                })?),
                Some(other) => {
                    return Err(self.err(
                        &format!("{prefix}.convention"),
                        format!("must be a string, got {}", other.type_str()),
                    ));
                }
            };
            files.push(PackFile {
                path,
                sha256,
                convention,
            });
        }
        if !files
            .iter()
            .any(|f| f.path.extension().is_some_and(|e| e == "onnx"))
        {
            return Err(self.err("files", "no `.onnx` file is listed"));
        }
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "2c3c1d144bfa61ad236e92e169c13535c880469a12a047d4e73451f2c059a0ec";

    fn basic_pitch_text() -> String {
        format!(
            r#"
name = "basic-pitch"
task = "transcribe"
convention = "basic-pitch"
sample_rate = 22050
window = 43844
hop = 256

[[files]]
path = "nmp.onnx"
sha256 = "{SHA}"
"#
        )
    }

    fn parse(text: &str) -> Result<Manifest, InferenceError> {
        Manifest::parse(text, Path::new("/packs/x/manifest.toml"))
    }

    /// Parses `text` expecting a field error; returns (field, problem).
    fn field_error(text: &str) -> (String, String) {
        match parse(text) {
            Err(InferenceError::Manifest {
                field,
                problem,
                path,
            }) => {
                assert_eq!(path, Path::new("/packs/x/manifest.toml"));
                (field, problem)
            }
            other => panic!("expected a Manifest error, got {other:?}"),
        }
    }

    fn with(replace: &str, by: &str) -> String {
        let t = basic_pitch_text();
        assert!(t.contains(replace), "{replace}");
        t.replace(replace, by)
    }

    #[test]
    fn the_basic_pitch_manifest_parses() {
        let m = parse(&basic_pitch_text()).unwrap();
        assert_eq!(m.name, "basic-pitch");
        assert_eq!(m.task, Task::Transcribe);
        assert_eq!(m.convention, Convention::BasicPitch);
        assert_eq!(
            (m.sample_rate, m.window, m.hop),
            (22050, Some(43844), Some(256))
        );
        assert_eq!(m.files.len(), 1);
        assert_eq!(m.files[0].path, PathBuf::from("nmp.onnx"));
        assert_eq!(m.files[0].sha256, SHA);
        assert_eq!(m.manifest_version, 1);
    }

    #[test]
    fn the_committed_manifests_are_valid() {
        let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
        let mut seen = 0;
        for entry in std::fs::read_dir(&models).unwrap() {
            let manifest = entry.unwrap().path().join(MANIFEST_FILE);
            if manifest.is_file() {
                Manifest::load(&manifest).unwrap();
                seen += 1;
            }
        }
        assert!(seen >= 1, "no manifest under {}", models.display());
    }

    #[test]
    fn pack_manifests_agree_with_the_fetch_pins() {
        // models/packages.toml (read by `cargo xtask setup`) and each fetched pack's manifest
        // must record the same SHA-256 for the same file.
        let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
        let pins: Table = std::fs::read_to_string(models.join("packages.toml"))
            .unwrap()
            .parse()
            .unwrap();
        let manifest = Manifest::load(&models.join("basic-pitch").join(MANIFEST_FILE)).unwrap();
        let pin = pins["package"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"].as_str() == Some("basic-pitch"))
            .expect("a basic-pitch pin");
        let destination = Path::new(pin["destination"].as_str().unwrap());
        assert_eq!(
            destination.file_name().unwrap(),
            manifest.files[0].path.as_os_str()
        );
        assert_eq!(
            pin["member_sha256"].as_str().unwrap(),
            manifest.files[0].sha256
        );
    }

    #[test]
    fn the_error_message_names_file_and_field() {
        let err = parse(&with("sample_rate = 22050", "sample_rate = 4000")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/packs/x/manifest.toml: field `sample_rate`: must be between 8000 and 192000, got 4000"
        );
    }

    #[test]
    fn missing_fields_are_named() {
        for field in ["name", "task", "convention", "sample_rate"] {
            let text: String = basic_pitch_text()
                .lines()
                .filter(|l| !l.starts_with(&format!("{field} =")))
                .collect::<Vec<_>>()
                .join("\n");
            let (f, problem) = field_error(&text);
            assert_eq!(f, field);
            assert!(problem.contains("missing"), "{problem}");
        }
        let text = basic_pitch_text();
        let cut = &text[..text.find("[[files]]").unwrap()];
        assert_eq!(field_error(cut).0, "files");
    }

    #[test]
    fn bad_values_are_named() {
        let cases = [
            (
                with("task = \"transcribe\"", "task = \"sing\""),
                "task",
                "unknown task",
            ),
            (
                with("convention = \"basic-pitch\"", "convention = \"bp\""),
                "convention",
                "unknown convention",
            ),
            (
                with("task = \"transcribe\"", "task = \"pitch\""),
                "convention",
                "do `transcribe`",
            ),
            (
                with("sample_rate = 22050", "sample_rate = \"22050\""),
                "sample_rate",
                "must be an integer",
            ),
            (
                with("sample_rate = 22050", "sample_rate = 44100"),
                "sample_rate",
                "22050 Hz",
            ),
            (with("window = 43844", "window = 0"), "window", "positive"),
            (with("window = 43844", "window = 44100"), "window", "43844"),
            (with("hop = 256", "hop = 512"), "hop", "256"),
            (
                with("hop = 256", "hop = 50000"),
                "hop",
                "must not exceed window",
            ),
            (with(SHA, "abc"), "files[0].sha256", "64 hexadecimal"),
            (
                with("\"nmp.onnx\"", "\"../nmp.onnx\""),
                "files[0].path",
                "inside the pack",
            ),
            (
                with("\"nmp.onnx\"", "\"/tmp/nmp.onnx\""),
                "files[0].path",
                "inside the pack",
            ),
            (with("\"nmp.onnx\"", "\"nmp.bin\""), "files", "no `.onnx`"),
            (
                with("hop = 256", "hop = 256\nstems = [\"vocals\"]"),
                "stems",
                "only separation",
            ),
            (
                with("hop = 256", "hop = 256\nsample-rate = 1"),
                "sample-rate",
                "unknown field",
            ),
            (
                with("path = ", "size = 3\npath = "),
                "files[0].size",
                "unknown field",
            ),
            (
                with("hop = 256", "hop = 256\nmanifest_version = 2"),
                "manifest_version",
                "version 1",
            ),
            (
                with("name = \"basic-pitch\"", "name = \"\""),
                "name",
                "printable",
            ),
            (
                with("hop = 256", "hop = 256\nparams = { a = \"x\" }"),
                "params.a",
                "number",
            ),
        ];
        for (text, field, needle) in cases {
            let (f, problem) = field_error(&text);
            assert_eq!(f, field, "{problem}");
            assert!(
                problem.contains(needle),
                "field {field}: {problem:?} lacks {needle:?}"
            );
        }
    }

    #[test]
    fn duplicate_files_are_named() {
        let text = format!(
            "{}\n[[files]]\npath = \"nmp.onnx\"\nsha256 = \"{SHA}\"\n",
            basic_pitch_text()
        );
        assert_eq!(field_error(&text).0, "files[1].path");
    }

    #[test]
    fn a_syntax_error_is_its_own_variant() {
        match parse("name = \"unterminated\n") {
            Err(InferenceError::ManifestSyntax { message, .. }) => {
                assert!(message.contains("line 1"), "{message}")
            }
            other => panic!("expected ManifestSyntax, got {other:?}"),
        }
    }

    #[test]
    fn separation_rules() {
        let mdx = |extra: &str| {
            format!(
                "name = \"UVR vocals\"\ntask = \"separate\"\nconvention = \"mdx\"\nsample_rate = 44100\n\
                 hop = 1024\n{extra}\n[[files]]\npath = \"m.onnx\"\nsha256 = \"{SHA}\"\n"
            )
        };
        let ok = mdx(
            "stems = [\"vocals\"]\n[params]\nn_fft = 6144\ndim_f = 2048\ndim_t = 256\ncompensation = 1.035",
        );
        let m = parse(&ok).unwrap();
        assert_eq!(m.stems, vec!["vocals"]);
        assert_eq!(m.params["compensation"], 1.035);

        assert_eq!(field_error(&mdx("")).0, "stems");
        assert_eq!(
            field_error(&mdx(
                "stems = [\"vocals\", \"drums\"]\n[params]\nn_fft = 6144\ndim_f = 2048\ndim_t = 256"
            ))
            .0,
            "stems"
        );
        assert_eq!(
            field_error(&mdx(
                "stems = [\"vocals\"]\n[params]\nn_fft = 6144\ndim_t = 256"
            ))
            .0,
            "params.dim_f"
        );
        assert_eq!(
            field_error(&mdx(
                "stems = [\"vocals\"]\n[params]\nn_fft = 2048\ndim_f = 2048\ndim_t = 256"
            ))
            .0,
            "params.dim_f"
        );
        assert_eq!(field_error(&mdx("stems = [\"a\", \"a\"]")).0, "stems[1]");

        let demucs = format!(
            "name = \"htdemucs\"\ntask = \"separate\"\nconvention = \"demucs-onnx\"\nsample_rate = 44100\n\
             stems = [\"drums\", \"bass\", \"other\"]\n[[files]]\npath = \"h.onnx\"\nsha256 = \"{SHA}\"\n"
        );
        let (field, problem) = field_error(&demucs);
        assert_eq!(field, "stems");
        assert!(problem.contains("4 or 6"), "{problem}");
    }

    #[test]
    fn per_file_convention_override() {
        let text = format!(
            "name = \"my voice\"\ntask = \"voice\"\nconvention = \"rvc-v2\"\nsample_rate = 40000\n\
             [[files]]\npath = \"voice.onnx\"\nsha256 = \"{SHA}\"\n\
             [[files]]\npath = \"contentvec.onnx\"\nsha256 = \"{SHA}\"\nconvention = \"contentvec\"\n"
        );
        let m = parse(&text).unwrap();
        assert_eq!(m.convention_of(&m.files[0]), Convention::RvcV2);
        assert_eq!(m.convention_of(&m.files[1]), Convention::ContentVec);
    }
}
