//! Key encoding. Every key starts with a one-byte tag naming its record type; ids are fixed
//! width (UUIDs as 16 bytes, chunk ids as big-endian `u64`) so that prefix scans return a
//! collection's records in id order. The layout is documented in `docs/FORMAT.md`.

use uuid::Uuid;

use crate::generation::GenerationId;

/// Database-wide metadata: `META | name`.
pub(crate) const META: u8 = 0x00;
/// Collection record: `COLLECTION | collection id`.
pub(crate) const COLLECTION: u8 = 0x01;
/// Name index: `COLLECTION_NAME | name` -> collection id (format 2 and later).
pub(crate) const COLLECTION_NAME: u8 = 0x02;
/// Statistics and counters of a generation: `STATS | generation`.
pub(crate) const STATS: u8 = 0x03;
/// Who may use a collection: `ACCESS | collection id` (see `accounts`).
pub(crate) const ACCESS: u8 = 0x05;
/// Remembered source: `SOURCE | collection id | path`.
pub(crate) const SOURCE: u8 = 0x04;
/// Document record: `DOCUMENT | generation | document id`.
pub(crate) const DOCUMENT: u8 = 0x10;
/// Content-hash index: `DOCUMENT_HASH | generation | blake3 hex | 0 | document id`.
pub(crate) const DOCUMENT_HASH: u8 = 0x11;
/// Source-path index: `DOCUMENT_PATH | generation | path` -> document id.
pub(crate) const DOCUMENT_PATH: u8 = 0x12;
/// Staged input of a document not yet indexed: `STAGED | collection id | operation id |
/// document id`.
pub(crate) const STAGED: u8 = 0x13;
/// Extracted text of a document: `DOCUMENT_TEXT | generation | document id` (format 3).
pub(crate) const DOCUMENT_TEXT: u8 = 0x14;
/// Chunk record: `CHUNK | generation | chunk id`.
pub(crate) const CHUNK: u8 = 0x20;
/// Chunk vector: `VECTOR | generation | chunk id` -> little-endian f32s.
pub(crate) const VECTOR: u8 = 0x21;
/// Vector index manifest: `INDEX_MANIFEST | generation` -> the graph segments (JSON).
pub(crate) const INDEX_MANIFEST: u8 = 0x22;
/// Part of a stored graph segment: `INDEX_PART | generation | segment u64 | part u32`.
pub(crate) const INDEX_PART: u8 = 0x23;
/// Keyword posting of format 4: `POSTING | generation | term | 0xFF | chunk id` -> term
/// frequency and chunk length in terms; format 5 no longer stores them (its migration deletes
/// them; `verify` reports one left).
pub(crate) const POSTING: u8 = 0x24;
/// The terms of a chunk, from which its postings are built in memory: `CHUNK_TERMS |
/// generation | chunk id` (format 4).
pub(crate) const CHUNK_TERMS: u8 = 0x25;
/// Operation record: `OPERATION | operation id`.
pub(crate) const OPERATION: u8 = 0x40;
/// User record: `USER | user id`.
pub(crate) const USER: u8 = 0x50;
/// User name index: `USER_NAME | lowercase name` -> user id.
pub(crate) const USER_NAME: u8 = 0x51;
/// Sign-in session: `SESSION | BLAKE3 of its refresh token`.
pub(crate) const SESSION: u8 = 0x52;
/// API key: `API_KEY | BLAKE3 of its secret`.
pub(crate) const API_KEY: u8 = 0x53;

pub(crate) fn meta(name: &str) -> Vec<u8> {
    tagged(META, name.as_bytes())
}

pub(crate) fn collection(id: Uuid) -> Vec<u8> {
    tagged(COLLECTION, id.as_bytes())
}

pub(crate) fn collection_name(name: &str) -> Vec<u8> {
    tagged(COLLECTION_NAME, name.as_bytes())
}

pub(crate) fn stats(generation: GenerationId) -> Vec<u8> {
    in_generation(STATS, generation)
}

pub(crate) fn access(collection: Uuid) -> Vec<u8> {
    tagged(ACCESS, collection.as_bytes())
}

pub(crate) fn user(id: Uuid) -> Vec<u8> {
    tagged(USER, id.as_bytes())
}

pub(crate) fn user_name(lowercase: &str) -> Vec<u8> {
    tagged(USER_NAME, lowercase.as_bytes())
}

pub(crate) fn session(digest: &[u8; 32]) -> Vec<u8> {
    tagged(SESSION, digest)
}

pub(crate) fn api_key(digest: &[u8; 32]) -> Vec<u8> {
    tagged(API_KEY, digest)
}

pub(crate) fn operation(id: Uuid) -> Vec<u8> {
    tagged(OPERATION, id.as_bytes())
}

/// `tag | collection id`: the prefix of every per-collection record of that type.
pub(crate) fn in_collection(tag: u8, collection: Uuid) -> Vec<u8> {
    tagged(tag, collection.as_bytes())
}

/// `tag | generation id`: the prefix of every record of that type in a generation.
pub(crate) fn in_generation(tag: u8, generation: GenerationId) -> Vec<u8> {
    in_collection(tag, generation.0)
}

/// `tag | generation id | suffix`.
pub(crate) fn in_generation_with(tag: u8, generation: GenerationId, suffix: &[u8]) -> Vec<u8> {
    in_collection_with(tag, generation.0, suffix)
}

/// `tag | collection id | suffix`.
pub(crate) fn in_collection_with(tag: u8, collection: Uuid, suffix: &[u8]) -> Vec<u8> {
    let mut k = in_collection(tag, collection);
    k.extend_from_slice(suffix);
    k
}

/// A staged document: `STAGED | collection | operation | document id` (the operation's prefix
/// with an empty id).
pub(crate) fn staged(collection: Uuid, op: Uuid, doc_id: &str) -> Vec<u8> {
    let mut suffix = op.as_bytes().to_vec();
    suffix.extend_from_slice(doc_id.as_bytes());
    in_collection_with(STAGED, collection, &suffix)
}

pub(crate) fn source(collection: Uuid, path: &std::path::Path) -> Vec<u8> {
    in_collection_with(SOURCE, collection, path.to_string_lossy().as_bytes())
}

pub(crate) fn document(generation: GenerationId, doc_id: &str) -> Vec<u8> {
    in_generation_with(DOCUMENT, generation, doc_id.as_bytes())
}

pub(crate) fn document_path(generation: GenerationId, path: &std::path::Path) -> Vec<u8> {
    in_generation_with(DOCUMENT_PATH, generation, path.to_string_lossy().as_bytes())
}

pub(crate) fn document_hash(generation: GenerationId, hash: &str, doc_id: &str) -> Vec<u8> {
    let mut suffix = hash.as_bytes().to_vec();
    suffix.push(0);
    suffix.extend_from_slice(doc_id.as_bytes());
    in_generation_with(DOCUMENT_HASH, generation, &suffix)
}

pub(crate) fn document_text(generation: GenerationId, doc_id: &str) -> Vec<u8> {
    in_generation_with(DOCUMENT_TEXT, generation, doc_id.as_bytes())
}

pub(crate) fn chunk(generation: GenerationId, chunk_id: u64) -> Vec<u8> {
    in_generation_with(CHUNK, generation, &chunk_id.to_be_bytes())
}

pub(crate) fn vector(generation: GenerationId, chunk_id: u64) -> Vec<u8> {
    in_generation_with(VECTOR, generation, &chunk_id.to_be_bytes())
}

pub(crate) fn chunk_terms(generation: GenerationId, chunk_id: u64) -> Vec<u8> {
    in_generation_with(CHUNK_TERMS, generation, &chunk_id.to_be_bytes())
}

pub(crate) fn index_manifest(generation: GenerationId) -> Vec<u8> {
    in_generation(INDEX_MANIFEST, generation)
}

pub(crate) fn index_part(generation: GenerationId, segment: u64, part: u32) -> Vec<u8> {
    let mut suffix = segment.to_be_bytes().to_vec();
    suffix.extend_from_slice(&part.to_be_bytes());
    in_generation_with(INDEX_PART, generation, &suffix)
}

/// Decodes the chunk id at the end of a `CHUNK` or `VECTOR` key.
pub(crate) fn chunk_id_of(key: &[u8]) -> Option<u64> {
    chunk_id_of_tail(key).filter(|_| key.len() == 1 + 16 + 8)
}

/// Decodes the chunk id in the last 8 bytes of a key.
pub(crate) fn chunk_id_of_tail(key: &[u8]) -> Option<u64> {
    let tail: [u8; 8] = key.get(key.len().checked_sub(8)?..)?.try_into().ok()?;
    Some(u64::from_be_bytes(tail))
}

/// The tags of a generation's records (keyed by the generation's id; a collection never
/// reindexed uses its own id): what a reindex builds and what replacing it purges.
pub(crate) const PER_GENERATION: [u8; 11] = [
    INDEX_PART,
    INDEX_MANIFEST,
    POSTING,
    CHUNK_TERMS,
    DOCUMENT,
    DOCUMENT_HASH,
    DOCUMENT_PATH,
    DOCUMENT_TEXT,
    CHUNK,
    VECTOR,
    STATS,
];

/// The tags of records keyed by the collection's id whatever its generation, the record last.
pub(crate) const PER_COLLECTION: [u8; 4] = [SOURCE, STAGED, ACCESS, COLLECTION];

/// A key in hex, for messages.
pub(crate) fn hex(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

fn tagged(tag: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + rest.len());
    k.push(tag);
    k.extend_from_slice(rest);
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn chunk_keys_round_trip_and_sort(a in any::<u64>(), b in any::<u64>(), id in any::<u128>()) {
            let c = GenerationId(Uuid::from_u128(id));
            let (ka, kb) = (chunk(c, a), chunk(c, b));
            prop_assert_eq!(chunk_id_of(&ka), Some(a));
            prop_assert_eq!(ka.cmp(&kb), a.cmp(&b));
            prop_assert!(ka.starts_with(&in_generation(CHUNK, c)));
        }
    }

    #[test]
    fn tags_are_distinct() {
        let mut tags = vec![
            META,
            COLLECTION_NAME,
            OPERATION,
            USER,
            USER_NAME,
            SESSION,
            API_KEY,
        ];
        tags.extend(PER_GENERATION);
        tags.extend(PER_COLLECTION);
        let n = tags.len();
        tags.sort_unstable();
        tags.dedup();
        assert_eq!(tags.len(), n);
    }
}
