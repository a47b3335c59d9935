//! Pins the heap allocations of minting one token, and of one token request through the
//! service, with a counting global allocator, so that a regression fails CI without any
//! timing.
//!
//! The allocator (`allocation-counter`) counts per thread: only what the measuring
//! thread allocates is counted, so neither the test harness, another test nor any other
//! thread of the process moves the figure, however busy the machine is. A reallocation
//! counts as an allocation, so a JWT string that had to grow shows as a second one.

use std::hint::black_box;
use std::sync::mpsc;
use std::thread;

use allocation_counter::{AllocationInfo, measure, opt_out};
use chat_token_core::{
    AccessToken, ChatGrant, Credentials, IncomingRequest, StaticUsers, TokenIssuer, TokenService,
    clock::FixedClock,
};

/// The most allocations one mint may make.
const MAX_ALLOCATIONS_PER_MINT: u64 = 1;

/// The most allocations one token request through `TokenService::handle` may make, the
/// request's own snapshot aside: the users table's future, the identity it resolves, the
/// token's identity, the body (the JWT written into it) and the reply's headers.
const MAX_ALLOCATIONS_PER_REQUEST: u64 = 5;

/// Mints of each token per measurement.
const ROUNDS: u64 = 1000;

fn issuer() -> TokenIssuer {
    TokenIssuer::new(
        Credentials::try_new(
            "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            "cccccccccccccccccccccccccccccccc",
        )
        .expect("credentials"),
    )
    .with_clock(FixedClock(1_700_000_000))
}

/// The token of the design reference, without and with a region.
fn tokens() -> [AccessToken; 2] {
    let token = AccessToken::new().with_identity("alice").with_grant(
        ChatGrant::new()
            .with_service_sid("ISdddddddddddddddddddddddddddddddd")
            .with_endpoint_id("app:alice@example.com:browser")
            .with_push_credential_sid("CReeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"),
    );
    let regional = token.clone().with_region("ie1");
    [token, regional]
}

/// Passes when `info`, counted over `mints` mints, is within the budget.
fn within_budget(info: &AllocationInfo, mints: u64) -> Result<f64, String> {
    let per_mint = info.count_total as f64 / mints as f64;
    if info.count_total > MAX_ALLOCATIONS_PER_MINT * mints {
        return Err(format!(
            "{per_mint} allocations per mint, over {MAX_ALLOCATIONS_PER_MINT}"
        ));
    }
    Ok(per_mint)
}

/// Mints every token `ROUNDS` times on this thread, with `extra` run after each mint, and
/// returns what this thread allocated and the number of mints. Every `ROUNDS / 10`
/// rounds another thread allocates while this one waits for it (the handshake itself is
/// not counted), so a count that saw other threads would be over budget.
fn count_mints(extra: impl Fn(&str)) -> (AllocationInfo, u64) {
    let issuer = issuer();
    let tokens = tokens();
    // Warm up the thread's scratch buffer with every token shape.
    for token in &tokens {
        drop(issuer.mint(token).expect("mint"));
    }
    let (ask, asked) = mpsc::channel::<()>();
    let (tell, told) = mpsc::channel::<()>();
    let other = thread::spawn(move || {
        for () in asked {
            for _ in 0..(4 * ROUNDS) {
                black_box(vec![0u8; 64]);
            }
            if tell.send(()).is_err() {
                break;
            }
        }
    });
    let mut total_len = 0;
    let info = measure(|| {
        for round in 0..ROUNDS {
            for token in &tokens {
                let minted = issuer.mint(token).expect("mint");
                total_len += minted.jwt().len();
                extra(minted.jwt());
            }
            if round % (ROUNDS / 10) == 0 {
                opt_out(|| {
                    ask.send(()).expect("the allocating thread is running");
                    told.recv().expect("the allocating thread answers");
                });
            }
        }
    });
    drop(ask);
    other.join().expect("the allocating thread");
    assert!(total_len > 0);
    (info, ROUNDS * tokens.len() as u64)
}

#[test]
fn the_counter_sees_this_threads_allocations() {
    let info = measure(|| drop(black_box(Box::new(7u64))));
    assert_eq!(
        info.count_total, 1,
        "the counting allocator is not the global allocator"
    );
}

#[test]
fn minting_allocates_at_most_once_per_token() {
    let (info, mints) = count_mints(|_| {});
    let per_mint = within_budget(&info, mints).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(info.count_current, 0, "minting leaked an allocation");
    eprintln!("allocations per mint: {per_mint}");
}

#[test]
fn one_more_allocation_per_mint_is_over_budget() {
    let (info, mints) = count_mints(|jwt| drop(black_box(jwt.to_owned())));
    assert_eq!(
        within_budget(&info, mints),
        Err(format!(
            "2 allocations per mint, over {MAX_ALLOCATIONS_PER_MINT}"
        ))
    );
}

#[test]
fn a_token_request_allocates_within_its_budget() {
    use futures_util::FutureExt as _;
    let users: StaticUsers = "tok-0123456789abcdef=alice".parse().expect("users");
    // Kept in an `Arc` by the app, as a shared resolver is: that costs nothing per request.
    let service = TokenService::builder(issuer(), std::sync::Arc::new(users))
        .grants(tokens()[0].grants().iter().cloned())
        .build()
        .expect("service");
    let req = IncomingRequest::new("GET", "/token")
        .with_header("authorization", "Bearer tok-0123456789abcdef");
    let answer = || {
        service
            .handle(&req)
            .now_or_never()
            .expect("ready at the first poll")
    };
    // Warm up the thread's scratch buffer.
    assert_eq!(answer().status, 200);
    let info = measure(|| {
        for _ in 0..ROUNDS {
            assert_eq!(answer().status, 200);
        }
    });
    let per_request = info.count_total as f64 / ROUNDS as f64;
    assert!(
        info.count_total <= MAX_ALLOCATIONS_PER_REQUEST * ROUNDS,
        "{per_request} allocations per token request, over {MAX_ALLOCATIONS_PER_REQUEST}"
    );
    assert_eq!(
        info.count_current, 0,
        "a token request leaked an allocation"
    );
    eprintln!("allocations per token request: {per_request}");
}
