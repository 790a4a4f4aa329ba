//! Awaiting a call: its request built once and its limits set (the call's [`Call`] machine),
//! its telemetry record, and the future that drives it to its answer.

use std::future::{IntoFuture, poll_fn};

use gptproto_proto::accumulate::AnswerOutline;
use gptproto_proto::call::{Call, CallOptions, Event, Expect, Start};
use gptproto_proto::exchange::classify_models;
use gptproto_proto::wire::{ChatCompletion, ChatRequest, ModelList};
use gptproto_transport::BoxFuture;
use tracing::Instrument;

use crate::call::{ChatCall, ChatStreamCall, Overrides, WithResponse};
use crate::client::Client;
use crate::driver::Driver;
use crate::error::{Error, Result};
use crate::failover;
use crate::meta::ResponseMeta;
use crate::rt::{self, Instant};
use crate::stream::ChatStream;
use crate::telemetry::CallRecord;

impl IntoFuture for ChatCall {
    type Output = Result<ChatCompletion>;
    type IntoFuture = BoxFuture<'static, Result<ChatCompletion>>;

    fn into_future(self) -> Self::IntoFuture {
        if self.overrides.fallbacks.is_empty() {
            chat(self)
        } else {
            Box::pin(async move { failover::chat(self).await.map(|(answer, _)| answer) })
        }
    }
}

impl IntoFuture for WithResponse<ChatCall> {
    type Output = Result<(ChatCompletion, ResponseMeta)>;
    type IntoFuture = BoxFuture<'static, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        if self.0.overrides.fallbacks.is_empty() {
            chat_with_response(self.0)
        } else {
            Box::pin(failover::chat(self.0))
        }
    }
}

impl IntoFuture for ChatStreamCall {
    type Output = Result<ChatStream>;
    type IntoFuture = BoxFuture<'static, Result<ChatStream>>;

    fn into_future(self) -> Self::IntoFuture {
        if self.overrides.fallbacks.is_empty() {
            chat_stream(self)
        } else {
            Box::pin(async move { failover::chat_stream(self).await.map(|(stream, _)| stream) })
        }
    }
}

impl IntoFuture for WithResponse<ChatStreamCall> {
    type Output = Result<(ChatStream, ResponseMeta)>;
    type IntoFuture = BoxFuture<'static, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        if self.0.overrides.fallbacks.is_empty() {
            chat_stream_with_response(self.0)
        } else {
            Box::pin(failover::chat_stream(self.0))
        }
    }
}

impl Client {
    /// The models the server offers (`GET {base_url}/models`, OpenAI's list format), with the
    /// client's retries and deadlines; errors as [`chat`](Self::chat)'s.
    ///
    /// ```no_run
    /// # async fn demo(client: gptproto::Client) -> Result<(), gptproto::Error> {
    /// for model in client.models().await?.data {
    ///     println!("{}", model.id);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn models(&self) -> impl std::future::Future<Output = Result<ModelList>> + Send + 'static {
        models(self)
    }
}

// The calls are prepared (request built, limits set) before their future is made, and the
// future holds only the plan: its size is what each call in flight costs (a thousand open
// streams are a thousand of them).

fn chat(call: ChatCall) -> BoxFuture<'static, Result<ChatCompletion>> {
    planned(
        Plan::new(
            &call.client,
            call.request,
            &call.overrides,
            ChatCall::EXPECT,
        ),
        |mut plan| async move {
            let outcome = plan.completion().await;
            plan.settled(outcome)
        },
    )
}

/// [`chat`], with the response's head.
fn chat_with_response(
    call: ChatCall,
) -> BoxFuture<'static, Result<(ChatCompletion, ResponseMeta)>> {
    let model = call.request.model.clone();
    planned(
        Plan::new(
            &call.client,
            call.request,
            &call.overrides,
            ChatCall::EXPECT,
        ),
        |mut plan| async move {
            let outcome = async {
                let completion = plan.completion().await?;
                let meta = plan
                    .driver
                    .response_meta()
                    .expect("an answer comes after its head")
                    .for_model(model);
                Ok((completion, meta))
            }
            .await;
            plan.settled(outcome)
        },
    )
}

fn chat_stream(call: ChatStreamCall) -> BoxFuture<'static, Result<ChatStream>> {
    planned(stream_plan(call), |mut plan| async move {
        let outcome = plan.streaming().await;
        match outcome {
            Ok(()) => Ok(plan.into_stream()),
            Err(error) => Err(plan.failed(error)),
        }
    })
}

/// [`chat_stream`], with the response's head.
fn chat_stream_with_response(
    call: ChatStreamCall,
) -> BoxFuture<'static, Result<(ChatStream, ResponseMeta)>> {
    let model = call.request.model.clone();
    planned(stream_plan(call), |mut plan| async move {
        match plan.streaming().await {
            Ok(()) => {
                let meta = plan
                    .driver
                    .response_meta()
                    .expect("an answer comes after its head")
                    .for_model(model);
                Ok((plan.into_stream(), meta))
            }
            Err(error) => Err(plan.failed(error)),
        }
    })
}

/// `GET {base_url}/models`, with the client's retries and deadlines.
fn models(client: &Client) -> BoxFuture<'static, Result<ModelList>> {
    let request = client.inner.config.build_models_request();
    let mut plan = Plan::of_request(
        client,
        request,
        Expect::Body,
        client.inner.options.clone(),
        None,
    );
    Box::pin(async move {
        let body = poll_fn(|cx| {
            plan.driver.poll_until(cx, |event| match event {
                Event::Body(body) => Some(body),
                _ => None,
            })
        })
        .await?;
        let (status, headers) = plan
            .driver
            .call()
            .response_head()
            .expect("a body comes after its head");
        Ok(classify_models(status, headers, &body)?)
    })
}

/// The call's future: `run` on its plan inside its span (when there is one), or the
/// planning's error at once.
fn planned<T: Send + 'static, F>(
    planning: Result<Plan>,
    run: impl FnOnce(Plan) -> F,
) -> BoxFuture<'static, Result<T>>
where
    F: std::future::Future<Output = Result<T>> + Send + 'static,
{
    match planning {
        Ok(plan) => match plan.record.as_ref().map(|record| record.span().clone()) {
            Some(span) => Box::pin(run(plan).instrument(span)),
            None => Box::pin(run(plan)),
        },
        Err(error) => Box::pin(std::future::ready(Err(error))),
    }
}

/// A streamed call's planning.
fn stream_plan(call: ChatStreamCall) -> Result<Plan> {
    let expect = call.expect();
    Plan::new(&call.client, call.request, &call.overrides, expect)
}

/// A call's start: now on its own clock (from zero), the wall clock, the client's jitter.
fn start(client: &Client) -> Start {
    Start {
        now: std::time::Duration::ZERO,
        wall_clock: rt::system_now(),
        seed: client.inner.jitter.seed(),
    }
}

/// One call: its driver (and in it the call's machine), and its telemetry record.
///
/// Kept small: every call in flight holds one.
struct Plan {
    driver: Driver,
    /// The call's telemetry (none when nobody listens); dropped with the plan before its
    /// end, it records the call as cancelled.
    record: Option<Box<CallRecord>>,
}

impl Plan {
    /// The plan, and the call's telemetry record (none when nobody listens).
    fn new(
        client: &Client,
        request: ChatRequest,
        overrides: &Overrides,
        expect: Expect,
    ) -> Result<Self> {
        let origin = Instant::now();
        let (request, call) = overrides.machine(client, request, expect, start(client))?;
        let record = client.inner.telemetry.call(&request);
        Ok(Self {
            driver: Driver::new(client, call, origin),
            record,
        })
    }

    /// The plan of a built request, under these limits, with its telemetry record (if any).
    fn of_request(
        client: &Client,
        request: http::Request<bytes::Bytes>,
        expect: Expect,
        options: CallOptions,
        record: Option<Box<CallRecord>>,
    ) -> Self {
        let origin = Instant::now();
        let call = Call::new(request, expect, options, start(client));
        Self {
            driver: Driver::new(client, call, origin),
            record,
        }
    }

    /// Ends the call's telemetry record with its outcome.
    fn settled<T: Outcome>(&mut self, mut outcome: Result<T>) -> Result<T> {
        if let Some(mut record) = self.record.take() {
            match &mut outcome {
                Ok(value) => value.settle(&mut record),
                Err(error) => record.failed(error),
            }
        }
        outcome
    }

    /// Ends the call's telemetry record with `error`.
    fn failed(&mut self, error: Error) -> Error {
        if let Some(mut record) = self.record.take() {
            record.failed(&error);
        }
        error
    }

    /// Drives the call to its completion.
    async fn completion(&mut self) -> Result<ChatCompletion> {
        poll_fn(|cx| {
            self.driver.poll_until(cx, |event| match event {
                Event::Completion(completion) => Some(*completion),
                _ => None,
            })
        })
        .await
    }

    /// Drives the call to its answer's head.
    async fn streaming(&mut self) -> Result<()> {
        poll_fn(|cx| {
            self.driver.poll_until(cx, |event| match event {
                Event::Response { .. } => Some(()),
                _ => None,
            })
        })
        .await
    }

    /// The stream of an answer whose head came, carrying the call's record on.
    fn into_stream(mut self) -> ChatStream {
        let record = self.record.take();
        ChatStream::new(self.driver, record)
    }
}

/// What a call gives back, which ends its telemetry record.
trait Outcome {
    fn settle(&mut self, record: &mut CallRecord);
}

impl Outcome for ChatCompletion {
    fn settle(&mut self, record: &mut CallRecord) {
        record.answered(&AnswerOutline::of(self), || Some(&*self));
    }
}

impl<T: Outcome> Outcome for (T, ResponseMeta) {
    fn settle(&mut self, record: &mut CallRecord) {
        self.0.settle(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What one call in flight holds, while it waits for the response head: with a thousand
    /// streams being opened, it is a thousand of these, and of the call machines they box
    /// (checked in proto).
    #[test]
    fn a_call_in_flight_is_small() {
        let client = Client::builder()
            .ignore_env()
            .base_url("http://127.0.0.1:1/v1")
            .api_key("sk-test")
            .build()
            .unwrap();
        let streamed = client.chat_stream(ChatRequest::new("m").user("hi"));
        let streamed = chat_stream(streamed);
        assert!(
            std::mem::size_of_val(&*streamed) <= 1280,
            "a streamed call's future is {} bytes",
            std::mem::size_of_val(&*streamed)
        );
        let plain = chat(client.chat(ChatRequest::new("m").user("hi")));
        assert!(
            std::mem::size_of_val(&*plain) <= 1280,
            "a call's future is {} bytes",
            std::mem::size_of_val(&*plain)
        );
    }
}
