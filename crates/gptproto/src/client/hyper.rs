//! The built-in transport on native targets: [`HyperTransport`], and the builder's settings
//! that only it has (which roots to trust, which proxy).

use std::sync::Arc;
use std::time::Duration;

use gptproto_transport::{HttpConnector, HyperTransport, Proxy, Roots};

use super::ClientBuilder;
use crate::error::{Error, Result};

/// The hyper transport's own settings.
#[derive(Debug)]
pub(super) struct Settings {
    roots: Roots,
    /// `None`: from the environment, read by [`ClientBuilder::build`].
    proxy: Option<Proxy>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            roots: Roots::Default,
            proxy: None,
        }
    }
}

impl Settings {
    /// The transport.
    pub(super) fn connector(
        self,
        connect_timeout: Option<Duration>,
        allow_insecure_http: bool,
        _set_explicitly: &[&str],
    ) -> Result<Arc<dyn HttpConnector>> {
        let transport = HyperTransport::builder()
            .roots(self.roots)
            .proxy(self.proxy.unwrap_or_else(Proxy::from_env))
            .connect_timeout(connect_timeout)
            .allow_insecure_http(allow_insecure_http)
            .build()
            .map_err(Error::transport)?;
        Ok(Arc::new(transport))
    }
}

impl ClientBuilder {
    /// Which certificate authorities to trust (the built-in transport). Not on wasm32, where
    /// the JavaScript host does TLS with its own.
    #[must_use]
    #[cfg_attr(docsrs, doc(cfg(not(target_arch = "wasm32"))))]
    pub fn roots(mut self, roots: Roots) -> Self {
        self.builtin.roots = roots;
        self.transport_settings.push("roots");
        self
    }

    /// Which proxy to use (the built-in transport). By default the environment's
    /// (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`), read when the client is built;
    /// loopback destinations are never proxied. Not on wasm32, where the JavaScript host
    /// chooses.
    #[must_use]
    #[cfg_attr(docsrs, doc(cfg(not(target_arch = "wasm32"))))]
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.builtin.proxy = Some(proxy);
        self.transport_settings.push("proxy");
        self
    }
}
