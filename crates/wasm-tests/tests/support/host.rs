//! What the wasm32 tests take from their JavaScript host, in Node and in a browser alike: the
//! global `fetch`, `setTimeout`, the clock; and where the test kit's server is.
#![allow(dead_code, reason = "each suite uses part of it")]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use js_sys::{Promise, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStreamDefaultReader, Request, RequestInit, Response};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(request: &Request) -> Promise;
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(callback: &js_sys::Function, milliseconds: f64) -> JsValue;
}

/// The test kit's server (`gptproto-testkit --cors`), given at build time by `cargo xtask
/// wasm-test`.
pub(crate) fn server() -> &'static str {
    match option_env!("GPTPROTO_WASM_SERVER") {
        Some(server) => server,
        None => panic!(
            "GPTPROTO_WASM_SERVER is not set: run these tests with `cargo xtask wasm-test`, \
             which starts the test kit's server and builds them with its address"
        ),
    }
}

/// A unique name for this run's scenario state on the server (two hosts run the same tests
/// against one server).
pub(crate) fn unique(name: &str) -> String {
    format!("{name}-{}", (js_sys::Math::random() * 1e12) as u64)
}

/// `POST`s `body` as JSON to `url` with the host's `fetch`.
pub(crate) async fn post(url: &str, body: &str) -> Response {
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(body));
    let request = Request::new_with_str_and_init(url, &init).expect("a valid request");
    request
        .headers()
        .set("content-type", "application/json")
        .expect("a valid header");
    let response = JsFuture::from(global_fetch(&request))
        .await
        .unwrap_or_else(|error| panic!("fetch {url}: {error:?}"));
    response.dyn_into().expect("fetch resolves to a Response")
}

/// A reader of `response`'s body as it arrives.
pub(crate) fn reader(response: &Response) -> ReadableStreamDefaultReader {
    response
        .body()
        .expect("a body")
        .get_reader()
        .dyn_into()
        .expect("a default reader")
}

/// The next piece of a body, or `None` at its end.
pub(crate) async fn read(reader: &ReadableStreamDefaultReader) -> Result<Option<Vec<u8>>, JsValue> {
    let result = JsFuture::from(reader.read()).await?;
    let done = js_sys::Reflect::get(&result, &JsValue::from_str("done"))?;
    if done.as_bool() == Some(true) {
        return Ok(None);
    }
    let value = js_sys::Reflect::get(&result, &JsValue::from_str("value"))?;
    Ok(Some(value.dyn_into::<Uint8Array>()?.to_vec()))
}

/// The response's headers, as `http` has them.
pub(crate) fn headers(response: &Response) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    let entries = js_sys::try_iter(&response.headers())
        .expect("headers iterate")
        .expect("headers are iterable");
    for entry in entries {
        let pair: js_sys::Array = entry.expect("an entry").dyn_into().expect("a pair");
        let name = pair.get(0).as_string().expect("a name");
        let value = pair.get(1).as_string().expect("a value");
        map.append(
            http::HeaderName::try_from(name).expect("a header name"),
            http::HeaderValue::try_from(value).expect("a header value"),
        );
    }
    map
}

/// Waits `duration` on the host's timer.
pub(crate) async fn sleep(duration: Duration) {
    let promise = Promise::new(&mut |resolve, _| {
        set_timeout(&resolve, duration.as_secs_f64() * 1000.0);
    });
    let _ = JsFuture::from(promise).await;
}

/// The host's wall clock (`Date.now()`): `SystemTime::now()` panics on wasm32-unknown-unknown.
pub(crate) fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs_f64(js_sys::Date::now() / 1000.0)
}

/// A streamed chat request's body.
pub(crate) fn streamed_request(text: &str) -> String {
    serde_json::json!({
        "model": "m", "stream": true,
        "messages": [{"role": "user", "content": text}]
    })
    .to_string()
}
