//! Synchronous media handling for ferrocat: image probing, decoding and JPEG encoding
//! ([`image`]), safe archive extraction ([`archive`]), zip chunk writing/reading ([`chunk`]),
//! video and PDF through ffmpeg and pdftoppm ([`video`], [`pdf`]) and the one wrapper that
//! runs those programs ([`tool`]).
//!
//! Everything here is plain blocking code without a runtime, database or HTTP; callers run it
//! on a blocking thread pool. All functions treat their input as untrusted: malformed data is
//! reported as a [`MediaError`], never as a panic, and decompression bombs are refused
//! before large buffers are allocated.

pub mod archive;
pub mod chunk;
pub mod image;
pub mod pdf;
pub mod tool;
pub mod video;

mod error;
pub use error::MediaError;

/// Result type of this crate.
pub type Result<T, E = MediaError> = std::result::Result<T, E>;
