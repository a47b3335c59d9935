//! What a [`TokenService`](crate::TokenService) measures, recorded through the
//! [`metrics`](https://docs.rs/metrics) facade: tokens minted, errors by code, and how
//! long identification takes. The app chooses where they go by installing any `metrics`
//! recorder (a Prometheus exporter, StatsD, OpenTelemetry, ...); with none installed,
//! recording does nothing.
//!
//! Every key is a `static` (names and labels fixed at compile time), so recording one
//! never allocates here; the cost is the installed recorder's lookup and update.

use ::metrics::{Key, Label, Level, Metadata, Unit};

use crate::http::ErrorCode;

/// Counter: Access Tokens issued.
pub const METRIC_TOKENS_MINTED: &str = "chat_token_tokens_minted_total";

/// Counter: error answers, labelled `error` with the code of the JSON error body
/// ([`ErrorCode::as_str`]).
pub const METRIC_ERRORS: &str = "chat_token_errors_total";

/// Histogram: how long identifying the caller took (the resolver, or the app's own
/// login), in seconds.
pub const METRIC_RESOLVE_SECONDS: &str = "chat_token_resolve_seconds";

/// Upper bounds, in seconds, of the buckets that suit [`METRIC_RESOLVE_SECONDS`]: give
/// them to a Prometheus exporter (`chat-token serve --metrics` does) so that it renders a
/// histogram.
pub const RESOLVE_SECONDS_BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

/// The callsite metadata of every recording.
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

static MINTED_KEY: Key = Key::from_static_name(METRIC_TOKENS_MINTED);
static RESOLVE_KEY: Key = Key::from_static_name(METRIC_RESOLVE_SECONDS);

/// The `error` label of one code.
const fn error_label(code: ErrorCode) -> [Label; 1] {
    [Label::from_static_parts("error", code.as_str())]
}

/// The labels of [`METRIC_ERRORS`], one set per code, in the order of [`ErrorCode::ALL`]
/// (a new code makes these arrays one element short: a compile error until it is added).
static ERROR_LABELS: [[Label; 1]; ErrorCode::ALL.len()] = [
    error_label(ErrorCode::ALL[0]),
    error_label(ErrorCode::ALL[1]),
    error_label(ErrorCode::ALL[2]),
    error_label(ErrorCode::ALL[3]),
    error_label(ErrorCode::ALL[4]),
    error_label(ErrorCode::ALL[5]),
];

/// The keys of [`METRIC_ERRORS`], in the order of [`ErrorCode::ALL`].
static ERROR_KEYS: [Key; ErrorCode::ALL.len()] = [
    Key::from_static_parts(METRIC_ERRORS, &ERROR_LABELS[0]),
    Key::from_static_parts(METRIC_ERRORS, &ERROR_LABELS[1]),
    Key::from_static_parts(METRIC_ERRORS, &ERROR_LABELS[2]),
    Key::from_static_parts(METRIC_ERRORS, &ERROR_LABELS[3]),
    Key::from_static_parts(METRIC_ERRORS, &ERROR_LABELS[4]),
    Key::from_static_parts(METRIC_ERRORS, &ERROR_LABELS[5]),
];

/// `code`'s key: `ErrorCode::ALL` lists the codes in their declaration order, so a
/// code's discriminant is its index there (a unit test checks every code's label).
fn error_key(code: ErrorCode) -> &'static Key {
    &ERROR_KEYS[code as usize]
}

/// Describes the metrics to the recorder in place, and registers every series at zero
/// (each error code, the minted counter, the histogram), so that an exporter shows them
/// before the first request. Called when a service is built; registering again leaves
/// the counts as they are.
pub(crate) fn describe() {
    ::metrics::with_recorder(|recorder| {
        recorder.describe_counter(
            METRIC_TOKENS_MINTED.into(),
            Some(Unit::Count),
            "Access Tokens issued.".into(),
        );
        recorder.describe_counter(
            METRIC_ERRORS.into(),
            Some(Unit::Count),
            "Error answers by error code.".into(),
        );
        recorder.describe_histogram(
            METRIC_RESOLVE_SECONDS.into(),
            Some(Unit::Seconds),
            "Time the identity resolver took.".into(),
        );
        recorder
            .register_counter(&MINTED_KEY, &METADATA)
            .increment(0);
        for key in &ERROR_KEYS {
            recorder.register_counter(key, &METADATA).increment(0);
        }
        // A histogram is registered without a sample.
        let _ = recorder.register_histogram(&RESOLVE_KEY, &METADATA);
    });
}

/// One token minted.
pub(crate) fn minted() {
    ::metrics::with_recorder(|recorder| {
        recorder
            .register_counter(&MINTED_KEY, &METADATA)
            .increment(1);
    });
}

/// One error answer with `code`.
pub(crate) fn error(code: ErrorCode) {
    let key = error_key(code);
    ::metrics::with_recorder(|recorder| recorder.register_counter(key, &METADATA).increment(1));
}

/// One identification that took `elapsed`.
pub(crate) fn resolved_in(elapsed: std::time::Duration) {
    ::metrics::with_recorder(|recorder| {
        recorder
            .register_histogram(&RESOLVE_KEY, &METADATA)
            .record(elapsed.as_secs_f64());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_own_key_labelled_with_its_body_code() {
        for code in ErrorCode::ALL {
            let key = error_key(code);
            assert_eq!(key.name(), METRIC_ERRORS);
            let labels: Vec<_> = key.labels().map(|l| (l.key(), l.value())).collect();
            assert_eq!(labels, [("error", code.as_str())]);
        }
    }

    #[test]
    fn recording_without_a_recorder_does_nothing() {
        // No recorder is installed in the unit tests: every call is a no-op.
        describe();
        minted();
        error(ErrorCode::Forbidden);
        resolved_in(std::time::Duration::from_millis(3));
    }
}
