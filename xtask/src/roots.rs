//! Crate roots are not helper modules: a function defined in `lib.rs` or `main.rs` is not
//! called from the crate's other files (`crate::check_scheme(..)`, `use crate::{.., helper}`).
//! A root declares modules and re-exports; what its modules share lives in a module of its own
//! (ARCHITECTURE.md).

use std::collections::BTreeSet;
use std::path::Path;

/// Each use, in another file of the crate whose sources are in `src`, of a function its root
/// defines: `module: name`.
pub(crate) fn helpers_in_root(src: &Path) -> Vec<String> {
    let root = ["lib.rs", "main.rs"]
        .iter()
        .find_map(|name| std::fs::read_to_string(src.join(name)).ok());
    let Some(root) = root else {
        return Vec::new();
    };
    let defined = root_functions(&root);
    let mut found = Vec::new();
    for (module, text) in crate::cycles::module_files(src) {
        if module.is_empty() {
            continue;
        }
        for name in named_from_root(&text) {
            if defined.contains(&name) {
                found.push(format!("{}: {name}", module.join("::")));
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// The functions defined at the root's top level (not in its `mod tests`).
fn root_functions(text: &str) -> BTreeSet<String> {
    text.lines()
        .take_while(|line| !line.starts_with("mod tests"))
        .filter_map(|line| {
            let line = line
                .strip_prefix("pub(crate) ")
                .or_else(|| line.strip_prefix("pub "))
                .unwrap_or(line);
            let line = line.strip_prefix("async ").unwrap_or(line);
            let rest = line.strip_prefix("fn ")?;
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            (!name.is_empty()).then_some(name)
        })
        .collect()
}

/// The lower-case names a file takes from the crate root: `crate::name` paths and the items of
/// `use crate::{..}` (those of nested groups `a::{..}` are a module's, not the root's).
fn named_from_root(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find(';').unwrap_or(group.len());
            let mut depth = 0;
            let mut item = String::new();
            for c in group[..end].chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        push_root_item(&mut names, &item);
                        item.clear();
                    }
                    _ if depth == 0 => item.push(c),
                    _ => {}
                }
            }
            push_root_item(&mut names, &item);
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !rest[name.len()..].starts_with("::") {
                push_root_item(&mut names, &name);
            }
        }
    }
    names
}

/// An item named at the root: a lower-case name that is not a path into a module.
fn push_root_item(names: &mut BTreeSet<String>, item: &str) {
    let item = item.trim();
    let item = item.split(" as ").next().unwrap_or(item).trim();
    if item.contains("::") || item.is_empty() || item == "self" {
        return;
    }
    if item.starts_with(|c: char| c.is_ascii_lowercase()) {
        names.insert(item.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_function_named_by_a_module_is_found_and_modules_are_not() {
        let root = "mod scheme;\npub(crate) fn check_scheme() {}\nfn main() {}\nmod tests {\n fn in_tests() {}\n}\n";
        let defined = root_functions(root);
        assert_eq!(
            defined.into_iter().collect::<Vec<_>>(),
            ["check_scheme", "main"]
        );
        let module = "use crate::{\n    BoxFuture, check_scheme,\n    scheme::{a, b},\n};\nuse crate::error::Kind;\nfn f() { crate::is_loopback_host(\"x\"); crate::tls::roots(); }\n";
        assert_eq!(
            named_from_root(module).into_iter().collect::<Vec<_>>(),
            ["check_scheme", "is_loopback_host"]
        );
    }
}
