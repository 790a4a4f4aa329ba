//! `gptproto config path | show | init`.

use std::io::Write;

use clap::{CommandFactory, FromArgMatches};

use crate::args::{Cli, Command, ConfigAction};
use crate::config::{self, Chosen, TEMPLATE};
use crate::exit::Failure;
use crate::settings::{self, Origins, Sourced};

pub(crate) fn run(action: &ConfigAction, profile: Option<(String, Chosen)>) -> Result<(), Failure> {
    match action {
        ConfigAction::Path => {
            println!("{}", config::path()?.display());
            Ok(())
        }
        ConfigAction::Init => init(),
        ConfigAction::Show => show(profile),
    }
}

/// Writes the commented starting file, owner-only; an existing file is left alone.
fn init() -> Result<(), Failure> {
    let path = config::path()?;
    if path.exists() {
        return Err(Failure::Usage(format!(
            "{} already exists: edit it (`gptproto config show` says what applies)",
            path.display()
        )));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|error| Failure::Usage(format!("cannot create {}: {error}", dir.display())))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .map_err(|error| Failure::Usage(format!("cannot write {}: {error}", path.display())))?;
    file.write_all(TEMPLATE.as_bytes())?;
    eprintln!("gptproto: wrote {}", path.display());
    Ok(())
}

/// The settings that apply without flags: the environment, the profile, the defaults.
fn show(profile: Option<(String, Chosen)>) -> Result<(), Failure> {
    let loaded = config::load(profile)?;
    // `gptproto chat` as it would start here: what the environment gives.
    let matches = Cli::command()
        .try_get_matches_from(["gptproto", "chat"])
        .map_err(|error| Failure::Usage(error.to_string()))?;
    let Ok(Cli {
        command: Command::Chat(chat),
        ..
    }) = Cli::from_arg_matches(&matches)
    else {
        return Err(Failure::Usage(
            "the environment does not parse as `gptproto chat`".to_owned(),
        ));
    };
    let origins = Origins(matches.subcommand().map(|(_, matches)| matches));
    let connection = settings::connection(&chat.connection, origins, &loaded, false)?;
    let chat_settings = settings::chat(&chat, origins, &loaded).rows();
    let mut rows: Vec<(&str, Option<Sourced<String>>)> = vec![
        ("base-url", Some(connection.base_url.clone())),
        (
            "auth",
            Some((
                format!("{:?}", connection.auth.0).to_lowercase(),
                connection.auth.1.clone(),
            )),
        ),
        (
            "provider",
            Some((
                connection.provider.0.to_string(),
                connection.provider.1.clone(),
            )),
        ),
        (
            "api-key",
            connection
                .key
                .as_ref()
                .map(|(_, from)| ("<redacted>".to_owned(), from.clone())),
        ),
        (
            "cacert",
            connection
                .cacert
                .as_ref()
                .map(|(path, from)| (path.display().to_string(), from.clone())),
        ),
        (
            "allow-insecure-http",
            Some((
                connection.allow_insecure_http.0.to_string(),
                connection.allow_insecure_http.1.clone(),
            )),
        ),
    ];
    rows.extend(chat_settings);
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "config file  {}{}",
        loaded.path.display(),
        if loaded.exists { "" } else { " (none there)" }
    )?;
    let profile = match &loaded.name {
        Some((name, Chosen::Flag)) => format!("{name} (--profile)"),
        Some((name, Chosen::Env)) => format!("{name} (GPTPROTO_PROFILE)"),
        Some((name, Chosen::FileDefault)) => format!("{name} (the file's default)"),
        None => "none".to_owned(),
    };
    writeln!(out, "profile      {profile}")?;
    for (name, value) in rows {
        match value {
            Some((value, from)) => writeln!(out, "{name:<12} {value}  ({from})")?,
            None => writeln!(out, "{name:<12} -")?,
        }
    }
    Ok(())
}
