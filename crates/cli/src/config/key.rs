//! The API key a profile names: an environment variable, a command's output, or the key
//! itself in a file only its owner can read.

use std::path::Path;
use std::process::{Command, Stdio};

use super::Profile;
use crate::exit::Failure;

/// Where a profile's key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeySource {
    /// `api-key-env`: this variable.
    Env(String),
    /// `api-key-cmd`: this command's standard output.
    Command(String),
    /// `api-key`: in the file.
    File,
}

impl KeySource {
    pub(crate) fn of(profile: &Profile) -> Option<Self> {
        if let Some(name) = &profile.api_key_env {
            Some(Self::Env(name.clone()))
        } else if let Some(command) = &profile.api_key_cmd {
            Some(Self::Command(command.clone()))
        } else {
            profile.api_key.as_ref().map(|_| Self::File)
        }
    }

    /// How `config show` says it (without reading or running anything).
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Env(name) => format!("api-key-env {name}"),
            Self::Command(command) => format!("api-key-cmd `{command}`"),
            Self::File => "api-key in the file".to_owned(),
        }
    }

    /// The key: the variable's value, the command's output (trimmed), or the file's.
    pub(crate) fn resolve(&self, profile: &Profile, name: &str) -> Result<String, Failure> {
        let key = match self {
            Self::Env(variable) => std::env::var(variable).map_err(|_| {
                Failure::Usage(format!(
                    "profile {name:?}: api-key-env names {variable}, which is not set"
                ))
            })?,
            Self::Command(command) => run(command, name)?,
            Self::File => profile.api_key.clone().unwrap_or_default(),
        };
        let key = key.trim().to_owned();
        if key.is_empty() {
            return Err(Failure::Usage(format!(
                "profile {name:?}: the key from {} is empty",
                self.describe()
            )));
        }
        Ok(key)
    }
}

/// Runs `command` by the shell; its standard output is the key.
fn run(command: &str, name: &str) -> Result<String, Failure> {
    let mut shell = if cfg!(windows) {
        let mut shell = Command::new("cmd");
        shell.args(["/C", command]);
        shell
    } else {
        let mut shell = Command::new("sh");
        shell.args(["-c", command]);
        shell
    };
    let output = shell
        .stdin(Stdio::inherit())
        .stderr(Stdio::piped())
        .output()
        .map_err(|error| {
            Failure::Usage(format!(
                "profile {name:?}: cannot run api-key-cmd `{command}`: {error}"
            ))
        })?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        let said = said.lines().next().unwrap_or_default().trim();
        return Err(Failure::Usage(format!(
            "profile {name:?}: api-key-cmd `{command}` failed ({}){}",
            output.status,
            if said.is_empty() {
                String::new()
            } else {
                format!(": {said}")
            }
        )));
    }
    String::from_utf8(output.stdout).map_err(|_| {
        Failure::Usage(format!(
            "profile {name:?}: api-key-cmd `{command}` printed no UTF-8 text"
        ))
    })
}

/// A file that holds a key must be readable by its owner only (as ssh asks of its keys).
pub(super) fn check_private(path: &Path, name: &str) -> Result<(), Failure> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|error| Failure::Usage(format!("{}: {error}", path.display())))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(Failure::Usage(format!(
                "{}: profile {name:?} holds an API key, but the file can be read by others (mode \
                 {:o}): run `chmod 600 {}`, or use api-key-env or api-key-cmd",
                path.display(),
                mode & 0o777,
                path.display()
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = (path, name);
    Ok(())
}
