//! Attacks on `chat-token serve --tenants-file` by a careless deployer (and a user who
//! wants another organisation's token): secret files that are not files, huge or many
//! lines; inline secrets in files others can read, through symlinks; TOML errors around
//! secrets; duplicate and lookalike tenant ids; users entries naming tenants the file
//! does not; a tenant without a chat service; reloads that swap two tenants' secrets.
//!
//! Every test asserts the SAFE behaviour: a test fails exactly when the weakness it
//! names exists. Timings are asserted only as generous upper bounds ("does not hang").

#![cfg(unix)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::tenants::{
    ACME, ACME_VAR, ALICE, Account, BOB, CAROL, GLOBEX, GLOBEX_VAR, STRAY_HEAD, STRAY_NUMBER,
    STRAY_TAIL, secret_env, secret_file, secret_inline, serve_tenants, tenant_env, token_of,
};
use common::{CHAT_SERVICE_SID, DEADLINE, Process, TempDir, eventually};

/// The name of the tenants file in a test's directory.
const TENANTS: &str = "tenants.toml";

/// The users file of most tests: Alice, of acme.
fn alice_of_acme() -> String {
    format!("{ALICE}=alice;tenant=acme\n")
}

/// acme's table, its secret in the variable [`ACME_VAR`].
fn acme_from_env() -> String {
    ACME.table("acme", &secret_env(ACME_VAR))
}

/// acme's table, its secret in the file `path`.
fn acme_from_file(path: &str) -> String {
    ACME.table("acme", &secret_file(path))
}

/// Writes the users file (`users`, its entries) and the tenants file (`tenants`, its
/// text) in `dir`, both private, and starts `serve` with them, with `--no-watch`: these
/// findings are about `SIGHUP`, which alone reads the files again here (a watcher's
/// reload of the same change would race the test's `SIGHUP`s and their log lines;
/// following the files is tested in `reload.rs`).
fn serve_with(dir: &TempDir, users: &str, tenants: &str) -> Process {
    let users = dir.write_with_mode("users", users, 0o600);
    let tenants = dir.write_with_mode(TENANTS, tenants, 0o600);
    serve_files(&users, &tenants, &[])
}

/// `serve` with the users file and tenants file at these paths, `--no-watch` (see
/// [`serve_with`]) and `more` flags.
fn serve_files(users: &str, tenants: &str, more: &[&str]) -> Process {
    let args = [
        &[
            "--users-file",
            users,
            "--tenants-file",
            tenants,
            "--no-watch",
        ][..],
        more,
    ]
    .concat();
    Process::serve(&args, &tenant_env())
}

/// A FIFO `name` in `dir` (only its owner may use it): its path.
fn fifo(dir: &TempDir, name: &str) -> String {
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    let ok = Command::new("mkfifo")
        .arg("-m")
        .arg("600")
        .arg(&path)
        .status()
        .expect("mkfifo")
        .success();
    assert!(ok, "mkfifo failed");
    path.to_string_lossy().into_owned()
}

/// Whether `code` is that of a process that exited by itself with an error.
fn is_error(code: Option<i32>) -> bool {
    code.is_some_and(|code| code != 0)
}

// ---------------------------------------------------------------------------------------
// Secret files that are not secrets
// ---------------------------------------------------------------------------------------

/// FINDING (low, deployer): a tenant's `api_secret_file` naming a FIFO (or a device,
/// a socket, /dev/stdin...) blocks `serve` forever before it listens: the secret file is
/// opened and read with no check of its type and no limit. (`/dev/zero` is worse: an
/// unbounded read of zero bytes, until memory runs out.) Safe: a secret file that is
/// not a regular file makes that tenant unusable (500, logged) or `serve` refuses to
/// start; it never hangs.
#[test]
fn a_fifo_as_a_tenant_secret_file_does_not_hang_serve() {
    let dir = TempDir::new("a_fifo_as_a_tenant_secret_file_does_not_hang_serve");
    let fifo = fifo(&dir, "acme-secret");
    let mut serve = serve_with(&dir, &alice_of_acme(), &acme_from_file(&fifo));
    let addr = serve.addr();
    let exited = serve.child.try_wait().expect("wait").is_some();
    let out = serve.stop();
    assert!(
        addr.is_some() || exited,
        "serve neither listened nor exited within {DEADLINE:?}: it hangs reading the FIFO\n{out}"
    );
}

/// FINDING (medium, deployer): the same on SIGHUP. The reload reads every secret file
/// synchronously on a runtime worker; a FIFO among them blocks it forever, so the fix
/// (a corrected file and another SIGHUP) is never read, and one of the runtime's
/// worker threads is gone for good. Safe: the reload finishes (the tenant keeps the
/// credentials it has, as a reload never makes a working tenant unusable), and the next
/// SIGHUP reads the corrected file.
#[test]
fn a_fifo_secret_file_on_reload_does_not_wedge_later_reloads() {
    let dir = TempDir::new("a_fifo_secret_file_on_reload_does_not_wedge_later_reloads");
    let good = acme_from_file(&ACME.write_secret(&dir, "acme-secret"));
    let mut serve = serve_with(&dir, &alice_of_acme(), &good);
    let addr = serve.addr().expect("serve listens");
    assert!(ACME.issued(&token_of(addr, ALICE)));

    let fifo = fifo(&dir, "acme-fifo");
    dir.write_with_mode(TENANTS, &acme_from_file(&fifo), 0o600);
    serve.hup();
    // Time for that reload to reach the FIFO (no timing is asserted).
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        serve.logs("keeping its current credentials", 1),
        "{}",
        serve.output()
    );
    assert!(ACME.issued(&token_of(addr, ALICE)));
    dir.write_with_mode(TENANTS, &good, 0o600);
    serve.hup();
    let reloaded = serve.logs("SIGHUP: tenants file", 2);
    assert!(ACME.issued(&token_of(addr, ALICE)));
    let out = serve.stop();
    assert!(
        reloaded,
        "no reload finished within {DEADLINE:?} after a FIFO secret and a corrected file\n{out}"
    );
}

/// FINDING (low, deployer): a secret file is read whole, whatever its size (the tenants
/// file itself is capped at 16 MiB, its secret files are not): a path pointing at a
/// large file (a log, a disk image, `/dev/zero`) is read into memory, and a 20 MiB
/// file is even accepted as the tenant's secret. Safe: a secret file larger than any
/// API key secret (a few KiB at most) makes the tenant unusable (500, logged) without
/// being read whole.
#[test]
fn a_huge_secret_file_is_refused() {
    let dir = TempDir::new("a_huge_secret_file_is_refused");
    let huge = dir.write_with_mode("acme-secret", &"s".repeat(20 * 1024 * 1024), 0o600);
    let mut serve = serve_with(&dir, &alice_of_acme(), &acme_from_file(&huge));
    let reply = serve.addr().map(|addr| token_of(addr, ALICE));
    let out = serve.stop();
    let status = reply.as_ref().map(|r| r.status);
    assert!(
        matches!(status, None | Some(500)),
        "a 20 MiB secret file was accepted as acme's secret: {status:?}\n{}",
        out.lines().take(20).collect::<Vec<_>>().join("\n")
    );
}

/// FINDING (info, deployer): a secret file of several lines (a symlink to the wrong
/// file, `/etc/shadow`, a `.env` of many variables, two secrets during a rotation) is
/// accepted whole as the API key secret: tokens are minted that Twilio will refuse, and
/// nothing is logged. Safe: a secret with a line break (or other control character)
/// inside makes the tenant unusable (500), and the log says why.
#[test]
fn a_secret_file_of_several_lines_is_unusable() {
    let dir = TempDir::new("a_secret_file_of_several_lines_is_unusable");
    let secret = format!("{}\nOTHER_VAR=x\n", ACME.secret);
    let secret = dir.write_with_mode("acme-secret", &secret, 0o600);
    let mut serve = serve_with(&dir, &alice_of_acme(), &acme_from_file(&secret));
    let addr = serve.addr().expect("serve listens");
    let reply = token_of(addr, ALICE);
    let out = serve.stop();
    assert_eq!(
        reply.status, 500,
        "a two-line secret file was used as the secret: {}\n{out}",
        reply.body
    );
}

// ---------------------------------------------------------------------------------------
// Inline secrets: who can read the file, what errors say
// ---------------------------------------------------------------------------------------

/// Finding probed: an inline `api_secret` in a tenants file others can read (0644,
/// 0640, or a private-looking symlink to a world-readable file) is accepted.
#[test]
fn an_inline_secret_in_a_file_others_can_read_is_refused_even_through_a_symlink() {
    let dir = TempDir::new(
        "an_inline_secret_in_a_file_others_can_read_is_refused_even_through_a_symlink",
    );
    let text = ACME.table("acme", &secret_inline(ACME.secret));
    let users = dir.write_with_mode("users", &alice_of_acme(), 0o600);
    let world = dir.write_with_mode("world.toml", &text, 0o644);
    let group = dir.write_with_mode("group.toml", &text, 0o640);
    let link = dir.join("link.toml");
    std::os::unix::fs::symlink(&world, &link).expect("symlink");
    for file in [world, group, link.to_string_lossy().into_owned()] {
        let (code, out) = serve_tenants(&users, &file).finish();
        assert!(
            is_error(code),
            "{file}: an inline secret in a file others can read was accepted\n{out}"
        );
        assert!(out.contains("chmod 600"), "{out}");
    }
    // A private file reached through a symlink is fine.
    let private = dir.write_with_mode("private.toml", &text, 0o600);
    let link = dir.join("private-link.toml");
    std::os::unix::fs::symlink(&private, &link).expect("symlink");
    let mut serve = serve_tenants(&users, &link.to_string_lossy());
    let addr = serve.addr().expect("serve listens");
    assert!(ACME.issued(&token_of(addr, ALICE)));
    serve.stop();
}

/// FINDING (low): a TOML error about a value holding a double quote echoes part of
/// it. The parser's message quotes a mistyped string with escapes (`"ab\"cd"`), and the
/// redaction, which drops what lies between the first two `"`, stops at the escaped
/// one: the rest of the value is printed. An unquoted numeric value is echoed whole
/// (between backticks, which are not redacted). Safe: no part of a value in the file
/// appears in the error.
#[test]
fn toml_errors_never_echo_any_part_of_a_value() {
    let dir = TempDir::new("toml_errors_never_echo_any_part_of_a_value");
    let users = dir.write_with_mode("users", &alice_of_acme(), 0o600);
    let base = |extra: &str| format!("{}{extra}\n", ACME.table("acme", &secret_env("X")));
    let cases = [
        // A secret with a quote in it, pasted into a typed field.
        (
            "quote",
            base(&format!("ttl = '{STRAY_HEAD}\"{STRAY_TAIL}'")),
            &[STRAY_HEAD, STRAY_TAIL][..],
        ),
        // The same, two quotes.
        (
            "quotes",
            base(&format!("ttl = '\"{STRAY_HEAD}\"{STRAY_TAIL}'")),
            &[STRAY_HEAD, STRAY_TAIL][..],
        ),
        // A numeric secret written without quotes.
        (
            "number",
            ACME.table("acme", &format!("api_secret = {STRAY_NUMBER}")),
            &[STRAY_NUMBER][..],
        ),
    ];
    let mut leaks = Vec::new();
    for (name, text, values) in cases {
        let file = dir.write_with_mode(&format!("{name}.toml"), &text, 0o600);
        let mut process = serve_tenants(&users, &file);
        let code = process.exit_code();
        // Not `stop`: every echoed value is listed below, not only the first.
        let out = process.end();
        assert!(is_error(code), "{name}: accepted\n{out}");
        for value in values {
            if out.contains(value) {
                leaks.push(format!(
                    "{name}: {}",
                    out.lines()
                        .filter(|l| l.contains(value))
                        .collect::<Vec<_>>()
                        .join(" | ")
                ));
            }
        }
    }
    assert!(leaks.is_empty(), "values echoed:\n{}", leaks.join("\n"));
}

/// Finding probed: `--help` (or `serve --help`) shows a secret from the environment or
/// the tenants file's content.
#[test]
fn help_shows_no_secret() {
    for args in [&["--help"][..], &["serve", "--help"][..]] {
        // `run` asserts that no secret is in the output.
        let text = common::text(&common::run(&tenant_env(), args));
        assert!(text.contains("tenants-file") || args.len() == 1, "{text}");
    }
}

// ---------------------------------------------------------------------------------------
// Tenant ids and naming
// ---------------------------------------------------------------------------------------

/// Finding probed: two tables for one tenant id (written twice, or once quoted), or an
/// id equal to another's but for white space, are accepted and one silently wins.
#[test]
fn duplicate_and_padded_tenant_ids_are_refused() {
    let dir = TempDir::new("duplicate_and_padded_tenant_ids_are_refused");
    let acme = acme_from_env();
    let globex_as = |id: &str| format!("{acme}\n{}", GLOBEX.table(id, &secret_env(GLOBEX_VAR)));
    let cases = [
        ("twice", globex_as("acme")),
        ("quoted", globex_as("\"acme\"")),
        ("padded", globex_as("\"acme \"")),
        (
            "key twice",
            format!("{acme}api_key_sid = \"{}\"\n", GLOBEX.key()),
        ),
    ];
    for (name, text) in cases {
        let (code, out) = serve_with(&dir, &alice_of_acme(), &text).finish();
        assert!(
            is_error(code),
            "{name}: a second table for acme was accepted\n{out}"
        );
    }
}

/// Finding probed: a users entry naming a tenant the file does not configure (a typo:
/// `acm`, `Acme`, `acme ` trimmed or not), or a user of no tenant, gets a token of
/// another tenant or of the service's own account.
#[test]
fn a_users_entry_of_a_tenant_missing_from_the_file_gets_403_only() {
    let dir = TempDir::new("a_users_entry_of_a_tenant_missing_from_the_file_gets_403_only");
    let users =
        format!("{ALICE}=alice;tenant=Acme\n{BOB}=bob;tenant=acm\n{CAROL}=carol ;tenant= acme \n");
    let mut serve = serve_with(&dir, &users, &acme_from_env());
    let addr = serve.addr().expect("serve listens");
    for user in [ALICE, BOB] {
        let reply = token_of(addr, user);
        assert_eq!(reply.status, 403, "{user}: {}", reply.body);
    }
    // " acme " is trimmed to acme, the tenant the deployer meant.
    assert!(ACME.issued(&token_of(addr, CAROL)));
    serve.stop();
}

/// FINDING (info, deployer): users entries naming tenants the tenants file does not
/// configure (`acm` for `acme`) are not reported at start: those users get 403 at their
/// first request and the log then says only that the tenant has no configuration.
/// Safe: `serve` warns at start (and after SIGHUP) about each such tenant.
#[test]
fn a_users_entry_of_a_tenant_missing_from_the_file_is_warned_at_start() {
    let dir = TempDir::new("a_users_entry_of_a_tenant_missing_from_the_file_is_warned_at_start");
    let users = format!("{ALICE}=alice;tenant=acme\n{BOB}=bob;tenant=acm\n");
    let mut serve = serve_with(&dir, &users, &acme_from_env());
    serve.addr().expect("serve listens");
    let out = serve.stop();
    assert!(
        out.lines()
            .any(|l| l.contains("WARN") && l.contains("acm") && !l.contains("acme")),
        "no warning names the tenant acm, which the tenants file lacks:\n{out}"
    );
}

/// Finding probed: a tenant without `chat_service_sid` (which `serve` can never serve:
/// the file cannot give it grants of its own) is loaded as usable, so the start-up log
/// counts it among the good tenants (`unusable=0`) and its users find out with a 500;
/// or its users get the service's own chat service.
#[test]
fn a_tenant_without_a_chat_service_is_reported_unusable_at_load() {
    let dir = TempDir::new("a_tenant_without_a_chat_service_is_reported_unusable_at_load");
    let tenants = ACME.table_without_service("acme", &secret_env(ACME_VAR));
    let mut serve = serve_with(&dir, &alice_of_acme(), &tenants);
    let addr = serve.addr().expect("serve listens");
    let before = serve.output();
    let reply = token_of(addr, ALICE);
    assert_eq!(reply.status, 500, "{}", reply.body);
    assert!(!reply.body.contains(CHAT_SERVICE_SID));
    serve.stop();
    assert!(
        before.contains("unusable=1"),
        "the tenant without a chat service was loaded as usable:\n{before}"
    );
}

/// Finding probed: a reload that swaps two tenants' keys and secrets (acme's become
/// globex's and the reverse) leaves either tenant's users with the other's old
/// configuration (a stale cache entry), or mixes one's key SID with the other's secret.
#[test]
fn a_reload_swapping_two_tenants_credentials_swaps_their_tokens() {
    let dir = TempDir::new("a_reload_swapping_two_tenants_credentials_swaps_their_tokens");
    let acme_secret = ACME.write_secret(&dir, "acme-secret");
    let globex_secret = GLOBEX.write_secret(&dir, "globex-secret");
    // acme with account `a` (its secret in `a_secret`), globex with `g`.
    let file = |a: &Account, a_secret: &str, g: &Account, g_secret: &str| {
        let acme = a.table("acme", &secret_file(a_secret));
        format!("{acme}\n{}", g.table("globex", &secret_file(g_secret)))
    };
    let users = format!("{ALICE}=alice;tenant=acme\n{BOB}=bob;tenant=globex\n");
    let tenants = file(&ACME, &acme_secret, &GLOBEX, &globex_secret);
    let mut serve = serve_with(&dir, &users, &tenants);
    let addr = serve.addr().expect("serve listens");
    assert!(ACME.issued(&token_of(addr, ALICE)));
    assert!(GLOBEX.issued(&token_of(addr, BOB)));
    let swapped = file(&GLOBEX, &globex_secret, &ACME, &acme_secret);
    dir.write_with_mode(TENANTS, &swapped, 0o600);
    serve.hup();
    // The reload's own line, written once the changed tenants' cached answers are
    // forgotten (the tenants file's "reloaded" line comes before that).
    assert!(
        serve.logs("SIGHUP: tenants file reloaded", 1),
        "{}",
        serve.output()
    );
    for _ in 0..3 {
        let alice = token_of(addr, ALICE);
        let bob = token_of(addr, BOB);
        assert!(
            GLOBEX.issued(&alice),
            "alice: {}\n{}",
            alice.body,
            serve.output()
        );
        assert!(ACME.issued(&bob), "bob: {}\n{}", bob.body, serve.output());
    }
    serve.stop();
}

/// FINDING (medium, operator): a tenant whose new secret cannot be read keeps its
/// current credentials (logged), but the reload counted as `ok` and
/// `chat_token_reload_ok{file="tenants"}` stayed 1, so the alert the docs recommend
/// never fired while the tenant ran on a secret that no longer exists on disk. Safe:
/// such a reading counts as an error and leaves the gauge at 0 until every served
/// tenant's credentials work again; the tenant keeps getting tokens meanwhile, and
/// `chat_token_tenants_unusable` counts the tenants answered 500.
#[test]
fn a_tenant_kept_on_its_old_credentials_shows_in_the_reload_metrics() {
    let dir = TempDir::new("a_tenant_kept_on_its_old_credentials_shows_in_the_reload_metrics");
    let secret = ACME.write_secret(&dir, "acme-secret");
    let users = dir.write_with_mode("users", &alice_of_acme(), 0o600);
    let tenants = dir.write_with_mode(TENANTS, &acme_from_file(&secret), 0o600);
    let mut serve = serve_files(&users, &tenants, &["--metrics"]);
    let addr = serve.addr().expect("serve listens");
    let gauge = |name: &str| common::metric(addr, name);
    let ok = r#"chat_token_reload_ok{file="tenants"}"#;
    let errors = r#"chat_token_reloads_total{file="tenants",result="error"}"#;
    let unusable = "chat_token_tenants_unusable";
    let last = r#"chat_token_reload_last_success_timestamp_seconds{file="tenants"}"#;
    assert_eq!(gauge(ok), Some(1.0));
    assert_eq!(gauge(unusable), Some(0.0));
    let loaded_at = gauge(last).expect("last load time");

    // The secret file disappears (a mount half updated, a deleted file).
    std::fs::remove_file(&secret).expect("remove the secret");
    serve.hup();
    serve.wait_for_log("tenants file reloaded in part", 1);
    assert_eq!(gauge(ok), Some(0.0), "{}", serve.output());
    assert_eq!(gauge(errors), Some(1.0));
    assert_eq!(gauge(unusable), Some(0.0), "acme is still served");
    // Not a reading that was found valid: the last success stays where it was.
    assert_eq!(gauge(last), Some(loaded_at));
    assert!(ACME.issued(&token_of(addr, ALICE)));

    // The secret is back: the gauge is 1 again.
    ACME.write_secret(&dir, "acme-secret");
    serve.hup();
    assert!(eventually(|| gauge(ok) == Some(1.0)), "{}", serve.output());
    let out = serve.stop();
    assert!(
        out.contains("kept on their current credentials, as their new ones cannot be used (see each one's warning): 1 (acme)"),
        "{out}"
    );
}

/// FINDING (medium, deployer): a tenant's secret with an Auth Token's shape was only
/// warned about, and its users got tokens Twilio refuses (20107) while everything looked
/// healthy, the failure `serve` already refuses for its own secret. Safe: such a tenant
/// cannot be used (500 for its users, counted in `chat_token_tenants_unusable`), and a
/// served tenant whose secret file changes to one keeps its current credentials.
#[test]
fn a_tenant_secret_shaped_like_an_auth_token_is_not_used() {
    const AUTH_TOKEN_SHAPE: &str = "0123456789abcdef0123456789abcdef";
    let dir = TempDir::new("a_tenant_secret_shaped_like_an_auth_token_is_not_used");
    let acme_secret = ACME.write_secret(&dir, "acme-secret");
    let globex_secret = dir.write_with_mode("globex-secret", AUTH_TOKEN_SHAPE, 0o600);
    let users = dir.write_with_mode(
        "users",
        &format!("{}{BOB}=bob;tenant=globex\n", alice_of_acme()),
        0o600,
    );
    let tenants = format!(
        "{}{}",
        acme_from_file(&acme_secret),
        GLOBEX.table("globex", &secret_file(&globex_secret))
    );
    let tenants = dir.write_with_mode(TENANTS, &tenants, 0o600);
    let mut serve = serve_files(&users, &tenants, &["--metrics"]);
    let addr = serve.addr().expect("serve listens");
    let gauge = |name: &str| common::metric(addr, name);
    assert_eq!(token_of(addr, BOB).status, 500);
    assert_eq!(gauge("chat_token_tenants_unusable"), Some(1.0));
    assert!(ACME.issued(&token_of(addr, ALICE)));

    // acme's secret file now holds an Auth Token: acme keeps its current credentials.
    dir.write_with_mode("acme-secret", &format!("{AUTH_TOKEN_SHAPE}\n"), 0o600);
    serve.hup();
    serve.wait_for_log("tenants file reloaded in part", 1);
    assert_eq!(gauge(r#"chat_token_reload_ok{file="tenants"}"#), Some(0.0));
    assert!(ACME.issued(&token_of(addr, ALICE)));
    let out = serve.stop();
    assert!(out.contains("looks like an Auth Token"), "{out}");
}
