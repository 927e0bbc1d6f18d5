//! Sentence embedders: a BERT encoder, its tokenizer and the sentence-transformers pooling.
//!
//! `SentenceEmbedder::load` reads a sentence-transformers model folder: `config.json` and
//! `model.safetensors` (the encoder), `tokenizer.json`, `modules.json` (which modules run:
//! pooling, normalisation), `1_Pooling/config.json` (mean, CLS, max or mean-sqrt-len pooling)
//! and `sentence_bert_config.json` (`max_seq_length`). Texts are tokenized (truncated to
//! `max_seq_length`, never padded), sorted by token count, and encoded one sequence per task on
//! rayon's pool; results come back in input order.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Deserialize;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use super::Embedder;
use super::bert::BertModel;
use crate::error::{Error, Result};

/// How token vectors become one text vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// Mean of every token's vector.
    Mean,
    /// The `[CLS]` token's vector.
    Cls,
    /// Element-wise maximum over tokens.
    Max,
    /// Sum divided by the square root of the token count.
    MeanSqrtLen,
}

impl Pooling {
    /// Pools `n` rows of `dim` values.
    pub(crate) fn apply(self, hidden: &[f32], n: usize, dim: usize) -> Vec<f32> {
        let rows = hidden[..n * dim].chunks_exact(dim);
        match self {
            Pooling::Cls => hidden[..dim].to_vec(),
            Pooling::Max => rows.fold(vec![f32::NEG_INFINITY; dim], |mut acc, r| {
                acc.iter_mut().zip(r).for_each(|(a, x)| *a = a.max(*x));
                acc
            }),
            Pooling::Mean | Pooling::MeanSqrtLen => {
                let mut acc = vec![0.0f32; dim];
                for r in rows {
                    acc.iter_mut().zip(r).for_each(|(a, x)| *a += x);
                }
                let div = if self == Pooling::Mean {
                    n as f32
                } else {
                    (n as f32).sqrt()
                };
                acc.iter_mut().for_each(|a| *a /= div);
                acc
            }
        }
    }
}

#[derive(Debug, Deserialize)]
struct ModuleEntry {
    #[serde(default)]
    path: String,
    #[serde(rename = "type")]
    kind: String,
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
}

#[derive(Debug, Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

/// A BERT sentence embedder on the CPU.
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
    model: BertModel,
    pooling: Pooling,
    normalize: bool,
    max_seq_length: usize,
    /// Instructions prepended to queries and to passages (`config_sentence_transformers.json`
    /// `prompts`), empty for models without them.
    query_prompt: String,
    passage_prompt: String,
}

impl SentenceEmbedder {
    /// Loads the model `name` (a name or a directory; see [`model_dir`](super::model_dir)).
    ///
    /// # Errors
    /// [`Error::ModelNotFound`] when no directory holds it; [`Error::Model`] for a missing or
    /// malformed file, a non-float tensor, or an architecture other than BERT.
    pub fn load(name: &str) -> Result<Self> {
        let dir = super::model_dir(name)?;
        Self::load_dir(name, &dir)
    }

    fn load_dir(name: &str, dir: &Path) -> Result<Self> {
        let model_err = |message: String| Error::Model {
            name: name.to_string(),
            message,
        };
        let model = BertModel::load(dir)?;
        let mut pooling = Pooling::Mean;
        let mut normalize = false;
        let modules_path = dir.join("modules.json");
        if modules_path.is_file() {
            let text = std::fs::read_to_string(&modules_path)
                .map_err(|e| model_err(format!("modules.json: {e}")))?;
            let modules: Vec<ModuleEntry> =
                serde_json::from_str(&text).map_err(|e| model_err(format!("modules.json: {e}")))?;
            for m in &modules {
                match m.kind.rsplit('.').next().unwrap_or("") {
                    "Transformer" => {}
                    "Pooling" => pooling = read_pooling(&dir.join(&m.path), &model_err)?,
                    "Normalize" => normalize = true,
                    other => {
                        return Err(model_err(format!(
                            "unsupported sentence-transformers module {other}"
                        )));
                    }
                }
            }
        } else {
            let p = dir.join("1_Pooling");
            if p.is_dir() {
                pooling = read_pooling(&p, &model_err)?;
            }
        }
        let mut max_seq_length = model.max_positions();
        let sbert = dir.join("sentence_bert_config.json");
        if sbert.is_file() {
            let text = std::fs::read_to_string(&sbert)
                .map_err(|e| model_err(format!("sentence_bert_config.json: {e}")))?;
            let c: SentenceBertConfig = serde_json::from_str(&text)
                .map_err(|e| model_err(format!("sentence_bert_config.json: {e}")))?;
            if let Some(m) = c.max_seq_length {
                max_seq_length = m.min(model.max_positions());
            }
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
            model,
            pooling,
            normalize,
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

    /// Whether vectors are scaled to unit length (the model has a `Normalize` module).
    pub fn normalizes(&self) -> bool {
        self.normalize
    }

    /// Longest input in tokens (longer texts are truncated).
    pub fn max_seq_length(&self) -> usize {
        self.max_seq_length
    }

    /// Token ids of each text, as the model sees them (with `[CLS]`/`[SEP]`, truncated).
    ///
    /// # Errors
    /// [`Error::Model`] when tokenization fails.
    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| Error::Model {
                name: self.name.clone(),
                message: format!("tokenization failed: {e}"),
            })?;
        let vocab = self.model.vocab_size() as u32;
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
        let dim = self.model.hidden_size();
        let mut vectors: Vec<(usize, Vec<f32>)> = order
            .into_par_iter()
            .with_max_len(1)
            .map(|i| (i, self.embed_one(&ids[i], dim)))
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

    fn embed_one(&self, ids: &[u32], dim: usize) -> Vec<f32> {
        let mut v = self
            .model
            .forward(ids, |hidden| self.pooling.apply(hidden, ids.len(), dim));
        if self.normalize {
            super::normalize(&mut v);
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
    let modes = [
        (c.pooling_mode_mean_tokens, Pooling::Mean),
        (c.pooling_mode_cls_token, Pooling::Cls),
        (c.pooling_mode_max_tokens, Pooling::Max),
        (c.pooling_mode_mean_sqrt_len_tokens, Pooling::MeanSqrtLen),
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
        self.model.hidden_size()
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
