//! What the test server keeps of each connection: what it wrote ([`Meter`], through a
//! [`Metered`] socket) and its requests in flight ([`Activity`], one [`Busy`] a request), read
//! by the server's controls and by the replies that mark their pieces.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// What a connection wrote on its socket (TLS records included), and where each response's
/// pieces began: [`crate::TestServer::marks`].
#[derive(Debug, Default)]
pub(crate) struct Meter {
    written: AtomicU64,
    marks: Mutex<Vec<u64>>,
}

impl Meter {
    /// Marks the present offset: the next bytes written begin a new piece (every earlier piece
    /// was written, as replies are paced).
    pub(crate) fn mark(&self) {
        let written = self.written.load(Ordering::SeqCst);
        let mut marks = self.marks.lock().expect("not poisoned");
        if marks.len() < MAX_MARKS {
            marks.push(written);
        }
    }

    pub(crate) fn marks(&self) -> Vec<u64> {
        self.marks.lock().expect("not poisoned").clone()
    }
}

/// The marks kept per connection (a long-lived connection's later responses are not marked:
/// a soak run's memory stays flat).
const MAX_MARKS: usize = 1024;

/// A socket that counts what is written to it.
pub(crate) struct Metered {
    pub(crate) inner: TcpStream,
    pub(crate) meter: Arc<Meter>,
}

impl AsyncRead for Metered {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Metered {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = written {
            self.meter.written.fetch_add(n as u64, Ordering::SeqCst);
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A connection's requests in flight, and when the last one ended.
pub(crate) struct Activity {
    busy: AtomicUsize,
    since: Mutex<Instant>,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            busy: AtomicUsize::new(0),
            since: Mutex::new(Instant::now()),
        }
    }
}

impl Activity {
    /// How long the connection has carried no request, if it carries none now.
    pub(crate) fn idle_for(&self) -> Option<Duration> {
        if self.busy.load(Ordering::SeqCst) > 0 {
            return None;
        }
        Some(self.since.lock().expect("not poisoned").elapsed())
    }
}

/// A request in flight on its connection, until its response body ends or is dropped.
pub(crate) struct Busy(Arc<Activity>);

impl Busy {
    pub(crate) fn new(activity: Arc<Activity>) -> Self {
        activity.busy.fetch_add(1, Ordering::SeqCst);
        Self(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        *self.0.since.lock().expect("not poisoned") = Instant::now();
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Busy")
    }
}
