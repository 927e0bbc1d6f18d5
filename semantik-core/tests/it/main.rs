//! Integration tests of semantik-core through its public API, in one binary.

mod accounts;
mod collections;
mod common;
mod concurrency;
mod crash;
mod embedding;
mod exchange;
mod hostile;
mod hub;
mod index;
mod ingest;
mod lock;
mod mock_hub;
mod operations;
mod parity;
mod reliability;
mod search;
