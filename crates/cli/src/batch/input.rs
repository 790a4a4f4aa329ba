//! Reading the input file as a stream: a first pass that validates every line (JSON, format,
//! request, duplicate ids) without holding the file, then the requests fed to the batch from a
//! reader thread, this shard's and not done.

use std::path::{Path, PathBuf};

use futures_util::Stream;
use gptproto::ChatRequest;
use gptproto::proto::batch::BatchInput;
use gptproto::proto::price::PriceTable;
use gptproto::proto::ratelimit::{RateLimitConfig, RateLimiter};
use gptproto::proto::validate::ValidationRules;

use super::files::{IdSet, for_each_line};
use super::shard::Shard;

/// The most problems listed before the validation gives up.
const MAX_PROBLEMS: usize = 20;

/// What the validation pass found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Requests in the file.
    pub(crate) requests: u64,
    /// This shard's.
    pub(crate) in_shard: u64,
    /// The most this shard's requests can cost: each one's prompt estimate (without a
    /// tokenizer) and reserved output (`max_tokens` × `n`) at its model's price.
    pub(crate) most_cost: f64,
    /// This shard's requests whose model has no price.
    pub(crate) unpriced: u64,
}

/// One line as the batch sends it: parsed, the default model filled in, validated.
fn request_of(
    number: u64,
    text: &[u8],
    model: Option<&str>,
    rules: &ValidationRules,
) -> Result<BatchInput, String> {
    let mut input = BatchInput::parse(text, number).map_err(|error| error.to_string())?;
    if input.body.model.is_empty() {
        match model {
            Some(model) => input.body.model = model.to_owned(),
            None => {
                return Err(format!(
                    "line {number}: the body names no model (give -m MODEL)"
                ));
            }
        }
    }
    input
        .body
        .validate_with(rules)
        .map_err(|error| format!("line {number}: {error}"))?;
    Ok(input)
}

/// The first pass: every line parses, names a model, passes validation, and has an id no other
/// line has. Problems are listed (at most 20) with their line numbers.
pub(crate) fn validate(
    path: &Path,
    model: Option<&str>,
    rules: &ValidationRules,
    shard: Option<Shard>,
    prices: &PriceTable,
) -> Result<Scan, Vec<String>> {
    let mut scan = Scan::default();
    let estimator = RateLimiter::new(RateLimitConfig::default());
    let mut seen = IdSet::default();
    let mut problems = Vec::new();
    let read = for_each_line(path, |number, text| {
        match request_of(number, text, model, rules) {
            Ok(input) => {
                if !seen.insert(&input.custom_id) {
                    problems.push(format!(
                        "line {number}: custom_id {:?} is on an earlier line too",
                        input.custom_id
                    ));
                }
                scan.requests += 1;
                if shard.is_none_or(|shard| shard.contains(&input.custom_id)) {
                    scan.in_shard += 1;
                    // Only with prices: without, the estimate would be work for nothing.
                    if !prices.is_empty() {
                        match prices.most_cost(&estimator.reserve(&input.body)) {
                            Some(most) => scan.most_cost += most,
                            None => scan.unpriced += 1,
                        }
                    }
                }
            }
            Err(problem) => problems.push(problem),
        }
        problems.len() < MAX_PROBLEMS
    });
    if let Err(error) = read {
        problems.push(format!("{}: {error}", path.display()));
    }
    if problems.is_empty() {
        Ok(scan)
    } else {
        Err(problems)
    }
}

/// The requests to send, read by a thread of their own as the batch asks for them: this
/// shard's, minus those in `done`.
pub(crate) fn requests(
    path: PathBuf,
    model: Option<String>,
    rules: ValidationRules,
    shard: Option<Shard>,
    done: IdSet,
) -> impl Stream<Item = (String, ChatRequest)> + Send + 'static {
    let (sender, receiver) = tokio::sync::mpsc::channel(1024);
    std::thread::spawn(move || {
        let _ = for_each_line(&path, |number, text| {
            // Validated by the first pass: a line that fails now changed since; it is skipped
            // here and reported by the next run's validation.
            let Ok(input) = request_of(number, text, model.as_deref(), &rules) else {
                return true;
            };
            if shard.is_some_and(|shard| !shard.contains(&input.custom_id))
                || done.contains(&input.custom_id)
            {
                return true;
            }
            sender.blocking_send((input.custom_id, input.body)).is_ok()
        });
    });
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    })
}
