//! How the harness drives a connector: drivers for management APIs (today the Eclipse EDC
//! management API v3 shape, which the reference connector offers too) and lenient readers for
//! the JSON-LD they answer with.

pub mod edc_v3;
pub mod error;
pub mod file;
pub mod lenient;
pub mod load_section;

pub use edc_v3::{asset_selector, Answer, EdrAddress, ManagementClient};
pub use error::TargetError;
pub use file::{TargetFile, TargetFileError};
