//! A generation's postings in memory, for searching without reading storage.
//!
//! Storage stays the source of truth: the postings are read from it on a generation's first
//! keyword search and then kept in step with each write, which records what it changes in a
//! [`Delta`] applied once its batch is stored. Applying is idempotent (adding a chunk's posting
//! that is present replaces it; removing one that is absent does nothing), so a load that
//! overlaps a write, scanning part of it, still ends exact once the write's delta is applied.

use foldhash::{HashMap, HashMapExt};

use crate::error::{Error, Result};
use crate::generation::GenerationId;
use crate::storage::{Store, keys};

use super::term_list;

/// One chunk in a term's list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Posting {
    pub(super) chunk: u64,
    /// Occurrences of the term in the chunk.
    pub(super) tf: u32,
    /// The chunk's length in terms.
    pub(super) len: u32,
}

/// Every term's postings, each list ordered by chunk id.
#[derive(Debug, Default)]
pub(crate) struct Postings {
    terms: HashMap<Box<str>, Vec<Posting>>,
}

/// What a write changes in a generation's postings.
#[derive(Debug, Default)]
pub(crate) struct Delta {
    /// Chunks removed, with their distinct terms.
    removed: Vec<(u64, Vec<String>)>,
    /// Chunks added.
    added: Vec<Added>,
}

/// A chunk added: its id, its length in terms, its distinct terms with their frequencies.
#[derive(Debug)]
struct Added {
    chunk: u64,
    len: u32,
    terms: Vec<(String, u32)>,
}

impl Delta {
    pub(super) fn remove(&mut self, chunk: u64, terms: Vec<String>) {
        self.removed.push((chunk, terms));
    }

    pub(super) fn add(&mut self, chunk: u64, len: u32, terms: Vec<(String, u32)>) {
        self.added.push(Added { chunk, len, terms });
    }
}

impl Postings {
    /// Builds generation `generation`'s postings from its chunks' stored term lists.
    ///
    /// # Errors
    /// Storage errors; [`Error::Corrupt`] for a malformed term list.
    pub(crate) fn load(store: &dyn Store, generation: GenerationId) -> Result<Postings> {
        let mut terms: HashMap<Box<str>, Vec<Posting>> = HashMap::new();
        // Term lists come ordered by chunk id: each posting list is filled in order.
        for entry in store.scan_prefix(&keys::in_generation(keys::CHUNK_TERMS, generation)) {
            let (key, value) = entry?;
            let chunk = keys::chunk_id_of(&key).ok_or_else(|| {
                Error::corrupt(format!("term-list key {} is malformed", keys::hex(&key)))
            })?;
            let (len, list) = term_list(chunk, &value)?;
            for (term, tf) in list {
                let posting = Posting { chunk, tf, len };
                match terms.get_mut(term) {
                    Some(postings) => postings.push(posting),
                    None => {
                        terms.insert(term.into(), vec![posting]);
                    }
                }
            }
        }
        Ok(Postings { terms })
    }

    /// Applies what a stored write changed.
    pub(crate) fn apply(&mut self, delta: &Delta) {
        for (chunk, terms) in &delta.removed {
            for term in terms {
                if let Some(list) = self.terms.get_mut(term.as_str()) {
                    if let Ok(at) = list.binary_search_by_key(chunk, |p| p.chunk) {
                        list.remove(at);
                    }
                    if list.is_empty() {
                        self.terms.remove(term.as_str());
                    }
                }
            }
        }
        for Added { chunk, len, terms } in &delta.added {
            for (term, tf) in terms {
                let posting = Posting {
                    chunk: *chunk,
                    tf: *tf,
                    len: *len,
                };
                let list = self.terms.entry(term.as_str().into()).or_default();
                match list.binary_search_by_key(chunk, |p| p.chunk) {
                    Ok(at) => list[at] = posting,
                    Err(at) => list.insert(at, posting),
                }
            }
        }
    }

    /// The postings of `term`, by chunk id (empty for a term no chunk has).
    pub(super) fn list(&self, term: &str) -> &[Posting] {
        self.terms.get(term).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::WriteBatch;
    use crate::storage::mem_store::MemStore;

    fn chunk(
        batch: &mut WriteBatch,
        delta: &mut Delta,
        generation: GenerationId,
        id: u64,
        text: &str,
    ) {
        let terms: Vec<String> = text.split(' ').map(str::to_string).collect();
        super::super::add_chunk(batch, delta, generation, id, &terms);
    }

    fn lists(p: &Postings) -> Vec<(String, Vec<Posting>)> {
        let mut out: Vec<_> = p
            .terms
            .iter()
            .map(|(t, l)| (t.to_string(), l.clone()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Kept in step by deltas, the postings equal a fresh load after every write, and applying
    /// a delta twice (a load that already saw its write) changes nothing.
    #[test]
    fn deltas_keep_the_postings_equal_to_storage() {
        let store = MemStore::default();
        let generation = GenerationId(uuid::Uuid::from_u128(7));
        let other = GenerationId(uuid::Uuid::from_u128(8));
        let mut memory = Postings::load(&store, generation).unwrap();
        // Each write: the chunks it removes, the chunks it adds.
        type Write<'a> = (&'a [u64], &'a [(u64, &'a str)]);
        let writes: [Write; 3] = [
            (&[], &[(0, "sled stores data"), (1, "data data page")]),
            (&[0], &[(2, "page stores sled"), (3, "alone")]),
            (&[1, 3], &[(4, "data")]),
        ];
        for (removed, added) in writes {
            let (mut batch, mut delta) = (WriteBatch::new(), Delta::default());
            for &c in removed {
                super::super::remove_chunk(&store, &mut batch, &mut delta, generation, c).unwrap();
            }
            for &(c, text) in added {
                chunk(&mut batch, &mut delta, generation, c, text);
            }
            chunk(
                &mut batch,
                &mut Delta::default(),
                other,
                9,
                "elsewhere data",
            );
            store.apply(batch).unwrap();
            memory.apply(&delta);
            let loaded = Postings::load(&store, generation).unwrap();
            assert_eq!(lists(&memory), lists(&loaded));
            memory.apply(&delta);
            assert_eq!(lists(&memory), lists(&loaded));
        }
        let data: Vec<u64> = memory.list("data").iter().map(|p| p.chunk).collect();
        assert_eq!(data, [4]);
        assert_eq!(memory.list("alone"), []);
        assert_eq!(
            memory.list("stores"),
            [Posting {
                chunk: 2,
                tf: 1,
                len: 3
            }]
        );
    }
}
