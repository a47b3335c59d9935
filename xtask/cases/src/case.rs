//! One token-minting case as stored in chat-token-core's `tests/data/*.jsonl` and fed
//! to Twilio's Python helper by `cargo xtask golden` / `cargo xtask conformance`: the
//! inputs, and the token the helper produced for them.

use chat_token_core::{
    AccessToken, ChatGrant, Credentials, Grant, NotBefore, PlaybackGrant, SyncGrant,
    TaskRouterGrant, TokenIssuer, VideoGrant, VoiceGrant, clock::FixedClock,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The inputs of one case, named as the Python helper's arguments.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Case {
    /// What the case is, unique in its file.
    pub name: String,
    /// The Account SID (`AC...`).
    pub account_sid: String,
    /// The API key SID (`SK...`).
    pub api_key_sid: String,
    /// The API key secret.
    pub secret: String,
    /// The issue time, in Unix seconds.
    pub now: u64,
    /// The identity, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// The lifetime in seconds, when not the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
    /// An explicit expiry, in Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<u64>,
    /// `"default"`, `"omit"`, or a number.
    pub nbf: Value,
    /// The region (`twr`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Each grant as `{"<key>": {<python keyword arguments>}}`, in order.
    pub grants: Vec<Map<String, Value>>,
    /// The helper's token, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

fn grant(key: &str, f: &Map<String, Value>) -> Result<Grant, String> {
    // An absent field is given as empty, which every grant leaves out, as Twilio's
    // helpers leave out `None`.
    let s = |name: &str| {
        f.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Ok(match key {
        "chat" => ChatGrant::new()
            .with_service_sid(s("service_sid"))
            .with_endpoint_id(s("endpoint_id"))
            .with_deployment_role_sid(s("deployment_role_sid"))
            .with_push_credential_sid(s("push_credential_sid"))
            .into(),
        "data_sync" => SyncGrant::new()
            .with_service_sid(s("service_sid"))
            .with_endpoint_id(s("endpoint_id"))
            .into(),
        "voice" => {
            let mut g = VoiceGrant::new()
                .with_incoming_allow(f.get("incoming_allow") == Some(&Value::Bool(true)))
                .with_outgoing_application_sid(s("outgoing_application_sid"));
            if let Some(Value::Object(params)) = f.get("outgoing_application_params") {
                for (k, v) in params {
                    g = g.with_outgoing_application_param(k.clone(), v.clone());
                }
            }
            g.with_push_credential_sid(s("push_credential_sid"))
                .with_endpoint_id(s("endpoint_id"))
                .into()
        }
        "video" => VideoGrant::new().with_room(s("room")).into(),
        "task_router" => TaskRouterGrant::new()
            .with_workspace_sid(s("workspace_sid"))
            .with_worker_sid(s("worker_sid"))
            .with_role(s("role"))
            .into(),
        "player" => match f.get("grant") {
            Some(Value::Object(obj)) => PlaybackGrant::new(obj.clone()).into(),
            _ => PlaybackGrant::default().into(),
        },
        other => return Err(format!("unknown grant {other}")),
    })
}

impl Case {
    /// The token this crate mints for the case, or why it refuses to.
    pub fn mint(&self) -> Result<String, String> {
        let creds = Credentials::try_new(&self.account_sid, &self.api_key_sid, &self.secret)
            .map_err(|e| e.to_string())?;
        let issuer = TokenIssuer::new(creds).with_clock(FixedClock(self.now));
        let mut token = AccessToken::new();
        if let Some(identity) = &self.identity {
            token = token.with_identity(identity.clone());
        }
        if let Some(ttl) = self.ttl {
            token = token.with_ttl(ttl);
        }
        if let Some(exp) = self.valid_until {
            token = token.with_valid_until(exp);
        }
        token = token.with_not_before(match &self.nbf {
            Value::String(s) if s == "omit" => NotBefore::Omit,
            Value::Number(n) => NotBefore::At(n.as_u64().ok_or("nbf must be a u64")?),
            _ => NotBefore::IssuedAt,
        });
        if let Some(region) = &self.region {
            token = token.with_region(region.clone());
        }
        for g in &self.grants {
            for (key, fields) in g {
                let fields = fields.as_object().ok_or("grant fields must be an object")?;
                token = token.with_grant(grant(key, fields)?);
            }
        }
        issuer
            .mint(&token)
            .map(|m| m.into_jwt())
            .map_err(|e| e.to_string())
    }
}
