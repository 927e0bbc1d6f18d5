//! Integration tests of semantik-core through its public API, in one binary.

mod collections;
mod common;
mod concurrency;
mod crash;
mod embedding;
mod hostile;
mod index;
mod ingest;
mod lock;
mod operations;
mod reliability;
mod search;
