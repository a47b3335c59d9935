//! HMAC-SHA256 with a key prepared once, from whichever crypto backend is enabled.
//!
//! Two Cargo features choose the backend, and they mirror jsonwebtoken's:
//! `rust-crypto` (the default: the RustCrypto `hmac` and `sha2` crates) and `aws-lc-rs`.
//! Both may be on at once (features unify across a dependency graph); then RustCrypto
//! signs, and [`ensure_jsonwebtoken_provider`] installs jsonwebtoken's matching
//! provider, without which jsonwebtoken 10 and later panic at the first sign or verify.

#[cfg(not(any(feature = "rust-crypto", feature = "aws-lc-rs")))]
compile_error!(
    "chat-token-core needs a crypto backend: enable the `rust-crypto` or the `aws-lc-rs` feature"
);

/// The name of the backend that signs tokens in this build.
pub const BACKEND: &str = if cfg!(feature = "rust-crypto") {
    "rust-crypto"
} else {
    "aws-lc-rs"
};

/// An HMAC-SHA256 key whose inner and outer pads were computed once.
#[derive(Clone)]
pub(crate) struct HmacKey {
    #[cfg(feature = "rust-crypto")]
    keyed: hmac::Hmac<sha2::Sha256>,
    #[cfg(all(feature = "aws-lc-rs", not(feature = "rust-crypto")))]
    keyed: aws_lc_rs::hmac::Key,
}

impl HmacKey {
    /// Prepares the key. HMAC accepts keys of any length.
    pub(crate) fn new(secret: &[u8]) -> Self {
        #[cfg(feature = "rust-crypto")]
        {
            use hmac::Mac;
            // `new_from_slice` cannot fail for HMAC: keys of any length are accepted
            // (longer ones are hashed, shorter ones padded), so the error arm is dead.
            let keyed = match hmac::Hmac::<sha2::Sha256>::new_from_slice(secret) {
                Ok(k) => k,
                Err(_) => unreachable_hmac(),
            };
            Self { keyed }
        }
        #[cfg(all(feature = "aws-lc-rs", not(feature = "rust-crypto")))]
        {
            Self {
                keyed: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret),
            }
        }
    }

    /// The 32-byte tag of `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 32] {
        #[cfg(feature = "rust-crypto")]
        {
            use hmac::Mac;
            let mut mac = self.keyed.clone();
            mac.update(message);
            mac.finalize().into_bytes().into()
        }
        #[cfg(all(feature = "aws-lc-rs", not(feature = "rust-crypto")))]
        {
            let tag = aws_lc_rs::hmac::sign(&self.keyed, message);
            let mut out = [0u8; 32];
            out.copy_from_slice(tag.as_ref());
            out
        }
    }

    /// The keyed state after absorbing `prefix`, for messages that all start with it.
    pub(crate) fn absorb(&self, prefix: &[u8]) -> HmacState {
        #[cfg(feature = "rust-crypto")]
        {
            use hmac::Mac;
            let mut state = self.keyed.clone();
            state.update(prefix);
            HmacState { state }
        }
        #[cfg(all(feature = "aws-lc-rs", not(feature = "rust-crypto")))]
        {
            let mut state = aws_lc_rs::hmac::Context::with_key(&self.keyed);
            state.update(prefix);
            HmacState { state }
        }
    }

    /// Whether `tag` is the tag of `message`, compared in constant time.
    pub(crate) fn verify(&self, message: &[u8], tag: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        let expected = self.sign(message);
        tag.len() == expected.len() && bool::from(expected.ct_eq(tag))
    }
}

/// An HMAC state that has absorbed a fixed message prefix (the JWT header): only the rest
/// of each message is hashed per token.
#[derive(Clone)]
pub(crate) struct HmacState {
    #[cfg(feature = "rust-crypto")]
    state: hmac::Hmac<sha2::Sha256>,
    #[cfg(all(feature = "aws-lc-rs", not(feature = "rust-crypto")))]
    state: aws_lc_rs::hmac::Context,
}

impl HmacState {
    /// The tag of the absorbed prefix followed by `rest`.
    pub(crate) fn sign_rest(&self, rest: &[u8]) -> [u8; 32] {
        let mut state = self.state.clone();
        #[cfg(feature = "rust-crypto")]
        {
            use hmac::Mac;
            state.update(rest);
            state.finalize().into_bytes().into()
        }
        #[cfg(all(feature = "aws-lc-rs", not(feature = "rust-crypto")))]
        {
            state.update(rest);
            let tag = state.sign();
            let mut out = [0u8; 32];
            out.copy_from_slice(tag.as_ref());
            out
        }
    }
}

#[cfg(feature = "rust-crypto")]
#[cold]
fn unreachable_hmac() -> ! {
    unreachable!("HMAC accepts keys of every length")
}

/// Makes jsonwebtoken usable in this process whichever of its crypto features are on.
///
/// With exactly one of jsonwebtoken's `rust_crypto` and `aws_lc_rs` features, jsonwebtoken
/// picks its provider itself and this does nothing. With both (for example when another
/// crate in the build enables the other one), jsonwebtoken panics at the first signature
/// unless a provider was installed: this installs aws-lc-rs's, which verifies RS256 about
/// ten times and ES256 about six times faster than RustCrypto's (the `verify` benchmark),
/// so that bearer JWTs from an identity provider cost little. It is idempotent and cheap;
/// call it before using jsonwebtoken yourself. Minting (HMAC) does not use it.
pub fn ensure_jsonwebtoken_provider() {
    #[cfg(all(feature = "rust-crypto", feature = "aws-lc-rs"))]
    {
        // An `Err` means a provider is already installed, which is all we need.
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2() {
        let key = HmacKey::new(b"Jefe");
        let tag = key.sign(b"what do ya want for nothing?");
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(key.verify(b"what do ya want for nothing?", &tag));
        assert!(!key.verify(b"what do ya want for nothing!", &tag));
        assert!(!key.verify(b"what do ya want for nothing?", &tag[..31]));
        let prefixed = key.absorb(b"what do ya ");
        assert_eq!(prefixed.sign_rest(b"want for nothing?"), tag);
        assert_eq!(
            prefixed.sign_rest(b"want for nothing?"),
            tag,
            "state reused"
        );
    }
}
