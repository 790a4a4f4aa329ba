//! The client every command starts from: base URL, key, auth scheme, extra CA.

use gptproto::{AuthScheme, Client, ClientBuilder, Roots};

use crate::args::Auth;
use crate::exit::Failure;
use crate::settings::Connection;

/// A builder with the connection's settings (a missing key that the server needs is a usage
/// error, said in the CLI's words).
pub(crate) fn builder(connection: &Connection) -> Result<ClientBuilder, Failure> {
    let base_url = &connection.base_url.0;
    // The key and base URL are resolved here (flag, variable, profile), not again by the
    // library from the environment.
    let mut builder = Client::builder()
        .ignore_env()
        .base_url(base_url)
        .provider(connection.provider.0)
        .auth_scheme(scheme(connection.auth.0));
    // An empty key (`--api-key ''`, `GPTPROTO_API_KEY=`, a key command that printed nothing)
    // is no key: it would be sent as `Authorization: Bearer `.
    let (key, empty) = match &connection.key {
        Some((Some(key), from)) if key.trim().is_empty() => (None, Some(from)),
        Some((key, _)) => (key.as_deref(), None),
        None => (None, None),
    };
    match key {
        Some(key) => builder = builder.api_key(key),
        // A hosted API answers nothing without a key: say so now, in the CLI's words.
        None if needs_key(base_url, connection.provider.0) => {
            let given = empty.map_or_else(String::new, |from| {
                format!(" (the key from {from} is empty)")
            });
            return Err(Failure::Usage(format!(
                "no API key{given}: {base_url} ({}) needs one; set GPTPROTO_API_KEY, pass \
                 --api-key KEY, or give the profile an api-key-env or api-key-cmd (`gptproto \
                 config init`)",
                connection.provider.0
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
    builder = builder
        .roots(Roots::AllPlus(added))
        .allow_insecure_http(connection.allow_insecure_http.0);
    Ok(builder)
}

/// The client a chat uses on `connection`: with the command's deadline and retries.
pub(crate) fn chat_client(
    connection: &Connection,
    options: &crate::options::ChatOptions,
) -> Result<gptproto::Client, Failure> {
    let mut builder = builder(connection)?;
    if let Some(timeout) = options.timeout {
        builder = builder.timeout(timeout);
    }
    if let Some(retries) = options.max_retries {
        builder = builder.max_retries(retries);
    }
    builder
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

/// Whether the server at `base_url` needs a key: the core's answer for its provider
/// ([`ClientConfig::requires_api_key`](gptproto::proto::exchange::ClientConfig::requires_api_key)),
/// not one of our own. A base URL that does not parse is the client builder's error to give.
fn needs_key(base_url: &str, provider: gptproto::Provider) -> bool {
    gptproto::proto::exchange::ClientConfig::builder()
        .base_url(base_url)
        .provider(provider)
        .build()
        .is_ok_and(|config| config.requires_api_key())
}
