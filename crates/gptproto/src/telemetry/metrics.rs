//! The GenAI conventions' client metrics (feature `otel`), recorded through the global
//! OpenTelemetry meter provider as it is when a client is built.
//!
//! By default the names of semantic conventions v1.41.0: `gen_ai.client.operation.duration`,
//! `gen_ai.client.token.usage` (by `gen_ai.token.type`), and for streams
//! `gen_ai.client.operation.time_to_first_chunk` and `..time_per_output_chunk`. With
//! `OTEL_SEMCONV_STABILITY_OPT_IN` listing `gen_ai_latest_experimental`, the names that
//! replace them in semantic-conventions-genai: `gen_ai.client.inference.duration`,
//! `..time_to_first_chunk`, `..time_per_output_chunk`, the token counters
//! `gen_ai.client.inference.usage.{input_tokens, output_tokens, cache_read.input_tokens,
//! reasoning.output_tokens}` and the per-operation histograms
//! `gen_ai.client.inference.operation.{input,output}_tokens`.

use std::time::Duration;

use gptproto_proto::wire::Usage;
use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry::{InstrumentationScope, KeyValue};

/// The environment variable that opts in to the latest experimental names.
pub(crate) const ENV_STABILITY_OPT_IN: &str = "OTEL_SEMCONV_STABILITY_OPT_IN";

/// The conventions' advised boundaries for durations, in seconds.
const DURATION_BOUNDARIES: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
/// ... for the time per output chunk.
const CHUNK_BOUNDARIES: [f64; 13] = [
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
];
/// ... for token counts.
const TOKEN_BOUNDARIES: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];

/// The instruments of a client.
#[derive(Debug)]
pub(crate) struct Instruments {
    duration: Histogram<f64>,
    time_to_first_chunk: Histogram<f64>,
    time_per_output_chunk: Histogram<f64>,
    tokens: Tokens,
}

#[derive(Debug)]
enum Tokens {
    /// v1.41.0: one histogram, by `gen_ai.token.type`.
    ByType(Histogram<u64>),
    /// The latest experimental: counters of each kind, histograms per operation.
    Latest {
        input: Counter<u64>,
        output: Counter<u64>,
        cache_read: Counter<u64>,
        reasoning: Counter<u64>,
        operation_input: Histogram<u64>,
        operation_output: Histogram<u64>,
    },
}

impl Instruments {
    /// From the global meter provider (a no-op one until the application sets one: then
    /// nothing is recorded).
    pub(crate) fn from_global() -> Self {
        let scope = InstrumentationScope::builder("gptproto")
            .with_version(env!("CARGO_PKG_VERSION"))
            .with_schema_url("https://opentelemetry.io/schemas/1.41.0")
            .build();
        let meter = opentelemetry::global::meter_with_scope(scope);
        let latest = std::env::var(ENV_STABILITY_OPT_IN).is_ok_and(|value| {
            value
                .split(',')
                .any(|item| item.trim() == "gen_ai_latest_experimental")
        });
        Self::new(&meter, latest)
    }

    pub(crate) fn new(meter: &Meter, latest: bool) -> Self {
        let prefix = if latest {
            "gen_ai.client.inference"
        } else {
            "gen_ai.client.operation"
        };
        let seconds = |name: String, description: &'static str, boundaries: &[f64]| {
            meter
                .f64_histogram(name)
                .with_unit("s")
                .with_description(description)
                .with_boundaries(boundaries.to_vec())
                .build()
        };
        let tokens_histogram = |name: &'static str, description: &'static str| {
            meter
                .u64_histogram(name)
                .with_unit("{token}")
                .with_description(description)
                .with_boundaries(TOKEN_BOUNDARIES.to_vec())
                .build()
        };
        let counter = |name: &'static str, description: &'static str| {
            meter
                .u64_counter(name)
                .with_unit("{token}")
                .with_description(description)
                .build()
        };
        Self {
            duration: seconds(
                format!("{prefix}.duration"),
                "GenAI operation duration.",
                &DURATION_BOUNDARIES,
            ),
            time_to_first_chunk: seconds(
                format!("{prefix}.time_to_first_chunk"),
                "Time to receive the first chunk of a streamed response.",
                &DURATION_BOUNDARIES,
            ),
            time_per_output_chunk: seconds(
                format!("{prefix}.time_per_output_chunk"),
                "Time per output chunk after the first one.",
                &CHUNK_BOUNDARIES,
            ),
            tokens: if latest {
                Tokens::Latest {
                    input: counter(
                        "gen_ai.client.inference.usage.input_tokens",
                        "Input tokens used.",
                    ),
                    output: counter(
                        "gen_ai.client.inference.usage.output_tokens",
                        "Output tokens used.",
                    ),
                    cache_read: counter(
                        "gen_ai.client.inference.usage.cache_read.input_tokens",
                        "Input tokens read from the provider's cache.",
                    ),
                    reasoning: counter(
                        "gen_ai.client.inference.usage.reasoning.output_tokens",
                        "Output tokens spent reasoning.",
                    ),
                    operation_input: tokens_histogram(
                        "gen_ai.client.inference.operation.input_tokens",
                        "Input tokens used per operation.",
                    ),
                    operation_output: tokens_histogram(
                        "gen_ai.client.inference.operation.output_tokens",
                        "Output tokens used per operation.",
                    ),
                }
            } else {
                Tokens::ByType(tokens_histogram(
                    "gen_ai.client.token.usage",
                    "Number of input and output tokens used.",
                ))
            },
        }
    }

    pub(crate) fn operation(&self, duration: Duration, attributes: &[KeyValue]) {
        self.duration.record(duration.as_secs_f64(), attributes);
    }

    pub(crate) fn time_to_first_chunk(&self, wait: Duration, attributes: &[KeyValue]) {
        self.time_to_first_chunk
            .record(wait.as_secs_f64(), attributes);
    }

    pub(crate) fn time_per_output_chunk(&self, interval: Duration, attributes: &[KeyValue]) {
        self.time_per_output_chunk
            .record(interval.as_secs_f64(), attributes);
    }

    /// The usage the server reported (nothing is recorded of what it did not report).
    pub(crate) fn usage(&self, usage: &Usage, attributes: &[KeyValue]) {
        match &self.tokens {
            Tokens::ByType(histogram) => {
                for (kind, tokens) in [
                    ("input", usage.prompt_tokens),
                    ("output", usage.completion_tokens),
                ] {
                    let mut attributes = attributes.to_vec();
                    attributes.push(KeyValue::new("gen_ai.token.type", kind));
                    histogram.record(tokens, &attributes);
                }
            }
            Tokens::Latest {
                input,
                output,
                cache_read,
                reasoning,
                operation_input,
                operation_output,
            } => {
                input.add(usage.prompt_tokens, attributes);
                output.add(usage.completion_tokens, attributes);
                operation_input.record(usage.prompt_tokens, attributes);
                operation_output.record(usage.completion_tokens, attributes);
                if let Some(cached) = usage
                    .prompt_tokens_details
                    .as_ref()
                    .and_then(|details| details.cached_tokens)
                {
                    cache_read.add(cached, attributes);
                }
                if let Some(tokens) = usage
                    .completion_tokens_details
                    .as_ref()
                    .and_then(|details| details.reasoning_tokens)
                {
                    reasoning.add(tokens, attributes);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

    use super::*;

    fn names(latest: bool) -> Vec<String> {
        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        let instruments = Instruments::new(&provider.meter("test"), latest);
        let usage: Usage = serde_json::from_str(
            r#"{"prompt_tokens":10,"completion_tokens":4,"total_tokens":14,
                "prompt_tokens_details":{"cached_tokens":6},"completion_tokens_details":{"reasoning_tokens":1}}"#,
        )
        .unwrap();
        instruments.operation(Duration::from_millis(5), &[]);
        instruments.time_to_first_chunk(Duration::from_millis(1), &[]);
        instruments.time_per_output_chunk(Duration::from_millis(1), &[]);
        instruments.usage(&usage, &[]);
        provider.force_flush().unwrap();
        let metrics = exporter.get_finished_metrics().unwrap();
        let mut names: Vec<String> = metrics
            .last()
            .unwrap()
            .scope_metrics()
            .flat_map(|scope| scope.metrics().map(|metric| metric.name().to_owned()))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn v1_41_names_by_default() {
        assert_eq!(
            names(false),
            [
                "gen_ai.client.operation.duration",
                "gen_ai.client.operation.time_per_output_chunk",
                "gen_ai.client.operation.time_to_first_chunk",
                "gen_ai.client.token.usage",
            ]
        );
    }

    #[test]
    fn the_latest_experimental_names_when_opted_in() {
        assert_eq!(
            names(true),
            [
                "gen_ai.client.inference.duration",
                "gen_ai.client.inference.operation.input_tokens",
                "gen_ai.client.inference.operation.output_tokens",
                "gen_ai.client.inference.time_per_output_chunk",
                "gen_ai.client.inference.time_to_first_chunk",
                "gen_ai.client.inference.usage.cache_read.input_tokens",
                "gen_ai.client.inference.usage.input_tokens",
                "gen_ai.client.inference.usage.output_tokens",
                "gen_ai.client.inference.usage.reasoning.output_tokens",
            ]
        );
    }
}
