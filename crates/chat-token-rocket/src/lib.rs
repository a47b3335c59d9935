#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod extract;
mod route;

pub use chat_token_core::env::EnvSetup;
pub use chat_token_core::{
    DEFAULT_TOKEN_PATH, HttpReply, IncomingRequest, Rejection, ResolveError, Resolved, TokenIssuer,
    TokenService,
};
pub use extract::{ResolvedIdentity, TokenRejection, catchers};
pub use route::{
    LoginEndpoint, TokenEndpoint, TokenReply, routes, routes_at, routes_with, routes_with_at,
};
