//! Route paths, written once for the daemon's router and the client.
//! `{id}`-style placeholders are the router's syntax; the functions build
//! concrete paths with every dynamic segment percent-encoded.

pub const HEALTH: &str = "/health";
pub const STATUS: &str = "/status";
pub const CAPABILITIES: &str = "/capabilities";
pub const WHOAMI: &str = "/whoami";
pub const WORKSPACES: &str = "/workspaces";
pub const APPROVALS: &str = "/approvals";
pub const APPROVAL_HISTORY: &str = "/approvals/history";
pub const APPROVAL_CHECK: &str = "/approvals/check";
pub const TOKENS: &str = "/tokens";
pub const GRANTS: &str = "/tokens/grants";
pub const PAIR: &str = "/pair";

/// The header carrying the host token.
pub const HOST_TOKEN_HEADER: &str = "X-OpenWork-Host-Token";

/// Percent-encode one path segment (everything but RFC 3986 unreserved characters).
pub fn segment(raw: &str) -> String {
    const RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(raw, RESERVED).to_string()
}

pub fn workspace(id: &str, rest: &str) -> String {
    format!("/workspace/{}/{}", segment(id), rest)
}

pub fn workspace_item(id: &str, collection: &str, name: &str) -> String {
    format!(
        "/workspace/{}/{}/{}",
        segment(id),
        collection,
        segment(name)
    )
}

pub fn approval(id: &str) -> String {
    format!("/approvals/{}", segment(id))
}

pub fn token(id: &str) -> String {
    format!("/tokens/{}", segment(id))
}

pub fn grant(id: &str) -> String {
    format!("{GRANTS}/{}", segment(id))
}

#[cfg(test)]
mod tests {
    #[test]
    fn segments_are_encoded() {
        assert_eq!(super::segment("@scope/pkg@1"), "%40scope%2Fpkg%401");
        assert_eq!(
            super::workspace_item("ws_1", "plugins", "a b"),
            "/workspace/ws_1/plugins/a%20b"
        );
    }
}
