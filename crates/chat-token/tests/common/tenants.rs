//! The made-up tenants of the `serve --tenants-file` tests: their Twilio accounts and
//! secrets, the TOML tables that configure them, their users' bearer tokens, and
//! `serve` started with a users file and a tenants file.

use std::net::SocketAddr;

use chat_token_core::{SecretString, inspect, inspect::SignatureCheck};

use super::{API_SECRET, CREDENTIALS, IDP_SECRET, Process, Reply, TempDir, get_token, now};

/// A tenant's Twilio account, made up: its SIDs are `AC`, `SK` or `IS` and 32 times one
/// digit.
pub struct Account {
    /// The digit of its account SID and chat service SID.
    digit: char,
    /// The digit of its API key SID.
    key_digit: char,
    /// The API key's secret.
    pub secret: &'static str,
}

/// acme, which rotates its API key in a test.
pub const ACME: Account = Account::new('1', '1', "acme-secret-one-never-shown-00000");
/// acme after a rotation: a new API key and its secret.
pub const ACME_ROTATED: Account = Account::new('1', '2', "acme-secret-two-never-shown-11111");
/// globex.
pub const GLOBEX: Account = Account::new('3', '3', "globex-secret-never-shown-2222222");
/// umbrella.
pub const UMBRELLA: Account = Account::new('4', '4', "umbrella-secret-never-shown-33333");

/// The secret of hooli, a tenant configured with a malformed account SID.
pub const HOOLI_SECRET: &str = "hooli-secret-never-shown-44444444";

/// Secret-like values in the wrong place of an invalid tenants file: never to be
/// echoed, whole or in part.
pub const MISPLACED_SECRET: &str = "misplaced-secret-never-shown-5555";
pub const STRAY_HEAD: &str = "strayhead7q";
pub const STRAY_TAIL: &str = "straytail9z";
pub const STRAY_NUMBER: &str = "4815162342108";

/// The variables of `serve` that hold acme's and globex's secrets ([`tenant_env`]).
pub const ACME_VAR: &str = "ACME_TWILIO_SECRET";
pub const GLOBEX_VAR: &str = "GLOBEX_TWILIO_SECRET";

/// Every made-up secret: none may be in the output of a process (see
/// [`super::assert_no_secret_in`]).
pub const SECRETS: [&str; 11] = [
    API_SECRET,
    IDP_SECRET,
    ACME.secret,
    ACME_ROTATED.secret,
    GLOBEX.secret,
    UMBRELLA.secret,
    HOOLI_SECRET,
    MISPLACED_SECRET,
    STRAY_HEAD,
    STRAY_TAIL,
    STRAY_NUMBER,
];

/// Bearer tokens of users (the users file names their identity and tenant).
pub const ALICE: &str = "tok-alice-0123456789";
pub const BOB: &str = "tok-bob-0123456789ab";
pub const CAROL: &str = "tok-carol-0123456789";

impl Account {
    const fn new(digit: char, key_digit: char, secret: &'static str) -> Self {
        Account {
            digit,
            key_digit,
            secret,
        }
    }

    /// The account SID.
    pub fn account(&self) -> String {
        sid("AC", self.digit)
    }

    /// The API key SID.
    pub fn key(&self) -> String {
        sid("SK", self.key_digit)
    }

    /// The Chat/Conversations service SID.
    pub fn service(&self) -> String {
        sid("IS", self.digit)
    }

    /// Whether `jwt` is signed with this account's secret and names its key, account and
    /// chat service.
    pub fn signed(&self, jwt: &str) -> bool {
        let Ok(inspection) = inspect(jwt, Some(&SecretString::from(self.secret)), now()) else {
            return false;
        };
        let claims = inspection.claims();
        inspection.signature() == SignatureCheck::Valid
            && claims["iss"] == self.key()
            && claims["sub"] == self.account()
            && claims["grants"]["chat"]["service_sid"] == self.service()
    }

    /// Whether `reply` holds a token of this account (see [`Account::signed`]).
    pub fn issued(&self, reply: &Reply) -> bool {
        reply.json()["token"]
            .as_str()
            .is_some_and(|jwt| self.signed(jwt))
    }

    /// The table `[tenants.<id>]` of this account, without `chat_service_sid`; `secret`
    /// is the line that gives the API key's secret ([`secret_file`], [`secret_env`],
    /// [`secret_inline`]).
    pub fn table_without_service(&self, id: &str, secret: &str) -> String {
        format!(
            "[tenants.{id}]\naccount_sid = \"{}\"\napi_key_sid = \"{}\"\n{secret}\n",
            self.account(),
            self.key()
        )
    }

    /// [`Account::table_without_service`] with the account's `chat_service_sid`.
    pub fn table(&self, id: &str, secret: &str) -> String {
        let table = self.table_without_service(id, secret);
        format!("{table}chat_service_sid = \"{}\"\n", self.service())
    }

    /// Writes the secret, with the line break of a secret file, to the private file
    /// `name` in `dir`: its path.
    pub fn write_secret(&self, dir: &TempDir, name: &str) -> String {
        dir.write_with_mode(name, &format!("{}\n", self.secret), 0o600)
    }
}

/// `prefix` and 32 times `digit`.
fn sid(prefix: &str, digit: char) -> String {
    format!("{prefix}{}", String::from(digit).repeat(32))
}

/// A tenant's secret read from the file `path`.
pub fn secret_file(path: &str) -> String {
    format!("api_secret_file = \"{path}\"")
}

/// A tenant's secret read from `serve`'s variable `var`.
pub fn secret_env(var: &str) -> String {
    format!("api_secret_env = \"{var}\"")
}

/// A tenant's secret inline.
pub fn secret_inline(secret: &str) -> String {
    format!("api_secret = \"{secret}\"")
}

/// The service's own credentials ([`CREDENTIALS`]: no tenant's token may use them), and
/// acme's and globex's secrets in [`ACME_VAR`] and [`GLOBEX_VAR`].
pub fn tenant_env() -> Vec<(&'static str, &'static str)> {
    let mut env = CREDENTIALS.to_vec();
    env.extend([(ACME_VAR, ACME.secret), (GLOBEX_VAR, GLOBEX.secret)]);
    env
}

/// `GET /token` as the user with bearer token `user`.
pub fn token_of(addr: SocketAddr, user: &str) -> Reply {
    get_token(addr, &format!("Bearer {user}"))
}

/// Starts `serve` with the users file `users` and the tenants file `tenants` (paths),
/// and [`tenant_env`].
pub fn serve_tenants(users: &str, tenants: &str) -> Process {
    Process::serve(
        &["--users-file", users, "--tenants-file", tenants],
        &tenant_env(),
    )
}
