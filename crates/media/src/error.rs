//! The error type shared by all media operations.

/// Why a media operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// Not an image, or an image/archive format (or feature of one) that is not supported.
    #[error("{0}")]
    Unsupported(String),
    /// Truncated or undecodable data.
    #[error("{0}")]
    Corrupt(String),
    /// Decompression bomb, image bigger than the limits, archive over its limits.
    #[error("{0}")]
    TooLarge(String),
    /// Archive member escaping the destination (zip slip), absolute path, link or device.
    #[error("{0}")]
    Unsafe(String),
    /// An I/O error on a real file.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
