//! [`OtlpReceiver`]: an OTLP/HTTP receiver on loopback, as an OpenTelemetry Collector's
//! `otlphttp` receiver listens: `POST /v1/traces` and `POST /v1/metrics` with protobuf bodies,
//! decoded with the OpenTelemetry project's own message definitions (`opentelemetry-proto`),
//! kept for the test to read field by field.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tokio::net::TcpListener;

/// What the receiver got.
#[derive(Debug, Default, Clone)]
pub struct Received {
    /// Each `/v1/traces` request, decoded.
    pub traces: Vec<ExportTraceServiceRequest>,
    /// Each `/v1/metrics` request, decoded.
    pub metrics: Vec<ExportMetricsServiceRequest>,
    /// Requests refused: another path or method, another content type, a body that does not
    /// decode (each with why).
    pub refused: Vec<String>,
}

/// An OTLP/HTTP (protobuf) receiver on `127.0.0.1`, until dropped.
#[derive(Debug)]
pub struct OtlpReceiver {
    address: SocketAddr,
    received: Arc<Mutex<Received>>,
    task: tokio::task::JoinHandle<()>,
}

impl OtlpReceiver {
    /// Listens on a free loopback port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let address = listener.local_addr().expect("its address");
        let received = Arc::new(Mutex::new(Received::default()));
        let shared = Arc::clone(&received);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let shared = Arc::clone(&shared);
                        async move { Ok::<_, hyper::Error>(receive(request, &shared).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            address,
            received,
            task,
        }
    }

    /// The endpoint to give an exporter (`OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// What was received so far.
    pub fn received(&self) -> Received {
        self.received.lock().expect("not poisoned").clone()
    }

    /// Waits up to `wait` until `ready` holds of what was received; what was received then.
    pub async fn wait_for(&self, wait: Duration, ready: impl Fn(&Received) -> bool) -> Received {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let received = self.received();
            if ready(&received) || tokio::time::Instant::now() >= deadline {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    request: http::Request<hyper::body::Incoming>,
    received: &Mutex<Received>,
) -> http::Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let protobuf = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|value| value == "application/x-protobuf");
    let post = request.method() == http::Method::POST;
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(error) => return refuse(received, 400, format!("{path}: body: {error}")),
    };
    if !post || !protobuf {
        return refuse(received, 415, format!("{path}: not a POST of protobuf"));
    }
    match path.as_str() {
        "/v1/traces" => match ExportTraceServiceRequest::decode(body) {
            Ok(decoded) => {
                received.lock().expect("not poisoned").traces.push(decoded);
                answer(ExportTraceServiceResponse::default().encode_to_vec())
            }
            Err(error) => refuse(received, 400, format!("{path}: {error}")),
        },
        "/v1/metrics" => match ExportMetricsServiceRequest::decode(body) {
            Ok(decoded) => {
                received.lock().expect("not poisoned").metrics.push(decoded);
                answer(ExportMetricsServiceResponse::default().encode_to_vec())
            }
            Err(error) => refuse(received, 400, format!("{path}: {error}")),
        },
        _ => refuse(received, 404, format!("{path}: no such endpoint")),
    }
}

fn answer(body: Vec<u8>) -> http::Response<Full<Bytes>> {
    http::Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, "application/x-protobuf")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}

fn refuse(received: &Mutex<Received>, status: u16, why: String) -> http::Response<Full<Bytes>> {
    received.lock().expect("not poisoned").refused.push(why);
    http::Response::builder()
        .status(status)
        .body(Full::new(Bytes::new()))
        .expect("a valid response")
}
