//! Ready resolvers: [`StaticUsers`] (bearer tokens from a table), [`TrustedHeader`]
//! (behind an authenticating proxy) and [`JwtBearerResolver`] (the identity provider's
//! JWTs).

mod jwks;
mod jws;
mod jwt_bearer;
mod static_users;
mod trusted_header;
mod verified_cache;

pub use jwks::JwksSource;
#[cfg(feature = "jwks")]
pub use jwks::{HttpJwks, JwksUrlError};
pub use jwt_bearer::{
    DEFAULT_MAX_KEY_AGE, JwtBearerBuilder, JwtBearerResolver, JwtConfigError, MAX_LEEWAY,
    MIN_HS256_SECRET_LEN,
};
pub use static_users::{MIN_STATIC_TOKEN_LEN, StaticUsers, UsersParseError};
pub use trusted_header::{BROAD_PROXY_PREFIX, TrustedHeader, TrustedHeaderError};
pub use verified_cache::VerifiedCacheStats;

#[doc(no_inline)]
pub use crate::net::IpNet;
pub use crate::net::{IpNetParseError, ipnet, parse_proxy_net};
