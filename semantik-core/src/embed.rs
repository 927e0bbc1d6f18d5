//! Embedding: the [`Embedder`] trait, model names and their resolution.
//!
//! A collection names its model. [`resolve`] turns the name into an embedder; [`model_dimension`]
//! tells a model's dimension without loading it when it is known. Collections that bring their own
//! vectors use [`EXTERNAL_MODEL`] and never embed.

mod bert;
mod candle;
#[cfg(any(test, feature = "testing"))]
mod hash;
mod kernels;
mod locate;
mod sentence;

use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};

pub use candle::CandleEmbedder;
#[cfg(any(test, feature = "testing"))]
pub use hash::HashEmbedder;
pub use locate::{cache_dir, model_dir};
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

/// The dimension of a model, when semantik knows it without loading the weights: for known
/// names, and for models whose folder is found (read from its `config.json`).
///
/// ```
/// assert_eq!(semantik_core::embed::model_dimension("sentence-transformers/all-MiniLM-L6-v2"), Some(384));
/// assert_eq!(semantik_core::embed::model_dimension("unknown/model"), None);
/// ```
pub fn model_dimension(model: &str) -> Option<usize> {
    match model {
        "sentence-transformers/all-MiniLM-L6-v2" | "all-MiniLM-L6-v2" => Some(384),
        #[cfg(any(test, feature = "testing"))]
        m if HashEmbedder::parse_name(m).is_some() => HashEmbedder::parse_name(m),
        _ => {
            let dir = model_dir(model).ok()?;
            let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
            let v: serde_json::Value = serde_json::from_str(&text).ok()?;
            v["hidden_size"].as_u64().map(|d| d as usize)
        }
    }
}

/// Loads the embedder for `model`, running on `device`.
///
/// # Errors
/// [`Error::ModelNotFound`] when no embedder for the model is available in this build or on
/// this machine; [`Error::InvalidState`] for [`EXTERNAL_MODEL`], which never embeds; as
/// [`Device::open`] for a GPU.
pub fn resolve(model: &str, device: Device) -> Result<Arc<dyn Embedder>> {
    if model == EXTERNAL_MODEL {
        return Err(Error::InvalidState {
            message: "this collection stores external vectors: pass vectors, not texts".into(),
        });
    }
    #[cfg(any(test, feature = "testing"))]
    if let Some(dim) = HashEmbedder::parse_name(model) {
        return Ok(Arc::new(HashEmbedder::new(dim)));
    }
    Ok(match device {
        Device::Cpu => Arc::new(SentenceEmbedder::load(model)?),
        gpu => Arc::new(CandleEmbedder::load_on(model, 32, gpu)?),
    })
}

/// Scales `v` to unit length (leaves a zero vector as it is).
pub(crate) fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}
