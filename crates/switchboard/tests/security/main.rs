//! The attack table: each test is a row — what an attacker tries, and what the gateway must do.
//! Real parts throughout: the `switchboard` binary with a real key file managed by
//! `switchboard keys`, RSA keys from `openssl`, a JWKS served over HTTP (Python's http.server)
//! and rotated on disk, tokens minted with `jsonwebtoken`, the company-api upstream.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod access;
mod audit;
mod credentials;
mod helpers;
mod oauth;
