//! Where schema files come from: the copies embedded in the binary, or a directory on disk.
//!
//! Reading a directory is the only I/O of the schema layer. It accepts the official layouts
//! (`catalog/`, `negotiation/`, `transfer/`, `common/` with `*-schema.json` files, at any depth,
//! example files beside them) and ours (one flat folder of `*.schema.json` files).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::catalogue::schema_stem;
use super::error::SchemaError;

/// One parsed schema file.
#[derive(Debug, Clone)]
pub(crate) struct SchemaFile {
    /// The path relative to the set's root, with `/` separators; used in messages and, for files
    /// without `$id`, to give the file a URI.
    pub(crate) name: String,
    pub(crate) contents: Value,
}

impl SchemaFile {
    /// The last path segment of [`SchemaFile::name`].
    pub(crate) fn file_name(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or(&self.name)
    }
}

/// Parses files given as (name, text) pairs.
pub(crate) fn parse_files<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Vec<SchemaFile>, SchemaError> {
    files.into_iter().map(|(name, text)| parse(name.to_owned(), text)).collect()
}

/// Reads every schema file under `dir`, at any depth, in a stable order.
pub(crate) fn read_dir(dir: &Path) -> Result<Vec<SchemaFile>, SchemaError> {
    let mut paths = Vec::new();
    collect_schema_paths(dir, &mut paths)?;
    // A stable order keeps error messages and duplicate detection deterministic across platforms.
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text =
                std::fs::read_to_string(&path).map_err(|source| SchemaError::Io { path: path.clone(), source })?;
            parse(relative_name(dir, &path), &text)
        })
        .collect()
}

fn collect_schema_paths(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), SchemaError> {
    let io_error = |source| SchemaError::Io { path: dir.to_path_buf(), source };
    for entry in std::fs::read_dir(dir).map_err(io_error)? {
        let entry = entry.map_err(io_error)?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(|source| SchemaError::Io { path: path.clone(), source })?;
        if file_type.is_dir() {
            collect_schema_paths(&path, out)?;
        } else if schema_stem(&entry.file_name().to_string_lossy()).is_some() {
            out.push(path);
        }
    }
    Ok(())
}

fn relative_name(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

fn parse(name: String, text: &str) -> Result<SchemaFile, SchemaError> {
    let contents: Value =
        serde_json::from_str(text).map_err(|source| SchemaError::Parse { file: name.clone(), source })?;
    if !contents.is_object() {
        return Err(SchemaError::NotAnObject { file: name });
    }
    Ok(SchemaFile { name, contents })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_schema_files_and_skips_examples() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("negotiation/example")).unwrap();
        std::fs::write(dir.path().join("negotiation/contract-negotiation-schema.json"), "{}").unwrap();
        std::fs::write(dir.path().join("negotiation/example/contract-negotiation.json"), "{}").unwrap();
        std::fs::write(dir.path().join("definitions.schema.json"), "{}").unwrap();
        let files = read_dir(dir.path()).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["definitions.schema.json", "negotiation/contract-negotiation-schema.json"]);
        assert_eq!(files[1].file_name(), "contract-negotiation-schema.json");
    }

    #[test]
    fn broken_json_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("transfer-process-schema.json"), "{ \"type\": ").unwrap();
        let error = read_dir(dir.path()).unwrap_err();
        assert!(matches!(&error, SchemaError::Parse { file, .. } if file == "transfer-process-schema.json"), "{error}");
    }

    #[test]
    fn a_missing_directory_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let error = read_dir(&dir.path().join("absent")).unwrap_err();
        assert!(matches!(error, SchemaError::Io { .. }), "{error}");
    }
}
