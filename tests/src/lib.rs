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

pub mod bad_input;
pub mod cases;
pub mod fixtures;
pub mod harness;
pub mod http;
pub mod login;
pub mod logs;

pub use harness::{Harness, Server};

/// Expands every case of [`cases`] into a `#[test]` for the harness `$h`.
#[macro_export]
macro_rules! suite {
    ($h:ty) => {
        $crate::suite!(@cases $h;
            success_get, success_headers, success_token_header_is_twilios,
            success_claims_match_body, success_query_is_ignored, success_unicode_identity,
            bearer_scheme_is_case_insensitive, missing_credentials, empty_authorization,
            non_bearer_authorization, bearer_without_token, unknown_token, repeated_authorization,
            forbidden, unavailable_with_retry_after, unavailable_default_retry_after,
            internal_error_hides_details, resolver_timeout_is_unavailable,
            panicking_resolver_is_500_and_server_survives, invalid_identity_is_internal,
            per_user_ttl, per_user_grants, resolver_called_once_per_request,
            errors_are_not_cached, error_body_has_exactly_two_fields,
            method_put_is_405, method_delete_is_405, method_patch_is_405, method_options_is_405,
            method_head_is_405,
            extractor_accepts, extractor_missing_matches_token_route,
            extractor_invalid_matches_token_route, extractor_forbidden_matches_token_route,
            extractor_unavailable_matches_token_route, unguarded_route_needs_no_credentials,
            concurrent_requests_all_succeed, no_secret_or_credential_in_responses_or_logs,
            failing_resolver_storm_does_not_degrade_good_requests,
            trusted_proxy_header_gives_a_token, untrusted_peer_cannot_name_itself,
            trusted_proxy_without_or_with_two_user_headers, cors_preflight_from_an_allowed_origin,
            cors_preflight_from_another_origin_is_refused, cors_headers_on_tokens_and_errors
        );
        mod login {
            $crate::suite!(@login $h;
                login_session_gives_a_token, login_without_session_is_missing_credentials,
                login_tampered_truncated_or_foreign_cookie_is_refused, login_signed_out_is_refused,
                login_lookup_errors_map_as_a_resolvers_do,
                login_panicking_or_hanging_lookup_and_the_server_survives, login_delete_is_405,
                login_cors_preflight_and_headers, login_user_policy_applies,
                login_app_routes_keep_their_own_pages,
                login_failing_extractor_is_a_500_that_names_it
            );
        }
        mod bad_input {
            $crate::suite!(@bad $h;
                auth_no_scheme, auth_two_spaces, auth_tab_separator, auth_trailing_garbage,
                auth_trailing_space, auth_leading_space, auth_scheme_only, auth_scheme_and_spaces,
                auth_other_scheme, auth_digest_scheme, auth_equals_instead_of_space,
                auth_quoted_token, auth_comma_list, auth_repeated_identical, auth_lower_case_name,
                auth_upper_case_name, auth_utf8_token, auth_latin1_bytes, auth_nul_byte,
                auth_control_byte, auth_4kb_token, auth_8kb_value, auth_64kb_value,
                auth_next_to_garbage_cookie, auth_with_odd_cookie, method_trace,
                method_options_preflight, method_delete_with_body, post_json_body,
                post_invalid_json_body, post_form_body, post_64kb_body, post_chunked_body,
                post_empty_body, get_with_body, query_identity_ignored, query_2kb,
                query_percent_encoded, query_empty, path_trailing_slash, path_upper_case,
                path_nul_escape, path_dot_segments, path_suffix, path_sub_resource,
                http10_request, absolute_form_target, proxy_mapped_other_address,
                proxy_mapped_client_address, proxy_mapped_client_network,
                proxy_mapped_other_network, proxy_ipv6_loopback_only,
                proxy_ipv6_network_over_mapped_space, proxy_neighbour_address,
                proxy_client_among_others, slow_header_does_not_block_good_requests
            );
        }
    };
    (@login $h:ty; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::login::$case::<$h>();
            }
        )*
    };
    (@bad $h:ty; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::bad_input::$case::<$h>();
            }
        )*
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
