//! Switchboard's configuration: one YAML file, loaded strictly.
//!
//! Loading runs in stages so that a person sees every problem at once: YAML syntax →
//! `${ENV}` interpolation → JSON Schema validation (generated from the same types, so unknown
//! keys and wrong types are all reported with their paths) → typed deserialization → semantic
//! checks ([`Config::validate`]). The result is the normalised form the rest of the code reads.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod cache;
mod duration;
mod error;
mod import;
mod interpolate;
mod load;
mod ops;
mod types;

pub use cache::*;
pub use duration::Dur;
pub use error::{ConfigError, Problem};
pub use import::import_claude;
pub use load::{from_str, load, schema_json};
pub use ops::*;
pub use types::*;

#[cfg(test)]
mod tests;
