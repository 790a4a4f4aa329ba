//! `gptproto batch`: every request of a JSONL file through the API under its rate limits,
//! resumably: answers to OUTPUT, failures to the errors file, one line per id, ever.

mod files;
mod input;
mod progress;
mod shard;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use gptproto::batch::{BatchResult, StopReason};
use gptproto::proto::batch::{BatchError, BatchOutput, BatchResponse};

use crate::args::BatchArgs;
use crate::exit::{self, Failure};
use crate::{Context, connection, cost, settings};
use files::{IdSet, LineWriter};
use progress::{Progress, Snapshot, Summary};
use shard::Shard;

/// How long the requests in flight may take to finish after Ctrl-C, at most.
const DRAIN_AT_MOST: Duration = Duration::from_secs(60);

/// Runs the command; the exit status.
pub(crate) async fn run(mut args: BatchArgs, context: Context<'_>) -> Result<u8, Failure> {
    // The model of lines that name none: --model, else the profile's.
    if args.model.is_none() {
        args.model = context.loaded.profile.model.clone();
    }
    let connection =
        settings::connection(&args.connection, context.origins, &context.loaded, true)?;
    let shard = match &args.shard {
        Some(spec) => Some(
            Shard::parse(spec, std::env::var(shard::JOB_INDEX).ok().as_deref())
                .map_err(Failure::Usage)?,
        ),
        None => None,
    };
    let (output, errors) = paths(&args, shard)?;
    let timeout = Duration::try_from_secs_f64(args.timeout)
        .ok()
        .filter(|timeout| !timeout.is_zero())
        .ok_or_else(|| {
            Failure::Usage(format!(
                "--timeout {}: give a positive number of seconds",
                args.timeout
            ))
        })?;
    let client = connection::builder(&connection)?
        .timeout(timeout)
        .max_retries(0)
        .build()
        .map_err(|error| Failure::Usage(format!("{error:#}")))?;
    let rules = client.config().validation_rules().clone();

    // The first pass: nothing is sent unless every line is good.
    let scan = {
        let (path, model, rules) = (args.input.clone(), args.model.clone(), rules.clone());
        let prices = context.loaded.prices.clone();
        tokio::task::spawn_blocking(move || {
            input::validate(&path, model.as_deref(), &rules, shard, &prices)
        })
        .await
        .map_err(|error| Failure::Usage(format!("validation: {error}")))?
    };
    let scan = scan.map_err(|problems| {
        Failure::Usage(format!(
            "{} is not a valid batch input:\n  {}",
            args.input.display(),
            problems.join("\n  ")
        ))
    })?;

    // Resume: cut a torn last line, skip what is recorded.
    let mut done = IdSet::default();
    let io =
        |path: &Path, error: std::io::Error| Failure::Usage(format!("{}: {error}", path.display()));
    for path in [&output, &errors] {
        let cut = files::repair(path).map_err(|error| io(path, error))?;
        if cut > 0 {
            eprintln!(
                "gptproto batch: cut a torn last line ({cut} bytes) from {}",
                path.display()
            );
        }
    }
    files::read_ids(&output, &mut done).map_err(|error| io(&output, error))?;
    if args.retry_errors {
        set_aside(&errors).map_err(|error| io(&errors, error))?;
    } else {
        files::read_ids(&errors, &mut done).map_err(|error| io(&errors, error))?;
    }
    let skipped = done.len() as u64;
    let total = scan.in_shard.saturating_sub(skipped);
    eprintln!(
        "gptproto batch: {} requests in {}{}; {skipped} already done, {total} to send",
        scan.requests,
        args.input.display(),
        shard.map_or_else(String::new, |s| format!(
            ", {} in shard {}/{}",
            scan.in_shard, s.index, s.count
        )),
    );

    let mut answers = LineWriter::open(&output).map_err(|error| io(&output, error))?;
    let mut failed = LineWriter::when_written(&errors).map_err(|error| io(&errors, error))?;
    let shards = shard.map_or(1, |shard| shard.count);
    let mut builder = client.batch().max_retries(args.max_retries);
    if let Some(rpm) = args.rpm {
        builder = builder.requests_per_minute((rpm / shards).max(1));
    }
    if let Some(tpm) = args.tpm {
        builder = builder.tokens_per_minute((tpm / shards).max(1));
    }
    if let Some(concurrency) = args.concurrency {
        builder = builder.concurrency(concurrency);
    }
    if let Some(budget) = args.budget_tokens {
        builder = builder.budget_tokens(budget);
    }
    for model in &args.fallback {
        builder = builder.fallback(model);
    }
    if !context.loaded.prices.is_empty() {
        eprintln!(
            "gptproto batch: at most {} for this run's lines (prompts estimated, output at max_tokens){}",
            cost::shown(scan.most_cost),
            match scan.unpriced {
                0 => String::new(),
                n => format!("; {n} lines of models without a price"),
            }
        );
        builder = builder.prices(context.loaded.prices.clone());
    }
    if let Some(max) = args.max_cost {
        if context.loaded.prices.is_empty() {
            return Err(Failure::Usage(
                "--max-cost needs prices: add [prices.\"MODEL\"] to the configuration (`gptproto prices` shows how)".to_owned(),
            ));
        }
        builder = builder.max_cost(max);
    }
    let requests = input::requests(args.input.clone(), args.model.clone(), rules, shard, done);
    let mut batch = builder.run(requests);
    let priced = !context.loaded.prices.is_empty();

    let mut progress = Progress::new(args.progress, total);
    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    let nonce = fastrand::u64(..);
    let mut written = 0u64;
    let mut interrupted = false;
    let mut drain_deadline: Option<tokio::time::Instant> = None;
    let mut signals = Signals::new();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        let deadline = async {
            match drain_deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = batch.next() => {
                let Some(result) = result else { break };
                written += 1;
                let id = format!("batch_req_{nonce:016x}{written:08x}");
                let (writer, line) = match line_of(&id, &result) {
                    Ok(line) => (&mut answers, line),
                    Err((code, line)) => {
                        *failures.entry(code).or_default() += 1;
                        (&mut failed, line)
                    }
                };
                writer.write_line(&line).map_err(Failure::Output)?;
            }
            () = signals.next() => {
                if interrupted {
                    break;
                }
                interrupted = true;
                batch.stop();
                drain_deadline = Some(tokio::time::Instant::now() + timeout.min(DRAIN_AT_MOST));
                progress.finish();
                eprintln!(
                    "gptproto batch: interrupted; waiting for {} requests in flight (Ctrl-C again to leave them)",
                    batch.in_flight()
                );
            }
            () = deadline => break,
            _ = tick.tick() => {}
        }
        progress.update(&Snapshot {
            stats: batch.stats(),
            in_flight: batch.in_flight(),
            concurrency: batch.concurrency_limit(),
            cost: priced.then(|| batch.cost().total()),
        });
    }
    progress.finish();
    answers.sync().map_err(Failure::Output)?;
    failed.sync().map_err(Failure::Output)?;
    let stats = batch.stats();
    Summary {
        stats,
        skipped,
        failures: &failures,
        elapsed: progress.elapsed(),
        limits: (args.rpm, args.tpm),
        paced: batch.rates_per_minute(),
        concurrency: (batch.concurrency_limit(), args.concurrency.is_some()),
        cost: priced.then(|| (batch.cost().total(), batch.unpriced())),
    }
    .print();
    let resume = resume_command();
    if interrupted {
        eprintln!("gptproto batch: to resume: {resume}");
        return Ok(exit::INTERRUPTED);
    }
    match batch.stop_reason() {
        Some(StopReason::Unauthorized(message)) => {
            eprintln!("gptproto batch: stopped: the server refused the key: {message}");
            eprintln!("gptproto batch: fix the key, then resume: {resume}");
            return Ok(exit::AUTH);
        }
        Some(StopReason::BudgetReached) => {
            eprintln!(
                "gptproto batch: stopped before passing --budget-tokens; to go on, raise it and resume: {resume}"
            );
        }
        Some(StopReason::CostReached) => {
            eprintln!(
                "gptproto batch: stopped before passing --max-cost; to go on, raise it and resume: {resume}"
            );
        }
        _ => {}
    }
    Ok(if stats.failed > 0 {
        eprintln!(
            "gptproto batch: {} failed (in {}); to send them again: {resume} --retry-errors",
            stats.failed,
            errors.display()
        );
        exit::SOME_FAILED
    } else {
        0
    })
}

/// The output and errors paths (with the shard's tag), neither the input.
fn paths(args: &BatchArgs, shard: Option<Shard>) -> Result<(PathBuf, PathBuf), Failure> {
    let output = match shard {
        Some(shard) => shard.path(&args.output),
        None => args.output.clone(),
    };
    let errors = match (&args.errors, shard) {
        (Some(errors), Some(shard)) => shard.path(errors),
        (Some(errors), None) => errors.clone(),
        (None, _) => {
            let name = output
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let name = match name.strip_suffix(".jsonl") {
                Some(stem) => format!("{stem}.errors.jsonl"),
                None => format!("{name}.errors.jsonl"),
            };
            output.with_file_name(name)
        }
    };
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    if same(&output, &args.input) || same(&errors, &args.input) {
        return Err(Failure::Usage(format!(
            "-o {}: the output must not be the input",
            output.display()
        )));
    }
    if same(&output, &errors) {
        return Err(Failure::Usage(
            "the errors file must not be the output".to_owned(),
        ));
    }
    Ok((output, errors))
}

/// With `--retry-errors`: the old errors file is kept beside as `.retried` and its ids are
/// sent again.
fn set_aside(errors: &Path) -> std::io::Result<()> {
    if errors.exists() {
        let mut aside = errors.as_os_str().to_owned();
        aside.push(".retried");
        std::fs::rename(errors, PathBuf::from(aside))?;
    }
    Ok(())
}

/// A result as its line: `Ok` for the output, `Err((cause, line))` for the errors file.
fn line_of(id: &str, result: &BatchResult) -> Result<String, (String, String)> {
    match &result.outcome {
        Ok((answer, meta)) => {
            let body = serde_json::to_value(answer).unwrap_or_default();
            let request_id = meta.request_id().map(str::to_owned);
            Ok(BatchOutput::success(id, &result.custom_id, request_id, body).to_line())
        }
        Err(error) => {
            let code = cause(error);
            let response = error.response_meta().map(|meta| BatchResponse {
                status_code: meta.status().as_u16(),
                request_id: meta.request_id().map(str::to_owned),
                body: error
                    .api_error()
                    .map(|api| serde_json::json!({ "error": api.error_object() }))
                    .unwrap_or_default(),
            });
            let failure = BatchError {
                code: code.clone(),
                message: format!("{error:#}"),
            };
            Err((
                code,
                BatchOutput::failure(id, &result.custom_id, response, failure).to_line(),
            ))
        }
    }
}

/// A short cause: the server's code or type, else the kind of failure.
fn cause(error: &gptproto::Error) -> String {
    if let Some(api) = error.api_error() {
        if let Some(code) = api.code() {
            return code.to_string();
        }
        if let Some(kind) = api.error_type() {
            return kind.to_owned();
        }
        if let Some(status) = api.status() {
            return format!("http_{}", status.as_u16());
        }
        return "api_error".to_owned();
    }
    use gptproto::ErrorKind;
    match error.kind() {
        ErrorKind::Timeout => "timeout",
        ErrorKind::Truncated | ErrorKind::Interrupted => "truncated",
        ErrorKind::Connect | ErrorKind::Network => "connection",
        ErrorKind::Protocol => "protocol",
        _ => "error",
    }
    .to_owned()
}

/// The command line as given: running it again resumes.
fn resume_command() -> String {
    std::env::args()
        .map(|arg| {
            if arg.contains([' ', '"', '\'', '$', '*', '?']) {
                format!("'{}'", arg.replace('\'', r"'\''"))
            } else {
                arg
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// SIGINT and SIGTERM.
struct Signals {
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Self {
        Self {
            #[cfg(unix)]
            terminate: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .ok(),
        }
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        {
            let terminate = async {
                match &mut self.terminate {
                    Some(signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = terminate => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
