//! The built-in transport on wasm32: [`FetchTransport`], the JavaScript host's `fetch`. The
//! host makes the connections, does TLS and chooses proxies: the builder has no roots or proxy
//! there, and refuses a connect timeout (which fetch cannot bound) rather than ignore it.

use std::sync::Arc;
use std::time::Duration;

use gptproto_transport::{FetchTransport, HttpConnector};

use crate::error::{Error, Result};

/// The fetch transport has no settings of its own.
#[derive(Debug, Default)]
pub(super) struct Settings {}

impl Settings {
    /// The transport; an error if a setting it cannot honour was set.
    pub(super) fn connector(
        self,
        _connect_timeout: Option<Duration>,
        allow_insecure_http: bool,
        set_explicitly: &[&str],
    ) -> Result<Arc<dyn HttpConnector>> {
        if set_explicitly.contains(&"connect timeout") {
            return Err(Error::config(
                "connect timeout set, but on wasm32 the JavaScript host makes the connections and \
                 fetch cannot bound them: bound the response head (response_timeout) or the whole \
                 call (timeout) instead",
            ));
        }
        let transport = FetchTransport::builder()
            .allow_insecure_http(allow_insecure_http)
            .build();
        Ok(Arc::new(transport))
    }
}
