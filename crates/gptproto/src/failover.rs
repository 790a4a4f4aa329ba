//! A call with fallbacks: the models tried in order, each with its own retries, under the
//! call's one total deadline, moving on only when another model could answer what failed
//! ([`fails_over`](gptproto_proto::failure::fails_over): a model missing, a server down or
//! overloaded, rate limiting) and nothing of an answer had arrived.

use std::future::IntoFuture;
use std::time::Duration;

use gptproto_proto::wire::{ChatCompletion, ChatRequest};

use crate::call::{ChatCall, ChatStreamCall, Overrides, Setting};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::meta::ResponseMeta;
use crate::rt::Instant;
use crate::stream::ChatStream;

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
    over(client, request, overrides, |client, request, overrides| {
        ChatCall {
            client,
            request,
            overrides,
        }
        .with_response()
        .into_future()
    })
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
    over(client, request, overrides, |client, request, overrides| {
        ChatStreamCall {
            client,
            request,
            overrides,
        }
        .with_response()
        .into_future()
    })
    .await
}

/// Each model in turn, by `attempt`, until one answers, an error another model would not fix
/// ([`Error::fails_over`]), or the call's total deadline. Each attempt gets the call's
/// overrides (without fallbacks) and what is left of its deadline.
async fn over<T, F>(
    client: Client,
    mut request: ChatRequest,
    mut overrides: Overrides,
    attempt: impl Fn(Client, ChatRequest, Overrides) -> F,
) -> Result<T>
where
    F: std::future::Future<Output = Result<T>>,
{
    let total = overrides.apply(client.call_options()).timeouts.total;
    let started = Instant::now();
    let fallbacks = std::mem::take(&mut overrides.fallbacks);
    let mut on = client.clone();
    let mut next = fallbacks.into_iter();
    loop {
        let mut own = overrides.clone();
        if let Some(left) = remaining(total, started) {
            own.total = Setting::Call(Some(left));
        }
        let error = match attempt(on.clone(), request.clone(), own).await {
            Ok(answer) => return Ok(answer),
            Err(error) => error,
        };
        let time_left = remaining(total, started).is_none_or(|left| !left.is_zero());
        match next.next() {
            Some(fallback) if time_left && error.fails_over() => {
                moving_on(&error, &request.model, &fallback.model);
                request.model = fallback.model;
                // A fallback without a client of its own is the call's client's.
                on = fallback.client.unwrap_or_else(|| client.clone());
            }
            _ => return Err(error),
        }
    }
}
