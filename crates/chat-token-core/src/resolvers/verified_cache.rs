//! The verified-token cache of [`JwtBearerResolver`](super::JwtBearerResolver): what a
//! successful verification found, kept under a digest of the whole token so that the
//! same bearer token is not verified again on every request.
//!
//! Bounded in entries and in bytes, never holding an entry past the token's `exp` or a
//! maximum age; only successes are stored, so tokens that fail verification cannot fill
//! it. A hit is checked again by the caller: `exp`/`nbf` against the clock with the same
//! leeway, and the key that verified it must still be the key published under its id.
//!
//! The table is a [`quick_cache`] cache weighed in bytes: each entry weighs its size, and
//! at least the byte bound divided by the entry bound, so that one weight capacity keeps
//! both bounds; the cache evicts the entries least used. What is ours: the digest, the
//! size of an entry, the refusal of huge entries and the expiry checked on every read.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};

use super::jws::{VerifyingKey, Window};
use crate::crypto::LabelledDigest;

/// What one cached verification holds.
#[derive(Clone)]
pub(crate) struct Verified {
    /// The identity claim's value.
    pub(crate) identity: String,
    /// Every claim, shared with the `Resolved` answers.
    pub(crate) claims: Arc<Map<String, Value>>,
    /// The token's `exp` and `nbf` (Unix seconds).
    pub(crate) window: Window,
    /// The key that verified it and the id it was published under (`None` for a shared
    /// HS256 secret).
    pub(crate) key: Option<(Option<String>, Arc<VerifyingKey>)>,
}

#[derive(Clone)]
struct Entry {
    verified: Verified,
    /// Past this Unix second the entry is gone, whatever `exp` says.
    until: u64,
    size: u64,
}

/// Counters of the cache, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedCacheStats {
    /// Entries held now.
    pub entries: usize,
    /// Bytes charged now: each entry's size (an estimate: the identity, the claims' JSON
    /// and a fixed overhead), and at least the byte bound divided by the entry bound.
    pub bytes: usize,
    /// Requests answered from the cache.
    pub hits: u64,
    /// Requests that had to verify the token.
    pub misses: u64,
    /// Entries dropped to stay within the bounds, or because they aged out.
    pub evictions: u64,
}

/// The bounds of the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounds {
    pub(crate) entries: usize,
    pub(crate) bytes: usize,
    pub(crate) max_age_secs: u64,
}

/// An entry's weight: its size, and at least the share of the byte bound that keeps the
/// entry bound.
#[derive(Clone)]
struct Charge {
    least: u64,
}

impl quick_cache::Weighter<[u8; 32], Entry> for Charge {
    fn weight(&self, _: &[u8; 32], entry: &Entry) -> u64 {
        entry.size.max(self.least)
    }
}

/// Counts the entries the cache drops to stay within its bounds.
#[derive(Clone, Default)]
struct CountEvictions(Arc<AtomicU64>);

impl quick_cache::Lifecycle<[u8; 32], Entry> for CountEvictions {
    type RequestState = ();

    fn on_evict(&self, _: &mut (), _: [u8; 32], _: Entry) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// The label the token digests start with: one SHA-256 block.
const DIGEST_LABEL: &[u8; 64] = b"chat-token verified bearer tokens v2: SHA-256 of this and a JWT.";

type Table = quick_cache::sync::Cache<
    [u8; 32],
    Entry,
    Charge,
    quick_cache::DefaultHashBuilder,
    CountEvictions,
>;

pub(crate) struct VerifiedCache {
    bounds: Bounds,
    digest: LabelledDigest,
    /// `None` when either bound is zero (the cache is off).
    table: Option<Table>,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: CountEvictions,
}

/// A fixed overhead per entry: the digest twice, the map slot, the `Arc`s.
const ENTRY_OVERHEAD: usize = 160;

/// The most bytes the cache counts on, whatever it is given (1 TiB).
const MAX_BYTES: u64 = 1 << 40;

impl VerifiedCache {
    pub(crate) fn new(bounds: Bounds) -> Self {
        let evictions = CountEvictions::default();
        let table = (bounds.entries > 0 && bounds.bytes > 0)
            .then(|| {
                // Every entry weighs at least `least`, and the capacity holds at most
                // `entries` such entries: both bounds hold. (quick_cache admits no entry
                // heavier than 97% of its capacity: a bound of one entry charges 90%.)
                // No entry is smaller than the fixed overhead, so no more of them than
                // that fit in the bytes are counted on; and the bytes stay far below
                // where the cache's sums of weights would overflow.
                let bytes = (bounds.bytes as u64).min(MAX_BYTES);
                let entries = (bounds.entries as u64)
                    .min(bytes / ENTRY_OVERHEAD as u64)
                    .max(1);
                let (least, capacity) = match entries {
                    1 => ((bytes / 10 * 9).max(1), bytes),
                    _ => ((bytes / entries).max(1), (bytes / entries) * entries),
                };
                quick_cache::OptionsBuilder::new()
                    // Also sizes the memory of keys recently let go (half as many).
                    .estimated_items_capacity(usize::try_from(entries).unwrap_or(usize::MAX))
                    .weight_capacity(capacity.min(bytes).max(1))
                    // One shard: a sharded table's bound is its shards' bounds rounded up.
                    .shards(1)
                    .build()
                    .ok()
                    .map(|options| {
                        Table::with_options(
                            options,
                            Charge { least },
                            Default::default(),
                            evictions.clone(),
                        )
                    })
            })
            .flatten();
        Self {
            bounds,
            digest: LabelledDigest::new(DIGEST_LABEL),
            table,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions,
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.table.is_some()
    }

    /// The digest a token is kept under.
    pub(crate) fn digest(&self, token: &str) -> [u8; 32] {
        self.digest.digest(token.as_bytes())
    }

    /// The cached verification of the token with this digest, if it is still held at
    /// `now`; the caller checks times and key before using it.
    pub(crate) fn get(&self, digest: &[u8; 32], now: u64) -> Option<Verified> {
        let table = self.table.as_ref()?;
        let found = match table.get(digest) {
            Some(entry) if entry.until >= now => Some(entry.verified),
            Some(_) => {
                self.remove(digest);
                None
            }
            None => None,
        };
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Forgets the token with this digest (its key is gone, it has expired).
    pub(crate) fn remove(&self, digest: &[u8; 32]) {
        if let Some(table) = &self.table
            && table.remove(digest).is_some()
        {
            self.evictions.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Keeps a successful verification; the cache drops others to stay in bounds. An
    /// entry larger than a sixteenth of the byte bound is not kept.
    pub(crate) fn insert(&self, digest: [u8; 32], verified: Verified, now: u64) {
        let Some(table) = &self.table else {
            return;
        };
        let size = ENTRY_OVERHEAD
            + verified.identity.len()
            + serde_json::to_string(&*verified.claims).map_or(0, |s| s.len());
        if size > self.bounds.bytes / 16 {
            return;
        }
        let until = verified
            .window
            .exp
            .min(now.saturating_add(self.bounds.max_age_secs));
        if until < now {
            return;
        }
        table.insert(
            digest,
            Entry {
                verified,
                until,
                size: size as u64,
            },
        );
    }

    pub(crate) fn stats(&self) -> VerifiedCacheStats {
        let (entries, bytes) = self
            .table
            .as_ref()
            .map_or((0, 0), |t| (t.len(), t.weight() as usize));
        VerifiedCacheStats {
            entries,
            bytes,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.0.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(identity: &str, exp: u64) -> Verified {
        Verified {
            identity: identity.to_owned(),
            claims: Arc::new(Map::new()),
            window: Window { exp, nbf: None },
            key: None,
        }
    }

    #[test]
    fn entries_and_bytes_are_bounded() {
        let cache = VerifiedCache::new(Bounds {
            entries: 3,
            bytes: 1 << 20,
            max_age_secs: 600,
        });
        for n in 0..5u8 {
            cache.insert([n; 32], verified("u", 2_000), 1_000);
        }
        let stats = cache.stats();
        assert_eq!(stats.entries, 3);
        assert_eq!(stats.evictions, 2);
        assert!(cache.get(&[4; 32], 1_000).is_some(), "the newest is kept");

        let small = VerifiedCache::new(Bounds {
            entries: 1_000,
            bytes: 16 * (ENTRY_OVERHEAD + 64),
            max_age_secs: 600,
        });
        for n in 0..100u8 {
            small.insert([n; 32], verified("u", 2_000), 1_000);
        }
        let stats = small.stats();
        assert!(stats.bytes <= 16 * (ENTRY_OVERHEAD + 64), "{stats:?}");
        assert!(stats.entries < 100, "{stats:?}");

        // Both bounds hold whichever is the tighter, with entries of every size, and
        // the cache keeps some whatever the settings (an entry bound over what the bytes
        // hold, bytes beyond any memory).
        for (entries, bytes) in [
            (4, 16 * 4_000),
            (7, 1 << 20),
            (50, 16 * 300),
            (1, 4_096),
            (20_000_000, 16 << 20),
            (usize::MAX, 1 << 20),
            (3, usize::MAX),
            (usize::MAX, usize::MAX),
        ] {
            let cache = VerifiedCache::new(Bounds {
                entries,
                bytes,
                max_age_secs: 600,
            });
            for n in 0..=255u8 {
                let identity = "u".repeat(usize::from(n) * 7 % 200);
                cache.insert([n; 32], verified(&identity, 2_000), 1_000);
                let stats = cache.stats();
                assert!(stats.entries <= entries, "{entries} {bytes}: {stats:?}");
                assert!(stats.bytes <= bytes, "{entries} {bytes}: {stats:?}");
            }
            assert!(cache.stats().entries > 0, "{entries} {bytes}");
        }
    }

    #[test]
    fn entries_leave_at_exp_or_the_maximum_age() {
        let cache = VerifiedCache::new(Bounds {
            entries: 10,
            bytes: 1 << 20,
            max_age_secs: 60,
        });
        cache.insert([1; 32], verified("short", 1_030), 1_000);
        cache.insert([2; 32], verified("long", 9_999), 1_000);
        assert!(cache.get(&[1; 32], 1_030).is_some());
        assert!(cache.get(&[1; 32], 1_031).is_none());
        assert!(cache.get(&[2; 32], 1_060).is_some());
        assert!(cache.get(&[2; 32], 1_061).is_none());
        assert_eq!(cache.stats().entries, 0);
    }

    #[test]
    fn a_huge_entry_is_not_kept() {
        let cache = VerifiedCache::new(Bounds {
            entries: 10,
            bytes: 16 * 1024,
            max_age_secs: 60,
        });
        let mut claims = Map::new();
        claims.insert("pad".into(), Value::String("x".repeat(2_000)));
        let big = Verified {
            claims: Arc::new(claims),
            ..verified("u", 2_000)
        };
        cache.insert([9; 32], big, 1_000);
        assert_eq!(cache.stats().entries, 0);
    }
}
