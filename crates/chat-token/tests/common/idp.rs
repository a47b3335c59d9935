//! A made-up identity provider whose HS256 JWTs `serve` accepts with [`idp_flags`].

use super::now;

/// The identity provider's HS256 secret, its issuer and the audience its tokens name.
pub const IDP_SECRET: &str = "idp-shared-secret-of-at-least-32-bytes";
pub const IDP_ISSUER: &str = "https://idp.example.test/";
pub const IDP_AUDIENCE: &str = "chat";

/// The flags that make `serve` accept the identity provider's HS256 JWTs, the secret
/// read from `secret_file`.
pub fn idp_flags(secret_file: &str) -> [&str; 6] {
    [
        "--jwt-hs256-secret-file",
        secret_file,
        "--jwt-issuer",
        IDP_ISSUER,
        "--jwt-audience",
        IDP_AUDIENCE,
    ]
}

/// The identity provider's claims for a token valid for 5 minutes (issuer, audience,
/// expiry), with `claims` added over them.
pub fn idp_claims(claims: serde_json::Value) -> serde_json::Value {
    let mut all = serde_json::json!({"iss": IDP_ISSUER, "aud": IDP_AUDIENCE, "exp": now() + 300});
    for (name, value) in claims.as_object().expect("claims object") {
        all[name] = value.clone();
    }
    all
}

/// A JWT of the identity provider: `claims` signed with [`IDP_SECRET`].
pub fn idp_jwt(claims: serde_json::Value) -> String {
    hs256(IDP_SECRET.as_bytes(), claims)
}

/// `claims` in a JWT signed with HS256 and `secret`.
pub fn hs256(secret: &[u8], claims: serde_json::Value) -> String {
    use base64::Engine as _;
    use hmac::Mac as _;
    let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signing = format!(
        "{}.{}",
        e.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
        e.encode(claims.to_string())
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("key");
    mac.update(signing.as_bytes());
    format!("{signing}.{}", e.encode(mac.finalize().into_bytes()))
}
