//! `cargo xtask fuzz`: every fuzz target of `fuzz/` in turn, each for a time or a number of
//! executions, on its corpus in the repository (its archive unpacked, and its named inputs:
//! `packed.rs`); then a table of what each did (executions, speed, coverage, corpus) from
//! libFuzzer's own figures. A crash fails the command and names the reproducer.
//!
//! Options: `--minutes M` (per target; default 1), `--runs N` (per target: stop after N
//! executions, the campaign mode), `--targets a,b`, `--sanitizer address|none` (default
//! address; `none` runs several times faster, for long campaigns), `--minimize` (afterwards,
//! the new inputs merged into the archive's, `cargo fuzz cmin` run on them, and the archive
//! written again: what the repository keeps). Without `--minimize` the new inputs stay in
//! `target/fuzz-corpus/`.

mod packed;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::workspace::{project_root, run, target_dir};

/// Every target, in the order they run.
pub(crate) const TARGETS: [&str; 6] = [
    "sse_split",
    "stream_accumulate",
    "classify_response",
    "decode_differential",
    "client_e2e",
    "call_events",
];

struct Options {
    seconds: u64,
    runs: Option<u64>,
    targets: Vec<String>,
    sanitizer: String,
    minimize: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        seconds: 60,
        runs: None,
        targets: TARGETS.iter().map(|t| (*t).to_owned()).collect(),
        sanitizer: "address".to_owned(),
        minimize: false,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--minutes" => {
                let minutes: f64 = value()?
                    .parse()
                    .map_err(|_| "--minutes: not a number".to_owned())?;
                options.seconds = (minutes * 60.0).round().max(1.0) as u64;
            }
            "--runs" => {
                options.runs = Some(
                    value()?
                        .replace('_', "")
                        .parse()
                        .map_err(|_| "--runs: not a count".to_owned())?,
                );
            }
            "--targets" => {
                options.targets = value()?.split(',').map(str::to_owned).collect();
                if let Some(unknown) = options
                    .targets
                    .iter()
                    .find(|t| !TARGETS.contains(&t.as_str()))
                {
                    return Err(format!(
                        "no fuzz target {unknown:?}; the targets: {}",
                        TARGETS.join(", ")
                    ));
                }
            }
            "--sanitizer" => {
                options.sanitizer = value()?;
                if !matches!(options.sanitizer.as_str(), "address" | "none") {
                    return Err("--sanitizer: address or none".to_owned());
                }
            }
            "--minimize" => options.minimize = true,
            other => {
                return Err(format!(
                    "unknown option {other}; usage: cargo xtask fuzz [--minutes M] [--runs N] \
                     [--targets a,b] [--sanitizer address|none] [--minimize]"
                ));
            }
        }
    }
    Ok(options)
}

/// What libFuzzer reported for one target.
#[derive(Debug, Default)]
struct Figures {
    runs: u64,
    seconds: u64,
    coverage: u64,
    features: u64,
    corpus: u64,
    peak_rss_mb: u64,
    per_second: u64,
}

pub(crate) fn command(args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    let cargo_fuzz = cargo_fuzz()?;
    let logs = target_dir().join("fuzz-logs");
    std::fs::create_dir_all(&logs)
        .map_err(|error| format!("cannot create {}: {error}", logs.display()))?;
    let mut table = Vec::new();
    for target in &options.targets {
        let log = logs.join(format!("{target}.log"));
        let mut libfuzzer = vec![
            format!("-max_total_time={}", options.seconds),
            "-print_final_stats=1".to_owned(),
        ];
        if let Some(runs) = options.runs {
            libfuzzer.push(format!("-runs={runs}"));
        }
        // New inputs go to a scratch corpus under target/; the repository's is read only (a
        // run leaves the checkout as it was, unless `--minimize` merges them in).
        let scratch = scratch_corpus(target)?;
        let unpacked = packed::unpack(target)?;
        let mut command = fuzz_command(&cargo_fuzz, "run", &options.sanitizer);
        command.arg(target).arg(&scratch).arg(&unpacked);
        if packed::named(target).exists() {
            command.arg(packed::named(target));
        }
        command.arg("--").args(&libfuzzer);
        let limit = options
            .runs
            .map_or(format!("{} s", options.seconds), |runs| {
                format!("{runs} executions (at most {} s)", options.seconds)
            });
        eprintln!(
            "xtask: fuzzing {target} for {limit}, sanitizer {} (log: {})",
            options.sanitizer,
            log.display()
        );
        let started = Instant::now();
        let file = std::fs::File::create(&log)
            .map_err(|error| format!("cannot create {}: {error}", log.display()))?;
        let status = command
            .stdout(Stdio::null())
            .stderr(file)
            .status()
            .map_err(|error| format!("cannot run cargo fuzz: {error}"))?;
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if !status.success() {
            let reproducer = text
                .lines()
                .find(|line| line.contains("Test unit written to"))
                .unwrap_or("(see the log)");
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
            return Err(format!(
                "fuzz target {target} failed ({status}): {reproducer}"
            ));
        }
        let mut figures = figures(&text);
        if figures.seconds == 0 {
            figures.seconds = started.elapsed().as_secs();
        }
        eprintln!(
            "xtask: {target}: {} executions in {} s, cov {}, ft {}, corpus {} inputs, 0 crashes",
            figures.runs, figures.seconds, figures.coverage, figures.features, figures.corpus
        );
        table.push((target.clone(), figures));
        if options.minimize {
            minimize(&cargo_fuzz, &options.sanitizer, target)?;
        }
    }
    println!(
        "\n| target | executions | seconds | executions/s | coverage (cov) | features (ft) | corpus | peak RSS | crashes |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (target, f) in &table {
        println!(
            "| {target} | {} | {} | {} | {} | {} | {} | {} MB | 0 |",
            f.runs, f.seconds, f.per_second, f.coverage, f.features, f.corpus, f.peak_rss_mb
        );
    }
    Ok(())
}

/// `cargo fuzz <subcommand> -O -s <sanitizer>` with the nightly toolchain, run in `fuzz/`
/// (cargo-fuzz called directly, as cargo would call it).
fn fuzz_command(cargo_fuzz: &std::path::Path, subcommand: &str, sanitizer: &str) -> Command {
    let mut command = Command::new(cargo_fuzz);
    command
        .current_dir(project_root().join("fuzz"))
        .env("RUSTUP_TOOLCHAIN", "nightly")
        .args(["fuzz", subcommand, "-O", "-s", sanitizer]);
    command
}

/// `cargo fuzz cmin`: the archive's inputs and the run's new ones, cut to those that keep
/// their coverage, written as the target's archive. Named inputs stay files; a named one the
/// run wrote (a hash name is what libFuzzer gives) would go to the archive.
fn minimize(cargo_fuzz: &std::path::Path, sanitizer: &str, target: &str) -> Result<(), String> {
    let merged = packed::unpack(target)?;
    let scratch = scratch_corpus(target)?;
    let before_archive = count(&merged);
    for entry in
        std::fs::read_dir(&scratch).map_err(|error| format!("{}: {error}", scratch.display()))?
    {
        let entry = entry.map_err(|error| error.to_string())?;
        std::fs::rename(entry.path(), merged.join(entry.file_name()))
            .or_else(|_| std::fs::copy(entry.path(), merged.join(entry.file_name())).map(drop))
            .map_err(|error| {
                format!(
                    "cannot move {} into the corpus: {error}",
                    entry.path().display()
                )
            })?;
    }
    let before = count(&merged);
    let mut command = fuzz_command(cargo_fuzz, "cmin", sanitizer);
    command.arg(target).arg(&merged);
    run(&mut command)?;
    let kept = packed::pack(target, &merged)?;
    eprintln!(
        "xtask: {target}: {before_archive} inputs in the archive and {} new, minimised to {kept} \
         ({})",
        before - before_archive,
        packed::archive(target).display()
    );
    Ok(())
}

/// `cargo xtask fuzz --pack`: the hash-named inputs of each target's folder moved into its
/// archive (the named ones stay): how the corpus came to be packed, and what to run after
/// copying inputs into a folder by hand.
pub(crate) fn pack_folders() -> Result<(), String> {
    for target in TARGETS {
        let folder = packed::named(target);
        let merged = packed::unpack(target)?;
        let mut moved = Vec::new();
        for entry in std::fs::read_dir(&folder)
            .map_err(|error| format!("{}: {error}", folder.display()))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if packed::is_named(&name) {
                continue;
            }
            std::fs::copy(entry.path(), merged.join(&name))
                .map_err(|error| format!("{}: {error}", entry.path().display()))?;
            moved.push(entry.path());
        }
        // Removed from the folder only once the archive holds them.
        let kept = packed::pack(target, &merged)?;
        for path in &moved {
            std::fs::remove_file(path).map_err(|error| format!("{}: {error}", path.display()))?;
        }
        eprintln!(
            "xtask: {target}: {} inputs moved into its archive, {kept} in all",
            moved.len()
        );
    }
    Ok(())
}

/// `target/fuzz-corpus/<target>`, where a run writes the inputs it finds.
fn scratch_corpus(target: &str) -> Result<PathBuf, String> {
    let scratch = target_dir().join("fuzz-corpus").join(target);
    std::fs::create_dir_all(&scratch)
        .map_err(|error| format!("cannot create {}: {error}", scratch.display()))?;
    Ok(scratch)
}

fn count(folder: &std::path::Path) -> usize {
    std::fs::read_dir(folder).map_or(0, Iterator::count)
}

/// The figures of libFuzzer's last status line (`#N DONE cov: C ft: F corp: K/...`), its
/// `Done N runs in S second(s)`, and its final stats (`stat::number_of_executed_units`,
/// `stat::average_exec_per_sec`, `stat::peak_rss_mb`).
fn figures(log: &str) -> Figures {
    let mut figures = Figures::default();
    let after = |line: &str, key: &str| -> Option<u64> {
        let rest = &line[line.find(key)? + key.len()..];
        let digits: String = rest
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    for line in log.lines() {
        // The status lines: `#N\tNEW cov: ...`, `#N\tDONE cov: ...`.
        if line.starts_with('#') && line.contains("cov:") {
            if let Some(coverage) = after(line, "cov:") {
                figures.coverage = coverage;
            }
            if let Some(features) = after(line, "ft:") {
                figures.features = features;
            }
            if let Some(corpus) = after(line, "corp:") {
                figures.corpus = corpus;
            }
        }
        if let Some(runs) = after(line, "stat::number_of_executed_units:") {
            figures.runs = runs;
        }
        if let Some(rss) = after(line, "stat::peak_rss_mb:") {
            figures.peak_rss_mb = rss;
        }
        if let Some(speed) = after(line, "stat::average_exec_per_sec:") {
            figures.per_second = speed;
        }
        if line.starts_with("Done ")
            && let Some(seconds) = after(line, "runs in")
        {
            figures.seconds = seconds;
        }
    }
    figures
}

/// `target/tools/bin/cargo-fuzz`, installed there first if missing.
fn cargo_fuzz() -> Result<PathBuf, String> {
    let root = target_dir().join("tools");
    let binary = root.join("bin/cargo-fuzz");
    if !binary.is_file() {
        eprintln!("xtask: installing cargo-fuzz into {}", root.display());
        run(crate::workspace::cargo()
            .args(["install", "cargo-fuzz", "--locked", "--root"])
            .arg(&root))?;
    }
    Ok(binary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libfuzzers_figures_are_read_from_its_log() {
        let log = "#2\tINITED cov: 10 ft: 11 corp: 1/1b exec/s: 0 rss: 30Mb\n\
                   #584073\tDONE   cov: 11380 ft: 28927 corp: 4603/850Kb lim: 575 exec/s: 6418 rss: 613Mb\n\
                   Done 584073 runs in 91 second(s)\n\
                   stat::number_of_executed_units: 584073\n\
                   stat::average_exec_per_sec:     6418\n\
                   stat::peak_rss_mb:              613\n";
        let figures = figures(log);
        assert_eq!(
            (
                figures.runs,
                figures.coverage,
                figures.features,
                figures.corpus,
                figures.peak_rss_mb
            ),
            (584_073, 11_380, 28_927, 4_603, 613)
        );
    }
}
