//! The reference components of the embedded data space: the connector (control plane and
//! data plane, provider and consumer are roles of one implementation), the DAPS and an
//! S3-compatible object store. Nothing here imports `runner` or `suite`: the reference
//! connector cannot know the answers the harness expects.

pub mod connector;
pub mod daps;
pub mod objectstore;
pub mod backend;
pub mod body;
