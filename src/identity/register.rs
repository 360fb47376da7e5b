//! Registering a participant at a running DAPS over its admin API: generate keys and a
//! certificate, store them, and announce the certificate. The CLI's registration command is a
//! thin wrapper around [`register_participant`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::error::IdentityError;
use super::keys::{ParticipantId, ParticipantKeys};
use super::public_key::ClientId;

/// The header carrying the DAPS admin key.
pub const ADMIN_KEY_HEADER: &str = "x-api-key";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The outcome of a registration.
#[derive(Debug, Clone)]
pub struct RegisteredParticipant {
    pub client_id: ClientId,
    pub participant_id: ParticipantId,
    pub keys: ParticipantKeys,
    /// Where `key.pem`, `cert.pem` and `participant.json` were written.
    pub dir: PathBuf,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegistrationAnswer {
    client_id: ClientId,
}

/// Generates keys and a certificate for `participant_id`, saves them into `out_dir` and
/// registers them at the DAPS whose base URL is `daps_url` (for example
/// `http://127.0.0.1:8081`; a URL already ending in `/admin/clients` is used as is).
///
/// The keys are saved before the registration so that a refused registration can be retried
/// with [`register_keys`] without losing them.
pub async fn register_participant(
    daps_url: &str,
    admin_key: &str,
    participant_id: &str,
    out_dir: &Path,
) -> Result<RegisteredParticipant, IdentityError> {
    let keys = ParticipantKeys::generate(participant_id)?;
    keys.save(out_dir)?;
    let client_id =
        register_keys(&reqwest::Client::new(), daps_url, admin_key, &keys, None).await?;
    Ok(RegisteredParticipant {
        client_id,
        participant_id: keys.participant_id().clone(),
        keys,
        dir: out_dir.to_path_buf(),
    })
}

/// Registers existing keys at the DAPS admin API and checks that the DAPS assigned the
/// client id the keys imply.
pub async fn register_keys(
    http: &reqwest::Client,
    daps_url: &str,
    admin_key: &str,
    keys: &ParticipantKeys,
    referring_connector: Option<&str>,
) -> Result<ClientId, IdentityError> {
    let url = admin_clients_url(daps_url);
    let mut body = json!({
        "participantId": keys.participant_id(),
        "certificate": keys.cert_pem(),
        "jwk": keys.public_jwk(),
    });
    if let Some(uri) = referring_connector {
        body["referringConnector"] = json!(uri);
    }
    let http_error = |source| IdentityError::Http {
        url: url.clone(),
        source,
    };
    let response = http
        .post(&url)
        .timeout(REQUEST_TIMEOUT)
        .header(ADMIN_KEY_HEADER, admin_key)
        .json(&body)
        .send()
        .await
        .map_err(http_error)?;
    let status = response.status();
    let text = response.text().await.map_err(http_error)?;
    if !status.is_success() {
        return Err(IdentityError::RegistrationRefused {
            url,
            status: status.as_u16(),
            body: text,
        });
    }
    let answer: RegistrationAnswer =
        serde_json::from_str(&text).map_err(|e| IdentityError::RegistrationRefused {
            url: url.clone(),
            status: status.as_u16(),
            body: format!("unparseable answer ({e}): {text}"),
        })?;
    if &answer.client_id != keys.client_id() {
        return Err(IdentityError::RegistrationRefused {
            url,
            status: status.as_u16(),
            body: format!(
                "daps assigned client id {} but the key implies {}",
                answer.client_id,
                keys.client_id()
            ),
        });
    }
    Ok(answer.client_id)
}

fn admin_clients_url(daps_url: &str) -> String {
    let base = daps_url.trim_end_matches('/');
    if base.ends_with("/admin/clients") {
        base.to_owned()
    } else {
        format!("{base}/admin/clients")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_url_is_derived_from_the_base() {
        assert_eq!(admin_clients_url("http://d:1"), "http://d:1/admin/clients");
        assert_eq!(admin_clients_url("http://d:1/"), "http://d:1/admin/clients");
        assert_eq!(
            admin_clients_url("http://d:1/admin/clients"),
            "http://d:1/admin/clients"
        );
    }
}
