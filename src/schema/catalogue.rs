//! Which schema describes which DSP message, and the schema files compiled into the binary.
//!
//! A schema is found by its *key*: the unprefixed `@type` of the message it describes
//! (`ContractRequestMessage`), or a name of our own for documents without `@type`
//! (`VersionResponse`, `DidService`). The keys are the same in every protocol version, which is
//! what lets one [`SchemaSet`](super::SchemaSet) API serve 0.8, 2024-1 and 2025-1; only the file
//! names and the embedded file lists differ. Each embedded version has a table like
//! [`EMBEDDED_2025_1`] and a row in [`EMBEDDED`]; `SchemaSet::embedded(version)` finds it there.

/// A schema the harness knows how to look up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KnownSchema {
    pub(crate) key: &'static str,
    /// File name stems (without `-schema.json` or `.schema.json`) that hold this schema, in the
    /// official layouts and in ours.
    pub(crate) stems: &'static [&'static str],
    /// Whether the document carries an `@type` naming the key, so that `validate_message` can
    /// find the schema from the body alone.
    pub(crate) typed: bool,
}

const fn typed(key: &'static str, stems: &'static [&'static str]) -> KnownSchema {
    KnownSchema { key, stems, typed: true }
}

const fn untyped(key: &'static str, stems: &'static [&'static str]) -> KnownSchema {
    KnownSchema { key, stems, typed: false }
}

/// Every schema key, with the file stems that hold it.
pub(crate) const KNOWN_SCHEMAS: &[KnownSchema] = &[
    typed("Catalog", &["catalog"]),
    typed("Dataset", &["dataset"]),
    typed("CatalogRequestMessage", &["catalog-request-message"]),
    typed("DatasetRequestMessage", &["dataset-request-message"]),
    typed("CatalogError", &["catalog-error"]),
    typed("ContractRequestMessage", &["contract-request-message"]),
    typed("ContractOfferMessage", &["contract-offer-message"]),
    typed("ContractAgreementMessage", &["contract-agreement-message"]),
    typed("ContractAgreementVerificationMessage", &["contract-agreement-verification-message"]),
    typed("ContractNegotiationEventMessage", &["contract-negotiation-event-message"]),
    typed("ContractNegotiationTerminationMessage", &["contract-negotiation-termination-message"]),
    typed("ContractNegotiation", &["contract-negotiation"]),
    typed("ContractNegotiationError", &["contract-negotiation-error"]),
    typed("TransferRequestMessage", &["transfer-request-message"]),
    typed("TransferStartMessage", &["transfer-start-message"]),
    typed("TransferSuspensionMessage", &["transfer-suspension-message"]),
    typed("TransferCompletionMessage", &["transfer-completion-message"]),
    typed("TransferTerminationMessage", &["transfer-termination-message"]),
    typed("TransferProcess", &["transfer-process"]),
    typed("TransferError", &["transfer-error"]),
    // 2025-1 names the file protocol-version-schema.json, 2024-1 version-schema.json.
    untyped("VersionResponse", &["protocol-version", "version"]),
    untyped("DidService", &["did-service"]),
];

/// The schema key a schema file holds, judged by its file name.
pub(crate) fn key_for_file_name(file_name: &str) -> Option<&'static str> {
    let stem = schema_stem(file_name)?;
    KNOWN_SCHEMAS.iter().find(|known| known.stems.contains(&stem)).map(|known| known.key)
}

/// The stem of a schema file name, or `None` when the name does not look like a schema file.
/// Official files end in `-schema.json` (0.8 also has `definitions.schema.json`), ours in
/// `.schema.json`; examples and other JSON files end in neither.
pub(crate) fn schema_stem(file_name: &str) -> Option<&str> {
    file_name.strip_suffix("-schema.json").or_else(|| file_name.strip_suffix(".schema.json"))
}

/// Whether `key` is the `@type` of a DSP message this harness knows.
pub(crate) fn is_typed_key(key: &str) -> bool {
    KNOWN_SCHEMAS.iter().any(|known| known.typed && known.key == key)
}

macro_rules! embed {
    ($dir:literal: $($file:literal),+ $(,)?) => {
        &[$(($file, include_str!(concat!("../../fixtures/schemas/", $dir, "/", $file)))),+]
    };
}

/// Our DSP 2025-1 schemas (`fixtures/schemas/2025-1/`), as (file name, contents).
pub(crate) const EMBEDDED_2025_1: &[(&str, &str)] = embed!("2025-1":
    "definitions.schema.json",
    "catalog.schema.json",
    "dataset.schema.json",
    "catalog-request-message.schema.json",
    "dataset-request-message.schema.json",
    "catalog-error.schema.json",
    "contract-request-message.schema.json",
    "contract-offer-message.schema.json",
    "contract-agreement-message.schema.json",
    "contract-agreement-verification-message.schema.json",
    "contract-negotiation-event-message.schema.json",
    "contract-negotiation-termination-message.schema.json",
    "contract-negotiation.schema.json",
    "contract-negotiation-error.schema.json",
    "transfer-request-message.schema.json",
    "transfer-start-message.schema.json",
    "transfer-suspension-message.schema.json",
    "transfer-completion-message.schema.json",
    "transfer-termination-message.schema.json",
    "transfer-process.schema.json",
    "transfer-error.schema.json",
    "protocol-version.schema.json",
    "did-service.schema.json",
);

/// The embedded sets by version name (the names of `ProtocolVersion::as_str`, which this layer
/// cannot import), oldest first. [`EMBEDDED_VERSIONS`] lists the same names in the same order.
pub(crate) const EMBEDDED: &[(&str, &[(&str, &str)])] = &[("2025-1", EMBEDDED_2025_1)];

/// The versions of [`EMBEDDED`], as `SchemaSet::embedded_versions` hands them out.
pub(crate) const EMBEDDED_VERSIONS: &[&str] = &["2025-1"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_map_to_keys_in_both_layouts() {
        let cases = [
            ("contract-request-message-schema.json", Some("ContractRequestMessage")),
            ("contract-request-message.schema.json", Some("ContractRequestMessage")),
            ("protocol-version-schema.json", Some("VersionResponse")),
            ("version-schema.json", Some("VersionResponse")),
            ("catalog-schema.json", Some("Catalog")),
            ("contract-schema.json", None),
            ("definitions.schema.json", None),
            ("contract-request-message.json", None),
        ];
        for (file, expected) in cases {
            assert_eq!(key_for_file_name(file), expected, "{file}");
        }
    }

    #[test]
    fn every_known_stem_is_unique() {
        let mut stems: Vec<&str> = KNOWN_SCHEMAS.iter().flat_map(|k| k.stems.iter().copied()).collect();
        let before = stems.len();
        stems.sort_unstable();
        stems.dedup();
        assert_eq!(stems.len(), before);
    }

    /// Each embedded list must name every schema file of its fixture directory, so that a schema
    /// added there cannot be silently left out of the binary.
    #[test]
    fn embedded_lists_match_their_fixture_directories() {
        for (version, files) in EMBEDDED {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/schemas").join(version);
            let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
                .expect("fixture directory exists")
                .map(|entry| entry.expect("readable entry").file_name().to_string_lossy().into_owned())
                .filter(|name| schema_stem(name).is_some())
                .collect();
            on_disk.sort();
            let mut embedded: Vec<String> = files.iter().map(|(name, _)| name.to_string()).collect();
            embedded.sort();
            assert_eq!(embedded, on_disk, "{version}");
        }
    }

    #[test]
    fn the_version_list_names_the_embedded_sets_in_order() {
        let names: Vec<&str> = EMBEDDED.iter().map(|(version, _)| *version).collect();
        assert_eq!(names, EMBEDDED_VERSIONS);
    }
}
