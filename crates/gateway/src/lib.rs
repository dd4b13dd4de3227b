//! The gateway: federation of many upstreams into one catalogue, the ordered request pipeline,
//! client sessions, and the client-facing transports (Streamable HTTP and stdio).
//!
//! Everything era-specific stays at the edge: the core handles a [`pipeline::RequestCtx`] whose
//! session is optional, so a stateless request (protocol 2026-07-28) and a request inside a
//! legacy session take the same path.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod admin_view;
pub mod breakers;
pub mod bridge;
pub mod cache;
pub mod catalog;
pub mod dispatch;
pub mod durable;
mod elsewhere;
pub mod era;
mod forward;
pub mod gateway;
pub mod hints;
pub mod http;
mod letters;
pub mod listen;
pub mod listeners;
mod methods;
pub mod metrics;
pub mod outbound;
pub mod param_headers;
pub mod parked;
mod parked_elsewhere;
pub mod pipeline;
pub mod policies;
pub mod record;
pub mod relay;
pub mod reload;
pub mod request;
pub mod session;
mod shared_sessions;
mod shared_subscriptions;
pub mod stdio;
pub mod subscriptions;
mod task_bridge;
mod tasks;
pub mod trace;
mod upstream_events;

pub use gateway::Gateway;
pub use pipeline::Identity;
pub use request::{Admission, RequestCtx, Transport};
