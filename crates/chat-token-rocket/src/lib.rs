#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod extract;
mod route;

pub use chat_token_core::{DEFAULT_TOKEN_PATH, TokenService};
pub use extract::{ResolvedIdentity, TokenRejection, catchers};
pub use route::{TokenEndpoint, routes, routes_at};
