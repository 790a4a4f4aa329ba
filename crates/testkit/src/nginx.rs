//! [`Nginx`]: a real nginx (Debian's package) terminating TLS with HTTP/2 in front of an
//! upstream on loopback, with a prefix, config, logs and ports of its own, that a test can
//! reload, stop and restart. A test server we wrote proves only what we thought of; nginx's
//! HTTP/2 is an implementation we did not write.
//!
//! When nginx is not installed, [`Nginx::start`] returns `None` and says so on stderr, unless
//! `GPTPROTO_REQUIRE_NGINX` is set (CI sets it): then it panics, so a run that skipped the
//! interop cannot pass for one that ran it.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::TestCa;

/// The variable that makes a missing nginx a failure instead of a skip.
pub const REQUIRE_NGINX: &str = "GPTPROTO_REQUIRE_NGINX";

/// One `server` block: a port of its own with these HTTP/2 and keep-alive settings.
#[derive(Debug, Clone)]
pub struct NginxSite {
    /// `http2_max_concurrent_streams` (nginx's default: 128).
    pub max_concurrent_streams: u32,
    /// `keepalive_timeout`: an idle connection is closed (with a GOAWAY) after this long
    /// (nginx's default: 75 s).
    pub keepalive_timeout: Duration,
    /// `keepalive_requests`: a connection is closed (with a GOAWAY) after this many requests
    /// (nginx's default: 1000).
    pub keepalive_requests: u32,
}

impl Default for NginxSite {
    fn default() -> Self {
        Self {
            max_concurrent_streams: 128,
            keepalive_timeout: Duration::from_secs(75),
            keepalive_requests: 1000,
        }
    }
}

/// A running nginx. Stopped (and its folder removed) when dropped.
#[derive(Debug)]
pub struct Nginx {
    binary: PathBuf,
    dir: PathBuf,
    ports: Vec<u16>,
    child: Option<Child>,
}

impl Nginx {
    /// The nginx binary: `GPTPROTO_NGINX`, else `/usr/sbin/nginx`, else `nginx` on the `PATH`.
    pub fn binary() -> Option<PathBuf> {
        if let Some(path) = std::env::var_os("GPTPROTO_NGINX") {
            return Some(path.into());
        }
        let mut candidates = vec![PathBuf::from("/usr/sbin/nginx")];
        if let Some(path) = std::env::var_os("PATH") {
            candidates.extend(std::env::split_paths(&path).map(|dir| dir.join("nginx")));
        }
        candidates.into_iter().find(|path| path.is_file())
    }

    /// Starts nginx serving `sites` (one port each) over TLS with `ca`'s certificate for
    /// `localhost`, proxying every request to `upstream` (plain HTTP/1.1, unbuffered, so
    /// streams pass through as they come). `None` when nginx is not installed (see the module
    /// docs).
    pub fn start(ca: &TestCa, upstream: SocketAddr, sites: &[NginxSite]) -> Option<Self> {
        let Some(binary) = Self::binary() else {
            crate::interop::skipped("nginx", REQUIRE_NGINX, "nginx-light");
            return None;
        };
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "gptproto-nginx-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(dir.join("logs")).expect("make nginx's folder");
        std::fs::write(dir.join("cert.pem"), ca.server_chain_pem()).expect("write cert.pem");
        std::fs::write(dir.join("key.pem"), ca.server_key_pem()).expect("write key.pem");
        let ports: Vec<u16> = sites.iter().map(|_| free_port()).collect();
        let config = config(&dir, upstream, sites, &ports);
        std::fs::write(dir.join("nginx.conf"), config).expect("write nginx.conf");
        let mut nginx = Self {
            binary,
            dir,
            ports,
            child: None,
        };
        nginx.run();
        Some(nginx)
    }

    /// The API's base URL on the `site`-th site: `https://localhost:PORT/v1`.
    pub fn base_url(&self, site: usize) -> String {
        format!("https://localhost:{}/v1", self.ports[site])
    }

    /// `nginx -s reload`: new workers take new connections; the old ones send each of their
    /// HTTP/2 connections a GOAWAY, finish the streams in flight and close.
    pub fn reload(&self) {
        self.signal("reload");
    }

    /// `nginx -s stop` (a fast shutdown: connections are closed at once), waiting until it has
    /// exited.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            self.signal("stop");
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// Starts nginx again, on the same ports, after [`Nginx::stop`].
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    /// nginx's error log so far (what it said about reloads and closed connections).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("logs/error.log")).unwrap_or_default()
    }

    fn run(&mut self) {
        let child = Command::new(&self.binary)
            .args(self.prefix_args())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run {}: {error}", self.binary.display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        for port in &self.ports {
            while TcpStream::connect(("127.0.0.1", *port)).is_err() {
                let exited = self
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten());
                if exited.is_some() || Instant::now() > deadline {
                    panic!("nginx did not start ({exited:?}):\n{}", self.error_log());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new(&self.binary)
            .args(self.prefix_args())
            .args(["-s", signal])
            .status()
            .expect("run nginx -s");
        assert!(
            status.success(),
            "nginx -s {signal}: {status}\n{}",
            self.error_log()
        );
    }

    fn prefix_args(&self) -> Vec<String> {
        let dir = self.dir.display().to_string();
        vec![
            "-p".into(),
            dir.clone(),
            "-c".into(),
            format!("{dir}/nginx.conf"),
            "-e".into(),
            format!("{dir}/logs/error.log"),
        ]
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            // The workers leave with their master.
            let _ = Command::new(&self.binary)
                .args(self.prefix_args())
                .args(["-s", "stop"])
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

fn config(dir: &Path, upstream: SocketAddr, sites: &[NginxSite], ports: &[u16]) -> String {
    let dir = dir.display();
    let mut servers = String::new();
    for (site, port) in sites.iter().zip(ports) {
        servers += &format!(
            r#"
    server {{
        listen 127.0.0.1:{port} ssl http2;
        ssl_certificate {dir}/cert.pem;
        ssl_certificate_key {dir}/key.pem;
        http2_max_concurrent_streams {streams};
        keepalive_timeout {idle}ms;
        keepalive_requests {requests};
        location / {{
            proxy_pass http://{upstream};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            add_header x-nginx-connection $connection always;
        }}
    }}
"#,
            streams = site.max_concurrent_streams,
            idle = site.keepalive_timeout.as_millis(),
            requests = site.keepalive_requests,
        );
    }
    // `user root` matters only when the master runs as root (CI): its workers then keep access
    // to this folder; otherwise nginx ignores it with a warning.
    format!(
        r#"daemon off;
master_process on;
worker_processes 1;
user root;
pid {dir}/nginx.pid;
error_log {dir}/logs/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {dir}/logs/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    {servers}
}}
"#
    )
}
