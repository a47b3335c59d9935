//! Reading criterion's figures back: the median of one benchmark, from the
//! `estimates.json` its last run left under `target/criterion`.

use std::path::Path;

use anyhow::{Context as _, Result};

/// The median (ns) of criterion's last run of `name` in `group`, or of the ungrouped
/// benchmark `group` when `name` is empty.
pub fn criterion_median(root: &Path, group: &str, name: &str) -> Result<f64> {
    let path = root
        .join("target/criterion")
        .join(group)
        .join(name)
        .join("new/estimates.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)?;
    v["median"]["point_estimate"]
        .as_f64()
        .context("median in estimates.json")
}
