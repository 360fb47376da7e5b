//! The reference DAPS (Dynamic Attribute Provisioning Service): an OAuth2 server that
//! authenticates connectors with `private_key_jwt` client assertions and issues IDS DATs
//! signed with ES256, publishes its key set, and registers clients through an admin API.

mod admin;
mod error;
mod server;
mod state;
mod token;

pub use error::DapsError;
pub use server::{router, serve, serve_with_shutdown};
pub use server::MINT_PATH;
pub use state::{
    default_referring_connector, ClientRegistration, Daps, DapsConfig, MintOverrides, Registered,
    RegistrationRequest, DEFAULT_TOKEN_LIFETIME, JWKS_PATH, TOKEN_PATH,
};
