//! Many Twilio accounts behind one token service: a whole request through
//! `TokenService::answer` for a user the app's login identified, signed with the
//! service's own account or with the account of the user's tenant.
//!
//! - `tenants/single_account`: no tenant source, the service's own issuer (the
//!   reference of this binary);
//! - `tenants/single_tenant`: a source of one tenant, every request for it (warm cache);
//! - `tenants/10000_tenants`: a source of 10,000 tenants (each with its own account SID,
//!   API key SID, secret and chat service), a cache of 10,000 warmed by one pass over
//!   all of them, then requests spread over all 10,000 in a fixed pseudo-random order
//!   (a shuffled round, repeated: each tenant once per 10,000 requests);
//! - `tenants/scan_20000_over_10000`: a cache of 10,000 scanned round-robin by 20,000
//!   distinct tenants, so every request misses: fetch, check the tenant's default token,
//!   insert, and evict the oldest.
//!
//! Besides the timings, the binary writes `criterion/tenants/cache.json` under the
//! target directory: the heap bytes (and allocations) the cache holds per warm tenant,
//! counted during the warm-up pass of 10,000 tenants by a counting global allocator
//! (`allocation-counter`, per thread: the current-thread runtime runs every request on
//! the measuring thread), and the cache's length after one pass of 20,000 distinct
//! tenants over an empty cache of 10,000. Every timing in this binary runs under that
//! same allocator, so the rows compare like with like, but not with `benches/mint.rs`.
//!
//! Figures only: nothing here asserts a time.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chat_token_core::tenants::{Tenant, TenantCache, TenantError, TenantSource};
use chat_token_core::{
    Credentials, IncomingRequest, Resolved, TokenIssuer, TokenService, async_trait,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;

/// Tenants in the many-tenants case, and the cache's bound.
const TENANTS: usize = 10_000;
/// Distinct tenants in the scan of a cache of `TENANTS`.
const SCAN: usize = 20_000;
/// Longer than any run, so that no entry expires while it is measured.
const CACHE_TTL: Duration = Duration::from_secs(24 * 3600);

/// Tenants `t0` .. `t{count - 1}`, each with its own account, API key, secret and chat
/// service, built afresh on every fetch, as a source reading a database would.
struct Directory {
    count: usize,
    /// How many times the cache asked.
    fetches: Arc<AtomicUsize>,
}

/// Tenant `n`'s issuer: distinct SIDs and secret, its own chat service.
fn tenant_issuer(n: usize) -> TokenIssuer {
    let credentials = Credentials::try_new(
        format!("AC{n:032x}"),
        format!("SK{n:032x}"),
        format!("{n:08x}{}", "c".repeat(24)),
    )
    .expect("tenant credentials");
    TokenIssuer::new(credentials)
        .with_chat_service_sid(format!("IS{n:032x}"))
        .expect("tenant chat service")
}

#[async_trait]
impl TenantSource for Directory {
    async fn tenant(&self, id: &str) -> Result<Option<Tenant>, TenantError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let n = id
            .strip_prefix('t')
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n < self.count);
        Ok(n.map(|n| Tenant::new(tenant_issuer(n))))
    }
}

/// The service's own account (the single-account case, and the unused issuer of the
/// tenant cases).
fn own_issuer() -> TokenIssuer {
    TokenIssuer::new(
        Credentials::try_new(
            "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            "cccccccccccccccccccccccccccccccc",
        )
        .expect("credentials"),
    )
    .with_chat_service_sid("ISdddddddddddddddddddddddddddddddd")
    .expect("chat service")
}

/// A service with no tenant source.
fn single_account() -> TokenService {
    TokenService::without_resolver(own_issuer())
        .build()
        .expect("service")
}

/// A service whose source holds `count` tenants, with a cache of `entries`; and the
/// source's count of fetches.
fn with_tenants(count: usize, entries: usize) -> (TokenService, Arc<AtomicUsize>) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let service = TokenService::without_resolver(own_issuer())
        .tenants(Directory {
            count,
            fetches: fetches.clone(),
        })
        .tenant_cache(entries, CACHE_TTL)
        .build()
        .expect("service");
    (service, fetches)
}

/// The service's tenant cache.
fn cache(service: &TokenService) -> &TenantCache {
    service.tenant_cache().expect("a tenant cache")
}

/// The runtime every request runs on: one thread, the measuring one.
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Tenant ids `t0` .. `t{count - 1}`.
fn ids(count: usize) -> Vec<String> {
    (0..count).map(|n| format!("t{n}")).collect()
}

/// `ids` in a fixed pseudo-random order (Fisher-Yates driven by xorshift64).
fn shuffled(mut ids: Vec<String>) -> Vec<String> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..ids.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ids.swap(i, (state % (i as u64 + 1)) as usize);
    }
    ids
}

/// Answers one request for user `alice` of `tenant` (or of no tenant); the status.
async fn request(service: &TokenService, req: &IncomingRequest, tenant: Option<&str>) -> u16 {
    let resolved = match tenant {
        Some(tenant) => Resolved::new("alice").with_tenant(tenant),
        None => Resolved::new("alice"),
    };
    service.answer(req, async { Ok(resolved) }).await.status
}

/// One request for each of `ids`, in order; panics on any answer but 200.
fn pass(rt: &Runtime, service: &TokenService, req: &IncomingRequest, ids: &[String]) {
    rt.block_on(async {
        for id in ids {
            assert_eq!(request(service, req, Some(id)).await, 200, "tenant {id}");
        }
    });
}

/// Times `iters` requests within one `block_on` (entering the runtime is not part of
/// the figure), each for `tenant(offset)`, `offset` counting on from call to call.
fn time_requests<'a>(
    rt: &Runtime,
    service: &TokenService,
    req: &IncomingRequest,
    iters: u64,
    offset: &mut usize,
    tenant: impl Fn(usize) -> Option<&'a str>,
) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            black_box(request(service, req, tenant(*offset)).await);
            *offset = offset.wrapping_add(1);
        }
        start.elapsed()
    })
}

/// What the cache holds for `TENANTS` warm tenants, and its length after a scan.
struct CacheFigures {
    /// Warm tenants counted.
    tenants: usize,
    /// Heap bytes allocated and not freed while they were first served.
    bytes: i64,
    /// Allocations made and not freed while they were first served.
    allocations: i64,
    /// Distinct tenants of the scan.
    scan_tenants: usize,
    /// The cache's bound during the scan.
    scan_bound: usize,
    /// The cache's length after the scan.
    scan_len: usize,
    /// The largest length seen after any request of the scan.
    scan_max_len: usize,
    /// How long the scan took, in seconds (from an empty cache; the length read after
    /// every request included).
    scan_secs: f64,
}

impl CacheFigures {
    /// The figures as the JSON that `cargo xtask bench` reads.
    fn to_json(&self) -> serde_json::Value {
        let per_tenant = |n: i64| n as f64 / self.tenants as f64;
        serde_json::json!({
            "tenants": self.tenants,
            "bytes_held": self.bytes,
            "bytes_per_tenant": per_tenant(self.bytes),
            "allocations_per_tenant": per_tenant(self.allocations),
            "scan_tenants": self.scan_tenants,
            "scan_bound": self.scan_bound,
            "scan_len": self.scan_len,
            "scan_max_len": self.scan_max_len,
            "scan_secs": self.scan_secs,
        })
    }
}

/// The target directory this binary was built in (`<target>/<profile>/deps/<bench>`).
fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// Counts the heap the cache holds for `TENANTS` warm tenants, and scans a cache of
/// `TENANTS` with `SCAN` distinct tenants once; writes and prints the figures.
fn cache_figures(rt: &Runtime, req: &IncomingRequest) {
    // First calls initialise process-wide state (logging call sites, metrics handles):
    // not the cache's, so not counted.
    pass(rt, &with_tenants(1, 1).0, req, &ids(1));

    let (service, _) = with_tenants(TENANTS, TENANTS);
    let all = ids(TENANTS);
    let held = allocation_counter::measure(|| pass(rt, &service, req, &all));
    assert_eq!(cache(&service).len(), TENANTS);

    let (service, _) = with_tenants(SCAN, TENANTS);
    let all = ids(SCAN);
    let mut max_len = 0;
    let start = Instant::now();
    rt.block_on(async {
        for id in &all {
            assert_eq!(request(&service, req, Some(id)).await, 200, "tenant {id}");
            max_len = max_len.max(cache(&service).len());
        }
    });
    let scan_secs = start.elapsed().as_secs_f64();

    let figures = CacheFigures {
        tenants: TENANTS,
        bytes: held.bytes_current,
        allocations: held.count_current,
        scan_tenants: SCAN,
        scan_bound: TENANTS,
        scan_len: cache(&service).len(),
        scan_max_len: max_len,
        scan_secs,
    };
    let json = figures.to_json();
    let dir = target_dir().join("criterion/tenants");
    let path = dir.join("cache.json");
    let written =
        std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, format!("{json:#}\n")));
    if let Err(err) = written {
        eprintln!("could not write {}: {err}", path.display());
    }
    println!("tenants cache figures: {json}");
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    let req = IncomingRequest::new("GET", "/token");
    cache_figures(&rt, &req);

    let mut group = c.benchmark_group("tenants");
    group.throughput(Throughput::Elements(1));

    let service = single_account();
    let mut offset = 0;
    group.bench_function("single_account", |b| {
        b.iter_custom(|iters| time_requests(&rt, &service, &req, iters, &mut offset, |_| None))
    });

    let (service, fetches) = with_tenants(1, TENANTS);
    pass(&rt, &service, &req, &ids(1));
    let mut offset = 0;
    group.bench_function("single_tenant", |b| {
        b.iter_custom(|iters| {
            time_requests(&rt, &service, &req, iters, &mut offset, |_| Some("t0"))
        })
    });
    assert_eq!(
        fetches.load(Ordering::Relaxed),
        1,
        "the tenant stayed cached"
    );

    let (service, fetches) = with_tenants(TENANTS, TENANTS);
    let all = ids(TENANTS);
    pass(&rt, &service, &req, &all);
    let order = shuffled(all);
    let mut offset = 0;
    group.bench_function(format!("{TENANTS}_tenants"), |b| {
        b.iter_custom(|iters| {
            time_requests(&rt, &service, &req, iters, &mut offset, |i| {
                Some(order[i % order.len()].as_str())
            })
        })
    });
    assert_eq!(
        fetches.load(Ordering::Relaxed),
        TENANTS,
        "every tenant stayed cached"
    );

    let (service, _) = with_tenants(SCAN, TENANTS);
    let all = ids(SCAN);
    let mut offset = 0;
    group.bench_function(format!("scan_{SCAN}_over_{TENANTS}"), |b| {
        b.iter_custom(|iters| {
            time_requests(&rt, &service, &req, iters, &mut offset, |i| {
                Some(all[i % all.len()].as_str())
            })
        })
    });
    assert!(cache(&service).len() <= TENANTS, "the bound holds");
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
