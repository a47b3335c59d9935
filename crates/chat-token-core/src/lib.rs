#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod clock;
mod cors;
pub mod crypto;
pub mod env;
mod grants;
pub mod http;
mod identity;
mod inspect;
mod issuer;
mod json;
mod metrics;
mod net;
mod policy;
mod request;
mod resolver;
pub mod resolvers;
mod service;
mod sid;
mod token;

pub use clock::{Clock, FixedClock, SystemClock};
pub use cors::{CorsError, CorsPolicy};
pub use env::{
    ENV_ACCOUNT_SID, ENV_API_KEY, ENV_API_KEY_FILE, ENV_API_SECRET, ENV_API_SECRET_FILE,
    ENV_CHAT_SERVICE_SID,
};
pub use grants::{
    ChatGrant, Grant, PlaybackGrant, SyncGrant, TaskRouterGrant, VideoGrant, VoiceGrant,
};
pub use http::{
    ALLOWED_METHODS, DEFAULT_RETRY_AFTER, DEFAULT_TOKEN_PATH, ErrorCode, HttpReply, Rejection,
};
pub use identity::{
    Identity, IdentityError, IdentityRules, RESERVED_CHARACTERS, VOICE_IDENTITY_MAX,
};
pub use inspect::{
    InspectError, Inspection, MAX_TOKEN_LEN, Problem, SignatureCheck, TwilioErrorCode, inspect,
};
pub use issuer::{ConfigError, Credentials, MintedToken, TokenIssuer};
pub use metrics::{
    METRIC_ERRORS, METRIC_RESOLVE_SECONDS, METRIC_TOKENS_MINTED, RESOLVE_SECONDS_BUCKETS,
};
pub use net::{IpNet, IpNetParseError, ipnet, parse_proxy_net};
pub use policy::{PolicyError, PolicyRule, UserPolicy};
pub use request::{IncomingRequest, MAX_BEARER_LEN};
pub use resolver::{IdentityResolver, ResolveError, Resolved};
#[cfg(feature = "jwks")]
pub use resolvers::HttpJwks;
pub use resolvers::{
    DEFAULT_MAX_KEY_AGE, JwksSource, JwtBearerBuilder, JwtBearerResolver, JwtConfigError,
    MIN_HS256_SECRET_LEN, MIN_STATIC_TOKEN_LEN, StaticUsers, TrustedHeader, TrustedHeaderError,
    UsersParseError, VerifiedCacheStats,
};
pub use service::{DEFAULT_RESOLVE_TIMEOUT, ServiceError, TokenService, TokenServiceBuilder};
pub use sid::{AccountSid, ApiKeySid, SID_LEN, SidError, SidKind};
pub use token::{AccessToken, DEFAULT_TTL, MAX_TTL, MAX_UNIX_TIME, NotBefore, TokenError};

/// Re-exported so that resolvers can be written without adding the crate.
pub use async_trait::async_trait;
/// Re-exported: the secret type the credentials use.
pub use secrecy::SecretString;
