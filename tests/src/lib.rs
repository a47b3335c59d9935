//! The one HTTP suite that every chat-token adapter passes, case for case.
//!
//! Each adapter has a [`Harness`] that starts a small app (the token route at `/token`,
//! a `/me` route guarded by `ResolvedIdentity`, and an unguarded `/`) with a given
//! [`TokenService`](chat_token_core::TokenService) on `127.0.0.1:0`. The cases in
//! [`cases`] are written once; [`suite!`] expands every case into its own `#[test]` for
//! one harness, so a failure names both the case and the adapter. Requests go over real
//! HTTP on loopback through a small raw client ([`http`]) that can also send what
//! well-behaved clients never do (non-UTF-8 headers, huge values). Tokens are checked
//! with jsonwebtoken, not with the core's own verifier.

pub mod cases;
pub mod fixtures;
pub mod harness;
pub mod http;
pub mod logs;

pub use harness::{Harness, Server};

/// Expands every case of [`cases`] into a `#[test]` for the harness `$h`.
#[macro_export]
macro_rules! suite {
    ($h:ty) => {
        $crate::suite!(@cases $h;
            success_get, success_post, success_headers, success_token_header_is_twilios,
            success_claims_match_body, success_query_is_ignored, success_unicode_identity,
            bearer_scheme_is_case_insensitive, missing_credentials, empty_authorization,
            non_bearer_authorization, bearer_without_token, unknown_token, repeated_authorization,
            forbidden, unavailable_with_retry_after, unavailable_default_retry_after,
            internal_error_hides_details, resolver_timeout_is_unavailable,
            panicking_resolver_is_500_and_server_survives, invalid_identity_is_internal,
            per_user_ttl, per_user_grants, resolver_called_once_per_request,
            errors_are_not_cached, error_body_has_exactly_two_fields,
            method_put_is_405, method_delete_is_405, method_patch_is_405, method_options_is_405,
            method_head_is_405, oversized_authorization_is_4xx_and_server_survives,
            huge_authorization_is_4xx_and_server_survives,
            non_utf8_authorization_is_401_and_server_survives,
            extractor_accepts, extractor_missing_matches_token_route,
            extractor_invalid_matches_token_route, extractor_forbidden_matches_token_route,
            extractor_unavailable_matches_token_route, unguarded_route_needs_no_credentials,
            concurrent_requests_all_succeed, no_secret_or_credential_in_responses_or_logs
        );
    };
    (@cases $h:ty; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::cases::$case::<$h>();
            }
        )*
    };
}
