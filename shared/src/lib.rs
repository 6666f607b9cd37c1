//! Everything that crosses the wire between `openworkd` and its clients:
//! request/response models, token scopes, error codes, route paths and (with
//! the `client` feature) a typed blocking HTTP client.

pub mod error;
pub mod lenient;
pub mod models;
pub mod routes;
pub mod scope;
pub mod tls;

#[cfg(feature = "client")]
pub mod client;

pub use error::{ErrorBody, ErrorCode};
pub use scope::Scope;

/// The `openwork-server` version whose wire contract openworkd implements.
/// Reported by `/health` and `--version` because the orchestrator compares it
/// for exact equality.
pub const COMPAT_VERSION: &str = "0.11.135";

/// Text from elsewhere made safe to print.
pub mod shown;
