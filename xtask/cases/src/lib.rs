//! Token-minting cases for chat-token's own checks, in one place for the two users:
//!
//! - chat-token-core's tests: the golden test reads [`Case`]s from
//!   `tests/data/golden.jsonl` and mints each one; the fuzz harness draws its mutations
//!   from [`SplitMix64`];
//! - `cargo xtask golden` and `cargo xtask conformance`: the [`handpicked`] cases and
//!   those [`generate()`] makes from a seed, fed to Twilio's Python helper and compared
//!   with ours.
//!
//! Not published: a development dependency of chat-token-core by path only, which
//! `cargo package` leaves out of the published manifest.

mod case;
mod generate;
mod rng;

pub use case::Case;
pub use generate::{generate, handpicked};
pub use rng::SplitMix64;
