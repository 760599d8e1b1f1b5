//! vytalcall: a telehealth call server. A provider and a patient meet in a WebRTC call; the
//! server manages calls over REST, relays signaling, hands out STUN/TURN settings and keeps
//! a tamper-evident audit trail.
//!
//! A map of this crate (the decisions themselves live in the `vytalcall-domain` crate,
//! which does no I/O):
//!
//! - [`config`]: settings from environment, `.env` and flags; one clear line per bad value.
//! - [`cli`]: the `vytalcall` command and its subcommands.
//! - [`startup`]: building the application and serving it; [`demo`]: zero-config defaults.
//! - [`auth`]: JWT verification and the `AuthUser` extractor.
//! - [`calls`]: the service applying the call state machine (persist, audit, notify).
//! - [`people`]: display names from tokens, kept and sent wherever a person appears.
//! - [`signaling`]: Socket.IO signaling on `/webrtc` (events, relay, presence, quality).
//! - [`storage`]: the database (SQLite or PostgreSQL) and its queries.
//! - [`audit`]: who did what, appending to and verifying the hash chain.
//! - [`http`]: REST routes, problem+json errors, OpenAPI, health and metrics.
//! - [`telemetry`]: logs and metrics set-up; [`tls`]: TLS termination and certificate reload.
//! - [`tasks`]: the background jobs, started and stopped in one place.
//! - [`web`]: the embedded web app served at `/` (static files, strict CSP).
//! - [`webhooks`]: events to other systems (Standard Webhooks), from an outbox, never lost.
#![forbid(unsafe_code)]

pub mod audit;
pub mod auth;
pub mod calls;
pub mod cli;
pub mod config;
pub mod demo;
pub mod http;
pub mod people;
pub mod recording;
pub mod signaling;
pub mod startup;
pub mod state;
pub mod storage;
pub mod tasks;
pub mod telemetry;
pub mod tls;
pub mod web;
pub mod webhooks;

/// The wall clock in Unix milliseconds. The only place the server reads the time for
/// domain decisions, which take it as an argument.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
