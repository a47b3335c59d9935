//! [`StaticUsers`]: a fixed table of bearer tokens and the identities they stand for.
//!
//! The table keeps a SHA-256 digest of each token (after a label of its own), never the
//! token itself, in a hash map. A lookup computes one digest of the presented token and
//! one map probe, so its cost does not grow with the table, and its timing tells nothing
//! about the other entries or about how long the valid tokens are.

use std::collections::HashMap;
use std::fmt;

use async_trait::async_trait;

use crate::crypto::LabelledDigest;
use crate::request::IncomingRequest;
use crate::resolver::{IdentityResolver, ResolveError, Resolved};
use crate::tenants::valid_tenant_id;

/// The shortest bearer token [`StaticUsers::try_new`] accepts, in characters: shorter
/// ones can be guessed.
pub const MIN_STATIC_TOKEN_LEN: usize = 16;

/// Why a users table (`CHAT_TOKEN_USERS`, `--users-file`) was refused. No message
/// repeats a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsersParseError {
    /// An entry has no `=`.
    #[error(
        "users entry {entry} has no '='; write entries as token=identity, separated by commas or new lines"
    )]
    MissingEquals {
        /// The entry's position, from 1.
        entry: usize,
    },
    /// An entry's token is empty or not visible ASCII.
    #[error(
        "users entry {entry} has an empty token, or one with characters other than visible ASCII"
    )]
    BadToken {
        /// The entry's position, from 1.
        entry: usize,
    },
    /// An entry's token is too short to be safe from guessing.
    #[error(
        "users entry {entry} has a token shorter than {min} characters; use long random tokens (e.g. `openssl rand -hex 24`)"
    )]
    ShortToken {
        /// The entry's position, from 1.
        entry: usize,
        /// The shortest length accepted.
        min: usize,
    },
    /// An entry's identity is not a valid identity.
    #[error("users entry {entry} has an invalid identity: {source}")]
    BadIdentity {
        /// The entry's position, from 1.
        entry: usize,
        /// Why.
        source: crate::identity::IdentityError,
    },
    /// An entry's tenant cannot name a tenant (see [`valid_tenant_id`]).
    #[error(
        "users entry {entry} has an invalid tenant: it must be 1 to {max} bytes without control characters",
        max = crate::tenants::MAX_TENANT_ID_LEN
    )]
    BadTenant {
        /// The entry's position, from 1.
        entry: usize,
    },
    /// Two entries have the same token.
    #[error("users entries {first} and {second} have the same token; every token must be unique")]
    DuplicateToken {
        /// The first entry, from 1.
        first: usize,
        /// The second entry, from 1.
        second: usize,
    },
    /// The list has no entry.
    #[error("the users list is empty; give at least one token=identity entry")]
    Empty,
    /// An entry names its tenant twice.
    #[error("users entry {entry} names its tenant twice; give one ;tenant=id")]
    TenantTwice {
        /// The entry's position, from 1.
        entry: usize,
    },
    /// An entry has an attribute other than `;tenant=` (`;Tenant=acme`, `;team=x`), which
    /// would otherwise be read as part of the identity.
    #[error(
        "users entry {entry} has an attribute other than ;tenant= (written in lower case, after the identity: token=identity;tenant=id)"
    )]
    UnknownAttribute {
        /// The entry's position, from 1.
        entry: usize,
    },
}

/// The name of the attribute `part` (what follows a `;`) writes, if it writes one:
/// `name=value`, white space around the name allowed.
fn attribute(part: &str) -> Option<&str> {
    let (name, _) = part.split_once('=')?;
    let name = name.trim();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    (!name.is_empty() && name.bytes().all(word)).then_some(name)
}

/// An entry's identity and tenant from what follows its `token=`: the identity, then
/// attributes (`;tenant=id`, white space around each part allowed). Identities may hold
/// `;` and `=`, but not `;name=`, which is read as an attribute.
fn identity_and_tenant(rest: &str, entry: usize) -> Result<(&str, Option<&str>), UsersParseError> {
    let mut parts = rest.split(';');
    let mut identity_end = parts.next().map_or(0, str::len);
    let mut tenant = None;
    for part in parts {
        match attribute(part) {
            // Not an attribute: the identity goes on, unless an attribute came before.
            None if tenant.is_none() => identity_end += 1 + part.len(),
            Some("tenant") if tenant.is_none() => {
                let (_, id) = part.split_once('=').unwrap_or_default();
                if id.trim().is_empty() {
                    return Err(UsersParseError::BadTenant { entry });
                }
                tenant = Some(id.trim());
            }
            Some("tenant") => return Err(UsersParseError::TenantTwice { entry }),
            _ => return Err(UsersParseError::UnknownAttribute { entry }),
        }
    }
    Ok((rest[..identity_end].trim(), tenant))
}

/// The label the token digests start with: one SHA-256 block.
const DIGEST_LABEL: &[u8; 64] = b"chat-token static users, v2: SHA-256 of this block and the token";

type Digest = [u8; 32];

struct Entry {
    identity: String,
    tenant: Option<String>,
    position: usize,
}

/// A fixed table of bearer tokens and the identities they stand for. For development,
/// demos and small or large internal deployments: a lookup costs one digest and one
/// hash-map probe, whatever the table's size.
///
/// ```
/// use chat_token_core::StaticUsers;
///
/// let users: StaticUsers = "tok-1-9f8e7d6c5b4a=alice, tok-2-0a1b2c3d4e5f=bob@example.com".parse()?;
/// assert_eq!(users.len(), 2);
/// assert_eq!(users.lookup("tok-2-0a1b2c3d4e5f"), Some("bob@example.com"));
/// # Ok::<(), chat_token_core::resolvers::UsersParseError>(())
/// ```
#[derive(Clone)]
pub struct StaticUsers {
    digest: std::sync::Arc<LabelledDigest>,
    users: std::sync::Arc<HashMap<Digest, Entry>>,
}

impl fmt::Debug for StaticUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticUsers")
            .field("identities", &self.identities().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl StaticUsers {
    /// Builds the table from `(token, identity)` pairs, checking each: tokens of visible
    /// ASCII, at least [`MIN_STATIC_TOKEN_LEN`] characters, unique; identities valid.
    pub fn try_new<T, I>(pairs: impl IntoIterator<Item = (T, I)>) -> Result<Self, UsersParseError>
    where
        T: Into<String>,
        I: Into<String>,
    {
        Self::try_with_tenants(pairs.into_iter().map(|(t, i)| (t, i, None)))
    }

    /// As [`try_new`](Self::try_new), each user with the tenant it belongs to, if any
    /// (see [`Resolved::with_tenant`]).
    pub fn try_with_tenants<T, I>(
        entries: impl IntoIterator<Item = (T, I, Option<String>)>,
    ) -> Result<Self, UsersParseError>
    where
        T: Into<String>,
        I: Into<String>,
    {
        let digest = LabelledDigest::new(DIGEST_LABEL);
        let mut users: HashMap<Digest, Entry> = HashMap::new();
        for (n, (token, identity, tenant)) in entries.into_iter().enumerate() {
            let entry = n + 1;
            let token: String = token.into();
            let identity: String = identity.into();
            if token.is_empty() || !token.bytes().all(|b| (0x21..0x7f).contains(&b)) {
                return Err(UsersParseError::BadToken { entry });
            }
            if token.len() < MIN_STATIC_TOKEN_LEN {
                return Err(UsersParseError::ShortToken {
                    entry,
                    min: MIN_STATIC_TOKEN_LEN,
                });
            }
            crate::identity::IdentityRules::basic()
                .check(&identity)
                .map_err(|source| UsersParseError::BadIdentity { entry, source })?;
            if tenant
                .as_deref()
                .is_some_and(|t| !t.is_empty() && !valid_tenant_id(t))
            {
                return Err(UsersParseError::BadTenant { entry });
            }
            let key = digest.digest(token.as_bytes());
            if let Some(first) = users.get(&key) {
                return Err(UsersParseError::DuplicateToken {
                    first: first.position,
                    second: entry,
                });
            }
            users.insert(
                key,
                Entry {
                    identity,
                    tenant: tenant.filter(|t| !t.is_empty()),
                    position: entry,
                },
            );
        }
        if users.is_empty() {
            return Err(UsersParseError::Empty);
        }
        Ok(Self {
            digest: std::sync::Arc::new(digest),
            users: std::sync::Arc::new(users),
        })
    }

    /// The development mode's demo users, whose tokens are public and short: only
    /// [`EnvSetup`](crate::setup::EnvSetup) hands them out, and only in development mode.
    #[cfg(feature = "setup")]
    pub(crate) fn demo(pairs: &[(&str, &str)]) -> Self {
        let digest = LabelledDigest::new(DIGEST_LABEL);
        let users = pairs
            .iter()
            .enumerate()
            .map(|(n, (token, identity))| {
                (
                    digest.digest(token.as_bytes()),
                    Entry {
                        identity: (*identity).to_owned(),
                        tenant: None,
                        position: n + 1,
                    },
                )
            })
            .collect();
        Self {
            digest: std::sync::Arc::new(digest),
            users: std::sync::Arc::new(users),
        }
    }

    /// How many users the table holds.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the table is empty (never true for a table built by `try_new`).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The identities, in table order.
    pub fn identities(&self) -> impl Iterator<Item = &str> {
        let mut entries: Vec<&Entry> = self.users.values().collect();
        entries.sort_unstable_by_key(|e| e.position);
        entries.into_iter().map(|e| e.identity.as_str())
    }

    /// The identity for `token`: one digest of `token`, one hash-map probe.
    pub fn lookup(&self, token: &str) -> Option<&str> {
        self.users
            .get(&self.digest.digest(token.as_bytes()))
            .map(|e| e.identity.as_str())
    }
}

impl std::str::FromStr for StaticUsers {
    type Err = UsersParseError;

    /// Parses `token=identity` entries separated by commas or new lines; blank entries
    /// and lines starting with `#` are skipped; white space around each part is trimmed.
    /// An entry `token=identity;tenant=acme` names the user's tenant too (white space
    /// around `;`, `tenant` and `=` allowed); another `;name=` in an entry is refused.
    fn from_str(s: &str) -> Result<Self, UsersParseError> {
        let mut pairs = Vec::new();
        let entries = s
            .split([',', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty() && !e.starts_with('#'));
        for (n, entry) in entries.enumerate() {
            let (token, identity) = entry
                .split_once('=')
                .ok_or(UsersParseError::MissingEquals { entry: n + 1 })?;
            let (identity, tenant) = identity_and_tenant(identity, n + 1)?;
            pairs.push((
                token.trim().to_owned(),
                identity.to_owned(),
                tenant.map(str::to_owned),
            ));
        }
        Self::try_with_tenants(pairs)
    }
}

#[async_trait]
impl IdentityResolver for StaticUsers {
    async fn resolve(&self, req: &IncomingRequest) -> Result<Resolved, ResolveError> {
        let token = req.bearer_token()?;
        match self.users.get(&self.digest.digest(token.as_bytes())) {
            Some(Entry {
                identity,
                tenant: Some(tenant),
                ..
            }) => Ok(Resolved::new(identity).with_tenant(tenant)),
            Some(entry) => Ok(Resolved::new(&entry.identity)),
            None => Err(ResolveError::invalid("unknown bearer token")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: &str = "tok1-aaaaaaaaaaaaaaaa";
    const T2: &str = "tok2-bbbbbbbbbbbbbbbb";
    const T3: &str = "tok3-cccccccccccccccc";

    #[tokio::test]
    async fn an_entry_may_name_its_tenant() {
        let users: StaticUsers = format!("{T1}=alice;tenant=acme\n{T2}=bob").parse().unwrap();
        let ask = |t: &str| {
            IncomingRequest::new("GET", "/token")
                .with_header("authorization", format!("Bearer {t}"))
        };
        let alice = users.resolve(&ask(T1)).await.unwrap();
        assert_eq!((alice.identity(), alice.tenant()), ("alice", Some("acme")));
        let bob = users.resolve(&ask(T2)).await.unwrap();
        assert_eq!((bob.identity(), bob.tenant()), ("bob", None));
        let long = "t".repeat(crate::tenants::MAX_TENANT_ID_LEN + 1);
        for bad in [
            format!("{T1}=alice;tenant=a\u{7}b"),
            format!("{T1}=alice;tenant={long}"),
            format!("{T1}=alice;tenant="),
            format!("{T1}=alice;tenant= "),
        ] {
            assert!(matches!(
                bad.parse::<StaticUsers>(),
                Err(UsersParseError::BadTenant { entry: 1 })
            ));
        }
        // White space around the parts is allowed, as around the token and identity.
        for spaced in [
            format!("{T1}=alice; tenant=acme"),
            format!("{T1}=alice;tenant =acme"),
            format!("{T1}= alice ; tenant = acme "),
        ] {
            let users: StaticUsers = spaced.parse().unwrap();
            let alice = users.resolve(&ask(T1)).await.unwrap();
            assert_eq!(
                (alice.identity(), alice.tenant()),
                ("alice", Some("acme")),
                "{spaced}"
            );
        }
        // Identities may hold `;` and `=`, but not `;name=`.
        let users: StaticUsers = format!("{T1}=a;=b;c\n{T2}=x=y").parse().unwrap();
        assert_eq!(users.lookup(T1), Some("a;=b;c"));
        assert_eq!(users.lookup(T2), Some("x=y"));
        assert!(matches!(
            format!("{T1}=alice;tenant=acme; tenant=globex").parse::<StaticUsers>(),
            Err(UsersParseError::TenantTwice { entry: 1 })
        ));
        // A typo in an attribute is refused, not read as part of the identity.
        for bad in [
            format!("{T1}=alice;Tenant=acme"),
            format!("{T1}=alice;foo=bar"),
            format!("{T1}=alice; foo =bar"),
            format!("{T1}=alice;team=x;tenant=acme"),
            format!("{T1}=alice;tenant=acme;team=x"),
        ] {
            assert!(
                matches!(
                    bad.parse::<StaticUsers>(),
                    Err(UsersParseError::UnknownAttribute { entry: 1 })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn parses_users() {
        let users: StaticUsers =
            format!("{T1}=alice,{T2}=bob@example.com\n# comment\n {T3} = carol ,")
                .parse()
                .unwrap();
        assert_eq!(users.len(), 3);
        assert_eq!(users.lookup(T1), Some("alice"));
        assert_eq!(users.lookup(T3), Some("carol"));
        assert_eq!(users.lookup(&T1[..T1.len() - 1]), None);
        assert_eq!(users.lookup(""), None);
        assert_eq!(
            users.identities().collect::<Vec<_>>(),
            ["alice", "bob@example.com", "carol"]
        );
    }

    #[test]
    fn rejects_bad_lists_without_echoing_tokens() {
        assert_eq!(
            "".parse::<StaticUsers>().unwrap_err(),
            UsersParseError::Empty
        );
        assert_eq!(
            "secret-tok".parse::<StaticUsers>().unwrap_err(),
            UsersParseError::MissingEquals { entry: 1 }
        );
        assert_eq!(
            format!("{T1}=x,=y").parse::<StaticUsers>().unwrap_err(),
            UsersParseError::BadToken { entry: 2 }
        );
        assert!(matches!(
            format!("{T1}=").parse::<StaticUsers>().unwrap_err(),
            UsersParseError::BadIdentity { entry: 1, .. }
        ));
        let err = "dup-secret-0123456789=x,dup-secret-0123456789=y"
            .parse::<StaticUsers>()
            .unwrap_err();
        assert_eq!(
            err,
            UsersParseError::DuplicateToken {
                first: 1,
                second: 2
            }
        );
        assert!(!err.to_string().contains("dup-secret"));
        let users: StaticUsers = "hidden-token-0123456789=alice".parse().unwrap();
        assert!(!format!("{users:?}").contains("hidden-token"));
    }

    #[test]
    fn short_tokens_are_refused() {
        let err = "t1=alice".parse::<StaticUsers>().unwrap_err();
        assert_eq!(
            err,
            UsersParseError::ShortToken {
                entry: 1,
                min: MIN_STATIC_TOKEN_LEN
            }
        );
        assert!(!err.to_string().contains("t1="), "{err}");
        let fifteen = "a".repeat(MIN_STATIC_TOKEN_LEN - 1);
        assert!(format!("{fifteen}=alice").parse::<StaticUsers>().is_err());
        let sixteen = "a".repeat(MIN_STATIC_TOKEN_LEN);
        assert!(format!("{sixteen}=alice").parse::<StaticUsers>().is_ok());
    }

    #[test]
    fn large_tables_build_and_look_up() {
        let pairs: Vec<(String, String)> = (0..50_000)
            .map(|n| (format!("tok-{n:016}"), format!("user{n}")))
            .collect();
        let users = StaticUsers::try_new(pairs).unwrap();
        assert_eq!(users.len(), 50_000);
        assert_eq!(users.lookup("tok-0000000000049999"), Some("user49999"));
        assert_eq!(users.lookup("tok-0000000000050000"), None);
        let mut dup: Vec<(String, String)> = (0..1000)
            .map(|n| (format!("tok-{n:016}"), format!("user{n}")))
            .collect();
        dup.push(("tok-0000000000000007".into(), "again".into()));
        assert_eq!(
            StaticUsers::try_new(dup).unwrap_err(),
            UsersParseError::DuplicateToken {
                first: 8,
                second: 1001
            }
        );
    }

    #[tokio::test]
    async fn resolves_bearer_tokens() {
        let users: StaticUsers = format!("{T1}=alice").parse().unwrap();
        let ok =
            IncomingRequest::new("GET", "/").with_header("authorization", format!("Bearer {T1}"));
        assert_eq!(users.resolve(&ok).await.unwrap().identity(), "alice");
        let bad =
            IncomingRequest::new("GET", "/").with_header("authorization", format!("Bearer {T2}"));
        assert!(matches!(
            users.resolve(&bad).await,
            Err(ResolveError::InvalidCredentials(_))
        ));
        let none = IncomingRequest::new("GET", "/");
        assert!(matches!(
            users.resolve(&none).await,
            Err(ResolveError::MissingCredentials(_))
        ));
    }
}
