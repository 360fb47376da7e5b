//! `register`: creates a participant's key and certificate and registers it at a DAPS.

use super::args::RegisterArgs;
use super::{exit, CliError};

pub async fn register(args: RegisterArgs) -> Result<u8, CliError> {
    let registered = crate::identity::register_participant(&args.daps_url, &args.admin_key, &args.participant, &args.out)
        .await
        .map_err(|e| CliError::setup(format!("cannot register {}: {e}", args.participant)))?;
    println!("registered {} as client {}", args.participant, registered.client_id.as_str());
    println!("key and certificate in {}", args.out.display());
    Ok(exit::SUCCESS)
}
