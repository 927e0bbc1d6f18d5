//! Cross-encoders: `[CLS] query [SEP] passage [SEP]` (`<s> query </s></s> passage </s>` for
//! RoBERTa) through an encoder, then the classification head on the first token
//! (`out(tanh(dense(hidden[0])))`: BERT's pooler and classifier, RoBERTa's classifier).
//!
//! The model folder is a Hugging Face sequence-classification checkpoint: `config.json`,
//! `model.safetensors` and `tokenizer.json`. BERT checkpoints name the head `bert.pooler.dense`
//! and `classifier` (the `bert.` prefix may be absent), XLM-RoBERTa ones (bge-reranker-base,
//! bge-reranker-v2-m3) `classifier.dense` and `classifier.out_proj`. Pairs are tokenized with
//! the tokenizer's own post-processor (which sets BERT's token type ids of the passage to 1),
//! truncated passage first. On the CPU each pair runs through semantik's own forward pass,
//! pairs spread over cores; on a GPU (BERT only) candle's `BertModel` runs padded batches.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{IndexOp, Module, Tensor};
use candle_transformers::models::bert::{BertModel, Config};
use rayon::prelude::*;
use serde::Deserialize;
use tokenizers::{
    EncodeInput, Encoding, Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy,
};

use super::Reranker;
use crate::embed::linear::Linear;
use crate::embed::transformer::{Arch, Family, Transformer};
use crate::embed::{Device, Precision, model_dir};
use crate::error::{Error, Result};

/// Longest input, in tokens, whatever the checkpoint's position table allows (BERT's limit, and
/// what sentence-transformers' cross-encoders use).
const MAX_TOKENS: usize = 512;

/// Default number of pairs per forward pass on a GPU.
const DEFAULT_BATCH_SIZE: usize = 16;

/// The `config.json` fields of the classification head.
#[derive(Debug, Deserialize)]
struct HeadConfig {
    #[serde(default)]
    num_labels: Option<usize>,
    #[serde(default)]
    id2label: Option<HashMap<String, serde_json::Value>>,
}

/// A sequence-classification cross-encoder that scores (query, passage) pairs.
///
/// Supported are BERT checkpoints (`model_type` `"bert"`), such as
/// `cross-encoder/ms-marco-MiniLM-L-6-v2`, and XLM-RoBERTa ones (`"xlm-roberta"`), such as
/// `BAAI/bge-reranker-base` and `BAAI/bge-reranker-v2-m3`, with one output label or two (not
/// relevant, relevant). On a GPU only BERT checkpoints run.
///
/// The score is the raw logit, without an activation: sentence-transformers applies a sigmoid
/// to one-label models by default, which maps to (0, 1) but leaves the order unchanged. A
/// two-label model scores `logit[1] - logit[0]`, the log-odds of the second label (its softmax
/// probability has the same order). Inputs longer than `min(max_position_embeddings, 512)`
/// tokens are truncated, the passage first; only a query that alone is too long is cut as
/// well.
///
/// ```no_run
/// use semantik_core::rerank::{CrossEncoder, Reranker};
///
/// let reranker = CrossEncoder::load("cross-encoder/ms-marco-MiniLM-L-6-v2")?.with_batch_size(8);
/// let scores = reranker.score(
///     "how do I read a file?",
///     &["std::fs::read_to_string reads a whole file", "sled is an embedded database"],
/// )?;
/// assert_eq!(scores.len(), 2);
/// assert!(scores[0] > scores[1]);
/// # Ok::<(), semantik_core::Error>(())
/// ```
pub struct CrossEncoder {
    name: String,
    /// Truncates the passage only.
    tokenizer: Tokenizer,
    /// Truncates the longer of query and passage, for queries too long on their own.
    fallback: Tokenizer,
    num_labels: usize,
    max_length: usize,
    vocab_size: usize,
    type_vocab_size: usize,
    batch_size: usize,
    backend: Backend,
}

/// What runs the pairs.
enum Backend {
    /// semantik's forward pass on the CPU, one pair at a time, and the head.
    Native {
        model: Box<Transformer>,
        dense: Linear,
        out: Linear,
    },
    /// candle's `BertModel` in padded batches (GPUs).
    Candle {
        model: BertModel,
        pooler: candle_nn::Linear,
        classifier: candle_nn::Linear,
        device: candle_core::Device,
        pad_id: u32,
    },
}

impl std::fmt::Debug for CrossEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrossEncoder")
            .field("name", &self.name)
            .field("num_labels", &self.num_labels)
            .field("max_length", &self.max_length)
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

impl CrossEncoder {
    /// Loads the cross-encoder `name` (a folder, or a Hub id found or fetched as
    /// [`model_dir`](crate::embed::model_dir) does) on the CPU.
    ///
    /// # Errors
    /// [`Error::ModelNotFound`] when no directory holds it; [`Error::Model`] when
    /// `model.safetensors` or `tokenizer.json` is missing or malformed, a tensor is missing,
    /// the architecture is neither BERT nor XLM-RoBERTa, or the model has more than two labels.
    ///
    /// ```no_run
    /// let reranker = semantik_core::rerank::CrossEncoder::load("cross-encoder/ms-marco-TinyBERT-L-2-v2")?;
    /// assert_eq!(reranker.name(), "cross-encoder/ms-marco-TinyBERT-L-2-v2");
    /// # Ok::<(), semantik_core::Error>(())
    /// ```
    pub fn load(name: &str) -> Result<Self> {
        Self::load_on(name, Device::Cpu)
    }

    /// Loads the cross-encoder `name` on `device`.
    ///
    /// # Errors
    /// As [`CrossEncoder::load`]; as [`Device::open`] for a GPU; [`Error::Model`] for a
    /// checkpoint other than BERT on a GPU.
    ///
    /// ```no_run
    /// use semantik_core::{embed::Device, rerank::CrossEncoder};
    /// let reranker = CrossEncoder::load_on("cross-encoder/ms-marco-MiniLM-L-6-v2", Device::Cpu)?;
    /// # Ok::<(), semantik_core::Error>(())
    /// ```
    pub fn load_on(name: &str, device: Device) -> Result<Self> {
        let dir = model_dir(name)?;
        Self::load_dir(name, &dir, device)
    }

    /// Loads the cross-encoder in folder `dir` (called `name`) on `device`.
    ///
    /// # Errors
    /// As [`CrossEncoder::load_on`].
    pub fn load_dir(name: &str, dir: &Path, device: Device) -> Result<Self> {
        let model_err = |message: String| Error::Model {
            name: name.to_string(),
            message,
        };
        let read = |file: &str| {
            std::fs::read_to_string(dir.join(file)).map_err(|e| model_err(format!("{file}: {e}")))
        };
        let text = read("config.json")?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| model_err(format!("config.json: {e}")))?;
        let head: HeadConfig = serde_json::from_value(value.clone())
            .map_err(|e| model_err(format!("config.json: {e}")))?;
        let num_labels = head
            .num_labels
            .or(head.id2label.map(|m| m.len()))
            .unwrap_or(1);
        if !(1..=2).contains(&num_labels) {
            return Err(model_err(format!(
                "the model has {num_labels} labels; a relevance cross-encoder has one or two"
            )));
        }
        for file in ["model.safetensors", "tokenizer.json"] {
            if !dir.join(file).is_file() {
                return Err(model_err(format!(
                    "{file} is missing in {}{}",
                    dir.display(),
                    if file == "model.safetensors" {
                        " (only safetensors weights are supported)"
                    } else {
                        ""
                    }
                )));
            }
        }
        let arch = Arch::from_config(name, &value)?;
        if !matches!(arch.family, Family::Bert | Family::Roberta) {
            return Err(model_err(format!(
                "model type {:?} is not supported; cross-encoders must be BERT or XLM-RoBERTa                  checkpoints",
                value["model_type"].as_str().unwrap_or("")
            )));
        }
        let (backend, max_positions, vocab_size, type_vocab_size) = match device {
            Device::Cpu => {
                let h = arch.hidden;
                let (model, w, prefix) =
                    Transformer::load_with_weights(name, dir, arch, Precision::Float32)?;
                let (dense, out) = match model.arch.family {
                    Family::Roberta => (
                        w.dense("classifier.dense", h, h, true)?,
                        w.dense("classifier.out_proj", h, num_labels, true)?,
                    ),
                    _ => (
                        w.dense(&format!("{prefix}pooler.dense"), h, h, true)?,
                        w.dense("classifier", h, num_labels, true)?,
                    ),
                };
                let sizes = (
                    model.max_positions(),
                    model.vocab_size(),
                    model.token_types(),
                );
                (
                    Backend::Native {
                        model: Box::new(model),
                        dense,
                        out,
                    },
                    sizes.0,
                    sizes.1,
                    sizes.2,
                )
            }
            gpu => {
                if arch.family != Family::Bert {
                    return Err(model_err(
                        "on a GPU, cross-encoders must be BERT checkpoints".into(),
                    ));
                }
                let config: Config = serde_json::from_str(&text)
                    .map_err(|e| model_err(format!("config.json: {e}")))?;
                let device = gpu.open()?;
                let candle_err = |e: candle_core::Error| model_err(e.to_string());
                let vb = crate::embed::mapped_weights(dir, &device).map_err(candle_err)?;
                let encoder_vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
                    vb.pp("bert")
                } else {
                    vb.clone()
                };
                let model = BertModel::load(encoder_vb.clone(), &config).map_err(candle_err)?;
                let h = config.hidden_size;
                let pooler = candle_nn::linear(h, h, encoder_vb.pp("pooler").pp("dense"))
                    .map_err(candle_err)?;
                let classifier =
                    candle_nn::linear(h, num_labels, vb.pp("classifier")).map_err(candle_err)?;
                (
                    Backend::Candle {
                        model,
                        pooler,
                        classifier,
                        device,
                        pad_id: config.pad_token_id as u32,
                    },
                    config.max_position_embeddings,
                    config.vocab_size,
                    config.type_vocab_size,
                )
            }
        };

        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| model_err(format!("tokenizer.json: {e}")))?;
        if tokenizer.get_post_processor().is_none() {
            return Err(model_err(
                "tokenizer.json has no post-processor, so pairs would lack their special tokens \
                 and token types"
                    .into(),
            ));
        }
        let max_length = max_positions.min(MAX_TOKENS);
        let truncation = |strategy| TruncationParams {
            max_length,
            strategy,
            stride: 0,
            direction: TruncationDirection::Right,
        };
        tokenizer.with_padding(None);
        let mut fallback = tokenizer.clone();
        tokenizer
            .with_truncation(Some(truncation(TruncationStrategy::OnlySecond)))
            .map_err(|e| model_err(format!("tokenizer truncation: {e}")))?;
        fallback
            .with_truncation(Some(truncation(TruncationStrategy::LongestFirst)))
            .map_err(|e| model_err(format!("tokenizer truncation: {e}")))?;
        Ok(CrossEncoder {
            name: name.to_string(),
            tokenizer,
            fallback,
            num_labels,
            max_length,
            vocab_size,
            type_vocab_size,
            batch_size: DEFAULT_BATCH_SIZE,
            backend,
        })
    }

    /// Runs at most `n` pairs per forward pass on a GPU (default 16; 0 counts as 1); on the
    /// CPU pairs run one at a time. Scores do not depend on it beyond rounding.
    ///
    /// ```no_run
    /// let reranker = semantik_core::rerank::CrossEncoder::load("cross-encoder/ms-marco-MiniLM-L-6-v2")?
    ///     .with_batch_size(32);
    /// # Ok::<(), semantik_core::Error>(())
    /// ```
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// The model name or path it was loaded as.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn err(&self, message: String) -> Error {
        Error::Model {
            name: self.name.clone(),
            message,
        }
    }

    /// Tokenizes each (query, passage) pair, checking ids against the model's tables.
    fn encode(&self, query: &str, passages: &[&str]) -> Result<Vec<Encoding>> {
        let pairs: Vec<EncodeInput<'_>> = passages.iter().map(|&p| (query, p).into()).collect();
        let encodings = match self.tokenizer.encode_batch(pairs, true) {
            Ok(e) => e,
            // A query too long to leave room for any passage: cut both, pair by pair.
            Err(_) => passages
                .iter()
                .map(|&p| {
                    self.tokenizer
                        .encode((query, p), true)
                        .or_else(|_| self.fallback.encode((query, p), true))
                })
                .collect::<tokenizers::Result<Vec<_>>>()
                .map_err(|e| self.err(format!("tokenization failed: {e}")))?,
        };
        for e in &encodings {
            if let Some(id) = e
                .get_ids()
                .iter()
                .find(|&&id| id as usize >= self.vocab_size)
            {
                return Err(self.err(format!(
                    "token id {id} is outside the vocabulary of {}",
                    self.vocab_size
                )));
            }
            if let Some(t) = e
                .get_type_ids()
                .iter()
                .find(|&&t| t as usize >= self.type_vocab_size)
            {
                return Err(self.err(format!(
                    "token type {t} is outside the {} token types",
                    self.type_vocab_size
                )));
            }
        }
        Ok(encodings)
    }
}

/// The logits of one padded batch on candle, one row of `num_labels` per pair.
fn candle_logits(
    model: &BertModel,
    pooler: &candle_nn::Linear,
    classifier: &candle_nn::Linear,
    device: &candle_core::Device,
    pad_id: u32,
    batch: &[&Encoding],
) -> candle_core::Result<Vec<Vec<f32>>> {
    let len = batch.iter().map(|e| e.len()).max().unwrap_or(0);
    let mut ids = Vec::with_capacity(batch.len() * len);
    let mut types = Vec::with_capacity(batch.len() * len);
    let mut mask = Vec::with_capacity(batch.len() * len);
    for e in batch {
        let pad = len - e.len();
        ids.extend(
            e.get_ids()
                .iter()
                .copied()
                .chain(std::iter::repeat_n(pad_id, pad)),
        );
        types.extend(
            e.get_type_ids()
                .iter()
                .copied()
                .chain(std::iter::repeat_n(0, pad)),
        );
        mask.extend((0..len).map(|i| u32::from(i < e.len())));
    }
    let shape = (batch.len(), len);
    let ids = Tensor::from_vec(ids, shape, device)?;
    let types = Tensor::from_vec(types, shape, device)?;
    let mask = Tensor::from_vec(mask, shape, device)?;
    let hidden = model.forward(&ids, &types, Some(&mask))?;
    let cls = hidden.i((.., 0))?.contiguous()?;
    let pooled = pooler.forward(&cls)?.tanh()?;
    classifier.forward(&pooled)?.to_vec2::<f32>()
}

/// One relevance score from a pair's logits: the logit itself for one label, the log-odds of
/// the second label for two.
fn relevance(logits: &[f32]) -> f32 {
    match logits {
        [negative, positive] => positive - negative,
        _ => logits[0],
    }
}

impl Reranker for CrossEncoder {
    fn score(&self, query: &str, passages: &[&str]) -> Result<Vec<f32>> {
        if passages.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self.encode(query, passages)?;
        match &self.backend {
            Backend::Native { model, dense, out } => Ok(encodings
                .par_iter()
                .with_max_len(1)
                .map(|e| {
                    let first = model.forward_typed(e.get_ids(), Some(e.get_type_ids()), |h| {
                        h[..model.hidden_size()].to_vec()
                    });
                    let mut pooled = vec![0.0; dense.outputs];
                    dense.forward(&first, 1, &mut pooled);
                    pooled.iter_mut().for_each(|x| *x = x.tanh());
                    let mut logits = vec![0.0; out.outputs];
                    out.forward(&pooled, 1, &mut logits);
                    relevance(&logits)
                })
                .collect()),
            Backend::Candle {
                model,
                pooler,
                classifier,
                device,
                pad_id,
            } => {
                // Longest first, so each batch holds similar lengths and little padding.
                let mut order: Vec<usize> = (0..encodings.len()).collect();
                order.sort_by_key(|&i| std::cmp::Reverse(encodings[i].len()));
                let mut scores = vec![0.0f32; passages.len()];
                for chunk in order.chunks(self.batch_size) {
                    let batch: Vec<&Encoding> = chunk.iter().map(|&i| &encodings[i]).collect();
                    let logits = candle_logits(model, pooler, classifier, device, *pad_id, &batch)
                        .map_err(|e| self.err(format!("forward pass failed: {e}")))?;
                    for (&i, row) in chunk.iter().zip(&logits) {
                        scores[i] = relevance(row);
                    }
                }
                Ok(scores)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use candle_core::{DType, Device, Tensor};
    use candle_nn::VarBuilder;
    use tokenizers::models::wordpiece::WordPiece;
    use tokenizers::normalizers::BertNormalizer;
    use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
    use tokenizers::processors::bert::BertProcessing;
    use tokenizers::{AddedToken, Tokenizer};

    use super::*;
    use crate::ErrorCode;

    const VOCAB: [&str; 24] = [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "rust", "file", "read", "data",
        "sort", "a", "list", "how", "do", "i", "to", "in", "is", "database", "fast", ".", "?",
        "##s",
    ];
    const HIDDEN: usize = 32;
    const INTER: usize = 64;
    const LAYERS: usize = 2;
    const POSITIONS: usize = 64;

    fn id(word: &str) -> u32 {
        VOCAB.iter().position(|w| *w == word).unwrap() as u32
    }

    /// Deterministic values in [-1, 1) (xorshift), so fixtures are equal on every run.
    fn random(seed: &mut u64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                (*seed >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    fn config(extra: serde_json::Value) -> String {
        let mut c = serde_json::json!({
            "model_type": "bert", "architectures": ["BertForSequenceClassification"],
            "vocab_size": VOCAB.len(), "hidden_size": HIDDEN, "num_hidden_layers": LAYERS,
            "num_attention_heads": 2, "intermediate_size": INTER,
            "max_position_embeddings": POSITIONS, "type_vocab_size": 2, "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
            "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0,
            "id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}
        });
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c.to_string()
    }

    fn weights(seed: u64) -> HashMap<String, Tensor> {
        let mut seed = seed.max(1);
        let mut tensors = HashMap::new();
        let mut put = |name: &str, shape: &[usize], scale: f32, offset: f32| {
            let n = shape.iter().product();
            let v: Vec<f32> = random(&mut seed, n)
                .into_iter()
                .map(|x| offset + scale * x)
                .collect();
            let t = Tensor::from_vec(v, shape, &Device::Cpu).unwrap();
            tensors.insert(name.to_string(), t);
        };
        let e = "bert.embeddings";
        put(
            &format!("{e}.word_embeddings.weight"),
            &[VOCAB.len(), HIDDEN],
            0.5,
            0.0,
        );
        put(
            &format!("{e}.position_embeddings.weight"),
            &[POSITIONS, HIDDEN],
            0.1,
            0.0,
        );
        put(
            &format!("{e}.token_type_embeddings.weight"),
            &[2, HIDDEN],
            0.5,
            0.0,
        );
        put(&format!("{e}.LayerNorm.weight"), &[HIDDEN], 0.1, 1.0);
        put(&format!("{e}.LayerNorm.bias"), &[HIDDEN], 0.1, 0.0);
        for l in 0..LAYERS {
            let p = format!("bert.encoder.layer.{l}");
            for m in ["query", "key", "value"] {
                put(
                    &format!("{p}.attention.self.{m}.weight"),
                    &[HIDDEN, HIDDEN],
                    0.3,
                    0.0,
                );
                put(
                    &format!("{p}.attention.self.{m}.bias"),
                    &[HIDDEN],
                    0.05,
                    0.0,
                );
            }
            put(
                &format!("{p}.attention.output.dense.weight"),
                &[HIDDEN, HIDDEN],
                0.2,
                0.0,
            );
            put(
                &format!("{p}.attention.output.dense.bias"),
                &[HIDDEN],
                0.05,
                0.0,
            );
            put(
                &format!("{p}.intermediate.dense.weight"),
                &[INTER, HIDDEN],
                0.2,
                0.0,
            );
            put(&format!("{p}.intermediate.dense.bias"), &[INTER], 0.05, 0.0);
            put(
                &format!("{p}.output.dense.weight"),
                &[HIDDEN, INTER],
                0.2,
                0.0,
            );
            put(&format!("{p}.output.dense.bias"), &[HIDDEN], 0.05, 0.0);
            for n in ["attention.output.LayerNorm", "output.LayerNorm"] {
                put(&format!("{p}.{n}.weight"), &[HIDDEN], 0.1, 1.0);
                put(&format!("{p}.{n}.bias"), &[HIDDEN], 0.1, 0.0);
            }
        }
        put("bert.pooler.dense.weight", &[HIDDEN, HIDDEN], 0.3, 0.0);
        put("bert.pooler.dense.bias", &[HIDDEN], 0.1, 0.0);
        put("classifier.weight", &[1, HIDDEN], 1.0, 0.0);
        put("classifier.bias", &[1], 0.5, 0.0);
        tensors
    }

    fn write_tokenizer(dir: &Path) {
        let vocab: [(String, u32); VOCAB.len()] =
            std::array::from_fn(|i| (VOCAB[i].to_string(), i as u32));
        let model = WordPiece::builder()
            .vocab(vocab)
            .unk_token("[UNK]".into())
            .build()
            .unwrap();
        let mut tokenizer = Tokenizer::new(model);
        tokenizer
            .with_normalizer(Some(BertNormalizer::default()))
            .unwrap()
            .with_pre_tokenizer(Some(BertPreTokenizer))
            .with_post_processor(Some(BertProcessing::new(
                ("[SEP]".into(), id("[SEP]")),
                ("[CLS]".into(), id("[CLS]")),
            )));
        let specials: Vec<AddedToken> = VOCAB[..5]
            .iter()
            .map(|t| AddedToken::from(*t, true))
            .collect();
        tokenizer.add_special_tokens(specials).unwrap();
        tokenizer.save(dir.join("tokenizer.json"), false).unwrap();
    }

    /// A tiny BERT cross-encoder folder: config, WordPiece tokenizer, seeded random weights.
    fn fixture(
        extra_config: serde_json::Value,
        tensors: &HashMap<String, Tensor>,
    ) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), config(extra_config)).unwrap();
        write_tokenizer(dir.path());
        candle_core::safetensors::save(tensors, dir.path().join("model.safetensors")).unwrap();
        dir
    }

    fn load(dir: &tempfile::TempDir) -> CrossEncoder {
        CrossEncoder::load(dir.path().to_str().unwrap()).unwrap()
    }

    fn load_err(dir: &tempfile::TempDir) -> Error {
        CrossEncoder::load(dir.path().to_str().unwrap()).unwrap_err()
    }

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    /// The score of one pair computed step by step: candle's encoder on one unpadded sequence
    /// of hand-built ids, then the pooler and classifier as plain loops.
    fn reference(tensors: &HashMap<String, Tensor>, query: &[&str], passage: &[&str]) -> f32 {
        let mut ids = vec![id("[CLS]")];
        ids.extend(query.iter().map(|w| id(w)));
        ids.push(id("[SEP]"));
        let first = ids.len();
        ids.extend(passage.iter().map(|w| id(w)));
        ids.push(id("[SEP]"));
        let types: Vec<u32> = (0..ids.len()).map(|i| u32::from(i >= first)).collect();
        let n = ids.len();
        let vb = VarBuilder::from_tensors(tensors.clone(), DType::F32, &Device::Cpu);
        let cfg: Config = serde_json::from_str(&config(serde_json::json!({}))).unwrap();
        let bert = BertModel::load(vb.pp("bert"), &cfg).unwrap();
        let ids = Tensor::from_vec(ids, (1, n), &Device::Cpu).unwrap();
        let types = Tensor::from_vec(types, (1, n), &Device::Cpu).unwrap();
        let hidden = values(&bert.forward(&ids, &types, None).unwrap());
        let cls = &hidden[..HIDDEN];
        let (pw, pb) = (
            values(&tensors["bert.pooler.dense.weight"]),
            values(&tensors["bert.pooler.dense.bias"]),
        );
        let pooled: Vec<f32> = (0..HIDDEN)
            .map(|o| {
                let dot: f32 = (0..HIDDEN).map(|i| pw[o * HIDDEN + i] * cls[i]).sum();
                (dot + pb[o]).tanh()
            })
            .collect();
        let (cw, cb) = (
            values(&tensors["classifier.weight"]),
            values(&tensors["classifier.bias"]),
        );
        cw.iter().zip(&pooled).map(|(w, x)| w * x).sum::<f32>() + cb[0]
    }

    fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
    }

    #[test]
    fn scores_each_passage_in_input_order_like_a_step_by_step_reference() {
        let tensors = weights(7);
        let dir = fixture(serde_json::json!({}), &tensors);
        let ce = load(&dir);
        assert_eq!(ce.name(), dir.path().to_str().unwrap());
        assert!(format!("{ce:?}").contains("CrossEncoder"));
        let passages = [
            "Read the file.",
            "sort a list",
            "the rust database is fast",
            "",
            "data",
        ];
        let scores = ce.score("how do I read data?", &passages).unwrap();
        assert_eq!(scores.len(), passages.len());
        let query = ["how", "do", "i", "read", "data", "?"];
        let words: [&[&str]; 5] = [
            &["read", "the", "file", "."],
            &["sort", "a", "list"],
            &["the", "rust", "database", "is", "fast"],
            &[],
            &["data"],
        ];
        let expected: Vec<f32> = words
            .iter()
            .map(|p| reference(&tensors, &query, p))
            .collect();
        assert!(
            close(&scores, &expected, 1e-4),
            "{scores:?} vs {expected:?}"
        );
        // Not all equal: the passages really reach the score.
        assert!(
            scores.windows(2).any(|w| (w[0] - w[1]).abs() > 1e-3),
            "{scores:?}"
        );
        assert!(ce.score("anything", &[]).unwrap().is_empty());
    }

    #[test]
    fn batch_size_does_not_change_scores() {
        let dir = fixture(serde_json::json!({}), &weights(11));
        let passages = [
            "the rust database is fast fast fast and the data is in a list",
            "sort",
            "read the file to the database",
            "",
            "how do i sort a list in rust ?",
            "files",
            "the data",
        ];
        let query = "sort the data in rust";
        let one = load(&dir)
            .with_batch_size(1)
            .score(query, &passages)
            .unwrap();
        for n in [0, 3, 16] {
            let other = load(&dir)
                .with_batch_size(n)
                .score(query, &passages)
                .unwrap();
            assert!(close(&one, &other, 1e-4), "batch {n}: {one:?} vs {other:?}");
        }
        let alone: Vec<f32> = passages
            .iter()
            .map(|p| load(&dir).score(query, &[p]).unwrap()[0])
            .collect();
        assert!(close(&one, &alone, 1e-4), "{one:?} vs {alone:?}");
    }

    #[test]
    fn long_inputs_are_truncated_passage_first() {
        let dir = fixture(serde_json::json!({}), &weights(3));
        let ce = load(&dir);
        let words = ["rust", "file", "data", "list", "sort"];
        let long: Vec<&str> = (0..300).map(|i| words[i % words.len()]).collect();
        // [CLS] rust data [SEP] ... [SEP]: the passage keeps POSITIONS - 5 words.
        let kept = long[..POSITIONS - 5].join(" ");
        let scores = ce.score("rust data", &[&long.join(" "), &kept]).unwrap();
        assert!(scores[0].is_finite());
        assert!((scores[0] - scores[1]).abs() < 1e-4, "{scores:?}");
        // A query too long on its own is cut too instead of failing.
        let scores = ce
            .score(&long.join(" "), &["read the file", "sort"])
            .unwrap();
        assert_eq!(scores.len(), 2);
        assert!(scores.iter().all(|s| s.is_finite()));
    }

    #[test]
    fn the_classifier_head_makes_the_score() {
        let mut tensors = weights(5);
        let passages = ["read the file", "the rust database", "sort a list"];
        let base = load(&fixture(serde_json::json!({}), &tensors))
            .score("rust data", &passages)
            .unwrap();
        let neg = |t: &Tensor| t.neg().unwrap();
        let w = neg(&tensors["classifier.weight"]);
        let b = neg(&tensors["classifier.bias"]);
        let (w0, b0) = (
            tensors["classifier.weight"].clone(),
            tensors["classifier.bias"].clone(),
        );
        tensors.insert("classifier.weight".into(), w);
        tensors.insert("classifier.bias".into(), b);
        let negated = load(&fixture(serde_json::json!({}), &tensors))
            .score("rust data", &passages)
            .unwrap();
        let expected: Vec<f32> = base.iter().map(|s| -s).collect();
        assert!(close(&negated, &expected, 1e-5), "{negated:?} vs {base:?}");

        tensors.insert("classifier.weight".into(), w0.zeros_like().unwrap());
        tensors.insert(
            "classifier.bias".into(),
            Tensor::new(&[0.5f32], &Device::Cpu).unwrap(),
        );
        let constant = load(&fixture(serde_json::json!({}), &tensors))
            .score("rust data", &passages)
            .unwrap();
        assert_eq!(constant, vec![0.5; 3]);

        // Two labels score the log-odds of the second: [0; w] and [0; b] give the one-label score.
        let zero = w0.zeros_like().unwrap();
        tensors.insert(
            "classifier.weight".into(),
            Tensor::cat(&[&zero, &w0], 0).unwrap(),
        );
        let two_bias = Tensor::cat(&[&b0.zeros_like().unwrap(), &b0], 0).unwrap();
        tensors.insert("classifier.bias".into(), two_bias);
        let dir = fixture(serde_json::json!({"num_labels": 2}), &tensors);
        let two = load(&dir).score("rust data", &passages).unwrap();
        assert!(close(&two, &base, 1e-5), "{two:?} vs {base:?}");
        let labels = serde_json::json!({"id2label": {"0": "no", "1": "yes"}});
        let dir = fixture(labels, &tensors);
        let two = load(&dir).score("rust data", &passages).unwrap();
        assert!(close(&two, &base, 1e-5), "{two:?} vs {base:?}");
    }

    #[test]
    fn token_types_tell_query_from_passage() {
        let mut tensors = weights(9);
        let ce = load(&fixture(serde_json::json!({}), &tensors));
        let (a, b) = ("read the file", "sort a list");
        let forward = ce.score(a, &[b]).unwrap()[0];
        let swapped = ce.score(b, &[a]).unwrap()[0];
        assert!((forward - swapped).abs() > 1e-3, "{forward} vs {swapped}");
        // With both token type rows equal, the passage's type ids (1) no longer count: the
        // score moves, so they were 1, not 0, before.
        let name = "bert.embeddings.token_type_embeddings.weight";
        let row = tensors[name].get(0).unwrap();
        tensors.insert(name.into(), Tensor::stack(&[&row, &row], 0).unwrap());
        let untyped = load(&fixture(serde_json::json!({}), &tensors));
        let same = untyped.score(a, &[b]).unwrap()[0];
        assert!((forward - same).abs() > 1e-3, "{forward} vs {same}");
    }

    #[test]
    fn checkpoints_without_the_bert_prefix_load_the_same() {
        let tensors = weights(13);
        let bare: HashMap<String, Tensor> = tensors
            .iter()
            .map(|(k, v)| (k.strip_prefix("bert.").unwrap_or(k).to_string(), v.clone()))
            .collect();
        assert!(bare.contains_key("pooler.dense.weight") && bare.contains_key("classifier.bias"));
        let passages = ["read the file", "the rust database is fast"];
        let with = load(&fixture(serde_json::json!({}), &tensors))
            .score("rust", &passages)
            .unwrap();
        let without = load(&fixture(serde_json::json!({}), &bare))
            .score("rust", &passages)
            .unwrap();
        assert_eq!(with, without);
    }

    #[test]
    fn missing_or_unsupported_parts_are_typed_errors() {
        // Neither a folder nor a Hub id: not found without asking any hub.
        let err = CrossEncoder::load("/no/such/cross-encoder").unwrap_err();
        assert_eq!(err.code(), ErrorCode::ModelNotFound);

        let tensors = weights(1);
        for file in ["model.safetensors", "tokenizer.json"] {
            let dir = fixture(serde_json::json!({}), &tensors);
            std::fs::remove_file(dir.path().join(file)).unwrap();
            let err = load_err(&dir);
            assert_eq!(err.code(), ErrorCode::Model);
            assert!(err.to_string().contains(file), "{err}");
        }

        for missing in ["classifier.weight", "bert.pooler.dense.bias"] {
            let mut t = tensors.clone();
            t.remove(missing);
            let err = load_err(&fixture(serde_json::json!({}), &t));
            assert_eq!(err.code(), ErrorCode::Model);
            let leaf = missing.strip_prefix("bert.").unwrap_or(missing);
            assert!(err.to_string().contains(leaf), "{err}");
        }
        let no_bert: HashMap<String, Tensor> = tensors
            .iter()
            .filter(|(k, _)| k.starts_with("classifier"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let err = load_err(&fixture(serde_json::json!({}), &no_bert));
        assert_eq!(err.code(), ErrorCode::Model);
        assert!(err.to_string().contains("not a checkpoint"), "{err}");

        let err = load_err(&fixture(serde_json::json!({"model_type": "t5"}), &tensors));
        assert_eq!(err.code(), ErrorCode::Model);
        assert!(err.to_string().contains("t5"), "{err}");

        let err = load_err(&fixture(serde_json::json!({"num_labels": 3}), &tensors));
        assert_eq!(err.code(), ErrorCode::Model);
        assert!(err.to_string().contains("3 labels"), "{err}");

        // The classifier's shape must match the labels the config declares.
        let err = load_err(&fixture(serde_json::json!({"num_labels": 2}), &tensors));
        assert_eq!(err.code(), ErrorCode::Model);
        assert!(err.to_string().contains("classifier"), "{err}");

        let dir = fixture(serde_json::json!({}), &tensors);
        std::fs::write(dir.path().join("config.json"), "{\"hidden_size\": 32}").unwrap();
        let err = load_err(&dir);
        assert_eq!(err.code(), ErrorCode::Model);
        assert!(err.to_string().contains("config.json"), "{err}");
    }
}
