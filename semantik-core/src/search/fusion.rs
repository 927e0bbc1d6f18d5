//! Merging the semantic and keyword lists of a hybrid search.

use serde::Serialize;

use super::{Candidate, Scores};

/// How a hybrid search merges its semantic and keyword candidates. It deserializes from a name
/// (`"rrf"`, with the named defaults) or with parameters (`{"rrf": {"k": 20}}`), as it
/// serializes.
///
/// Both lists are taken at least [`HYBRID_CANDIDATES`](super::HYBRID_CANDIDATES) deep, and every
/// candidate gets both of its scores, whichever list found it: the keyword score of any chunk
/// is known from the query's postings, and the dense score of a keyword-only candidate is
/// computed from its stored vector. So fusion never treats "not in the other list" as "worst".
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Fusion {
    /// Reciprocal rank fusion: `sum 1 / (k + rank)` over the two rankings of the candidates
    /// ([`DEFAULT_RRF_K`](super::DEFAULT_RRF_K) = 60 is the usual choice).
    Rrf {
        /// The rank offset.
        k: f32,
    },
    /// A convex combination of the standardised scores (z-scores over the candidates):
    /// `alpha dense + (1 - alpha) keyword`.
    Weighted {
        /// The weight of the dense score, 0 to 1.
        alpha: f32,
    },
    /// [`Fusion::Weighted`] with a weight chosen per query (the default, `alpha` 0.7): each
    /// side's weight is `alpha` (dense) or `1 - alpha` (keyword) times its confidence, how far
    /// its best score stands above its next best ones (`(top - mean) / std` of its top
    /// [`CONFIDENCE_DEPTH`] scores). A side whose best hit is no better than the rest (BM25
    /// matching only common words, a dense model out of its domain) counts little for that
    /// query; one with a clear winner (a rare identifier matched) counts more.
    Adaptive {
        /// The dense side's prior weight, 0 to 1.
        alpha: f32,
    },
}

/// How many of a side's best scores its confidence is measured on.
pub const CONFIDENCE_DEPTH: usize = 20;

impl Default for Fusion {
    fn default() -> Self {
        Fusion::Adaptive {
            alpha: super::DEFAULT_FUSION_ALPHA,
        }
    }
}

/// The two ranked lists of a hybrid search and the exact scores of any candidate.
pub(crate) struct Lists<'a> {
    /// Semantic candidates, best first.
    pub(crate) dense: &'a [(u64, f32)],
    /// Keyword candidates, best first.
    pub(crate) keyword: &'a [(u64, f32)],
    /// The BM25 score of a chunk (0 without the query's terms).
    pub(crate) keyword_of: &'a dyn Fn(u64) -> f32,
    /// The dense score of a chunk, when its vector is held.
    pub(crate) dense_of: &'a dyn Fn(u64) -> Option<f32>,
}

impl Fusion {
    /// Checks the parameters: `k` positive, `alpha` within 0..=1.
    pub(crate) fn validate(&self) -> crate::error::Result<()> {
        let ok = match *self {
            Fusion::Rrf { k } => k.is_finite() && k > 0.0,
            Fusion::Weighted { alpha } | Fusion::Adaptive { alpha } => (0.0..=1.0).contains(&alpha),
        };
        if ok {
            Ok(())
        } else {
            Err(crate::error::Error::invalid(format!(
                "fusion {self:?}: k must be a positive number, alpha between 0 and 1"
            )))
        }
    }

    /// Merges `lists` into candidates scored by this fusion (unsorted).
    pub(crate) fn fuse(&self, lists: &Lists<'_>) -> Vec<Candidate> {
        let mut ids: Vec<u64> = lists
            .dense
            .iter()
            .chain(lists.keyword)
            .map(|&(id, _)| id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let dense_known: std::collections::HashMap<u64, f32> =
            lists.dense.iter().copied().collect();
        let pairs: Vec<(u64, Option<f32>, f32)> = ids
            .into_iter()
            .map(|id| {
                let d = dense_known
                    .get(&id)
                    .copied()
                    .or_else(|| (lists.dense_of)(id));
                (id, d, (lists.keyword_of)(id))
            })
            .collect();
        let scores = match *self {
            Fusion::Rrf { k } => rrf(&pairs, k),
            Fusion::Weighted { alpha } => weighted(&pairs, alpha),
            Fusion::Adaptive { alpha } => adaptive(&pairs, alpha),
        };
        pairs
            .iter()
            .zip(scores)
            .map(|(&(id, d, kw), score)| Candidate {
                id,
                score,
                scores: Scores {
                    dense: d,
                    keyword: Some(kw),
                    rerank: None,
                },
            })
            .collect()
    }
}

/// 1-based ranks of `values` (higher is better; ties share the better rank; `None` last).
fn ranks(values: &[Option<f32>]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    let key = |i: usize| values[i].unwrap_or(f32::NEG_INFINITY);
    order.sort_by(|&a, &b| key(b).total_cmp(&key(a)));
    let mut out = vec![0; values.len()];
    let mut rank = 0;
    for (pos, &i) in order.iter().enumerate() {
        if pos == 0 || key(order[pos - 1]) != key(i) {
            rank = pos + 1;
        }
        out[i] = rank;
    }
    out
}

/// RRF over the candidates' two rankings.
pub(crate) fn rrf(pairs: &[(u64, Option<f32>, f32)], k: f32) -> Vec<f32> {
    let dense = ranks(&pairs.iter().map(|p| p.1).collect::<Vec<_>>());
    let keyword = ranks(&pairs.iter().map(|p| Some(p.2)).collect::<Vec<_>>());
    dense
        .iter()
        .zip(&keyword)
        .map(|(&d, &w)| 1.0 / (k + d as f32) + 1.0 / (k + w as f32))
        .collect()
}

/// Standardises `values` (z-scores; all equal: all 0); `None` counts as the minimum.
pub(crate) fn z_scores(values: &[Option<f32>]) -> Vec<f32> {
    let lo = values
        .iter()
        .flatten()
        .copied()
        .fold(f32::INFINITY, f32::min);
    let xs: Vec<f64> = values.iter().map(|v| f64::from(v.unwrap_or(lo))).collect();
    let z = standardiser(&xs);
    xs.iter().map(|&x| z(x)).collect()
}

/// How far the best of `values` stands above the others among the top `CONFIDENCE_DEPTH`:
/// `(top - mean) / std` (0 when they are all equal).
pub(crate) fn confidence(values: &[Option<f32>]) -> f32 {
    let mut top: Vec<f64> = values.iter().flatten().map(|&v| f64::from(v)).collect();
    top.sort_by(|a, b| b.total_cmp(a));
    top.truncate(CONFIDENCE_DEPTH);
    if top.len() < 2 {
        return 0.0;
    }
    standardiser(&top)(top[0])
}

/// The z-score of a value against the mean and (population) standard deviation of `xs`; 0
/// for every value when they are all equal.
fn standardiser(xs: &[f64]) -> impl Fn(f64) -> f32 {
    let n = xs.len().max(1) as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let std = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    move |x| {
        if std > 0.0 {
            ((x - mean) / std) as f32
        } else {
            0.0
        }
    }
}

/// The convex combination of the standardised scores with dense weight `alpha`.
pub(crate) fn weighted(pairs: &[(u64, Option<f32>, f32)], alpha: f32) -> Vec<f32> {
    let alpha = alpha.clamp(0.0, 1.0);
    let dense = z_scores(&pairs.iter().map(|p| p.1).collect::<Vec<_>>());
    let keyword = z_scores(&pairs.iter().map(|p| Some(p.2)).collect::<Vec<_>>());
    dense
        .iter()
        .zip(&keyword)
        .map(|(d, w)| alpha * d + (1.0 - alpha) * w)
        .collect()
}

/// The dense weight of [`Fusion::Adaptive`] for these candidates: the priors scaled by each
/// side's confidence (the prior itself when neither side has any).
pub(crate) fn adaptive_weight(pairs: &[(u64, Option<f32>, f32)], alpha: f32) -> f32 {
    let alpha = alpha.clamp(0.0, 1.0);
    let dense = alpha * confidence(&pairs.iter().map(|p| p.1).collect::<Vec<_>>());
    let keyword = (1.0 - alpha) * confidence(&pairs.iter().map(|p| Some(p.2)).collect::<Vec<_>>());
    if dense + keyword > 0.0 {
        dense / (dense + keyword)
    } else {
        alpha
    }
}

/// [`Fusion::Adaptive`].
pub(crate) fn adaptive(pairs: &[(u64, Option<f32>, f32)], alpha: f32) -> Vec<f32> {
    weighted(pairs, adaptive_weight(pairs, alpha))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_validated() {
        assert!(Fusion::default().validate().is_ok());
        assert!(Fusion::Rrf { k: 60.0 }.validate().is_ok());
        for bad in [
            Fusion::Rrf { k: 0.0 },
            Fusion::Rrf { k: f32::NAN },
            Fusion::Weighted { alpha: 1.5 },
            Fusion::Adaptive { alpha: f32::NAN },
        ] {
            assert_eq!(
                bad.validate().unwrap_err().code(),
                crate::ErrorCode::InvalidArgument
            );
        }
    }

    #[test]
    fn ranks_share_ties_and_put_unknown_last() {
        assert_eq!(
            ranks(&[Some(0.5), Some(0.9), None, Some(0.5)]),
            [2, 1, 4, 2]
        );
    }

    #[test]
    fn rrf_sums_reciprocal_ranks() {
        let pairs = [(1, Some(0.9), 0.0), (2, Some(0.1), 5.0)];
        let s = rrf(&pairs, 60.0);
        assert!((s[0] - (1.0 / 61.0 + 1.0 / 62.0)).abs() < 1e-7);
        assert!((s[1] - (1.0 / 62.0 + 1.0 / 61.0)).abs() < 1e-7);
    }

    #[test]
    fn z_scores_standardise() {
        let z = z_scores(&[Some(1.0), Some(2.0), Some(3.0)]);
        let s = (2.0f32 / 3.0).sqrt();
        assert!(
            (z[0] + 1.0 / s).abs() < 1e-5 && z[1].abs() < 1e-6 && (z[2] - 1.0 / s).abs() < 1e-5
        );
        assert_eq!(z_scores(&[Some(1.0), Some(1.0)]), [0.0, 0.0]);
        // Unknown counts as the minimum.
        assert_eq!(
            z_scores(&[Some(1.0), None, Some(3.0)])[1],
            z_scores(&[Some(1.0), None, Some(3.0)])[0]
        );
    }

    #[test]
    fn weighted_is_a_convex_combination_of_z_scores() {
        let pairs = [
            (1, Some(0.8), 0.0),
            (2, Some(0.4), 10.0),
            (3, Some(0.6), 5.0),
        ];
        let d = z_scores(&[Some(0.8), Some(0.4), Some(0.6)]);
        let k = z_scores(&[Some(0.0), Some(10.0), Some(5.0)]);
        let s = weighted(&pairs, 0.75);
        for i in 0..3 {
            assert!((s[i] - (0.75 * d[i] + 0.25 * k[i])).abs() < 1e-6);
        }
        assert_eq!(weighted(&pairs, 1.0), d);
    }

    #[test]
    fn confidence_measures_how_far_the_best_stands_out() {
        assert_eq!(confidence(&[Some(1.0), Some(1.0), Some(1.0)]), 0.0);
        assert_eq!(confidence(&[Some(1.0)]), 0.0);
        let flat = confidence(&[Some(1.0), Some(0.99), Some(0.98), Some(0.97)]);
        let peaked = confidence(&[Some(5.0), Some(0.99), Some(0.98), Some(0.97)]);
        assert!(peaked > flat);
        // (2 - 1) / 1 for [2, 0]: mean 1, std 1.
        assert!((confidence(&[Some(2.0), Some(0.0)]) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn adaptive_shifts_weight_to_the_confident_side() {
        // Keyword has one clear winner; dense scores are flat.
        let pairs: Vec<(u64, Option<f32>, f32)> = (0..20)
            .map(|i| {
                (
                    i,
                    Some(0.5 + 0.001 * i as f32),
                    if i == 3 { 12.0 } else { 1.0 },
                )
            })
            .collect();
        let w = adaptive_weight(&pairs, 0.7);
        assert!(w < 0.7, "{w}");
        let s = adaptive(&pairs, 0.7);
        let best = (0..20).max_by(|&a, &b| s[a].total_cmp(&s[b])).unwrap();
        assert_eq!(best, 3);
        // No keyword match at all: dense alone.
        let none: Vec<(u64, Option<f32>, f32)> = (0..5).map(|i| (i, Some(i as f32), 0.0)).collect();
        assert_eq!(adaptive_weight(&none, 0.7), 1.0);
        // Neither side has a confident hit: the prior.
        let flat: Vec<(u64, Option<f32>, f32)> = (0..5).map(|i| (i, Some(1.0), 1.0)).collect();
        assert_eq!(adaptive_weight(&flat, 0.7), 0.7);
    }

    #[test]
    fn fuse_fills_the_missing_score_of_each_side() {
        let dense = [(1, 0.9), (2, 0.5)];
        let keyword = [(3, 7.0)];
        let lists = Lists {
            dense: &dense,
            keyword: &keyword,
            keyword_of: &|id| {
                if id == 3 {
                    7.0
                } else if id == 2 {
                    1.0
                } else {
                    0.0
                }
            },
            dense_of: &|id| (id == 3).then_some(0.7),
        };
        let mut out = Fusion::Weighted { alpha: 0.5 }.fuse(&lists);
        out.sort_by_key(|c| c.id);
        assert_eq!(out.len(), 3);
        assert_eq!(out[2].scores.dense, Some(0.7));
        assert_eq!(out[1].scores.keyword, Some(1.0));
        // 3 is second on dense (0.7) and first on keyword: it beats 1 (first on dense only).
        assert!(out[2].score > out[0].score);
    }
}
