//! Fault injection at the storage seam (feature `testing`): a [`Store`] that fails writes and
//! flushes, or returns damaged index segments, on demand, as a failing disk would.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::sync::atomic::AtomicBool;

use super::{Entry, Store, WriteBatch, delegate_scans, keys};
use crate::error::{Error, Result};

/// Faults to inject into a database's storage, shared with the test that controls them.
///
/// Pass one to [`Config::with_faults`](crate::Config::with_faults); change it at any time
/// while the database runs. A failed write applies nothing of its batch.
///
/// ```
/// use semantik_core::{Config, Database, Faults};
///
/// let dir = tempfile::tempdir()?;
/// let faults = Faults::new();
/// let db = Database::open_with(dir.path(), Config::new().with_faults(faults.clone()))?;
/// faults.disk_full_after(0);
/// let err = db
///     .create_collection(semantik_core::CollectionConfig::new("c").with_model("semantik-test/hash-8"))
///     .unwrap_err();
/// assert_eq!(err.code(), semantik_core::ErrorCode::Storage);
/// faults.clear();
/// db.create_collection(semantik_core::CollectionConfig::new("c").with_model("semantik-test/hash-8"))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Faults(Arc<State>);

impl Default for Faults {
    fn default() -> Self {
        Faults::new()
    }
}

impl PartialEq for Faults {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

#[derive(Debug, Default)]
struct State {
    /// Fail every Nth write (0: never).
    write_every: AtomicU64,
    /// Fail every Nth flush (0: never).
    flush_every: AtomicU64,
    /// Bytes that may still be written before the disk is full (`u64::MAX`: no limit).
    space_left: AtomicU64,
    /// Return the parts of stored vector index segments with a byte flipped.
    damage_index: AtomicBool,
    writes: AtomicU64,
    flushes: AtomicU64,
    injected: AtomicU64,
}

impl Faults {
    /// No faults yet.
    pub fn new() -> Self {
        let f = Faults(Arc::default());
        f.clear();
        f
    }

    /// Fails every `n`th write from now on (`n >= 1`; 1 fails them all).
    pub fn fail_every_nth_write(&self, n: u64) {
        self.0.writes.store(0, Ordering::SeqCst);
        self.0.write_every.store(n, Ordering::SeqCst);
    }

    /// Fails every `n`th flush from now on.
    pub fn fail_every_nth_flush(&self, n: u64) {
        self.0.flushes.store(0, Ordering::SeqCst);
        self.0.flush_every.store(n, Ordering::SeqCst);
    }

    /// Lets `bytes` more bytes of keys and values be written, then fails every write as a
    /// full disk does.
    pub fn disk_full_after(&self, bytes: u64) {
        self.0.space_left.store(bytes, Ordering::SeqCst);
    }

    /// Makes every read of a stored vector index segment return it with one byte flipped, as
    /// a damaged disk would (`false`: reads are intact again).
    pub fn damage_index_reads(&self, on: bool) {
        self.0.damage_index.store(on, Ordering::SeqCst);
    }

    /// Removes every fault.
    pub fn clear(&self) {
        self.0.damage_index.store(false, Ordering::SeqCst);
        self.0.write_every.store(0, Ordering::SeqCst);
        self.0.flush_every.store(0, Ordering::SeqCst);
        self.0.space_left.store(u64::MAX, Ordering::SeqCst);
    }

    /// How many failures have been injected so far.
    pub fn injected(&self) -> u64 {
        self.0.injected.load(Ordering::SeqCst)
    }

    fn fail(&self, what: &str, kind: std::io::ErrorKind) -> Error {
        self.0.injected.fetch_add(1, Ordering::SeqCst);
        Error::storage(
            what,
            std::io::Error::new(kind, format!("injected {what} failure")),
        )
    }

    fn nth(counter: &AtomicU64, every: &AtomicU64) -> bool {
        let every = every.load(Ordering::SeqCst);
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        every > 0 && n.is_multiple_of(every)
    }
}

/// A store whose writes and flushes fail, and whose index segments read damaged, as [`Faults`]
/// says.
#[derive(Debug)]
pub(crate) struct FaultyStore {
    inner: Arc<dyn Store>,
    faults: Faults,
}

impl FaultyStore {
    pub(crate) fn new(inner: Arc<dyn Store>, faults: Faults) -> Self {
        FaultyStore { inner, faults }
    }
}

impl Store for FaultyStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let mut value = self.inner.get(key)?;
        if key.first() == Some(&keys::INDEX_PART)
            && self.faults.0.damage_index.load(Ordering::SeqCst)
            && let Some(bytes) = value.as_mut().filter(|b| !b.is_empty())
        {
            self.faults.0.injected.fetch_add(1, Ordering::SeqCst);
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0xff;
        }
        Ok(value)
    }

    delegate_scans!(inner);

    fn apply(&self, batch: WriteBatch) -> Result<()> {
        let s = &self.faults.0;
        if Faults::nth(&s.writes, &s.write_every) {
            return Err(self.faults.fail("write", std::io::ErrorKind::Other));
        }
        let bytes = batch.written_bytes();
        let fits = s
            .space_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                (left == u64::MAX)
                    .then_some(left)
                    .or(left.checked_sub(bytes))
            });
        if fits.is_err() {
            return Err(self.faults.fail("write", std::io::ErrorKind::StorageFull));
        }
        self.inner.apply(batch)
    }

    fn flush(&self) -> Result<()> {
        let s = &self.faults.0;
        if Faults::nth(&s.flushes, &s.flush_every) {
            return Err(self.faults.fail("flush", std::io::ErrorKind::Other));
        }
        self.inner.flush()
    }

    fn size_on_disk(&self) -> Result<u64> {
        self.inner.size_on_disk()
    }
}
