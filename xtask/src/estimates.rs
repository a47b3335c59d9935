//! Reading criterion's figures back (the median of one benchmark, from the
//! `estimates.json` its last run left under `target/criterion`), and the order
//! statistics the benchmark sections take of their own runs.

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

/// The median of `v` (the upper one of an even count); NaN when `v` is empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The lower and upper quartiles of `v` (nearest rank: with 9 values, the 3rd and the
/// 7th smallest); NaN when `v` is empty.
pub fn middle_half(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let last = v.len().saturating_sub(1);
    match (v.get(last / 4), v.get(last * 3 / 4)) {
        (Some(low), Some(high)) => (*low, *high),
        _ => (f64::NAN, f64::NAN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_the_middle_value_or_the_upper_of_two() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 3.0);
        assert!(median(Vec::new()).is_nan());
    }

    #[test]
    fn the_middle_half_runs_from_the_lower_to_the_upper_quartile() {
        let nine = vec![9.0, -1.0, 3.0, 0.5, 2.0, 7.0, 1.0, 4.0, 0.0];
        // Sorted: -1, 0, 0.5, 1, 2, 3, 4, 7, 9.
        assert_eq!(middle_half(nine), (0.5, 4.0));
        assert_eq!(middle_half(vec![2.5]), (2.5, 2.5));
        let (low, high) = middle_half(Vec::new());
        assert!(low.is_nan() && high.is_nan());
    }
}
