//! The built-in transport on native targets: [`HyperTransport`], and the builder's settings
//! that only it has (which roots to trust, which proxy, how long to connect).

use std::sync::Arc;
use std::time::Duration;

use gptproto_transport::{HttpConnector, HyperTransport, Proxy, Roots};

use super::{ClientBuilder, Transport};
use crate::error::{Error, Result};

/// The built-in transport (hyper over rustls here; the host's fetch on wasm32), made from
/// these settings when the client is built.
#[derive(Debug)]
pub struct BuiltInTransport {
    roots: Roots,
    /// `None`: from the environment, read when the client is built.
    proxy: Option<Proxy>,
    connect_timeout: Option<Duration>,
    pub(super) allow_insecure_http: bool,
}

impl Default for BuiltInTransport {
    fn default() -> Self {
        Self {
            roots: Roots::Default,
            proxy: None,
            connect_timeout: Some(Duration::from_secs(5)),
            allow_insecure_http: false,
        }
    }
}

impl Transport for BuiltInTransport {
    fn into_connector(self) -> Result<Arc<dyn HttpConnector>> {
        let transport = HyperTransport::builder()
            .roots(self.roots)
            .proxy(self.proxy.unwrap_or_else(Proxy::from_env))
            .connect_timeout(self.connect_timeout)
            .allow_insecure_http(self.allow_insecure_http)
            .build()
            .map_err(Error::transport)?;
        Ok(Arc::new(transport))
    }
}

impl ClientBuilder<BuiltInTransport> {
    /// Which certificate authorities to trust. Not on wasm32, where the JavaScript host does
    /// TLS with its own.
    #[must_use]
    #[cfg_attr(docsrs, doc(cfg(not(target_arch = "wasm32"))))]
    pub fn roots(mut self, roots: Roots) -> Self {
        self.transport.roots = roots;
        self
    }

    /// Which proxy to use. By default the environment's (`HTTPS_PROXY`, `HTTP_PROXY`,
    /// `ALL_PROXY`, `NO_PROXY`), read when the client is built; loopback destinations are
    /// never proxied. Not on wasm32, where the JavaScript host chooses.
    #[must_use]
    #[cfg_attr(docsrs, doc(cfg(not(target_arch = "wasm32"))))]
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.transport.proxy = Some(proxy);
        self
    }

    /// The deadline for making a connection: TCP, the proxy tunnel, TLS (5 s by default, as
    /// openai-python; `None` for none). Connections are shared by calls: a call cannot change
    /// it. Not on wasm32, where the JavaScript host makes the connections and fetch cannot
    /// bound them (bound the response head or the whole call instead).
    #[must_use]
    #[cfg_attr(docsrs, doc(cfg(not(target_arch = "wasm32"))))]
    pub fn connect_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.transport.connect_timeout = timeout.into();
        self
    }
}
