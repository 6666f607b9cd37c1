//! The one error type of the daemon and its single mapping to HTTP.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use openwork_shared::{ErrorBody, ErrorCode};
use serde_json::Value;
use std::io;
use std::path::Path;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<Box<Value>>,
    /// What really went wrong, for the log only (never sent to clients).
    pub cause: Option<String>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// The answer to a body that could not be read because of `e`:
    /// `request_timeout` when it stopped arriving, else `otherwise`.
    pub fn body_failed(e: &(dyn std::error::Error + 'static), otherwise: ApiError) -> ApiError {
        let mut cause = Some(e);
        while let Some(e) = cause {
            if e.is::<crate::listen::Stalled>() {
                return ApiError::new(ErrorCode::RequestTimeout, e.to_string());
            }
            cause = e.source();
        }
        otherwise
    }

    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status: code.http_status(),
            code,
            message: message.into(),
            details: None,
            cause: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let mut e = Self::new(ErrorCode::InternalError, "Unexpected server error");
        e.cause = Some(cause.to_string());
        e
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "Not found")
    }

    pub fn invalid_payload(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidPayload, message)
    }

    pub fn invalid_path(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidPath, message)
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code,
            message: self.message.clone(),
            details: self.details.as_deref().cloned(),
        }
    }
}

/// An I/O error that names the path it happened on, so a failure that is
/// still ours to fix (a 500) logs where it happened.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct AtPath {
    path: String,
    #[source]
    source: io::Error,
}

/// Attach the path an I/O operation was working on to its error.
pub trait IoAt<T> {
    fn at(self, path: &Path) -> io::Result<T>;
}

impl<T> IoAt<T> for io::Result<T> {
    fn at(self, path: &Path) -> io::Result<T> {
        self.map_err(|source| at_path(source, path))
    }
}

/// `source`, naming `path`.
pub fn at_path(source: io::Error, path: &Path) -> io::Error {
    io::Error::new(
        source.kind(),
        AtPath {
            path: path.display().to_string(),
            source,
        },
    )
}

/// A file the server will not read, whoever put it there: not a regular
/// file (a FIFO would block the read, a device never end), or too large.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub &'static str);

/// The [`Unreadable`] behind `e`, looking through [`AtPath`].
fn unreadable(e: &io::Error) -> Option<&'static str> {
    let inner = e.get_ref()?;
    if let Some(Unreadable(why)) = inner.downcast_ref::<Unreadable>() {
        return Some(why);
    }
    inner
        .downcast_ref::<AtPath>()
        .and_then(|at| unreadable(&at.source))
}

/// The OS error number behind `e`, looking through [`AtPath`].
fn os_code(e: &io::Error) -> Option<i32> {
    e.raw_os_error().or_else(|| {
        e.get_ref()?
            .downcast_ref::<AtPath>()
            .and_then(|at| os_code(&at.source))
    })
}

/// Why a path that a client named cannot be used, when the file system
/// itself refuses it; `None` for failures that are the server's.
pub fn path_refusal(e: &io::Error) -> Option<&'static str> {
    if let Some(why) = unreadable(e) {
        return Some(why);
    }
    match os_code(e)? {
        libc::ELOOP => Some("Path runs into a symlink loop"),
        libc::ENAMETOOLONG => Some("Path or one of its names is too long"),
        libc::ENOTDIR => Some("Path goes through a file where a folder is expected"),
        libc::EISDIR => Some("Path names a folder where a file is expected"),
        libc::EEXIST => Some("Path names an existing entry of another kind"),
        _ => None,
    }
}

/// File-system refusals caused by the path a client named are its error
/// (`400 invalid_path`); anything else is ours, logged with its cause chain.
impl From<io::Error> for ApiError {
    fn from(e: io::Error) -> Self {
        match path_refusal(&e) {
            Some(message) => ApiError::invalid_path(message),
            None => ApiError::internal(error_chain(&e)),
        }
    }
}

/// An error and its causes on one line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        // `AtPath` already prints its source; do not repeat it.
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::internal(e)
    }
}

/// Marks a response that carries an error, so the request log can name it.
#[derive(Debug, Clone)]
pub struct LoggedError(pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let logged = match self.cause {
            Some(cause) => format!("{}: {cause}", self.message),
            None => self.message,
        };
        resp.extensions_mut().insert(LoggedError(logged));
        resp
    }
}
