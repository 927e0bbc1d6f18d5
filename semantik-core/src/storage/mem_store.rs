//! An in-memory [`Store`] for unit tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{Entry, Store, WriteBatch};
use crate::error::Result;

#[derive(Debug, Default)]
pub(crate) struct MemStore {
    map: Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl Store for MemStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.map.lock().unwrap().get(key).cloned())
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Box<dyn Iterator<Item = Result<Entry>> + Send + '_> {
        let map = self.map.lock().unwrap();
        let items: Vec<Result<Entry>> = map
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| Ok((k.clone(), v.clone())))
            .collect();
        Box::new(items.into_iter())
    }

    fn scan_range(
        &self,
        start: &[u8],
        end: &[u8],
    ) -> Box<dyn Iterator<Item = Result<Entry>> + Send + '_> {
        let map = self.map.lock().unwrap();
        let items: Vec<Result<Entry>> = map
            .range(start.to_vec()..end.to_vec())
            .map(|(k, v)| Ok((k.clone(), v.clone())))
            .collect();
        Box::new(items.into_iter())
    }

    fn last_with_prefix(&self, prefix: &[u8]) -> Result<Option<Entry>> {
        let map = self.map.lock().unwrap();
        Ok(map
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .last()
            .map(|(k, v)| (k.clone(), v.clone())))
    }

    fn apply(&self, batch: WriteBatch) -> Result<()> {
        let mut map = self.map.lock().unwrap();
        for (k, v) in batch.writes {
            match v {
                Some(v) => map.insert(k, v),
                None => map.remove(&k),
            };
        }
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }

    fn size_on_disk(&self) -> Result<u64> {
        Ok(0)
    }
}
