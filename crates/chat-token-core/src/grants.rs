//! The product grants an Access Token can carry, one typed struct each.
//!
//! Each grant is serialized exactly as Twilio's helpers do it: its fields in a fixed
//! order, a field that is unset or empty left out, and a grant with no fields written as
//! `{}`. SIDs are checked for their prefix and length by [`Grant::validate`], which the
//! issuer calls before it signs anything.

use serde_json::{Map, Value};

use crate::json::{write_map, write_str};
use crate::sid::{SidError, SidKind};

/// Chat and Conversations: the `chat` grant.
///
/// ```
/// use chat_token_core::ChatGrant;
///
/// let grant = ChatGrant::new()
///     .with_service_sid("ISdddddddddddddddddddddddddddddddd")
///     .with_endpoint_id("app:alice:ios")
///     .with_push_credential_sid("CReeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee");
/// assert_eq!(grant.service_sid(), Some("ISdddddddddddddddddddddddddddddddd"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatGrant {
    service_sid: Option<String>,
    endpoint_id: Option<String>,
    deployment_role_sid: Option<String>,
    push_credential_sid: Option<String>,
}

impl ChatGrant {
    /// An empty chat grant (`{}`); set the service with [`ChatGrant::service_sid`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The Conversations/Chat service SID (`IS...`).
    pub fn with_service_sid(mut self, sid: impl Into<String>) -> Self {
        self.service_sid = Some(sid.into());
        self
    }

    /// An endpoint id identifying the user's device or app instance.
    pub fn with_endpoint_id(mut self, id: impl Into<String>) -> Self {
        self.endpoint_id = Some(id.into());
        self
    }

    /// A deployment role SID (`RL...`).
    pub fn with_deployment_role_sid(mut self, sid: impl Into<String>) -> Self {
        self.deployment_role_sid = Some(sid.into());
        self
    }

    /// A push credential SID (`CR...`).
    pub fn with_push_credential_sid(mut self, sid: impl Into<String>) -> Self {
        self.push_credential_sid = Some(sid.into());
        self
    }

    /// The service SID, if set.
    pub fn service_sid(&self) -> Option<&str> {
        self.service_sid.as_deref()
    }
}

/// Sync: the `data_sync` grant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncGrant {
    service_sid: Option<String>,
    endpoint_id: Option<String>,
}

impl SyncGrant {
    /// An empty Sync grant (`{}`).
    pub fn new() -> Self {
        Self::default()
    }

    /// The Sync service SID (`IS...`).
    pub fn with_service_sid(mut self, sid: impl Into<String>) -> Self {
        self.service_sid = Some(sid.into());
        self
    }

    /// An endpoint id identifying the user's device or app instance.
    pub fn with_endpoint_id(mut self, id: impl Into<String>) -> Self {
        self.endpoint_id = Some(id.into());
        self
    }
}

/// Programmable Voice: the `voice` grant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VoiceGrant {
    incoming_allow: bool,
    outgoing_application_sid: Option<String>,
    outgoing_application_params: Map<String, Value>,
    push_credential_sid: Option<String>,
    endpoint_id: Option<String>,
}

impl VoiceGrant {
    /// An empty Voice grant (`{}`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Allow incoming calls (`"incoming":{"allow":true}`).
    pub fn with_incoming_allow(mut self, allow: bool) -> Self {
        self.incoming_allow = allow;
        self
    }

    /// The TwiML application SID (`AP...`) for outgoing calls.
    pub fn with_outgoing_application_sid(mut self, sid: impl Into<String>) -> Self {
        self.outgoing_application_sid = Some(sid.into());
        self
    }

    /// One parameter passed to the outgoing application, kept in the order added.
    /// Parameters are only written when an outgoing application SID is set.
    pub fn with_outgoing_application_param(
        mut self,
        key: impl Into<String>,
        value: impl Into<Value>,
    ) -> Self {
        self.outgoing_application_params
            .insert(key.into(), value.into());
        self
    }

    /// A push credential SID (`CR...`).
    pub fn with_push_credential_sid(mut self, sid: impl Into<String>) -> Self {
        self.push_credential_sid = Some(sid.into());
        self
    }

    /// An endpoint id identifying the user's device or app instance.
    pub fn with_endpoint_id(mut self, id: impl Into<String>) -> Self {
        self.endpoint_id = Some(id.into());
        self
    }
}

/// Video: the `video` grant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VideoGrant {
    room: Option<String>,
}

impl VideoGrant {
    /// A Video grant for any room (`{}`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Limit the grant to one room (its name or `RM...` SID).
    pub fn with_room(mut self, room: impl Into<String>) -> Self {
        self.room = Some(room.into());
        self
    }
}

/// TaskRouter: the `task_router` grant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskRouterGrant {
    workspace_sid: Option<String>,
    worker_sid: Option<String>,
    role: Option<String>,
}

impl TaskRouterGrant {
    /// An empty TaskRouter grant (`{}`).
    pub fn new() -> Self {
        Self::default()
    }

    /// The workspace SID (`WS...`).
    pub fn with_workspace_sid(mut self, sid: impl Into<String>) -> Self {
        self.workspace_sid = Some(sid.into());
        self
    }

    /// The worker SID (`WK...`).
    pub fn with_worker_sid(mut self, sid: impl Into<String>) -> Self {
        self.worker_sid = Some(sid.into());
        self
    }

    /// The role (for example `worker` or `supervisor`).
    pub fn with_role(mut self, role: impl Into<String>) -> Self {
        self.role = Some(role.into());
        self
    }
}

/// Twilio Live playback: the `player` grant, an opaque object obtained from Twilio's API
/// and passed through as it is (keys in their order).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlaybackGrant {
    grant: Map<String, Value>,
}

impl PlaybackGrant {
    /// Wraps the grant object returned by Twilio's PlaybackGrant API.
    pub fn new(grant: Map<String, Value>) -> Self {
        Self { grant }
    }
}

/// One product grant.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Grant {
    /// `chat`: Chat and Conversations.
    Chat(ChatGrant),
    /// `data_sync`: Sync.
    Sync(SyncGrant),
    /// `voice`: Programmable Voice.
    Voice(VoiceGrant),
    /// `video`: Video.
    Video(VideoGrant),
    /// `task_router`: TaskRouter.
    TaskRouter(TaskRouterGrant),
    /// `player`: Twilio Live playback.
    Playback(PlaybackGrant),
}

macro_rules! grant_from {
    ($($ty:ident => $variant:ident),*) => {$(
        impl From<$ty> for Grant {
            fn from(g: $ty) -> Self {
                Grant::$variant(g)
            }
        }
    )*};
}
grant_from!(ChatGrant => Chat, SyncGrant => Sync, VoiceGrant => Voice, VideoGrant => Video,
    TaskRouterGrant => TaskRouter, PlaybackGrant => Playback);

/// Writes `"name":"value"` after a comma when it is not the first field; skips empty values.
fn field(out: &mut Vec<u8>, first: &mut bool, name: &str, value: Option<&str>) {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return;
    };
    if !std::mem::take(first) {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    write_str(out, value);
}

fn check_sid(kind: SidKind, field: &'static str, value: &Option<String>) -> Result<(), SidError> {
    match value.as_deref() {
        Some(v) if !v.is_empty() => kind.check(field, v),
        _ => Ok(()),
    }
}

impl Grant {
    /// The grant's key in the token's `grants` object.
    pub fn key(&self) -> &'static str {
        match self {
            Grant::Chat(_) => "chat",
            Grant::Sync(_) => "data_sync",
            Grant::Voice(_) => "voice",
            Grant::Video(_) => "video",
            Grant::TaskRouter(_) => "task_router",
            Grant::Playback(_) => "player",
        }
    }

    /// Whether Twilio needs an identity in a token with this grant.
    pub fn requires_identity(&self) -> bool {
        matches!(
            self,
            Grant::Chat(_) | Grant::Sync(_) | Grant::Voice(_) | Grant::Video(_)
        )
    }

    /// Checks every SID the grant holds for its prefix and length.
    pub fn validate(&self) -> Result<(), SidError> {
        match self {
            Grant::Chat(g) => {
                check_sid(SidKind::Service, "chat service_sid", &g.service_sid)?;
                check_sid(
                    SidKind::Role,
                    "chat deployment_role_sid",
                    &g.deployment_role_sid,
                )?;
                check_sid(
                    SidKind::Credential,
                    "chat push_credential_sid",
                    &g.push_credential_sid,
                )
            }
            Grant::Sync(g) => check_sid(SidKind::Service, "sync service_sid", &g.service_sid),
            Grant::Voice(g) => {
                check_sid(
                    SidKind::Application,
                    "voice outgoing application_sid",
                    &g.outgoing_application_sid,
                )?;
                check_sid(
                    SidKind::Credential,
                    "voice push_credential_sid",
                    &g.push_credential_sid,
                )
            }
            Grant::TaskRouter(g) => {
                check_sid(
                    SidKind::Workspace,
                    "task_router workspace_sid",
                    &g.workspace_sid,
                )?;
                check_sid(SidKind::Worker, "task_router worker_sid", &g.worker_sid)
            }
            Grant::Video(_) | Grant::Playback(_) => Ok(()),
        }
    }

    /// Appends the grant's JSON object, exactly as Twilio's helpers write it.
    pub(crate) fn write_payload(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        let mut first = true;
        match self {
            Grant::Chat(g) => {
                field(out, &mut first, "service_sid", g.service_sid.as_deref());
                field(out, &mut first, "endpoint_id", g.endpoint_id.as_deref());
                field(
                    out,
                    &mut first,
                    "deployment_role_sid",
                    g.deployment_role_sid.as_deref(),
                );
                field(
                    out,
                    &mut first,
                    "push_credential_sid",
                    g.push_credential_sid.as_deref(),
                );
            }
            Grant::Sync(g) => {
                field(out, &mut first, "service_sid", g.service_sid.as_deref());
                field(out, &mut first, "endpoint_id", g.endpoint_id.as_deref());
            }
            Grant::Voice(g) => {
                if g.incoming_allow {
                    out.extend_from_slice(br#""incoming":{"allow":true}"#);
                    first = false;
                }
                if let Some(app) = g
                    .outgoing_application_sid
                    .as_deref()
                    .filter(|s| !s.is_empty())
                {
                    if !std::mem::take(&mut first) {
                        out.push(b',');
                    }
                    out.extend_from_slice(br#""outgoing":{"application_sid":"#);
                    write_str(out, app);
                    if !g.outgoing_application_params.is_empty() {
                        out.extend_from_slice(br#","params":"#);
                        write_map(out, &g.outgoing_application_params);
                    }
                    out.push(b'}');
                }
                field(
                    out,
                    &mut first,
                    "push_credential_sid",
                    g.push_credential_sid.as_deref(),
                );
                field(out, &mut first, "endpoint_id", g.endpoint_id.as_deref());
            }
            Grant::Video(g) => field(out, &mut first, "room", g.room.as_deref()),
            Grant::TaskRouter(g) => {
                field(out, &mut first, "workspace_sid", g.workspace_sid.as_deref());
                field(out, &mut first, "worker_sid", g.worker_sid.as_deref());
                field(out, &mut first, "role", g.role.as_deref());
            }
            Grant::Playback(g) => {
                // An opaque object: write it whole, replacing the brace opened above.
                out.pop();
                write_map(out, &g.grant);
                return;
            }
        }
        out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(g: impl Into<Grant>) -> String {
        let mut out = Vec::new();
        g.into().write_payload(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn empty_grants_are_empty_objects() {
        assert_eq!(payload(ChatGrant::new()), "{}");
        assert_eq!(payload(SyncGrant::new()), "{}");
        assert_eq!(payload(VoiceGrant::new()), "{}");
        assert_eq!(payload(VideoGrant::new()), "{}");
        assert_eq!(payload(TaskRouterGrant::new()), "{}");
        assert_eq!(payload(PlaybackGrant::default()), "{}");
        assert_eq!(payload(ChatGrant::new().with_endpoint_id("")), "{}");
    }

    #[test]
    fn fields_in_twilio_order() {
        let chat = ChatGrant::new()
            .with_push_credential_sid("CR1")
            .with_endpoint_id("e")
            .with_service_sid("IS1")
            .with_deployment_role_sid("RL1");
        assert_eq!(
            payload(chat),
            r#"{"service_sid":"IS1","endpoint_id":"e","deployment_role_sid":"RL1","push_credential_sid":"CR1"}"#
        );
        let voice = VoiceGrant::new()
            .with_endpoint_id("e")
            .with_push_credential_sid("CR1")
            .with_outgoing_application_param("b", "1")
            .with_outgoing_application_param("a", 2)
            .with_outgoing_application_sid("AP1")
            .with_incoming_allow(true);
        assert_eq!(
            payload(voice),
            r#"{"incoming":{"allow":true},"outgoing":{"application_sid":"AP1","params":{"b":"1","a":2}},"push_credential_sid":"CR1","endpoint_id":"e"}"#
        );
        assert_eq!(
            payload(VoiceGrant::new().with_outgoing_application_param("a", "b")),
            "{}"
        );
        assert_eq!(
            payload(
                TaskRouterGrant::new()
                    .with_role("worker")
                    .with_worker_sid("WK1")
                    .with_workspace_sid("WS1")
            ),
            r#"{"workspace_sid":"WS1","worker_sid":"WK1","role":"worker"}"#
        );
    }

    #[test]
    fn validate_names_the_field() {
        let err =
            Grant::from(ChatGrant::new().with_service_sid("ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"))
                .validate()
                .unwrap_err();
        assert!(err.to_string().contains("chat service_sid"), "{err}");
        assert!(
            Grant::from(ChatGrant::new().with_service_sid("IS0123456789abcdef0123456789abcdef"))
                .validate()
                .is_ok()
        );
    }
}
