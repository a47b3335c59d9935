//! Ready resolvers: [`StaticUsers`] (bearer tokens from a table), [`TrustedHeader`]
//! (behind an authenticating proxy) and, in [`crate::JwtBearerResolver`], the identity
//! provider's JWTs.

mod static_users;
mod trusted_header;

pub use static_users::{MIN_STATIC_TOKEN_LEN, StaticUsers, UsersParseError};
pub use trusted_header::{BROAD_PROXY_PREFIX, TrustedHeader, TrustedHeaderError};
