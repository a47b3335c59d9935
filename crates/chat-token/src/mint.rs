//! `chat-token mint`: one token on stdout, built from flags and the environment.

use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use chat_token_core::{
    AccessToken, ChatGrant, Credentials, NotBefore, SyncGrant, TaskRouterGrant, TokenIssuer,
    VideoGrant, VoiceGrant,
};
use clap::Args;

/// Flags of `chat-token mint`.
#[derive(Debug, Args)]
pub struct MintArgs {
    /// The user's identity.
    #[arg(long)]
    identity: Option<String>,
    /// Time to live in seconds (1..=86400, default 3600).
    #[arg(long, value_name = "SECONDS")]
    ttl: Option<u64>,
    /// Explicit expiry (exp), Unix seconds; overrides --ttl.
    #[arg(long, value_name = "UNIX")]
    valid_until: Option<u64>,
    /// Explicit not-before (nbf), Unix seconds (default: the issue time).
    #[arg(long, value_name = "UNIX", conflicts_with = "no_not_before")]
    not_before: Option<u64>,
    /// Leave the nbf claim out.
    #[arg(long)]
    no_not_before: bool,
    /// Fix the issue time, Unix seconds (reproducible tokens).
    #[arg(long, value_name = "UNIX")]
    issued_at: Option<u64>,
    /// Twilio region for the twr header, e.g. ie1 (empty: no region).
    #[arg(long)]
    region: Option<String>,
    /// Chat/Conversations service SID (IS...).
    #[arg(long, env = "TWILIO_CHAT_SERVICE_SID", value_name = "SID")]
    chat_service_sid: Option<String>,
    /// Chat endpoint id.
    #[arg(long, value_name = "ID")]
    chat_endpoint_id: Option<String>,
    /// Chat deployment role SID (RL...).
    #[arg(long, value_name = "SID")]
    chat_deployment_role_sid: Option<String>,
    /// Chat push credential SID (CR...).
    #[arg(long, value_name = "SID")]
    chat_push_credential_sid: Option<String>,
    /// Sync service SID (IS...).
    #[arg(long, value_name = "SID")]
    sync_service_sid: Option<String>,
    /// Sync endpoint id.
    #[arg(long, value_name = "ID")]
    sync_endpoint_id: Option<String>,
    /// Add a Video grant for any room.
    #[arg(long)]
    video: bool,
    /// Add a Video grant for this room.
    #[arg(long, value_name = "ROOM")]
    video_room: Option<String>,
    /// Voice: allow incoming calls.
    #[arg(long)]
    voice_incoming_allow: bool,
    /// Voice: outgoing TwiML application SID (AP...).
    #[arg(long, value_name = "SID")]
    voice_outgoing_application_sid: Option<String>,
    /// Voice: outgoing application parameter KEY=VALUE (repeatable, order kept).
    #[arg(long, value_name = "KEY=VALUE")]
    voice_outgoing_param: Vec<String>,
    /// Voice push credential SID (CR...).
    #[arg(long, value_name = "SID")]
    voice_push_credential_sid: Option<String>,
    /// Voice endpoint id.
    #[arg(long, value_name = "ID")]
    voice_endpoint_id: Option<String>,
    /// TaskRouter workspace SID (WS...).
    #[arg(long, value_name = "SID")]
    task_router_workspace_sid: Option<String>,
    /// TaskRouter worker SID (WK...).
    #[arg(long, value_name = "SID")]
    task_router_worker_sid: Option<String>,
    /// TaskRouter role.
    #[arg(long, value_name = "ROLE")]
    task_router_role: Option<String>,
    /// Print the token response JSON ({"identity","token","expires_in","expires_at"}).
    #[arg(long)]
    json: bool,
}

impl MintArgs {
    /// The token the flags describe (grants in the order chat, data_sync, video, voice,
    /// task_router; a grant is present when any of its flags is given).
    fn token(&self) -> Result<AccessToken> {
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
        if let Some(nbf) = self.not_before {
            token = token.with_not_before(NotBefore::At(nbf));
        }
        if self.no_not_before {
            token = token.with_not_before(NotBefore::Omit);
        }
        if let Some(iat) = self.issued_at {
            token = token.with_issued_at(iat);
        }
        if let Some(region) = &self.region {
            token = token.with_region(region.clone());
        }
        // An absent flag is given as empty, which every grant leaves out.
        let set = |v: &Option<String>| v.clone().unwrap_or_default();
        if self.chat_service_sid.is_some()
            || self.chat_endpoint_id.is_some()
            || self.chat_deployment_role_sid.is_some()
            || self.chat_push_credential_sid.is_some()
        {
            token = token.with_grant(
                ChatGrant::new()
                    .with_service_sid(set(&self.chat_service_sid))
                    .with_endpoint_id(set(&self.chat_endpoint_id))
                    .with_deployment_role_sid(set(&self.chat_deployment_role_sid))
                    .with_push_credential_sid(set(&self.chat_push_credential_sid)),
            );
        }
        if self.sync_service_sid.is_some() || self.sync_endpoint_id.is_some() {
            token = token.with_grant(
                SyncGrant::new()
                    .with_service_sid(set(&self.sync_service_sid))
                    .with_endpoint_id(set(&self.sync_endpoint_id)),
            );
        }
        if self.video || self.video_room.is_some() {
            token = token.with_grant(VideoGrant::new().with_room(set(&self.video_room)));
        }
        if self.voice_incoming_allow
            || self.voice_outgoing_application_sid.is_some()
            || !self.voice_outgoing_param.is_empty()
            || self.voice_push_credential_sid.is_some()
            || self.voice_endpoint_id.is_some()
        {
            let application = set(&self.voice_outgoing_application_sid);
            if application.is_empty() && !self.voice_outgoing_param.is_empty() {
                bail!("--voice-outgoing-param needs --voice-outgoing-application-sid");
            }
            let mut g = VoiceGrant::new()
                .with_incoming_allow(self.voice_incoming_allow)
                .with_outgoing_application_sid(application);
            for param in &self.voice_outgoing_param {
                let (k, v) = param.split_once('=').with_context(|| {
                    format!("--voice-outgoing-param must be KEY=VALUE, got {param:?}")
                })?;
                if k.is_empty() {
                    bail!("--voice-outgoing-param has an empty KEY in {param:?}");
                }
                g = g.with_outgoing_application_param(k, v);
            }
            token = token.with_grant(
                g.with_push_credential_sid(set(&self.voice_push_credential_sid))
                    .with_endpoint_id(set(&self.voice_endpoint_id)),
            );
        }
        if self.task_router_workspace_sid.is_some()
            || self.task_router_worker_sid.is_some()
            || self.task_router_role.is_some()
        {
            token = token.with_grant(
                TaskRouterGrant::new()
                    .with_workspace_sid(set(&self.task_router_workspace_sid))
                    .with_worker_sid(set(&self.task_router_worker_sid))
                    .with_role(set(&self.task_router_role)),
            );
        }
        if token.grants().is_empty() {
            bail!(
                "no grant given; add at least one grant flag, e.g. --chat-service-sid IS... (or set TWILIO_CHAT_SERVICE_SID), --video, --voice-incoming-allow"
            );
        }
        Ok(token)
    }
}

/// Runs `chat-token mint`.
pub fn run(args: MintArgs) -> Result<ExitCode> {
    let token = args.token()?;
    let issuer = TokenIssuer::new(Credentials::from_env()?);
    let minted = issuer.mint(&token)?;
    if args.json {
        let body = serde_json::json!({
            "identity": token.identity(),
            "token": minted.jwt(),
            "expires_in": minted.expires_in(),
            "expires_at": minted.expires_at(),
        });
        say!("{body}");
    } else {
        say!("{}", minted.jwt());
    }
    Ok(ExitCode::SUCCESS)
}
