//! `cargo xtask wasm-test [--node-only]`: gptproto on `wasm32-unknown-unknown`, executed.
//!
//! 1. The import-free module over the core (`crates/wasm-tests/src/lib.rs`): Node checks that
//!    it imports nothing and decodes streams through it.
//! 2. The wasm-bindgen-test suites of `crates/wasm-tests/tests/` under Node, then under headless
//!    Chromium (chromedriver), against the test kit's server (`gptproto-testkit --cors`).
//!
//! wasm-bindgen's test runner is installed with `cargo install --locked` at exactly the
//! `wasm-bindgen` version of `Cargo.lock`, under `target/wasm-bindgen-cli/` (kept between runs).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::workspace::{cargo, project_root, run, target_dir};

pub(crate) const WASM_TARGET: &str = "wasm32-unknown-unknown";

pub(crate) fn command(args: &[String]) -> Result<(), String> {
    let node_only = match args {
        [] => false,
        [flag] if flag == "--node-only" => true,
        _ => return Err("usage: cargo xtask wasm-test [--node-only]".to_owned()),
    };
    let chromedriver = if node_only {
        None
    } else {
        Some(find_program("chromedriver").ok_or(
            "chromedriver is not on PATH: install Chromium's driver (Debian: `apt-get install \
             chromium chromium-driver`), or run `cargo xtask wasm-test --node-only`",
        )?)
    };
    find_program("node").ok_or("node is not on PATH: the wasm tests run under Node.js (≥ 18)")?;
    let runner = wasm_bindgen_runner()?;

    eprintln!("xtask: the import-free module over the core");
    run(cargo().args([
        "build",
        "-p",
        "gptproto-wasm-tests",
        "--lib",
        "--target",
        WASM_TARGET,
    ]))?;
    let module = target_dir()
        .join(WASM_TARGET)
        .join("debug/gptproto_wasm_tests.wasm");
    run(Command::new("node")
        .arg(project_root().join("crates/wasm-tests/no-imports.mjs"))
        .arg(&module))?;

    let server = PeerServer::start(&[])?;
    eprintln!("xtask: the test kit's server (CORS) at {}", server.url);
    let suites = |browser: Option<&Path>| {
        let mut command = cargo();
        command
            .args(["test", "-p", "gptproto-wasm-tests", "--target", WASM_TARGET])
            // The wasm-bindgen-test suites (the library's unit tests are native).
            .args(["--test", "core", "--test", "client"])
            .env("GPTPROTO_WASM_SERVER", &server.url)
            .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER", &runner)
            .env("WASM_BINDGEN_TEST_TIMEOUT", "90");
        if let Some(chromedriver) = browser {
            let capabilities = target_dir().join("wasm-test/webdriver.json");
            std::fs::create_dir_all(capabilities.parent().expect("a folder"))
                .and_then(|()| std::fs::write(&capabilities, webdriver_json()))
                .map_err(|error| format!("cannot write {}: {error}", capabilities.display()))?;
            command
                .env("WASM_BINDGEN_USE_BROWSER", "1")
                .env("CHROMEDRIVER", chromedriver)
                .env("WASM_BINDGEN_TEST_WEBDRIVER_JSON", capabilities);
        }
        run(&mut command)
    };
    eprintln!("xtask: the wasm32 suites under Node");
    suites(None)?;
    if let Some(chromedriver) = chromedriver {
        eprintln!("xtask: the wasm32 suites under headless Chromium");
        suites(Some(&chromedriver))?;
    }
    drop(server);
    Ok(())
}

/// Chromium's options for the test runner's WebDriver session (`webdriver.json`).
fn webdriver_json() -> String {
    serde_json::json!({"goog:chromeOptions": {"args": crate::webdriver::CHROMIUM_ARGS}}).to_string()
}

/// `target/wasm-bindgen-cli/bin/wasm-bindgen-test-runner` at the lock's `wasm-bindgen` version,
/// installed first if it is missing or another version.
pub(crate) fn wasm_bindgen_runner() -> Result<PathBuf, String> {
    let version = locked_version("wasm-bindgen")?;
    let root = target_dir().join("wasm-bindgen-cli");
    let runner = root.join("bin/wasm-bindgen-test-runner");
    let installed = Command::new(root.join("bin/wasm-bindgen"))
        .arg("--version")
        .output()
        .ok()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned());
    if installed.as_deref() != Some(&format!("wasm-bindgen {version}")) || !runner.is_file() {
        eprintln!("xtask: installing wasm-bindgen-cli {version} (Cargo.lock's wasm-bindgen)");
        run(cargo()
            .args(["install", "--locked", "wasm-bindgen-cli", "--version"])
            .arg(format!("={version}"))
            .arg("--root")
            .arg(&root))?;
    }
    Ok(runner)
}

/// The version of `package` in `Cargo.lock`.
fn locked_version(package: &str) -> Result<String, String> {
    let lock = std::fs::read_to_string(project_root().join("Cargo.lock"))
        .map_err(|error| format!("cannot read Cargo.lock: {error}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == format!("name = \"{package}\"") {
            let version = lines.next().unwrap_or_default();
            if let Some(version) = version
                .strip_prefix("version = \"")
                .and_then(|rest| rest.strip_suffix('"'))
            {
                return Ok(version.to_owned());
            }
        }
    }
    Err(format!("Cargo.lock has no {package}"))
}

/// `program` on `PATH`.
pub(crate) fn find_program(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// The test kit's server as a program (`gptproto-testkit --cors`), stopped when dropped.
pub(crate) struct PeerServer {
    child: Child,
    stdin: Option<ChildStdin>,
    /// `http://127.0.0.1:PORT`.
    pub(crate) url: String,
}

impl PeerServer {
    /// Builds and starts it with `--cors` and `extra` arguments.
    pub(crate) fn start(extra: &[&str]) -> Result<Self, String> {
        run(cargo().args([
            "build",
            "-q",
            "-p",
            "gptproto-testkit",
            "--bin",
            "gptproto-testkit",
        ]))?;
        let program = target_dir().join("debug/gptproto-testkit");
        let mut child = Command::new(&program)
            .arg("--cors")
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|error| format!("cannot run {}: {error}", program.display()))?;
        let stdin = child.stdin.take();
        let mut url = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut url)
            .map_err(|error| format!("reading the test kit's address: {error}"))?;
        let url = url.trim().to_owned();
        if !url.starts_with("http://") {
            let _ = child.kill();
            return Err(format!(
                "the test kit's server printed {url:?}, not its address"
            ));
        }
        Ok(Self { child, stdin, url })
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        // Closing its standard input stops it.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}
