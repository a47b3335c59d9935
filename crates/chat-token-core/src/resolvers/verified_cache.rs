//! The verified-token cache of [`JwtBearerResolver`](super::JwtBearerResolver): what a
//! successful verification found, kept under a digest of the whole token so that the
//! same bearer token is not verified again on every request.
//!
//! Bounded in entries and in bytes (oldest out first), never holding an entry past the
//! token's `exp` or a maximum age; only successes are stored, so tokens that fail
//! verification cannot fill it. A hit is checked again by the caller: `exp`/`nbf`
//! against the clock with the same leeway, and the key that verified it must still be
//! the key published under its id.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use super::jws::{VerifyingKey, Window};
use crate::crypto::HmacKey;

/// The digest key: the digest only has to be collision-resistant and fixed-size.
const DIGEST_KEY: &[u8] = b"chat-token verified bearer tokens v1";

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

struct Entry {
    verified: Verified,
    /// Past this Unix second the entry is gone, whatever `exp` says.
    until: u64,
    size: usize,
}

/// Counters of the cache, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedCacheStats {
    /// Entries held now.
    pub entries: usize,
    /// Bytes held now (an estimate: the identity, the claims' JSON and a fixed overhead).
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

#[derive(Default)]
struct Table {
    map: HashMap<[u8; 32], Entry>,
    /// Insertion order, oldest first; may name entries already removed.
    order: VecDeque<[u8; 32]>,
    bytes: usize,
}

pub(crate) struct VerifiedCache {
    digest: HmacKey,
    bounds: Bounds,
    table: Mutex<Table>,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

/// A fixed overhead per entry: the digest twice, the map slot, the `Arc`s.
const ENTRY_OVERHEAD: usize = 160;

impl VerifiedCache {
    pub(crate) fn new(bounds: Bounds) -> Self {
        Self {
            digest: HmacKey::new(DIGEST_KEY),
            bounds,
            table: Mutex::new(Table::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.bounds.entries > 0 && self.bounds.bytes > 0
    }

    /// The digest a token is kept under.
    pub(crate) fn digest(&self, token: &str) -> [u8; 32] {
        self.digest.sign(token.as_bytes())
    }

    /// The cached verification of the token with this digest, if it is still held at
    /// `now`; the caller checks times and key before using it.
    pub(crate) fn get(&self, digest: &[u8; 32], now: u64) -> Option<Verified> {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let found = match table.map.get(digest) {
            Some(entry) if entry.until >= now => Some(entry.verified.clone()),
            Some(_) => {
                if let Some(old) = table.map.remove(digest) {
                    table.bytes = table.bytes.saturating_sub(old.size);
                    self.evictions.fetch_add(1, Ordering::Relaxed);
                }
                None
            }
            None => None,
        };
        drop(table);
        match found {
            Some(_) => self.hits.fetch_add(1, Ordering::Relaxed),
            None => self.misses.fetch_add(1, Ordering::Relaxed),
        };
        found
    }

    /// Forgets the token with this digest (its key is gone, it has expired).
    pub(crate) fn remove(&self, digest: &[u8; 32]) {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = table.map.remove(digest) {
            table.bytes = table.bytes.saturating_sub(old.size);
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Keeps a successful verification, dropping the oldest entries to stay in bounds.
    /// An entry larger than a sixteenth of the byte bound is not kept.
    pub(crate) fn insert(&self, digest: [u8; 32], verified: Verified, now: u64) {
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
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = table.map.insert(
            digest,
            Entry {
                verified,
                until,
                size,
            },
        ) {
            table.bytes = table.bytes.saturating_sub(old.size);
        } else {
            table.order.push_back(digest);
        }
        table.bytes += size;
        while table.map.len() > self.bounds.entries || table.bytes > self.bounds.bytes {
            let Some(oldest) = table.order.pop_front() else {
                break;
            };
            if let Some(old) = table.map.remove(&oldest) {
                table.bytes = table.bytes.saturating_sub(old.size);
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Keep the order queue from growing with names of removed entries.
        if table.order.len() > 2 * table.map.len() + 64 {
            let Table { map, order, .. } = &mut *table;
            order.retain(|d| map.contains_key(d));
        }
    }

    pub(crate) fn stats(&self) -> VerifiedCacheStats {
        let table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        VerifiedCacheStats {
            entries: table.map.len(),
            bytes: table.bytes,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
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
    fn entries_and_bytes_are_bounded_oldest_out_first() {
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
        assert!(cache.get(&[0; 32], 1_000).is_none());
        assert!(cache.get(&[4; 32], 1_000).is_some());

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
