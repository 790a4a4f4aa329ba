//! Paired rounds: on a shared, noisy machine, contenders run alternately in each round (the
//! order rotating), and each is reported by its median time and by the median of its per-round
//! ratio to the first contender. A slow spell hits every contender of a round alike.

use std::hint::black_box;
use std::time::Instant;

/// One contender: a name and the work of one iteration.
pub(crate) struct Contender<'a> {
    pub(crate) name: &'a str,
    pub(crate) run: Box<dyn FnMut() -> u64 + 'a>,
}

/// What one iteration does, for the throughput column.
#[derive(Clone, Copy)]
pub(crate) enum Work {
    /// Decodes this many bytes (MB/s).
    Bytes(usize),
    /// Completes this many requests (requests/s).
    #[allow(dead_code)] // Used by the client benchmarks, which share this module.
    Requests(usize),
    /// Streams this many chunks (chunks/s).
    #[allow(dead_code)] // Used by the command's benchmark, which shares this module.
    Chunks(usize),
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

/// Whether this is a real benchmark run (`cargo bench` passes `--bench`), not the one-round
/// smoke run of `cargo test --benches`.
pub(crate) fn measuring() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

/// Runs `rounds` rounds (after one warm-up round; `BENCH_ROUNDS` overrides the count) and
/// prints each contender's median time, throughput over `bytes`, and median ratio to the first.
/// Under `cargo test --benches` (no `--bench` argument) it runs one round, as a smoke test.
pub(crate) fn compare(title: &str, bytes: usize, rounds: usize, contenders: Vec<Contender<'_>>) {
    compare_work(title, Work::Bytes(bytes), rounds, contenders);
}

/// [`compare`], with the throughput of `work`.
pub(crate) fn compare_work(
    title: &str,
    work: Work,
    rounds: usize,
    mut contenders: Vec<Contender<'_>>,
) {
    // BENCH_ONLY_CONTENDER=<text> keeps the contenders whose name contains it (for profiling
    // one alone, e.g. under `perf stat`).
    if let Ok(only) = std::env::var("BENCH_ONLY_CONTENDER") {
        contenders.retain(|contender| contender.name.contains(only.as_str()));
        if contenders.is_empty() {
            return;
        }
    }
    let rounds = if measuring() {
        std::env::var("BENCH_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(rounds)
    } else {
        1
    };
    let n = contenders.len();
    for contender in &mut contenders {
        black_box((contender.run)());
    }
    let mut times = vec![Vec::with_capacity(rounds); n];
    for round in 0..rounds {
        for k in 0..n {
            let i = (round + k) % n;
            let start = Instant::now();
            black_box((contenders[i].run)());
            times[i].push(start.elapsed().as_secs_f64());
        }
    }
    let input = match work {
        Work::Bytes(bytes) => format!("input {:.1} MB", bytes as f64 / 1e6),
        Work::Requests(requests) => format!("{requests} requests each"),
        Work::Chunks(chunks) => format!("{chunks} chunks a stream"),
    };
    println!("\n{title} ({rounds} paired rounds, {input})");
    println!(
        "{:<60} {:>12} {:>14} {:>14}",
        "contender", "median", "throughput", "time / first"
    );
    for i in 0..n {
        let mut own = times[i].clone();
        let med = median(&mut own);
        let mut ratios: Vec<f64> = times[i].iter().zip(&times[0]).map(|(t, f)| t / f).collect();
        let ratio = median(&mut ratios);
        let throughput = match work {
            Work::Bytes(bytes) => format!("{:.0} MB/s", bytes as f64 / med / 1e6),
            Work::Requests(requests) => format!("{:.0} req/s", requests as f64 / med),
            Work::Chunks(chunks) => format!("{:.0} chunks/s", chunks as f64 / med),
        };
        println!(
            "{:<60} {:>9.2} ms {:>14} {:>13.2}x",
            contenders[i].name,
            med * 1e3,
            throughput,
            ratio
        );
    }
}
