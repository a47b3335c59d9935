//! HMAC-SHA256 with a key prepared once, and the SHA-256 digests of token tables, from
//! whichever crypto backend is enabled.
//!
//! Two Cargo features choose the backend, and they mirror jsonwebtoken's:
//! `rust-crypto` (the default: the RustCrypto `hmac` and `sha2` crates) and `aws-lc-rs`.
//! Both may be on at once (features unify across a dependency graph); then RustCrypto
//! signs. [`ensure_jsonwebtoken_provider`] installs the jsonwebtoken provider that
//! verifies bearer JWTs with keys prepared once.

#[cfg(not(any(feature = "rust-crypto", feature = "aws-lc-rs")))]
compile_error!(
    "chat-token-core needs a crypto backend: enable the `rust-crypto` or the `aws-lc-rs` feature"
);

use std::cell::Cell;
use std::sync::Arc;

use jsonwebtoken::crypto::{CryptoProvider, JwtVerifier, KeyUtils};
use jsonwebtoken::signature::{self, Verifier};
use jsonwebtoken::{Algorithm, DecodingKey, TokenData, Validation};
use serde::de::DeserializeOwned;

/// The name of the backend that signs tokens in this build.
pub const BACKEND: &str = if cfg!(feature = "rust-crypto") {
    "rust-crypto"
} else {
    "aws-lc-rs"
};

/// SHA-256 of a fixed 64-byte label followed by each message: the digests a table of
/// tokens is keyed by. The label fills exactly one block, absorbed once, so a message
/// of up to 55 bytes costs one compression; it makes the table's digests its own, not
/// the ones a generic SHA-256 lookup table holds.
#[derive(Clone)]
pub(crate) struct LabelledDigest {
    #[cfg(feature = "rust-crypto")]
    state: sha2::Sha256,
    #[cfg(all(feature = "aws-lc-rs", not(feature = "rust-crypto")))]
    state: aws_lc_rs::digest::Context,
}

impl LabelledDigest {
    /// The state after absorbing `label`.
    pub(crate) fn new(label: &[u8; 64]) -> Self {
        #[cfg(feature = "rust-crypto")]
        {
            use sha2::Digest;
            Self {
                state: sha2::Sha256::new_with_prefix(label),
            }
        }
        #[cfg(all(feature = "aws-lc-rs", not(feature = "rust-crypto")))]
        {
            let mut state = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
            state.update(label);
            Self { state }
        }
    }

    /// SHA-256 of the label followed by `message`.
    pub(crate) fn digest(&self, message: &[u8]) -> [u8; 32] {
        let mut state = self.state.clone();
        #[cfg(feature = "rust-crypto")]
        {
            use sha2::Digest;
            state.update(message);
            state.finalize().into()
        }
        #[cfg(all(feature = "aws-lc-rs", not(feature = "rust-crypto")))]
        {
            state.update(message);
            let mut out = [0u8; 32];
            out.copy_from_slice(state.finish().as_ref());
            out
        }
    }
}

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
            // HMAC accepts keys of any length (longer ones are hashed, shorter ones
            // padded): `new_from_slice` never fails.
            let keyed = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret)
                .expect("HMAC accepts keys of every length");
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

/// Installs chat-token's jsonwebtoken provider for this process, if no provider was
/// installed before.
///
/// It is jsonwebtoken's own provider for the backend this build enables (aws-lc-rs's when
/// both features are on: it verifies RS256 about ten times and ES256 about six times
/// faster than RustCrypto's, the `verify` benchmark), except that a key
/// [`JwtBearerResolver`](crate::JwtBearerResolver) prepared when it loaded it (an HS256
/// key's HMAC pads, an aws-lc-rs public key) is used as prepared rather than rebuilt for
/// each token. Other jsonwebtoken calls in the process are served as the backend's own
/// provider would serve them.
///
/// Building a `JwtBearerResolver` calls it. It is idempotent and cheap; call it before
/// using jsonwebtoken yourself when both backends are on, as jsonwebtoken 10 and later
/// panic at the first signature when both are on and no provider is installed (a
/// `JwtBearerResolver` built after such a use refuses to build). When the app installed a
/// provider first, that one is used, and bearer JWTs are verified with it (correctly, at
/// its speed). Once it is installed, jsonwebtoken accepts no other provider for the
/// process: an app that installs its own calls `install_default` before building a
/// resolver, and does not `expect` success if it may run after.
pub fn ensure_jsonwebtoken_provider() {
    // An `Err` means a provider is already installed, which is all jsonwebtoken needs.
    let _ = PROVIDER.install_default();
}

/// [`ensure_jsonwebtoken_provider`], then whether jsonwebtoken's provider works: with both
/// backends on, jsonwebtoken keeps a provider that panics at every use when it was used
/// before any was installed. A panic of the probe is caught (and reported by the panic
/// hook, once, when the resolver is built rather than at every request); in a build with
/// `panic = "abort"` it ends the process there, with jsonwebtoken's message.
pub(crate) fn ensure_jsonwebtoken_provider_usable() -> bool {
    ensure_jsonwebtoken_provider();
    #[cfg(all(feature = "rust-crypto", feature = "aws-lc-rs"))]
    {
        let probe = || {
            let key = DecodingKey::from_secret(b"probe");
            jsonwebtoken::crypto::verify("", b"", &key, Algorithm::HS256)
        };
        std::panic::catch_unwind(probe).is_ok()
    }
    #[cfg(not(all(feature = "rust-crypto", feature = "aws-lc-rs")))]
    {
        true
    }
}

/// jsonwebtoken's provider for the backend this build prefers.
fn backend() -> &'static CryptoProvider {
    #[cfg(feature = "aws-lc-rs")]
    {
        &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER
    }
    #[cfg(not(feature = "aws-lc-rs"))]
    {
        &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER
    }
}

/// The backend's provider, with the verifier of a prepared key handed over by
/// [`decode_prepared`].
static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: |alg, key| (backend().signer_factory)(alg, key),
    verifier_factory: prepared_or_backend,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: |der| {
            (backend().key_utils.rsa_pub_components_from_private_key)(der)
        },
        rsa_pub_components_from_public_key: |der| {
            (backend().key_utils.rsa_pub_components_from_public_key)(der)
        },
        ec_pub_components_from_private_key: |der, alg| {
            (backend().key_utils.ec_pub_components_from_private_key)(der, alg)
        },
        ed_pub_components_from_private_key: |der, curve| {
            (backend().key_utils.ed_pub_components_from_private_key)(der, curve)
        },
        compute_digest: |data, hash| (backend().key_utils.compute_digest)(data, hash),
    },
};

thread_local! {
    /// The prepared key for the `DecodingKey` at this address, set by [`decode_prepared`]
    /// for the one `decode` it calls on this thread.
    static HANDOFF: Cell<Option<(*const DecodingKey, Arc<Prepared>)>> = const { Cell::new(None) };
}

fn prepared_or_backend(
    alg: &Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    if let Some((for_key, prepared)) = HANDOFF.with(Cell::take)
        && std::ptr::eq(for_key, key)
        && prepared.alg == *alg
    {
        return Ok(Box::new(PreparedVerifier(prepared)));
    }
    (backend().verifier_factory)(alg, key)
}

/// jsonwebtoken's `decode`, with `prepared` verifying the signature when chat-token's
/// provider is installed (else the installed provider builds a verifier from `key`,
/// which describes the same key).
pub(crate) fn decode_prepared<T: DeserializeOwned>(
    token: &str,
    key: &DecodingKey,
    prepared: &Arc<Prepared>,
    validation: &Validation,
) -> jsonwebtoken::errors::Result<TokenData<T>> {
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            drop(HANDOFF.with(Cell::take));
        }
    }
    #[cfg(feature = "aws-lc-rs")]
    let hand_over = true;
    #[cfg(not(feature = "aws-lc-rs"))]
    let hand_over = !matches!(prepared.inner, PreparedInner::Backend);
    if hand_over {
        HANDOFF.with(|slot| slot.set(Some((std::ptr::from_ref(key), prepared.clone()))));
    }
    let _clear = Clear;
    jsonwebtoken::decode(token, key, validation)
}

/// A verifying key prepared once for one algorithm.
pub(crate) struct Prepared {
    alg: Algorithm,
    inner: PreparedInner,
}

enum PreparedInner {
    Hmac(Box<HmacKey>),
    #[cfg(feature = "aws-lc-rs")]
    Parsed(aws_lc_rs::signature::ParsedPublicKey),
    /// Nothing prepared: the backend builds the verifier from the `DecodingKey`.
    #[cfg(not(feature = "aws-lc-rs"))]
    Backend,
}

impl Prepared {
    /// An HS256 key.
    pub(crate) fn hmac(key: HmacKey) -> Self {
        Self {
            alg: Algorithm::HS256,
            inner: PreparedInner::Hmac(Box::new(key)),
        }
    }

    /// A public key parsed by aws-lc-rs, for `alg`.
    #[cfg(feature = "aws-lc-rs")]
    pub(crate) fn parsed(alg: Algorithm, key: aws_lc_rs::signature::ParsedPublicKey) -> Self {
        Self {
            alg,
            inner: PreparedInner::Parsed(key),
        }
    }

    /// A key the backend builds for each token, for `alg`.
    #[cfg(not(feature = "aws-lc-rs"))]
    pub(crate) fn backend(alg: Algorithm) -> Self {
        Self {
            alg,
            inner: PreparedInner::Backend,
        }
    }

    /// The one algorithm this key verifies.
    pub(crate) fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

struct PreparedVerifier(Arc<Prepared>);

impl Verifier<Vec<u8>> for PreparedVerifier {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        let valid = match &self.0.inner {
            PreparedInner::Hmac(key) => key.verify(message, signature),
            #[cfg(feature = "aws-lc-rs")]
            PreparedInner::Parsed(key) => key.verify_sig(message, signature).is_ok(),
            #[cfg(not(feature = "aws-lc-rs"))]
            PreparedInner::Backend => false,
        };
        if valid {
            Ok(())
        } else {
            Err(signature::Error::new())
        }
    }
}

impl JwtVerifier for PreparedVerifier {
    fn algorithm(&self) -> Algorithm {
        self.0.alg
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

    /// SHA-256 of the label and the message, checked against Python's
    /// `hashlib.sha256(label + message)`, whichever backend computes it.
    #[test]
    fn labelled_digest_is_sha256_of_label_and_message() {
        let label = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let digest = LabelledDigest::new(label);
        let hex = |d: [u8; 32]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(digest.digest(b"abc")),
            "91f66ca50e6cd4b33f217b02dbf63a6a96388940da39ca2d5fe76e1b18efe839"
        );
        assert_eq!(
            hex(digest.digest(b"")),
            "a8ae6e6ee929abea3afcfc5258c8ccd6f85273e0d4626d26c7279f3250f77c8e"
        );
        assert_eq!(digest.digest(b"abc"), digest.digest(b"abc"), "state reused");
    }

    /// The prepared key verifies, not the `DecodingKey` beside it: here they differ, so
    /// only the hand-over explains the verdicts. The slot is empty after each call.
    #[test]
    fn decode_uses_the_prepared_key_once() {
        use jsonwebtoken::{EncodingKey, Header, encode};
        ensure_jsonwebtoken_provider();
        let claims = serde_json::json!({"exp": 4_000_000_000u64});
        let signed_by = |secret: &[u8]| {
            encode(
                &Header::default(),
                &claims,
                &EncodingKey::from_secret(secret),
            )
            .unwrap_or_default()
        };
        let prepared = Arc::new(Prepared::hmac(HmacKey::new(b"prepared")));
        let other = DecodingKey::from_secret(b"other");
        let validation = Validation::new(Algorithm::HS256);
        let verdict = |token: &str| {
            decode_prepared::<serde_json::Value>(token, &other, &prepared, &validation).is_ok()
        };
        assert!(verdict(&signed_by(b"prepared")));
        assert!(!verdict(&signed_by(b"other")));
        assert!(HANDOFF.with(|slot| slot.take()).is_none());
        // Without a hand-over, the provider builds the verifier from the key it is given.
        let plain =
            jsonwebtoken::decode::<serde_json::Value>(signed_by(b"other"), &other, &validation);
        assert!(plain.is_ok());
    }
}
