//! Thin HTTP handlers, one module per resource. Each checks auth through its
//! extractors, resolves the workspace, parses the body, asks for approval,
//! and calls the domain module in `crate::workspace`.

pub mod approvals;
pub mod artifacts;
pub mod audit;
pub mod commands;
pub mod config;
pub mod file_sessions;
pub mod inbox;
pub mod mcp;
pub mod meta;
pub mod plugins;
pub mod proxy;
pub mod skills;
pub mod tokens;
pub mod transfer;
pub mod ui;
pub mod workspaces;

use openwork_shared::Scope;
use openwork_shared::models::Actor;

/// Whether an actor may see OpenCode credentials (viewers may not).
pub fn sees_secrets(actor: &Actor) -> bool {
    actor.scope.is_some_and(|s| s >= Scope::Collaborator)
}
