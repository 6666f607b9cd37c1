use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// Every error `code` the API can answer with. The wire strings are the
/// reference server's; the HTTP status of each lives here too so the daemon
/// maps errors to HTTP in exactly one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ErrorCode {
    #[serde(rename = "invalid_json")]
    InvalidJson,
    #[serde(rename = "invalid_payload")]
    InvalidPayload,
    #[serde(rename = "invalid_path")]
    InvalidPath,
    #[serde(rename = "invalid_artifact")]
    InvalidArtifact,
    #[serde(rename = "invalid_inbox_item")]
    InvalidInboxItem,
    #[serde(rename = "file_required")]
    FileRequired,
    #[serde(rename = "invalid_scope")]
    InvalidScope,
    #[serde(rename = "invalid_plugin_spec")]
    InvalidPluginSpec,
    #[serde(rename = "invalid_skill_name")]
    InvalidSkillName,
    #[serde(rename = "invalid_skill_content")]
    InvalidSkillContent,
    #[serde(rename = "invalid_mcp_name")]
    InvalidMcpName,
    #[serde(rename = "invalid_mcp_config")]
    InvalidMcpConfig,
    #[serde(rename = "invalid_command_name")]
    InvalidCommandName,
    #[serde(rename = "invalid_command_template")]
    InvalidCommandTemplate,
    #[serde(rename = "invalid_command")]
    InvalidCommand,
    #[serde(rename = "opencode_unconfigured")]
    OpencodeUnconfigured,
    #[serde(rename = "opencode_url_invalid")]
    OpencodeUrlInvalid,
    #[serde(rename = "unauthorized")]
    Unauthorized,
    #[serde(rename = "forbidden")]
    Forbidden,
    #[serde(rename = "read_only")]
    ReadOnly,
    #[serde(rename = "write_denied")]
    WriteDenied,
    #[serde(rename = "workspace_unauthorized")]
    WorkspaceUnauthorized,
    #[serde(rename = "not_found")]
    NotFound,
    #[serde(rename = "workspace_not_found")]
    WorkspaceNotFound,
    #[serde(rename = "approval_not_found")]
    ApprovalNotFound,
    #[serde(rename = "token_not_found")]
    TokenNotFound,
    #[serde(rename = "file_session_not_found")]
    FileSessionNotFound,
    #[serde(rename = "artifact_not_found")]
    ArtifactNotFound,
    #[serde(rename = "inbox_item_not_found")]
    InboxItemNotFound,
    #[serde(rename = "outbox_disabled")]
    OutboxDisabled,
    #[serde(rename = "inbox_disabled")]
    InboxDisabled,
    #[serde(rename = "skill_not_found")]
    SkillNotFound,
    #[serde(rename = "ui_disabled")]
    UiDisabled,
    #[serde(rename = "opencodeRouter_unconfigured")]
    OpencodeRouterUnconfigured,
    #[serde(rename = "file_too_large")]
    FileTooLarge,
    /// A request body over the daemon's size limit (not a reference code).
    #[serde(rename = "body_too_large")]
    BodyTooLarge,
    /// A `Range` no byte of the file satisfies (not a reference code).
    #[serde(rename = "range_not_satisfiable")]
    RangeNotSatisfiable,
    #[serde(rename = "invalid_jsonc")]
    InvalidJsonc,
    #[serde(rename = "invalid_description")]
    InvalidDescription,
    #[serde(rename = "internal_error")]
    InternalError,
    #[serde(rename = "opencode_reload_failed")]
    OpencodeReloadFailed,
    #[serde(rename = "opencode_request_failed")]
    OpencodeRequestFailed,
    #[serde(rename = "opencodeRouter_unreachable")]
    OpencodeRouterUnreachable,
    #[serde(rename = "server_config_read_failed")]
    ServerConfigReadFailed,
    /// Any code this version does not know (kept so clients never fail to parse).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The HTTP status this code is answered with, unless the daemon says
    /// otherwise (`invalid_json` is 422 when a file on disk is bad).
    pub fn http_status(self) -> u16 {
        use ErrorCode::*;
        match self {
            InvalidJson
            | InvalidPayload
            | InvalidPath
            | InvalidArtifact
            | InvalidInboxItem
            | FileRequired
            | InvalidScope
            | InvalidPluginSpec
            | InvalidSkillName
            | InvalidSkillContent
            | InvalidMcpName
            | InvalidMcpConfig
            | InvalidCommandName
            | InvalidCommandTemplate
            | InvalidCommand
            | OpencodeUnconfigured
            | OpencodeUrlInvalid => 400,
            Unauthorized => 401,
            Forbidden | ReadOnly | WriteDenied | WorkspaceUnauthorized => 403,
            NotFound
            | WorkspaceNotFound
            | ApprovalNotFound
            | TokenNotFound
            | FileSessionNotFound
            | ArtifactNotFound
            | InboxItemNotFound
            | OutboxDisabled
            | InboxDisabled
            | SkillNotFound
            | UiDisabled
            | OpencodeRouterUnconfigured => 404,
            FileTooLarge | BodyTooLarge => 413,
            RangeNotSatisfiable => 416,
            InvalidJsonc | InvalidDescription => 422,
            InternalError | ServerConfigReadFailed | Unknown => 500,
            OpencodeReloadFailed | OpencodeRequestFailed => 502,
            OpencodeRouterUnreachable => 503,
        }
    }

    pub fn as_str(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

/// The error envelope every non-2xx JSON answer carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_keep_reference_spelling() {
        assert_eq!(
            ErrorCode::OpencodeRouterUnconfigured.as_str(),
            "opencodeRouter_unconfigured"
        );
        assert_eq!(ErrorCode::WriteDenied.as_str(), "write_denied");
        let parsed: ErrorCode = serde_json::from_str("\"brand_new_code\"").unwrap();
        assert_eq!(parsed, ErrorCode::Unknown);
    }
}
