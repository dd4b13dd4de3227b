//! Switchboard's configuration: one YAML file, loaded strictly.
//!
//! Loading runs in stages so that a person sees every problem at once: YAML syntax →
//! `${ENV}` interpolation → JSON Schema validation (generated from the same types, so unknown
//! keys and wrong types are all reported with their paths) → typed deserialization → semantic
//! checks ([`Config::validate`]). The result is the normalised form the rest of the code reads.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

// One module per top-level section of the file (`root` holds `Config` itself).
mod admin;
mod audit;
mod auth;
mod builtin;
mod cache;
mod cluster;
mod federation;
mod http;
mod http_api;
mod log;
mod rate_limits;
mod reload;
mod request_state;
mod roles;
mod root;
pub mod routes;
mod servers;
mod tasks;
mod telemetry;
pub mod tool_search;
pub mod views;
pub mod workflows;

// Value formats used across sections.
mod duration;
mod pattern;
mod size;

// Loading and its stages, errors, and the Claude Desktop import.
mod error;
mod import;
mod interpolate;
mod load;
mod schema;
mod validate;
pub use validate::compile_mapping;

pub use admin::*;
pub use audit::*;
pub use auth::*;
pub use builtin::*;
pub use cache::*;
pub use cluster::*;
pub use duration::Dur;
pub use error::{ConfigError, Problem};
pub use federation::*;
pub use http::*;
pub use http_api::*;
pub use import::import_claude;
pub use load::{file_fingerprint, from_str, load};
pub use log::*;
pub use pattern::glob;
pub use rate_limits::*;
pub use reload::*;
pub use request_state::*;
pub use roles::*;
pub use root::*;
pub use routes::{
    BreakerConfig, CandidateConfig, FailureKind, ROUTES_SERVER, RouteConfig, Strategy,
};
pub use schema::schema_json;
pub use servers::*;
pub use size::parse_size;
pub use tasks::*;
pub use telemetry::*;
pub use tool_search::{TOOL_SEARCH_SERVER, ToolSearchConfig, ToolSearchMode};
pub use views::ViewConfig;
pub use workflows::{
    CompensateConfig, OnError, StepConfig, StepRetry, WORKFLOWS_SERVER, WorkflowConfig,
};

#[cfg(test)]
mod tests;
