//! How the harness drives a connector: drivers for management APIs behind one
//! [`ManagementDriver`] trait (the reference connector's, the Eclipse EDC management API v3 and
//! v2, none), the target file that chooses one, and lenient readers for the JSON-LD they answer with.

pub mod driver;
pub mod edc_v2;
pub mod edc_v3;
pub mod error;
pub mod file;
pub mod lenient;
pub mod load_section;
pub mod reference;

pub use edc_v2::{EdcV2Driver, Shape};
pub use edc_v3::{asset_selector, Answer, EdrAddress, ManagementClient};
pub use driver::{Capabilities, Driver, ManagementAccess, ManagementDriver, NegotiationStep, TransferStep};
pub use error::TargetError;
pub use file::{TargetFile, TargetFileError};
