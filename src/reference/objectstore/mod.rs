//! A small S3-compatible object store that the harness starts itself for S3 transfers: the
//! `s3s` crate speaks S3 (SigV4, aws-chunked bodies, XML), `s3s-fs` keeps the objects on disk,
//! and this module adds only the configuration, the rules s3s-fs lacks and the HTTP wiring. It
//! also holds the S3 client helper used against it and against connectors' stores.

mod access;
mod backend;
mod client;
mod error;
mod server;
mod store;

pub use client::s3_client;
pub use error::ObjectStoreError;
pub use server::{router, RunningObjectStore};
pub use store::{ObjectStore, ObjectStoreConfig};
