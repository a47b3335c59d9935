//! `/metrics`: the Prometheus recorder and the verified-token cache's numbers.

use std::time::Duration;

use anyhow::{Context as _, Result};
use chat_token_core::metrics::{METRIC_RESOLVE_SECONDS, RESOLVE_SECONDS_BUCKETS};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// How often the Prometheus recorder folds recorded histogram samples into its buckets
/// between scrapes (a scrape does it too), so that they do not pile up unscraped.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// Installs the Prometheus recorder as the process's `metrics` recorder (with no HTTP
/// listener of its own: `/metrics` renders it), with the resolver latency as a histogram
/// with [`RESOLVE_SECONDS_BUCKETS`], and starts its upkeep. Needs the runtime.
pub(super) fn install_metrics_recorder() -> Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(METRIC_RESOLVE_SECONDS.to_owned()),
            &RESOLVE_SECONDS_BUCKETS,
        )?
        .install_recorder()
        .context("installing the Prometheus metrics recorder")?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(METRICS_UPKEEP);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// The verified-token cache's metrics: name, whether it is a counter (else a gauge), and
/// its help text.
const JWT_CACHE_METRICS: [(&str, bool, &str); 5] = [
    (
        "chat_token_jwt_cache_hits_total",
        true,
        "Bearer JWTs answered from the verified-token cache.",
    ),
    (
        "chat_token_jwt_cache_misses_total",
        true,
        "Bearer JWTs verified because the cache did not hold them.",
    ),
    (
        "chat_token_jwt_cache_evictions_total",
        true,
        "Verified tokens dropped to stay within the cache's bounds or because they aged out.",
    ),
    (
        "chat_token_jwt_cache_entries",
        false,
        "Verified tokens held by the cache.",
    ),
    (
        "chat_token_jwt_cache_bytes",
        false,
        "Bytes charged to the verified-token cache: each entry's estimated size, and at least the byte bound divided by the entry bound.",
    ),
];

/// Describes the verified-token cache's metrics to the installed recorder.
pub(super) fn describe_jwt_cache_metrics() {
    for (name, counter, help) in JWT_CACHE_METRICS {
        if counter {
            metrics::describe_counter!(name, help);
        } else {
            metrics::describe_gauge!(name, help);
        }
    }
}

/// Copies the verified-token cache's counters into the installed recorder (done on each
/// scrape: the cache keeps the counts, the recorder only shows them).
pub(super) fn record_jwt_cache_metrics(stats: &chat_token_core::resolvers::VerifiedCacheStats) {
    let values = [
        stats.hits,
        stats.misses,
        stats.evictions,
        stats.entries as u64,
        stats.bytes as u64,
    ];
    for ((name, counter, _), value) in JWT_CACHE_METRICS.into_iter().zip(values) {
        if counter {
            metrics::counter!(name).absolute(value);
        } else {
            metrics::gauge!(name).set(value as f64);
        }
    }
}
