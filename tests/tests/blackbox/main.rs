//! The black-box tests in one binary: each module starts the real
//! `openworkd` (and `openworkctl`, the OpenWork CLI, the OpenCode engine,
//! Chromium) and speaks HTTP to it, with the fixtures of `openworkd_tests`.
//! The crash storm and the saturation soak stay in their own binary
//! (`reliability`): they load the whole machine.

mod api;
mod approval_rules;
mod approvals;
mod auth;
mod client_round_trip;
mod ctl;
mod events;
mod exchange;
mod file_sessions;
mod hostile;
mod in_process;
mod orchestrator;
mod proxy;
mod service;
mod startup;
mod tls;
mod ui;
mod writes;
