//! Where the reference components run: in this process (the default) or in containers.
//! Only this module knows Docker.

pub mod dataspace;

pub use dataspace::{ConnectorInfo, DataSpaceInfo, DapsInfo, ObjectStoreInfo};
