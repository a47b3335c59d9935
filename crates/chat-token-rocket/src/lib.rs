#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod extract;
mod route;

/// The whole core, for what the [`prelude`] leaves out:
/// `chat_token_rocket::chat_token_core::resolvers::HttpJwks`, `...::policy`, `...::inspect`,
/// and so on, with no `chat-token-core` line in the app's `Cargo.toml`.
pub use chat_token_core;

pub use chat_token_core::{
    IncomingRequest, ResolveError, Resolved, TokenIssuer, TokenService, http::DEFAULT_TOKEN_PATH,
    http::HttpReply, http::Rejection,
};
pub use extract::{ResolvedIdentity, TokenRejection, catchers};
pub use route::{
    Incoming, LoginEndpoint, TokenEndpoint, TokenReply, incoming_request, other_methods_at, routes,
    routes_at, routes_for, routes_for_at, routes_with, routes_with_at,
};

pub mod prelude {
    //! The everyday items in one line: `use chat_token_rocket::prelude::*;`.
    //!
    //! The routes ([`routes`], [`routes_at`], [`routes_with`], [`routes_with_at`],
    //! [`routes_for`], [`routes_for_at`], [`other_methods_at`], and the [`TokenEndpoint`]
    //! handler), the [`ResolvedIdentity`] and [`Incoming`] guards, [`TokenReply`],
    //! [`TokenRejection`] and the [`catchers`]; from the core the service ([`TokenService`],
    //! [`TokenIssuer`], [`Credentials`], [`SecretString`], [`CorsPolicy`]), the token and its
    //! grants ([`AccessToken`], [`ChatGrant`], [`VideoGrant`], [`VoiceGrant`], [`SyncGrant`],
    //! [`Grant`]), and what a resolver needs ([`IdentityResolver`], [`IncomingRequest`],
    //! [`Resolved`], [`ResolveError`], the ready [`StaticUsers`], [`TrustedHeader`] and
    //! [`JwtBearerResolver`], and the [`async_trait`] attribute). Everything else is in
    //! [`chat_token_core`].
    //!
    //! The function `routes` and rocket's macro `routes!` live in different namespaces, so
    //! the prelude and `rocket::routes!` are used side by side.
    //!
    //! ```
    //! use chat_token_rocket::prelude::*;
    //!
    //! struct ApiKeys;
    //!
    //! #[async_trait]
    //! impl IdentityResolver for ApiKeys {
    //!     async fn resolve(&self, req: &IncomingRequest) -> Result<Resolved, ResolveError> {
    //!         match req.header("x-api-key") {
    //!             Some("k-alice") => Ok(Resolved::new("alice")),
    //!             Some(_) => Err(ResolveError::invalid("unknown API key")),
    //!             None => Err(ResolveError::missing("send the X-Api-Key header")),
    //!         }
    //!     }
    //! }
    //!
    //! fn app(issuer: TokenIssuer) -> Result<rocket::Rocket<rocket::Build>, Box<dyn std::error::Error>> {
    //!     let service = TokenService::builder(issuer, ApiKeys).build()?;
    //!     Ok(rocket::build().manage(service).mount("/", routes()))
    //! }
    //! ```

    pub use crate::{
        Incoming, ResolvedIdentity, TokenEndpoint, TokenRejection, TokenReply, catchers,
        other_methods_at, routes, routes_at, routes_for, routes_for_at, routes_with,
        routes_with_at,
    };
    #[doc(no_inline)]
    pub use chat_token_core::prelude::*;
}
