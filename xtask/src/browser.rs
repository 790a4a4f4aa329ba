//! `cargo xtask browser-demo [--check]`: the page of `examples/browser/`, the gptproto client
//! compiled to wasm32, streaming answers from the local model server.
//!
//! The page is served by the test kit's server (static files) and calls the local llama.cpp
//! server directly: another origin, so the browser sends a CORS preflight, which llama.cpp
//! answers itself (it echoes the page's origin, allows credentials, `POST` and
//! `Access-Control-Allow-Headers: *`). Headless Chromium accepts that for `Authorization`; the
//! Fetch standard says a `*` does not cover `Authorization`, so a browser that enforces it would
//! refuse, and then the server must name it (the test kit's `--cors` does).
//!
//! Without `--check` it serves until Enter; with it, headless Chromium opens the page, submits
//! a prompt, watches the answer stream in, and saves a screenshot under `target/browser-demo/`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::local_model::{DEMO_KEY, LocalModel};
use crate::wasm::{PeerServer, WASM_TARGET, find_program, wasm_bindgen_runner};
use crate::webdriver::Browser;
use crate::workspace::{cargo, project_root, run, target_dir};

/// How long the check waits for the answer to finish.
const ANSWER_WITHIN: Duration = Duration::from_secs(180);

pub(crate) fn command(args: &[String]) -> Result<(), String> {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        _ => return Err("usage: cargo xtask browser-demo [--check]".to_owned()),
    };
    let chromedriver = if check {
        Some(find_program("chromedriver").ok_or(
            "chromedriver is not on PATH: install Chromium's driver (Debian: `apt-get install \
             chromium chromium-driver`)",
        )?)
    } else {
        None
    };
    let site = build_page()?;
    let model = LocalModel::start(None, DEMO_KEY)?;
    let origin = model.base_url().trim_end_matches("/v1").to_owned();
    let files = site.to_string_lossy().into_owned();
    let server = PeerServer::start(&["--files", &files])?;
    let page = format!(
        "{}/?base_url={origin}/v1&api_key={DEMO_KEY}&model=SmolLM2-135M-Instruct",
        server.url
    );
    eprintln!("xtask: the page: {page}");
    let Some(chromedriver) = chromedriver else {
        eprintln!("xtask: open the page in a browser; Enter stops the servers");
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        return Ok(());
    };
    let browser = Browser::start(&chromedriver)?;
    browser.navigate(&page)?;
    wait_for(&browser, "ready", Duration::from_secs(30))?;
    browser.type_into("#prompt", "Who are you? Tell me in a short paragraph.")?;
    browser.click("#send")?;
    // Watch the answer grow: each length seen while the status still says "streaming".
    let started = Instant::now();
    let mut lengths: Vec<usize> = Vec::new();
    let status = loop {
        let status = browser.text("#status")?;
        let answer = browser.text("#answer")?;
        if status.starts_with("streaming") && lengths.last() != Some(&answer.len()) {
            lengths.push(answer.len());
        }
        if status.starts_with("done") || status.starts_with("error") {
            break status;
        }
        if started.elapsed() > ANSWER_WITHIN {
            return Err(format!("no answer within {ANSWER_WITHIN:?}: {status}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let answer = browser.text("#answer")?;
    let screenshot = target_dir().join("browser-demo/screenshot.png");
    std::fs::write(&screenshot, browser.screenshot()?)
        .map_err(|error| format!("cannot write {}: {error}", screenshot.display()))?;
    eprintln!("xtask: status: {status}");
    eprintln!("xtask: answer ({} bytes): {answer}", answer.len());
    let growing: Vec<usize> = lengths
        .iter()
        .copied()
        .filter(|&length| length > 0)
        .collect();
    eprintln!(
        "xtask: the answer was seen at {} lengths while streaming: {growing:?}",
        growing.len()
    );
    eprintln!("xtask: screenshot: {}", screenshot.display());
    if !status.starts_with("done") || answer.trim().is_empty() {
        return Err(format!("the page did not show an answer: {status}"));
    }
    if growing.len() < 2 {
        return Err(format!(
            "the answer did not stream in (lengths seen while streaming: {lengths:?})"
        ));
    }
    drop(browser);
    drop(server);
    drop(model);
    Ok(())
}

/// Polls until the page's status starts with `prefix`.
fn wait_for(browser: &Browser, prefix: &str, within: Duration) -> Result<(), String> {
    let started = Instant::now();
    loop {
        let status = browser.text("#status")?;
        if status.starts_with(prefix) {
            return Ok(());
        }
        if started.elapsed() > within {
            return Err(format!("the page's status is {status:?}, not {prefix:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Builds the page's module and lays the site out in `target/browser-demo/`: `index.html` and
/// `pkg/` (wasm-bindgen's `--target web` output).
fn build_page() -> Result<PathBuf, String> {
    let runner = wasm_bindgen_runner()?;
    let wasm_bindgen = runner.with_file_name("wasm-bindgen");
    run(cargo().args([
        "build",
        "-p",
        "gptproto-browser-demo",
        "--lib",
        "--target",
        WASM_TARGET,
    ]))?;
    let site = target_dir().join("browser-demo");
    let module = target_dir()
        .join(WASM_TARGET)
        .join("debug/gptproto_browser_demo.wasm");
    run(std::process::Command::new(&wasm_bindgen)
        .args(["--target", "web", "--no-typescript", "--out-dir"])
        .arg(site.join("pkg"))
        .arg(&module))?;
    let page = project_root().join("examples/browser/index.html");
    std::fs::copy(&page, site.join("index.html"))
        .map_err(|error| format!("cannot copy {}: {error}", page.display()))?;
    Ok(site)
}
