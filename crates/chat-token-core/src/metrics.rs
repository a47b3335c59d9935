//! Counters of a [`TokenService`](crate::TokenService): tokens minted, errors by code,
//! and how long resolvers take, in the Prometheus text format. Recording costs a few
//! relaxed atomic additions per request.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::http::ErrorCode;

/// Upper bounds of the resolver latency buckets, in seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

/// The counters. Cheap to update (relaxed atomics), read with [`Metrics::render`].
///
/// ```
/// # use chat_token_core::{Credentials, StaticUsers, TokenIssuer, TokenService};
/// # let issuer = TokenIssuer::new(Credentials::try_new(
/// #     "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "fake-secret")?);
/// # let users: StaticUsers = "tok-alice-0123456789=alice".parse()?;
/// let service = TokenService::builder(issuer, users).build()?;
/// let text = service.metrics().render(); // Prometheus text format
/// assert!(text.contains("chat_token_tokens_minted_total 0"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct Metrics {
    minted: AtomicU64,
    errors: [AtomicU64; ErrorCode::ALL.len()],
    buckets: [AtomicU64; 10],
    resolve_count: AtomicU64,
    resolve_micros: AtomicU64,
}

impl Metrics {
    pub(crate) fn minted(&self) {
        self.minted.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn error(&self, code: ErrorCode) {
        if let Some(i) = ErrorCode::ALL.iter().position(|c| *c == code) {
            self.errors[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn resolved_in(&self, elapsed: Duration) {
        // One bucket per observation (the smallest that holds it); `render` sums them
        // into Prometheus's cumulative buckets.
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|bound| secs <= *bound) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.resolve_count.fetch_add(1, Ordering::Relaxed);
        self.resolve_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// Tokens minted so far.
    pub fn tokens_minted(&self) -> u64 {
        self.minted.load(Ordering::Relaxed)
    }

    /// Error answers with `code` so far.
    pub fn errors(&self, code: ErrorCode) -> u64 {
        ErrorCode::ALL
            .iter()
            .position(|c| *c == code)
            .map_or(0, |i| self.errors[i].load(Ordering::Relaxed))
    }

    /// Everything in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP chat_token_tokens_minted_total Access Tokens issued."
        );
        let _ = writeln!(out, "# TYPE chat_token_tokens_minted_total counter");
        let _ = writeln!(
            out,
            "chat_token_tokens_minted_total {}",
            self.tokens_minted()
        );
        let _ = writeln!(
            out,
            "# HELP chat_token_errors_total Error answers by error code."
        );
        let _ = writeln!(out, "# TYPE chat_token_errors_total counter");
        for (code, count) in ErrorCode::ALL.iter().zip(&self.errors) {
            let _ = writeln!(
                out,
                "chat_token_errors_total{{error=\"{}\"}} {}",
                code.as_str(),
                count.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP chat_token_resolve_seconds Time the identity resolver took."
        );
        let _ = writeln!(out, "# TYPE chat_token_resolve_seconds histogram");
        let mut cumulative = 0;
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "chat_token_resolve_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = self.resolve_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "chat_token_resolve_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "chat_token_resolve_seconds_sum {}",
            self.resolve_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "chat_token_resolve_seconds_count {count}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let m = Metrics::default();
        m.minted();
        m.minted();
        m.error(ErrorCode::Forbidden);
        m.resolved_in(Duration::from_micros(300));
        m.resolved_in(Duration::from_millis(30));
        m.resolved_in(Duration::from_secs(3));
        let text = m.render();
        assert!(
            text.contains("chat_token_tokens_minted_total 2\n"),
            "{text}"
        );
        assert!(text.contains("chat_token_errors_total{error=\"forbidden\"} 1\n"));
        assert!(text.contains("chat_token_errors_total{error=\"internal\"} 0\n"));
        assert!(text.contains("chat_token_resolve_seconds_bucket{le=\"0.0005\"} 1\n"));
        assert!(text.contains("chat_token_resolve_seconds_bucket{le=\"0.05\"} 2\n"));
        assert!(text.contains("chat_token_resolve_seconds_bucket{le=\"1\"} 2\n"));
        assert!(text.contains("chat_token_resolve_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("chat_token_resolve_seconds_count 3\n"));
    }
}
