//! The client and its environment: `GPTPROTO_API_KEY`, `GPTPROTO_BASE_URL` and the proxy
//! variables, read when the client is built.
//!
//! This file has one test, which sets the variables before any other thread of its process
//! exists (the runtime is started after): the environment is never changed while another
//! thread may read it. Keep it that way; a test that needs other variables gets a file of
//! its own.

use gptproto::{ChatRequest, Client, Proxy};
use gptproto_testkit::{Reply, TestProxy, TestServer, fixtures};

const KEY: &str = "sk-from-env-0123456789";

fn set(name: &str, value: &str) {
    // SAFETY: see the module docs; no other thread exists while this runs.
    unsafe { std::env::set_var(name, value) }
}

fn remove(name: &str) {
    // SAFETY: as `set`.
    unsafe { std::env::remove_var(name) }
}

#[test]
fn the_environment_is_read_when_the_client_is_built() {
    for name in [
        "GPTPROTO_API_KEY",
        "GPTPROTO_BASE_URL",
        "NO_PROXY",
        "no_proxy",
    ] {
        remove(name);
    }

    // GPTProto needs a key: none is a configuration error naming the variable, before any
    // request.
    let error = Client::builder().build().unwrap_err();
    assert!(error.is_config(), "{error}");
    assert!(error.to_string().contains("GPTPROTO_API_KEY"), "{error}");
    // Elsewhere a key is not needed.
    Client::builder()
        .base_url("http://127.0.0.1:1/v1")
        .build()
        .unwrap();

    // The key and the base URL from the environment, the key never shown.
    set("GPTPROTO_API_KEY", KEY);
    set("GPTPROTO_BASE_URL", "https://example.invalid/v1");
    let client = Client::builder().proxy(Proxy::none()).build().unwrap();
    assert_eq!(
        client.chat_completions_url(),
        "https://example.invalid/v1/chat/completions"
    );
    assert!(!format!("{client:?}").contains("from-env"));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = TestServer::start(|_| Reply::json(200, &fixtures::completion(&["ok"]))).await;
        let proxy = TestProxy::start().await;
        let builder = Client::builder().base_url(server.base_url());
        // Set after the builder was made: read when it builds.
        set("HTTP_PROXY", &proxy.url());
        set("HTTPS_PROXY", &proxy.url());
        let client = builder.build().unwrap();
        // A local server is never proxied: the key does not travel to the proxy in clear.
        client.chat(ChatRequest::new("m").user("hi")).await.unwrap();
        assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());
        assert_eq!(
            server.requests()[0].header("authorization"),
            Some(format!("Bearer {KEY}").as_str())
        );
        // Remote hosts do go through it (the proxy reaches them; this one does not answer
        // HTTP, so the call fails, after the proxy saw it).
        let remote = Client::builder()
            .base_url(format!(
                "http://{}:{}/v1",
                gptproto_testkit::PROXIED_HOST,
                9
            ))
            .allow_insecure_http(true)
            .max_retries(0)
            .build()
            .unwrap();
        let _ = remote.chat(ChatRequest::new("m").user("hi")).await;
        assert_eq!(proxy.requests().len(), 1, "{:?}", proxy.requests());
        // And a proxy set in code wins over the environment.
        let direct = Client::builder()
            .base_url(format!(
                "http://{}:{}/v1",
                gptproto_testkit::PROXIED_HOST,
                9
            ))
            .allow_insecure_http(true)
            .proxy(Proxy::none())
            .max_retries(0)
            .build()
            .unwrap();
        let error = direct
            .chat(ChatRequest::new("m").user("hi"))
            .await
            .unwrap_err();
        assert!(error.is_connect(), "{error}");
        assert_eq!(proxy.requests().len(), 1, "{:?}", proxy.requests());
    });
    for name in [
        "GPTPROTO_API_KEY",
        "GPTPROTO_BASE_URL",
        "HTTP_PROXY",
        "HTTPS_PROXY",
    ] {
        remove(name);
    }
}
