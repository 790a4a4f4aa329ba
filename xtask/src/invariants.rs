//! Invariants that are checked, not hoped for: what `gptproto-proto` must not depend on, that
//! no published crate pulls in reqwest, and the tidiness every source file keeps. `cargo xtask test` runs them first; they are also
//! unit tests of this crate, so a plain `cargo test --workspace` runs them too.

use std::path::{Path, PathBuf};

use crate::{cargo, project_root};

/// Crates that would give the sans-IO core an async runtime, sockets, TLS or a clock.
const FORBIDDEN_IN_PROTO: &[&str] = &[
    "tokio",
    "mio",
    "socket2",
    "hyper",
    "hyper-util",
    "hyper-rustls",
    "rustls",
    "reqwest",
    "async-std",
    "smol",
    "futures",
    "futures-util",
    "chrono",
    "time",
];

/// The published crates: what users depend on.
const PUBLISHED: &[&str] = &[
    "gptproto-proto",
    "gptproto-transport",
    "gptproto-tools",
    "gptproto",
    "gptproto-cli",
];

/// Crates no published crate may pull in: the peers we measure against live in the unpublished
/// bench crate only.
const FORBIDDEN_IN_PUBLISHED: &[&str] = &["reqwest", "async-openai"];

pub(crate) fn check_all() -> Result<(), String> {
    proto_is_sans_io()?;
    tools_have_no_runtime()?;
    published_are_reqwest_free()?;
    tidy()?;
    Ok(())
}

/// `cargo tree -p gptproto-proto -e normal` names none of [`FORBIDDEN_IN_PROTO`].
pub(crate) fn proto_is_sans_io() -> Result<(), String> {
    let found = forbidden_in("gptproto-proto", FORBIDDEN_IN_PROTO)?;
    if found.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "architecture invariant broken: gptproto-proto (sans-IO) depends on {found:?}; \
             see ARCHITECTURE.md"
        ))
    }
}

/// `cargo tree -p gptproto-tools -e normal` names none of [`FORBIDDEN_IN_PROTO`] but the
/// futures traits and combinators (`join_all` runs handlers in the caller's task: no runtime).
pub(crate) fn tools_have_no_runtime() -> Result<(), String> {
    let forbidden: Vec<&str> = FORBIDDEN_IN_PROTO
        .iter()
        .copied()
        .filter(|name| !matches!(*name, "futures" | "futures-util"))
        .collect();
    let found = forbidden_in("gptproto-tools", &forbidden)?;
    if found.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "architecture invariant broken: gptproto-tools (sans-IO, any executor) depends on \
             {found:?}; see ARCHITECTURE.md"
        ))
    }
}

/// No published crate's normal dependency tree (default features and all features) names
/// any of [`FORBIDDEN_IN_PUBLISHED`].
pub(crate) fn published_are_reqwest_free() -> Result<(), String> {
    for package in PUBLISHED {
        let found = forbidden_in(package, FORBIDDEN_IN_PUBLISHED)?;
        if !found.is_empty() {
            return Err(format!(
                "architecture invariant broken: {package} depends on {found:?}; the peers \
                 belong in crates/bench only (see ARCHITECTURE.md)"
            ));
        }
    }
    Ok(())
}

/// The names in `forbidden` that `cargo tree -p package -e normal --all-features` lists.
fn forbidden_in(package: &str, forbidden: &[&str]) -> Result<Vec<String>, String> {
    let output = cargo()
        .args([
            "tree",
            "-p",
            package,
            "-e",
            "normal",
            "--all-features",
            "--prefix",
            "none",
        ])
        .output()
        .map_err(|error| format!("cannot run cargo tree: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo tree -p {package} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let tree = String::from_utf8_lossy(&output.stdout);
    let mut found: Vec<String> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| forbidden.contains(name))
        .map(str::to_owned)
        .collect();
    found.sort();
    found.dedup();
    Ok(found)
}

/// Every Rust file starts with a `//!` doc comment and has no trailing whitespace or tabs.
pub(crate) fn tidy() -> Result<(), String> {
    let root = project_root();
    let mut problems = Vec::new();
    for dir in ["crates", "xtask", "fuzz/fuzz_targets"] {
        for file in rust_files(&root.join(dir)) {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let shown = file
                .strip_prefix(&root)
                .unwrap_or(&file)
                .display()
                .to_string();
            // Test modules in their own files (`mod tests;`) share the parent's docs.
            let is_test_module = file.file_name().is_some_and(|name| name == "tests.rs");
            if !is_test_module && !text.trim_start().starts_with("//!") && !text.starts_with("#![")
            {
                problems.push(format!("{shown}: does not start with a `//!` doc comment"));
            }
            for (number, line) in text.lines().enumerate() {
                if line.ends_with(' ') || line.ends_with('\t') {
                    problems.push(format!("{shown}:{}: trailing whitespace", number + 1));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("tidy:\n{}", problems.join("\n")))
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|name| name == "target") {
                continue;
            }
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proto_pulls_in_no_runtime_socket_tls_or_clock() {
        proto_is_sans_io().unwrap();
    }

    #[test]
    fn tools_pull_in_no_runtime_socket_tls_or_clock() {
        tools_have_no_runtime().unwrap();
    }

    #[test]
    fn published_crates_pull_in_no_reqwest() {
        published_are_reqwest_free().unwrap();
    }

    #[test]
    fn sources_are_tidy() {
        tidy().unwrap();
    }
}
