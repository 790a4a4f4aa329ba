//! The project as commands see it: cargo (stable and nightly) run in its root without what
//! `cargo run` set for this process, each command shown before it runs, its folders.

use std::process::Command;

/// Builds the `gptproto` CLI and returns its path. It is built the way `cargo xtask test` builds
/// it (with the CLI's integration tests, `--workspace`, so with the same dependency features):
/// after the tests nothing is compiled again.
pub(crate) fn build_cli() -> Result<std::path::PathBuf, String> {
    run(cargo().args([
        "test",
        "--workspace",
        "--test",
        "cli",
        "--no-run",
        "--quiet",
    ]))?;
    let cli = target_dir()
        .join("debug")
        .join(format!("gptproto{}", std::env::consts::EXE_SUFFIX));
    if cli.is_file() {
        Ok(cli)
    } else {
        Err(format!("{} was not built", cli.display()))
    }
}

/// Arguments as a shell would need them.
pub(crate) fn shown<S: AsRef<str>>(args: &[S]) -> String {
    args.iter()
        .map(|arg| {
            let arg = arg.as_ref();
            if arg.contains([' ', '"', '{', '?']) {
                format!("'{arg}'")
            } else {
                arg.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn cargo() -> Command {
    cleaned(Command::new(
        std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()),
    ))
}

/// The nightly toolchain's cargo (`rustup run nightly cargo`): rustdoc JSON, Miri, fuzzing.
pub(crate) fn nightly_cargo() -> Command {
    let mut command = Command::new("rustup");
    command.args(["run", "nightly", "cargo"]);
    cleaned(command)
}

/// `command` run in the project, without the variables `cargo run` set for this process.
fn cleaned(mut command: Command) -> Command {
    command.current_dir(project_root());
    // What `cargo run` set for this process is not the caller's environment: build scripts
    // that track such variables (ring's tracks CARGO_MANIFEST_DIR) would otherwise rebuild
    // between a build run here and one run by hand.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || matches!(
                &*name,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
            )
        {
            command.env_remove(&*name);
        }
    }
    command
}

pub(crate) fn run(command: &mut Command) -> Result<(), String> {
    // The program and its arguments, with the variables set for it (not those removed).
    let program = std::path::Path::new(command.get_program());
    let mut words: Vec<String> = command
        .get_envs()
        .filter_map(|(name, value)| {
            Some(format!(
                "{}={}",
                name.to_string_lossy(),
                value?.to_string_lossy()
            ))
        })
        .collect();
    words.push(
        program
            .file_name()
            .unwrap_or(program.as_os_str())
            .to_string_lossy()
            .into_owned(),
    );
    words.extend(
        command
            .get_args()
            .map(|arg| arg.to_string_lossy().into_owned()),
    );
    let shown = shown(&words);
    eprintln!("xtask: running {shown}");
    let status = command
        .status()
        .map_err(|error| format!("cannot run {shown}: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed: {status}"))
    }
}

/// Cargo's target directory: `CARGO_TARGET_DIR`, or `target/` in the project.
pub(crate) fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| project_root().join("target"))
}

pub(crate) fn project_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}
