//! The rustls client configuration: which roots to trust, with which crypto provider.

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::{TransportError, TransportErrorKind};

/// Which certificate authorities the transport trusts.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Roots {
    /// The roots of the enabled features: the system's with `native-roots` (Mozilla's when the
    /// system has none and `webpki-roots` is enabled too), else Mozilla's (`webpki-roots`).
    #[default]
    Default,
    /// The Mozilla roots compiled into the binary (feature `webpki-roots`).
    #[cfg(feature = "webpki-roots")]
    #[cfg_attr(docsrs, doc(cfg(feature = "webpki-roots")))]
    Webpki,
    /// The operating system's roots (feature `native-roots`).
    #[cfg(feature = "native-roots")]
    #[cfg_attr(docsrs, doc(cfg(feature = "native-roots")))]
    Native,
    /// Exactly these roots (a private CA, a test's CA).
    Custom(RootCertStore),
    /// The [`Default`](Roots::Default) roots and these as well: a private or corporate CA
    /// (a TLS-inspecting proxy, a self-hosted server) next to the public ones.
    DefaultPlus(RootCertStore),
    /// Every enabled source at once, and these as well: the operating system's roots (with
    /// `native-roots`; `SSL_CERT_FILE` and `SSL_CERT_DIR` replace them when set, as OpenSSL
    /// reads them), Mozilla's (with `webpki-roots`), and the given ones. What a command-line
    /// tool wants: a corporate CA installed in the system works, and so do the public roots
    /// on a system without any. An error only when the union is empty.
    AllPlus(RootCertStore),
}

impl Roots {
    /// The certificates of a PEM file (a CA's certificate, or a bundle), as roots to trust with
    /// [`Roots::Custom`] or [`Roots::DefaultPlus`].
    ///
    /// ```no_run
    /// use gptproto_transport::Roots;
    ///
    /// let roots = Roots::DefaultPlus(Roots::read_pem("corporate-ca.pem")?);
    /// # Ok::<(), gptproto_transport::TransportError>(())
    /// ```
    pub fn read_pem(path: impl AsRef<Path>) -> Result<RootCertStore, TransportError> {
        let path = path.as_ref();
        let error = |what: String| {
            TransportError::new(
                TransportErrorKind::Config,
                format!("CA certificates from {}: {what}", path.display()),
            )
        };
        let text = std::fs::read(path).map_err(|io| error(io.to_string()))?;
        let mut store = RootCertStore::empty();
        for (at, certificate) in CertificateDer::pem_slice_iter(&text).enumerate() {
            let certificate =
                certificate.map_err(|pem| error(format!("certificate {}: {pem}", at + 1)))?;
            store
                .add(certificate)
                .map_err(|invalid| error(format!("certificate {}: {invalid}", at + 1)))?;
        }
        if store.is_empty() {
            return Err(error(
                "no certificate in it (a PEM file with -----BEGIN CERTIFICATE----- blocks)".into(),
            ));
        }
        Ok(store)
    }

    /// Which certificate authorities these are, in words (for a certificate error).
    pub(crate) fn describe(&self) -> String {
        const WEBPKI: &str = "Mozilla's roots compiled into the binary (webpki-roots)";
        const NATIVE: &str = "the operating system's roots (native-roots)";
        match self {
            Self::Custom(store) => format!("{} custom root certificate(s)", store.len()),
            Self::DefaultPlus(store) => format!(
                "{} and {} added root certificate(s)",
                Self::Default.describe(),
                store.len()
            ),
            Self::AllPlus(store) => {
                let mut sources = Vec::new();
                if cfg!(feature = "native-roots") {
                    sources.push(NATIVE);
                }
                if cfg!(feature = "webpki-roots") {
                    sources.push(WEBPKI);
                }
                format!(
                    "{} and {} added root certificate(s)",
                    sources.join(", "),
                    store.len()
                )
            }
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

    /// The root store these roots make.
    fn store(&self) -> Result<RootCertStore, TransportError> {
        match self {
            Self::Custom(store) => Ok(store.clone()),
            Self::DefaultPlus(added) => {
                let mut store = default_store()?;
                store.roots.extend(added.roots.iter().cloned());
                Ok(store)
            }
            Self::AllPlus(added) => {
                let mut store = RootCertStore::empty();
                #[cfg(feature = "native-roots")]
                if let Ok(native) = native_store() {
                    store.roots.extend(native.roots);
                }
                #[cfg(feature = "webpki-roots")]
                store.roots.extend(webpki_store().roots);
                store.roots.extend(added.roots.iter().cloned());
                if store.is_empty() {
                    return Err(TransportError::new(
                        TransportErrorKind::Config,
                        "no TLS roots: the system has none, and no other roots are enabled or given",
                    ));
                }
                Ok(store)
            }
            #[cfg(feature = "webpki-roots")]
            Self::Webpki => Ok(webpki_store()),
            #[cfg(feature = "native-roots")]
            Self::Native => native_store(),
            Self::Default => default_store(),
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
    let store = roots.store()?;
    let config = rustls::ClientConfig::builder_with_provider(provider()?)
        .with_safe_default_protocol_versions()
        .map_err(|error| {
            TransportError::new(
                TransportErrorKind::Config,
                format!("TLS configuration: {error}"),
            )
        })?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(config)
}

#[cfg(feature = "webpki-roots")]
fn webpki_store() -> RootCertStore {
    RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned())
}

/// The system's roots; an error when it has none that rustls can use.
#[cfg(feature = "native-roots")]
fn native_store() -> Result<RootCertStore, TransportError> {
    let found = rustls_native_certs::load_native_certs();
    let mut store = RootCertStore::empty();
    store.add_parsable_certificates(found.certs);
    if store.is_empty() {
        let why = found
            .errors
            .first()
            .map_or_else(|| "none found".to_owned(), ToString::to_string);
        return Err(TransportError::new(
            TransportErrorKind::Config,
            format!("TLS configuration: no system roots: {why}"),
        ));
    }
    Ok(store)
}

/// The system's roots when `native-roots` is enabled (Mozilla's when the system has none and
/// `webpki-roots` is enabled too), else Mozilla's.
fn default_store() -> Result<RootCertStore, TransportError> {
    #[cfg(feature = "native-roots")]
    {
        #[cfg(feature = "webpki-roots")]
        {
            Ok(native_store().unwrap_or_else(|_| webpki_store()))
        }
        #[cfg(not(feature = "webpki-roots"))]
        {
            native_store()
        }
    }
    #[cfg(all(feature = "webpki-roots", not(feature = "native-roots")))]
    {
        Ok(webpki_store())
    }
    #[cfg(not(any(feature = "webpki-roots", feature = "native-roots")))]
    {
        Err(TransportError::new(
            TransportErrorKind::Config,
            "no TLS roots: enable the `webpki-roots` or `native-roots` feature, or give custom roots",
        ))
    }
}

/// Whether the server's first answer to the TLS handshake was not TLS at all (a plain-HTTP
/// server answering the ClientHello with `HTTP/1.1 400`): an `https://` URL for an `http://`
/// port, which sending again will not change.
pub(crate) fn is_not_tls(error: &(dyn std::error::Error + 'static)) -> bool {
    crate::error::causes(error).any(|cause| {
        matches!(
            cause.downcast_ref::<rustls::Error>(),
            Some(rustls::Error::InvalidMessage(
                rustls::InvalidMessage::InvalidContentType
            ))
        )
    })
}

/// Whether rustls refused the server's certificate somewhere in `error`'s chain.
pub(crate) fn is_untrusted_certificate(error: &(dyn std::error::Error + 'static)) -> bool {
    crate::error::causes(error).any(|cause| {
        matches!(
            cause.downcast_ref::<rustls::Error>(),
            Some(
                rustls::Error::InvalidCertificate(_)
                    | rustls::Error::NoCertificatesPresented
                    | rustls::Error::UnsupportedNameType
            )
        )
    })
}
