//! Sending stored bytes: `ETag`/`If-None-Match`, `Cache-Control`, single `Range`s; exports
//! as attachments.

use std::path::Path;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use ferrocat_core::media::MediaStore;
use ferrocat_core::stored::Stored;

use crate::error::{ApiError, ApiResult};

/// Chunks never change once written: browsers may keep them (per user).
const CACHE: &str = "private, max-age=86400";

/// Serves a stored file (or the byte window `window` of it): from memory without a copy,
/// or streamed from disk or the bucket when it was too big to keep.
pub async fn serve(
    headers: &HeaderMap,
    body: Stored,
    window: Option<(u64, u64)>,
    content_type: &str,
    etag: &str,
) -> ApiResult<Response> {
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        let mut r = crate::http::tasks::empty(StatusCode::NOT_MODIFIED);
        set(&mut r, etag, content_type);
        return Ok(r);
    }
    let (base, len) = window.unwrap_or((0, body.len()));
    let requested = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| parse_range(r, len));
    let (status, start, count) = match requested {
        Some(Ok((s, e))) => (StatusCode::PARTIAL_CONTENT, s, e - s + 1),
        Some(Err(())) => {
            let mut r = crate::http::tasks::empty(StatusCode::RANGE_NOT_SATISFIABLE);
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{len}"))
                    .unwrap_or(HeaderValue::from_static("bytes */0")),
            );
            return Ok(r);
        }
        None => (StatusCode::OK, 0, len),
    };
    let from = base + start;
    let content = match body {
        Stored::Memory(bytes) => {
            let (from, to) = (from as usize, (from + count) as usize);
            if to > bytes.len() {
                return Err(ApiError::Internal(format!(
                    "stored file holds {} bytes, not {to}",
                    bytes.len()
                )));
            }
            Body::from(bytes.slice(from..to))
        }
        other => Body::from_stream(
            other
                .stream(from, count)
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?,
        ),
    };
    let mut r = Response::new(content);
    *r.status_mut() = status;
    set(&mut r, etag, content_type);
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{len}", start + count - 1))
    {
        r.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    Ok(r)
}

/// Sends a one-off file (an export) as an attachment: streamed, never cached, no
/// validators or ranges (the same URL gives a new file after every change).
pub async fn download(
    media: &MediaStore,
    path: &Path,
    content_type: &str,
    disposition: HeaderValue,
) -> ApiResult<Response> {
    let file = ferrocat_core::stored::locate(media, path)
        .await
        .map_err(|_| ApiError::not_found())?;
    let len = file.len();
    let body = file
        .stream(0, len)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut r = Response::new(Body::from_stream(body));
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::CONTENT_DISPOSITION, disposition);
    Ok(r)
}

fn set(r: &mut Response, etag: &str, content_type: &str) {
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n` against a length: `Some(Ok((first, last)))`,
/// `Some(Err)` when unsatisfiable, `None` when absent or not understood (send it all).
fn parse_range(h: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = h.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let r = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 || len == 0 {
            return Some(Err(()));
        }
        (len.saturating_sub(n), len - 1)
    } else {
        let s: u64 = a.parse().ok()?;
        let e: u64 = if b.is_empty() {
            len.saturating_sub(1)
        } else {
            b.parse::<u64>().ok()?.min(len.saturating_sub(1))
        };
        if s >= len || s > e {
            return Some(Err(()));
        }
        (s, e)
    };
    Some(Ok(r))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=95-200", 100), Some(Ok((95, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("items=1-2", 100), None);
    }
}
