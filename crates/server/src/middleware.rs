//! Cross-cutting HTTP layers: request log and metrics, security headers, request ids and
//! the per-address rate limit on login and registration.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::request_id::{MakeRequestId, RequestId};

use crate::error::ApiError;
use crate::throttle::{AuthLimiter, Key};

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids: 16 random alphanumerics.
#[derive(Clone, Default)]
pub struct MakeId;

impl MakeRequestId for MakeId {
    fn make_request_id<B>(&mut self, _req: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&ferrocat_core::random_alnum(16))
            .ok()
            .map(RequestId::new)
    }
}

/// Query parameters whose values are never logged (a name containing one of these).
const SECRET_PARAMS: [&str; 6] = ["sign", "token", "key", "password", "secret", "session"];

/// The query string for the log: values of secret-looking parameters become `***`
/// (`sign`, `token`, `key`, `password`, … anywhere in the name, any case).
pub fn redacted_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let lower = name.to_ascii_lowercase();
            if !value.is_empty() && SECRET_PARAMS.iter().any(|s| lower.contains(s)) {
                format!("{name}=***")
            } else {
                pair.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// One log line and one metrics sample per request: method, path and query (secrets
/// redacted), matched route, status, duration, request id.
pub async fn observe(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(redacted_query).unwrap_or_default();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let resp = next.run(req).await;
    let elapsed = start.elapsed();
    let status = resp.status().as_u16();
    tracing::info!(
        target: "ferrocat::http",
        %method, %path, %query, status, ms = elapsed.as_secs_f64() * 1000.0, request_id = %request_id,
        "request"
    );
    let labels = [
        ("method", method.to_string()),
        ("route", route),
        ("status", status.to_string()),
    ];
    metrics::counter!("ferrocat_http_requests_total", &labels).increment(1);
    metrics::histogram!("ferrocat_http_request_duration_seconds", &labels[..2])
        .record(elapsed.as_secs_f64());
    resp
}

/// Security headers on every response; a strict Content-Security-Policy on pages
/// (everything outside `/api/v1`).
pub async fn security_headers(req: Request, next: Next) -> Response {
    let is_api = req.uri().path().starts_with("/api/v1/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !is_api {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                 img-src 'self' data: blob:; connect-src 'self'; worker-src 'self' blob:; \
                 object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'",
            ),
        );
    }
    resp
}

/// The client's address (the connection's peer; loopback when unknown, as in tests
/// that call the router directly).
pub fn client_ip(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

/// Middleware of `/auth/register`: 429 with `Retry-After` when the address is over its
/// allowance; every attempt counts ([`crate::throttle`]).
pub async fn rate_limit(State(limiter): State<AuthLimiter>, req: Request, next: Next) -> Response {
    let keys = [Key::RegisterFrom(client_ip(&req))];
    if let Err(wait_secs) = limiter.blocked(&keys) {
        return ApiError::Throttled { wait_secs }.into_response();
    }
    limiter.record(&keys);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_secrets_are_redacted() {
        assert_eq!(
            redacted_query("format=COCO%201.0&action=download&sign=abc&api_key=k&page=2"),
            "format=COCO%201.0&action=download&sign=***&api_key=***&page=2"
        );
        assert_eq!(redacted_query("type=chunk&number=0"), "type=chunk&number=0");
        assert_eq!(redacted_query("Token=x&password"), "Token=***&password");
    }
}
