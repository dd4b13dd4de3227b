//! Switchboard's policy: who is calling ([`auth`]), what their role may touch ([`roles`]), how
//! fast they may go ([`rate_limits`]), whether a call's arguments fit its tool, and the signed
//! `requestState` of multi-round-trip requests ([`request_state`]). The pipeline's policy
//! stages ([`stages`]) are functions of narrow inputs — an identity, what the request is about,
//! its resolved route, the request's policies — and do no I/O but the shared rate-limit store.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod auth;
pub mod rate_limits;
pub mod request_state;
pub mod roles;
pub mod stages;

pub use auth::{Authenticator, Identity};
pub use rate_limits::Limits;
pub use roles::{Policy, Subject};
pub use stages::Target;
