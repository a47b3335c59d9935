//! The Python venvs under `target/` that hold Twilio's pinned Python helper (and, for
//! the benchmarks, PyJWT), created once per content of their requirements file.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result};

use crate::process::run;

/// Creates `target/xtask-venv` with the pinned helper, once per requirements file.
pub fn venv(root: &Path) -> Result<PathBuf> {
    venv_with(
        &root.join("target").join("xtask-venv"),
        &root.join("xtask").join("requirements.txt"),
    )
}

/// Creates the venv `dir` with the pinned packages of `requirements`, once per content
/// of that file; returns its python.
pub fn venv_with(dir: &Path, requirements: &Path) -> Result<PathBuf> {
    let dir = dir.to_path_buf();
    let python = dir.join("bin").join("python");
    let requirements = requirements.to_path_buf();
    let wanted = std::fs::read_to_string(&requirements)?;
    let marker = dir.join("installed-requirements.txt");
    if python.exists() && std::fs::read_to_string(&marker).ok().as_deref() == Some(&wanted) {
        return Ok(python);
    }
    let system_python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    run(Command::new(&system_python).args(["-m", "venv"]).arg(&dir))
        .context("creating the Python venv (needs python3 with the venv module)")?;
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&requirements))
    .with_context(|| format!("installing {} from PyPI", requirements.display()))?;
    std::fs::write(&marker, wanted)?;
    Ok(python)
}
