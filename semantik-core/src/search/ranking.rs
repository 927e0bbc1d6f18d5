//! From raw scores to what a user sees: documents ranked from their chunks, and every mode's
//! final score mapped to [0, 1].
//!
//! **Document ranking** (a search with [`max_per_document`](super::Search::max_per_document)):
//! a document of `n` chunks has `n` chances to match a query by accident, so ranking documents
//! by their best chunk favours long ones. Each hit's raw score is lowered by `s_w E[max_n]`,
//! the expected maximum of `n` standard normal draws ([`expected_max`]) times `s_w`, the spread
//! of chunk scores within a document (pooled over the query's candidate documents that have
//! several candidate chunks). A one-chunk document is not lowered, so a corpus of short
//! documents ranks as before. `make eval` on pyfaq (nDCG@10 of hybrid search, same chunks):
//! best chunk 0.626, this correction 0.648 (the README lists the options measured).
//!
//! **Scores in [0, 1]**: semantic, `(cosine + 1) / 2` (inner product: its logistic; L2:
//! `1 / (1 + distance)`); keyword, BM25 over the query's best BM25 (the best match scores 1);
//! hybrid, the logistic of the fused standardised score (0.5: an average candidate, 0.73 one
//! standard deviation above the candidates' mean) or, for RRF, the fused score over its maximum;
//! reranked, the logistic of the reranker's score.

use std::collections::HashMap;

use super::{Fusion, Hit};
use crate::index::Metric;

/// How a mode's raw scores map to [0, 1].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Scale {
    /// Similarity under a metric.
    Dense(Metric),
    /// BM25, over the query's best BM25.
    Keyword { best: f32 },
    /// A fused score.
    Fused(Fusion),
    /// A reranker's score.
    Reranked,
}

impl Scale {
    /// `raw` mapped to [0, 1], monotonically.
    pub(crate) fn unit(self, raw: f32) -> f32 {
        let unit = match self {
            Scale::Dense(Metric::Cosine) => (raw + 1.0) / 2.0,
            Scale::Dense(Metric::Dot) | Scale::Reranked => logistic(raw),
            // The raw L2 score is the negated distance.
            Scale::Dense(Metric::L2) => 1.0 / (1.0 - raw.min(0.0)),
            Scale::Keyword { best } if best > 0.0 => raw / best,
            Scale::Keyword { .. } => 0.0,
            Scale::Fused(Fusion::Rrf { k }) => raw * (k + 1.0) / 2.0,
            Scale::Fused(Fusion::Weighted { .. } | Fusion::Adaptive { .. }) => logistic(raw),
        };
        if unit.is_nan() {
            0.0
        } else {
            unit.clamp(0.0, 1.0)
        }
    }
}

fn logistic(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// `E[max]` of `n` independent standard normal draws, for `n` = 1..=16 (Simpson integration).
const EXPECTED_MAX: [f32; 16] = [
    0.0, 0.5642, 0.8463, 1.0294, 1.1630, 1.2672, 1.3522, 1.4236, 1.4850, 1.5388, 1.5864, 1.6292,
    1.6680, 1.7034, 1.7359, 1.7660,
];

/// The expected maximum of `n` independent standard normal draws (0 for `n` <= 1; beyond 16
/// it grows as `sqrt(2 ln n)`).
pub(crate) fn expected_max(n: u32) -> f32 {
    match n {
        0 | 1 => 0.0,
        n if n as usize <= EXPECTED_MAX.len() => EXPECTED_MAX[n as usize - 1],
        n => {
            let grow = |m: f32| (2.0 * m.ln()).sqrt();
            EXPECTED_MAX[15] + grow(n as f32) - grow(16.0)
        }
    }
}

/// The pooled standard deviation of raw scores within documents, over the documents of `hits`
/// that have two hits or more (0 when none has).
fn within_document_spread(hits: &[Hit]) -> f32 {
    let mut per_doc: HashMap<&str, Vec<f32>> = HashMap::new();
    for h in hits {
        per_doc.entry(&h.document_id).or_default().push(h.score);
    }
    let (mut sum, mut dof) = (0.0f64, 0usize);
    for scores in per_doc.values().filter(|s| s.len() > 1) {
        let mean = scores.iter().map(|&s| f64::from(s)).sum::<f64>() / scores.len() as f64;
        sum += scores
            .iter()
            .map(|&s| (f64::from(s) - mean).powi(2))
            .sum::<f64>();
        dof += scores.len() - 1;
    }
    if dof == 0 {
        0.0
    } else {
        (sum / dof as f64).sqrt() as f32
    }
}

/// Ranks the documents of `hits` (raw scores, any order): each hit's score lowered by its
/// document's length correction, best first, at most `per_document` hits of each document.
pub(crate) fn by_document(hits: &mut Vec<Hit>, per_document: usize) {
    let spread = within_document_spread(hits);
    for h in hits.iter_mut() {
        h.score -= spread * expected_max(h.document_chunks);
    }
    sort(hits);
    let mut taken: HashMap<String, usize> = HashMap::new();
    hits.retain(|h| {
        let n = taken.entry(h.document_id.clone()).or_default();
        *n += 1;
        *n <= per_document
    });
}

/// Best first; ties by chunk id, so that pages of an unchanged collection are stable.
pub(crate) fn sort(hits: &mut [Hit]) {
    hits.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.collection.cmp(&b.collection))
            .then(a.chunk_id.cmp(&b.chunk_id))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_max_grows_from_zero_and_matches_known_values() {
        assert_eq!(expected_max(1), 0.0);
        // E[max of 2] = 1 / sqrt(pi).
        assert!((expected_max(2) - 1.0 / std::f32::consts::PI.sqrt()).abs() < 1e-3);
        let seq: Vec<f32> = (1..200).map(expected_max).collect();
        assert!(seq.windows(2).all(|w| w[1] >= w[0]));
        // n = 64 by integration: 2.3437.
        assert!((expected_max(64) - 2.3437).abs() < 0.06);
    }

    #[test]
    fn every_scale_maps_into_the_unit_interval_monotonically() {
        let scales = [
            Scale::Dense(Metric::Cosine),
            Scale::Dense(Metric::Dot),
            Scale::Dense(Metric::L2),
            Scale::Keyword { best: 12.5 },
            Scale::Fused(Fusion::default()),
            Scale::Fused(Fusion::Rrf { k: 60.0 }),
            Scale::Reranked,
        ];
        let raws = [
            -40.0, -3.0, -1.0, -0.2, 0.0, 0.01, 0.4, 1.0, 2.5, 12.5, 80.0,
        ];
        for s in scales {
            let units: Vec<f32> = raws.iter().map(|&r| s.unit(r)).collect();
            assert!(
                units.iter().all(|u| (0.0..=1.0).contains(u)),
                "{s:?} {units:?}"
            );
            assert!(units.windows(2).all(|w| w[1] >= w[0]), "{s:?} {units:?}");
        }
        assert_eq!(Scale::Keyword { best: 12.5 }.unit(12.5), 1.0);
        assert_eq!(Scale::Dense(Metric::Cosine).unit(1.0), 1.0);
        assert!((Scale::Fused(Fusion::Rrf { k: 60.0 }).unit(2.0 / 61.0) - 1.0).abs() < 1e-6);
        assert_eq!(Scale::Reranked.unit(f32::NAN), 0.0);
    }
}
