//! `chat-token serve --tenants-file`: each user's token signed with the Twilio account of
//! their organisation (tenant), from a TOML file that SIGHUP reads again.
//!
//! End to end, on the real binary: the tenants of a users file get tokens of their own
//! account (its `iss`, `sub`, chat service and secret); an unknown tenant, a user
//! without one and a tenant with unusable credentials are refused, and what the client
//! says about its tenant changes nothing; a rewritten file and a rotated secret are
//! served after SIGHUP while another tenant's requests keep succeeding, and an invalid
//! file keeps the previous tenants and is logged. No secret is ever in the output.

#![cfg(unix)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chat_token_core::{SecretString, inspect, inspect::SignatureCheck};
use common::tenants::{
    ACME, ACME_ROTATED, ALICE, Account, BOB, CAROL, GLOBEX, GLOBEX_VAR, HOOLI_SECRET,
    MISPLACED_SECRET, UMBRELLA, secret_env, secret_file, secret_inline, tenant_env, token_of,
};
use common::{
    API_SECRET, IDP_SECRET, Process, Reply, TempDir, eventually, idp_claims, idp_flags, idp_jwt,
    now, request, serve,
};

/// More users: of umbrella, of hooli (whose credentials are unusable), of no tenant.
const UMA: &str = "tok-uma-0123456789ab";
const ERIN: &str = "tok-erin-0123456789a";
const DAVE: &str = "tok-dave-0123456789a";

/// The users: four of configured tenants, one of a tenant the file does not name, one
/// of none.
fn users() -> String {
    format!(
        "# token=identity;tenant=ID\n\
         {ALICE}=alice;tenant=acme\n\
         {BOB}=bob;tenant=globex\n\
         {UMA}=uma;tenant=umbrella\n\
         {ERIN}=erin;tenant=hooli\n\
         {CAROL}=carol;tenant=initech\n\
         {DAVE}=dave\n"
    )
}

/// The tenants file: acme with `acme`'s key, its secret in the file `acme_secret_file`;
/// globex with its secret in [`GLOBEX_VAR`]; umbrella with its secret inline (the file
/// is private); hooli with a malformed account SID, whose users get 500.
fn tenants_toml(acme: &Account, acme_secret_file: &str) -> String {
    format!(
        "# One [tenants.<id>] per organisation with its own Twilio subaccount.\n\
         {}ttl = 600\n\n{}\n{}\n\
         [tenants.hooli]\n\
         account_sid = \"AC123\"\n\
         api_key_sid = \"SK55555555555555555555555555555555\"\n\
         api_secret = \"{HOOLI_SECRET}\"\n",
        acme.table("acme", &secret_file(acme_secret_file)),
        GLOBEX.table("globex", &secret_env(GLOBEX_VAR)),
        UMBRELLA.table("umbrella", &secret_inline(UMBRELLA.secret)),
    )
}

/// Writes acme's secret file and the tenants file (private) in `dir`: their paths.
fn write_tenants(dir: &TempDir) -> (String, String) {
    let acme_secret = ACME.write_secret(dir, "acme-secret");
    let tenants = tenants_toml(&ACME, &acme_secret);
    let tenants = dir.write_with_mode("tenants.toml", &tenants, 0o600);
    (acme_secret, tenants)
}

const ALL: [&Account; 4] = [&ACME, &ACME_ROTATED, &GLOBEX, &UMBRELLA];

/// Asserts that `reply` is a token of `identity` for `account`, verifiable with its
/// secret only; the token.
fn assert_token(reply: &Reply, identity: &str, account: &Account) -> String {
    let json = reply.json();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(json["identity"], identity, "{}", reply.body);
    let jwt = json["token"].as_str().expect("token").to_owned();
    assert!(account.signed(&jwt), "not a token of {}", account.key());
    for other in ALL {
        if other.secret != account.secret {
            let inspection =
                inspect(&jwt, Some(&SecretString::from(other.secret)), now()).expect("inspect");
            assert_ne!(inspection.signature(), SignatureCheck::Valid);
        }
    }
    let main = inspect(&jwt, Some(&SecretString::from(API_SECRET)), now()).expect("inspect");
    assert_ne!(main.signature(), SignatureCheck::Valid);
    jwt
}

fn assert_refused(reply: &Reply, status: u16, error: &str) {
    let json = reply.json();
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(json["error"], error, "{}", reply.body);
    assert!(json.get("token").is_none());
}

#[test]
fn each_tenant_gets_tokens_of_its_own_account_and_sighup_reloads_the_file() {
    let dir =
        TempDir::new("each_tenant_gets_tokens_of_its_own_account_and_sighup_reloads_the_file");
    let (acme_secret, tenants) = write_tenants(&dir);
    let users = dir.write_with_mode("users", &users(), 0o600);
    // SIGHUP alone: without the watcher, each change waits for the signal.
    let server = serve(
        &[
            "--users-file",
            &users,
            "--tenants-file",
            &tenants,
            "--no-watch",
        ],
        &tenant_env(),
    );
    let addr = server.addr;

    let alice = token_of(addr, ALICE);
    assert_token(&alice, "alice", &ACME);
    assert_eq!(alice.json()["expires_in"], 600, "acme's ttl");
    assert_token(&token_of(addr, BOB), "bob", &GLOBEX);
    assert_token(&token_of(addr, UMA), "uma", &UMBRELLA);
    assert_refused(&token_of(addr, CAROL), 403, "forbidden");
    assert_refused(&token_of(addr, DAVE), 403, "forbidden");
    assert_refused(&token_of(addr, ERIN), 500, "internal");
    assert_token(&token_of(addr, BOB), "bob", &GLOBEX);

    // What the client says about its tenant changes nothing.
    let bearer = format!("Bearer {ALICE}");
    for (path, headers) in [
        (
            "/token?tenant=globex",
            vec![("Authorization", bearer.as_str())],
        ),
        (
            "/token",
            vec![("Authorization", bearer.as_str()), ("X-Tenant", "globex")],
        ),
        (
            "/token",
            vec![("Authorization", bearer.as_str()), ("X-Org", "globex")],
        ),
    ] {
        assert_token(&request(addr, "GET", path, &headers), "alice", &ACME);
    }
    let dave = format!("Bearer {DAVE}");
    let r = request(
        addr,
        "GET",
        "/token?tenant=acme",
        &[("Authorization", &dave), ("X-Tenant", "acme")],
    );
    assert_refused(&r, 403, "forbidden");

    // Bob asks for tokens all along the reloads; each must succeed, signed by globex.
    let stop = Arc::new(AtomicBool::new(false));
    let bob = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut failures = Vec::new();
            let mut asked = 0;
            while !stop.load(Ordering::Relaxed) || asked == 0 {
                let reply = token_of(addr, BOB);
                if reply.status != 200 || !GLOBEX.issued(&reply) {
                    failures.push(format!("{} {}", reply.status, reply.body));
                }
                asked += 1;
            }
            (asked, failures)
        })
    };

    // Rotation: a new key for acme, its new secret in the same file; then SIGHUP.
    ACME_ROTATED.write_secret(&dir, "acme-secret");
    let rotated = tenants_toml(&ACME_ROTATED, &acme_secret);
    dir.write_with_mode("tenants.toml", &rotated, 0o600);
    server.process.hup();
    assert!(
        eventually(|| {
            let reply = token_of(addr, ALICE);
            reply.status == 200 && ACME_ROTATED.issued(&reply)
        }),
        "acme's new key never served: {}",
        server.log_text()
    );
    assert_token(&token_of(addr, ALICE), "alice", &ACME_ROTATED);
    server
        .process
        .wait_for_log("SIGHUP: tenants file reloaded", 1);
    assert!(server.log_text().contains("tenants=4"));

    // An invalid file: an unknown key. The current tenants stay, the log says why.
    let unknown = tenants_toml(&ACME, &acme_secret).replace("api_secret_file", "api_secret_fiel");
    dir.write_with_mode("tenants.toml", &unknown, 0o600);
    server.process.hup();
    server
        .process
        .wait_for_log("keeping the current tenants", 1);
    assert!(
        server
            .log_text()
            .contains("unknown field `api_secret_fiel`")
    );
    assert_token(&token_of(addr, ALICE), "alice", &ACME_ROTATED);
    assert_refused(&token_of(addr, CAROL), 403, "forbidden");

    // Another: a secret where a number belongs. Not echoed.
    let misplaced = tenants_toml(&ACME, &acme_secret)
        .replace("ttl = 600", &format!("ttl = \"{MISPLACED_SECRET}\""));
    dir.write_with_mode("tenants.toml", &misplaced, 0o600);
    server.process.hup();
    server
        .process
        .wait_for_log("keeping the current tenants", 2);
    assert!(server.log_text().contains("invalid value, expected"));
    assert_token(&token_of(addr, ALICE), "alice", &ACME_ROTATED);
    assert_token(&token_of(addr, UMA), "uma", &UMBRELLA);

    stop.store(true, Ordering::Relaxed);
    let (asked, failures) = bob.join().expect("bob's requests");
    assert!(asked > 0);
    assert!(failures.is_empty(), "bob's requests failed: {failures:?}");

    let out = server.stop();
    assert!(out.contains("tenant=\"hooli\""), "{out}");
    assert!(
        out.contains("account_sid is not a valid Account SID"),
        "{out}"
    );
}

#[test]
fn the_tenant_comes_from_a_jwt_claim_or_the_proxy_header() {
    let dir = TempDir::new("the_tenant_comes_from_a_jwt_claim_or_the_proxy_header");
    let (_, tenants) = write_tenants(&dir);
    let idp = dir.write_with_mode("idp-secret", &format!("{IDP_SECRET}\n"), 0o600);

    let server = serve(
        &[
            &idp_flags(&idp)[..],
            &["--tenant-claim", "org_id", "--tenants-file", &tenants],
        ]
        .concat(),
        &tenant_env(),
    );
    // `GET /token` with the bearer token `authorization` and `headers`.
    let get = |authorization: &str, headers: &[(&str, &str)]| {
        let headers = [&[("Authorization", authorization)], headers].concat();
        request(server.addr, "GET", "/token", &headers)
    };
    let jwt = |claims| format!("Bearer {}", idp_jwt(idp_claims(claims)));
    let alice = jwt(serde_json::json!({"sub": "alice", "org_id": "acme"}));
    assert_token(&get(&alice, &[("X-Tenant", "globex")]), "alice", &ACME);
    let bob = jwt(serde_json::json!({"sub": "bob", "org_id": "globex"}));
    assert_token(&get(&bob, &[]), "bob", &GLOBEX);
    let nobody = jwt(serde_json::json!({"sub": "carol"}));
    assert_refused(&get(&nobody, &[]), 403, "forbidden");
    let unknown = jwt(serde_json::json!({"sub": "carol", "org_id": "initech"}));
    assert_refused(&get(&unknown, &[]), 403, "forbidden");
    assert!(server.stop().contains("tenant from claim org_id"));

    let server = serve(
        &[
            "--trusted-header",
            "X-User",
            "--tenant-header",
            "X-Org",
            "--tenants-file",
            &tenants,
        ],
        &tenant_env(),
    );
    let headers = [("X-User", "bob"), ("X-Org", "globex")];
    let r = request(server.addr, "GET", "/token", &headers);
    assert_token(&r, "bob", &GLOBEX);
    let r = request(
        server.addr,
        "GET",
        "/token?tenant=acme",
        &[("X-User", "bob")],
    );
    assert_refused(&r, 403, "forbidden");
    assert!(server.stop().contains("tenant from header X-Org"));
}

#[test]
fn serve_refuses_what_cannot_work() {
    let dir = TempDir::new("serve_refuses_what_cannot_work");
    let acme_secret = ACME.write_secret(&dir, "acme-secret");
    let users = dir.write_with_mode("users", &users(), 0o600);
    // Asserts that serve with `args` exits with an error and says each of `says`.
    let refused = |args: &[&str], says: &[&str]| {
        let (code, out) = Process::serve(args, &tenant_env()).finish();
        assert!(
            code.is_some_and(|code| code != 0),
            "should exit with an error: {out}"
        );
        for part in says {
            assert!(out.contains(part), "should say {part:?}: {out}");
        }
    };
    // The same with the users and the tenants file `tenants`.
    let refused_with = |tenants: &str, says: &[&str]| {
        refused(&["--users-file", &users, "--tenants-file", tenants], says);
    };

    // An inline secret in a file others can read.
    let toml = tenants_toml(&ACME, &acme_secret);
    let open = dir.write_with_mode("open.toml", &toml, 0o644);
    refused_with(
        &open,
        &["tenant hooli has an inline api_secret", "chmod 600"],
    );

    // Two sources of one tenant's secret.
    let both = toml.replace(
        &secret_env(GLOBEX_VAR),
        &format!(
            "{}\n{}",
            secret_env(GLOBEX_VAR),
            secret_inline(GLOBEX.secret)
        ),
    );
    let both = dir.write_with_mode("both.toml", &both, 0o600);
    refused_with(
        &both,
        &[
            "tenant globex gives 2 of api_secret_file, api_secret_env and api_secret",
            "exactly one",
        ],
    );

    // Not TOML; no tenant.
    let broken = format!("[tenants.acme\n{}\n", secret_inline(MISPLACED_SECRET));
    let broken = dir.write_with_mode("broken.toml", &broken, 0o600);
    refused_with(&broken, &["line 1"]);
    let empty = dir.write_with_mode("empty.toml", "# no tenant yet\n", 0o600);
    refused_with(&empty, &["configures no tenant"]);

    // A way to name tenants without tenants, and tenants no request could name.
    let good = dir.write_with_mode("good.toml", &toml, 0o600);
    refused(
        &["--trusted-header", "X-User", "--tenant-header", "X-Org"],
        &["--tenants-file"],
    );
    refused(
        &[
            "--users-file",
            &users,
            "--tenant-header",
            "X-Org",
            "--tenants-file",
            &good,
        ],
        &["--trusted-header"],
    );
    refused(
        &["--trusted-header", "X-User", "--tenants-file", &good],
        &["needs --tenant-header"],
    );
    let idp = dir.write_with_mode("idp-secret", &format!("{IDP_SECRET}\n"), 0o600);
    refused(
        &[&idp_flags(&idp)[..], &["--tenants-file", &good]].concat(),
        &["needs --tenant-claim"],
    );
}

#[test]
fn serve_help_describes_the_tenant_flags() {
    let (code, out) = Process::start(&["serve", "--help"], &[]).finish();
    assert_eq!(code, Some(0), "{out}");
    for part in [
        "--tenants-file <FILE>",
        "[tenants.acme]",
        "api_secret_env",
        "chmod 600",
        "users get 500",
        "SIGHUP",
        "--tenant-claim <CLAIM>",
        "--tenant-header <NAME>",
    ] {
        assert!(out.contains(part), "--help should say {part:?}: {out}");
    }
}

#[test]
fn serve_warns_about_demo_users_and_a_tenant_without_a_chat_service() {
    let dir = TempDir::new("serve_warns_about_demo_users_and_a_tenant_without_a_chat_service");
    // The secret file is named relative to the tenants file's directory.
    ACME.write_secret(&dir, "acme-secret");
    let toml = ACME.table_without_service("acme", &secret_file("acme-secret"));
    let tenants = dir.write_with_mode("tenants.toml", &toml, 0o644);
    // Development mode (no credentials), whose demo users belong to no tenant.
    let server = serve(&["--tenants-file", &tenants], &[]);
    let r = token_of(server.addr, "demo-alice");
    assert_refused(&r, 403, "forbidden");
    let out = server.stop();
    assert!(
        out.contains("no entry of the demo users names a tenant") && out.contains("403"),
        "{out}"
    );
    // The file holds no secret: no warning that others can read it.
    assert!(!out.contains("can be read by other users"), "{out}");
    assert!(out.contains("tenants=1 unusable=1"), "{out}");
    assert!(out.contains("no chat_service_sid"), "{out}");
}
