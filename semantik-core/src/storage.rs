//! Persistence: a small key-value seam ([`Store`]) over sled, key encoding, the on-disk format
//! version and its migrations.
//!
//! This is the only module that names `sled`. Everything semantik stores lives in one ordered
//! keyspace; keys start with a one-byte tag (see [`keys`]) and values are JSON records or raw
//! little-endian `f32` vectors. Multi-key writes go through [`WriteBatch`], which the store applies
//! atomically, so a crash leaves either all of a batch or none of it.

pub(crate) mod backup;
#[cfg(feature = "testing")]
pub(crate) mod faults;
pub(crate) mod format;
pub(crate) mod keys;
#[cfg(test)]
pub(crate) mod mem_store;
mod sled_store;
mod snapshot;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

pub(crate) use sled_store::SledStore;

/// The open store of a database, shared by the engine's parts; empty once the database closed.
#[derive(Debug)]
pub(crate) struct StoreSlot(std::sync::RwLock<Option<Arc<dyn Store>>>);

impl StoreSlot {
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        StoreSlot(std::sync::RwLock::new(Some(store)))
    }

    /// The store, unless the database is closed.
    pub(crate) fn get(&self) -> Result<Arc<dyn Store>> {
        self.0
            .read()
            .expect("store lock")
            .clone()
            .ok_or(Error::DatabaseClosed)
    }

    /// Empties the slot (at close); returns what it held.
    pub(crate) fn take(&self) -> Option<Arc<dyn Store>> {
        self.0.write().expect("store lock").take()
    }
}

/// One key-value pair read from the store.
pub(crate) type Entry = (Vec<u8>, Vec<u8>);

/// The storage seam: an ordered key-value store with atomic batches.
///
/// Implementations: [`SledStore`] on disk, and an in-memory store for unit tests.
pub(crate) trait Store: Send + Sync + fmt::Debug {
    /// Reads one key.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Every entry whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, prefix: &[u8]) -> Box<dyn Iterator<Item = Result<Entry>> + Send + '_>;
    /// Every entry with `start <= key < end`, in key order.
    fn scan_range(
        &self,
        start: &[u8],
        end: &[u8],
    ) -> Box<dyn Iterator<Item = Result<Entry>> + Send + '_>;
    /// The last entry whose key starts with `prefix`.
    fn last_with_prefix(&self, prefix: &[u8]) -> Result<Option<Entry>>;
    /// Applies every write of `batch`, atomically.
    fn apply(&self, batch: WriteBatch) -> Result<()>;
    /// Makes every applied batch durable.
    fn flush(&self) -> Result<()>;
    /// Bytes the store occupies on disk.
    fn size_on_disk(&self) -> Result<u64>;
    /// A read-only view of the store as it is now, unchanged by later writes.
    fn snapshot(&self) -> Result<Arc<dyn Store>> {
        Err(Error::internal("this store has no snapshots"))
    }
}

/// The read methods of a [`Store`] that wraps another one in its field `$inner` and changes
/// only how it writes.
macro_rules! delegate_reads {
    ($inner:ident) => {
        fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
            self.$inner.get(key)
        }

        $crate::storage::delegate_scans!($inner);
    };
}
pub(crate) use delegate_reads;

/// The scans of a [`Store`] that wraps another one in its field `$inner` (all its reads but
/// `get`).
macro_rules! delegate_scans {
    ($inner:ident) => {
        fn scan_prefix(
            &self,
            prefix: &[u8],
        ) -> Box<dyn Iterator<Item = Result<Entry>> + Send + '_> {
            self.$inner.scan_prefix(prefix)
        }

        fn scan_range(
            &self,
            start: &[u8],
            end: &[u8],
        ) -> Box<dyn Iterator<Item = Result<Entry>> + Send + '_> {
            self.$inner.scan_range(start, end)
        }

        fn last_with_prefix(&self, prefix: &[u8]) -> Result<Option<Entry>> {
            self.$inner.last_with_prefix(prefix)
        }
    };
}
pub(crate) use delegate_scans;

/// A set of writes applied atomically by [`Store::apply`].
#[derive(Debug, Default)]
pub(crate) struct WriteBatch {
    pub(crate) writes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl WriteBatch {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.push((key, Some(value)));
    }

    pub(crate) fn put_json<T: Serialize>(&mut self, key: Vec<u8>, value: &T) -> Result<()> {
        self.put(key, encode_json(value)?);
        Ok(())
    }

    pub(crate) fn delete(&mut self, key: Vec<u8>) {
        self.writes.push((key, None));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Bytes of keys and values this batch writes (an estimate of the space it takes).
    pub(crate) fn written_bytes(&self) -> u64 {
        self.writes
            .iter()
            .map(|(k, v)| (k.len() + v.as_ref().map_or(0, Vec::len)) as u64)
            .sum()
    }
}

/// Opens (creating if needed) the sled store in `dir`, able to take snapshots.
pub(crate) fn open_sled(dir: &Path) -> Result<Arc<dyn Store>> {
    Ok(Arc::new(snapshot::Snapshots::new(Arc::new(
        SledStore::open(dir)?,
    ))))
}

/// [`open_sled`] with the faults of `faults` injected under the snapshots.
#[cfg(feature = "testing")]
pub(crate) fn open_sled_with_faults(dir: &Path, faults: &faults::Faults) -> Result<Arc<dyn Store>> {
    let sled: Arc<dyn Store> = Arc::new(SledStore::open(dir)?);
    Ok(Arc::new(snapshot::Snapshots::new(Arc::new(
        faults::FaultyStore::new(sled, faults.clone()),
    ))))
}

pub(crate) fn encode_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::internal(format!("cannot encode record: {e}")))
}

pub(crate) fn decode_json<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::corrupt(format!("{what}: {e}")))
}

/// Reads and decodes one JSON record.
pub(crate) fn get_json<T: DeserializeOwned>(
    store: &dyn Store,
    what: &str,
    key: &[u8],
) -> Result<Option<T>> {
    store.get(key)?.map(|b| decode_json(what, &b)).transpose()
}

/// Every entry under `prefix`, with its key cut to what follows the prefix.
pub(crate) fn scan_suffixes<'s>(
    store: &'s dyn Store,
    prefix: &[u8],
) -> impl Iterator<Item = Result<Entry>> + use<'s> {
    let start = prefix.len();
    store
        .scan_prefix(prefix)
        .map(move |entry| entry.map(|(k, v)| (k[start..].to_vec(), v)))
}

/// Decodes every JSON record under `prefix`.
pub(crate) fn scan_json<T: DeserializeOwned>(
    store: &dyn Store,
    what: &str,
    prefix: &[u8],
) -> Result<Vec<T>> {
    store
        .scan_prefix(prefix)
        .map(|entry| entry.and_then(|(_, v)| decode_json(what, &v)))
        .collect()
}

/// Encodes a vector as little-endian `f32`s.
pub(crate) fn encode_vector(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Decodes a vector stored by [`encode_vector`].
#[cfg(test)]
pub(crate) fn decode_vector(bytes: &[u8]) -> Result<Vec<f32>> {
    let mut v = Vec::with_capacity(bytes.len() / 4);
    decode_vector_into(bytes, &mut v)?;
    Ok(v)
}

/// Appends the vector stored by [`encode_vector`] to `out`.
pub(crate) fn decode_vector_into(bytes: &[u8], out: &mut Vec<f32>) -> Result<()> {
    if !bytes.len().is_multiple_of(4) {
        return Err(Error::corrupt(format!(
            "vector of {} bytes is not a whole number of f32s",
            bytes.len()
        )));
    }
    out.extend(
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
    );
    Ok(())
}

/// Decodes a vector stored by [`encode_vector`] into `out`, whose length `bytes` must have
/// been checked to match (four bytes per value).
pub(crate) fn decode_vector_to(bytes: &[u8], out: &mut [f32]) {
    debug_assert_eq!(bytes.len(), out.len() * 4);
    for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn vectors_round_trip(v in proptest::collection::vec(any::<f32>(), 0..64)) {
            let back = decode_vector(&encode_vector(&v)).unwrap();
            prop_assert_eq!(back.len(), v.len());
            for (a, b) in back.iter().zip(&v) {
                prop_assert_eq!(a.to_bits(), b.to_bits());
            }
        }
    }

    #[test]
    fn truncated_vector_is_corrupt() {
        assert_eq!(
            decode_vector(&[0, 0, 0]).unwrap_err().code(),
            crate::ErrorCode::Corrupt
        );
    }
}
