//! Model I/O conventions: what each family's graph must look like, and the manifest rules that
//! belong to it. See `shared/MODEL-FORMATS.md` for the shapes.
//!
//! Adding a convention: a variant, its name in [`Convention::ALL`]/[`Convention::name`], its task,
//! its graph signature(s) in [`Convention::expected`] and its manifest rules in
//! [`Convention::check_manifest`].

use std::fmt;
use std::path::Path;

use super::error::InferenceError;
use super::manifest::Manifest;
use super::session::{ElementType, GraphSignature, TensorInfo, format_dims};

/// What a model pack is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Task {
    /// Source separation (stems).
    Separate,
    /// Fundamental-frequency tracking.
    Pitch,
    /// Content features (speaker-independent units) for voice conversion.
    Content,
    /// Voice conversion.
    Voice,
    /// Audio to notes.
    Transcribe,
}

impl Task {
    /// Every task, in manifest spelling order.
    pub const ALL: [Task; 5] = [
        Task::Separate,
        Task::Pitch,
        Task::Content,
        Task::Voice,
        Task::Transcribe,
    ];

    /// The manifest spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Separate => "separate",
            Self::Pitch => "pitch",
            Self::Content => "content",
            Self::Voice => "voice",
            Self::Transcribe => "transcribe",
        }
    }

    /// Parses the manifest spelling.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A model family's I/O convention: names, shapes, sample rate and the processing around the
/// graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Convention {
    /// UVR MDX-Net: one stem per model, complex spectrogram in and out.
    Mdx,
    /// HTDemucs split export: waveform + spectrogram in, both branches out, all stems at once.
    DemucsOnnx,
    /// RVC v2 voice conversion export.
    RvcV2,
    /// ContentVec content features.
    ContentVec,
    /// CREPE F0 (1024-sample frames at 16 kHz, 360 pitch bins).
    Crepe,
    /// FCPE F0 exported as one graph (wav in, f0 out).
    Fcpe,
    /// Spotify basic-pitch `nmp.onnx` (notes, onsets, contour).
    BasicPitch,
}

/// Expected size of one dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    /// Any size (usually a dynamic batch or time axis).
    Any,
    /// Exactly this size (a dynamic graph dimension is accepted too).
    Is(u64),
    /// One of these sizes.
    OneOf(&'static [u64]),
}

impl Dim {
    fn accepts(self, got: Option<u64>) -> bool {
        match (self, got) {
            (Dim::Any, _) | (_, None) => true,
            (Dim::Is(n), Some(g)) => n == g,
            (Dim::OneOf(ns), Some(g)) => ns.contains(&g),
        }
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Any => f.write_str("?"),
            Dim::Is(n) => write!(f, "{n}"),
            Dim::OneOf(ns) => {
                let parts: Vec<String> = ns.iter().map(u64::to_string).collect();
                write!(f, "{}", parts.join("|"))
            }
        }
    }
}

/// One expected graph input or output.
#[derive(Debug, Clone, Copy)]
pub struct PortSpec {
    /// Its name, or `None` when exports name it differently and it is matched by position.
    pub name: Option<&'static str>,
    /// Its element type (only the types of [`ElementType`] without payload).
    pub element: PortElement,
    /// Its shape.
    pub dims: &'static [Dim],
}

/// Element types a convention can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortElement {
    /// 32-bit float.
    F32,
    /// 64-bit integer.
    I64,
}

impl PortElement {
    fn matches(self, got: &ElementType) -> bool {
        matches!(
            (self, got),
            (PortElement::F32, ElementType::F32) | (PortElement::I64, ElementType::I64)
        )
    }
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let element = match self.element {
            PortElement::F32 => "f32",
            PortElement::I64 => "i64",
        };
        let dims: Vec<String> = self.dims.iter().map(Dim::to_string).collect();
        write!(f, "{element} [{}]", dims.join(", "))
    }
}

/// A complete expected signature. Graph outputs beyond the expected ones are allowed; graph
/// inputs beyond them are not (the engine would not know what to feed).
#[derive(Debug, Clone, Copy)]
pub struct SignatureSpec {
    /// Expected inputs.
    pub inputs: &'static [PortSpec],
    /// Expected outputs.
    pub outputs: &'static [PortSpec],
}

const fn port(name: &'static str, element: PortElement, dims: &'static [Dim]) -> PortSpec {
    PortSpec {
        name: Some(name),
        element,
        dims,
    }
}

const fn nth(element: PortElement, dims: &'static [Dim]) -> PortSpec {
    PortSpec {
        name: None,
        element,
        dims,
    }
}

use Dim::{Any, Is, OneOf};
use PortElement::{F32, I64};

/// basic-pitch: the input name and window length, and output names.
pub mod basic_pitch {
    /// Input: mono audio at 22 050 Hz, [batch, 43844, 1].
    pub const INPUT: &str = "serving_default_input_2:0";
    /// Output: note (frame) activations [batch, 172, 88].
    pub const NOTE: &str = "StatefulPartitionedCall:1";
    /// Output: onset activations [batch, 172, 88].
    pub const ONSET: &str = "StatefulPartitionedCall:2";
    /// Output: pitch contour [batch, 172, 264] (3 bins per semitone).
    pub const CONTOUR: &str = "StatefulPartitionedCall:0";
    /// Samples per window (2 s at 22 050 Hz minus one hop).
    pub const WINDOW: u64 = 43844;
    /// Frames per window.
    pub const FRAMES: u64 = 172;
    /// Model sample rate.
    pub const SAMPLE_RATE: u32 = 22050;
    /// Samples per frame.
    pub const HOP: u32 = 256;
}

const BASIC_PITCH: SignatureSpec = SignatureSpec {
    inputs: &[port(
        basic_pitch::INPUT,
        F32,
        &[Any, Is(basic_pitch::WINDOW), Is(1)],
    )],
    outputs: &[
        port(
            basic_pitch::NOTE,
            F32,
            &[Any, Is(basic_pitch::FRAMES), Is(88)],
        ),
        port(
            basic_pitch::ONSET,
            F32,
            &[Any, Is(basic_pitch::FRAMES), Is(88)],
        ),
        port(
            basic_pitch::CONTOUR,
            F32,
            &[Any, Is(basic_pitch::FRAMES), Is(264)],
        ),
    ],
};

const MDX: SignatureSpec = SignatureSpec {
    inputs: &[port("input", F32, &[Any, Is(4), Any, Any])],
    outputs: &[nth(F32, &[Any, Is(4), Any, Any])],
};

const DEMUCS_ONNX: SignatureSpec = SignatureSpec {
    inputs: &[
        nth(F32, &[Is(1), Is(2), Is(343_980)]),
        nth(F32, &[Is(1), Is(4), Is(2048), Is(336)]),
    ],
    outputs: &[
        nth(F32, &[Is(1), OneOf(&[4, 6]), Is(4), Is(2048), Is(336)]),
        nth(F32, &[Is(1), OneOf(&[4, 6]), Is(2), Is(343_980)]),
    ],
};

const RVC_V2: SignatureSpec = SignatureSpec {
    inputs: &[
        port("phone", F32, &[Is(1), Any, OneOf(&[768, 256])]),
        port("phone_lengths", I64, &[Is(1)]),
        port("pitch", I64, &[Is(1), Any]),
        port("pitchf", F32, &[Is(1), Any]),
        port("ds", I64, &[Is(1)]),
        port("rnd", F32, &[Is(1), Is(192), Any]),
    ],
    outputs: &[port("audio", F32, &[Is(1), Is(1), Any])],
};

const CONTENTVEC: SignatureSpec = SignatureSpec {
    inputs: &[nth(F32, &[Is(1), Is(1), Any])],
    outputs: &[nth(F32, &[Is(1), Any, OneOf(&[768, 256])])],
};

const CONTENTVEC_UNITS: SignatureSpec = SignatureSpec {
    inputs: &[port("audio", F32, &[Is(1), Any])],
    outputs: &[port("units", F32, &[Is(1), Any, OneOf(&[768, 256])])],
};

const CREPE: SignatureSpec = SignatureSpec {
    inputs: &[nth(F32, &[Any, Is(1024)])],
    outputs: &[nth(F32, &[Any, Is(360)])],
};

const FCPE: SignatureSpec = SignatureSpec {
    inputs: &[nth(F32, &[Is(1), Any])],
    outputs: &[nth(F32, &[Is(1), Any])],
};

impl Convention {
    /// Every convention.
    pub const ALL: [Convention; 7] = [
        Convention::Mdx,
        Convention::DemucsOnnx,
        Convention::RvcV2,
        Convention::ContentVec,
        Convention::Crepe,
        Convention::Fcpe,
        Convention::BasicPitch,
    ];

    /// The manifest spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mdx => "mdx",
            Self::DemucsOnnx => "demucs-onnx",
            Self::RvcV2 => "rvc-v2",
            Self::ContentVec => "contentvec",
            Self::Crepe => "crepe",
            Self::Fcpe => "fcpe",
            Self::BasicPitch => "basic-pitch",
        }
    }

    /// Parses the manifest spelling.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The task this convention serves.
    pub fn task(self) -> Task {
        match self {
            Self::Mdx | Self::DemucsOnnx => Task::Separate,
            Self::RvcV2 => Task::Voice,
            Self::ContentVec => Task::Content,
            Self::Crepe | Self::Fcpe => Task::Pitch,
            Self::BasicPitch => Task::Transcribe,
        }
    }

    /// The accepted graph signatures (more than one when exports differ); a graph must match
    /// one of them.
    pub fn expected(self) -> &'static [SignatureSpec] {
        match self {
            Self::Mdx => std::slice::from_ref(&MDX),
            Self::DemucsOnnx => std::slice::from_ref(&DEMUCS_ONNX),
            Self::RvcV2 => std::slice::from_ref(&RVC_V2),
            Self::ContentVec => &[CONTENTVEC, CONTENTVEC_UNITS],
            Self::Crepe => std::slice::from_ref(&CREPE),
            Self::Fcpe => std::slice::from_ref(&FCPE),
            Self::BasicPitch => std::slice::from_ref(&BASIC_PITCH),
        }
    }

    /// Checks a graph against this convention. When no alternative matches, the error describes
    /// the first mismatch against the first alternative.
    pub fn check_graph(self, model: &Path, graph: &GraphSignature) -> Result<(), InferenceError> {
        let mut first_error = None;
        for spec in self.expected() {
            match check_signature(spec, graph) {
                Ok(()) => return Ok(()),
                Err(m) => {
                    first_error.get_or_insert(m);
                }
            }
        }
        let m = first_error.expect("every convention has at least one signature");
        Err(InferenceError::ShapeMismatch {
            path: model.to_path_buf(),
            convention: self,
            kind: m.kind,
            name: m.name,
            expected: m.expected,
            got: m.got,
        })
    }

    /// The size warm-up gives dynamic dimension `dim` of graph input `input`: one batch item,
    /// and a short but valid length for time axes.
    pub fn warm_up_dim(self, m: &Manifest, input: usize, dim: usize) -> usize {
        let _ = input;
        if dim == 0 {
            return 1;
        }
        let param = |key: &str, default: usize| m.params.get(key).map_or(default, |&v| v as usize);
        match self {
            Self::Mdx if dim == 2 => param("dim_f", 2048),
            Self::Mdx => param("dim_t", 256),
            // 100 frames = 1 s of units
            Self::RvcV2 => 100,
            Self::ContentVec | Self::Fcpe => m.window.unwrap_or(16_000) as usize,
            Self::BasicPitch | Self::Crepe | Self::DemucsOnnx => m.window.unwrap_or(1) as usize,
        }
    }

    /// Convention-specific manifest rules. Returns the offending field and the problem.
    pub(crate) fn check_manifest(self, m: &Manifest) -> Result<(), (String, String)> {
        let fail = |field: &str, problem: String| Err((field.to_owned(), problem));
        let rate_is = |rates: &[u32]| -> Result<(), (String, String)> {
            if rates.contains(&m.sample_rate) {
                Ok(())
            } else {
                let list: Vec<String> = rates.iter().map(u32::to_string).collect();
                fail(
                    "sample_rate",
                    format!(
                        "the `{}` convention runs at {} Hz, not {}",
                        self.name(),
                        list.join(" or "),
                        m.sample_rate
                    ),
                )
            }
        };
        match self {
            Self::BasicPitch => {
                rate_is(&[basic_pitch::SAMPLE_RATE])?;
                if let Some(w) = m.window
                    && u64::from(w) != basic_pitch::WINDOW
                {
                    return fail(
                        "window",
                        format!(
                            "basic-pitch windows are {} samples, not {w}",
                            basic_pitch::WINDOW
                        ),
                    );
                }
                if let Some(h) = m.hop
                    && h != basic_pitch::HOP
                {
                    return fail(
                        "hop",
                        format!(
                            "basic-pitch frames are {} samples apart, not {h}",
                            basic_pitch::HOP
                        ),
                    );
                }
            }
            Self::Crepe | Self::Fcpe | Self::ContentVec => rate_is(&[16_000])?,
            Self::RvcV2 => rate_is(&[32_000, 40_000, 48_000])?,
            Self::DemucsOnnx => {
                rate_is(&[44_100])?;
                if !matches!(m.stems.len(), 4 | 6) {
                    return fail(
                        "stems",
                        format!(
                            "demucs-onnx models produce 4 or 6 stems, the manifest lists {}",
                            m.stems.len()
                        ),
                    );
                }
            }
            Self::Mdx => {
                rate_is(&[44_100])?;
                if m.stems.len() != 1 {
                    return fail(
                        "stems",
                        format!(
                            "an mdx model produces exactly one stem, the manifest lists {}",
                            m.stems.len()
                        ),
                    );
                }
                for key in ["n_fft", "dim_f", "dim_t"] {
                    match m.params.get(key) {
                        None => {
                            return fail(
                                &format!("params.{key}"),
                                "required for the `mdx` convention".to_owned(),
                            );
                        }
                        Some(&v) if v < 1.0 || v.fract() != 0.0 => {
                            return fail(
                                &format!("params.{key}"),
                                format!("must be a positive integer, got {v}"),
                            );
                        }
                        Some(_) => {}
                    }
                }
                if m.params["dim_f"] > m.params["n_fft"] / 2.0 + 1.0 {
                    return fail(
                        "params.dim_f",
                        "must not exceed n_fft / 2 + 1 frequency bins".to_owned(),
                    );
                }
                if let Some(&c) = m.params.get("compensation")
                    && !(0.5..=2.0).contains(&c)
                {
                    return fail(
                        "params.compensation",
                        format!("must be between 0.5 and 2.0, got {c}"),
                    );
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for Convention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

struct Mismatch {
    kind: &'static str,
    name: String,
    expected: String,
    got: String,
}

fn check_signature(spec: &SignatureSpec, graph: &GraphSignature) -> Result<(), Mismatch> {
    check_ports("input", spec.inputs, &graph.inputs)?;
    if graph.inputs.len() > spec.inputs.len() {
        let extra = &graph.inputs[spec.inputs.len()..];
        let unexpected = extra
            .iter()
            .find(|t| !spec.inputs.iter().any(|p| p.name == Some(t.name.as_str())))
            .unwrap_or(&extra[0]);
        return Err(Mismatch {
            kind: "input",
            name: unexpected.name.clone(),
            expected: format!("{} input(s)", spec.inputs.len()),
            got: format!("an extra input {unexpected}"),
        });
    }
    check_ports("output", spec.outputs, &graph.outputs)
}

fn check_ports(kind: &'static str, specs: &[PortSpec], got: &[TensorInfo]) -> Result<(), Mismatch> {
    let names: Vec<&str> = got.iter().map(|t| t.name.as_str()).collect();
    for (position, spec) in specs.iter().enumerate() {
        let (label, tensor) = match spec.name {
            Some(name) => (name.to_owned(), got.iter().find(|t| t.name == name)),
            None => (format!("#{position}"), got.get(position)),
        };
        let Some(tensor) = tensor else {
            return Err(Mismatch {
                kind,
                name: label,
                expected: format!("{kind} {spec}"),
                got: format!("no such {kind} (the graph has {names:?})"),
            });
        };
        let shape_ok = tensor.dims.len() == spec.dims.len()
            && spec
                .dims
                .iter()
                .zip(&tensor.dims)
                .all(|(d, g)| d.accepts(*g));
        if !spec.element.matches(&tensor.element) || !shape_ok {
            return Err(Mismatch {
                kind,
                name: tensor.name.clone(),
                expected: spec.to_string(),
                got: format!("{} {}", tensor.element, format_dims(&tensor.dims)),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, dims: &[Option<u64>]) -> TensorInfo {
        TensorInfo::new(name, ElementType::F32, dims)
    }

    /// The signature ONNX Runtime reports for basic-pitch's `nmp.onnx` (outputs out of order).
    fn basic_pitch_graph() -> GraphSignature {
        GraphSignature {
            inputs: vec![t(basic_pitch::INPUT, &[None, Some(43844), Some(1)])],
            outputs: vec![
                t(basic_pitch::CONTOUR, &[None, Some(172), Some(264)]),
                t(basic_pitch::NOTE, &[None, Some(172), Some(88)]),
                t(basic_pitch::ONSET, &[None, Some(172), Some(88)]),
            ],
        }
    }

    fn mismatch(c: Convention, g: &GraphSignature) -> (String, String, String, String) {
        match c.check_graph(Path::new("/p/m.onnx"), g).unwrap_err() {
            InferenceError::ShapeMismatch {
                kind,
                name,
                expected,
                got,
                ..
            } => (kind.to_owned(), name, expected, got),
            other => panic!("expected ShapeMismatch, got {other:?}"),
        }
    }

    #[test]
    fn names_round_trip() {
        for c in Convention::ALL {
            assert_eq!(Convention::from_name(c.name()), Some(c));
        }
        for t in Task::ALL {
            assert_eq!(Task::from_name(t.name()), Some(t));
        }
        assert_eq!(Convention::from_name("MDX"), None);
    }

    #[test]
    fn basic_pitch_graph_matches_in_any_output_order() {
        Convention::BasicPitch
            .check_graph(Path::new("nmp.onnx"), &basic_pitch_graph())
            .unwrap();
    }

    #[test]
    fn wrong_output_width_names_the_output() {
        let mut g = basic_pitch_graph();
        g.outputs[1].dims[2] = Some(87);
        let (kind, name, expected, got) = mismatch(Convention::BasicPitch, &g);
        assert_eq!(kind, "output");
        assert_eq!(name, basic_pitch::NOTE);
        assert_eq!(expected, "f32 [?, 172, 88]");
        assert_eq!(got, "f32 [?, 172, 87]");
    }

    #[test]
    fn missing_input_and_wrong_type_are_mismatches() {
        let mut g = basic_pitch_graph();
        g.inputs[0].name = "audio".into();
        let (kind, name, _, got) = mismatch(Convention::BasicPitch, &g);
        assert_eq!(
            (kind.as_str(), name.as_str()),
            ("input", basic_pitch::INPUT)
        );
        assert!(got.contains("audio"), "{got}");

        let mut g = basic_pitch_graph();
        g.inputs[0].element = ElementType::I64;
        let (_, _, expected, got) = mismatch(Convention::BasicPitch, &g);
        assert_eq!(expected, "f32 [?, 43844, 1]");
        assert_eq!(got, "i64 [?, 43844, 1]");

        let mut g = basic_pitch_graph();
        g.inputs[0].dims.pop();
        assert_eq!(mismatch(Convention::BasicPitch, &g).3, "f32 [?, 43844]");
    }

    #[test]
    fn an_extra_graph_input_is_rejected_but_extra_outputs_are_not() {
        let mut g = basic_pitch_graph();
        g.outputs.push(t("debug", &[Some(1)]));
        Convention::BasicPitch
            .check_graph(Path::new("m"), &g)
            .unwrap();
        g.inputs.push(t("gain", &[Some(1)]));
        let (kind, name, _, _) = mismatch(Convention::BasicPitch, &g);
        assert_eq!((kind.as_str(), name.as_str()), ("input", "gain"));
    }

    #[test]
    fn a_dynamic_graph_dimension_satisfies_a_fixed_one() {
        let g = GraphSignature {
            inputs: vec![t("x", &[None, None])],
            outputs: vec![t("y", &[None, Some(360)])],
        };
        Convention::Crepe.check_graph(Path::new("m"), &g).unwrap();
        let g = GraphSignature {
            inputs: vec![t("x", &[None, Some(512)])],
            outputs: vec![t("y", &[None, Some(360)])],
        };
        assert_eq!(mismatch(Convention::Crepe, &g).1, "x");
    }

    #[test]
    fn contentvec_accepts_either_export() {
        let a = GraphSignature {
            inputs: vec![t("source", &[Some(1), Some(1), None])],
            outputs: vec![t("feats", &[Some(1), None, Some(768)])],
        };
        let b = GraphSignature {
            inputs: vec![t("audio", &[Some(1), None])],
            outputs: vec![t("units", &[Some(1), None, Some(256)])],
        };
        Convention::ContentVec
            .check_graph(Path::new("m"), &a)
            .unwrap();
        Convention::ContentVec
            .check_graph(Path::new("m"), &b)
            .unwrap();
        let c = GraphSignature {
            inputs: vec![t("audio", &[Some(1), None])],
            outputs: vec![t("units", &[Some(1), None, Some(512)])],
        };
        mismatch(Convention::ContentVec, &c);
    }

    #[test]
    fn rvc_checks_integer_inputs_by_name() {
        let i64t = |name: &str, dims: &[Option<u64>]| TensorInfo::new(name, ElementType::I64, dims);
        let mut g = GraphSignature {
            inputs: vec![
                t("phone", &[Some(1), None, Some(768)]),
                i64t("phone_lengths", &[Some(1)]),
                i64t("pitch", &[Some(1), None]),
                t("pitchf", &[Some(1), None]),
                i64t("ds", &[Some(1)]),
                t("rnd", &[Some(1), Some(192), None]),
            ],
            outputs: vec![t("audio", &[Some(1), Some(1), None])],
        };
        Convention::RvcV2.check_graph(Path::new("m"), &g).unwrap();
        g.inputs[4].element = ElementType::F32;
        assert_eq!(mismatch(Convention::RvcV2, &g).1, "ds");
    }
}
