//! The stock candle implementation of a BERT sentence embedder (`candle_transformers`'
//! `BertModel`, padded batches with an attention mask).
//!
//! It is the reference that the native forward pass is checked and benchmarked against, and the
//! path for devices other than the CPU as candle gains them. On the CPU it is slower than
//! [`SentenceEmbedder`](super::SentenceEmbedder).

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};

use super::Embedder;
use super::sentence::{Pooling, SentenceEmbedder};
use crate::error::{Error, Result};

/// A sentence embedder running candle's own `BertModel`.
pub struct CandleEmbedder {
    inner: SentenceEmbedder,
    model: BertModel,
    device: Device,
    batch_size: usize,
}

impl std::fmt::Debug for CandleEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CandleEmbedder")
            .field("model", &self.inner.model_name())
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

impl CandleEmbedder {
    /// Loads model `name` on the CPU; texts are encoded in padded batches of `batch_size`.
    ///
    /// # Errors
    /// As [`SentenceEmbedder::load`].
    pub fn load(name: &str, batch_size: usize) -> Result<Self> {
        Self::load_on(name, batch_size, super::Device::Cpu)
    }

    /// Loads model `name` on `device`.
    ///
    /// # Errors
    /// As [`SentenceEmbedder::load`]; [`Error::InvalidArgument`] for a device this build was
    /// compiled without; [`Error::Model`] when the device cannot be opened.
    pub fn load_on(name: &str, batch_size: usize, device: super::Device) -> Result<Self> {
        Self::load_dir(name, &super::model_dir(name)?, batch_size, device)
    }

    /// Loads the model in folder `dir` (named `name`) on `device`.
    ///
    /// # Errors
    /// As [`CandleEmbedder::load_on`].
    pub fn load_dir(
        name: &str,
        dir: &std::path::Path,
        batch_size: usize,
        device: super::Device,
    ) -> Result<Self> {
        let device = device.open()?;
        let inner = SentenceEmbedder::load_dir(name, dir, super::Precision::Float32)?;
        let dir = inner.dir().to_path_buf();
        let err = |e: candle_core::Error| Error::Model {
            name: name.to_string(),
            message: e.to_string(),
        };
        let config: Config = serde_json::from_str(
            &std::fs::read_to_string(dir.join("config.json")).map_err(|e| Error::Model {
                name: name.to_string(),
                message: e.to_string(),
            })?,
        )
        .map_err(|e| Error::Model {
            name: name.to_string(),
            message: format!("config.json: {e}"),
        })?;
        let vb = mapped_weights(&dir, &device).map_err(err)?;
        let model = BertModel::load(vb.clone(), &config)
            .or_else(|_| BertModel::load(vb.pp("bert"), &config))
            .map_err(err)?;
        Ok(CandleEmbedder {
            inner,
            model,
            device,
            batch_size: batch_size.max(1),
        })
    }

    fn embed_batch(&self, ids: &[Vec<u32>]) -> candle_core::Result<Vec<Vec<f32>>> {
        let len = ids.iter().map(Vec::len).max().unwrap_or(0);
        let mut flat = Vec::with_capacity(ids.len() * len);
        let mut mask = Vec::with_capacity(ids.len() * len);
        for seq in ids {
            flat.extend(
                seq.iter()
                    .copied()
                    .chain(std::iter::repeat_n(0, len - seq.len())),
            );
            mask.extend((0..len).map(|i| u32::from(i < seq.len())));
        }
        let input = Tensor::from_vec(flat, (ids.len(), len), &self.device)?;
        let mask = Tensor::from_vec(mask, (ids.len(), len), &self.device)?;
        let types = input.zeros_like()?;
        let hidden = self.model.forward(&input, &types, Some(&mask))?;
        let hidden = hidden.to_vec3::<f32>()?;
        let dim = self.dimension();
        Ok(hidden
            .into_iter()
            .zip(ids)
            .map(|(rows, seq)| {
                let flat: Vec<f32> = rows.into_iter().take(seq.len()).flatten().collect();
                let mut v = match self.inner.pooling() {
                    Pooling::Cls => flat[..dim].to_vec(),
                    p => p.apply(&flat, seq.len(), dim),
                };
                if self.inner.normalizes() {
                    super::normalize(&mut v);
                }
                v
            })
            .collect())
    }
}

impl Embedder for CandleEmbedder {
    fn model_name(&self) -> &str {
        self.inner.model_name()
    }

    fn dimension(&self) -> usize {
        self.inner.dimension()
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let ids = self.inner.tokenize(texts)?;
        let mut out = Vec::with_capacity(ids.len());
        for batch in ids.chunks(self.batch_size) {
            out.extend(self.embed_batch(batch).map_err(|e| Error::Model {
                name: self.model_name().to_string(),
                message: e.to_string(),
            })?);
        }
        Ok(out)
    }

    fn token_starts(&self, text: &str) -> Result<Vec<usize>> {
        self.inner.token_starts(text)
    }
}

/// The weights of `dir/model.safetensors`, memory-mapped as float32 on `device`.
pub(crate) fn mapped_weights(
    dir: &std::path::Path,
    device: &Device,
) -> candle_core::Result<VarBuilder<'static>> {
    // SAFETY: the file is mapped read-only; semantik never writes model files.
    unsafe {
        VarBuilder::from_mmaped_safetensors(&[dir.join("model.safetensors")], DType::F32, device)
    }
}
