//! The sled implementation of [`Store`].

use std::path::Path;

use super::{Entry, Store, WriteBatch};
use crate::error::{Error, Result};

/// sled's page cache. Its default (1 GiB) would keep a second copy of every vector the index
/// already holds in memory after a collection is loaded; reads past the cache are served by the
/// operating system's file cache.
const CACHE_BYTES: u64 = 64 << 20;

/// A sled database used as one ordered keyspace (its default tree).
#[derive(Debug)]
pub(crate) struct SledStore {
    db: sled::Db,
}

impl SledStore {
    /// Opens (creating if needed) the sled database in `dir`.
    ///
    /// sled releases its own file lock from a background thread after its last handle is
    /// dropped, so opening right after a close in the same process can find it still held:
    /// that case is retried for up to a second. (Other processes are kept out earlier, by
    /// semantik's own lock file.)
    pub(crate) fn open(dir: &Path) -> Result<Self> {
        let config = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            .flush_every_ms(Some(500))
            .cache_capacity(CACHE_BYTES);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        loop {
            match config.open() {
                Ok(db) => return Ok(SledStore { db }),
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock")
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => return Err(map_err("open", e)),
            }
        }
    }
}

fn map_err(context: &str, e: sled::Error) -> Error {
    match e {
        sled::Error::Corruption { at, bt: _ } => Error::corrupt(format!(
            "sled reports corruption during {context} at {at:?}"
        )),
        sled::Error::Unsupported(m) => Error::corrupt(format!("sled: unsupported: {m}")),
        other => Error::storage(context, other),
    }
}

impl Store for SledStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self
            .db
            .get(key)
            .map_err(|e| map_err("get", e))?
            .map(|v| v.to_vec()))
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Box<dyn Iterator<Item = Result<Entry>> + Send + '_> {
        Box::new(self.db.scan_prefix(prefix).map(|r| {
            r.map(|(k, v)| (k.to_vec(), v.to_vec()))
                .map_err(|e| map_err("scan", e))
        }))
    }

    fn scan_range(
        &self,
        start: &[u8],
        end: &[u8],
    ) -> Box<dyn Iterator<Item = Result<Entry>> + Send + '_> {
        Box::new(self.db.range(start.to_vec()..end.to_vec()).map(|r| {
            r.map(|(k, v)| (k.to_vec(), v.to_vec()))
                .map_err(|e| map_err("scan", e))
        }))
    }

    fn last_with_prefix(&self, prefix: &[u8]) -> Result<Option<Entry>> {
        self.db
            .scan_prefix(prefix)
            .next_back()
            .transpose()
            .map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec())))
            .map_err(|e| map_err("scan", e))
    }

    fn apply(&self, batch: WriteBatch) -> Result<()> {
        let mut b = sled::Batch::default();
        for (k, v) in batch.writes {
            match v {
                Some(v) => b.insert(k, v),
                None => b.remove(k),
            }
        }
        self.db.apply_batch(b).map_err(|e| map_err("write", e))
    }

    fn flush(&self) -> Result<()> {
        self.db.flush().map(|_| ()).map_err(|e| map_err("flush", e))
    }

    fn size_on_disk(&self) -> Result<u64> {
        self.db.size_on_disk().map_err(|e| map_err("size", e))
    }
}
