//! Keyword search: BM25 over an inverted index stored beside the chunks.
//!
//! Text is analysed into terms (Unicode word segmentation, lowercasing, stopwords, Snowball
//! stemming; see [`KeywordConfig`]). Every chunk's postings are written in the same atomic
//! batch as the chunk itself, and removed in the batch that removes it, so a chunk is either
//! searchable by vector and by keyword or by neither. The collection's counts (chunks, total
//! terms) live in the same stats record as the other counts, so BM25's statistics are exact
//! after any sequence of writes and deletes: document frequency is the length of a term's
//! posting list. Searches read the postings from memory ([`Postings`]), loaded on a
//! generation's first keyword search and kept in step with its writes.
//!
//! Scoring is BM25 as Lucene computes it: `idf = ln(1 + (N - df + 0.5) / (df + 0.5))`,
//! `tf' = tf / (tf + k1 (1 - b + b len / avglen))`, summed over the query's distinct terms.

use std::collections::{HashMap, HashSet};

use rust_stemmers::{Algorithm, Stemmer};
use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

use crate::error::{Error, Result};
use crate::generation::GenerationId;
use crate::index::ChunkSet;
use crate::storage::{Store, WriteBatch, keys};

mod postings;

pub(crate) use postings::{Delta, Postings};

/// Longest term kept, in bytes: longer "words" (hex dumps, sequences, base64) are not words,
/// and the term list of a chunk stores lengths in 16 bits.
pub(crate) const MAX_TERM_BYTES: usize = 255;

/// Lucene's English stopwords (the list Elasticsearch, Lucene and `bm25s` use).
const ENGLISH_STOPWORDS: [&str; 33] = [
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// The Snowball stemmers by language name.
const LANGUAGES: [(&str, Algorithm); 18] = [
    ("arabic", Algorithm::Arabic),
    ("danish", Algorithm::Danish),
    ("dutch", Algorithm::Dutch),
    ("english", Algorithm::English),
    ("finnish", Algorithm::Finnish),
    ("french", Algorithm::French),
    ("german", Algorithm::German),
    ("greek", Algorithm::Greek),
    ("hungarian", Algorithm::Hungarian),
    ("italian", Algorithm::Italian),
    ("norwegian", Algorithm::Norwegian),
    ("portuguese", Algorithm::Portuguese),
    ("romanian", Algorithm::Romanian),
    ("russian", Algorithm::Russian),
    ("spanish", Algorithm::Spanish),
    ("swedish", Algorithm::Swedish),
    ("tamil", Algorithm::Tamil),
    ("turkish", Algorithm::Turkish),
];

/// Keyword (BM25) settings of a collection.
///
/// `language` picks the Snowball stemmer (`english`, `french`, `german`, ... or `none` for no
/// stemming); English also drops Lucene's 33 English stopwords. `k1` (term-frequency
/// saturation, default 1.5) and `b` (length normalisation, default 0.75) are BM25's usual
/// parameters.
///
/// ```
/// use semantik_core::{CollectionConfig, KeywordConfig};
/// let config = CollectionConfig::new("docs").with_keyword(KeywordConfig::language("french"));
/// assert_eq!(config.keyword.k1, 1.5);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct KeywordConfig {
    /// Stemming language, or `none`.
    pub language: String,
    /// BM25 `k1`, at least 0.
    pub k1: f32,
    /// BM25 `b`, 0 to 1.
    pub b: f32,
}

impl Default for KeywordConfig {
    fn default() -> Self {
        KeywordConfig {
            language: "english".into(),
            k1: 1.5,
            b: 0.75,
        }
    }
}

impl KeywordConfig {
    /// Default settings for `language`.
    pub fn language(language: impl Into<String>) -> Self {
        KeywordConfig {
            language: language.into(),
            ..Self::default()
        }
    }

    /// Sets BM25's `k1` and `b`.
    pub fn with_bm25(mut self, k1: f32, b: f32) -> Self {
        self.k1 = k1;
        self.b = b;
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an unknown language, a negative `k1` or `b` outside 0..=1.
    pub fn validate(&self) -> Result<()> {
        Analyzer::new(self)?;
        if !(self.k1.is_finite() && self.k1 >= 0.0) {
            return Err(Error::invalid("keyword.k1 must be a number of at least 0"));
        }
        if !(0.0..=1.0).contains(&self.b) {
            return Err(Error::invalid("keyword.b must be between 0 and 1"));
        }
        Ok(())
    }
}

/// Turns text into index terms.
pub(crate) struct Analyzer {
    stemmer: Option<Stemmer>,
    stopwords: HashSet<&'static str>,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("stemming", &self.stemmer.is_some())
            .finish_non_exhaustive()
    }
}

impl Analyzer {
    pub(crate) fn new(config: &KeywordConfig) -> Result<Self> {
        let language = config.language.to_lowercase();
        let stemmer = match language.as_str() {
            "none" => None,
            name => Some(Stemmer::create(
                LANGUAGES
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, a)| *a)
                    .ok_or_else(|| {
                        Error::invalid(format!(
                            "keyword.language {name:?} is not one of: none, {}",
                            LANGUAGES.map(|(n, _)| n).join(", ")
                        ))
                    })?,
            )),
        };
        let stopwords = if language == "english" {
            ENGLISH_STOPWORDS.into_iter().collect()
        } else {
            HashSet::new()
        };
        Ok(Analyzer { stemmer, stopwords })
    }

    /// `(surface word, term)` for every indexed word of `text`, in order.
    fn tokens<'t>(&'t self, text: &'t str) -> impl Iterator<Item = (&'t str, String)> + 't {
        text.unicode_words()
            // Words joined by `.`, `:` or `'` (`os.path`, `don't`) are also split there.
            .flat_map(|w| w.split(|c: char| !(c.is_alphanumeric() || c == '_')))
            // Single ASCII characters (`s` of `it's`, `3` of `3.11`) are noise.
            .filter(|w| (w.len() > 1 || !w.is_ascii()) && w.len() <= MAX_TERM_BYTES)
            .filter_map(move |w| {
                let lower = w.to_lowercase();
                if self.stopwords.contains(lower.as_str()) {
                    return None;
                }
                let term = match &self.stemmer {
                    Some(s) => stem(s, lower),
                    None => lower,
                };
                (term.len() <= MAX_TERM_BYTES).then_some((w, term))
            })
    }

    /// The terms of `text`, in order, repeated as often as they occur.
    pub(crate) fn terms(&self, text: &str) -> Vec<String> {
        self.tokens(text).map(|(_, t)| t).collect()
    }

    /// The distinct words of `text` (as written there) whose term is in `terms`, in order of
    /// first occurrence: what a keyword match highlights.
    pub(crate) fn matching_words(&self, text: &str, terms: &HashSet<&str>) -> Vec<String> {
        let mut seen = HashSet::new();
        self.tokens(text)
            .filter(|(_, t)| terms.contains(t.as_str()))
            .filter_map(|(w, _)| seen.insert(w).then(|| w.to_string()))
            .collect()
    }
}

/// `word` stemmed, or as it is if the stemmer fails: rust-stemmers' Snowball code can panic
/// on some inputs (its Greek stemmer slices out of bounds, snowballstem/snowball#204), and text
/// from a user must never take a search or an ingestion down.
fn stem(stemmer: &Stemmer, word: String) -> String {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        stemmer.stem(&word).into_owned()
    })) {
        Ok(stemmed) => stemmed,
        Err(_) => word,
    }
}

/// Term frequencies of `terms`, in first-occurrence order.
fn frequencies(terms: &[String]) -> Vec<(&str, u32)> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut out: Vec<(&str, u32)> = Vec::new();
    for t in terms {
        match index.get(t.as_str()) {
            Some(&i) => out[i].1 += 1,
            None => {
                index.insert(t, out.len());
                out.push((t, 1));
            }
        }
    }
    out
}

/// Adds to `batch` chunk `chunk_id`'s term list (its length in terms, each distinct term with
/// its frequency: what its postings are made of, in memory, and what its removal reads), and to
/// `delta` its postings for memory; returns its length in terms.
pub(crate) fn add_chunk(
    batch: &mut WriteBatch,
    delta: &mut Delta,
    generation: GenerationId,
    chunk_id: u64,
    terms: &[String],
) -> u64 {
    let len = terms.len() as u32;
    let freqs = frequencies(terms);
    let mut list = Vec::with_capacity(4 + freqs.iter().map(|(t, _)| t.len() + 6).sum::<usize>());
    list.extend_from_slice(&len.to_le_bytes());
    for &(term, tf) in &freqs {
        list.extend_from_slice(&tf.to_le_bytes());
        list.extend_from_slice(&(term.len() as u16).to_le_bytes());
        list.extend_from_slice(term.as_bytes());
    }
    batch.put(keys::chunk_terms(generation, chunk_id), list);
    let freqs = freqs.into_iter().map(|(t, tf)| (t.to_string(), tf));
    delta.add(chunk_id, len, freqs.collect());
    u64::from(len)
}

/// Adds to `batch` the removal of chunk `chunk_id`'s term list, and to `delta` the removal of
/// its postings from memory; returns its length in terms (0 for a chunk that has none).
pub(crate) fn remove_chunk(
    store: &dyn Store,
    batch: &mut WriteBatch,
    delta: &mut Delta,
    generation: GenerationId,
    chunk_id: u64,
) -> Result<u64> {
    let key = keys::chunk_terms(generation, chunk_id);
    let Some(list) = store.get(&key)? else {
        return Ok(0);
    };
    let (len, terms) = term_list(chunk_id, &list)?;
    batch.delete(key);
    delta.remove(
        chunk_id,
        terms.into_iter().map(|(t, _)| t.to_string()).collect(),
    );
    Ok(u64::from(len))
}

/// Decodes a chunk's stored term list: its length in terms and each distinct term with its
/// frequency.
fn term_list(chunk_id: u64, list: &[u8]) -> Result<(u32, Vec<(&str, u32)>)> {
    let bad = || Error::corrupt(format!("term list of chunk {chunk_id} is malformed"));
    let len = u32::from_le_bytes(
        list.get(..4)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?,
    );
    let mut rest = &list[4..];
    let mut terms = Vec::new();
    while !rest.is_empty() {
        let tf = u32::from_le_bytes(
            rest.get(..4)
                .ok_or_else(bad)?
                .try_into()
                .map_err(|_| bad())?,
        );
        let n = u16::from_le_bytes(
            rest.get(4..6)
                .ok_or_else(bad)?
                .try_into()
                .map_err(|_| bad())?,
        ) as usize;
        let term = rest.get(6..6 + n).ok_or_else(bad)?;
        terms.push((std::str::from_utf8(term).map_err(|_| bad())?, tf));
        rest = &rest[6 + n..];
    }
    Ok((len, terms))
}

/// Checks generation `generation`'s keyword index against its chunks (`chunks`: the ids of its
/// chunk records): every chunk has a well-formed term list and no list belongs to anything
/// else (the postings are made of the lists, in memory). Reports each problem to `report`;
/// returns the total length in terms.
pub(crate) fn verify(
    store: &dyn Store,
    generation: GenerationId,
    chunks: &std::collections::BTreeSet<u64>,
    report: &mut dyn FnMut(String),
) -> Result<u64> {
    let mut total = 0u64;
    let mut listed = std::collections::BTreeSet::new();
    for entry in store.scan_prefix(&keys::in_generation(keys::CHUNK_TERMS, generation)) {
        let (k, v) = entry?;
        let Some(id) = keys::chunk_id_of(&k) else {
            report(format!("malformed term-list key {}", keys::hex(&k)));
            continue;
        };
        if !chunks.contains(&id) {
            report(format!("term list of chunk {id}, which does not exist"));
        }
        match term_list(id, &v) {
            Ok((len, _)) => total += u64::from(len),
            Err(e) => report(e.to_string()),
        }
        listed.insert(id);
    }
    for id in chunks.difference(&listed) {
        report(format!("chunk {id} has no keyword term list"));
    }
    if let Some(entry) = store
        .scan_prefix(&keys::in_generation(keys::POSTING, generation))
        .next()
    {
        report(format!(
            "stored posting {} left from format 4",
            keys::hex(&entry?.0)
        ));
    }
    Ok(total)
}

/// What BM25 needs to know of a generation besides its postings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Corpus {
    /// Chunks indexed.
    pub(crate) chunks: u64,
    /// Their total length in terms.
    pub(crate) terms: u64,
}

/// Distinct query terms a query scores at most: a longer query (a pasted paragraph) keeps its
/// rarest terms, which carry nearly all of its BM25 (a term in many chunks has a small IDF),
/// so that its cost stays near a short query's.
pub(crate) const MAX_QUERY_TERMS: usize = 32;

/// The distinct terms of `terms` to score: all of them, or for a query of more than
/// [`MAX_QUERY_TERMS`] the rarest that occur at all.
fn query_terms<'t>(postings: &Postings, terms: &'t [String]) -> Vec<&'t str> {
    let mut distinct: Vec<&str> = terms.iter().map(String::as_str).collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() <= MAX_QUERY_TERMS {
        return distinct;
    }
    let mut counted: Vec<(usize, &str)> = distinct
        .into_iter()
        .map(|t| (postings.list(t).len(), t))
        .filter(|&(df, _)| df > 0)
        .collect();
    counted.sort_unstable();
    counted
        .into_iter()
        .take(MAX_QUERY_TERMS)
        .map(|(_, t)| t)
        .collect()
}

/// The BM25 scores of the chunks in `postings` that contain any of `terms` (and are in `allow`,
/// when given), best first, at most `k`; ties by chunk id.
pub(crate) fn search(
    postings: &Postings,
    corpus: Corpus,
    config: &KeywordConfig,
    terms: &[String],
    k: usize,
    allow: Option<&ChunkSet>,
) -> Vec<(u64, f32)> {
    if corpus.chunks == 0 || k == 0 {
        return Vec::new();
    }
    let n = corpus.chunks as f64;
    let avg = (corpus.terms as f64 / n).max(f64::MIN_POSITIVE);
    let (k1, b) = (f64::from(config.k1), f64::from(config.b));
    let mut scores: foldhash::HashMap<u64, f64> = foldhash::HashMapExt::new();
    for term in query_terms(postings, terms) {
        let list = postings.list(term);
        let df = list.len() as f64;
        let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
        for p in list {
            if allow.is_some_and(|f| !f.contains(p.chunk)) {
                continue;
            }
            let (tf, len) = (f64::from(p.tf), f64::from(p.len));
            let norm = k1 * (1.0 - b + b * len / avg);
            *scores.entry(p.chunk).or_default() += idf * tf / (tf + norm);
        }
    }
    let mut out: Vec<(u64, f32)> = scores.into_iter().map(|(id, s)| (id, s as f32)).collect();
    crate::search::keep_best(&mut out, k, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn english() -> Analyzer {
        Analyzer::new(&KeywordConfig::default()).unwrap()
    }

    #[test]
    fn english_analysis_segments_lowercases_drops_stopwords_and_stems() {
        let a = english();
        assert_eq!(
            a.terms("The Indexing of running processes, with os.path.join() and don't!"),
            ["index", "run", "process", "os", "path", "join", "don"]
        );
        // Non-Latin scripts are segmented and lowercased too.
        assert_eq!(a.terms("Ελληνικά ΚΕΙΜΕΝΑ"), ["ελληνικά", "κειμενα"]);
        let none = Analyzer::new(&KeywordConfig::language("none")).unwrap();
        assert_eq!(none.terms("The Running"), ["the", "running"]);
    }

    #[test]
    fn overlong_words_are_not_terms_and_a_failing_stemmer_keeps_the_word() {
        let a = english();
        let long = "a".repeat(MAX_TERM_BYTES + 1);
        assert_eq!(a.terms(&format!("short {long} words")), ["short", "word"]);
        // rust-stemmers' Greek stemmer panics on this word; the word is kept as it is.
        let greek = Analyzer::new(&KeywordConfig::language("greek")).unwrap();
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let terms = greek.terms("ισαισα");
        std::panic::set_hook(prev);
        assert_eq!(terms.len(), 1);
    }

    #[test]
    fn matching_words_are_the_surface_forms() {
        let a = english();
        let terms: HashSet<&str> = ["index", "run"].into_iter().collect();
        assert_eq!(
            a.matching_words("Indexes run; running the index.", &terms),
            ["Indexes", "run", "running", "index"]
        );
    }

    #[test]
    fn settings_are_validated() {
        assert!(KeywordConfig::default().validate().is_ok());
        assert!(KeywordConfig::language("German").validate().is_ok());
        let e = KeywordConfig::language("klingon").validate().unwrap_err();
        assert_eq!(e.code(), crate::ErrorCode::InvalidArgument);
        assert!(
            KeywordConfig::default()
                .with_bm25(-1.0, 0.5)
                .validate()
                .is_err()
        );
        assert!(
            KeywordConfig::default()
                .with_bm25(1.2, 1.5)
                .validate()
                .is_err()
        );
    }
}
