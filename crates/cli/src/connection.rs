//! The client every command starts from: base URL, key, auth scheme, extra CA.

use gptproto::{AuthScheme, Client, ClientBuilder, Roots};

use crate::args::Auth;
use crate::exit::Failure;
use crate::settings::Connection;

/// A builder with the connection's settings (a missing key that the server needs is a usage
/// error, said in the CLI's words).
pub(crate) fn builder(connection: &Connection) -> Result<ClientBuilder, Failure> {
    let base_url = &connection.base_url.0;
    let mut builder = Client::builder()
        .base_url(base_url)
        .auth_scheme(scheme(connection.auth.0));
    match connection.key.as_ref().and_then(|(key, _)| key.as_ref()) {
        Some(key) => builder = builder.api_key(key),
        // GPTProto answers nothing without a key: say so now, in the CLI's words.
        None if needs_key(base_url) => {
            return Err(Failure::Usage(format!(
                "no API key: {base_url} needs one; set GPTPROTO_API_KEY, pass --api-key KEY, or \
                 give the profile an api-key-env or api-key-cmd (`gptproto config init`)"
            )));
        }
        None => {}
    }
    // The system's roots (or SSL_CERT_FILE / SSL_CERT_DIR), the bundled ones, and the CA
    // given with --cacert or the profile's `cacert`.
    let added = match &connection.cacert {
        Some((path, from)) => Roots::read_pem(path)
            .map_err(|error| Failure::Usage(format!("cacert ({from}): {error}")))?,
        None => gptproto::RootCertStore::empty(),
    };
    builder = builder.roots(Roots::AllPlus(added));
    Ok(builder)
}

/// The core's configuration for the same connection (what `--dry-run` builds its request
/// with).
pub(crate) fn config(
    connection: &Connection,
) -> Result<gptproto::proto::exchange::ClientConfig, Failure> {
    let mut config = gptproto::proto::exchange::ClientConfig::builder()
        .base_url(&connection.base_url.0)
        .auth_scheme(scheme(connection.auth.0));
    if let Some(key) = connection.key.as_ref().and_then(|(key, _)| key.as_ref()) {
        config = config.api_key(key.trim());
    }
    config
        .build()
        .map_err(|error| Failure::Usage(format!("{error:#}")))
}

fn scheme(auth: Auth) -> AuthScheme {
    match auth {
        Auth::Auto => AuthScheme::Auto,
        Auth::Raw => AuthScheme::Raw,
        Auth::Bearer => AuthScheme::Bearer,
    }
}

/// Whether the server at `base_url` needs a key (GPTProto's hosts do).
fn needs_key(base_url: &str) -> bool {
    gptproto::proto::exchange::ClientConfig::builder()
        .base_url(base_url)
        .build()
        .is_ok_and(|config| config.requires_api_key())
}
