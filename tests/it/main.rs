//! The one integration test binary; one module per area.

mod identity;
mod schema;
mod runner;
mod runner;
