#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod clock;
pub mod cors;
pub mod crypto;
pub mod env;
pub mod grants;
pub mod http;
pub mod identity;
pub mod inspect;
pub mod issuer;
mod json;
pub mod metrics;
mod net;
pub mod policy;
pub mod request;
mod resolve_error;
pub mod resolver;
pub mod resolvers;
pub mod service;
#[cfg(feature = "setup")]
pub mod setup;
pub mod sid;
pub mod tenants;
pub mod token;

// The everyday types, also at the root; everything else is reached through its module.
pub use env::EnvError;
pub use grants::{
    ChatGrant, Grant, PlaybackGrant, SyncGrant, TaskRouterGrant, VideoGrant, VoiceGrant,
};
pub use inspect::{InspectError, Inspection, inspect};
pub use issuer::{Credentials, CredentialsError, MintedToken, TokenIssuer};
pub use request::IncomingRequest;
pub use resolver::{IdentityResolver, ResolveError, Resolved};
pub use resolvers::{JwtBearerResolver, StaticUsers, TrustedHeader};
pub use service::{BuildError, TokenService, TokenServiceBuilder};
pub use token::{AccessToken, NotBefore, TokenError};

/// Re-exported so that resolvers can be written without adding the crate.
pub use async_trait::async_trait;
/// Re-exported: the secret type the credentials use.
pub use secrecy::SecretString;

pub mod prelude {
    //! The everyday items in one line, `use chat_token_core::prelude::*;`: the service
    //! ([`TokenService`], [`TokenIssuer`], [`Credentials`],
    //! [`SecretString`], [`CorsPolicy`]), the token and its grants ([`AccessToken`], [`ChatGrant`],
    //! [`VideoGrant`], [`VoiceGrant`], [`SyncGrant`], [`Grant`]), and what a resolver
    //! needs ([`IdentityResolver`], [`IncomingRequest`], [`Resolved`], [`ResolveError`],
    //! the ready [`StaticUsers`], [`TrustedHeader`] and [`JwtBearerResolver`], and the
    //! [`async_trait`](macro@async_trait) attribute). Each adapter's prelude is this one and the adapter's
    //! own routes and extractors.

    pub use crate::cors::CorsPolicy;
    pub use crate::{
        AccessToken, ChatGrant, Credentials, Grant, IdentityResolver, IncomingRequest,
        JwtBearerResolver, ResolveError, Resolved, SecretString, StaticUsers, SyncGrant,
        TokenIssuer, TokenService, TrustedHeader, VideoGrant, VoiceGrant, async_trait,
    };
}
