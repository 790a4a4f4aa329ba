//! Invariants that are checked, not hoped for: what `gptproto-proto` must not depend on, that
//! no published crate pulls in reqwest, that the repository reads nothing outside itself, and
//! the tidiness every source file keeps. `cargo xtask test` runs them first; they are also unit
//! tests of this crate, so a plain `cargo test --workspace` runs them too.

use std::path::{Path, PathBuf};

use crate::workspace::{cargo, project_root};

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
    examples_run_without_tokio()?;
    runtime_boundary()?;
    policy_in_the_core()?;
    no_import_cycles()?;
    roots_are_not_helpers()?;
    self_contained()?;
    tidy()?;
    architecture_document()?;
    Ok(())
}

/// What ARCHITECTURE.md states that a program can check: no `mod.rs` but for the targets of a
/// `tests/` or `benches/` folder, and every workspace member and fuzz target named in it.
pub(crate) fn architecture_document() -> Result<(), String> {
    let root = project_root();
    let document = std::fs::read_to_string(root.join("ARCHITECTURE.md"))
        .map_err(|error| format!("ARCHITECTURE.md: {error}"))?;
    let manifest = std::fs::read_to_string(root.join("Cargo.toml"))
        .map_err(|error| format!("Cargo.toml: {error}"))?;
    let fuzz_targets: Vec<String> = std::fs::read_dir(root.join("fuzz/fuzz_targets"))
        .map_err(|error| format!("fuzz/fuzz_targets: {error}"))?
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .collect();
    let modules: Vec<String> = ["crates", "xtask", "examples", "fuzz"]
        .iter()
        .flat_map(|dir| rust_files(&root.join(dir)))
        .filter_map(|file| {
            let shown = file.strip_prefix(&root).ok()?.display().to_string();
            shown.ends_with("/mod.rs").then_some(shown)
        })
        .collect();
    let problems = document_problems(&document, &members(&manifest), &fuzz_targets, &modules);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("ARCHITECTURE.md:\n{}", problems.join("\n")))
    }
}

/// The workspace's members, as the root manifest lists them.
fn members(manifest: &str) -> Vec<String> {
    manifest
        .lines()
        .find_map(|line| line.trim().strip_prefix("members = ["))
        .map(|list| {
            list.trim_end_matches(']')
                .split(',')
                .map(|member| member.trim().trim_matches('"').to_owned())
                .filter(|member| !member.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn document_problems(
    document: &str,
    members: &[String],
    fuzz_targets: &[String],
    modules: &[String],
) -> Vec<String> {
    let mut problems = Vec::new();
    if members.is_empty() {
        problems.push("no workspace members found in Cargo.toml".to_owned());
    }
    for member in members {
        if !document.contains(&format!("### `{member}`")) {
            problems.push(format!(
                "the workspace member {member} has no section in the code map"
            ));
        }
    }
    for target in fuzz_targets {
        if !document.contains(&format!("`{target}`")) {
            problems.push(format!("the fuzz target {target} is not named"));
        }
    }
    for module in modules {
        let shared = module
            .rsplit('/')
            .nth(2)
            .is_some_and(|folder| folder == "tests" || folder == "benches");
        if !shared {
            problems.push(format!(
                "{module}: a mod.rs (the layout is foo.rs beside foo/, but for tests/ and benches/)"
            ));
        }
    }
    problems
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

/// The examples that drive the core by hand (`examples/`, on `std::net` and on smol) pull in
/// no tokio, mio or hyper: they show the core needs none.
pub(crate) fn examples_run_without_tokio() -> Result<(), String> {
    let found = forbidden_in(
        "gptproto-examples",
        &["tokio", "mio", "hyper", "hyper-util"],
    )?;
    if found.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the examples of embedding the core depend on {found:?}: they must run on std and \
             smol alone"
        ))
    }
}

/// Where the client may name its runtime or its target: (file, what it may name). Everything
/// else in the facade and the transport is written against `rt` and `HttpConnector`.
const RUNTIME_BOUNDARY: &[(&str, &str)] = &[
    ("crates/gptproto/src/rt.rs", "tokio"),
    ("crates/gptproto/src/rt/native.rs", "tokio"),
    ("crates/gptproto/src/rt.rs", "target_arch"),
    // The clock and the jitter's generator: rt.rs (its test compares the virtual clock with
    // the real one) and its two hosts.
    ("crates/gptproto/src/rt.rs", "std::time::Instant"),
    ("crates/gptproto/src/rt.rs", "fastrand"),
    ("crates/gptproto/src/rt/native.rs", "SystemTime::now"),
    ("crates/gptproto/src/rt/web.rs", "std::time::Instant"),
    ("crates/gptproto/src/rt/web.rs", "SystemTime::now"),
    ("crates/gptproto/src/rt/web.rs", "fastrand"),
    // The OTLP exporter's requests run on a runtime of its own (they are not a call's: no
    // deadline or backoff of the client is there).
    ("crates/gptproto/src/otel.rs", "tokio"),
    ("crates/gptproto/src/client.rs", "target_arch"),
    ("crates/gptproto/src/client/hyper.rs", "target_arch"),
    ("crates/gptproto/src/lib.rs", "target_arch"),
    ("crates/transport/src/lib.rs", "target_arch"),
    ("crates/transport/src/error.rs", "target_arch"),
    ("crates/transport/src/classify.rs", "target_arch"),
];

/// The facade names tokio, the standard clocks and the random generator only in its runtime
/// module (so that a paused runtime and a seeded jitter drive all of its time), and the facade
/// and the transport choose a target (`cfg(target_arch)`) only in the files of
/// [`RUNTIME_BOUNDARY`].
pub(crate) fn runtime_boundary() -> Result<(), String> {
    let root = project_root();
    let mut texts = Vec::new();
    for dir in ["crates/gptproto/src", "crates/transport/src"] {
        for file in rust_files(&root.join(dir)) {
            let shown = file
                .strip_prefix(&root)
                .unwrap_or(&file)
                .display()
                .to_string();
            texts.push((shown, std::fs::read_to_string(&file).unwrap_or_default()));
        }
    }
    let crossings = boundary_crossings(&texts);
    if crossings.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the runtime boundary is crossed (ARCHITECTURE.md, \"The runtime boundary\"):\n{}",
            crossings.join("\n")
        ))
    }
}

/// Each line of `texts` (path, text) naming tokio in the facade, or `target_arch` in the facade
/// or the transport, outside the files [`RUNTIME_BOUNDARY`] allows.
fn boundary_crossings(texts: &[(String, String)]) -> Vec<String> {
    let mut crossings = Vec::new();
    for (path, text) in texts {
        let watched: &[&str] = if path.starts_with("crates/gptproto/") {
            &[
                "tokio",
                "target_arch",
                "std::time::Instant",
                "SystemTime::now",
                "fastrand",
            ]
        } else {
            &["target_arch"]
        };
        for (number, line) in text.lines().enumerate() {
            for word in watched {
                let allowed = RUNTIME_BOUNDARY.contains(&(path.as_str(), *word));
                if line.contains(word) && !allowed {
                    crossings.push(format!("{path}:{}: names {word}", number + 1));
                }
            }
        }
    }
    crossings
}

/// The source folders whose files must not import each other in a ring.
const CYCLE_FREE: [&str; 10] = [
    "crates/proto/src",
    "crates/transport/src",
    "crates/tools/src",
    "crates/gptproto/src",
    "crates/cli/src",
    "crates/testkit/src",
    "crates/soak/src",
    "crates/bench/src",
    "examples/src",
    "xtask/src",
];

/// Cycles known and being removed (each one a ratchet: a new cycle fails, and so does a known
/// one that is gone, so that the list only shrinks).
const KNOWN_CYCLES: [&str; 0] = [];

/// No import cycle between the files of a crate (`crate::cycles`), but those known.
pub(crate) fn no_import_cycles() -> Result<(), String> {
    let root = project_root();
    let mut found = Vec::new();
    for src in CYCLE_FREE {
        for cycle in crate::cycles::cycles_in(&root.join(src)) {
            found.push(format!("{src}: {cycle}"));
        }
    }
    let new: Vec<&String> = found
        .iter()
        .filter(|cycle| !KNOWN_CYCLES.contains(&cycle.as_str()))
        .collect();
    let gone: Vec<&&str> = KNOWN_CYCLES
        .iter()
        .filter(|known| !found.iter().any(|cycle| cycle == **known))
        .collect();
    if !new.is_empty() {
        return Err(format!(
            "files of a crate import each other in a ring (move what they share beside what it serves):\n{}",
            new.iter()
                .map(|cycle| cycle.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    if !gone.is_empty() {
        return Err(format!(
            "a known import cycle is gone: take it off KNOWN_CYCLES in xtask/src/invariants.rs: {gone:?}"
        ));
    }
    Ok(())
}

/// No crate root used as a helper module (`crate::roots`): what a crate's modules share lives
/// in a module of its own.
pub(crate) fn roots_are_not_helpers() -> Result<(), String> {
    let root = project_root();
    let found: Vec<String> = CYCLE_FREE
        .iter()
        .flat_map(|src| {
            crate::roots::helpers_in_root(&root.join(src))
                .into_iter()
                .map(move |use_| format!("{src}: {use_}"))
        })
        .collect();
    if found.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "a crate root's function is used by its modules (move it into a module of its own):\n{}",
            found.join("\n")
        ))
    }
}

/// What decides a retry, a backoff's wait or a redirect, named outside the core: the facade,
/// the CLI and the examples drive the core's call machine and ask its classification.
const POLICY_WORDS: [&str; 5] = [
    ".decide(",
    "retry_after(",
    "should_retry_header(",
    "StatusCode::TEMPORARY_REDIRECT",
    "header::LOCATION",
];

/// No retry, redirect or deadline decision outside the core (ARCHITECTURE.md, "Every retry,
/// redirect and deadline is decided in the core's call machine").
pub(crate) fn policy_in_the_core() -> Result<(), String> {
    let root = project_root();
    let mut texts = Vec::new();
    for dir in ["crates/gptproto/src", "crates/cli/src", "examples/src"] {
        for file in rust_files(&root.join(dir)) {
            let shown = file
                .strip_prefix(&root)
                .unwrap_or(&file)
                .display()
                .to_string();
            texts.push((shown, std::fs::read_to_string(&file).unwrap_or_default()));
        }
    }
    let found = policy_outside_the_core(&texts);
    if found.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "retry or redirect policy outside the core's call machine (ARCHITECTURE.md):\n{}",
            found.join("\n")
        ))
    }
}

/// Each line of `texts` (path, text) that names one of [`POLICY_WORDS`].
fn policy_outside_the_core(texts: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (path, text) in texts {
        for (number, line) in text.lines().enumerate() {
            if let Some(word) = POLICY_WORDS.iter().find(|word| line.contains(*word)) {
                found.push(format!("{path}:{}: names {word}", number + 1));
            }
        }
    }
    found
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

/// The reference folder kept beside the repository on the team's machines: nothing may read
/// or cite it, because a clone elsewhere does not have it. (Spelled in two pieces so that this
/// file does not mention it.)
const BESIDE: &str = concat!("../", "shared");

/// No tracked file mentions the folder beside the repository, and every relative path a file
/// names that starts with `../` leads to a file or folder of the repository (from the file's
/// folder or from its package's): a clone with nothing beside it builds, tests and documents
/// itself.
pub(crate) fn self_contained() -> Result<(), String> {
    let root = project_root();
    let files = repository_files(&root)?;
    let texts: Vec<(String, String)> = files
        .iter()
        .filter_map(|name| {
            let text = std::fs::read_to_string(root.join(name)).ok()?;
            Some((name.clone(), text))
        })
        .collect();
    let problems = outside_references(&files, &texts);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the repository must stand on its own (copy what is needed into it, with its source):\n{}",
            problems.join("\n")
        ))
    }
}

/// The repository's files, relative to `root`: tracked, or new and not ignored.
fn repository_files(root: &Path) -> Result<Vec<String>, String> {
    let output = std::process::Command::new("git")
        .args(["ls-files", "--cached", "--others", "--exclude-standard"])
        .current_dir(root)
        .output()
        .map_err(|error| format!("cannot run git ls-files: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "git ls-files failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let mut files: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|name| root.join(name).is_file())
        .map(str::to_owned)
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

/// What in `texts` (path, content) refers outside the repository whose files are `files`.
fn outside_references(files: &[String], texts: &[(String, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, text) in texts {
        for (number, line) in text.lines().enumerate() {
            let at = format!("{name}:{}", number + 1);
            if line.contains(BESIDE) {
                problems.push(format!("{at}: mentions {BESIDE}"));
                continue;
            }
            for path in relative_paths(line) {
                if !leads_inside(files, name, path) {
                    problems.push(format!("{at}: {path} is not a path of the repository"));
                }
            }
        }
    }
    problems
}

/// The `../…` paths written in `line`.
fn relative_paths(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| !(c.is_ascii_alphanumeric() || "._/-".contains(c)))
        .filter(|token| token.starts_with("../"))
        .map(|token| token.trim_end_matches(['.', '/']))
}

/// Whether `path`, read from the folder of the file `from` or from its package's (the nearest
/// folder above it with a `Cargo.toml`), names a file or folder of the repository.
fn leads_inside(files: &[String], from: &str, path: &str) -> bool {
    let folder = |name: &str| {
        name.rsplit_once('/')
            .map_or(String::new(), |(dir, _)| dir.to_owned())
    };
    let mut bases = vec![folder(from)];
    let mut dir = folder(from);
    while !dir.is_empty() {
        if files
            .iter()
            .any(|file| *file == format!("{dir}/Cargo.toml"))
        {
            bases.push(dir.clone());
            break;
        }
        dir = folder(&dir);
    }
    bases.iter().any(|base| {
        let Some(target) = normalized(base, path) else {
            return false;
        };
        files
            .iter()
            .any(|file| *file == target || file.starts_with(&format!("{target}/")))
    })
}

/// `base/path` with `..` and `.` resolved, relative to the repository's root; `None` when it
/// climbs above the root.
fn normalized(base: &str, path: &str) -> Option<String> {
    let mut parts: Vec<&str> = base.split('/').filter(|part| !part.is_empty()).collect();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
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
mod architecture_tests {
    use super::*;

    #[test]
    fn the_document_names_members_and_targets_and_mod_rs_is_only_for_shared_test_code() {
        let manifest = "[workspace]\nmembers = [\"crates/a\", \"crates/b\"]\n";
        let members = members(manifest);
        assert_eq!(members, ["crates/a", "crates/b"]);
        let document = "### `crates/a` (a)\n`sse_split` and more";
        let problems = document_problems(
            document,
            &members,
            &["sse_split".to_owned(), "call_events".to_owned()],
            &[
                "crates/a/tests/support/mod.rs".to_owned(),
                "crates/a/src/wire/mod.rs".to_owned(),
            ],
        );
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(problems[0].contains("crates/b"));
        assert!(problems[1].contains("call_events"));
        assert!(problems[2].starts_with("crates/a/src/wire/mod.rs"));
        // And this repository's document holds.
        architecture_document().unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naming_the_runtime_outside_its_module_crosses_the_boundary() {
        let texts = [
            (
                "crates/gptproto/src/rt/native.rs".to_owned(),
                "tokio::time::sleep".to_owned(),
            ),
            (
                "crates/gptproto/src/send.rs".to_owned(),
                "ok\ntokio::time::sleep(d)".to_owned(),
            ),
            (
                "crates/transport/src/lanes.rs".to_owned(),
                "use tokio::sync;".to_owned(),
            ),
            (
                "crates/transport/src/fetch.rs".to_owned(),
                "#[cfg(target_arch = \"wasm32\")]".to_owned(),
            ),
            (
                "crates/gptproto/src/batch.rs".to_owned(),
                "let t = std::time::Instant::now();\nlet j = fastrand::f64();".to_owned(),
            ),
        ];
        assert_eq!(
            boundary_crossings(&texts),
            [
                "crates/gptproto/src/send.rs:2: names tokio",
                "crates/transport/src/fetch.rs:1: names target_arch",
                "crates/gptproto/src/batch.rs:1: names std::time::Instant",
                "crates/gptproto/src/batch.rs:2: names fastrand",
            ]
        );
        runtime_boundary().unwrap();
    }

    #[test]
    fn no_crate_root_is_a_helper_module() {
        roots_are_not_helpers().unwrap();
    }

    #[test]
    fn no_new_import_cycle() {
        no_import_cycles().unwrap();
    }

    #[test]
    fn a_retry_decision_outside_the_core_is_caught() {
        let texts = [
            (
                "crates/gptproto/src/send.rs".to_owned(),
                "let decision = policy.decide(0, &failure, now, jitter);".to_owned(),
            ),
            (
                "examples/src/lib.rs".to_owned(),
                "let wait = call.poll_timeout();".to_owned(),
            ),
        ];
        assert_eq!(
            policy_outside_the_core(&texts),
            ["crates/gptproto/src/send.rs:1: names .decide("]
        );
        policy_in_the_core().unwrap();
    }

    #[test]
    fn proto_pulls_in_no_runtime_socket_tls_or_clock() {
        proto_is_sans_io().unwrap();
    }

    #[test]
    fn tools_pull_in_no_runtime_socket_tls_or_clock() {
        tools_have_no_runtime().unwrap();
    }

    #[test]
    fn the_embedding_examples_pull_in_no_tokio_mio_or_hyper() {
        examples_run_without_tokio().unwrap();
    }

    #[test]
    fn published_crates_pull_in_no_reqwest() {
        published_are_reqwest_free().unwrap();
    }

    #[test]
    fn sources_are_tidy() {
        tidy().unwrap();
    }

    #[test]
    fn the_repository_reads_nothing_outside_itself() {
        self_contained().unwrap();
    }

    /// A tree as this repository's was before the SSE cases moved in, and after.
    #[test]
    fn a_file_citing_the_folder_beside_or_a_path_outside_fails_the_check() {
        let files: Vec<String> = [
            "README.md",
            "crates/proto/Cargo.toml",
            "crates/proto/tests/sse.rs",
            "crates/proto/tests/data/sse-cases.json",
            "crates/gptproto/Cargo.toml",
            "crates/gptproto/src/lib.rs",
            "docs/quirks.md",
        ]
        .map(str::to_owned)
        .to_vec();
        let text = |name: &str, text: String| (name.to_owned(), text);
        // Built from pieces, so that this file does not itself name paths outside.
        let up = |levels: usize| "../".repeat(levels);
        let before = [
            text(
                "crates/proto/tests/sse.rs",
                format!(
                    r#"PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("{}data/sse-cases.json")"#,
                    up(2) + BESIDE.trim_start_matches("../") + "/"
                ),
            ),
            text(
                "docs/quirks.md",
                format!("Each line of `{BESIDE}/api/provider-notes.md`"),
            ),
            text(
                "crates/gptproto/src/lib.rs",
                format!(r#"include_str!("{}notes.md")"#, up(4)),
            ),
        ];
        let problems = outside_references(&files, &before);
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(
            problems[0].starts_with("crates/proto/tests/sse.rs:1: mentions"),
            "{problems:?}"
        );
        assert!(
            problems[2].ends_with("notes.md is not a path of the repository"),
            "{problems:?}"
        );

        let after = [
            text(
                "crates/proto/tests/sse.rs",
                r#"include_str!("data/sse-cases.json")"#.to_owned(),
            ),
            text(
                "docs/quirks.md",
                format!(
                    "[the cases]({}crates/proto/tests/data/sse-cases.json)",
                    up(1)
                ),
            ),
            // From the file's folder, and from its package's (Cargo.toml's `readme`).
            text(
                "crates/gptproto/src/lib.rs",
                format!(r#"include_str!("{}README.md")"#, up(3)),
            ),
            text(
                "crates/gptproto/Cargo.toml",
                format!(r#"readme = "{}README.md""#, up(2)),
            ),
        ];
        assert_eq!(outside_references(&files, &after), Vec::<String>::new());
    }
}
