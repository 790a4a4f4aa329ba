//! `cargo xtask plot-batch`: draws `docs/batch.png` from the batch benchmark's series
//! (`target/bench-batch/<scenario>-1.csv`, written by `cargo bench -p gptproto-bench --bench
//! batch`) with matplotlib, from a pinned wheel installed into a venv under `target/plot/`.

use std::path::PathBuf;
use std::process::Command;

use crate::workspace::{project_root, run, target_dir};

/// The pinned plotting wheel (its dependencies resolve with it).
const WHEEL: &str = "matplotlib==3.9.2";

pub(crate) fn command(args: &[String]) -> Result<(), String> {
    let [rpm, tpm] = args else {
        return Err(
            "usage: cargo xtask plot-batch RPM TPM (the limits the benchmark printed)".to_owned(),
        );
    };
    let series = target_dir().join("bench-batch");
    let mut inputs = Vec::new();
    for scenario in ["given", "headers", "probed"] {
        let csv = series.join(format!("{scenario}-1.csv"));
        if csv.exists() {
            inputs.push(format!("{scenario}={}", csv.display()));
        }
    }
    if inputs.is_empty() {
        return Err(format!(
            "no series in {}: run `cargo bench -p gptproto-bench --bench batch` first",
            series.display()
        ));
    }
    let python = venv()?;
    let out = project_root().join("docs/batch.png");
    run(Command::new(&python)
        .arg(project_root().join("xtask/plot_batch.py"))
        .arg(&out)
        .args([rpm, tpm])
        .args(&inputs))?;
    eprintln!("xtask: wrote {}", out.display());
    Ok(())
}

/// The venv's python, with the wheel installed.
fn venv() -> Result<PathBuf, String> {
    let dir = target_dir().join("plot/venv");
    let python = dir.join("bin/python");
    if !python.exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&dir))?;
    }
    let installed = Command::new(&python)
        .args(["-c", "import matplotlib"])
        .status()
        .is_ok_and(|status| status.success());
    if !installed {
        run(Command::new(&python).args(["-m", "pip", "install", "-q", WHEEL]))?;
    }
    Ok(python)
}
