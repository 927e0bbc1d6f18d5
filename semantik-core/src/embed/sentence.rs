//! Sentence embedders: an encoder, its tokenizer and the sentence-transformers modules after it.
//!
//! `SentenceEmbedder::load_dir` reads a sentence-transformers model folder: `config.json` and
//! the safetensors weights (the encoder, any family of [`super::transformer`], or a static
//! embedding table: model2vec and `StaticEmbedding`), `tokenizer.json`, `modules.json`
//! (which modules run: pooling, dense layers, normalisation), the pooling config (CLS, mean,
//! max, mean-sqrt-len, weighted mean or last token), `sentence_bert_config.json`
//! (`max_seq_length`) and `config_sentence_transformers.json` (query and document prompts).
//! Texts are tokenized (truncated to `max_seq_length`, never padded), sorted by token count,
//! and encoded one sequence per task on rayon's pool; results come back in input order.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Deserialize;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use super::hub::{ModuleEntry, read_modules};
use super::linear::Linear;
use super::transformer::{Arch, Transformer, Weights};
use super::{Embedder, Precision};
use crate::error::{Error, Result};

/// How token vectors become one text vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Pooling {
    /// Mean of every token's vector.
    Mean,
    /// The first token's (`[CLS]`) vector.
    Cls,
    /// Element-wise maximum over tokens.
    Max,
    /// Sum divided by the square root of the token count.
    MeanSqrtLen,
    /// Mean weighted by position (the i-th token, from 1, weighs i).
    WeightedMean,
    /// The last token's vector (decoders such as Qwen3).
    LastToken,
}

impl Pooling {
    /// Pools `n` rows of `dim` values.
    pub(crate) fn apply(self, hidden: &[f32], n: usize, dim: usize) -> Vec<f32> {
        if n == 0 {
            return vec![0.0; dim];
        }
        let rows = hidden[..n * dim].chunks_exact(dim);
        match self {
            Pooling::Cls => hidden[..dim].to_vec(),
            Pooling::LastToken => hidden[(n - 1) * dim..n * dim].to_vec(),
            Pooling::Max => rows.fold(vec![f32::NEG_INFINITY; dim], |mut acc, r| {
                acc.iter_mut().zip(r).for_each(|(a, x)| *a = a.max(*x));
                acc
            }),
            Pooling::Mean | Pooling::MeanSqrtLen | Pooling::WeightedMean => {
                let mut acc = vec![0.0f32; dim];
                let mut total = 0.0f32;
                for (i, r) in rows.enumerate() {
                    let w = if self == Pooling::WeightedMean {
                        (i + 1) as f32
                    } else {
                        1.0
                    };
                    total += w;
                    acc.iter_mut().zip(r).for_each(|(a, x)| *a += w * x);
                }
                let div = match self {
                    Pooling::MeanSqrtLen => (n as f32).sqrt(),
                    _ => total,
                };
                acc.iter_mut().for_each(|a| *a /= div);
                acc
            }
        }
    }
}

#[derive(Debug, Deserialize, Default)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
    /// sentence-transformers 6's form: one mode name (or a list).
    #[serde(default)]
    pooling_mode: Option<serde_json::Value>,
    #[serde(default = "yes")]
    include_prompt: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

/// What turns token ids into token vectors.
#[derive(Debug)]
enum Encoder {
    Transformer(Box<Transformer>),
    /// A lookup table (model2vec, `StaticEmbedding`): `vocab x dim`.
    Static {
        table: Vec<f32>,
        dim: usize,
    },
}

/// A module after pooling.
#[derive(Debug)]
enum Post {
    /// A dense layer and its activation (sentence-transformers' `Dense`).
    Dense(Linear, DenseAct),
    /// Scaling to unit length.
    Normalize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DenseAct {
    Identity,
    Tanh,
    Relu,
    Sigmoid,
}

/// A sentence embedder on the CPU: any encoder family semantik runs, or static embeddings.
///
/// ```no_run
/// use semantik_core::embed::{Embedder, SentenceEmbedder};
/// let e = SentenceEmbedder::load("sentence-transformers/all-MiniLM-L6-v2")?;
/// let v = e.embed(&["How do I read a file?"])?;
/// assert_eq!(v[0].len(), 384);
/// # Ok::<(), semantik_core::Error>(())
/// ```
#[derive(Debug)]
pub struct SentenceEmbedder {
    name: String,
    dir: PathBuf,
    tokenizer: Tokenizer,
    /// The tokenizer without truncation, for counting the tokens of whole documents.
    counter: Tokenizer,
    encoder: Encoder,
    /// Whether texts get the tokenizer's special tokens (static embeddings do not).
    special_tokens: bool,
    pooling: Pooling,
    post: Vec<Post>,
    dimension: usize,
    precision: Precision,
    max_seq_length: usize,
    /// Instructions prepended to queries and to passages (`config_sentence_transformers.json`
    /// `prompts`), empty for models without them.
    query_prompt: String,
    passage_prompt: String,
}

impl SentenceEmbedder {
    /// Loads the model `name` (a folder, or a Hub id found or fetched as
    /// [`model_dir`](super::model_dir) does).
    ///
    /// # Errors
    /// As [`locate_model`](super::locate_model); [`Error::Model`] for a missing or malformed
    /// file, a non-float tensor, or an unsupported architecture (named in the message).
    pub fn load(name: &str) -> Result<Self> {
        let dir = super::model_dir(name)?;
        Self::load_dir(name, &dir, Precision::Float32)
    }

    /// Loads the sentence-transformers model in folder `dir` (called `name`), its linear
    /// layers at `precision`.
    ///
    /// # Errors
    /// [`Error::Model`] for a missing or malformed file, a non-float tensor, or an
    /// unsupported architecture (named in the message).
    pub fn load_dir(name: &str, dir: &Path, precision: Precision) -> Result<Self> {
        let model_err = |message: String| Error::Model {
            name: name.to_string(),
            message,
        };
        let config: serde_json::Value = read_json(dir, "config.json", &model_err)?
            .ok_or_else(|| model_err("config.json is missing".into()))?;
        let modules = if dir.join("modules.json").is_file() {
            read_modules(name, &dir.join("modules.json"))?
        } else {
            let mut m = vec![ModuleEntry {
                path: String::new(),
                kind: "sentence_transformers.models.Transformer".into(),
            }];
            if dir.join("1_Pooling").is_dir() {
                m.push(ModuleEntry {
                    path: "1_Pooling".into(),
                    kind: "sentence_transformers.models.Pooling".into(),
                });
            }
            m
        };
        let is_static = modules
            .first()
            .is_some_and(|m| m.kind.ends_with("StaticEmbedding"))
            || config["model_type"].as_str() == Some("model2vec");
        let (encoder, max_positions, mut normalize_static) = if is_static {
            let sub = modules
                .first()
                .filter(|m| m.kind.ends_with("StaticEmbedding"))
                .map_or_else(|| dir.to_path_buf(), |m| dir.join(&m.path));
            let (table, dim) = load_static(name, dir, &sub, precision)?;
            let normalize = config["normalize"].as_bool().unwrap_or(false)
                && !modules
                    .first()
                    .is_some_and(|m| m.kind.ends_with("StaticEmbedding"));
            (Encoder::Static { table, dim }, usize::MAX, normalize)
        } else {
            let arch = Arch::from_config(name, &config)?;
            let model = Transformer::load(name, dir, arch, precision)?;
            let max = model.max_positions();
            (Encoder::Transformer(Box::new(model)), max, false)
        };
        let mut dimension = match &encoder {
            Encoder::Transformer(t) => t.hidden_size(),
            Encoder::Static { dim, .. } => *dim,
        };
        let mut pooling = Pooling::Mean;
        let mut post = Vec::new();
        for m in modules
            .iter()
            .skip(usize::from(modules.first().is_some_and(|m| {
                m.kind.ends_with("Transformer") || m.kind.ends_with("StaticEmbedding")
            })))
        {
            let kind = m.kind.rsplit('.').next().unwrap_or("");
            let path = dir.join(&m.path);
            match kind {
                "Transformer" | "StaticEmbedding" => {
                    return Err(model_err(format!(
                        "modules.json: {kind} must be the first module"
                    )));
                }
                "Pooling" => pooling = read_pooling(&path, &model_err)?,
                "Dense" => {
                    let (dense, act) = load_dense(name, &path, dimension, precision)?;
                    dimension = dense.outputs;
                    post.push(Post::Dense(dense, act));
                }
                "Normalize" => {
                    post.push(Post::Normalize);
                    normalize_static = false;
                }
                other => {
                    return Err(model_err(format!(
                        "unsupported sentence-transformers module {other}"
                    )));
                }
            }
        }
        if normalize_static {
            post.push(Post::Normalize);
        }
        // sentence_bert_config.json's max_seq_length, else the tokenizer's model_max_length
        // (as sentence-transformers 6 reads it), within what the model's positions allow.
        let configured = match read_json(dir, "sentence_bert_config.json", &model_err)? {
            Some(c) => {
                serde_json::from_value::<SentenceBertConfig>(c)
                    .map_err(|e| model_err(format!("sentence_bert_config.json: {e}")))?
                    .max_seq_length
            }
            None => None,
        };
        let configured = match configured {
            Some(m) => Some(m),
            None if !is_static => read_json(dir, "tokenizer_config.json", &model_err)?
                .and_then(|t| t["model_max_length"].as_u64())
                .map(|m| m as usize),
            None => None,
        };
        let mut max_seq_length = configured.map_or(max_positions, |m| m.min(max_positions));
        if max_seq_length == usize::MAX {
            // Static embeddings read any length; a bound keeps one text's work bounded.
            max_seq_length = 1 << 20;
        }
        let (query_prompt, passage_prompt) = read_prompts(dir, &model_err)?;
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| model_err(format!("tokenizer.json: {e}")))?;
        // The model's own tokenizer.json may pad and truncate for training (all-MiniLM-L6-v2
        // pads to a fixed 128): sentence-transformers truncates at max_seq_length and never
        // pads a single text, and neither do we.
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_seq_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| model_err(format!("tokenizer truncation: {e}")))?;
        tokenizer.with_padding(None);
        let mut counter = tokenizer.clone();
        counter
            .with_truncation(None)
            .map_err(|e| model_err(format!("tokenizer truncation: {e}")))?;
        Ok(SentenceEmbedder {
            counter,
            name: name.to_string(),
            dir: dir.to_path_buf(),
            tokenizer,
            special_tokens: !is_static,
            encoder,
            pooling,
            post,
            dimension,
            precision,
            max_seq_length,
            query_prompt,
            passage_prompt,
        })
    }

    /// The folder the model was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The pooling the model uses.
    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// Whether vectors are scaled to unit length (the model ends with a `Normalize` module).
    pub fn normalizes(&self) -> bool {
        matches!(self.post.last(), Some(Post::Normalize))
    }

    /// The precision the model runs at.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Bytes the model's weights take in memory.
    pub fn weight_bytes(&self) -> usize {
        let post: usize = self
            .post
            .iter()
            .map(|p| match p {
                Post::Dense(l, _) => l.weight_bytes(),
                Post::Normalize => 0,
            })
            .sum();
        post + match &self.encoder {
            Encoder::Transformer(t) => t.weight_bytes(),
            Encoder::Static { table, .. } => table.len() * 4,
        }
    }

    /// Longest input in tokens (longer texts are truncated).
    pub fn max_seq_length(&self) -> usize {
        self.max_seq_length
    }

    /// Token ids of each text, as the model sees them (with the tokenizer's special tokens,
    /// except for static embeddings; truncated).
    ///
    /// # Errors
    /// [`Error::Model`] when tokenization fails.
    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), self.special_tokens)
            .map_err(|e| Error::Model {
                name: self.name.clone(),
                message: format!("tokenization failed: {e}"),
            })?;
        let vocab = match &self.encoder {
            Encoder::Transformer(t) => t.vocab_size(),
            Encoder::Static { table, dim } => table.len() / dim,
        } as u32;
        encodings
            .into_iter()
            .map(|e| {
                let ids = e.get_ids().to_vec();
                match ids.iter().find(|&&id| id >= vocab) {
                    Some(id) => Err(Error::Model {
                        name: self.name.clone(),
                        message: format!("token id {id} is outside the vocabulary of {vocab}"),
                    }),
                    None => Ok(ids),
                }
            })
            .collect()
    }

    /// Embeds texts tokenized by [`SentenceEmbedder::tokenize`] (ids checked against the
    /// vocabulary, at most `max_seq_length` long), in parallel, in input order.
    pub(crate) fn embed_ids(&self, ids: &[Vec<u32>]) -> Vec<Vec<f32>> {
        // Longest first, so the parallel tail is short.
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
        let mut vectors: Vec<(usize, Vec<f32>)> = order
            .into_par_iter()
            .with_max_len(1)
            .map(|i| (i, self.embed_one(&ids[i])))
            .collect();
        vectors.sort_unstable_by_key(|(i, _)| *i);
        vectors.into_iter().map(|(_, v)| v).collect()
    }

    /// The streaming form: embeds `texts` in batches of about `max_tokens` tokens (bounded
    /// memory for any number of texts), tokenizing the next batch while the current one is
    /// encoded. Yields each batch's vectors in input order.
    ///
    /// ```no_run
    /// use semantik_core::embed::SentenceEmbedder;
    /// let e = SentenceEmbedder::load("sentence-transformers/all-MiniLM-L6-v2")?;
    /// let texts = (0..10_000).map(|i| format!("passage number {i}"));
    /// for batch in e.embed_stream(texts, 8192) {
    ///     let vectors = batch?;
    ///     assert!(!vectors.is_empty());
    /// }
    /// # Ok::<(), semantik_core::Error>(())
    /// ```
    pub fn embed_stream<I>(&self, texts: I, max_tokens: usize) -> EmbedStream<'_, I::IntoIter>
    where
        I: IntoIterator<Item = String>,
        I::IntoIter: Send,
    {
        let mut source = texts.into_iter();
        let ready = self.next_batch(&mut source, max_tokens);
        EmbedStream {
            embedder: self,
            source,
            max_tokens: max_tokens.max(1),
            ready,
        }
    }

    /// Tokenizes texts from `source` until about `max_tokens` tokens are gathered.
    fn next_batch(
        &self,
        source: &mut impl Iterator<Item = String>,
        max_tokens: usize,
    ) -> Option<Result<Vec<Vec<u32>>>> {
        let mut batch = Vec::new();
        let mut tokens = 0;
        while tokens < max_tokens {
            let Some(text) = source.next() else { break };
            match self.tokenize(&[text.as_str()]) {
                Ok(mut ids) => {
                    let ids = ids.pop().unwrap_or_default();
                    tokens += ids.len();
                    batch.push(ids);
                }
                Err(e) => return Some(Err(e)),
            }
        }
        (!batch.is_empty()).then_some(Ok(batch))
    }

    fn embed_one(&self, ids: &[u32]) -> Vec<f32> {
        let mut v = match &self.encoder {
            Encoder::Transformer(t) => t.forward(ids, |hidden| {
                self.pooling.apply(hidden, ids.len(), t.hidden_size())
            }),
            Encoder::Static { table, dim } => {
                // Token rows gathered, then pooled (the mean, for static models).
                let rows: Vec<f32> = ids
                    .iter()
                    .flat_map(|&id| &table[id as usize * dim..(id as usize + 1) * dim])
                    .copied()
                    .collect();
                self.pooling.apply(&rows, ids.len(), *dim)
            }
        };
        for p in &self.post {
            match p {
                Post::Dense(layer, act) => {
                    let mut out = vec![0.0; layer.outputs];
                    layer.forward(&v, 1, &mut out);
                    act.apply(&mut out);
                    v = out;
                }
                Post::Normalize => super::normalize(&mut v),
            }
        }
        v
    }
}

/// Batches of vectors from [`SentenceEmbedder::embed_stream`].
#[derive(Debug)]
pub struct EmbedStream<'a, I> {
    embedder: &'a SentenceEmbedder,
    source: I,
    max_tokens: usize,
    ready: Option<Result<Vec<Vec<u32>>>>,
}

impl<I: Iterator<Item = String> + Send> Iterator for EmbedStream<'_, I> {
    type Item = Result<Vec<Vec<f32>>>;

    fn next(&mut self) -> Option<Self::Item> {
        let ids = match self.ready.take()? {
            Ok(ids) => ids,
            Err(e) => return Some(Err(e)),
        };
        let (embedder, source, max_tokens) = (self.embedder, &mut self.source, self.max_tokens);
        let (vectors, next) = rayon::join(
            || embedder.embed_ids(&ids),
            || embedder.next_batch(source, max_tokens),
        );
        self.ready = next;
        Some(Ok(vectors))
    }
}

fn read_pooling(dir: &Path, model_err: &dyn Fn(String) -> Error) -> Result<Pooling> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| model_err(format!("{}: {e}", path.display())))?;
    let c: PoolingConfig =
        serde_json::from_str(&text).map_err(|e| model_err(format!("{}: {e}", path.display())))?;
    if !c.include_prompt {
        return Err(model_err(
            "pooling config excludes the prompt (include_prompt false): not supported".into(),
        ));
    }
    if let Some(mode) = &c.pooling_mode {
        let names: Vec<&str> = match mode {
            serde_json::Value::String(m) => vec![m.as_str()],
            serde_json::Value::Array(ms) => ms.iter().filter_map(|m| m.as_str()).collect(),
            _ => Vec::new(),
        };
        return match names[..] {
            [name] => Ok(match name {
                "cls" => Pooling::Cls,
                "max" => Pooling::Max,
                "mean" => Pooling::Mean,
                "mean_sqrt_len_tokens" => Pooling::MeanSqrtLen,
                "weightedmean" => Pooling::WeightedMean,
                "lasttoken" => Pooling::LastToken,
                other => return Err(model_err(format!("unsupported pooling mode {other:?}"))),
            }),
            _ => Err(model_err(format!(
                "pooling mode {mode}: exactly one mode is supported"
            ))),
        };
    }
    let modes = [
        (c.pooling_mode_mean_tokens, Pooling::Mean),
        (c.pooling_mode_cls_token, Pooling::Cls),
        (c.pooling_mode_max_tokens, Pooling::Max),
        (c.pooling_mode_mean_sqrt_len_tokens, Pooling::MeanSqrtLen),
        (c.pooling_mode_weightedmean_tokens, Pooling::WeightedMean),
        (c.pooling_mode_lasttoken, Pooling::LastToken),
    ];
    let chosen: Vec<Pooling> = modes
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, p)| *p)
        .collect();
    match chosen.as_slice() {
        [p] => Ok(*p),
        [] => Err(model_err("pooling config enables no pooling mode".into())),
        _ => Err(model_err(
            "pooling config enables several modes; only one is supported".into(),
        )),
    }
}

impl Embedder for SentenceEmbedder {
    fn model_name(&self) -> &str {
        &self.name
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let ids = if self.passage_prompt.is_empty() {
            self.tokenize(texts)?
        } else {
            let prompted: Vec<String> = texts
                .iter()
                .map(|t| format!("{}{t}", self.passage_prompt))
                .collect();
            self.tokenize(&prompted.iter().map(String::as_str).collect::<Vec<_>>())?
        };
        Ok(self.embed_ids(&ids))
    }

    fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        let ids = self.tokenize(&[&format!("{}{text}", self.query_prompt)])?;
        self.embed_ids(&ids)
            .pop()
            .ok_or_else(|| Error::internal("embedder returned no vector"))
    }

    fn token_starts(&self, text: &str) -> Result<Vec<usize>> {
        let encoding = self.counter.encode(text, false).map_err(|e| Error::Model {
            name: self.name.clone(),
            message: format!("tokenization failed: {e}"),
        })?;
        let mut starts: Vec<usize> = encoding.get_offsets().iter().map(|o| o.0).collect();
        // Sub-word pieces of one word have increasing starts; keep them sorted for lookups.
        starts.sort_unstable();
        Ok(starts)
    }
}

impl DenseAct {
    fn parse(name: &str) -> Option<DenseAct> {
        Some(match name.rsplit('.').next().unwrap_or("") {
            "Identity" | "" => DenseAct::Identity,
            "Tanh" => DenseAct::Tanh,
            "ReLU" => DenseAct::Relu,
            "Sigmoid" => DenseAct::Sigmoid,
            _ => return None,
        })
    }

    fn apply(self, xs: &mut [f32]) {
        match self {
            DenseAct::Identity => {}
            DenseAct::Tanh => xs.iter_mut().for_each(|x| *x = x.tanh()),
            DenseAct::Relu => xs.iter_mut().for_each(|x| *x = x.max(0.0)),
            DenseAct::Sigmoid => xs.iter_mut().for_each(|x| *x = 1.0 / (1.0 + (-*x).exp())),
        }
    }
}

/// A JSON file of the model folder, `None` when absent.
fn read_json(
    dir: &Path,
    file: &str,
    model_err: &dyn Fn(String) -> Error,
) -> Result<Option<serde_json::Value>> {
    let path = dir.join(file);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| model_err(format!("{file}: {e}")))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| model_err(format!("{file}: {e}")))
}

/// A sentence-transformers `Dense` module in folder `dir`, reading `inputs` values.
fn load_dense(
    name: &str,
    dir: &Path,
    inputs: usize,
    precision: Precision,
) -> Result<(Linear, DenseAct)> {
    let model_err = |message: String| Error::Model {
        name: name.to_string(),
        message,
    };
    let c = read_json(dir, "config.json", &model_err)?
        .ok_or_else(|| model_err(format!("{}: config.json is missing", dir.display())))?;
    let act_name = c["activation_function"].as_str().unwrap_or("Identity");
    let act = DenseAct::parse(act_name)
        .ok_or_else(|| model_err(format!("unsupported Dense activation {act_name:?}")))?;
    if c["in_features"].as_u64() != Some(inputs as u64) {
        return Err(model_err(format!(
            "Dense module reads {} features, the pooled vector has {inputs}",
            c["in_features"]
        )));
    }
    let outputs = c["out_features"]
        .as_u64()
        .filter(|&o| o > 0 && o <= 1 << 16)
        .ok_or_else(|| model_err("Dense module: out_features is missing or out of range".into()))?
        as usize;
    let w = Weights::open(name, dir, precision)?;
    let bias = c["bias"].as_bool().unwrap_or(true);
    Ok((w.dense("linear", inputs, outputs, bias)?, act))
}

/// The table of a static embedding model in `sub` (model2vec's `embeddings`, or
/// `StaticEmbedding`'s `embedding.weight`) and its width.
fn load_static(
    name: &str,
    dir: &Path,
    sub: &Path,
    precision: Precision,
) -> Result<(Vec<f32>, usize)> {
    let _ = dir;
    let w = Weights::open(name, sub, precision)?;
    w.table(&[
        "embeddings",
        "embedding.weight",
        "emb_bag.weight",
        "embedding.embeddings.weight",
    ])
}

/// The query and passage instructions of a sentence-transformers model
/// (`config_sentence_transformers.json`: `prompts.query`, and `prompts.document` or
/// `prompts.passage`); empty when it has none.
fn read_prompts(dir: &Path, model_err: &dyn Fn(String) -> Error) -> Result<(String, String)> {
    let path = dir.join("config_sentence_transformers.json");
    if !path.is_file() {
        return Ok((String::new(), String::new()));
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| model_err(format!("config_sentence_transformers.json: {e}")))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| model_err(format!("config_sentence_transformers.json: {e}")))?;
    let prompt = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| v["prompts"][n].as_str())
            .unwrap_or_default()
            .to_string()
    };
    Ok((prompt(&["query"]), prompt(&["document", "passage"])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_modes() {
        let hidden = [1.0, 2.0, 3.0, 6.0];
        assert_eq!(Pooling::Mean.apply(&hidden, 2, 2), vec![2.0, 4.0]);
        assert_eq!(Pooling::Cls.apply(&hidden, 2, 2), vec![1.0, 2.0]);
        assert_eq!(Pooling::Max.apply(&hidden, 2, 2), vec![3.0, 6.0]);
        let s = Pooling::MeanSqrtLen.apply(&hidden, 2, 2);
        assert!((s[0] - 4.0 / 2f32.sqrt()).abs() < 1e-6);
    }
}
