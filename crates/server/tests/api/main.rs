//! Integration tests: each starts the real server on a random port against a database of
//! its own (SQLite, or PostgreSQL with `VYTALCALL_TEST_DB=postgres`).

mod access;
mod audit;
mod audit_bench;
mod audit_postgres;
mod auth;
mod calls;
mod cli;
mod consent;
mod crash;
mod helpers;
mod limits;
mod operations;
mod people;
mod recording_crash;
mod recording_keys;
mod recording_leftovers;
mod recording_nodes;
mod recordings;
mod reports;
mod storage_s3;
mod tls;
mod validation;
mod web;
mod webhooks;
