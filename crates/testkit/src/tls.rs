//! [`TestCa`]: a certificate authority made by rcgen for one test server.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

/// A fresh CA and a server certificate it issued for `localhost`, `127.0.0.1` and
/// [`PROXIED_HOST`](crate::PROXIED_HOST).
#[derive(Debug, Clone)]
pub struct TestCa {
    root: CertificateDer<'static>,
    root_pem: String,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: Arc<Vec<u8>>,
    server_chain_pem: String,
    server_key_pem: String,
}

impl TestCa {
    /// Makes a CA and a server certificate.
    pub fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "gptproto test CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key"))
            .expect("self-signed CA");
        let server_key = KeyPair::generate().expect("server key");
        let names = ["localhost", "127.0.0.1", crate::PROXIED_HOST].map(str::to_owned);
        let server = CertificateParams::new(names.to_vec())
            .expect("server parameters")
            .signed_by(&server_key, &ca)
            .expect("server certificate");
        Self {
            root: ca.der().clone(),
            root_pem: ca.pem(),
            server_chain: vec![server.der().clone(), ca.der().clone()],
            server_key: Arc::new(server_key.serialize_der()),
            server_chain_pem: server.pem() + &ca.pem(),
            server_key_pem: server_key.serialize_pem(),
        }
    }

    /// The CA's certificate, to trust on the client side.
    pub fn root(&self) -> &CertificateDer<'static> {
        &self.root
    }

    /// The CA's certificate in PEM.
    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    /// The server's certificate chain in PEM (the server's certificate, then the CA's): what
    /// another server (nginx) presents for `localhost`.
    pub fn server_chain_pem(&self) -> &str {
        &self.server_chain_pem
    }

    /// The server certificate's private key in PEM (PKCS #8).
    pub fn server_key_pem(&self) -> &str {
        &self.server_key_pem
    }

    /// A root store holding only this CA.
    pub fn root_store(&self) -> rustls::RootCertStore {
        let mut store = rustls::RootCertStore::empty();
        store.add(self.root.clone()).expect("a valid root");
        store
    }

    /// A TLS acceptor presenting the server certificate, offering `h2` and `http/1.1` by ALPN.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(Arc::new(self.server_config()))
    }

    /// The server's TLS configuration: the server certificate, `h2` and `http/1.1` by ALPN.
    pub fn server_config(&self) -> rustls::ServerConfig {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.as_ref().clone()));
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(self.server_chain.clone(), key)
        .expect("server certificate and key");
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}
