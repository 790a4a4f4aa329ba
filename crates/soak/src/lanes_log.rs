//! The transport's connection events, kept in memory: what a sample with more HTTP/2
//! connections than one lane needs prints, to say what made them (a new lane and the routing
//! table at that moment, a request sent to the pool after a wait, a lane that closed and why).

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

/// How many of the latest lines are kept.
const KEPT: usize = 256;

/// The latest lines the transport logged at debug level, but those naming `skipped` (the
/// HTTP/1.1 server, whose pool connects all the time).
#[derive(Clone, Default)]
pub(crate) struct LanesLog {
    lines: Arc<Mutex<VecDeque<String>>>,
    skipped: Arc<str>,
}

impl LanesLog {
    /// Installs a subscriber that keeps `gptproto_transport`'s debug events here, but those
    /// naming `skipped`.
    pub(crate) fn install(skipped: &str) -> Self {
        let log = Self {
            lines: Arc::default(),
            skipped: skipped.into(),
        };
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "gptproto_transport=debug",
            ))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        // Another subscriber already set (a test harness): the soak goes on without the log.
        let _ = tracing::subscriber::set_global_default(subscriber);
        log
    }

    /// The lines kept now.
    pub(crate) fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }
}

impl Write for LanesLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        for line in String::from_utf8_lossy(bytes).lines() {
            if line.contains(&*self.skipped) {
                continue;
            }
            if lines.len() == KEPT {
                lines.pop_front();
            }
            lines.push_back(line.to_owned());
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
