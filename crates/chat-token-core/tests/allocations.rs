//! Pins the heap allocations of minting one token, with a counting global allocator, so
//! that a regression fails CI without any timing. This file holds a single test: the
//! allocator counts for the whole process.

use std::alloc::System;

use chat_token_core::{AccessToken, ChatGrant, Credentials, FixedClock, TokenIssuer};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The most allocations one mint may make.
const MAX_ALLOCATIONS_PER_MINT: usize = 1;

#[test]
fn minting_allocates_at_most_once_per_token() {
    let issuer = TokenIssuer::new(
        Credentials::try_new(
            "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            "cccccccccccccccccccccccccccccccc",
        )
        .expect("credentials"),
    )
    .with_clock(FixedClock(1_700_000_000));
    let token = AccessToken::new().identity("alice").grant(
        ChatGrant::new()
            .service_sid("ISdddddddddddddddddddddddddddddddd")
            .endpoint_id("app:alice@example.com:browser")
            .push_credential_sid("CReeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"),
    );
    let regional = token.clone().region("ie1");
    // Warm up the thread's buffer.
    drop(issuer.mint(&token).expect("mint"));

    const ROUNDS: usize = 1000;
    let region = Region::new(GLOBAL);
    let mut total_len = 0;
    for _ in 0..ROUNDS {
        total_len += issuer.mint(&token).expect("mint").jwt().len();
        total_len += issuer.mint(&regional).expect("mint").jwt().len();
    }
    let stats = region.change();
    assert!(total_len > 0);
    let per_mint = stats.allocations as f64 / (2 * ROUNDS) as f64;
    assert!(
        stats.allocations <= MAX_ALLOCATIONS_PER_MINT * 2 * ROUNDS,
        "{per_mint} allocations per mint, over {MAX_ALLOCATIONS_PER_MINT}"
    );
    assert_eq!(stats.reallocations, 0, "the JWT string was resized");
    eprintln!("allocations per mint: {per_mint}");
}
