//! What a call tells the outside: a `tracing` span per call following OpenTelemetry's GenAI
//! semantic conventions (v1.41.0), and, with the `otel` feature, the conventions' metrics.
//!
//! The span is named `chat` (`otel.name` = `chat {model}`, kind client) and declares every
//! field up front, so that without a subscriber listening it costs one callsite check: nothing
//! is formatted, measured or copied then (a call without a span and without metrics has no
//! [`CallRecord`] at all). The fields, and what each holds, are listed in
//! `docs/observability.md`.
//!
//! A call's record ends once: with its answer (the response's id, model, finish reasons and
//! usage, as the server reported them: nothing is invented), with its error (`error.type`,
//! [`Error::error_type`]), or dropped before either (`cancelled`). A stream's record lives in
//! the [`ChatStream`](crate::ChatStream) and ends with it.

use std::borrow::{Borrow, Cow};
use std::sync::Arc;
use std::time::Duration;

use gptproto_proto::accumulate::AnswerOutline;
use gptproto_proto::exchange::ClientConfig;
use gptproto_proto::wire::{ChatCompletion, ChatRequest, ResponseFormat};
use tracing::Span;
use tracing::field::Empty;

use crate::error::Error;
use crate::rt::Instant;

mod content;
#[cfg(feature = "otel")]
pub(crate) mod metrics;
mod provider;

/// The default of [`ClientBuilder::message_content_limit`](crate::ClientBuilder::message_content_limit).
pub(crate) const DEFAULT_CONTENT_LIMIT: usize = 64 * 1024;

/// The environment variable that turns content capture on (`true`), as OpenTelemetry's GenAI
/// instrumentations read it.
pub const ENV_CAPTURE_MESSAGE_CONTENT: &str = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT";

/// A client's telemetry settings, fixed when it is built.
#[derive(Debug)]
pub(crate) struct Telemetry {
    provider: Cow<'static, str>,
    server_address: String,
    server_port: u16,
    /// The most bytes of text each content attribute holds, when content is captured.
    capture: Option<usize>,
    #[cfg(feature = "otel")]
    metrics: metrics::Instruments,
}

/// What the builder says of telemetry.
#[derive(Debug, Clone, Default)]
pub(crate) struct TelemetryOptions {
    pub(crate) provider: Option<String>,
    /// `None`: from [`ENV_CAPTURE_MESSAGE_CONTENT`].
    pub(crate) capture: Option<bool>,
    pub(crate) content_limit: Option<usize>,
}

impl Telemetry {
    pub(crate) fn new(options: &TelemetryOptions, config: &ClientConfig) -> Self {
        let (server_address, server_port) = provider::server_of(config.chat_completions_uri());
        let provider = match &options.provider {
            Some(name) => Cow::Owned(name.clone()),
            None => Cow::Borrowed(config.provider().otel_name()),
        };
        let capture = options.capture.unwrap_or_else(|| {
            std::env::var(ENV_CAPTURE_MESSAGE_CONTENT)
                .is_ok_and(|value| value.trim().eq_ignore_ascii_case("true"))
        });
        Self {
            provider,
            server_address,
            server_port,
            capture: capture.then_some(options.content_limit.unwrap_or(DEFAULT_CONTENT_LIMIT)),
            #[cfg(feature = "otel")]
            metrics: metrics::Instruments::from_global(),
        }
    }

    /// The server's provider (`gen_ai.provider.name`) and address (`server.address`).
    pub(crate) fn server(&self) -> (&str, &str) {
        (&self.provider, &self.server_address)
    }

    /// The record of a call about to be made, or `None` when nobody listens (no span enabled,
    /// no metrics).
    pub(crate) fn call(self: &Arc<Self>, request: &ChatRequest) -> Option<Box<CallRecord>> {
        let span = self.span(request);
        // With `otel`, every call is measured (its metrics are recorded whoever listens).
        let measured = cfg!(feature = "otel");
        if span.is_disabled() && !measured {
            return None;
        }
        if !span.is_disabled() {
            self.describe(&span, request);
        }
        Some(Box::new(CallRecord {
            telemetry: Arc::clone(self),
            span,
            started: Instant::now(),
            #[cfg(feature = "otel")]
            attributes: if measured {
                self.attributes(request)
            } else {
                Vec::new()
            },
            last_chunk: None,
            arrived: None,
            chunks: 0,
            ended: false,
        }))
    }

    /// The metrics' attributes of a request to this client's server.
    #[cfg(feature = "otel")]
    fn attributes(&self, request: &ChatRequest) -> Vec<opentelemetry::KeyValue> {
        use opentelemetry::KeyValue;
        vec![
            KeyValue::new("gen_ai.operation.name", "chat"),
            KeyValue::new("gen_ai.provider.name", self.provider.to_string()),
            KeyValue::new("gen_ai.request.model", request.model.clone()),
            KeyValue::new("server.address", self.server_address.clone()),
            KeyValue::new("server.port", i64::from(self.server_port)),
        ]
    }

    /// The call's span, every field declared (at most 32: `tracing`'s limit).
    fn span(&self, request: &ChatRequest) -> Span {
        tracing::info_span!(
            "chat",
            otel.name = Empty,
            otel.kind = "client",
            otel.status_code = Empty,
            otel.status_description = Empty,
            gen_ai.operation.name = "chat",
            gen_ai.provider.name = &*self.provider,
            gen_ai.request.model = request.model.as_str(),
            gen_ai.request.stream = request.is_stream(),
            gen_ai.request.max_tokens = Empty,
            gen_ai.request.temperature = Empty,
            gen_ai.request.top_p = Empty,
            gen_ai.request.frequency_penalty = Empty,
            gen_ai.request.presence_penalty = Empty,
            gen_ai.request.stop_sequences = Empty,
            gen_ai.request.seed = Empty,
            gen_ai.request.choice.count = Empty,
            gen_ai.output.type = Empty,
            server.address = self.server_address.as_str(),
            server.port = i64::from(self.server_port),
            gen_ai.response.id = Empty,
            gen_ai.response.model = Empty,
            gen_ai.response.finish_reasons = Empty,
            gen_ai.response.time_to_first_chunk = Empty,
            gen_ai.usage.input_tokens = Empty,
            gen_ai.usage.output_tokens = Empty,
            gen_ai.usage.cache_read.input_tokens = Empty,
            gen_ai.usage.reasoning.output_tokens = Empty,
            error.type = Empty,
            gen_ai.system_instructions = Empty,
            gen_ai.input.messages = Empty,
            gen_ai.output.messages = Empty,
            gen_ai.tool.definitions = Empty,
        )
    }

    /// Records the request's attributes on an enabled span (those the request sets only).
    fn describe(&self, span: &Span, request: &ChatRequest) {
        span.record("otel.name", format_args!("chat {}", request.model));
        if let Some(max) = request.max_completion_tokens.or(request.max_tokens) {
            span.record("gen_ai.request.max_tokens", i64::from(max));
        }
        for (field, value) in [
            ("gen_ai.request.temperature", request.temperature),
            ("gen_ai.request.top_p", request.top_p),
            (
                "gen_ai.request.frequency_penalty",
                request.frequency_penalty,
            ),
            ("gen_ai.request.presence_penalty", request.presence_penalty),
        ] {
            if let Some(value) = value {
                span.record(field, value);
            }
        }
        if let Some(stop) = &request.stop {
            span.record(
                "gen_ai.request.stop_sequences",
                serde_json::to_string(stop.as_slice()).unwrap_or_default(),
            );
        }
        if let Some(seed) = request.seed {
            span.record("gen_ai.request.seed", seed);
        }
        if let Some(n) = request.n.filter(|&n| n != 1) {
            span.record("gen_ai.request.choice.count", i64::from(n));
        }
        if let Some(format) = &request.response_format {
            span.record("gen_ai.output.type", output_type(format));
        }
        if let Some(limit) = self.capture {
            let captured = content::request(request, limit);
            if let Some(instructions) = &captured.system_instructions {
                span.record("gen_ai.system_instructions", instructions.as_str());
            }
            span.record("gen_ai.input.messages", captured.input_messages.as_str());
            if let Some(tools) = &captured.tool_definitions {
                span.record("gen_ai.tool.definitions", tools.as_str());
            }
        }
    }
}

/// A count as a signed integer: OpenTelemetry's attributes have no unsigned one (and
/// `tracing-opentelemetry` records a `u64` as text).
fn int(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// `gen_ai.output.type` of a response format.
fn output_type(format: &ResponseFormat) -> &'static str {
    match format {
        ResponseFormat::Text => "text",
        _ => "json",
    }
}

/// One call's span and measurements, from its planning to its end.
#[derive(Debug)]
pub(crate) struct CallRecord {
    telemetry: Arc<Telemetry>,
    span: Span,
    started: Instant,
    /// The metrics' attributes known from the request (when measured).
    #[cfg(feature = "otel")]
    attributes: Vec<opentelemetry::KeyValue>,
    /// When the last chunk was seen (`None`: no chunk yet).
    last_chunk: Option<Instant>,
    /// When the body's latest read arrived: the time of the chunks decoded from it (one clock
    /// read per read, none per chunk).
    arrived: Option<Instant>,
    /// Chunks seen so far.
    chunks: u64,
    ended: bool,
}

impl CallRecord {
    /// The span the call runs in.
    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    /// Whether no chunk was noted yet.
    pub(crate) fn awaits_first_chunk(&self) -> bool {
        self.last_chunk.is_none()
    }

    /// A read of the body arrived now: the chunks decoded from it arrived with it.
    pub(crate) fn read_arrived(&mut self) {
        self.arrived = Some(Instant::now());
    }

    /// A stream has decoded `chunks` chunks in all, the new ones from the latest read: the time
    /// to the first one, and between the later ones (chunks decoded from one read share its
    /// interval evenly). Called once per read, not per chunk.
    pub(crate) fn chunks_seen(&mut self, chunks: u64) {
        if chunks <= self.chunks {
            return;
        }
        let now = self.arrived.unwrap_or_else(Instant::now);
        let new = chunks - self.chunks;
        let previous = self.last_chunk.replace(now);
        self.chunks = chunks;
        // The first chunk's wait, and the interval of each later one.
        let (first, each, later) = match previous {
            None => {
                let first = now.saturating_duration_since(self.started);
                self.span
                    .record("gen_ai.response.time_to_first_chunk", first.as_secs_f64());
                (Some(first), Duration::ZERO, new - 1)
            }
            Some(last) => (
                None,
                now.saturating_duration_since(last) / u32::try_from(new).unwrap_or(u32::MAX),
                new,
            ),
        };
        #[cfg(feature = "otel")]
        {
            let metrics = &self.telemetry.metrics;
            let attributes = self.attributes(None, None);
            if let Some(first) = first {
                metrics.time_to_first_chunk(first, &attributes);
            }
            for _ in 0..later {
                metrics.time_per_output_chunk(each, &attributes);
            }
        }
        #[cfg(not(feature = "otel"))]
        let _ = (first, each, later);
    }

    /// The call ended with an answer. `content` gives the whole answer when content is
    /// captured (streams build it then only).
    pub(crate) fn answered<C: Borrow<ChatCompletion>>(
        &mut self,
        outline: &AnswerOutline<'_>,
        content: impl FnOnce() -> Option<C>,
    ) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        let telemetry = &*self.telemetry;
        let span = &self.span;
        if !span.is_disabled() {
            if !outline.id.is_empty() {
                span.record("gen_ai.response.id", outline.id);
            }
            if !outline.model.is_empty() {
                span.record("gen_ai.response.model", outline.model);
            }
            span.record(
                "gen_ai.response.finish_reasons",
                serde_json::to_string(&outline.finish_reasons).unwrap_or_default(),
            );
            if let Some(usage) = outline.usage {
                span.record("gen_ai.usage.input_tokens", int(usage.prompt_tokens));
                span.record("gen_ai.usage.output_tokens", int(usage.completion_tokens));
                if let Some(cached) = usage
                    .prompt_tokens_details
                    .as_ref()
                    .and_then(|d| d.cached_tokens)
                {
                    span.record("gen_ai.usage.cache_read.input_tokens", int(cached));
                }
                if let Some(reasoning) = usage
                    .completion_tokens_details
                    .as_ref()
                    .and_then(|details| details.reasoning_tokens)
                {
                    span.record("gen_ai.usage.reasoning.output_tokens", int(reasoning));
                }
            }
            if let Some(limit) = telemetry.capture
                && let Some(completion) = content()
            {
                span.record(
                    "gen_ai.output.messages",
                    content::output(completion.borrow(), limit).as_str(),
                );
            }
        }
        #[cfg(feature = "otel")]
        {
            let metrics = &telemetry.metrics;
            let response_model = (!outline.model.is_empty()).then_some(outline.model);
            let attributes = self.attributes(response_model, None);
            metrics.operation(self.started.elapsed(), &attributes);
            if let Some(usage) = outline.usage {
                metrics.usage(usage, &attributes);
            }
        }
    }

    /// The call ended with `error`.
    pub(crate) fn failed(&mut self, error: &Error) {
        self.end_with(&error.error_type(), error);
    }

    /// Ends the record as `error_type`, `description` saying why.
    fn end_with(&mut self, error_type: &str, description: &dyn std::fmt::Display) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        self.span.record("error.type", error_type);
        self.span.record("otel.status_code", "ERROR");
        self.span
            .record("otel.status_description", format_args!("{description:#}"));
        #[cfg(feature = "otel")]
        {
            let metrics = &self.telemetry.metrics;
            let attributes = self.attributes(None, Some(error_type));
            metrics.operation(self.started.elapsed(), &attributes);
        }
    }

    /// Ends a record whose call (or stream) was dropped before its end.
    fn cancelled(&mut self) {
        let what = if self.last_chunk.is_some() {
            "the stream was dropped before its end"
        } else {
            "the call was dropped before its answer"
        };
        self.end_with("cancelled", &what);
    }

    /// The metrics' attributes: the request's, and the response model or the error type.
    #[cfg(feature = "otel")]
    fn attributes(
        &self,
        response_model: Option<&str>,
        error_type: Option<&str>,
    ) -> Cow<'_, [opentelemetry::KeyValue]> {
        use opentelemetry::KeyValue;
        if response_model.is_none() && error_type.is_none() {
            return Cow::Borrowed(&self.attributes);
        }
        let mut attributes = self.attributes.clone();
        if let Some(model) = response_model {
            attributes.push(KeyValue::new("gen_ai.response.model", model.to_owned()));
        }
        if let Some(error_type) = error_type {
            attributes.push(KeyValue::new("error.type", error_type.to_owned()));
        }
        Cow::Owned(attributes)
    }
}

impl Drop for CallRecord {
    /// A record dropped before its end: the call or its stream was dropped.
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        // Entered, so that the span ends now (an exporter ends a span at its last exit).
        let span = self.span.clone();
        let _entered = span.enter();
        self.cancelled();
    }
}

#[cfg(test)]
mod tests;
