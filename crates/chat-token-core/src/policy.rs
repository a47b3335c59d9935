//! [`UserPolicy`]: grants and lifetimes that vary by user, by role, or by device, without
//! code: a JSON document (what `chat-token serve --policy FILE` reads) or a value built
//! in Rust.
//!
//! ```json
//! {
//!   "role_claim": "roles",
//!   "roles": {
//!     "agent":    { "ttl": 28800, "chat_deployment_role_sid": "RLaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" },
//!     "banned":   { "deny": true }
//!   },
//!   "identities": { "alice": { "ttl": 600 } },
//!   "endpoint_id_header": "X-Device-Id"
//! }
//! ```
//!
//! Role rules need `role_claim` (a policy with role rules and no `role_claim` is
//! refused: its rules, a `deny` among them, would never apply) and a resolver that gives
//! claims (the bearer-JWT resolver, or your own with [`Resolved::with_claims`]); without
//! claims a user has no roles, and only identity rules apply. The role claim is a top-level claim, or a dotted path into
//! nested objects (`realm_access.roles`).
//!
//! The role claim is a string or an array of strings; any other shape (an object, a
//! nested array, a number, `null`) names no role, so no role rule, a `deny` among them,
//! applies to it: keep deny rules for roles your identity provider writes that way, or
//! use identity rules.
//!
//! Every rule that matches the user applies: the rule for the identity and the rule of
//! each of the user's roles (the role claim may be a string or an array). They combine
//! so that no order of roles can loosen a refusal:
//!
//! - `deny`: if any matching rule denies, the user is refused (403).
//! - `ttl`: the shortest ttl among the matching rules wins, and never exceeds the ttl
//!   of the user's tenant when the tenant sets one (a resolver's own per-user ttl still
//!   comes first).
//! - `chat_deployment_role_sid`: the identity rule's, else that of the first of the
//!   user's roles, in claim order, that sets one.
//!
//! With `endpoint_id_header`, the chat grant's endpoint id becomes `identity:device`
//! from that request header (1 to 128 of `A-Z a-z 0-9 . _ ~ -`, so never a `:`: the part
//! after the last `:` is always the device), so each device of a user gets its own push
//! registration.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::grants::Grant;
use crate::request::IncomingRequest;
use crate::resolver::Resolved;
use crate::sid::{SidError, SidKind};
use crate::token::{AccessToken, MAX_TTL};

/// What one rule does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PolicyRule {
    /// Refuse a token (403 `forbidden`).
    pub deny: bool,
    /// The token lifetime in seconds (1..=86400).
    pub ttl: Option<u64>,
    /// The chat grant's `deployment_role_sid` (`RL...`).
    pub chat_deployment_role_sid: Option<String>,
}

/// Per-user choices layered over the service's defaults (see the module docs).
///
/// ```
/// use chat_token_core::policy::UserPolicy;
///
/// let policy = UserPolicy::from_json(r#"{
///     "role_claim": "roles",
///     "roles": { "agent": { "ttl": 28800 }, "banned": { "deny": true } },
///     "endpoint_id_header": "X-Device-Id"
/// }"#)?;
/// assert_eq!(policy.roles["agent"].ttl, Some(28800));
/// # Ok::<(), chat_token_core::policy::PolicyError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct UserPolicy {
    /// The claim that lists the user's roles (a string or an array of strings): a
    /// top-level claim of that name, else a dotted path (`realm_access.roles`).
    pub role_claim: Option<String>,
    /// Rules by role.
    pub roles: BTreeMap<String, PolicyRule>,
    /// Rules by identity; they win over role rules.
    pub identities: BTreeMap<String, PolicyRule>,
    /// A request header naming the device; the chat endpoint id becomes `identity:device`.
    pub endpoint_id_header: Option<String>,
}

/// Why a policy was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The document is not valid policy JSON.
    #[error("the policy is not valid: {0}")]
    Json(String),
    /// A rule's ttl is out of range.
    #[error("policy rule {rule}: ttl {ttl} is outside 1..=86400 seconds")]
    Ttl {
        /// Which rule.
        rule: String,
        /// The ttl.
        ttl: u64,
    },
    /// Role rules are given without `role_claim`, so no user ever has a role and the
    /// rules (a `deny` among them) would never apply.
    #[error(
        "the policy has role rules ({roles}) but no role_claim: set role_claim to the claim that lists each user's roles, or remove the role rules"
    )]
    RolesWithoutRoleClaim {
        /// The roles that have rules, comma-separated.
        roles: String,
    },
    /// `role_claim` is empty.
    #[error("the policy's role_claim is empty: name the claim that lists each user's roles")]
    EmptyRoleClaim,
    /// `endpoint_id_header` is not a valid header name (no request would ever have it), or
    /// names a header that carries credentials or an address (its value would go into
    /// tokens).
    #[error(
        "the policy's endpoint_id_header {0:?} cannot name the device: it must be a header name, and not one that carries credentials or addresses (Authorization, Cookie, X-Forwarded-For, ...)"
    )]
    BadEndpointIdHeader(String),
    /// A rule's SID is malformed.
    #[error("policy rule {rule}: {source}")]
    Sid {
        /// Which rule.
        rule: String,
        /// What is wrong.
        source: Box<SidError>,
    },
}

/// What the policy decided for one request.
pub(crate) enum Decision {
    /// Mint this token.
    Mint(AccessToken),
    /// Refuse the user.
    Deny,
}

/// The claim `name`: a top-level claim of that exact name (`roles`,
/// `https://example.com/roles`), else a dotted path into nested objects
/// (`realm_access.roles`, as Keycloak writes them).
fn claim_at<'a>(
    claims: &'a serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Option<&'a serde_json::Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    let mut parts = name.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

impl UserPolicy {
    /// Parses and checks a JSON policy document.
    pub fn from_json(text: &str) -> Result<Self, PolicyError> {
        let policy: Self =
            serde_json::from_str(text).map_err(|e| PolicyError::Json(e.to_string()))?;
        policy.check()?;
        Ok(policy)
    }

    /// Checks every rule's ttl and SIDs, that `endpoint_id_header` is a header name, and
    /// that role rules have a `role_claim` to find the user's roles in.
    pub fn check(&self) -> Result<(), PolicyError> {
        let named = self
            .roles
            .iter()
            .map(|(k, r)| (format!("roles.{k}"), r))
            .chain(
                self.identities
                    .iter()
                    .map(|(k, r)| (format!("identities.{k}"), r)),
            );
        for (rule, r) in named {
            if let Some(ttl) = r.ttl.filter(|t| !(1..=MAX_TTL).contains(t)) {
                return Err(PolicyError::Ttl { rule, ttl });
            }
            if let Some(sid) = &r.chat_deployment_role_sid {
                SidKind::Role
                    .check("chat_deployment_role_sid", sid)
                    .map_err(|source| PolicyError::Sid {
                        rule,
                        source: Box::new(source),
                    })?;
            }
        }
        if let Some(header) = self.endpoint_id_header.as_ref().filter(|h| {
            !crate::request::is_header_name(h) || crate::request::carries_credentials_or_address(h)
        }) {
            return Err(PolicyError::BadEndpointIdHeader(header.clone()));
        }
        match self.role_claim.as_deref() {
            Some(claim) if claim.trim().is_empty() => Err(PolicyError::EmptyRoleClaim),
            None if !self.roles.is_empty() => {
                let roles: Vec<&str> = self.roles.keys().map(String::as_str).collect();
                Err(PolicyError::RolesWithoutRoleClaim {
                    roles: roles.join(", "),
                })
            }
            _ => Ok(()),
        }
    }

    /// Every rule that matches: the identity's first, then the roles' in claim order.
    fn rules_for<'a>(&'a self, resolved: &Resolved) -> Vec<&'a PolicyRule> {
        let mut rules: Vec<&PolicyRule> = self
            .identities
            .get(resolved.identity())
            .into_iter()
            .collect();
        let claim = self
            .role_claim
            .as_deref()
            .and_then(|name| claim_at(resolved.claims()?, name));
        match claim {
            Some(serde_json::Value::String(role)) => rules.extend(self.roles.get(role.as_str())),
            Some(serde_json::Value::Array(items)) => rules.extend(
                items
                    .iter()
                    .filter_map(|v| v.as_str())
                    .filter_map(|role| self.roles.get(role)),
            ),
            _ => {}
        }
        rules
    }

    /// Applies the policy to the token the service would otherwise mint. A rule's ttl is
    /// never longer than `ttl_cap` (the ttl a user's tenant configures).
    pub(crate) fn apply(
        &self,
        req: Option<&IncomingRequest>,
        resolved: &Resolved,
        mut token: AccessToken,
        ttl_cap: Option<u64>,
    ) -> Decision {
        let rules = self.rules_for(resolved);
        if rules.iter().any(|r| r.deny) {
            return Decision::Deny;
        }
        if let Some(ttl) = rules
            .iter()
            .filter_map(|r| r.ttl)
            .min()
            .map(|ttl| ttl_cap.map_or(ttl, |cap| ttl.min(cap)))
            .filter(|_| resolved.ttl().is_none())
        {
            token = token.with_ttl(ttl);
        }
        let role_sid = rules
            .iter()
            .find_map(|r| r.chat_deployment_role_sid.as_deref());
        let device = self
            .endpoint_id_header
            .as_deref()
            .and_then(|h| req?.header(h))
            .map(str::trim)
            .filter(|d| {
                !d.is_empty()
                    && d.len() <= 128
                    && d.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b))
            });
        if role_sid.is_none() && device.is_none() {
            return Decision::Mint(token);
        }
        let chat = token.grants().iter().find_map(|g| match g {
            Grant::Chat(chat) => Some(chat.clone()),
            _ => None,
        });
        if let Some(mut chat) = chat {
            if let Some(sid) = role_sid {
                chat = chat.with_deployment_role_sid(sid);
            }
            if let Some(device) = device {
                chat = chat.with_endpoint_id(format!("{}:{device}", resolved.identity()));
            }
            token = token.with_grant(chat);
        }
        Decision::Mint(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grants::ChatGrant;

    const RL: &str = "RLaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn policy() -> UserPolicy {
        UserPolicy::from_json(&format!(
            r#"{{"role_claim":"roles","roles":{{"agent":{{"ttl":28800,"chat_deployment_role_sid":"{RL}"}},"banned":{{"deny":true}}}},
                "identities":{{"alice":{{"ttl":600}}}},"endpoint_id_header":"X-Device-Id"}}"#
        ))
        .unwrap()
    }

    fn base() -> AccessToken {
        AccessToken::new()
            .with_grant(ChatGrant::new().with_service_sid("ISdddddddddddddddddddddddddddddddd"))
    }

    fn with_roles(identity: &str, roles: serde_json::Value) -> Resolved {
        let mut claims = serde_json::Map::new();
        claims.insert("roles".into(), roles);
        Resolved::new(identity).with_claims(claims)
    }

    fn chat(token: &AccessToken) -> ChatGrant {
        match &token.grants()[0] {
            Grant::Chat(c) => c.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn roles_identities_and_devices() {
        let p = policy();
        let Decision::Mint(t) = p.apply(
            None,
            &with_roles("bob", serde_json::json!(["x", "agent"])),
            base(),
            None,
        ) else {
            panic!("denied")
        };
        assert_eq!(t.ttl(), 28800);
        assert_eq!(
            chat(&t),
            ChatGrant::new()
                .with_service_sid("ISdddddddddddddddddddddddddddddddd")
                .with_deployment_role_sid(RL)
        );

        let Decision::Mint(t) = p.apply(
            None,
            &with_roles("alice", serde_json::json!("agent")),
            base(),
            None,
        ) else {
            panic!("denied")
        };
        assert_eq!(t.ttl(), 600, "identity rules win");

        assert!(matches!(
            p.apply(
                None,
                &with_roles("eve", serde_json::json!("banned")),
                base(),
                None
            ),
            Decision::Deny
        ));

        let req = IncomingRequest::new("GET", "/token").with_header("x-device-id", "ipad-7");
        let Decision::Mint(t) = p.apply(Some(&req), &Resolved::new("carol"), base(), None) else {
            panic!("denied")
        };
        assert_eq!(t.ttl(), 3600);
        assert_eq!(
            chat(&t),
            ChatGrant::new()
                .with_service_sid("ISdddddddddddddddddddddddddddddddd")
                .with_endpoint_id("carol:ipad-7")
        );

        let odd = IncomingRequest::new("GET", "/token").with_header("x-device-id", "has space");
        let Decision::Mint(t) = p.apply(Some(&odd), &Resolved::new("carol"), base(), None) else {
            panic!("denied")
        };
        assert_eq!(chat(&t), chat(&base()));
    }

    #[test]
    fn bad_policies_are_refused() {
        assert!(matches!(
            UserPolicy::from_json("{\"rolez\":{}}"),
            Err(PolicyError::Json(_))
        ));
        assert!(matches!(
            UserPolicy::from_json(r#"{"roles":{"a":{"ttl":0}}}"#),
            Err(PolicyError::Ttl { .. })
        ));
        assert!(matches!(
            UserPolicy::from_json(r#"{"roles":{"a":{"chat_deployment_role_sid":"IS1"}}}"#),
            Err(PolicyError::Sid { .. })
        ));
    }

    #[test]
    fn an_endpoint_id_header_that_no_request_can_have_is_refused() {
        for bad in [
            "",
            "X Device",
            "X-Device:",
            "X-Gerät",
            "Authorization",
            "x-api-key",
        ] {
            let text = format!(r#"{{"endpoint_id_header":{bad:?}}}"#);
            assert_eq!(
                UserPolicy::from_json(&text),
                Err(PolicyError::BadEndpointIdHeader(bad.to_owned())),
                "{bad:?}"
            );
        }
        assert!(UserPolicy::from_json(r#"{"endpoint_id_header":"X-Device-Id"}"#).is_ok());
    }

    #[test]
    fn role_rules_need_a_role_claim() {
        let err = UserPolicy::from_json(r#"{"roles":{"banned":{"deny":true},"agent":{"ttl":60}}}"#);
        assert_eq!(
            err,
            Err(PolicyError::RolesWithoutRoleClaim {
                roles: "agent, banned".into()
            })
        );
        let text = err.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("role_claim"), "{text}");
        assert_eq!(
            UserPolicy::from_json(r#"{"role_claim":" ","roles":{"banned":{"deny":true}}}"#),
            Err(PolicyError::EmptyRoleClaim)
        );
        // Built in Rust rather than parsed: the same check, run by the service's build.
        let built = UserPolicy {
            roles: [(
                "banned".to_owned(),
                PolicyRule {
                    deny: true,
                    ..PolicyRule::default()
                },
            )]
            .into(),
            ..UserPolicy::default()
        };
        assert!(matches!(
            built.check(),
            Err(PolicyError::RolesWithoutRoleClaim { .. })
        ));
        // Identity rules alone, or a role claim with no rules yet, are fine.
        assert!(UserPolicy::from_json(r#"{"identities":{"eve":{"deny":true}}}"#).is_ok());
        assert!(UserPolicy::from_json(r#"{"role_claim":"roles"}"#).is_ok());
    }

    #[test]
    fn a_tenant_ttl_caps_the_rules_ttl() {
        let p = policy();
        let agent = with_roles("bob", serde_json::json!("agent"));
        let ttl = |cap| match p.apply(None, &agent, base(), cap) {
            Decision::Mint(t) => t.ttl(),
            Decision::Deny => 0,
        };
        assert_eq!(ttl(None), 28800);
        assert_eq!(ttl(Some(600)), 600, "the tenant's 600 s is a cap");
        assert_eq!(ttl(Some(86400)), 28800, "a shorter rule still wins");
    }

    #[test]
    fn a_deny_holds_whatever_the_order_of_rules() {
        let p = UserPolicy::from_json(
            r#"{"role_claim":"roles","roles":{"agent":{"ttl":28800},"banned":{"deny":true}},"identities":{"vip":{"ttl":600}}}"#,
        )
        .unwrap();
        for (identity, roles) in [
            ("eve", serde_json::json!(["banned"])),
            ("eve", serde_json::json!(["agent", "banned"])),
            ("eve", serde_json::json!(["banned", "agent"])),
            ("vip", serde_json::json!("banned")),
            ("vip", serde_json::json!(["agent", "banned"])),
        ] {
            assert!(
                matches!(
                    p.apply(None, &with_roles(identity, roles.clone()), base(), None),
                    Decision::Deny
                ),
                "{identity} {roles}"
            );
        }
    }

    #[test]
    fn the_shortest_ttl_wins_and_the_identity_role_sid_first() {
        const RL2: &str = "RLbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
        let p = UserPolicy::from_json(&format!(
            r#"{{"role_claim":"roles","roles":{{"agent":{{"ttl":28800,"chat_deployment_role_sid":"{RL}"}},"trial":{{"ttl":300}}}},
                "identities":{{"vip":{{"ttl":600,"chat_deployment_role_sid":"{RL2}"}}}}}}"#
        ))
        .unwrap();
        let mint =
            |identity: &str, roles| match p.apply(None, &with_roles(identity, roles), base(), None)
            {
                Decision::Mint(t) => t,
                Decision::Deny => panic!("denied"),
            };
        let t = mint("bob", serde_json::json!(["agent", "trial"]));
        assert_eq!(t.ttl(), 300);
        let is = "ISdddddddddddddddddddddddddddddddd";
        assert_eq!(
            chat(&t),
            ChatGrant::new()
                .with_service_sid(is)
                .with_deployment_role_sid(RL)
        );
        let t = mint("bob", serde_json::json!(["trial", "agent"]));
        assert_eq!(t.ttl(), 300);
        let t = mint("vip", serde_json::json!(["agent"]));
        assert_eq!(t.ttl(), 600);
        assert_eq!(
            chat(&t),
            ChatGrant::new()
                .with_service_sid(is)
                .with_deployment_role_sid(RL2)
        );
        let t = mint("vip", serde_json::json!(["trial"]));
        assert_eq!(t.ttl(), 300);
    }

    #[test]
    fn a_device_id_cannot_hold_a_colon() {
        let p = policy();
        for device in ["a:b", "x y", "caf\u{e9}", ""] {
            let req = IncomingRequest::new("GET", "/token").with_header("x-device-id", device);
            let Decision::Mint(t) = p.apply(Some(&req), &Resolved::new("carol"), base(), None)
            else {
                panic!("denied")
            };
            assert_eq!(chat(&t), chat(&base()), "{device:?}");
        }
        let req = IncomingRequest::new("GET", "/token").with_header("x-device-id", "ipad_7.2~x-1");
        let Decision::Mint(t) = p.apply(Some(&req), &Resolved::new("a:b"), base(), None) else {
            panic!("denied")
        };
        assert_eq!(
            chat(&t),
            ChatGrant::new()
                .with_service_sid("ISdddddddddddddddddddddddddddddddd")
                .with_endpoint_id("a:b:ipad_7.2~x-1")
        );
    }

    #[test]
    fn role_claims_by_exact_name_or_dotted_path() {
        let p = UserPolicy::from_json(
            r#"{"role_claim":"realm_access.roles","roles":{"banned":{"deny":true}}}"#,
        )
        .unwrap();
        let mut claims = serde_json::Map::new();
        claims.insert(
            "realm_access".into(),
            serde_json::json!({ "roles": ["user", "banned"] }),
        );
        let nested = Resolved::new("eve").with_claims(claims);
        assert!(matches!(
            p.apply(None, &nested, base(), None),
            Decision::Deny
        ));
        let p = UserPolicy::from_json(
            r#"{"role_claim":"https://example.com/roles","roles":{"banned":{"deny":true}}}"#,
        )
        .unwrap();
        let mut claims = serde_json::Map::new();
        claims.insert(
            "https://example.com/roles".into(),
            serde_json::json!(["banned"]),
        );
        let namespaced = Resolved::new("eve").with_claims(claims);
        assert!(matches!(
            p.apply(None, &namespaced, base(), None),
            Decision::Deny
        ));
    }
}
