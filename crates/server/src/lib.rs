//! The ferrocat server: configuration, HTTP routes, authentication, and the
//! [`app::Application`] that `main` and the integration tests run.

pub mod app;
pub mod auth;
pub mod config;
pub mod error;
pub mod extract;
pub mod http;
pub mod middleware;
pub mod pagination;
pub mod serve;
pub mod throttle;

pub use app::{AppState, Application};
pub use config::Config;
