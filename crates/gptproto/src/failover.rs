//! A call with fallbacks: the models tried in order, each with its own retries, under the
//! call's one total deadline, moving on only when another model could answer what failed
//! ([`fails_over`](gptproto_proto::failure::fails_over): a model missing, a server down or
//! overloaded, rate limiting) and nothing of an answer had arrived.

use std::future::IntoFuture;
use std::time::Duration;

use tracing::Instrument;
use tracing::field::Empty;

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

/// An answer: what a failover's span records of the one that answered.
trait Answered {
    /// The model the server says answered, when known by the time the call returns.
    fn response_model(&self) -> Option<&str>;
}

impl Answered for (ChatCompletion, ResponseMeta) {
    fn response_model(&self) -> Option<&str> {
        Some(self.0.model.as_str()).filter(|model| !model.is_empty())
    }
}

impl Answered for (ChatStream, ResponseMeta) {
    fn response_model(&self) -> Option<&str> {
        None
    }
}

/// Each model in turn, by `attempt`, until one answers, an error another model would not fix
/// ([`Error::fails_over`]), or the call's total deadline. Each attempt gets the call's
/// overrides (without fallbacks) and what is left of its deadline.
///
/// The whole is a span, `chat {first model}` (`gptproto.failover`), whose children are the
/// attempts' own spans; each move to the next model is an event in it (a `tracing` warning
/// naming the model, the next and the error), and it ends with the model and server that
/// answered (`gen_ai.response.model`, `gen_ai.provider.name`, `server.address`) and the models
/// tried (`gptproto.failover.attempts`).
async fn over<T: Answered, F>(
    client: Client,
    request: ChatRequest,
    overrides: Overrides,
    attempt: impl Fn(Client, ChatRequest, Overrides) -> F,
) -> Result<T>
where
    F: std::future::Future<Output = Result<T>>,
{
    let span = tracing::info_span!(
        "gptproto.failover",
        otel.name = %format_args!("chat {}", request.model),
        gen_ai.operation.name = "chat",
        gen_ai.request.model = request.model.as_str(),
        gen_ai.response.model = Empty,
        gen_ai.provider.name = Empty,
        server.address = Empty,
        gptproto.failover.attempts = Empty,
        error.type = Empty,
    );
    walk(client, request, overrides, attempt, span.clone())
        .instrument(span)
        .await
}

async fn walk<T: Answered, F>(
    client: Client,
    mut request: ChatRequest,
    mut overrides: Overrides,
    attempt: impl Fn(Client, ChatRequest, Overrides) -> F,
    span: tracing::Span,
) -> Result<T>
where
    F: std::future::Future<Output = Result<T>>,
{
    let total = overrides.apply(client.call_options()).timeouts.total;
    let started = Instant::now();
    let fallbacks = std::mem::take(&mut overrides.fallbacks);
    let mut on = client.clone();
    let mut next = fallbacks.into_iter();
    let mut tried = 0_i64;
    loop {
        let mut own = overrides.clone();
        if let Some(left) = remaining(total, started) {
            own.total = Setting::Call(Some(left));
        }
        tried += 1;
        span.record("gptproto.failover.attempts", tried);
        let (provider, server) = on.inner.telemetry.server();
        span.record("gen_ai.provider.name", provider);
        span.record("server.address", server);
        let error = match attempt(on.clone(), request.clone(), own).await {
            Ok(answer) => {
                // Else the model asked of the attempt that answered.
                let model = answer.response_model().unwrap_or(&request.model);
                span.record("gen_ai.response.model", model);
                return Ok(answer);
            }
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
            _ => {
                span.record("error.type", &*error.error_type());
                return Err(error);
            }
        }
    }
}
