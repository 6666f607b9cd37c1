use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// Every error `code` the API can answer with. The wire strings are the
/// reference server's; the HTTP status of each lives here too so the daemon
/// maps errors to HTTP in exactly one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidJson,
    InvalidPayload,
    InvalidPath,
    InvalidArtifact,
    InvalidInboxItem,
    FileRequired,
    InvalidScope,
    InvalidPluginSpec,
    InvalidSkillName,
    InvalidSkillContent,
    InvalidMcpName,
    InvalidMcpConfig,
    InvalidCommandName,
    InvalidCommandTemplate,
    InvalidCommand,
    OpencodeUnconfigured,
    OpencodeUrlInvalid,
    Unauthorized,
    Forbidden,
    ReadOnly,
    WriteDenied,
    WorkspaceUnauthorized,
    NotFound,
    WorkspaceNotFound,
    ApprovalNotFound,
    TokenNotFound,
    FileSessionNotFound,
    ArtifactNotFound,
    InboxItemNotFound,
    OutboxDisabled,
    InboxDisabled,
    SkillNotFound,
    UiDisabled,
    #[serde(rename = "opencodeRouter_unconfigured")]
    OpencodeRouterUnconfigured,
    FileTooLarge,
    /// A request body over the daemon's size limit (not a reference code).
    BodyTooLarge,
    /// A `Range` no byte of the file satisfies (not a reference code).
    RangeNotSatisfiable,
    /// Too many failed authentications from one address (not a reference code).
    TooManyRequests,
    /// A request body that stopped arriving (not a reference code).
    RequestTimeout,
    /// A pairing code that is unknown, expired or used (not a reference code).
    GrantInvalid,
    GrantNotFound,
    InvalidJsonc,
    InvalidDescription,
    InternalError,
    OpencodeReloadFailed,
    OpencodeRequestFailed,
    #[serde(rename = "opencodeRouter_unreachable")]
    OpencodeRouterUnreachable,
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
            RequestTimeout => 408,
            RangeNotSatisfiable => 416,
            TooManyRequests => 429,
            GrantInvalid => 401,
            GrantNotFound => 404,
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
