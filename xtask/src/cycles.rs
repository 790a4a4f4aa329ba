//! Import cycles between the files of a crate: which module's file names which other's
//! (`crate::a::b`, `super::c`, `use crate::{a, b}`), grouped at each level of the module tree,
//! and the groups that name each other in a ring. A module and its own submodules are one
//! thing (a submodule extending its parent's type is not a cycle); two modules beside each
//! other that need each other mean that shared code sits in one of them and belongs in a third
//! (ARCHITECTURE.md).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A module's path in its crate: `["exchange", "config"]` for `src/exchange/config.rs`.
pub(crate) type ModulePath = Vec<String>;

/// The cycles among the files of the crate whose sources are in `src`, one line each:
/// `exchange -> validate -> exchange`.
pub(crate) fn cycles_in(src: &Path) -> Vec<String> {
    let files = module_files(src);
    let modules: BTreeSet<ModulePath> = files.iter().map(|(module, _)| module.clone()).collect();
    // Edges between the children of each module: parent -> (child -> children it names).
    let mut levels: BTreeMap<ModulePath, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (from, text) in &files {
        for named in named_modules(from, text) {
            let to = deepest_module(&modules, &named);
            let common = common_prefix(from, &to);
            // One inside the other: a module and its own submodules.
            if common.len() == from.len() || common.len() == to.len() {
                continue;
            }
            let (a, b) = (from[common.len()].clone(), to[common.len()].clone());
            levels
                .entry(common)
                .or_default()
                .entry(a)
                .or_default()
                .insert(b);
        }
    }
    let mut found = Vec::new();
    for (parent, graph) in &levels {
        for ring in rings(graph) {
            let prefix = if parent.is_empty() {
                String::new()
            } else {
                format!("{}::", parent.join("::"))
            };
            let named: Vec<String> = ring.iter().map(|name| format!("{prefix}{name}")).collect();
            found.push(format!("{} -> {}", named.join(" -> "), named[0]));
        }
    }
    found
}

/// Every `.rs` file under `src` with its module path, tests excepted (a `tests.rs` is its
/// parent's own).
pub(crate) fn module_files(src: &Path) -> Vec<(ModulePath, String)> {
    let mut files = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|extension| extension != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap_or(&path);
            let mut module: ModulePath = relative
                .with_extension("")
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(module.last().map(String::as_str), Some("tests")) {
                continue;
            }
            if matches!(
                module.last().map(String::as_str),
                Some("lib" | "main" | "mod")
            ) {
                module.pop();
            }
            if module.first().is_some_and(|first| first == "bin") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            files.push((module, without_test_modules(&text)));
        }
    }
    files
}

/// `text` up to its `#[cfg(test)]` module (by this project's layout, the file's end).
fn without_test_modules(text: &str) -> String {
    match text.find("#[cfg(test)]\nmod tests {") {
        Some(at) => text[..at].to_owned(),
        None => text.to_owned(),
    }
}

/// The module paths `text` (the file of module `from`) names: `crate::a::b::Item` gives
/// `[a, b, Item]`, `super::c` gives `from`'s parent's `[.., c]`; `use crate::{a, b::c}` gives
/// `[a]` and `[b, c]`.
fn named_modules(from: &ModulePath, text: &str) -> Vec<ModulePath> {
    let mut named = Vec::new();
    let code: String = text
        .lines()
        .filter(|line| {
            let line = line.trim_start();
            !(line.starts_with("//") || line.starts_with("#[doc"))
        })
        .collect::<Vec<_>>()
        .join("\n");
    for (prefix, base) in [("crate::", Vec::new()), ("super::", parent(from))] {
        let mut rest = code.as_str();
        while let Some(at) = rest.find(prefix) {
            let before = rest[..at].chars().next_back();
            rest = &rest[at + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            if let Some(braced) = rest.strip_prefix('{') {
                let inside = &braced[..braced.find('}').unwrap_or(braced.len())];
                for item in inside.split(',') {
                    let path = path_words(item.trim());
                    if !path.is_empty() {
                        named.push([base.clone(), path].concat());
                    }
                }
                continue;
            }
            let path = path_words(rest);
            if !path.is_empty() {
                named.push([base.clone(), path].concat());
            }
        }
    }
    named
}

/// The leading `a::b::c` of `text`, as words.
fn path_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = text;
    loop {
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        words.push(rest[..end].to_owned());
        match rest[end..].strip_prefix("::") {
            Some(next) if next.starts_with(|c: char| c.is_alphanumeric() || c == '_') => {
                rest = next;
            }
            _ => break,
        }
    }
    words
}

fn parent(module: &ModulePath) -> ModulePath {
    module[..module.len().saturating_sub(1)].to_vec()
}

/// The longest prefix of `path` that is a module with a file.
fn deepest_module(modules: &BTreeSet<ModulePath>, path: &ModulePath) -> ModulePath {
    (0..=path.len())
        .rev()
        .map(|length| path[..length].to_vec())
        .find(|prefix| modules.contains(prefix))
        .unwrap_or_default()
}

fn common_prefix(a: &ModulePath, b: &ModulePath) -> ModulePath {
    a.iter()
        .zip(b)
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x.clone())
        .collect()
}

/// The groups of `graph`'s nodes that reach each other (strongly connected components of
/// more than one node), each in an order that follows its edges where it can.
fn rings(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let reaches = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_owned()];
        while let Some(node) = stack.pop() {
            for next in graph.get(&node).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let mut done = BTreeSet::new();
    let mut rings = Vec::new();
    for node in graph.keys() {
        if done.contains(node) {
            continue;
        }
        let forward = reaches(node);
        if !forward.contains(node) {
            continue;
        }
        let ring: Vec<String> = forward
            .iter()
            .filter(|other| reaches(other).contains(node))
            .cloned()
            .collect();
        done.extend(ring.iter().cloned());
        rings.push(ring);
    }
    rings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &str)]) -> BTreeMap<String, BTreeSet<String>> {
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            graph
                .entry((*a).to_owned())
                .or_default()
                .insert((*b).to_owned());
        }
        graph
    }

    #[test]
    fn a_ring_is_found_and_a_chain_is_not() {
        assert_eq!(
            rings(&graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])),
            [vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]]
        );
        assert!(rings(&graph(&[("a", "b"), ("b", "c")])).is_empty());
    }

    #[test]
    fn paths_are_read_from_uses_and_code() {
        let from = vec!["exchange".to_owned(), "config".to_owned()];
        let text = "use crate::validate::ValidationRules;\nuse crate::{Error, wire::Message};\nfn f() { super::layer(); crate::error::prefix(x); }\n// crate::ignored::Path\n";
        let named = named_modules(&from, text);
        let shown: Vec<String> = named.iter().map(|path| path.join("::")).collect();
        assert_eq!(
            shown,
            [
                "validate::ValidationRules",
                "Error",
                "wire::Message",
                "error::prefix",
                "exchange::layer"
            ]
        );
    }

    #[test]
    fn this_crates_own_sources_have_no_cycle() {
        let src = crate::workspace::project_root().join("xtask/src");
        assert_eq!(cycles_in(&src), Vec::<String>::new());
    }
}
