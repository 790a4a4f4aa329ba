//! The built-in transport on wasm32: [`FetchTransport`], the JavaScript host's `fetch`. The
//! host makes the connections, does TLS and chooses proxies: the builder has no roots, proxy
//! or connect timeout there.

use std::sync::Arc;

use gptproto_transport::{FetchTransport, HttpConnector};

use super::Transport;
use crate::error::Result;

/// The built-in transport (the host's fetch here; hyper over rustls on native targets), made
/// from these settings when the client is built.
#[derive(Debug, Default)]
pub struct BuiltInTransport {
    pub(super) allow_insecure_http: bool,
}

impl Transport for BuiltInTransport {
    fn into_connector(self) -> Result<Arc<dyn HttpConnector>> {
        let transport = FetchTransport::builder()
            .allow_insecure_http(self.allow_insecure_http)
            .build();
        Ok(Arc::new(transport))
    }
}
