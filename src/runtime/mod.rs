//! Where the reference components run: in this process (the default) or in containers.
//! Only this module knows Docker.

pub mod dataspace;
pub mod docker;
pub mod embedded;

pub use dataspace::{ConnectorInfo, DapsInfo, DataSpaceInfo, ObjectStoreInfo, UrlRewrite};
