//! Backup files: every record of a snapshot in one checksummed file, and their restore into a
//! new store.
//!
//! Layout: the magic `SEMANTIK BACKUP\n`; a header (u32 LE length, then JSON:
//! `backup_format`, `format_version`, `created_ms`, `semantik`); the records, each a u32 LE key
//! length, the key, a u32 LE value length, the value, in key order; an end mark (`u32::MAX`),
//! the record count (u64 LE) and the blake3 hash of every byte before it (32 bytes).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{SledStore, Store, WriteBatch, format};
use crate::error::{Error, Result};

const MAGIC: &[u8; 16] = b"SEMANTIK BACKUP\n";
/// The layout this build writes and reads.
const BACKUP_FORMAT: u32 = 1;
const END: u32 = u32::MAX;
/// Records restored per batch.
const RESTORE_BATCH: usize = 4096;

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    backup_format: u32,
    format_version: u32,
    created_ms: u64,
    semantik: String,
}

/// Writes every record of `view` to a new file `dest`; returns how many. The file appears
/// only once complete and synced: it is written under a temporary name of its own, then linked
/// as `dest` (which fails if `dest` exists, so a backup never replaces a file) and the
/// directory is synced.
pub(crate) fn write(view: &dyn Store, dest: &Path) -> Result<u64> {
    let exists = || {
        Error::invalid(format!(
            "{} already exists; a backup never overwrites a file",
            dest.display()
        ))
    };
    if dest.exists() {
        return Err(exists());
    }
    let io =
        |e: std::io::Error| Error::storage(format!("cannot write backup {}", dest.display()), e);
    let unique = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let partial = dest.with_file_name(format!(
        ".{}.{}-{unique}.partial",
        dest.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let header = Header {
        backup_format: BACKUP_FORMAT,
        format_version: format::read_version(view)?.unwrap_or(format::FORMAT_VERSION),
        created_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        semantik: crate::version().to_string(),
    };
    let result = (|| {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&partial)
            .map_err(io)?;
        let mut out = Hashed::new(BufWriter::new(file));
        out.put(MAGIC).map_err(io)?;
        let header = super::encode_json(&header)?;
        out.put(&(header.len() as u32).to_le_bytes()).map_err(io)?;
        out.put(&header).map_err(io)?;
        let mut records = 0u64;
        for entry in view.scan_prefix(&[]) {
            let (k, v) = entry?;
            for part in [&k, &v] {
                let len = u32::try_from(part.len())
                    .ok()
                    .filter(|&n| n != END)
                    .ok_or_else(|| Error::internal("record too large for a backup"))?;
                out.put(&len.to_le_bytes()).map_err(io)?;
                out.put(part).map_err(io)?;
            }
            records += 1;
        }
        out.put(&END.to_le_bytes()).map_err(io)?;
        out.put(&records.to_le_bytes()).map_err(io)?;
        let hash = out.hasher.finalize();
        let mut file = out.inner.into_inner().map_err(|e| io(e.into_error()))?;
        file.write_all(hash.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        match std::fs::hard_link(&partial, dest) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(exists()),
            other => other.map_err(io)?,
        }
        let dir = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        Ok(records)
    })();
    let _ = std::fs::remove_file(&partial);
    result
}

/// Reads the backup `src` into a new sled store in `data_dir` and returns it, flushed. A
/// backup of a newer format, or one that is damaged or incomplete, is refused.
pub(crate) fn restore(src: &Path, data_dir: &Path) -> Result<Arc<dyn Store>> {
    let io = |e: std::io::Error| Error::storage(format!("cannot read backup {}", src.display()), e);
    let bad = |what: &str| Error::corrupt(format!("backup {}: {what}", src.display()));
    let mut input = Hashed::new(BufReader::new(File::open(src).map_err(io)?));
    let truncated = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => bad("the file is incomplete"),
        _ => io(e),
    };
    let magic: [u8; 16] = input.array().map_err(truncated)?;
    if &magic != MAGIC {
        return Err(bad("not a semantik backup"));
    }
    let len = u32::from_le_bytes(input.array().map_err(truncated)?) as usize;
    if len > 1 << 16 {
        return Err(bad("the header is too long"));
    }
    let header: Header =
        super::decode_json("backup header", &input.bytes(len).map_err(truncated)?)?;
    if header.backup_format > BACKUP_FORMAT || header.format_version > format::FORMAT_VERSION {
        return Err(Error::UnsupportedFormat {
            found: header.format_version.max(header.backup_format),
            supported: format::FORMAT_VERSION,
        });
    }
    let store = SledStore::open(data_dir)?;
    let mut batch = WriteBatch::new();
    let mut records = 0u64;
    loop {
        let klen = u32::from_le_bytes(input.array().map_err(truncated)?);
        if klen == END {
            break;
        }
        let key = input.bytes(klen as usize).map_err(truncated)?;
        let vlen = u32::from_le_bytes(input.array().map_err(truncated)?);
        let value = input.bytes(vlen as usize).map_err(truncated)?;
        batch.put(key, value);
        records += 1;
        if batch.writes.len() >= RESTORE_BATCH {
            store.apply(std::mem::take(&mut batch))?;
        }
    }
    let count = u64::from_le_bytes(input.array().map_err(truncated)?);
    let hash = input.hasher.finalize();
    let mut stored = [0u8; 32];
    input.inner.read_exact(&mut stored).map_err(truncated)?;
    if count != records || hash.as_bytes() != &stored {
        return Err(bad("the checksum does not match; the file is damaged"));
    }
    if input.inner.read(&mut [0u8; 1]).map_err(io)? != 0 {
        return Err(bad("bytes after the end"));
    }
    store.apply(batch)?;
    store.flush()?;
    Ok(Arc::new(store))
}

/// A reader or writer that hashes what passes through it.
struct Hashed<T> {
    inner: T,
    hasher: blake3::Hasher,
}

impl<T> Hashed<T> {
    fn new(inner: T) -> Self {
        Hashed {
            inner,
            hasher: blake3::Hasher::new(),
        }
    }
}

impl<W: Write> Hashed<W> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hasher.update(bytes);
        self.inner.write_all(bytes)
    }
}

impl<R: Read> Hashed<R> {
    fn bytes(&mut self, n: usize) -> std::io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        (&mut self.inner).take(n as u64).read_to_end(&mut buf)?;
        if buf.len() != n {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.hasher.update(&buf);
        Ok(buf)
    }

    fn array<const N: usize>(&mut self) -> std::io::Result<[u8; N]> {
        let mut buf = [0u8; N];
        self.inner.read_exact(&mut buf)?;
        self.hasher.update(&buf);
        Ok(buf)
    }
}
