#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod extract;
mod route;

/// The whole core, for what the [`prelude`] leaves out:
/// `chat_token_actix::chat_token_core::resolvers::HttpJwks`, `...::policy`, `...::inspect`,
/// and so on, with no `chat-token-core` line in the app's `Cargo.toml`.
pub use chat_token_core;

pub use chat_token_core::{
    IncomingRequest, ResolveError, Resolved, TokenIssuer, TokenService, http::DEFAULT_TOKEN_PATH,
    http::HttpReply, http::Rejection,
};
pub use extract::{ResolvedIdentity, TokenRejection};
pub use route::{
    Incoming, TokenReply, configure, configure_at, configure_for, configure_for_at, configure_with,
    configure_with_at, incoming_request, token_endpoint,
};

pub mod prelude {
    //! The everyday items in one line: `use chat_token_actix::prelude::*;`.
    //!
    //! The routes ([`configure`], [`configure_at`], [`configure_with`],
    //! [`configure_with_at`], [`configure_for`], [`configure_for_at`], [`token_endpoint`]),
    //! the [`ResolvedIdentity`] and [`Incoming`] extractors, [`TokenReply`] and
    //! [`TokenRejection`]; from the core the service ([`TokenService`],
    //! [`TokenIssuer`], [`Credentials`], [`SecretString`], [`CorsPolicy`]), the token and its
    //! grants ([`AccessToken`], [`ChatGrant`], [`VideoGrant`], [`VoiceGrant`], [`SyncGrant`],
    //! [`Grant`]), and what a resolver needs ([`IdentityResolver`], [`IncomingRequest`],
    //! [`Resolved`], [`ResolveError`], the ready [`StaticUsers`], [`TrustedHeader`] and
    //! [`JwtBearerResolver`], and the [`async_trait`] attribute). Everything else is in
    //! [`chat_token_core`].
    //!
    //! ```
    //! use actix_web::{App, web};
    //! use chat_token_actix::prelude::*;
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
    //! fn app(issuer: TokenIssuer) -> Result<(), Box<dyn std::error::Error>> {
    //!     let service = TokenService::builder(issuer, ApiKeys).build()?;
    //!     let _ = App::new()
    //!         .app_data(web::Data::new(service))
    //!         .configure(configure);
    //!     Ok(())
    //! }
    //! ```

    pub use crate::{
        Incoming, ResolvedIdentity, TokenRejection, TokenReply, configure, configure_at,
        configure_for, configure_for_at, configure_with, configure_with_at, token_endpoint,
    };
    #[doc(no_inline)]
    pub use chat_token_core::prelude::*;
}
