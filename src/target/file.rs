//! The target file: how a user describes a connector of their own to test (`run --target
//! targets/my-connector.toml`): its DSP endpoint and version, its management API (kind
//! `reference`, `edc-v3`, `edc-v2` or `none`), how the harness authenticates (a DAPS and the
//! harness's key directory, with the DAT audience as participant id or protocol URL, a static
//! token, or nothing), TLS trust, which dataset and offer to use, where
//! the harness's own callback server listens, and which roles to test.
//!
//! Unknown keys are refused, so a typo never silently changes what a run tests. Relative paths
//! are resolved against the directory of the target file. See `targets/example-edc.toml` for a
//! complete, commented example.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::driver::{self, Driver};

/// What can be wrong with a target file.
#[derive(Debug, thiserror::Error)]
pub enum TargetFileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    // The file's path is not part of these messages: whoever reports them names the file
    // once ("cannot run against t.toml: ...").
    #[error("{message}")]
    Parse { path: PathBuf, message: String },
    #[error("{message}")]
    Invalid { path: PathBuf, message: String },
    #[error("environment variable {var} is not set (named by {field}); export it, or give the value itself in {}", field.trim_end_matches("_env"))]
    MissingEnv { path: PathBuf, var: String, field: String },
}

/// A parsed target file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetFile {
    /// A name for reports; the file's name without `.toml` when absent.
    #[serde(default)]
    pub name: String,
    pub dsp: DspSection,
    #[serde(default)]
    pub management: ManagementSection,
    /// How the harness authenticates; none (with a warning) when absent.
    #[serde(default)]
    pub auth: AuthSection,
    #[serde(default)]
    pub tls: TlsSection,
    #[serde(default)]
    pub dataset: DatasetSection,
    #[serde(default)]
    pub harness: HarnessSection,
    #[serde(default)]
    pub roles: RolesSection,
    /// What `load --target` needs besides (see `load_section.rs`); `run` ignores it.
    #[serde(default)]
    pub load: Option<super::load_section::LoadSection>,
    /// The directory relative paths are resolved against (not part of the file).
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The file itself (not part of the file).
    #[serde(skip)]
    pub path: PathBuf,
    /// What the harness assumed for things the file leaves out, for the run's log and
    /// preflight (not part of the file).
    #[serde(skip)]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DspSection {
    /// Base URL of the DSP HTTPS binding (`{url}/catalog/request`, `{url}/negotiations/...`).
    pub url: String,
    /// Where `/.well-known/dspace-version` is served; the scheme, host and port of `url`
    /// when absent.
    #[serde(default)]
    pub root_url: Option<String>,
    /// The DSP version to speak: `auto` (the newest the connector's version document offers;
    /// without a document DSP 0.8), or one of `0.8-processid`, `0.8`, `2024-1`, `2025-1`.
    #[serde(default = "default_version")]
    pub version: String,
    /// The connector's participant id, the audience of the DATs the harness sends it.
    /// Required with `auth.kind = "daps"`; the target's name otherwise.
    #[serde(default)]
    pub participant_id: String,
}

fn default_version() -> String {
    AUTO_VERSION.to_string()
}

/// `[dsp] version` meaning: choose from the connector's version document.
pub const AUTO_VERSION: &str = "auto";

/// The management API, by kind.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ManagementSection {
    /// The reference connector: EDC v3 shape plus manual steps.
    Reference {
        url: String,
        #[serde(default)]
        api_key: Option<String>,
        #[serde(default)]
        api_key_env: Option<String>,
        #[serde(default = "yes")]
        setup: bool,
    },
    /// An EDC management API v3.
    EdcV3 {
        url: String,
        #[serde(default)]
        api_key: Option<String>,
        #[serde(default)]
        api_key_env: Option<String>,
        /// Register the harness's own asset, policy and contract definition before the run.
        #[serde(default = "yes")]
        setup: bool,
    },
    /// An EDC management API v2 as Tractus-X EDC 0.4.1 has it (`edc:` terms, `/adapter/edrs`).
    EdcV2 {
        url: String,
        #[serde(default)]
        api_key: Option<String>,
        #[serde(default)]
        api_key_env: Option<String>,
        #[serde(default = "yes")]
        setup: bool,
    },
    /// No management API: cases needing the connector to act are skipped.
    #[default]
    None,
}

fn yes() -> bool {
    true
}

/// How the harness authenticates to the connector.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum AuthSection {
    /// DATs from a DAPS, as the participant whose keys are in `key_dir` (made by
    /// `dsp-harness register`).
    Daps {
        token_url: String,
        key_dir: PathBuf,
        /// The DAPS key set, to verify the tokens the connector sends the harness.
        #[serde(default)]
        jwks_url: Option<String>,
        /// The DAPS issuer (`iss`); the token URL without `/token` when absent.
        #[serde(default)]
        issuer: Option<String>,
        /// The admin key of a reference DAPS (`dsp-harness serve daps`), so the harness can
        /// have it mint the expired and wrong-audience tokens of the identity cases
        /// (`POST {issuer}/admin/mint`). Prefer `daps_admin_key_env`.
        #[serde(default)]
        daps_admin_key: Option<String>,
        #[serde(default)]
        daps_admin_key_env: Option<String>,
        /// What the DATs between harness and connector name as `aud`: the receiver's
        /// participant id (the default) or its DSP protocol URL (Tractus-X EDC 0.4.1).
        #[serde(default)]
        audience: AudienceForm,
    },
    /// One fixed token, sent in the `Authorization` header as it is.
    Static {
        #[serde(default)]
        token: Option<String>,
        #[serde(default)]
        token_env: Option<String>,
    },
    /// No authentication.
    #[default]
    None,
}

/// How a DAT names the participant it is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AudienceForm {
    /// The receiver's participant id (`dsp.participant_id`, `harness.participant_id`).
    #[default]
    ParticipantId,
    /// The receiver's DSP protocol URL (`dsp.url`, the harness's own DSP URL), as Tractus-X EDC
    /// 0.4.1 asks for and sends.
    ProtocolUrl,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// A PEM file of CA certificates to trust for HTTPS, besides the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSection {
    /// The dataset to negotiate for when the harness does not register its own.
    #[serde(default)]
    pub id: Option<String>,
    /// The offer id within it; its first offer when absent.
    #[serde(default)]
    pub offer: Option<String>,
    /// Where the harness's own asset gets its data from (a URL the connector can reach).
    #[serde(default)]
    pub source_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HarnessSection {
    /// The participant id the harness uses (registered at the DAPS as this).
    #[serde(default = "default_harness_id")]
    pub participant_id: String,
    /// Interface the harness's callback server binds.
    #[serde(default = "default_bind")]
    pub bind: String,
    /// Port of the callback server; 0 lets the OS choose.
    #[serde(default)]
    pub port: u16,
    /// Host name the connector uses to reach the harness (for example
    /// `host.docker.internal`); the bind address when absent.
    #[serde(default)]
    pub advertised_host: Option<String>,
}

impl Default for HarnessSection {
    fn default() -> Self {
        HarnessSection { participant_id: default_harness_id(), bind: default_bind(), port: 0, advertised_host: None }
    }
}

fn default_harness_id() -> String {
    "dsp-harness".to_string()
}

fn default_bind() -> String {
    "127.0.0.1".to_string()
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolesSection {
    /// Test the connector as a provider (the harness plays consumer).
    #[serde(default = "yes")]
    pub provider: bool,
    /// Test the connector as a consumer (the harness plays provider).
    #[serde(default = "yes")]
    pub consumer: bool,
}

impl Default for RolesSection {
    fn default() -> Self {
        RolesSection { provider: true, consumer: true }
    }
}

impl TargetFile {
    /// Reads and checks a target file.
    pub fn load(path: &Path) -> Result<TargetFile, TargetFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| TargetFileError::Read { path: path.to_path_buf(), source })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        TargetFile::parse(&text, path, &base)
    }

    /// Parses a target file's text; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path, base_dir: &Path) -> Result<TargetFile, TargetFileError> {
        let mut file: TargetFile = toml::from_str(text).map_err(|e| TargetFileError::Parse { path: path.to_path_buf(), message: e.to_string().trim_end().to_string() })?;
        file.base_dir = base_dir.to_path_buf();
        file.path = path.to_path_buf();
        let invalid = |message: String| TargetFileError::Invalid { path: path.to_path_buf(), message };
        if file.name.trim().is_empty() {
            file.name = path.file_stem().and_then(|s| s.to_str()).filter(|s| !s.is_empty()).unwrap_or("connector-under-test").to_string();
        }
        if !text.lines().any(|l| l.trim_start().starts_with("[auth]")) {
            file.warnings.push("the file has no [auth] section: the harness sends no tokens (auth kind none); add [auth] kind = \"daps\" or \"static\" if the connector wants them".to_string());
        }
        if file.dsp.participant_id.trim().is_empty() {
            if matches!(file.auth, AuthSection::Daps { .. }) {
                return Err(invalid("dsp.participant_id is required with auth kind daps: it is the audience of the tokens the harness sends".to_string()));
            }
            file.dsp.participant_id = file.name.clone();
        }
        if let Some(url) = file.management.url_mut() {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(invalid(format!("management.url must be an http:// or https:// URL, not {url:?}")));
            }
            let trimmed = url.trim_end_matches('/');
            if let Some(base) = trimmed.strip_suffix("/v3").or_else(|| trimmed.strip_suffix("/v2")) {
                file.warnings.push(format!("management.url {url:?} ends in an API version; the harness adds it itself and uses {base:?}"));
                *url = base.to_string();
            } else {
                *url = trimmed.to_string();
            }
        }
        if file.dsp.version != AUTO_VERSION && file.dsp.version.parse::<crate::protocol::ProtocolVersion>().is_err() {
            return Err(invalid(format!("dsp.version {:?} is not a DSP version the harness speaks: use auto, 0.8-processid, 0.8, 2024-1 or 2025-1", file.dsp.version)));
        }
        for (what, url) in [("dsp.url", Some(&file.dsp.url)), ("dsp.root_url", file.dsp.root_url.as_ref())] {
            if let Some(url) = url {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(invalid(format!("{what} must be an http:// or https:// URL, not {url:?}")));
                }
            }
        }
        if let AuthSection::Static { token: None, token_env: None } = &file.auth {
            return Err(invalid("auth kind static needs token or token_env".to_string()));
        }
        if !file.roles.provider && !file.roles.consumer {
            return Err(invalid("roles: at least one of provider and consumer must be tested".to_string()));
        }
        Ok(file)
    }

    /// A path from the file, resolved against the file's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }

    /// Where the version document is: `dsp.root_url`, else the origin of `dsp.url`.
    /// The version `[dsp] version` forces; `None` for `auto`.
    pub fn forced_version(&self) -> Option<crate::protocol::ProtocolVersion> {
        self.dsp.version.parse().ok()
    }

    pub fn root_url(&self) -> String {
        if let Some(root) = &self.dsp.root_url {
            return root.trim_end_matches('/').to_string();
        }
        let url = &self.dsp.url;
        let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
        match url[after_scheme..].find('/') {
            Some(slash) => url[..after_scheme + slash].to_string(),
            None => url.trim_end_matches('/').to_string(),
        }
    }

    /// The management API key, read from the environment when the file names a variable.
    pub fn api_key(&self) -> Result<String, TargetFileError> {
        match &self.management {
            ManagementSection::Reference { api_key, api_key_env, .. }
            | ManagementSection::EdcV3 { api_key, api_key_env, .. }
            | ManagementSection::EdcV2 { api_key, api_key_env, .. } => {
                secret(api_key.as_deref(), api_key_env.as_deref(), &self.path, "management.api_key_env")
            }
            ManagementSection::None => Ok(String::new()),
        }
    }

    /// The static token, read from the environment when the file names a variable.
    pub fn static_token(&self) -> Result<Option<String>, TargetFileError> {
        match &self.auth {
            AuthSection::Static { token, token_env } => secret(token.as_deref(), token_env.as_deref(), &self.path, "auth.token_env").map(Some),
            _ => Ok(None),
        }
    }

    /// The admin key of the target's reference DAPS, when the file names one.
    pub fn daps_admin_key(&self) -> Result<Option<String>, TargetFileError> {
        match &self.auth {
            AuthSection::Daps { daps_admin_key: None, daps_admin_key_env: None, .. } => Ok(None),
            AuthSection::Daps { daps_admin_key, daps_admin_key_env, .. } => {
                secret(daps_admin_key.as_deref(), daps_admin_key_env.as_deref(), &self.path, "auth.daps_admin_key_env").map(Some)
            }
            _ => Ok(None),
        }
    }

    /// The `aud` of the DATs the harness sends the connector: its participant id, or its DSP
    /// URL with `auth.audience = "protocol-url"`.
    pub fn dat_audience(&self) -> String {
        match &self.auth {
            AuthSection::Daps { audience: AudienceForm::ProtocolUrl, .. } => self.dsp.url.trim_end_matches('/').to_string(),
            _ => self.dsp.participant_id.clone(),
        }
    }

    /// How DATs name their audience (participant id unless the file says otherwise).
    pub fn audience_form(&self) -> AudienceForm {
        match &self.auth {
            AuthSection::Daps { audience, .. } => *audience,
            _ => AudienceForm::ParticipantId,
        }
    }

    /// The driver of the management API the file names: the one place the kind is read.
    pub fn management_driver(&self) -> Result<Driver, TargetFileError> {
        Ok(match &self.management {
            ManagementSection::Reference { url, .. } => driver::reference(url, &self.api_key()?),
            ManagementSection::EdcV3 { url, .. } => driver::edc_v3(url, &self.api_key()?),
            ManagementSection::EdcV2 { url, .. } => driver::edc_v2(url, &self.api_key()?),
            ManagementSection::None => driver::none(),
        })
    }
}

impl ManagementSection {
    /// Whether the harness registers its own asset, policy and contract definition.
    pub fn setup(&self) -> bool {
        match self {
            ManagementSection::Reference { setup, .. } | ManagementSection::EdcV3 { setup, .. } | ManagementSection::EdcV2 { setup, .. } => *setup,
            ManagementSection::None => false,
        }
    }

    /// The API's base URL, when there is an API.
    pub fn url(&self) -> Option<&str> {
        match self {
            ManagementSection::Reference { url, .. } | ManagementSection::EdcV3 { url, .. } | ManagementSection::EdcV2 { url, .. } => Some(url),
            ManagementSection::None => None,
        }
    }

    fn url_mut(&mut self) -> Option<&mut String> {
        match self {
            ManagementSection::Reference { url, .. } | ManagementSection::EdcV3 { url, .. } | ManagementSection::EdcV2 { url, .. } => Some(url),
            ManagementSection::None => None,
        }
    }
}

fn secret(value: Option<&str>, env: Option<&str>, path: &Path, field: &str) -> Result<String, TargetFileError> {
    match (value, env) {
        (Some(v), _) => Ok(v.to_string()),
        (None, Some(var)) => std::env::var(var).map_err(|_| TargetFileError::MissingEnv { path: path.to_path_buf(), var: var.to_string(), field: field.to_string() }),
        (None, None) => Ok(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TargetFile, TargetFileError> {
        TargetFile::parse(text, Path::new("t.toml"), Path::new("/etc/targets"))
    }

    const MINIMAL: &str = r#"
        name = "x"
        [dsp]
        url = "http://localhost:8282/api/dsp"
        participant_id = "provider"
        [auth]
        kind = "none"
    "#;

    #[test]
    fn a_minimal_file_gets_defaults() {
        let file = parse(MINIMAL).unwrap();
        assert_eq!(file.management, ManagementSection::None);
        assert_eq!(file.root_url(), "http://localhost:8282");
        assert!(file.roles.provider && file.roles.consumer);
        assert_eq!(file.harness.participant_id, "dsp-harness");
    }

    #[test]
    fn the_daps_admin_key_comes_from_the_file_or_a_named_variable() {
        let daps = MINIMAL.replace("kind = \"none\"", "kind = \"daps\"\ntoken_url = \"http://d/token\"\nkey_dir = \"k\"");
        assert_eq!(parse(&daps).unwrap().daps_admin_key().unwrap(), None);
        let inline = daps.replace("key_dir = \"k\"", "key_dir = \"k\"\ndaps_admin_key = \"secret\"");
        assert_eq!(parse(&inline).unwrap().daps_admin_key().unwrap().as_deref(), Some("secret"));
        let unset = daps.replace("key_dir = \"k\"", "key_dir = \"k\"\ndaps_admin_key_env = \"DSP_HARNESS_TEST_UNSET_DAPS_KEY\"");
        let error = parse(&unset).unwrap().daps_admin_key().unwrap_err().to_string();
        assert!(error.contains("DSP_HARNESS_TEST_UNSET_DAPS_KEY") && error.contains("auth.daps_admin_key_env"), "{error}");
    }

    #[test]
    fn tagged_sections_refuse_unknown_keys_and_kinds() {
        let typo = MINIMAL.replace("participant_id = \"provider\"", "participant_id = \"provider\"\nparticipant = \"x\"");
        assert!(matches!(parse(&typo), Err(TargetFileError::Parse { .. })));
        let kind = MINIMAL.replace("kind = \"none\"", "kind = \"oauth\"");
        assert!(matches!(parse(&kind), Err(TargetFileError::Parse { .. })));
        let extra = MINIMAL.replace("kind = \"none\"", "kind = \"daps\"\ntoken_url = \"http://d/token\"\nkey_dir = \"k\"\nkeydir = \"k\"");
        assert!(matches!(parse(&extra), Err(TargetFileError::Parse { .. })), "unknown keys inside a tagged variant are refused");
    }

    #[test]
    fn management_kinds_and_secrets() {
        let text = format!("{MINIMAL}\n[management]\nkind = \"edc-v3\"\nurl = \"http://localhost:8181/management\"\napi_key = \"k\"\n");
        let file = parse(&text).unwrap();
        assert!(matches!(&file.management, ManagementSection::EdcV3 { setup: true, .. }));
        assert_eq!(file.api_key().unwrap(), "k");
        let env = text.replace("api_key = \"k\"", "api_key_env = \"DSP_HARNESS_TEST_SURELY_UNSET_VAR\"");
        assert!(matches!(parse(&env).unwrap().api_key(), Err(TargetFileError::MissingEnv { .. })));
    }

    #[test]
    fn bad_versions_urls_and_empty_static_auth_are_refused() {
        assert!(matches!(parse(&MINIMAL.replace("[auth]", "version = \"0.7\"\n[auth]")), Err(TargetFileError::Invalid { .. })));
        assert_eq!(parse(&MINIMAL.replace("[auth]", "version = \"0.8\"\n[auth]")).unwrap().forced_version(), Some(crate::protocol::ProtocolVersion::V0_8));
        assert_eq!(parse(MINIMAL).unwrap().forced_version(), None, "auto by default");
        assert!(matches!(parse(&MINIMAL.replace("http://localhost", "localhost")), Err(TargetFileError::Invalid { .. })));
        assert!(matches!(parse(&MINIMAL.replace("kind = \"none\"", "kind = \"static\"")), Err(TargetFileError::Invalid { .. })));
    }

    /// Issue #10: each piece of friction a new user met gets a default or a clear message.
    #[test]
    fn friction_of_a_first_target_file() {
        let bare = "[dsp]\nurl = \"http://localhost:8282/api/dsp\"\n";
        let file = TargetFile::parse(bare, Path::new("/etc/targets/my-connector.toml"), Path::new("/etc/targets")).unwrap();
        assert_eq!(file.name, "my-connector", "the name defaults to the file stem");
        assert_eq!(file.auth, AuthSection::None);
        assert!(file.warnings.iter().any(|w| w.contains("no [auth] section")), "{:?}", file.warnings);
        assert_eq!(file.dsp.participant_id, "my-connector", "no participant id is needed without DAPS");
        let daps = format!("{bare}[auth]\nkind = \"daps\"\ntoken_url = \"http://d/token\"\nkey_dir = \"k\"\n");
        let err = parse(&daps).unwrap_err().to_string();
        assert!(err.contains("dsp.participant_id is required with auth kind daps"), "{err}");
        let env = format!("{MINIMAL}\n[management]\nkind = \"edc-v3\"\nurl = \"http://m/management/v3/\"\napi_key_env = \"NOPE_KEY_SURELY_UNSET\"\n");
        let file = parse(&env).unwrap();
        assert_eq!(file.management.url(), Some("http://m/management"), "a trailing /v3 is taken off");
        assert!(file.warnings.iter().any(|w| w.contains("ends in an API version")));
        let err = file.api_key().unwrap_err().to_string();
        assert_eq!(err, "environment variable NOPE_KEY_SURELY_UNSET is not set (named by management.api_key_env); export it, or give the value itself in management.api_key");
        assert!(!err.starts_with(':') && !err.contains(": :"));
        let bad = env.replace("http://m/management/v3/", "m:8181");
        assert!(parse(&bad).unwrap_err().to_string().contains("management.url must be an http"));
        let missing_url = parse("name = \"x\"\n").unwrap_err().to_string();
        assert!(missing_url.contains("missing field `dsp`") && !missing_url.contains("t.toml"), "{missing_url}");
    }

    #[test]
    fn relative_paths_resolve_against_the_file() {
        let file = parse(MINIMAL).unwrap();
        assert_eq!(file.resolve(Path::new("keys")), PathBuf::from("/etc/targets/keys"));
        assert_eq!(file.resolve(Path::new("/k")), PathBuf::from("/k"));
    }

    #[test]
    fn shipped_examples_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("targets");
        for name in ["example-edc.toml", "reference.toml"] {
            let path = dir.join(name);
            TargetFile::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn the_tractusx_and_current_edc_examples_parse_and_choose_their_drivers() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("targets");
        let load = |name: &str| {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            TargetFile::parse(&text, &dir.join(name), &dir).unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        let tractusx = load("tractusx-edc-0.4.1.toml");
        // Its key comes from TXDC_API_KEY, unset here: the kind is what is checked.
        assert!(matches!(tractusx.management, ManagementSection::EdcV2 { .. }));
        assert_eq!(tractusx.dsp.version, "0.8-processid");
        assert_eq!(tractusx.audience_form(), AudienceForm::ProtocolUrl);
        assert_eq!(tractusx.dat_audience(), "https://provider-controlplane.example.org/api/v1/dsp");
        let current = load("edc-current.toml");
        assert!(matches!(current.management, ManagementSection::EdcV3 { .. }));
        assert_eq!(current.dat_audience(), "my-connector");
    }

    #[test]
    fn edc_v2_is_a_management_kind_and_the_audience_a_closed_choice() {
        let v2 = format!("{MINIMAL}\n[management]\nkind = \"edc-v2\"\nurl = \"http://m/management/v2\"\napi_key = \"k\"\n");
        let file = parse(&v2).unwrap();
        assert_eq!(file.management.url(), Some("http://m/management"), "the /v2 the user wrote is the harness's to add");
        assert!(file.management.setup());
        assert!(parse(&v2.replace("api_key = \"k\"", "api_key = \"k\"\nkeyy = 1")).is_err());
        let daps = MINIMAL.replace("kind = \"none\"", "kind = \"daps\"\ntoken_url = \"http://d/token\"\nkey_dir = \"k\"");
        assert_eq!(parse(&daps).unwrap().audience_form(), AudienceForm::ParticipantId);
        assert_eq!(parse(&daps).unwrap().dat_audience(), "provider");
        assert!(parse(&daps.replace("key_dir = \"k\"", "key_dir = \"k\"\naudience = \"bpn\"")).is_err());
    }
}
