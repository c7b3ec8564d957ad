//! CVAT REST API v1 wire types.
//!
//! Each type serializes field-for-field as CVAT 1.1 does (key names, `null` versus an
//! absent key). No I/O and no domain logic: `ferrocat-core` builds these from its own
//! types. [`fields`] holds the lenient DRF-style reading of request bodies and the
//! field-error shape.

pub mod annotations;
pub mod auth;
pub mod fields;
pub mod logs;
pub mod page;
pub mod projects;
pub mod server;
pub mod tasks;
pub mod time;
pub mod users;

pub use fields::{FieldErrors, Fields};
pub use page::Page;
