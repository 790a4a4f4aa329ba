//! The client every command starts from: base URL, key, auth scheme, extra CA.

use gptproto::{AuthScheme, Client, ClientBuilder, Roots};

use crate::args::{Auth, ConnectionArgs};
use crate::exit::Failure;

/// A builder with the connection's settings (a missing key that the server needs is a usage
/// error, said in the CLI's words).
pub(crate) fn builder(args: &ConnectionArgs) -> Result<ClientBuilder, Failure> {
    let mut builder = Client::builder()
        .base_url(&args.base_url)
        .auth_scheme(scheme(args.auth));
    match &args.api_key {
        Some(key) => builder = builder.api_key(key),
        // GPTProto answers nothing without a key: say so now, in the CLI's words.
        None if needs_key(&args.base_url) => {
            return Err(Failure::Usage(format!(
                "no API key: {} needs one; set GPTPROTO_API_KEY or pass --api-key KEY",
                args.base_url
            )));
        }
        None => {}
    }
    if let Some(path) = &args.cacert {
        let added =
            Roots::read_pem(path).map_err(|error| Failure::Usage(format!("--cacert: {error}")))?;
        builder = builder.roots(Roots::DefaultPlus(added));
    }
    Ok(builder)
}

/// The core's configuration for the same connection (what `--dry-run` builds its request
/// with).
pub(crate) fn config(
    args: &ConnectionArgs,
) -> Result<gptproto::proto::exchange::ClientConfig, Failure> {
    let mut config = gptproto::proto::exchange::ClientConfig::builder()
        .base_url(&args.base_url)
        .auth_scheme(scheme(args.auth));
    if let Some(key) = &args.api_key {
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
