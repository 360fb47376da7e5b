//! The import rules ARCHITECTURE.md states, checked against the source: which top-level module
//! may use which, and which crates only one module may know. A rule broken by a change fails
//! here with the file and line. A known exception would be listed with its reason, and the test
//! fails once it is no longer needed, so an exception cannot outlive its cause; there is none.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module of `src/` and the modules it may use (`crate::<module>`).
const MAY_USE: &[(&str, &[&str])] = &[
    // The shared vocabulary (level, role, verdict, finding, violation, exchange) is the bottom
    // layer: every module may use it, it uses none.
    ("vocab", &[]),
    ("protocol", &["vocab"]),
    ("identity", &["vocab"]),
    ("report", &["vocab"]),
    ("serving", &["vocab"]),
    ("schema", &["report", "vocab"]),
    ("suite", &["protocol", "report", "vocab"]),
    ("recording", &["protocol", "report", "schema", "serving", "vocab"]),
    ("reference", &["identity", "protocol", "schema", "serving", "vocab"]),
    ("runtime", &["identity", "protocol", "reference", "serving", "vocab"]),
    ("target", &["protocol", "recording", "runtime", "schema", "vocab"]),
    ("runner", &["identity", "protocol", "recording", "reference", "report", "runtime", "schema", "serving", "suite", "target", "vocab"]),
    ("load", &["identity", "protocol", "recording", "reference", "report", "runner", "runtime", "schema", "serving", "target", "vocab"]),
    ("cli", &["identity", "load", "protocol", "recording", "reference", "report", "runner", "runtime", "schema", "serving", "suite", "target", "vocab"]),
];

/// Uses the rules forbid that the code still has, each with why it is there and what removes it.
/// Empty since recording HTTP moved below `runner` and `target` (issue #12); an entry added here
/// fails the test once the use it excuses is gone.
const KNOWN_EXCEPTIONS: &[(&str, &str, &str)] = &[];

/// Crates only one module may name: (crate, the module that may, why).
const OWNED_CRATES: &[(&str, &str, &str)] = &[
    ("clap", "cli", "only cli knows the command line"),
    ("goose", "load", "only load knows goose"),
    ("testcontainers", "runtime", "only runtime knows Docker"),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::<module>` a line of code names, with the line, skipping comments.
fn crate_uses(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let tail = &rest[at + "crate::".len()..];
            let name: String = tail.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                found.push((number + 1, name));
            }
            rest = tail;
        }
        // `use crate::{a, b::c}` names several modules at once.
        if let Some(at) = code.find("crate::{") {
            let group = &code[at + "crate::{".len()..];
            for part in group.split(',') {
                let name: String = part.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    found.push((number + 1, name));
                }
            }
        }
    }
    found
}

fn names_crate(text: &str, krate: &str) -> Option<usize> {
    text.lines().position(|line| {
        let code = line.split("//").next().unwrap_or("");
        code.contains(&format!("{krate}::")) && !code.contains(&format!("_{krate}::"))
    })
}

#[test]
fn modules_use_only_what_architecture_md_allows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let rules: BTreeMap<&str, BTreeSet<&str>> = MAY_USE.iter().map(|(m, uses)| (*m, uses.iter().copied().collect())).collect();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut broken = Vec::new();
    let mut exceptions_seen = BTreeSet::new();
    for path in &files {
        let relative = path.strip_prefix(&src).unwrap();
        let Some(module) = relative.components().next().and_then(|c| c.as_os_str().to_str()) else { continue };
        let module = module.trim_end_matches(".rs");
        let text = std::fs::read_to_string(path).unwrap();
        if let Some(allowed) = rules.get(module) {
            for (line, used) in crate_uses(&text) {
                if used == module || allowed.contains(used.as_str()) || !rules.contains_key(used.as_str()) {
                    continue;
                }
                if KNOWN_EXCEPTIONS.iter().any(|(from, to, _)| *from == module && *to == used) {
                    exceptions_seen.insert((module.to_string(), used));
                    continue;
                }
                broken.push(format!("src/{}:{line}: {module} uses crate::{used}", relative.display()));
            }
        }
        for (krate, owner, why) in OWNED_CRATES {
            let is_owner = module == *owner || (module == "main" && *krate == "clap");
            if let (false, Some(line)) = (is_owner, names_crate(&text, krate)) {
                broken.push(format!("src/{}:{}: names {krate} ({why})", relative.display(), line + 1));
            }
        }
        let prints = text.lines().position(|l| {
            let code = l.split("//").next().unwrap_or("");
            code.contains("println!(") || code.contains("print!(")
        });
        if let (false, Some(line)) = (module == "cli" || module == "main", prints) {
            broken.push(format!("src/{}:{}: prints to stdout (only cli does)", relative.display(), line + 1));
        }
    }
    assert!(broken.is_empty(), "imports ARCHITECTURE.md forbids:\n{}", broken.join("\n"));
    for (from, to, why) in KNOWN_EXCEPTIONS {
        assert!(
            exceptions_seen.contains(&(from.to_string(), to.to_string())),
            "{from} no longer uses {to}: remove the exception ({why}) from KNOWN_EXCEPTIONS and ARCHITECTURE.md"
        );
    }
}

#[test]
fn a_forbidden_use_is_found_with_its_line() {
    let text = "//! doc\nuse crate::protocol::Thing;\n// use crate::runner::Nope;\nuse crate::{runner::X, schema};\n";
    assert_eq!(
        crate_uses(text),
        vec![(2, "protocol".to_string()), (4, "runner".to_string()), (4, "schema".to_string())]
    );
}

/// The shared vocabulary is defined in `src/vocab.rs`, not in the report: `report::model` only
/// re-exports it, so no layer needs the report model to speak of a verdict or a finding.
/// (Other modules may have their own, unrelated `Role`s, such as a container's.)
#[test]
fn the_shared_vocabulary_is_defined_in_vocab_not_in_report() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let defines = |text: &str, word: &str| text.lines().any(|l| l.trim_start().starts_with(&format!("pub {word} ")));
    let vocab = std::fs::read_to_string(src.join("vocab.rs")).unwrap();
    let mut report_files = Vec::new();
    rust_files(&src.join("report"), &mut report_files);
    for word in ["enum Level", "enum Role", "enum Verdict", "struct Finding", "struct Violation", "struct Exchange", "enum Body"] {
        assert!(defines(&vocab, word), "src/vocab.rs does not define `pub {word}`");
        for path in &report_files {
            assert!(!defines(&std::fs::read_to_string(path).unwrap(), word), "{} defines `pub {word}`: it belongs in src/vocab.rs", path.display());
        }
    }
}

/// Every crate in `[dependencies]` is named by the library's source: a crate only tests use
/// belongs in `[dev-dependencies]`, and an unused one costs every build its compile time.
#[test]
fn every_dependency_is_used_by_the_library() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest: toml::Value = std::fs::read_to_string(root.join("Cargo.toml")).unwrap().parse().unwrap();
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let source: String = files.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect::<Vec<_>>().join("\n");
    let unused: Vec<String> = manifest["dependencies"]
        .as_table()
        .unwrap()
        .keys()
        .filter(|name| {
            // The library name of a package: `md-5` is `md5`, `aws-lc-rs` is `aws_lc_rs`.
            let krate = match name.as_str() {
                "md-5" => "md5".to_string(),
                other => other.replace('-', "_"),
            };
            !source.contains(&format!("{krate}::")) && !source.contains(&format!("use {krate}"))
        })
        .cloned()
        .collect();
    assert!(unused.is_empty(), "dependencies the library never names (remove them, or move them to [dev-dependencies]): {unused:?}");
}

/// The object store is s3s and s3s-fs with a thin adapter (issue #12): what this project writes
/// of it stays under 600 lines, tests included.
#[test]
fn the_object_store_adapter_stays_thin() {
    let mut files = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src/reference/objectstore"), &mut files);
    let lines: usize = files.iter().map(|p| std::fs::read_to_string(p).unwrap().lines().count()).sum();
    assert!(lines < 600, "src/reference/objectstore/ has {lines} lines: s3s and s3s-fs do the S3 work, the adapter should stay under 600");
}

/// Every line of `text` that calls `process::exit`, outside comments.
fn process_exits(text: &str) -> Vec<usize> {
    text.lines().enumerate().filter(|(_, line)| line.split("//").next().unwrap_or("").contains("process::exit(")).map(|(n, _)| n + 1).collect()
}

#[test]
fn only_main_ends_the_process() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut found = Vec::new();
    for path in files.iter().filter(|p| !p.ends_with("main.rs") || p.parent() != Some(src.as_path())) {
        let text = std::fs::read_to_string(path).unwrap();
        found.extend(process_exits(&text).into_iter().map(|line| format!("src/{}:{line}", path.strip_prefix(&src).unwrap().display())));
    }
    assert!(found.is_empty(), "only main.rs may end the process (library code asks cli::exit::stop_at_once): {found:?}");
    let main = std::fs::read_to_string(src.join("main.rs")).unwrap();
    assert_eq!(process_exits(&main).len(), 1, "main.rs holds the crate's one process::exit, the stopper it hands to cli::exit");
}

#[test]
fn the_process_exit_scanner_sees_calls_and_not_comments() {
    assert_eq!(process_exits("fn f() {\n    std::process::exit(3);\n}\n"), vec![2]);
    assert!(process_exits("// std::process::exit(3) is main's\nlet x = 1;").is_empty());
}

/// The codemap section of ARCHITECTURE.md: its entries, each a top-level bullet with its
/// continuation lines.
fn codemap(text: &str) -> Vec<String> {
    let start = text.find("## Codemap").expect("ARCHITECTURE.md has a codemap");
    let rest = &text[start..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |at| at + 3);
    let mut entries: Vec<String> = Vec::new();
    for line in rest[..end].lines() {
        if line.starts_with("- ") {
            entries.push(line.to_string());
        } else if line.starts_with("  ") {
            if let Some(last) = entries.last_mut() {
                last.push('\n');
                last.push_str(line);
            }
        }
    }
    entries
}

/// The backticked words of `text` that name a path of the repository.
fn named_paths(text: &str) -> Vec<String> {
    const ROOTS: [&str; 8] = ["src/", "tests/", "fixtures/", "suites/", "benches/", "docker/", "templates/", "targets/"];
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| ROOTS.iter().any(|r| w.starts_with(r)) && !w.contains(['<', '*', ' ', '{']))
        .map(|w| w.split("::").next().unwrap_or(w).to_string())
        .collect()
}

/// What the codemap leaves out or names wrongly: paths that do not exist, top-level modules
/// without an entry (or without an import rule), and files of a folder module its entries do
/// not name (by path, or by file name in an entry that names the folder).
fn codemap_problems(root: &Path, text: &str) -> Vec<String> {
    let entries = codemap(text);
    let all = entries.join("\n");
    let mut problems = Vec::new();
    for path in named_paths(&all) {
        if !root.join(path.trim_end_matches('/')).exists() {
            problems.push(format!("the codemap names {path}, which does not exist"));
        }
    }
    let src = root.join("src");
    let mut tops: Vec<PathBuf> = std::fs::read_dir(&src).unwrap().map(|e| e.unwrap().path()).collect();
    tops.sort();
    for top in tops {
        let name = top.file_name().unwrap().to_str().unwrap().to_string();
        let module = name.trim_end_matches(".rs");
        let named = format!("src/{name}");
        if !all.contains(&named) {
            problems.push(format!("no codemap entry names {named}"));
        }
        if !matches!(module, "lib" | "main") && !MAY_USE.iter().any(|(m, _)| *m == module) {
            problems.push(format!("src/{name} has no import rule in MAY_USE"));
        }
        if !top.is_dir() {
            continue;
        }
        let folder = format!("src/{module}/");
        let own: Vec<&String> = entries.iter().filter(|e| e.contains(&folder)).collect();
        let mut files = Vec::new();
        rust_files(&top, &mut files);
        for file in files {
            let relative = file.strip_prefix(root).unwrap().to_str().unwrap().to_string();
            let file_name = file.file_name().unwrap().to_str().unwrap();
            if matches!(file_name, "mod.rs" | "error.rs") {
                continue;
            }
            // src/<module>/<sub>/.../<file>: the sub-folder named whole covers its files.
            let inner = relative.strip_prefix(&folder).unwrap();
            let sub = inner.split('/').next().filter(|_| inner.contains('/')).map(|s| format!("{s}/"));
            let covered = all.contains(&relative)
                || own.iter().any(|e| e.contains(&format!("`{file_name}`")) || e.contains(&format!("`{inner}`")))
                || sub.as_ref().is_some_and(|s| own.iter().any(|e| e.contains(&format!("`{s}")) || e.contains(&format!("{folder}{s}"))));
            if !covered {
                problems.push(format!("the codemap does not name {relative}"));
            }
        }
    }
    problems
}

#[test]
fn the_codemap_of_architecture_md_matches_the_folders() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let problems = codemap_problems(root, &text);
    assert!(problems.is_empty(), "ARCHITECTURE.md's codemap and the folders disagree:\n{}", problems.join("\n"));
}

#[test]
fn the_codemap_check_finds_a_missing_or_stale_path() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let stale = text.replacen("## Codemap\n", "## Codemap\n\n- `src/no_such_module.rs`: gone.\n", 1);
    assert!(codemap_problems(root, &stale).iter().any(|p| p.contains("src/no_such_module.rs, which does not exist")));
    let missing = text.replace("`src/serving.rs`", "`the serving file`");
    assert!(codemap_problems(root, &missing).iter().any(|p| p == "no codemap entry names src/serving.rs"), "{:?}", codemap_problems(root, &missing));
}
