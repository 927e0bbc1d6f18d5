//! Point-in-time views of a live store, for `verify` and `backup` while operations write.
//!
//! [`Snapshots`] wraps the store every write goes through. Taking a snapshot registers a set
//! of *pre-images*; from then on, before a batch is applied, the value each of its keys had is
//! recorded in every registered set (once per key: the first write after the snapshot records
//! it). A view reads the live store and prefers the pre-image of any key written since, so it
//! sees exactly the state at the moment it was taken, whatever is applied meanwhile. Writers
//! are never blocked for longer than the reads of their own keys' old values; taking a
//! snapshot waits only for the batches being applied at that moment.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, RwLock};

use super::{Entry, Store, WriteBatch, delegate_reads};
use crate::error::{Error, Result};

type PreImages = Mutex<BTreeMap<Vec<u8>, Option<Vec<u8>>>>;
type Registry = Arc<RwLock<Vec<Arc<PreImages>>>>;

/// A store that can hand out consistent views of itself.
#[derive(Debug)]
pub(crate) struct Snapshots {
    inner: Arc<dyn Store>,
    active: Registry,
}

impl Snapshots {
    pub(crate) fn new(inner: Arc<dyn Store>) -> Self {
        Snapshots {
            inner,
            active: Arc::default(),
        }
    }
}

impl Store for Snapshots {
    delegate_reads!(inner);

    fn apply(&self, batch: WriteBatch) -> Result<()> {
        // Held shared while the batch is applied, so that a snapshot taken meanwhile (which
        // takes it exclusively) sees either all of the batch or none of it.
        let active = self.active.read().expect("snapshot registry");
        for pre in active.iter() {
            let mut pre = pre.lock().expect("pre-images");
            for (key, _) in &batch.writes {
                if !pre.contains_key(key) {
                    let old = self.inner.get(key)?;
                    pre.insert(key.clone(), old);
                }
            }
        }
        self.inner.apply(batch)
    }

    fn flush(&self) -> Result<()> {
        self.inner.flush()
    }

    fn size_on_disk(&self) -> Result<u64> {
        self.inner.size_on_disk()
    }

    fn snapshot(&self) -> Result<Arc<dyn Store>> {
        let pre = Arc::new(PreImages::default());
        self.active
            .write()
            .expect("snapshot registry")
            .push(pre.clone());
        Ok(Arc::new(View {
            inner: self.inner.clone(),
            pre,
            registry: self.active.clone(),
        }))
    }
}

/// The store as it was when the view was taken. Read-only.
#[derive(Debug)]
struct View {
    inner: Arc<dyn Store>,
    pre: Arc<PreImages>,
    registry: Registry,
}

impl Drop for View {
    fn drop(&mut self) {
        if let Ok(mut active) = self.registry.write() {
            active.retain(|p| !Arc::ptr_eq(p, &self.pre));
        }
    }
}

/// The smallest key above every key that starts with `prefix` (`None`: no such bound).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

impl View {
    fn merged<'a>(
        &'a self,
        live: Box<dyn Iterator<Item = Result<Entry>> + Send + 'a>,
        start: &[u8],
        end: Option<Vec<u8>>,
    ) -> Box<dyn Iterator<Item = Result<Entry>> + Send + 'a> {
        Box::new(Merge {
            live,
            pre: &self.pre,
            after: Bound::Included(start.to_vec()),
            end,
            pending: VecDeque::new(),
            done: false,
        })
    }
}

/// The live entries of a key range with the pre-images laid over them, in key order.
///
/// A key written after the snapshot has a pre-image, recorded before the write. So an entry
/// read from the live store whose key has no pre-image *after* it was read holds the old value;
/// one that has a pre-image is replaced by it (or dropped, when the key did not exist); and a
/// key deleted before the live scan reached it is found among the pre-images between the keys
/// the scan returns.
struct Merge<'a> {
    live: Box<dyn Iterator<Item = Result<Entry>> + Send + 'a>,
    pre: &'a PreImages,
    /// Everything up to this bound has been returned.
    after: Bound<Vec<u8>>,
    end: Option<Vec<u8>>,
    pending: VecDeque<Entry>,
    done: bool,
}

impl Iterator for Merge<'_> {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Result<Entry>> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(Ok(e));
            }
            if self.done {
                return None;
            }
            let next = match self.live.next().transpose() {
                Ok(next) => next,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            let pre = self.pre.lock().expect("pre-images");
            let upper = match (&next, &self.end) {
                (Some((k, _)), _) => Bound::Excluded(k.clone()),
                (None, Some(end)) => Bound::Excluded(end.clone()),
                (None, None) => Bound::Unbounded,
            };
            let gap = (self.after.clone(), upper);
            self.pending.extend(
                pre.range::<Vec<u8>, _>(gap)
                    .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v))),
            );
            match next {
                Some((k, v)) => {
                    match pre.get(&k) {
                        Some(Some(old)) => self.pending.push_back((k.clone(), old.clone())),
                        Some(None) => {}
                        None => self.pending.push_back((k.clone(), v)),
                    }
                    self.after = Bound::Excluded(k);
                }
                None => self.done = true,
            }
        }
    }
}

fn read_only() -> Error {
    Error::internal("a snapshot is read-only")
}

impl Store for View {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        // Holding the lock keeps a writer of this key from recording (and so from writing)
        // until the live value is read.
        let pre = self.pre.lock().expect("pre-images");
        match pre.get(key) {
            Some(old) => Ok(old.clone()),
            None => self.inner.get(key),
        }
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Box<dyn Iterator<Item = Result<Entry>> + Send + '_> {
        self.merged(self.inner.scan_prefix(prefix), prefix, prefix_end(prefix))
    }

    fn scan_range(
        &self,
        start: &[u8],
        end: &[u8],
    ) -> Box<dyn Iterator<Item = Result<Entry>> + Send + '_> {
        self.merged(self.inner.scan_range(start, end), start, Some(end.to_vec()))
    }

    fn last_with_prefix(&self, prefix: &[u8]) -> Result<Option<Entry>> {
        self.scan_prefix(prefix).last().transpose()
    }

    fn apply(&self, _batch: WriteBatch) -> Result<()> {
        Err(read_only())
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }

    fn size_on_disk(&self) -> Result<u64> {
        self.inner.size_on_disk()
    }

    fn snapshot(&self) -> Result<Arc<dyn Store>> {
        Err(read_only())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::mem_store::MemStore;
    use proptest::prelude::*;

    fn put(store: &dyn Store, writes: &[(u8, Option<u8>)]) {
        let mut b = WriteBatch::new();
        for &(k, v) in writes {
            match v {
                Some(v) => b.put(vec![1, k], vec![v]),
                None => b.delete(vec![1, k]),
            }
        }
        store.apply(b).unwrap();
    }

    fn all(store: &dyn Store, prefix: &[u8]) -> Vec<Entry> {
        store.scan_prefix(prefix).map(|e| e.unwrap()).collect()
    }

    proptest! {
        /// Whatever is written after a snapshot, and whenever a scan of it is interleaved
        /// with those writes, the view reads exactly what the store held when it was taken.
        #[test]
        fn a_view_reads_the_state_it_was_taken_in(
            before in proptest::collection::vec((0u8..24, proptest::option::of(any::<u8>())), 0..40),
            after in proptest::collection::vec((0u8..24, proptest::option::of(any::<u8>())), 0..40),
            step in 1usize..6,
        ) {
            let store = Snapshots::new(Arc::new(MemStore::default()));
            put(&store, &before);
            let expected = all(&store, &[1]);
            let view = store.snapshot().unwrap();
            let mut scan = view.scan_prefix(&[1]);
            let mut seen = Vec::new();
            for (i, w) in after.iter().enumerate() {
                put(&store, std::slice::from_ref(w));
                if i % step == 0 && let Some(e) = scan.next() {
                    seen.push(e.unwrap());
                }
            }
            seen.extend(scan.map(|e| e.unwrap()));
            prop_assert_eq!(&seen, &expected);
            prop_assert_eq!(all(view.as_ref(), &[1]), expected.clone());
            for k in 0u8..24 {
                let want = expected.iter().find(|(key, _)| key == &vec![1, k]).map(|(_, v)| v.clone());
                prop_assert_eq!(view.get(&[1, k]).unwrap(), want);
            }
            let range: Vec<Entry> = view.scan_range(&[1, 5], &[1, 12]).map(|e| e.unwrap()).collect();
            let want: Vec<Entry> = expected.iter().filter(|(k, _)| k[1] >= 5 && k[1] < 12).cloned().collect();
            prop_assert_eq!(range, want);
        }
    }

    #[test]
    fn a_dropped_view_stops_recording() {
        let store = Snapshots::new(Arc::new(MemStore::default()));
        let view = store.snapshot().unwrap();
        assert!(view.apply(WriteBatch::new()).is_err());
        drop(view);
        assert!(store.active.read().unwrap().is_empty());
        assert_eq!(prefix_end(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xFF]), None);
    }
}
