//! An app that installs its own `metrics` recorder sees the service's metrics there: the
//! minted counter, the error counter by `error` code, and a resolver latency sample per
//! identification.
//!
//! Each test installs its recorder with `metrics::with_local_recorder`, for its own
//! thread only, so that no other test's requests reach it; the service is driven by a
//! current-thread runtime on that same thread.

use std::collections::BTreeMap;

use chat_token_core::{
    Credentials, IncomingRequest, StaticUsers, TokenIssuer, TokenService, http::ErrorCode,
    metrics::METRIC_ERRORS, metrics::METRIC_RESOLVE_SECONDS, metrics::METRIC_TOKENS_MINTED,
    policy::UserPolicy,
};
use metrics::Unit;
use metrics_util::MetricKind;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

const ALICE: &str = "tok-alice-0123456789";
const MALLORY: &str = "tok-mallory-0123456789";

fn service() -> TokenService {
    let issuer = TokenIssuer::new(
        Credentials::try_new(
            "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            "not-a-real-secret-for-tests",
        )
        .expect("credentials"),
    );
    let users: StaticUsers = format!("{ALICE}=alice,{MALLORY}=mallory")
        .parse()
        .expect("users");
    let policy = UserPolicy::from_json(r#"{ "identities": { "mallory": { "deny": true } } }"#)
        .expect("policy");
    TokenService::builder(issuer, users)
        .user_policy(policy)
        .build()
        .expect("service")
}

fn bearer(token: &str) -> IncomingRequest {
    IncomingRequest::new("GET", "/token").with_header("authorization", format!("Bearer {token}"))
}

/// Runs `requests` against `service` on a current-thread runtime of this thread.
fn drive(service: &TokenService, requests: &[IncomingRequest]) -> Vec<u16> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut statuses = Vec::new();
        for req in requests {
            statuses.push(service.handle(req).await.status);
        }
        statuses
    })
}

/// What a snapshot holds, by kind, name and labels.
#[derive(Debug, Default)]
struct Seen {
    counters: BTreeMap<(String, Vec<(String, String)>), u64>,
    histograms: BTreeMap<String, Vec<f64>>,
    descriptions: BTreeMap<String, (Option<Unit>, String)>,
}

fn seen(snapshotter: &Snapshotter) -> Seen {
    let mut seen = Seen::default();
    for (key, unit, description, value) in snapshotter.snapshot().into_vec() {
        let (kind, key) = key.into_parts();
        let name = key.name().to_owned();
        if let Some(description) = description {
            seen.descriptions
                .insert(name.clone(), (unit, description.to_string()));
        }
        match (kind, value) {
            (MetricKind::Counter, DebugValue::Counter(n)) => {
                let labels = key
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect();
                seen.counters.insert((name, labels), n);
            }
            (MetricKind::Histogram, DebugValue::Histogram(samples)) => {
                seen.histograms
                    .entry(name)
                    .or_default()
                    .extend(samples.into_iter().map(|s| s.into_inner()));
            }
            other => panic!("unexpected metric {name}: {other:?}"),
        }
    }
    seen
}

fn errors(seen: &Seen, code: ErrorCode) -> Option<u64> {
    seen.counters
        .get(&(
            METRIC_ERRORS.to_owned(),
            vec![("error".to_owned(), code.as_str().to_owned())],
        ))
        .copied()
}

fn minted(seen: &Seen) -> Option<u64> {
    seen.counters
        .get(&(METRIC_TOKENS_MINTED.to_owned(), Vec::new()))
        .copied()
}

#[test]
fn an_apps_own_recorder_sees_tokens_errors_by_code_and_resolver_latency() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let statuses = metrics::with_local_recorder(&recorder, || {
        let service = service();
        drive(
            &service,
            &[
                bearer(ALICE),
                IncomingRequest::new("GET", "/token"),
                bearer(MALLORY),
                IncomingRequest::new("DELETE", "/token"),
            ],
        )
    });
    assert_eq!(statuses, [200, 401, 403, 405]);
    let got = seen(&snapshotter);

    assert_eq!(minted(&got), Some(1), "{got:#?}");
    for code in ErrorCode::ALL {
        let expected = match code {
            ErrorCode::MissingCredentials | ErrorCode::Forbidden | ErrorCode::MethodNotAllowed => 1,
            _ => 0,
        };
        // Every code is there from the start, at zero until it happens.
        assert_eq!(errors(&got, code), Some(expected), "{code}: {got:#?}");
    }
    assert_eq!(
        got.counters.len(),
        1 + ErrorCode::ALL.len(),
        "only the minted counter and one error series per code: {got:#?}"
    );

    // One sample per identification: the good token, the missing credential and the
    // forbidden user; the 405 is answered before anyone is identified.
    let samples = &got.histograms[METRIC_RESOLVE_SECONDS];
    assert_eq!(samples.len(), 3, "{samples:?}");
    assert!(
        samples.iter().all(|s| s.is_finite() && *s >= 0.0),
        "{samples:?}"
    );

    let (unit, _) = &got.descriptions[METRIC_RESOLVE_SECONDS];
    assert_eq!(*unit, Some(Unit::Seconds));
    for name in [METRIC_TOKENS_MINTED, METRIC_ERRORS] {
        assert!(got.descriptions.contains_key(name), "{name} not described");
    }
}

#[test]
fn requests_are_recorded_by_the_recorder_in_place_when_they_are_answered() {
    // Built with no recorder (nothing is recorded, nothing fails), then answering under
    // one: the counts still arrive, without the descriptions given at build time.
    let service = service();
    assert_eq!(drive(&service, &[bearer(ALICE)]), [200]);
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let statuses = metrics::with_local_recorder(&recorder, || {
        drive(
            &service,
            &[
                bearer(ALICE),
                bearer(ALICE),
                bearer("tok-nobody-0123456789"),
            ],
        )
    });
    assert_eq!(statuses, [200, 200, 401]);
    let got = seen(&snapshotter);
    assert_eq!(minted(&got), Some(2), "{got:#?}");
    assert_eq!(errors(&got, ErrorCode::InvalidCredentials), Some(1));
    assert_eq!(errors(&got, ErrorCode::MissingCredentials), None);
    assert_eq!(got.histograms[METRIC_RESOLVE_SECONDS].len(), 3);
    // Outside the closure the recorder is gone again: this token is not counted (a
    // snapshot reads and resets the counters).
    assert_eq!(drive(&service, &[bearer(ALICE)]), [200]);
    assert_eq!(minted(&seen(&snapshotter)), Some(0));
}
