//! What the interop tests against real implementations (nginx, tinyproxy) share.

/// A real implementation a test runs against is not installed: the test is skipped, said on
/// stderr, unless `require` is set (CI sets it), when it fails instead: a run that skipped the
/// interop cannot pass for one that ran it.
pub(crate) fn skipped(tool: &str, require: &str, package: &str) {
    assert!(
        std::env::var_os(require).is_none(),
        "{require} is set but {tool} is not installed (apt install {package})"
    );
    eprintln!("{tool} interop skipped: {tool} is not installed (apt install {package})");
}
