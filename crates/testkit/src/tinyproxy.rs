//! [`Tinyproxy`]: a real HTTP proxy (Debian's tinyproxy) on a loopback port, with basic
//! authentication, for what a user behind a corporate proxy meets. A proxy we wrote
//! ([`TestProxy`](crate::TestProxy)) proves only what we thought of.
//!
//! When tinyproxy is not installed, [`Tinyproxy::start`] returns `None` and says so on stderr,
//! unless `GPTPROTO_REQUIRE_TINYPROXY` is set (CI sets it): then it panics, so a run that
//! skipped it cannot pass for one that ran it.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The variable that makes a missing tinyproxy a failure instead of a skip.
pub const REQUIRE_TINYPROXY: &str = "GPTPROTO_REQUIRE_TINYPROXY";

/// A running tinyproxy. Stopped (and its folder removed) when dropped.
#[derive(Debug)]
pub struct Tinyproxy {
    dir: PathBuf,
    port: u16,
    child: Child,
}

impl Tinyproxy {
    /// Starts tinyproxy on a free loopback port, asking for `user` and `password` (basic
    /// authentication). `None` when it is not installed (see the module docs).
    pub fn start(user: &str, password: &str) -> Option<Self> {
        let binary = ["/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"]
            .into_iter()
            .map(PathBuf::from)
            .find(|path| path.is_file());
        let Some(binary) = binary else {
            crate::interop::skipped("tinyproxy", REQUIRE_TINYPROXY, "tinyproxy");
            return None;
        };
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "gptproto-tinyproxy-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("make tinyproxy's folder");
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
            listener.local_addr().expect("its address").port()
        };
        let config = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 50\nLogLevel Info\n\
             LogFile \"{}\"\nBasicAuth {user} {password}\n",
            dir.join("tinyproxy.log").display()
        );
        std::fs::write(dir.join("tinyproxy.conf"), config).expect("write tinyproxy.conf");
        let child = Command::new(&binary)
            .arg("-d")
            .arg("-c")
            .arg(dir.join("tinyproxy.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run {}: {error}", binary.display()));
        let mut proxy = Self { dir, port, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = proxy.child.try_wait().ok().flatten();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "tinyproxy did not start ({exited:?}):\n{}",
                proxy.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Some(proxy)
    }

    /// The proxy's URL with these credentials: `http://user:password@127.0.0.1:PORT`.
    pub fn url_with(&self, user: &str, password: &str) -> String {
        format!("http://{user}:{password}@127.0.0.1:{}", self.port)
    }

    /// The proxy's URL without credentials: `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What tinyproxy logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("tinyproxy.log")).unwrap_or_default()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
