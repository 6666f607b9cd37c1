//! A typed, blocking HTTP client for the openworkd API, used by
//! `openworkctl` and the black-box tests.

use crate::error::{ErrorBody, ErrorCode};
use crate::models::*;
use crate::routes;
use reqwest::Method;
use reqwest::blocking::{RequestBuilder, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

pub use crate::routes::HOST_TOKEN_HEADER;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{status} {}: {}", .body.code, .body.message)]
    Api { status: u16, body: ErrorBody },
    #[error("unexpected answer from the server: {0}")]
    Decode(String),
    /// The server's certificate is not the pinned one.
    #[error("refusing {url}: {mismatch}")]
    Pin {
        url: String,
        mismatch: crate::tls::Mismatch,
    },
}

impl ClientError {
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api { body, .. } => Some(body.code),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, ClientError>;

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::blocking::Client,
    base: String,
    token: Option<String>,
    host_token: Option<String>,
}

impl Client {
    /// `base` is the daemon's URL, e.g. `http://127.0.0.1:8787` (a trailing
    /// slash is ignored). Either token may be absent.
    pub fn new(base: &str, token: Option<String>, host_token: Option<String>) -> Result<Self> {
        Self::with_trust(base, token, host_token, &crate::tls::Trust::default())
    }

    /// Like `new`, for an `https://` daemon trusted as `trust` says (the
    /// system's roots plus extra CAs, or a pinned certificate).
    pub fn with_trust(
        base: &str,
        token: Option<String>,
        host_token: Option<String>,
        trust: &crate::tls::Trust,
    ) -> Result<Self> {
        let tls = trust.client_config().map_err(ClientError::Decode)?;
        let http = reqwest::blocking::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(Duration::from_secs(5))
            // Writes wait for a host's approval, so no overall timeout.
            .timeout(None)
            .no_proxy()
            .build()
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
            host_token,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// A request with every credential this client has.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(host) = &self.host_token {
            req = req.header(HOST_TOKEN_HEADER, host);
        }
        req
    }

    /// Send a request and decode a JSON answer, or the error envelope.
    pub fn send<T: DeserializeOwned>(&self, req: RequestBuilder) -> Result<T> {
        let resp = self.execute(req)?;
        resp.json::<T>()
            .map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// Send a request and return the raw successful response.
    pub fn execute(&self, req: RequestBuilder) -> Result<Response> {
        let resp = req
            .send()
            .map_err(|e| match crate::tls::find_mismatch(&e) {
                Some(mismatch) => ClientError::Pin {
                    url: self.base.clone(),
                    mismatch: mismatch.clone(),
                },
                None => ClientError::Unreachable {
                    url: self.base.clone(),
                    reason: root_cause(&e),
                },
            })?;
        let status = resp.status().as_u16();
        if resp.status().is_success() {
            return Ok(resp);
        }
        let text = resp.text().unwrap_or_default();
        let body = serde_json::from_str::<ErrorBody>(&text).unwrap_or(ErrorBody {
            code: ErrorCode::Unknown,
            message: if text.is_empty() {
                format!("HTTP {status}")
            } else {
                text
            },
            details: None,
        });
        Err(ClientError::Api { status, body })
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.send(self.request(Method::GET, path))
    }

    fn with_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T> {
        self.send(self.request(method, path).json(body))
    }

    pub fn health(&self) -> Result<Health> {
        self.get(routes::HEALTH)
    }
    pub fn status(&self) -> Result<Status> {
        self.get(routes::STATUS)
    }
    pub fn capabilities(&self) -> Result<Capabilities> {
        self.get(routes::CAPABILITIES)
    }
    pub fn whoami(&self) -> Result<Whoami> {
        self.get(routes::WHOAMI)
    }
    pub fn workspaces(&self) -> Result<WorkspaceList> {
        self.get(routes::WORKSPACES)
    }
    pub fn config(&self, ws: &str) -> Result<WorkspaceConfig> {
        self.get(&routes::workspace(ws, "config"))
    }
    pub fn patch_config(&self, ws: &str, patch: &ConfigPatch) -> Result<UpdatedAt> {
        self.with_json(Method::PATCH, &routes::workspace(ws, "config"), patch)
    }
    pub fn plugins(&self, ws: &str) -> Result<PluginList> {
        self.get(&routes::workspace(ws, "plugins"))
    }
    pub fn add_plugin(&self, ws: &str, spec: &str) -> Result<PluginList> {
        let body = PluginAdd {
            spec: spec.to_owned(),
        };
        self.with_json(Method::POST, &routes::workspace(ws, "plugins"), &body)
    }
    pub fn remove_plugin(&self, ws: &str, name: &str) -> Result<PluginList> {
        self.send(self.request(Method::DELETE, &routes::workspace_item(ws, "plugins", name)))
    }
    pub fn skills(&self, ws: &str) -> Result<SkillList> {
        self.get(&routes::workspace(ws, "skills"))
    }
    pub fn skill(&self, ws: &str, name: &str) -> Result<SkillDetail> {
        self.get(&routes::workspace_item(ws, "skills", name))
    }
    pub fn upsert_skill(&self, ws: &str, skill: &SkillUpsert) -> Result<SkillItem> {
        self.with_json(Method::POST, &routes::workspace(ws, "skills"), skill)
    }
    pub fn delete_skill(&self, ws: &str, name: &str) -> Result<SkillDeleted> {
        self.send(self.request(Method::DELETE, &routes::workspace_item(ws, "skills", name)))
    }
    pub fn mcp(&self, ws: &str) -> Result<McpList> {
        self.get(&routes::workspace(ws, "mcp"))
    }
    pub fn add_mcp(&self, ws: &str, add: &McpAdd) -> Result<McpList> {
        self.with_json(Method::POST, &routes::workspace(ws, "mcp"), add)
    }
    pub fn remove_mcp(&self, ws: &str, name: &str) -> Result<McpList> {
        self.send(self.request(Method::DELETE, &routes::workspace_item(ws, "mcp", name)))
    }
    pub fn commands(&self, ws: &str) -> Result<CommandList> {
        self.get(&routes::workspace(ws, "commands"))
    }
    pub fn upsert_command(&self, ws: &str, cmd: &CommandUpsert) -> Result<CommandList> {
        self.with_json(Method::POST, &routes::workspace(ws, "commands"), cmd)
    }
    pub fn delete_command(&self, ws: &str, name: &str) -> Result<OkBody> {
        self.send(self.request(
            Method::DELETE,
            &routes::workspace_item(ws, "commands", name),
        ))
    }
    pub fn audit(&self, ws: &str, limit: Option<u32>) -> Result<AuditList> {
        let mut req = self.request(Method::GET, &routes::workspace(ws, "audit"));
        if let Some(limit) = limit {
            req = req.query(&[("limit", limit)]);
        }
        self.send(req)
    }
    pub fn export(&self, ws: &str) -> Result<WorkspaceExport> {
        self.get(&routes::workspace(ws, "export"))
    }
    pub fn events(&self, ws: &str, since: u64) -> Result<ReloadEvents> {
        self.send(
            self.request(Method::GET, &routes::workspace(ws, "events"))
                .query(&[("since", since)]),
        )
    }
    pub fn approvals(&self) -> Result<ApprovalList> {
        self.get(routes::APPROVALS)
    }
    /// Decided approvals, newest first: up to `limit`, older than `before`.
    pub fn approval_history(&self, limit: u32, before: Option<&str>) -> Result<ApprovalHistory> {
        let mut path = format!("{}?limit={limit}", routes::APPROVAL_HISTORY);
        if let Some(before) = before {
            path.push_str(&format!("&before={}", routes::segment(before)));
        }
        self.get(&path)
    }
    /// Which rule (or the mode) would decide a write, without writing.
    pub fn check_approval(&self, check: &ApprovalCheck) -> Result<ApprovalVerdict> {
        self.with_json(Method::POST, routes::APPROVAL_CHECK, check)
    }
    pub fn reply_approval(&self, id: &str, reply: Reply) -> Result<ApprovalReplied> {
        self.with_json(
            Method::POST,
            &routes::approval(id),
            &ApprovalReply { reply },
        )
    }
    pub fn tokens(&self) -> Result<TokenList> {
        self.get(routes::TOKENS)
    }
    pub fn create_token(&self, create: &TokenCreate) -> Result<TokenCreated> {
        self.with_json(Method::POST, routes::TOKENS, create)
    }
    pub fn open_grant(&self, create: &GrantCreate) -> Result<GrantCreated> {
        self.with_json(Method::POST, routes::GRANTS, create)
    }
    pub fn grants(&self) -> Result<GrantList> {
        self.get(routes::GRANTS)
    }
    pub fn revoke_grant(&self, id: &str) -> Result<OkBody> {
        self.send(self.request(Method::DELETE, &routes::grant(id)))
    }
    /// Redeem a pairing code (needs no credentials).
    pub fn pair(&self, code: &str) -> Result<Paired> {
        let body = PairRequest {
            code: code.to_owned(),
        };
        self.with_json(Method::POST, routes::PAIR, &body)
    }
    pub fn revoke_token(&self, id: &str) -> Result<OkBody> {
        self.send(self.request(Method::DELETE, &routes::token(id)))
    }
    pub fn inbox(&self, ws: &str) -> Result<FileList> {
        self.get(&routes::workspace(ws, "inbox"))
    }
    pub fn artifacts(&self, ws: &str) -> Result<FileList> {
        self.get(&routes::workspace(ws, "artifacts"))
    }
    /// Upload `len` bytes read from `reader` to the workspace inbox, streamed
    /// (never held in memory). `path` is the destination inside the inbox.
    pub fn upload_inbox(
        &self,
        ws: &str,
        reader: impl std::io::Read + Send + 'static,
        len: u64,
        filename: &str,
        path: Option<&str>,
    ) -> Result<InboxUploaded> {
        let part = reqwest::blocking::multipart::Part::reader_with_length(reader, len)
            .file_name(filename.to_owned());
        let mut form = reqwest::blocking::multipart::Form::new().part("file", part);
        if let Some(path) = path {
            form = form.text("path", path.to_owned());
        }
        self.send(
            self.request(Method::POST, &routes::workspace(ws, "inbox"))
                .multipart(form),
        )
    }
    /// Start downloading an artifact; the response body streams from the server.
    pub fn artifact(&self, ws: &str, id: &str) -> Result<Response> {
        self.execute(self.request(Method::GET, &routes::workspace_item(ws, "artifacts", id)))
    }
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
