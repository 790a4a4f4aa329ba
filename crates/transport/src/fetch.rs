//! [`FetchTransport`]: HTTP by the JavaScript host's `fetch` (a browser, Node, Deno, a worker),
//! the transport of `wasm32` targets. The response body is the host's `ReadableStream`, read
//! piece by piece as it arrives, never buffered whole.
//!
//! The host runs the futures on its one thread; the JavaScript objects held across awaits are
//! wrapped in [`SendWrapper`] so that the futures and bodies are `Send`, as the
//! [`HttpConnector`] trait asks: on wasm32 without threads nothing can move them to another
//! thread (and if something did, `SendWrapper` would panic rather than allow it).

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use js_sys::{Promise, Uint8Array};
use send_wrapper::SendWrapper;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortController, Headers, ReadableStreamDefaultReader, Request, RequestInit, Response,
};

use crate::scheme::check_scheme;
use crate::{BoxFuture, HttpConnector, ResponseBody, TransportError, TransportErrorKind};

#[wasm_bindgen]
extern "C" {
    /// The global `fetch` (`globalThis.fetch`): a window's, a worker's or Node's alike.
    #[wasm_bindgen(js_name = fetch)]
    fn host_fetch(request: &Request) -> Promise;
}

/// HTTP through the JavaScript host's `fetch`: the built-in transport on `wasm32`.
///
/// The host makes the connections, does TLS with its own roots, chooses proxies and follows
/// redirects (a browser drops `Authorization` when one leaves the origin); the response body
/// streams through its `ReadableStream`; dropping the response future or the body aborts the
/// request (`AbortController`). `User-Agent` is the host's. A page calling another origin needs
/// that server to allow it (CORS: `Authorization` and `Content-Type` in
/// `Access-Control-Allow-Headers`); without it `fetch` fails with a network error, which is all
/// the browser says.
///
/// Plain `http://` is sent only to loopback hosts unless
/// [`allow_insecure_http`](FetchTransportBuilder::allow_insecure_http) is set, as on native
/// targets.
#[derive(Debug, Clone, Default)]
pub struct FetchTransport {
    allow_insecure_http: bool,
}

/// Builds a [`FetchTransport`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct FetchTransportBuilder {
    allow_insecure_http: bool,
}

impl FetchTransportBuilder {
    /// Allows plain `http://` to hosts that are not loopback.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// The transport.
    pub fn build(self) -> FetchTransport {
        FetchTransport {
            allow_insecure_http: self.allow_insecure_http,
        }
    }
}

impl FetchTransport {
    /// The transport with the defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder.
    pub fn builder() -> FetchTransportBuilder {
        FetchTransportBuilder::default()
    }
}

impl HttpConnector for FetchTransport {
    fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> BoxFuture<'static, Result<http::Response<ResponseBody>, TransportError>> {
        if let Err(error) = check_scheme(request.uri(), self.allow_insecure_http) {
            return Box::pin(std::future::ready(Err(error)));
        }
        let (request, abort) = match host_request(request) {
            Ok(prepared) => prepared,
            Err(error) => return Box::pin(std::future::ready(Err(error))),
        };
        Box::pin(SendWrapper::new(async move {
            // Aborts the request if this future is dropped before the head (a timeout).
            let abort = AbortOnDrop(Some(abort));
            let response = JsFuture::from(host_fetch(&request))
                .await
                .map_err(|error| {
                    TransportError::new(
                        TransportErrorKind::Request,
                        "fetch failed (a network error, or the server does not allow this \
                         origin: CORS)",
                    )
                    .with_source(JsError::from(error))
                })?;
            let response: Response = response.dyn_into().map_err(|_| {
                TransportError::request(JsError::text("fetch did not give a Response"))
            })?;
            into_http(&response, abort)
        }))
    }
}

/// The host's `Request` for `request`, with a controller to abort it.
fn host_request(
    request: http::Request<Bytes>,
) -> Result<(Request, AbortController), TransportError> {
    let (parts, body) = request.into_parts();
    let refused = |what: String| {
        move |error: JsValue| {
            TransportError::new(TransportErrorKind::Config, what).with_source(JsError::from(error))
        }
    };
    let init = RequestInit::new();
    init.set_method(parts.method.as_str());
    let headers = Headers::new().map_err(refused("the host cannot make Headers".to_owned()))?;
    for (name, value) in &parts.headers {
        if name == http::header::USER_AGENT {
            continue;
        }
        let value = value.to_str().map_err(|_| {
            TransportError::new(
                TransportErrorKind::Config,
                format!("header {name}: fetch takes only visible ASCII values"),
            )
        })?;
        headers
            .append(name.as_str(), value)
            .map_err(refused(format!("the host refused header {name}")))?;
    }
    init.set_headers(&headers);
    if !body.is_empty() {
        init.set_body(&Uint8Array::from(&body[..]));
    }
    let abort = AbortController::new().map_err(refused("no AbortController".to_owned()))?;
    init.set_signal(Some(&abort.signal()));
    let url = parts.uri.to_string();
    let request = Request::new_with_str_and_init(&url, &init)
        .map_err(refused(format!("the host refused the request to {url}")))?;
    Ok((request, abort))
}

/// The host's response as `http`'s, its body read as it arrives.
fn into_http(
    response: &Response,
    abort: AbortOnDrop,
) -> Result<http::Response<ResponseBody>, TransportError> {
    let mut builder = http::Response::builder().status(response.status());
    let entries = js_sys::try_iter(&response.headers())
        .ok()
        .flatten()
        .ok_or_else(|| {
            TransportError::request(JsError::text("the response headers do not iterate"))
        })?;
    for entry in entries {
        let pair: js_sys::Array = entry
            .and_then(JsCast::dyn_into)
            .map_err(|error| TransportError::request(JsError::from(error)))?;
        if let (Some(name), Some(value)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
            builder = builder.header(name, value);
        }
    }
    let reader = match response.body() {
        Some(stream) => Some(
            stream
                .get_reader()
                .dyn_into::<ReadableStreamDefaultReader>()
                .map_err(|error| TransportError::request(JsError::from(JsValue::from(error))))?,
        ),
        None => None,
    };
    let body = FetchBody(SendWrapper::new(Reading {
        reader,
        pending: None,
        abort,
    }));
    builder
        .body(ResponseBody::new(body))
        .map_err(TransportError::request)
}

/// A response body read from the host's `ReadableStream`, one piece per read.
struct FetchBody(SendWrapper<Reading>);

struct Reading {
    /// `None` once the body has ended (or had none).
    reader: Option<ReadableStreamDefaultReader>,
    /// The read in progress.
    pending: Option<JsFuture>,
    /// Aborts the request if the body is dropped before its end.
    abort: AbortOnDrop,
}

impl fmt::Debug for FetchBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FetchBody")
    }
}

impl Body for FetchBody {
    type Data = Bytes;
    type Error = TransportError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, TransportError>>> {
        let reading = &mut *self.0;
        let Some(reader) = &reading.reader else {
            return Poll::Ready(None);
        };
        let pending = reading
            .pending
            .get_or_insert_with(|| JsFuture::from(reader.read()));
        let result = match Pin::new(pending).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(result) => result,
        };
        reading.pending = None;
        let piece = result.and_then(|result| {
            let done = js_sys::Reflect::get(&result, &JsValue::from_str("done"))?;
            if done.as_bool() == Some(true) {
                return Ok(None);
            }
            let value = js_sys::Reflect::get(&result, &JsValue::from_str("value"))?;
            Ok(Some(value.dyn_into::<Uint8Array>()?.to_vec()))
        });
        match piece {
            Ok(Some(piece)) => Poll::Ready(Some(Ok(Frame::data(Bytes::from(piece))))),
            Ok(None) => {
                reading.reader = None;
                reading.abort.0 = None;
                Poll::Ready(None)
            }
            Err(error) => {
                reading.reader = None;
                Poll::Ready(Some(Err(TransportError::body(JsError::from(error)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.0.reader.is_none()
    }
}

/// Aborts its request when dropped, unless disarmed (`None`).
struct AbortOnDrop(Option<AbortController>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(controller) = self.0.take() {
            controller.abort();
        }
    }
}

/// A JavaScript exception as a Rust error: its message, and its cause's (Node's `fetch failed`
/// says why in `cause`: `connect ECONNREFUSED 127.0.0.1:1`).
#[derive(Debug)]
struct JsError {
    message: String,
    cause: Option<Box<Self>>,
}

impl JsError {
    fn text(message: &str) -> Self {
        Self {
            message: message.to_owned(),
            cause: None,
        }
    }
}

impl From<JsValue> for JsError {
    fn from(value: JsValue) -> Self {
        match value.dyn_ref::<js_sys::Error>() {
            Some(error) => {
                let name = String::from(error.name());
                let message = String::from(error.message());
                let cause = error.cause();
                Self {
                    message: if name.is_empty() || name == "Error" {
                        message
                    } else {
                        format!("{name}: {message}")
                    },
                    cause: (!cause.is_undefined() && !cause.is_null())
                        .then(|| Box::new(Self::from(cause))),
                }
            }
            None => Self {
                message: value.as_string().unwrap_or_else(|| format!("{value:?}")),
                cause: None,
            },
        }
    }
}

impl fmt::Display for JsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for JsError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.cause
            .as_deref()
            .map(|cause| cause as &(dyn StdError + 'static))
    }
}
