//! The cases of `cargo xtask golden` and `cargo xtask conformance`: a few chosen by hand,
//! and any number generated from a seed.

use serde_json::{Map, Value, json};

use crate::case::Case;
use crate::rng;

const AC: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SK: &str = "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn base(name: &str) -> Case {
    Case {
        name: name.into(),
        account_sid: AC.into(),
        api_key_sid: SK.into(),
        secret: "c".repeat(32),
        now: 1_700_000_000,
        identity: Some("alice@example.com".into()),
        ttl: None,
        valid_until: None,
        nbf: json!("default"),
        region: None,
        grants: Vec::new(),
        token: None,
    }
}

fn grant(key: &str, fields: Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(key.into(), fields);
    m
}

/// The reference case and a few more chosen by hand.
///
/// The reference case (named `reference-chat-token`) is the benchmarks' reference chat token
/// with identity `alice@example.com` instead of `alice`: account `AC` and 32 `a`, API key
/// `SK` and 32 `b`, secret 32 `c`, issued at 1,700,000,000 with the default lifetime (one
/// hour), and a chat grant with service `IS` and 32 `d`, endpoint
/// `app:alice@example.com:browser` and push credential `CR` and 32 `e`. The others vary
/// it: regions, `nbf`, an explicit expiry, an identity needing escapes, every grant, a
/// day-long lifetime with a non-ASCII secret.
pub fn handpicked() -> Vec<Case> {
    let reference_chat = grant(
        "chat",
        json!({
            "service_sid": format!("IS{}", "d".repeat(32)),
            "endpoint_id": "app:alice@example.com:browser",
            "push_credential_sid": format!("CR{}", "e".repeat(32)),
        }),
    );
    let mut reference = base("reference-chat-token");
    reference.grants = vec![reference_chat.clone()];

    let mut region = base("region-ie1");
    region.region = Some("ie1".into());
    region.grants = vec![reference_chat.clone()];

    // Twilio's helpers leave `twr` out for an empty region; so does this crate.
    let mut empty_region = base("region-empty");
    empty_region.region = Some(String::new());
    empty_region.grants = vec![reference_chat.clone()];

    let mut no_nbf = base("nbf-omitted");
    no_nbf.nbf = json!("omit");
    no_nbf.grants = vec![grant("video", json!({"room": "standup"}))];

    let mut explicit = base("nbf-explicit-valid-until");
    explicit.nbf = json!(1_699_999_000u64);
    explicit.valid_until = Some(1_700_050_000);
    explicit.grants = vec![grant(
        "data_sync",
        json!({"service_sid": format!("IS{}", "f".repeat(32))}),
    )];

    let mut astral = base("astral-identity");
    astral.identity = Some("🦀 Zoë \"quoted\" back\\slash /slash 日本".into());
    astral.grants = vec![reference_chat];

    let mut voice = base("voice-everything");
    voice.identity = Some("alice_01".into());
    voice.grants = vec![grant(
        "voice",
        json!({
            "incoming_allow": true,
            "outgoing_application_sid": format!("AP{}", "1".repeat(32)),
            "outgoing_application_params": {"to": "+15551234567", "n": 3, "f": 1.5, "nested": {"b": [1, null, true]}},
            "push_credential_sid": format!("CR{}", "2".repeat(32)),
            "endpoint_id": "voice-endpoint",
        }),
    )];

    let mut all = base("every-grant");
    all.identity = Some("bob".into());
    all.grants = vec![
        grant(
            "task_router",
            json!({"workspace_sid": format!("WS{}", "3".repeat(32)), "worker_sid": format!("WK{}", "4".repeat(32)), "role": "worker"}),
        ),
        grant(
            "player",
            json!({"grant": {"playbackGrant": {"requestCredentials": null, "playbackUrl": "https://x.example/p", "playerStreamerSid": "VJ123"}}}),
        ),
        grant("video", json!({})),
        grant(
            "chat",
            json!({"deployment_role_sid": format!("RL{}", "5".repeat(32))}),
        ),
        grant("data_sync", json!({"endpoint_id": "sync-ep"})),
    ];

    let mut day = base("ttl-86400-unicode-secret");
    day.ttl = Some(86_400);
    day.secret = "sécret-ünïcode-🦀".into();
    day.grants = vec![grant("chat", json!({}))];

    vec![
        reference,
        region,
        no_nbf,
        explicit,
        astral,
        voice,
        all,
        day,
        empty_region,
    ]
}

/// The shared SplitMix64 generator with the helpers case generation needs.
struct Rng(rng::SplitMix64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0.below(n as usize) as u64
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn sid(&mut self, prefix: &str) -> String {
        let hex = b"0123456789abcdef";
        let tail: String = (0..32)
            .map(|_| hex[self.below(16) as usize] as char)
            .collect();
        format!("{prefix}{tail}")
    }
}

const TEXTS: &[&str] = &[
    "alice",
    "alice@example.com",
    "Zoë",
    "日本語のユーザー",
    "🦀 crab 🦀",
    "quote\" back\\slash / slash",
    "tab-free <html> & 'apos'",
    "a+b=c?d#e",
    "UPPER_lower_123",
    "ƒüñķÿ ŝţřĭńġ",
    "\u{7f}del",
    "emoji 👩‍💻 zwj",
];

const VOICE_IDS: &[&str] = &["alice", "alice_01", "A", "user_123_XYZ", "bob"];

/// Up to `count` cases generated from `seed` (the same seed, the same cases): random
/// credentials, times, identities, regions and one to four grants of every kind. Only
/// the cases this crate mints are kept (Twilio's helper validates nothing), trying at
/// most 20 times `count` candidates.
pub fn generate(count: usize, seed: u64) -> Vec<Case> {
    let mut rng = Rng(rng::SplitMix64(seed));
    let mut out = Vec::new();
    let mut attempts = 0;
    while out.len() < count && attempts < count * 20 {
        attempts += 1;
        let mut case = base(&format!("generated-{seed:x}-{attempts}"));
        case.account_sid = rng.sid("AC");
        case.api_key_sid = rng.sid("SK");
        let secret_len = 1 + rng.below(48) as usize;
        case.secret = (0..secret_len)
            .map(|_| (b'!' + rng.below(94) as u8) as char)
            .collect();
        if rng.chance(10) {
            case.secret.push('é');
        }
        case.now = 1_600_000_000 + rng.below(200_000_000);
        let kinds = [
            "chat",
            "data_sync",
            "voice",
            "video",
            "task_router",
            "player",
        ];
        let mut grants = Vec::new();
        let n = 1 + rng.below(4);
        for _ in 0..n {
            let kind = *rng.pick(&kinds);
            grants.push(grant(kind, fields(&mut rng, kind)));
        }
        let has_voice = grants.iter().any(|g| g.contains_key("voice"));
        case.identity = if has_voice {
            Some((*rng.pick(VOICE_IDS)).to_owned())
        } else if rng.chance(5) {
            None
        } else {
            Some((*rng.pick(TEXTS)).to_owned())
        };
        case.grants = grants;
        match rng.below(4) {
            0 => case.ttl = Some(*rng.pick(&[1, 60, 600, 3600, 12_345, 86_400])),
            1 => case.valid_until = Some(case.now + 1 + rng.below(86_000)),
            _ => {}
        }
        case.nbf = match rng.below(4) {
            0 => json!("omit"),
            1 => json!(case.now - rng.below(300)),
            _ => json!("default"),
        };
        if rng.chance(30) {
            case.region = Some((*rng.pick(&["us1", "ie1", "au1", "jp1", "de1"])).to_owned());
        }
        // Keep only what this crate accepts; the helper validates nothing.
        if case.mint().is_ok() {
            out.push(case);
        }
    }
    out
}

fn maybe(rng: &mut Rng, fields: &mut Map<String, Value>, name: &str, value: impl Into<Value>) {
    match rng.below(4) {
        0 => {}
        1 => {
            fields.insert(name.into(), json!(""));
        }
        _ => {
            fields.insert(name.into(), value.into());
        }
    }
}

fn fields(rng: &mut Rng, kind: &str) -> Value {
    let mut f = Map::new();
    match kind {
        "chat" => {
            let sid = rng.sid("IS");
            maybe(rng, &mut f, "service_sid", sid);
            let text = *rng.pick(TEXTS);
            maybe(rng, &mut f, "endpoint_id", format!("app:{text}:web"));
            let sid = rng.sid("RL");
            maybe(rng, &mut f, "deployment_role_sid", sid);
            let sid = rng.sid("CR");
            maybe(rng, &mut f, "push_credential_sid", sid);
        }
        "data_sync" => {
            let sid = rng.sid("IS");
            maybe(rng, &mut f, "service_sid", sid);
            let text = *rng.pick(TEXTS);
            maybe(rng, &mut f, "endpoint_id", text);
        }
        "voice" => {
            if rng.chance(50) {
                f.insert("incoming_allow".into(), json!(rng.chance(70)));
            }
            let sid = rng.sid("AP");
            maybe(rng, &mut f, "outgoing_application_sid", sid);
            if rng.chance(60) {
                let mut params = Map::new();
                for i in 0..rng.below(4) {
                    let value = match rng.below(6) {
                        0 => json!(*rng.pick(TEXTS)),
                        1 => json!(rng.below(1_000_000)),
                        2 => json!(rng.chance(50)),
                        3 => json!(*rng.pick(&[0.5, 1e16, 1.25e-7, 3.0, -2.75])),
                        4 => json!({"k": [1, "two", null]}),
                        _ => json!(null),
                    };
                    params.insert(format!("{}{i}", rng.pick(TEXTS)), value);
                }
                f.insert("outgoing_application_params".into(), Value::Object(params));
            }
            let sid = rng.sid("CR");
            maybe(rng, &mut f, "push_credential_sid", sid);
            let text = *rng.pick(TEXTS);
            maybe(rng, &mut f, "endpoint_id", text);
        }
        "video" => {
            let text = *rng.pick(TEXTS);
            maybe(rng, &mut f, "room", text);
        }
        "task_router" => {
            let sid = rng.sid("WS");
            maybe(rng, &mut f, "workspace_sid", sid);
            let sid = rng.sid("WK");
            maybe(rng, &mut f, "worker_sid", sid);
            let role = *rng.pick(&["worker", "supervisor", "admin ✓"]);
            maybe(rng, &mut f, "role", role);
        }
        _ => {
            let mut grant = Map::new();
            for i in 0..rng.below(4) {
                grant.insert(format!("k{i}{}", rng.pick(TEXTS)), json!(*rng.pick(TEXTS)));
            }
            f.insert("grant".into(), Value::Object(grant));
        }
    }
    Value::Object(f)
}
