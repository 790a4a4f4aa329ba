//! Export over OTLP (feature `otel`): the client's spans (through `tracing-opentelemetry`) and
//! its GenAI metrics, to an OpenTelemetry Collector, Jaeger, Grafana, Langfuse, or anything
//! that receives OTLP over HTTP.
//!
//! One line in an application, configured by OpenTelemetry's standard variables
//! (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_METRIC_EXPORT_INTERVAL`, ...):
//!
//! ```no_run
//! # fn main() -> Result<(), gptproto::Error> {
//! // Spans and metrics are exported while `_otel` lives, and flushed when it is dropped.
//! let _otel = gptproto::otel::install_from_env()?;
//! # Ok(())
//! # }
//! ```
//!
//! An application with a `tracing` subscriber of its own adds [`Otlp::layer`] to it instead.
//!
//! The exporter speaks OTLP/HTTP with protobuf, through this crate's own transport (hyper over
//! rustls, the roots the client trusts): no reqwest. Its requests run on a runtime of their own
//! (one thread, `gptproto-otlp`), so exporting works from any thread, inside an async runtime
//! or not. Each export waits at most `OTEL_EXPORTER_OTLP_TIMEOUT` milliseconds (10 s by
//! default); a plain `http://` endpoint is allowed (collectors usually listen on one).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gptproto_transport::{HttpConnector, HyperTransport};
use http_body_util::BodyExt;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::error::{Error, Result};

/// The standard variable naming where OTLP goes.
pub const ENV_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const ENV_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
const ENV_METRICS_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT";
const ENV_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";

/// The most bytes of a collector's answer read.
const RESPONSE_LIMIT: usize = 4 * 1024 * 1024;

/// Spans and metrics exported over OTLP/HTTP, until dropped (or [`shutdown`](Self::shutdown)):
/// then everything recorded is flushed.
pub struct Otlp {
    tracer_provider: SdkTracerProvider,
    meter_provider: SdkMeterProvider,
    /// Runs the exporter's requests.
    runtime: Option<tokio::runtime::Runtime>,
    shut_down: bool,
}

impl std::fmt::Debug for Otlp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Otlp").finish_non_exhaustive()
    }
}

/// Exports when `OTEL_EXPORTER_OTLP_ENDPOINT` (or the traces or metrics one) is set: installs a
/// global `tracing` subscriber with the [`layer`](Otlp::layer) (and `RUST_LOG`'s messages on
/// stderr when it is set), and the global meter provider, then returns the exporter to keep.
/// Without an endpoint, nothing is installed and `None` is returned.
///
/// Errors: an endpoint that is not a URL, or a global subscriber already set.
pub fn install_from_env() -> Result<Option<Otlp>> {
    let Some(otlp) = Otlp::from_env()? else {
        return Ok(None);
    };
    let log = std::env::var("RUST_LOG").ok().map(|filter| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(tracing_subscriber::EnvFilter::new(filter))
    });
    tracing_subscriber::registry()
        .with(otlp.layer())
        .with(log)
        .try_init()
        .map_err(|error| {
            Error::config(format!("cannot install the tracing subscriber: {error}"))
        })?;
    Ok(Some(otlp))
}

impl Otlp {
    /// An exporter to where the standard variables say, or `None` when none is set. The meter
    /// provider becomes the global one: clients built from now on record their metrics there.
    pub fn from_env() -> Result<Option<Self>> {
        let set = |name: &str| std::env::var(name).is_ok_and(|value| !value.trim().is_empty());
        if !(set(ENV_ENDPOINT) || set(ENV_TRACES_ENDPOINT) || set(ENV_METRICS_ENDPOINT)) {
            return Ok(None);
        }
        Self::build(None, "gptproto").map(Some)
    }

    /// An exporter to `endpoint`, OTLP/HTTP's base URL (`http://localhost:4318`: spans go to
    /// `/v1/traces`, metrics to `/v1/metrics`), whatever the variables say of the endpoint.
    /// The meter provider becomes the global one.
    pub fn to_endpoint(endpoint: &str) -> Result<Self> {
        Self::build(Some(endpoint.trim_end_matches('/')), "gptproto")
    }

    fn build(endpoint: Option<&str>, default_service: &'static str) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("gptproto-otlp")
            .enable_all()
            .build()
            .map_err(|error| {
                Error::config(format!("cannot start the OTLP exporter's runtime: {error}"))
            })?;
        let transport = HyperTransport::builder()
            .allow_insecure_http(true)
            .build()
            .map_err(Error::transport)?;
        let client = ExportClient {
            transport: Arc::new(transport),
            runtime: runtime.handle().clone(),
            timeout: export_timeout(),
        };
        let exporter_error = |error: opentelemetry_otlp::ExporterBuildError| {
            Error::config(format!("OTLP exporter: {error}"))
        };
        let mut spans = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client.clone());
        let mut metrics = opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_http_client(client);
        if let Some(endpoint) = endpoint {
            spans = spans.with_endpoint(format!("{endpoint}/v1/traces"));
            metrics = metrics.with_endpoint(format!("{endpoint}/v1/metrics"));
        }
        let resource = {
            let builder = Resource::builder();
            let named = std::env::var("OTEL_SERVICE_NAME").is_ok()
                || std::env::var("OTEL_RESOURCE_ATTRIBUTES")
                    .is_ok_and(|attributes| attributes.contains("service.name="));
            if named {
                builder.build()
            } else {
                builder.with_service_name(default_service).build()
            }
        };
        let tracer_provider = SdkTracerProvider::builder()
            .with_batch_exporter(spans.build().map_err(exporter_error)?)
            .with_resource(resource.clone())
            .build();
        let meter_provider = SdkMeterProvider::builder()
            .with_periodic_exporter(metrics.build().map_err(exporter_error)?)
            .with_resource(resource)
            .build();
        opentelemetry::global::set_meter_provider(meter_provider.clone());
        Ok(Self {
            tracer_provider,
            meter_provider,
            runtime: Some(runtime),
            shut_down: false,
        })
    }

    /// A `tracing` layer exporting this crate's call spans (level info and above of the
    /// `gptproto` targets) and their events, to compose with a subscriber of one's own.
    pub fn layer<S>(&self) -> impl Layer<S> + Send + Sync + 'static
    where
        S: tracing::Subscriber
            + Send
            + Sync
            + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        let tracer = self.tracer_provider.tracer("gptproto");
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_filter(
                tracing_subscriber::filter::Targets::new()
                    .with_target("gptproto", tracing::Level::INFO),
            )
    }

    /// Exports what is pending now.
    pub fn flush(&self) -> Result<()> {
        let traces = self.tracer_provider.force_flush();
        let metrics = self.meter_provider.force_flush();
        traces
            .and(metrics)
            .map_err(|error| Error::config(format!("OTLP export failed: {error}")))
    }

    /// Flushes and stops exporting. Dropping does the same (reporting nothing).
    pub fn shutdown(mut self) -> Result<()> {
        self.stop()
    }

    fn stop(&mut self) -> Result<()> {
        if std::mem::replace(&mut self.shut_down, true) {
            return Ok(());
        }
        let traces = self.tracer_provider.shutdown();
        let metrics = self.meter_provider.shutdown();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        traces
            .and(metrics)
            .map_err(|error| Error::config(format!("OTLP export failed: {error}")))
    }
}

impl Drop for Otlp {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// The exporter's wait for each export: `OTEL_EXPORTER_OTLP_TIMEOUT` milliseconds, 10 s by
/// default.
fn export_timeout() -> Duration {
    std::env::var(ENV_TIMEOUT)
        .ok()
        .and_then(|value| value.trim().parse().ok())
        .map_or(Duration::from_secs(10), Duration::from_millis)
}

/// The exporter's HTTP client: this crate's transport, on the exporter's runtime.
#[derive(Debug, Clone)]
struct ExportClient {
    transport: Arc<HyperTransport>,
    runtime: tokio::runtime::Handle,
    timeout: Duration,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for ExportClient {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> std::result::Result<http::Response<Bytes>, opentelemetry_http::HttpError> {
        let transport = Arc::clone(&self.transport);
        let timeout = self.timeout;
        let exchange = async move {
            let response = transport.send(request).await?;
            let (parts, body) = response.into_parts();
            let body = http_body_util::Limited::new(body, RESPONSE_LIMIT)
                .collect()
                .await?
                .to_bytes();
            Ok::<_, opentelemetry_http::HttpError>(http::Response::from_parts(parts, body))
        };
        self.runtime
            .spawn(async move {
                tokio::time::timeout(timeout, exchange)
                    .await
                    .map_err(|_| format!("no answer from the OTLP endpoint in {timeout:?}"))?
            })
            .await?
    }
}
