//! Progress on stderr: a bar on a terminal (indicatif), a status line every 10 s otherwise,
//! and the summary at the end.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use gptproto::batch::BatchStats;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::args::Progress as Mode;

/// How often the plain status line is printed.
const PLAIN_EVERY: Duration = Duration::from_secs(10);

/// What the run shows as it goes.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    plain: bool,
    printed: Instant,
    started: Instant,
    total: u64,
}

/// A snapshot for the display.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Snapshot {
    pub(crate) stats: BatchStats,
    pub(crate) in_flight: usize,
    /// The most in flight now: given, or what the server was found to sustain.
    pub(crate) concurrency: usize,
    /// What the answers cost so far, when there are prices.
    pub(crate) cost: Option<f64>,
}

impl Progress {
    pub(crate) fn new(mode: Mode, total: u64) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let (bar, plain) = match mode {
            Mode::Auto if terminal => (true, false),
            Mode::Auto => (false, true),
            Mode::Bar => (true, false),
            Mode::Plain => (false, true),
            Mode::None => (false, false),
        };
        let bar = bar.then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} {per_sec} ETA {eta} {msg}")
                    .expect("a valid template"),
            );
            bar
        });
        Self {
            bar,
            plain,
            printed: Instant::now(),
            started: Instant::now(),
            total,
        }
    }

    fn line(&self, snapshot: &Snapshot) -> String {
        let stats = &snapshot.stats;
        let seconds = self.started.elapsed().as_secs_f64().max(1e-3);
        let done = stats.succeeded + stats.failed;
        format!(
            "{done}/{} done ({} failed), {:.1} req/s, {:.0} tokens/s, {} in flight (at most {}), {} retries, {} 429s",
            self.total,
            stats.failed,
            done as f64 / seconds,
            (stats.prompt_tokens + stats.completion_tokens) as f64 / seconds,
            snapshot.in_flight,
            snapshot.concurrency,
            stats.retried,
            stats.rate_limited,
        ) + &snapshot.cost.map_or(String::new(), |amount| {
            format!(", cost {}", crate::cost::shown(amount))
        })
    }

    pub(crate) fn update(&mut self, snapshot: &Snapshot) {
        let stats = &snapshot.stats;
        if let Some(bar) = &self.bar {
            let seconds = self.started.elapsed().as_secs_f64().max(1e-3);
            let tokens = (stats.prompt_tokens + stats.completion_tokens) as f64 / seconds;
            bar.set_position(stats.succeeded + stats.failed);
            bar.set_message(format!(
                "{tokens:.0} tokens/s, {} failed, {} retries, {} 429s, {}/{} in flight{}",
                stats.failed,
                stats.retried,
                stats.rate_limited,
                snapshot.in_flight,
                snapshot.concurrency,
                snapshot.cost.map_or(String::new(), |amount| {
                    format!(", cost {}", crate::cost::shown(amount))
                })
            ));
        }
        if self.plain && self.printed.elapsed() >= PLAIN_EVERY {
            self.printed = Instant::now();
            eprintln!("gptproto batch: {}", self.line(snapshot));
        }
    }

    pub(crate) fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// The end of a run, on stderr.
pub(crate) struct Summary<'a> {
    pub(crate) stats: BatchStats,
    pub(crate) skipped: u64,
    pub(crate) failures: &'a BTreeMap<String, u64>,
    pub(crate) elapsed: Duration,
    pub(crate) limits: (Option<u64>, Option<u64>),
    pub(crate) paced: (Option<f64>, Option<f64>),
    /// The most in flight at the end, and whether `--concurrency` gave it.
    pub(crate) concurrency: (usize, bool),
    /// What the answers cost, and how many had no price, when there are prices.
    pub(crate) cost: Option<(f64, u64)>,
}

impl Summary<'_> {
    pub(crate) fn print(&self) {
        let stats = &self.stats;
        let minutes = self.elapsed.as_secs_f64().max(1e-3) / 60.0;
        let causes: Vec<String> = self
            .failures
            .iter()
            .map(|(code, count)| format!("{count} {code}"))
            .collect();
        eprintln!(
            "gptproto batch: {} succeeded, {} failed{}, {} skipped as already done",
            stats.succeeded,
            stats.failed,
            if causes.is_empty() {
                String::new()
            } else {
                format!(" ({})", causes.join(", "))
            },
            self.skipped
        );
        eprintln!(
            "gptproto batch: {} tokens in, {} out; {} requests sent ({} retries, {} answered 429) in {:.1} s",
            stats.prompt_tokens,
            stats.completion_tokens,
            stats.sent,
            stats.retried,
            stats.rate_limited,
            self.elapsed.as_secs_f64()
        );
        let rate = |value: f64, limit: Option<u64>, paced: Option<f64>| match (limit, paced) {
            // A limit given is a ceiling: the server's lower one, or its 429s, paced the run.
            (Some(limit), Some(paced)) if paced < limit as f64 - 0.5 => format!(
                "{value:.0}/min of {limit} given (paced at {paced:.0}: the server's limit or its 429s)"
            ),
            (Some(limit), _) => format!("{value:.0}/min of {limit}"),
            (None, Some(paced)) => format!("{value:.0}/min (paced at {paced:.0})"),
            (None, None) => format!("{value:.0}/min"),
        };
        eprintln!(
            "gptproto batch: effective rate {} requests, {} tokens",
            rate(stats.sent as f64 / minutes, self.limits.0, self.paced.0),
            rate(
                (stats.prompt_tokens + stats.completion_tokens) as f64 / minutes,
                self.limits.1,
                self.paced.1
            ),
        );
        if let Some((amount, unpriced)) = self.cost {
            eprintln!(
                "gptproto batch: cost {}{}",
                crate::cost::shown(amount),
                match unpriced {
                    0 => String::new(),
                    n => format!(" ({n} answers of models without a price not counted)"),
                }
            );
        }
        if stats.failed_over > 0 {
            eprintln!(
                "gptproto batch: {} lines moved to a fallback model (the output names the model that answered)",
                stats.failed_over
            );
        }
        let (concurrency, given) = self.concurrency;
        eprintln!(
            "gptproto batch: at most {concurrency} requests in flight ({})",
            if given {
                "--concurrency"
            } else {
                "what the server sustained without queueing"
            }
        );
    }
}
