//! Invariants that are checked, not hoped for: what `gptproto-proto` must not depend on, and
//! the tidiness every source file keeps. `cargo xtask test` runs them first; they are also
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

pub(crate) fn check_all() -> Result<(), String> {
    proto_is_sans_io()?;
    tidy()?;
    Ok(())
}

/// `cargo tree -p gptproto-proto -e normal` names none of [`FORBIDDEN_IN_PROTO`].
pub(crate) fn proto_is_sans_io() -> Result<(), String> {
    let output = cargo()
        .args([
            "tree",
            "-p",
            "gptproto-proto",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .output()
        .map_err(|error| format!("cannot run cargo tree: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo tree failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let tree = String::from_utf8_lossy(&output.stdout);
    let found: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| FORBIDDEN_IN_PROTO.contains(name))
        .collect();
    if found.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "architecture invariant broken: gptproto-proto (sans-IO) depends on {found:?}; \
             see ARCHITECTURE.md"
        ))
    }
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
    fn sources_are_tidy() {
        tidy().unwrap();
    }
}
