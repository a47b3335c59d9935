#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod extract;
mod route;

pub use chat_token_core::env::EnvSetup;
pub use chat_token_core::{
    IncomingRequest, ResolveError, Resolved, TokenIssuer, TokenService, http::DEFAULT_TOKEN_PATH,
    http::HttpReply, http::Rejection,
};
pub use extract::{ResolvedIdentity, TokenRejection, catchers};
pub use route::{
    LoginEndpoint, TokenEndpoint, TokenReply, routes, routes_at, routes_with, routes_with_at,
};
