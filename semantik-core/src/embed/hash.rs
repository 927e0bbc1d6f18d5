//! A deterministic embedder for tests: feature hashing of lower-cased words and word pairs.
//!
//! Texts that share words get similar vectors, so search behaves plausibly, but this is not a
//! language model. It exists for unit tests, examples and bindings' smoke tests only.

use super::{Embedder, normalize};
use crate::error::Result;

/// The test embedder. Its model name is `semantik-test/hash-<dimension>`.
///
/// ```
/// use semantik_core::embed::{Embedder, HashEmbedder};
/// let e = HashEmbedder::new(16);
/// assert_eq!(e.model_name(), "semantik-test/hash-16");
/// let v = e.embed(&["hello world"]).unwrap();
/// assert_eq!(v[0].len(), 16);
/// ```
#[derive(Debug, Clone)]
pub struct HashEmbedder {
    dimension: usize,
    name: String,
}

impl HashEmbedder {
    /// A test embedder of `dimension` (at least 1).
    pub fn new(dimension: usize) -> Self {
        let dimension = dimension.max(1);
        HashEmbedder {
            dimension,
            name: format!("semantik-test/hash-{dimension}"),
        }
    }

    /// The dimension named by a `semantik-test/hash-<dimension>` model name.
    pub(crate) fn parse_name(model: &str) -> Option<usize> {
        let dim: usize = model.strip_prefix("semantik-test/hash-")?.parse().ok()?;
        (1..=65536).contains(&dim).then_some(dim)
    }

    fn add(&self, v: &mut [f32], feature: &str, weight: f32) {
        let h = blake3::hash(feature.as_bytes());
        let b = h.as_bytes();
        let idx =
            u64::from_le_bytes(b[0..8].try_into().expect("8 bytes")) as usize % self.dimension;
        let sign = if b[8] & 1 == 0 { 1.0 } else { -1.0 };
        v[idx] += sign * weight;
    }

    fn embed_one(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0.0; self.dimension];
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        for w in &words {
            self.add(&mut v, w, 1.0);
        }
        for pair in words.windows(2) {
            self.add(&mut v, &format!("{} {}", pair[0], pair[1]), 0.5);
        }
        normalize(&mut v);
        v
    }
}

impl Embedder for HashEmbedder {
    fn model_name(&self) -> &str {
        &self.name
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        Ok(texts.iter().map(|t| self.embed_one(t)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn deterministic_normalised_and_similar_for_shared_words() {
        let e = HashEmbedder::new(64);
        let v = e
            .embed(&["the quick brown fox", "quick brown foxes", "tax law", ""])
            .unwrap();
        assert_eq!(
            v,
            e.embed(&["the quick brown fox", "quick brown foxes", "tax law", ""])
                .unwrap()
        );
        assert!((dot(&v[0], &v[0]) - 1.0).abs() < 1e-5);
        assert!(dot(&v[0], &v[1]) > dot(&v[0], &v[2]));
        assert!(v[3].iter().all(|x| *x == 0.0));
    }

    #[test]
    fn names_parse() {
        assert_eq!(
            HashEmbedder::parse_name("semantik-test/hash-384"),
            Some(384)
        );
        assert_eq!(HashEmbedder::parse_name("semantik-test/hash-0"), None);
        assert_eq!(HashEmbedder::parse_name("other"), None);
    }
}
