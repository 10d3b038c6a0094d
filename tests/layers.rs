//! The layers of `src/` import only downwards (docs/architecture.md): `api → service → store →
//! domain`, `scheduler → service`, and `config` and `telemetry` are leaves. This test reads the
//! sources and names every import that runs the wrong way, so a cycle cannot creep back in.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Each layer (a top-level module of the crate) and the crate modules it must not import.
const FORBIDDEN: &[(&str, &[&str])] = &[
    (
        "domain",
        &[
            "api",
            "app",
            "config",
            "metrics",
            "proto",
            "scheduler",
            "service",
            "store",
            "telemetry",
            "wakeups",
        ],
    ),
    (
        "store",
        &[
            "api",
            "app",
            "proto",
            "scheduler",
            "service",
            "telemetry",
            "wakeups",
        ],
    ),
    (
        "service",
        &["api", "app", "proto", "scheduler", "telemetry"],
    ),
    ("scheduler", &["api", "app", "proto", "store"]),
    ("api", &["app", "scheduler", "store"]),
    (
        "config",
        &[
            "api",
            "app",
            "domain",
            "metrics",
            "proto",
            "scheduler",
            "service",
            "store",
            "telemetry",
            "wakeups",
        ],
    ),
    (
        "telemetry",
        &[
            "api",
            "app",
            "domain",
            "metrics",
            "scheduler",
            "service",
            "store",
            "wakeups",
        ],
    ),
];

/// Outside crates a layer must not use: the rules know no I/O, and only the edge speaks gRPC.
const FORBIDDEN_CRATES: &[(&str, &[&str])] = &[
    ("domain", &["sqlx", "tonic", "tokio", "prost"]),
    ("store", &["tonic", "prost"]),
    ("service", &["tonic", "prost"]),
];

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The layer a file belongs to: `src/<layer>.rs` or `src/<layer>/…`.
fn layer_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("under src");
    let first = relative.components().next().expect("a component");
    let name = first.as_os_str().to_string_lossy();
    name.trim_end_matches(".rs").to_owned()
}

/// The crate modules a source text names: `crate::x` and `use crate::{x, y::…}`.
fn crate_modules(text: &str) -> BTreeSet<String> {
    let mut modules = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                let head = item.trim().split("::").next().unwrap_or_default();
                modules.insert(head.trim().to_owned());
            }
        } else {
            let head: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            modules.insert(head);
        }
    }
    modules
}

fn uses_crate(text: &str, krate: &str) -> bool {
    text.lines().any(|line| {
        let line = line.trim_start();
        !line.starts_with("//")
            && (line.contains(&format!("{krate}::")) || line.contains(&format!("use {krate};")))
    })
}

#[test]
fn layers_import_only_downwards() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let layer = layer_of(&src, file);
        let text = std::fs::read_to_string(file).expect("read a source file");
        let shown = file.strip_prefix(&src).expect("under src").display();
        let modules = crate_modules(&text);
        for (_, forbidden) in FORBIDDEN.iter().filter(|(l, _)| *l == layer) {
            for module in forbidden.iter().filter(|m| modules.contains(**m)) {
                wrong.push(format!("{shown} ({layer}) imports crate::{module}"));
            }
        }
        for (_, crates) in FORBIDDEN_CRATES.iter().filter(|(l, _)| *l == layer) {
            for krate in crates.iter().filter(|k| uses_crate(&text, k)) {
                wrong.push(format!("{shown} ({layer}) uses the {krate} crate"));
            }
        }
    }
    assert!(
        files.len() > 50,
        "found only {} files under src",
        files.len()
    );
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn crate_modules_finds_single_and_grouped_imports() {
    let text = "use crate::store::leads;\nuse crate::{api, domain::lead::Lead};\nlet x = crate::proto::Lead::default();";
    let found: Vec<_> = crate_modules(text).into_iter().collect();
    assert_eq!(found, ["api", "domain", "proto", "store"]);
}
