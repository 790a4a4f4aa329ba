//! A call with fallbacks: the models tried in order, each with its own retries, under the
//! call's one total deadline, moving on only when another model could answer what failed
//! ([`fails_over`](gptproto_proto::failure::fails_over): a model missing, a server down or
//! overloaded, rate limiting) and nothing of an answer had arrived.

use std::future::IntoFuture;
use std::time::Duration;

use gptproto_proto::failure::fails_over;
use gptproto_proto::wire::{ChatCompletion, ChatRequest};

use crate::call::{ChatCall, ChatStreamCall, Fallback, Overrides, Setting};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::meta::ResponseMeta;
use crate::rt::Instant;
use crate::stream::ChatStream;

/// One model's attempt, its client and its request.
struct Candidate {
    client: Client,
    request: ChatRequest,
}

/// The primary model, then each fallback, with the request naming its model.
fn candidates(client: &Client, request: &ChatRequest, fallbacks: &[Fallback]) -> Vec<Candidate> {
    let mut all = vec![Candidate {
        client: client.clone(),
        request: request.clone(),
    }];
    for fallback in fallbacks {
        let mut request = request.clone();
        request.model.clone_from(&fallback.model);
        all.push(Candidate {
            client: fallback.client.clone().unwrap_or_else(|| client.clone()),
            request,
        });
    }
    all
}

/// Whether to go on to the next model after `error`.
fn moves_on(error: &Error) -> bool {
    error.partial().is_none() && error.failure().is_some_and(|failure| fails_over(&failure))
}

/// The overrides of one model's attempt: the call's, without fallbacks, its total deadline
/// what is left of the call's.
fn attempt_overrides(overrides: &Overrides, left: Option<Duration>) -> Overrides {
    let mut own = overrides.clone();
    own.fallbacks.clear();
    if let Some(left) = left {
        own.total = Setting::Call(Some(left));
    }
    own
}

/// What is left of the call's total deadline (`None`: it has none).
fn remaining(total: Option<Duration>, started: Instant) -> Option<Duration> {
    total.map(|total| total.saturating_sub(started.elapsed()))
}

/// Says what failed and which model goes next.
fn moving_on(error: &Error, failed: &str, next: &str) {
    tracing::warn!(
        model = failed,
        next,
        error.type = &*error.error_type(),
        %error,
        "failing over to the next model"
    );
}

pub(crate) async fn chat(call: ChatCall) -> Result<(ChatCompletion, ResponseMeta)> {
    let ChatCall {
        client,
        request,
        overrides,
    } = call;
    over(
        &client,
        &request,
        &overrides,
        |client, request, overrides| {
            ChatCall {
                client,
                request,
                overrides,
            }
            .with_response()
            .into_future()
        },
    )
    .await
}

/// A stream is handed out at its head, before its first chunk: it fails over only before that,
/// never once chunks were shown.
pub(crate) async fn chat_stream(call: ChatStreamCall) -> Result<(ChatStream, ResponseMeta)> {
    let ChatStreamCall {
        client,
        request,
        overrides,
    } = call;
    over(
        &client,
        &request,
        &overrides,
        |client, request, overrides| {
            ChatStreamCall {
                client,
                request,
                overrides,
            }
            .with_response()
            .into_future()
        },
    )
    .await
}

/// Each model in turn, by `attempt`, until one answers, an error another model would not fix,
/// or the call's total deadline.
async fn over<T, F>(
    client: &Client,
    request: &ChatRequest,
    overrides: &Overrides,
    attempt: impl Fn(Client, ChatRequest, Overrides) -> F,
) -> Result<T>
where
    F: std::future::Future<Output = Result<T>>,
{
    let total = overrides.apply(client.call_options()).timeouts.total;
    let started = Instant::now();
    let all = candidates(client, request, &overrides.fallbacks);
    let mut index = 0;
    loop {
        let candidate = &all[index];
        let error = match attempt(
            candidate.client.clone(),
            candidate.request.clone(),
            attempt_overrides(overrides, remaining(total, started)),
        )
        .await
        {
            Ok(answer) => return Ok(answer),
            Err(error) => error,
        };
        let next = all.get(index + 1);
        let time_left = remaining(total, started).is_none_or(|left| !left.is_zero());
        match next {
            Some(next) if time_left && moves_on(&error) => {
                moving_on(&error, &candidate.request.model, &next.request.model);
                index += 1;
            }
            _ => return Err(error),
        }
    }
}
