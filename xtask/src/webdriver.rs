//! Just enough of the WebDriver protocol (W3C) to drive headless Chromium through chromedriver
//! on loopback: a session, a page, elements, keys, clicks, text, a screenshot. Blocking JSON over
//! HTTP/1.1, one connection per command.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Chromium's flags for running without a display, as root, in a container with no network
/// but loopback (without the background-networking ones it keeps trying Google's hosts).
pub(crate) const CHROMIUM_ARGS: [&str; 10] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1000,900",
];

/// chromedriver and one browser session; both end when dropped.
pub(crate) struct Browser {
    driver: Child,
    port: u16,
    session: String,
}

impl Browser {
    /// Starts `chromedriver` on a free port and opens a headless Chromium session.
    pub(crate) fn start(chromedriver: &std::path::Path) -> Result<Self, String> {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .map_err(|error| format!("no free port: {error}"))?
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| format!("cannot run {}: {error}", chromedriver.display()))?;
        let mut browser = Self {
            driver,
            port,
            session: String::new(),
        };
        let started = Instant::now();
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if started.elapsed() > Duration::from_secs(20) {
                return Err("chromedriver did not listen within 20 s".to_owned());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"args": CHROMIUM_ARGS}
        }}});
        let created = browser.command("POST", "/session", &capabilities)?;
        browser.session = created["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no session id in {created}"))?
            .to_owned();
        Ok(browser)
    }

    /// Opens `url`.
    pub(crate) fn navigate(&self, url: &str) -> Result<(), String> {
        self.session_command("POST", "url", &json!({ "url": url }))
            .map(drop)
    }

    /// The element `css` selects (its WebDriver reference).
    pub(crate) fn element(&self, css: &str) -> Result<String, String> {
        let found = self.session_command(
            "POST",
            "element",
            &json!({"using": "css selector", "value": css}),
        )?;
        found
            .as_object()
            .and_then(|element| element.values().next())
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("no element {css}: {found}"))
    }

    /// Clears the element `css` selects and types `text` into it.
    pub(crate) fn type_into(&self, css: &str, text: &str) -> Result<(), String> {
        let element = self.element(css)?;
        self.session_command("POST", &format!("element/{element}/clear"), &json!({}))?;
        self.session_command(
            "POST",
            &format!("element/{element}/value"),
            &json!({ "text": text }),
        )
        .map(drop)
    }

    /// Clicks the element `css` selects.
    pub(crate) fn click(&self, css: &str) -> Result<(), String> {
        let element = self.element(css)?;
        self.session_command("POST", &format!("element/{element}/click"), &json!({}))
            .map(drop)
    }

    /// The text of the element `css` selects, read by the page's own `textContent` (which
    /// keeps whitespace as it is).
    pub(crate) fn text(&self, css: &str) -> Result<String, String> {
        let script = "return document.querySelector(arguments[0])?.textContent ?? null;";
        let value = self.session_command(
            "POST",
            "execute/sync",
            &json!({"script": script, "args": [css]}),
        )?;
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no element {css}"))
    }

    /// A PNG of the window.
    pub(crate) fn screenshot(&self) -> Result<Vec<u8>, String> {
        use base64::Engine as _;
        let encoded = self.session_command("GET", "screenshot", &Value::Null)?;
        let encoded = encoded.as_str().ok_or("the screenshot is not text")?;
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|error| format!("the screenshot is not base64: {error}"))
    }

    fn session_command(&self, method: &str, path: &str, body: &Value) -> Result<Value, String> {
        self.command(method, &format!("/session/{}/{path}", self.session), body)
    }

    /// One command: its `value`, or the driver's error.
    fn command(&self, method: &str, path: &str, body: &Value) -> Result<Value, String> {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port))
            .map_err(|error| format!("chromedriver: {error}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(|error| error.to_string())?;
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .map_err(|error| format!("chromedriver: {error}"))?;
        let body = read_response(&mut stream)
            .map_err(|error| format!("chromedriver's answer to {method} {path}: {error}"))?;
        let value: Value = serde_json::from_str(&body).map_err(|error| {
            format!("chromedriver's answer to {method} {path}: {error}: {body}")
        })?;
        let value = value.get("value").cloned().unwrap_or(Value::Null);
        if let Some(error) = value.get("error").and_then(Value::as_str) {
            let message = value["message"].as_str().unwrap_or_default();
            return Err(format!("{method} {path}: {error}: {message}"));
        }
        Ok(value)
    }
}

/// An HTTP/1.1 response's body: `Content-Length` bytes, or chunks, or what comes until the
/// connection closes (chromedriver keeps it open after a response with a length).
fn read_response(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(end) = find(&received, b"\r\n\r\n") {
            break end;
        }
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            return Err(std::io::Error::other(
                "the connection closed before a response head",
            ));
        }
        received.extend_from_slice(&buffer[..read]);
    };
    let head = String::from_utf8_lossy(&received[..head_end]).to_ascii_lowercase();
    let mut body = received.split_off(head_end + 4);
    let length = head.lines().find_map(|line| {
        line.strip_prefix("content-length:")
            .and_then(|value| value.trim().parse::<usize>().ok())
    });
    let chunked = head.contains("transfer-encoding: chunked");
    loop {
        let complete = match length {
            Some(length) => body.len() >= length,
            None if chunked => find(&body, b"0\r\n\r\n").is_some(),
            None => false,
        };
        if complete {
            break;
        }
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        body.extend_from_slice(&buffer[..read]);
    }
    let body = String::from_utf8_lossy(&body).into_owned();
    Ok(if chunked { dechunk(&body) } else { body })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// A chunked HTTP/1.1 body, joined.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.command(
                "DELETE",
                &format!("/session/{}", self.session),
                &Value::Null,
            );
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
