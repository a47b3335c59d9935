#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod extract;
mod route;

pub use chat_token_core::env::EnvSetup;
pub use chat_token_core::{
    IncomingRequest, ResolveError, Resolved, TokenIssuer, TokenService, http::DEFAULT_TOKEN_PATH,
    http::HttpReply, http::Rejection,
};
pub use extract::{ResolvedIdentity, TokenRejection};
pub use route::{TokenReply, router, router_at, router_with, router_with_at, token_endpoint};
