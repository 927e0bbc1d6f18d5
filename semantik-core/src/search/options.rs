//! Search options as data: the one shape every binding, the CLI and the server read.
//!
//! [`SearchOptions`] holds what a search takes besides its query and its reranker (a model or a
//! callback, which each binding makes its own way); it deserializes from JSON (or any serde
//! format) and an unknown key is an error that names it. [`Filter`] has one JSON shape, and a
//! shorthand for metadata conditions alone:
//!
//! ```json
//! {"source_under": "/docs/howto", "media_type": "text/html" or ["text/html", "text/plain"],
//!  "metadata_eq": {"lang": "en"}, "metadata_range": {"year": {"min": 2020, "max": 2024}}}
//! ```
//!
//! A JSON object none of whose keys is one of those four is the shorthand: each key is a
//! metadata field, each value the value it must equal, or `{"min": .., "max": ..}` (either
//! bound may be left out) for a numeric range: `{"lang": "en", "year": {"min": 2020}}`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Condition, DEFAULT_LIMIT, DEFAULT_RERANK_MULTIPLIER, Filter, Fusion, SearchMode};
use crate::error::{Error, Result};

/// The rank offset of [`Fusion::Rrf`] when none is given (the usual choice).
pub const DEFAULT_RRF_K: f32 = 60.0;

/// The dense side's weight of [`Fusion::Weighted`] and [`Fusion::Adaptive`] when none is given.
pub const DEFAULT_FUSION_ALPHA: f32 = 0.7;

/// Everything a search takes besides its query and its reranker.
///
/// ```
/// use semantik_core::search::{SearchOptions, SearchMode};
/// let o = SearchOptions::from_json(
///     r#"{"mode": "keyword", "limit": 3, "filter": {"lang": "en"}}"#,
/// )?;
/// assert_eq!((o.mode, o.limit), (Some(SearchMode::Keyword), 3));
/// let e = SearchOptions::from_json(r#"{"limt": 3}"#).unwrap_err();
/// assert!(e.to_string().contains("limt"));
/// # Ok::<(), semantik_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SearchOptions {
    /// How candidates are found; `None`: [`SearchMode::default`] (hybrid) for a text query,
    /// semantic for a search by vector.
    pub mode: Option<SearchMode>,
    /// At most this many hits (default [`DEFAULT_LIMIT`]; at least 1).
    pub limit: usize,
    /// Hits skipped first, for paging (see [`Search::offset`](super::Search::offset)).
    pub offset: usize,
    /// How a hybrid search merges its two lists: `"adaptive"` (the default), `"rrf"`,
    /// `"weighted"`, or with parameters: `{"rrf": {"k": 20}}`, `{"weighted": {"alpha": 0.5}}`.
    pub fusion: Fusion,
    /// Which documents may be returned (the module's JSON shape).
    #[serde(skip_serializing_if = "Filter::is_empty")]
    pub filter: Filter,
    /// Only hits whose final score is at least this.
    pub score_threshold: Option<f32>,
    /// The HNSW beam width; `None`: the collection's.
    pub ef: Option<usize>,
    /// Scores every vector instead of walking the graph.
    pub exact: bool,
    /// How many candidates a reranker sees, as a multiple of `offset + limit` (default
    /// [`DEFAULT_RERANK_MULTIPLIER`]).
    pub rerank_multiplier: usize,
    /// At most this many hits per document, documents ranked by their best passage (see
    /// [`Search::max_per_document`](super::Search::max_per_document)); `None`: chunks ranked
    /// on their own.
    pub max_per_document: Option<usize>,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            mode: None,
            limit: DEFAULT_LIMIT,
            offset: 0,
            fusion: Fusion::default(),
            filter: Filter::default(),
            score_threshold: None,
            ef: None,
            exact: false,
            rerank_multiplier: DEFAULT_RERANK_MULTIPLIER,
            max_per_document: None,
        }
    }
}

impl SearchOptions {
    /// Reads options from JSON; keys left out keep their defaults.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the key for an unknown key or a value of the wrong
    /// kind, and for settings out of range (a limit of 0, a fusion's `k` or `alpha`).
    pub fn from_json(json: &str) -> Result<Self> {
        let options: SearchOptions = serde_json::from_str(json)
            .map_err(|e| Error::invalid(format!("search options: {e}")))?;
        options.validate()?;
        Ok(options)
    }

    /// Checks the settings: a limit and a `max_per_document` of at least 1, a valid fusion.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] saying which setting is out of range.
    pub fn validate(&self) -> Result<()> {
        if self.limit == 0 {
            return Err(Error::invalid("limit must be at least 1"));
        }
        if self.max_per_document == Some(0) {
            return Err(Error::invalid("max_per_document must be at least 1"));
        }
        self.fusion.validate()
    }

    /// The mode of a search by text (`vector` false) or by vector.
    pub(crate) fn mode_for(&self, vector: bool) -> SearchMode {
        match (self.mode, vector) {
            (Some(m), _) => m,
            (None, false) => SearchMode::default(),
            (None, true) => SearchMode::Semantic,
        }
    }
}

/// A numeric range of the filter's JSON.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max: Option<f64>,
}

/// The filter's JSON shape.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilterJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source_under: Option<PathBuf>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "one_or_many"
    )]
    media_type: Vec<String>,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    metadata_eq: serde_json::Map<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    metadata_range: BTreeMap<String, RangeJson>,
}

/// The keys of the filter's JSON shape: an object with none of them is the shorthand.
const FILTER_KEYS: [&str; 4] = [
    "source_under",
    "media_type",
    "metadata_eq",
    "metadata_range",
];

/// `"text/html"` or `["text/html", ...]`.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    let wrong = || D::Error::custom("media_type: a string or a list of strings");
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(m) => Ok(vec![m]),
        serde_json::Value::Array(ms) => ms
            .into_iter()
            .map(|m| match m {
                serde_json::Value::String(m) => Ok(m),
                _ => Err(wrong()),
            })
            .collect(),
        _ => Err(wrong()),
    }
}

impl Filter {
    /// Reads a filter from JSON: the module's shape, or its shorthand.
    ///
    /// ```
    /// use semantik_core::search::Filter;
    /// let long = Filter::from_json(r#"{"metadata_eq": {"lang": "en"},
    ///                                  "metadata_range": {"year": {"min": 2020}}}"#)?;
    /// let short = Filter::from_json(r#"{"lang": "en", "year": {"min": 2020}}"#)?;
    /// assert_eq!(long, short);
    /// assert_eq!(long, Filter::new().metadata_eq("lang", "en").metadata_range("year", Some(2020.0), None));
    /// assert!(Filter::from_json(r#"{"source_under": "/d", "metadata": {}}"#).is_err());
    /// # Ok::<(), semantik_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the key for an unknown key (beside one of the shape's)
    /// or a value of the wrong kind.
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| Error::invalid(format!("filter: {e}")))
    }
}

impl<'de> Deserialize<'de> for Filter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let object = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        let shaped = object.is_empty() || object.keys().any(|k| FILTER_KEYS.contains(&k.as_str()));
        let json = if shaped {
            FilterJson::deserialize(serde_json::Value::Object(object)).map_err(D::Error::custom)?
        } else {
            let mut json = FilterJson::default();
            for (key, value) in object {
                match range_of(&value) {
                    Some(range) => {
                        let range = RangeJson::deserialize(range)
                            .map_err(|e| D::Error::custom(format!("{key}: {e}")))?;
                        json.metadata_range.insert(key, range);
                    }
                    None => {
                        json.metadata_eq.insert(key, value);
                    }
                }
            }
            json
        };
        let mut filter = Filter::new();
        if let Some(p) = json.source_under {
            filter = filter.source_under(p);
        }
        for m in json.media_type {
            filter = filter.media_type(m);
        }
        for (k, v) in json.metadata_eq {
            filter = filter.metadata_eq(k, v);
        }
        for (k, r) in json.metadata_range {
            filter = filter.metadata_range(k, r.min, r.max);
        }
        Ok(filter)
    }
}

/// A shorthand value that is a range: an object of `min` and/or `max` only.
fn range_of(value: &serde_json::Value) -> Option<&serde_json::Value> {
    match value {
        serde_json::Value::Object(o)
            if !o.is_empty() && o.keys().all(|k| k == "min" || k == "max") =>
        {
            Some(value)
        }
        _ => None,
    }
}

impl Serialize for Filter {
    /// In the module's shape (two conditions of one kind on one field: the last).
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut json = FilterJson {
            source_under: self.source_prefix.clone(),
            media_type: self.media_types.clone(),
            ..FilterJson::default()
        };
        for (key, condition) in &self.metadata {
            match condition {
                Condition::Equals(v) => {
                    json.metadata_eq.insert(key.clone(), v.clone());
                }
                Condition::Range(min, max) => {
                    json.metadata_range.insert(
                        key.clone(),
                        RangeJson {
                            min: *min,
                            max: *max,
                        },
                    );
                }
            }
        }
        json.serialize(s)
    }
}

/// A fusion by name (`"rrf"`, with its default parameter) or with parameters.
#[derive(Deserialize)]
#[serde(untagged)]
enum FusionJson {
    Name(String),
    Tagged(FusionTagged),
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum FusionTagged {
    Rrf {
        #[serde(default = "default_k")]
        k: f32,
    },
    Weighted {
        #[serde(default = "default_alpha")]
        alpha: f32,
    },
    Adaptive {
        #[serde(default = "default_alpha")]
        alpha: f32,
    },
}

fn default_k() -> f32 {
    DEFAULT_RRF_K
}

fn default_alpha() -> f32 {
    DEFAULT_FUSION_ALPHA
}

impl<'de> Deserialize<'de> for Fusion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        let tagged = match FusionJson::deserialize(&value) {
            Ok(FusionJson::Name(name)) => FusionTagged::deserialize(
                serde_json::json!({ name.as_str(): {} }),
            )
            .map_err(|_| {
                D::Error::custom(format!(
                    "fusion {name:?} is not one of adaptive, rrf, weighted"
                ))
            })?,
            Ok(FusionJson::Tagged(t)) => t,
            // Again, for serde's own message (which names the unknown key).
            Err(_) => FusionTagged::deserialize(value).map_err(D::Error::custom)?,
        };
        Ok(match tagged {
            FusionTagged::Rrf { k } => Fusion::Rrf { k },
            FusionTagged::Weighted { alpha } => Fusion::Weighted { alpha },
            FusionTagged::Adaptive { alpha } => Fusion::Adaptive { alpha },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_round_trip_and_name_unknown_keys() {
        let o = SearchOptions {
            mode: Some(SearchMode::Hybrid),
            limit: 4,
            offset: 2,
            fusion: Fusion::Rrf { k: 20.0 },
            filter: Filter::new()
                .source_under("/d")
                .media_type("text/html")
                .metadata_eq("lang", "en")
                .metadata_range("year", Some(2020.0), None),
            score_threshold: Some(0.5),
            ef: Some(80),
            exact: true,
            rerank_multiplier: 3,
            max_per_document: Some(2),
        };
        let json = serde_json::to_string(&o).unwrap();
        assert_eq!(SearchOptions::from_json(&json).unwrap(), o);
        assert_eq!(
            SearchOptions::from_json("{}").unwrap(),
            SearchOptions::default()
        );
        for (json, names) in [
            (r#"{"limits": 1}"#, "limits"),
            (
                r#"{"filter": {"source_under": "/d", "metadata": {}}}"#,
                "metadata",
            ),
            (r#"{"fusion": {"rrf": {"kk": 1}}}"#, "kk"),
            (r#"{"fusion": "borda"}"#, "borda"),
            (r#"{"mode": "dense"}"#, "dense"),
            (r#"{"filter": {"year": {"min": "x"}}}"#, "year"),
            (r#"{"limit": 0}"#, "limit"),
            (r#"{"filter": {"media_type": 3}}"#, "media_type"),
        ] {
            let e = SearchOptions::from_json(json).unwrap_err();
            assert_eq!(e.code(), crate::ErrorCode::InvalidArgument);
            assert!(e.to_string().contains(names), "{json}: {e}");
        }
    }

    #[test]
    fn fusion_by_name_takes_the_named_defaults() {
        let f = |json: &str| serde_json::from_str::<Fusion>(json).unwrap();
        assert_eq!(f(r#""rrf""#), Fusion::Rrf { k: DEFAULT_RRF_K });
        assert_eq!(
            f(r#""weighted""#),
            Fusion::Weighted {
                alpha: DEFAULT_FUSION_ALPHA
            }
        );
        assert_eq!(f(r#""adaptive""#), Fusion::default());
        assert_eq!(
            f(r#"{"weighted": {"alpha": 0.25}}"#),
            Fusion::Weighted { alpha: 0.25 }
        );
        // The serialized form reads back.
        let w = Fusion::Weighted { alpha: 0.25 };
        assert_eq!(f(&serde_json::to_string(&w).unwrap()), w);
    }

    #[test]
    fn a_filter_key_beside_the_shape_is_an_error_not_a_metadata_field() {
        let e = Filter::from_json(r#"{"metadata_eq": {"a": 1}, "lang": "en"}"#).unwrap_err();
        assert!(e.to_string().contains("lang"), "{e}");
        // The shorthand's values may be anything but a min/max object.
        let f = Filter::from_json(r#"{"n": {"min": 1, "max": 2}, "o": {"x": 1}, "tags": ["a"]}"#)
            .unwrap();
        assert_eq!(
            f,
            Filter::new()
                .metadata_eq("o", serde_json::json!({"x": 1}))
                .metadata_eq("tags", serde_json::json!(["a"]))
                .metadata_range("n", Some(1.0), Some(2.0))
        );
    }
}
