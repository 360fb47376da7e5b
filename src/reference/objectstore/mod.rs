//! A small S3-compatible object store (path-style REST API, SigV4 authentication, objects
//! streamed to and from disk) that the harness starts itself for S3 transfers, and the S3
//! client helper used against it.

mod chunked;
mod client;
mod error;
mod ingest;
mod names;
mod server;
mod sigv4;
mod store;
mod xml;

pub use client::s3_client;
pub use error::ObjectStoreError;
pub use names::{BucketName, ObjectKey};
pub use server::{router, serve, serve_with_shutdown, RunningObjectStore};
pub use store::{ObjectStore, ObjectStoreConfig};
