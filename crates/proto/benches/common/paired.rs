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

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

/// Runs `rounds` rounds (after one warm-up round; `BENCH_ROUNDS` overrides the count) and
/// prints each contender's median time, throughput over `bytes`, and median ratio to the first.
/// Under `cargo test --benches` (no `--bench` argument) it runs one round, as a smoke test.
pub(crate) fn compare(
    title: &str,
    bytes: usize,
    rounds: usize,
    mut contenders: Vec<Contender<'_>>,
) {
    let rounds = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(rounds);
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
    println!(
        "\n{title} ({rounds} paired rounds, input {:.1} MB)",
        bytes as f64 / 1e6
    );
    println!(
        "{:<52} {:>12} {:>12} {:>14}",
        "contender", "median", "throughput", "time / first"
    );
    for i in 0..n {
        let mut own = times[i].clone();
        let med = median(&mut own);
        let mut ratios: Vec<f64> = times[i].iter().zip(&times[0]).map(|(t, f)| t / f).collect();
        let ratio = median(&mut ratios);
        println!(
            "{:<52} {:>9.2} ms {:>7.0} MB/s {:>13.2}x",
            contenders[i].name,
            med * 1e3,
            bytes as f64 / med / 1e6,
            ratio
        );
    }
}
