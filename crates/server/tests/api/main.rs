//! HTTP-level tests of ferrocat: a real server on a random port, driven like a client,
//! on SQLite and on PostgreSQL.

mod common;
#[path = "../shared/hostile.rs"]
mod hostile;
mod media;

mod annotations;
mod auth;
mod binary;
mod cli;
mod clients;
mod formats;
mod fuzz;
mod git;
mod http;
mod limits;
mod projects;
mod replicas;
mod resources;
mod schemathesis;
mod server;
mod tasks;
mod users;
mod v2;
mod v2_exchange;
mod v2_projects;
mod video;
