//! The rustls client configuration: which roots to trust, with which crypto provider.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;

use crate::{TransportError, TransportErrorKind};

/// Which certificate authorities the transport trusts.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Roots {
    /// The roots of the enabled features: webpki-roots (default) and/or the system's.
    #[default]
    Default,
    /// The Mozilla roots compiled into the binary (feature `webpki-roots`).
    #[cfg(feature = "webpki-roots")]
    Webpki,
    /// The operating system's roots (feature `native-roots`).
    #[cfg(feature = "native-roots")]
    Native,
    /// Exactly these roots (a private CA, a test's CA).
    Custom(RootCertStore),
}

impl Roots {
    /// Which certificate authorities these are, in words (for a certificate error).
    pub(crate) fn describe(&self) -> String {
        const WEBPKI: &str = "Mozilla's roots compiled into the binary (webpki-roots)";
        const NATIVE: &str = "the operating system's roots (native-roots)";
        match self {
            Self::Custom(store) => format!("{} custom root certificate(s)", store.len()),
            #[cfg(feature = "webpki-roots")]
            Self::Webpki => WEBPKI.to_owned(),
            #[cfg(feature = "native-roots")]
            Self::Native => NATIVE.to_owned(),
            Self::Default if cfg!(feature = "native-roots") => {
                if cfg!(feature = "webpki-roots") {
                    format!("{NATIVE}, or {WEBPKI} when the system has none")
                } else {
                    NATIVE.to_owned()
                }
            }
            Self::Default if cfg!(feature = "webpki-roots") => WEBPKI.to_owned(),
            Self::Default => "no roots".to_owned(),
        }
    }
}

/// The crypto provider of the enabled features: ring when enabled, else aws-lc-rs.
fn provider() -> Result<Arc<CryptoProvider>, TransportError> {
    #[cfg(feature = "ring")]
    {
        Ok(Arc::new(rustls::crypto::ring::default_provider()))
    }
    #[cfg(all(feature = "aws-lc-rs", not(feature = "ring")))]
    {
        Ok(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
    }
    #[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
    {
        CryptoProvider::get_default().cloned().ok_or_else(|| {
            TransportError::new(
                TransportErrorKind::Config,
                "no TLS crypto provider: enable the `ring` or `aws-lc-rs` feature, or install a rustls default provider",
            )
        })
    }
}

pub(crate) fn client_config(roots: &Roots) -> Result<rustls::ClientConfig, TransportError> {
    let config_error = |error: &dyn std::fmt::Display| {
        TransportError::new(
            TransportErrorKind::Config,
            format!("TLS configuration: {error}"),
        )
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider()?)
        .with_safe_default_protocol_versions()
        .map_err(|error| config_error(&error))?;
    let config = match roots {
        Roots::Custom(store) => builder.with_root_certificates(store.clone()),
        #[cfg(feature = "webpki-roots")]
        Roots::Webpki => {
            use hyper_rustls::ConfigBuilderExt;
            builder.with_webpki_roots()
        }
        #[cfg(feature = "native-roots")]
        Roots::Native => {
            use hyper_rustls::ConfigBuilderExt;
            builder
                .with_native_roots()
                .map_err(|error| config_error(&error))?
        }
        Roots::Default => default_roots(builder)?,
    };
    Ok(config.with_no_client_auth())
}

type Builder = rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>;

/// The system's roots when `native-roots` is enabled (falling back to webpki-roots when the
/// system has none and that feature is enabled too), else webpki-roots.
fn default_roots(
    builder: rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier>,
) -> Result<Builder, TransportError> {
    #[cfg(feature = "native-roots")]
    {
        use hyper_rustls::ConfigBuilderExt;
        match builder.clone().with_native_roots() {
            Ok(with_native) => Ok(with_native),
            #[cfg(feature = "webpki-roots")]
            Err(_) => Ok(builder.with_webpki_roots()),
            #[cfg(not(feature = "webpki-roots"))]
            Err(error) => Err(TransportError::new(
                TransportErrorKind::Config,
                format!("TLS configuration: no system roots: {error}"),
            )),
        }
    }
    #[cfg(all(feature = "webpki-roots", not(feature = "native-roots")))]
    {
        use hyper_rustls::ConfigBuilderExt;
        Ok(builder.with_webpki_roots())
    }
    #[cfg(not(any(feature = "webpki-roots", feature = "native-roots")))]
    {
        let _ = builder;
        Err(TransportError::new(
            TransportErrorKind::Config,
            "no TLS roots: enable the `webpki-roots` or `native-roots` feature, or give custom roots",
        ))
    }
}
