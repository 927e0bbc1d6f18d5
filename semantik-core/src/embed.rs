//! Embedding: the [`Embedder`] trait, model names and their resolution.
//!
//! A collection names its model ([`ModelSpec`]: name, revision, precision). [`resolve`] turns
//! it into an embedder, finding the model's files with [`locate_model`] (a folder, semantik's
//! cache, the Hugging Face cache, or a download from the Hub). Collections that bring their
//! own vectors use [`EXTERNAL_MODEL`] and never embed.

mod candle;
#[cfg(any(test, feature = "testing"))]
mod hash;
mod hub;
mod kernels;
pub(crate) mod linear;
mod locate;
mod quant;
mod sentence;
pub(crate) mod transformer;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use candle::CandleEmbedder;
pub(crate) use candle::mapped_weights;
#[cfg(any(test, feature = "testing"))]
pub use hash::HashEmbedder;
pub use hub::{DownloadProgress, HubConfig};
pub use locate::{ModelLocation, cache_dir, locate_model, model_dir};
pub use sentence::{EmbedStream, Pooling, SentenceEmbedder};

/// The model name of collections whose callers supply their own vectors.
pub const EXTERNAL_MODEL: &str = "external";

/// The default model of new collections.
pub const DEFAULT_MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// Where models run.
///
/// The CPU uses semantik's own forward pass. GPUs run candle's `BertModel` and need the cargo
/// feature of their backend (`cuda` or `metal`); asking for one that is not compiled in is an
/// [`Error::InvalidArgument`].
///
/// ```
/// use semantik_core::embed::Device;
/// assert!(Device::Cpu.open().is_ok());
/// # #[cfg(not(feature = "cuda"))]
/// assert_eq!(Device::Cuda(0).open().unwrap_err().code(), semantik_core::ErrorCode::InvalidArgument);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Device {
    /// The CPU (default).
    #[default]
    Cpu,
    /// An NVIDIA GPU by ordinal (feature `cuda`).
    Cuda(usize),
    /// An Apple GPU by ordinal (feature `metal`).
    Metal(usize),
}

impl Device {
    /// Opens the candle device.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the backend is not compiled in; [`Error::Model`] when the
    /// device cannot be opened.
    pub fn open(self) -> Result<candle_core::Device> {
        #[cfg(any(feature = "cuda", feature = "metal"))]
        let open_err = |e: candle_core::Error| Error::Model {
            name: format!("{self:?}"),
            message: format!("cannot open device: {e}"),
        };
        #[cfg(not(all(feature = "cuda", feature = "metal")))]
        let not_built = |feature: &str| {
            Err(Error::invalid(format!(
                "device {self:?} requested, but semantik was built without the `{feature}` feature"
            )))
        };
        match self {
            Device::Cpu => Ok(candle_core::Device::Cpu),
            #[cfg(feature = "cuda")]
            Device::Cuda(i) => candle_core::Device::new_cuda(i).map_err(open_err),
            #[cfg(not(feature = "cuda"))]
            Device::Cuda(_) => not_built("cuda"),
            #[cfg(feature = "metal")]
            Device::Metal(i) => candle_core::Device::new_metal(i).map_err(open_err),
            #[cfg(not(feature = "metal"))]
            Device::Metal(_) => not_built("metal"),
        }
    }
}

/// The numeric precision a model's weights and products run at.
///
/// `Float16` halves the memory of the weights (products still accumulate in f32); `Int8`
/// quantizes the weights of the linear layers per output channel and each product's input
/// per row, with 32-bit accumulation, and quarters their memory.
///
/// ```
/// use semantik_core::embed::Precision;
/// assert_eq!("int8".parse::<Precision>().unwrap(), Precision::Int8);
/// assert_eq!(Precision::default().to_string(), "float32");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Precision {
    /// 32-bit floats (the default).
    #[default]
    Float32,
    /// 16-bit float weights.
    Float16,
    /// 8-bit integer weights and inputs of the linear layers.
    Int8,
}

impl Precision {
    /// Its name: `float32`, `float16` or `int8`.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Float32 => "float32",
            Precision::Float16 => "float16",
            Precision::Int8 => "int8",
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Precision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "float32" | "f32" | "fp32" => Ok(Precision::Float32),
            "float16" | "f16" | "fp16" => Ok(Precision::Float16),
            "int8" | "i8" => Ok(Precision::Int8),
            _ => Err(Error::invalid(format!(
                "unknown precision {s:?}: expected float32, float16 or int8"
            ))),
        }
    }
}

/// A model as a collection names it: its name (a Hub id or a folder), the revision pinned
/// (a commit, tag or branch; a collection records the commit it resolved to) and the
/// precision it runs at.
///
/// ```
/// use semantik_core::embed::{ModelSpec, Precision};
/// let spec = ModelSpec::new("intfloat/multilingual-e5-small").with_precision(Precision::Int8);
/// assert_eq!(spec.revision, None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelSpec {
    /// The model name or folder.
    pub name: String,
    /// The revision: `None` for what is installed, else `main`.
    pub revision: Option<String>,
    /// The precision.
    pub precision: Precision,
}

impl ModelSpec {
    /// The model `name`, any revision, float32.
    pub fn new(name: impl Into<String>) -> Self {
        ModelSpec {
            name: name.into(),
            revision: None,
            precision: Precision::Float32,
        }
    }

    /// Pins a revision.
    pub fn with_revision(mut self, revision: Option<String>) -> Self {
        self.revision = revision;
        self
    }

    /// Sets the precision.
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }
}

/// Turns texts into vectors of a fixed dimension.
///
/// Implementations are shared between threads; `embed` may be called concurrently.
pub trait Embedder: Send + Sync + fmt::Debug {
    /// The model name this embedder implements.
    fn model_name(&self) -> &str;

    /// The length of every vector this embedder returns.
    fn dimension(&self) -> usize;

    /// Embeds `texts`, returning one vector per text, in input order.
    ///
    /// # Errors
    /// [`Error::Model`] when the model fails.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;

    /// Embeds a search query. Models trained with an instruction for queries (e5's
    /// `query: `, bge's or Qwen3-Embedding's instructions) add it here, and their passage
    /// instruction in [`Embedder::embed`]; the default embeds the text as a passage.
    ///
    /// # Errors
    /// [`Error::Model`] when the model fails.
    fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        self.embed(&[text])?
            .pop()
            .ok_or_else(|| Error::internal("embedder returned no vector"))
    }

    /// Byte offsets where the tokens of `text` start, as this model counts them (without
    /// special tokens and without truncation): what token-based chunking measures. The default
    /// counts whitespace-separated words, for models without a tokenizer.
    ///
    /// # Errors
    /// [`Error::Model`] when the tokenizer fails.
    fn token_starts(&self, text: &str) -> Result<Vec<usize>> {
        Ok(crate::chunk::word_starts(text))
    }
}

/// Loads the embedder of `spec` on `device`, finding its files as [`locate_model`] does with
/// `hub` (downloading them if needed); returns it with the location it was loaded from.
///
/// # Errors
/// As [`locate_model`]; [`Error::Model`] when the files cannot be loaded;
/// [`Error::InvalidState`] for [`EXTERNAL_MODEL`], which never embeds; as [`Device::open`]
/// for a GPU.
pub fn resolve(
    spec: &ModelSpec,
    device: Device,
    hub: &HubConfig,
) -> Result<(Arc<dyn Embedder>, Option<ModelLocation>)> {
    if spec.name == EXTERNAL_MODEL {
        return Err(Error::InvalidState {
            message: "this collection stores external vectors: pass vectors, not texts".into(),
        });
    }
    #[cfg(any(test, feature = "testing"))]
    if let Some(dim) = HashEmbedder::parse_name(&spec.name) {
        return Ok((Arc::new(HashEmbedder::new(dim)), None));
    }
    let location = locate_model(&spec.name, spec.revision.as_deref(), hub, &mut |_| {})?;
    let embedder: Arc<dyn Embedder> = match device {
        Device::Cpu => Arc::new(SentenceEmbedder::load_dir(
            &spec.name,
            &location.dir,
            spec.precision,
        )?),
        gpu => {
            if spec.precision != Precision::Float32 {
                return Err(Error::invalid(format!(
                    "precision {} runs on the CPU only",
                    spec.precision
                )));
            }
            Arc::new(CandleEmbedder::load_dir(
                &spec.name,
                &location.dir,
                32,
                gpu,
            )?)
        }
    };
    Ok((embedder, Some(location)))
}

/// The Euclidean length of `v`.
pub(crate) fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

/// Scales `v` to unit length (leaves a zero vector as it is).
pub(crate) fn normalize(v: &mut [f32]) {
    let norm = norm(v);
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}
