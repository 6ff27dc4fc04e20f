//! ONNX sessions: creation with the engine's options, the per-file cache, the graph's signature,
//! warm-up and a small typed `run`.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use ndarray::ArrayD;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{TensorElementType, TensorRef, ValueType};

use super::error::InferenceError;

/// The element type of a graph input or output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElementType {
    /// 32-bit float.
    F32,
    /// 16-bit float.
    F16,
    /// 64-bit signed integer.
    I64,
    /// 32-bit signed integer.
    I32,
    /// Anything else (named as ONNX Runtime names it), or a non-tensor value.
    Other(String),
}

impl fmt::Display for ElementType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::F32 => f.write_str("f32"),
            Self::F16 => f.write_str("f16"),
            Self::I64 => f.write_str("i64"),
            Self::I32 => f.write_str("i32"),
            Self::Other(s) => f.write_str(s),
        }
    }
}

/// One graph input or output as the graph declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// The name to feed or fetch it by.
    pub name: String,
    /// Its element type.
    pub element: ElementType,
    /// Its shape; `None` for a dynamic dimension.
    pub dims: Vec<Option<u64>>,
}

impl TensorInfo {
    /// A tensor description (mostly for tests and conventions).
    pub fn new(name: &str, element: ElementType, dims: &[Option<u64>]) -> Self {
        Self {
            name: name.to_owned(),
            element,
            dims: dims.to_vec(),
        }
    }

    fn from_outlet(outlet: &ort::value::Outlet) -> Self {
        let (element, dims) = match outlet.dtype() {
            ValueType::Tensor { ty, shape, .. } => (
                element_type(*ty),
                shape
                    .iter()
                    .map(|&d| u64::try_from(d).ok())
                    .collect::<Vec<_>>(),
            ),
            other => (ElementType::Other(format!("{other:?}")), Vec::new()),
        };
        Self {
            name: outlet.name().to_owned(),
            element,
            dims,
        }
    }
}

impl fmt::Display for TensorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` {} {}",
            self.name,
            self.element,
            format_dims(&self.dims)
        )
    }
}

/// Formats a shape as `[?, 43844, 1]` (`?` = dynamic).
pub fn format_dims(dims: &[Option<u64>]) -> String {
    let parts: Vec<String> = dims
        .iter()
        .map(|d| d.map_or_else(|| "?".to_owned(), |d| d.to_string()))
        .collect();
    format!("[{}]", parts.join(", "))
}

fn element_type(ty: TensorElementType) -> ElementType {
    match ty {
        TensorElementType::Float32 => ElementType::F32,
        TensorElementType::Float16 => ElementType::F16,
        TensorElementType::Int64 => ElementType::I64,
        TensorElementType::Int32 => ElementType::I32,
        other => ElementType::Other(format!("{other:?}")),
    }
}

/// The inputs and outputs of a graph, read from the session at load time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GraphSignature {
    /// Graph inputs, in graph order.
    pub inputs: Vec<TensorInfo>,
    /// Graph outputs, in graph order (which need not be the conventional order: fetch by name).
    pub outputs: Vec<TensorInfo>,
}

impl GraphSignature {
    /// The input called `name`.
    pub fn input(&self, name: &str) -> Option<&TensorInfo> {
        self.inputs.iter().find(|t| t.name == name)
    }

    /// The output called `name`.
    pub fn output(&self, name: &str) -> Option<&TensorInfo> {
        self.outputs.iter().find(|t| t.name == name)
    }
}

/// One input tensor for [`ModelSession::run`], borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub enum InputTensor<'a> {
    /// 32-bit floats in row-major order.
    F32 {
        /// The tensor's shape.
        shape: &'a [usize],
        /// Its data; the length must equal the product of `shape`.
        data: &'a [f32],
    },
    /// 64-bit integers in row-major order.
    I64 {
        /// The tensor's shape.
        shape: &'a [usize],
        /// Its data; the length must equal the product of `shape`.
        data: &'a [i64],
    },
}

/// The `f32` outputs of one run, owned and fetched by name.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    values: Vec<(String, ArrayD<f32>)>,
}

impl Outputs {
    /// The output called `name`.
    pub fn get(&self, name: &str) -> Option<&ArrayD<f32>> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The output called `name`, or a typed error naming the model and the output.
    pub fn require(&self, model: &Path, name: &str) -> Result<&ArrayD<f32>, InferenceError> {
        self.get(name).ok_or_else(|| {
            InferenceError::run(model, format!("the graph produced no output `{name}`"))
        })
    }

    /// Output names in graph order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.iter().map(|(n, _)| n.as_str())
    }
}

/// A loaded graph: an `ort` session behind a mutex (running needs exclusive access) plus its
/// signature. Shared through `Arc` by the session cache; run it from worker threads only.
pub struct ModelSession {
    path: PathBuf,
    signature: GraphSignature,
    session: Mutex<Session>,
    created_in: Duration,
    warmed: OnceLock<Result<Duration, InferenceError>>,
}

impl fmt::Debug for ModelSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelSession")
            .field("path", &self.path)
            .field("signature", &self.signature)
            .field("created_in", &self.created_in)
            .finish_non_exhaustive()
    }
}

impl ModelSession {
    /// Creates a session for `path`: full graph optimisation (level 3), one intra-op thread
    /// (the engine parallelises across jobs, not inside a graph), sequential execution.
    ///
    /// Slow (100 ms or more) and allocating: never on the audio thread.
    pub fn create(
        environment: &ort::environment::Environment,
        path: &Path,
    ) -> Result<Self, InferenceError> {
        if !path.is_file() {
            return Err(InferenceError::ModelFile {
                path: path.to_path_buf(),
                reason: "no such file".to_owned(),
            });
        }
        let model_error = |stage: &str, e: &dyn fmt::Display| InferenceError::ModelFile {
            path: path.to_path_buf(),
            reason: format!("{stage}: {e}"),
        };
        let started = Instant::now();
        let session = Session::builder(environment)
            .map_err(|e| model_error("creating session options", &e))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| model_error("setting the optimisation level", &e))?
            .with_intra_threads(1)
            .map_err(|e| model_error("setting one intra-op thread", &e))?
            .with_inter_threads(1)
            .map_err(|e| model_error("setting one inter-op thread", &e))?
            .commit_from_file(path)
            .map_err(|e| {
                model_error(
                    "not a valid ONNX model, or one this ONNX Runtime cannot run",
                    &e,
                )
            })?;
        let created_in = started.elapsed();
        let signature = GraphSignature {
            inputs: session
                .inputs()
                .iter()
                .map(TensorInfo::from_outlet)
                .collect(),
            outputs: session
                .outputs()
                .iter()
                .map(TensorInfo::from_outlet)
                .collect(),
        };
        Ok(Self {
            path: path.to_path_buf(),
            signature,
            session: Mutex::new(session),
            created_in,
            warmed: OnceLock::new(),
        })
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The graph's inputs and outputs.
    pub fn signature(&self) -> &GraphSignature {
        &self.signature
    }

    /// How long creating the session took.
    pub fn created_in(&self) -> Duration {
        self.created_in
    }

    /// Exclusive access to the `ort` session, for inputs [`run`](Self::run) does not cover.
    pub fn lock(&self) -> MutexGuard<'_, Session> {
        // A panic while running leaves the session itself intact.
        self.session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs the graph once on zeros so the first real run is not slow (ONNX Runtime allocates
    /// and prepares kernels on the first run). Dynamic dimensions are 1. Runs once per session;
    /// later calls return the first outcome. Returns how long the run took.
    pub fn warm_up(&self) -> Result<Duration, InferenceError> {
        self.warm_up_with(|_, _| 1)
    }

    /// Like [`warm_up`](Self::warm_up), with `dynamic(input index, dimension index)` choosing the
    /// size of each dynamic dimension (e.g. a time axis that must be longer than a kernel).
    pub fn warm_up_with(
        &self,
        dynamic: impl Fn(usize, usize) -> usize,
    ) -> Result<Duration, InferenceError> {
        self.warmed
            .get_or_init(|| {
                let mut f32_bufs = Vec::new();
                let mut i64_bufs = Vec::new();
                let mut shapes = Vec::new();
                for (i, input) in self.signature.inputs.iter().enumerate() {
                    let shape: Vec<usize> = input
                        .dims
                        .iter()
                        .enumerate()
                        .map(|(d, dim)| dim.map_or_else(|| dynamic(i, d), |n| n as usize))
                        .collect();
                    let len = shape.iter().product::<usize>();
                    match input.element {
                        ElementType::F32 => f32_bufs.push((i, vec![0.0f32; len])),
                        ElementType::I64 => i64_bufs.push((i, vec![0i64; len])),
                        ref other => {
                            return Err(InferenceError::run(
                                &self.path,
                                format!(
                                    "warm-up cannot build a zero tensor of type {other} for input `{}`",
                                    input.name
                                ),
                            ));
                        }
                    }
                    shapes.push(shape);
                }
                let mut inputs = Vec::new();
                for (i, data) in &f32_bufs {
                    inputs.push((
                        self.signature.inputs[*i].name.as_str(),
                        InputTensor::F32 {
                            shape: &shapes[*i],
                            data,
                        },
                    ));
                }
                for (i, data) in &i64_bufs {
                    inputs.push((
                        self.signature.inputs[*i].name.as_str(),
                        InputTensor::I64 {
                            shape: &shapes[*i],
                            data,
                        },
                    ));
                }
                let started = Instant::now();
                self.run(&inputs)?;
                Ok(started.elapsed())
            })
            .clone()
    }

    /// Runs the graph on named inputs and returns every output, which must all be `f32`.
    pub fn run(&self, inputs: &[(&str, InputTensor<'_>)]) -> Result<Outputs, InferenceError> {
        let mut values: Vec<(String, ort::session::SessionInputValue<'_>)> = Vec::new();
        for (name, tensor) in inputs {
            let value = match *tensor {
                InputTensor::F32 { shape, data } => {
                    TensorRef::from_array_view((shape, data)).map(Into::into)
                }
                InputTensor::I64 { shape, data } => {
                    TensorRef::from_array_view((shape, data)).map(Into::into)
                }
            }
            .map_err(|e| InferenceError::run(&self.path, format!("input `{name}`: {e}")))?;
            values.push(((*name).to_owned(), value));
        }
        let mut session = self.lock();
        let outputs = session
            .run(values)
            .map_err(|e| InferenceError::run(&self.path, e))?;
        let mut result = Outputs::default();
        for (name, value) in outputs.iter() {
            let array = value.try_extract_array::<f32>().map_err(|e| {
                InferenceError::run(&self.path, format!("output `{name}` is not f32: {e}"))
            })?;
            result.values.push((name.to_owned(), array.to_owned()));
        }
        Ok(result)
    }

    /// Shortcut for a graph with one `f32` input.
    pub fn run_f32(
        &self,
        input: &str,
        shape: &[usize],
        data: &[f32],
    ) -> Result<Outputs, InferenceError> {
        self.run(&[(input, InputTensor::F32 { shape, data })])
    }
}

/// Identifies one version of a file on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
}

impl FileStamp {
    fn of(path: &Path) -> Result<Self, InferenceError> {
        let meta = std::fs::metadata(path).map_err(|e| InferenceError::ModelFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

type Slot = Arc<Mutex<Option<(FileStamp, Arc<ModelSession>)>>>;

/// Sessions by canonical model path. Creating one session does not block lookups or the
/// creation of sessions for other files.
#[derive(Default)]
pub(crate) struct SessionCache {
    slots: Mutex<HashMap<PathBuf, Slot>>,
}

impl SessionCache {
    pub(crate) fn get_or_create(
        &self,
        environment: &ort::environment::Environment,
        model: &Path,
    ) -> Result<Arc<ModelSession>, InferenceError> {
        let key = std::fs::canonicalize(model).map_err(|e| InferenceError::ModelFile {
            path: model.to_path_buf(),
            reason: e.to_string(),
        })?;
        let slot = {
            let mut slots = self
                .slots
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(slots.entry(key.clone()).or_default())
        };
        let mut slot = slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let stamp = FileStamp::of(&key)?;
        if let Some((cached_stamp, session)) = slot.as_ref()
            && *cached_stamp == stamp
        {
            return Ok(Arc::clone(session));
        }
        // Errors are not cached: a fixed file is picked up on the next call.
        let session = Arc::new(ModelSession::create(environment, &key)?);
        *slot = Some((stamp, Arc::clone(&session)));
        Ok(session)
    }

    pub(crate) fn clear(&self) {
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dims_format_with_question_marks() {
        assert_eq!(format_dims(&[None, Some(43844), Some(1)]), "[?, 43844, 1]");
        let t = TensorInfo::new("x", ElementType::F32, &[Some(2)]);
        assert_eq!(t.to_string(), "`x` f32 [2]");
    }

    #[test]
    fn outputs_require_names_the_missing_output() {
        let outputs = Outputs::default();
        let err = outputs.require(Path::new("/m.onnx"), "note").unwrap_err();
        assert!(err.to_string().contains("`note`"), "{err}");
    }
}
