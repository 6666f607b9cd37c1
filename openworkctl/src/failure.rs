//! What went wrong, said so the operator knows what to do, with an exit
//! code per kind of failure.

use openwork_shared::ErrorCode;
use openwork_shared::client::ClientError;
use std::fmt;

/// Exit codes (also listed in `--help`).
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_UNREACHABLE: u8 = 3;
pub const EXIT_AUTH: u8 = 4;
pub const EXIT_DENIED: u8 = 5;
pub const EXIT_NOT_FOUND: u8 = 6;
pub const EXIT_TLS: u8 = 7;

#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub hint: Option<String>,
    pub exit: u8,
    /// The server's error envelope, printed as is with `--json`.
    pub body: Option<Box<serde_json::Value>>,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            hint: None,
            exit: EXIT_FAILURE,
            body: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn exit(mut self, exit: u8) -> Self {
        self.exit = exit;
        self
    }

    /// The JSON printed for this failure with `--json`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::json!({"error": self.message, "exitCode": self.exit});
        if let Some(hint) = &self.hint {
            value["hint"] = hint.clone().into();
        }
        if let Some(body) = &self.body {
            value["server"] = (**body).clone();
        }
        value
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", crate::output::shown(&self.message))?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {}", crate::output::shown(hint))?;
        }
        Ok(())
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::new(e.to_string())
    }
}

/// What the request needed, to word 401s.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    Client,
    Host,
}

/// Turn a client error into a failure that says what to do about it.
pub fn explain(err: ClientError, needs: Needs) -> Failure {
    let (status, body) = match err {
        ClientError::Pin { url, mismatch } => {
            return Failure::new(format!("refusing {url}: {mismatch}"))
                .hint("if the daemon's certificate changed on purpose, check the new fingerprint (openworkd prints it at start; \
                       `/status` shows it as tls.fingerprint) and pass it with --fingerprint, or log in again")
                .exit(EXIT_TLS);
        }
        ClientError::Unreachable { url, reason } if reason.contains("certificate") => {
            return Failure::new(format!(
                "cannot trust the TLS certificate of {url} ({reason})"
            ))
            .hint(
                "pin the certificate with --fingerprint SHA256 (openworkd prints it at start), \
                       or trust its CA with --ca FILE",
            )
            .exit(EXIT_TLS);
        }
        ClientError::Unreachable { url, reason } => {
            return Failure::new(format!("cannot reach openworkd at {url} ({reason})"))
                .hint("is the daemon running? Point at it with --url or OPENWORK_URL, or run `openworkctl login --url URL`")
                .exit(EXIT_UNREACHABLE);
        }
        ClientError::Decode(reason) => {
            return Failure::new(format!("unexpected answer from the server: {reason}"))
                .hint("is --url pointing at openworkd?");
        }
        ClientError::Api { status, body } => (status, body),
    };
    let raw = serde_json::to_value(&body).ok().map(Box::new);
    let server = format!("{} ({} {})", body.message, status, body.code);
    let failure = match (status, body.code) {
        (401, _) if needs == Needs::Host => Failure::new(format!("the server refused the host credentials: {server}"))
            .hint("pass the host token with --host-token or OPENWORK_HOST_TOKEN, or an owner token with --token")
            .exit(EXIT_AUTH),
        (401, _) => Failure::new(format!("the server refused the token: {server}"))
            .hint("pass a token with --token or OPENWORK_TOKEN, or run `openworkctl login`")
            .exit(EXIT_AUTH),
        (_, ErrorCode::Forbidden) => {
            let details = body.details.as_ref();
            let field = |k: &str| details.and_then(|d| d.get(k)).and_then(|v| v.as_str()).unwrap_or("?").to_owned();
            let (required, scope) = (field("required"), field("scope"));
            Failure::new(format!("this needs a {required} token; yours is {scope}"))
                .hint(format!("ask the host for one: `openworkctl tokens create --scope {required}`"))
                .exit(EXIT_AUTH)
        }
        (_, ErrorCode::WriteDenied) => {
            let reason = body.details.as_ref().and_then(|d| d.get("reason")).and_then(|v| v.as_str()).unwrap_or("denied");
            let failure = Failure::new(format!("the host did not approve this write ({reason})"));
            let failure = if reason == "timeout" {
                failure.hint("approvals time out; ask the host to answer sooner (`openworkctl approvals watch`)")
            } else {
                failure
            };
            failure.exit(EXIT_DENIED)
        }
        (_, ErrorCode::ReadOnly) => Failure::new("the server is read-only; nothing can be written")
            .hint("start openworkd without --read-only / OPENWORK_READONLY to allow writes")
            .exit(EXIT_DENIED),
        (_, ErrorCode::FileTooLarge | ErrorCode::BodyTooLarge) => {
            let max = body.details.as_ref().and_then(|d| d.get("maxBytes")).and_then(|v| v.as_u64());
            match max {
                Some(max) => Failure::new(format!("too large: the daemon accepts at most {max} bytes ({server})")),
                None => Failure::new(format!("too large: {server}")),
            }
        }
        (404, _) => Failure::new(format!("not found: {server}")).exit(EXIT_NOT_FOUND),
        _ => Failure::new(format!("the server answered: {server}")),
    };
    Failure {
        body: raw,
        ..failure
    }
}
