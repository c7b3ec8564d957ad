//! Cross-cutting HTTP layers: request log and metrics, security headers, request ids and
//! the per-address rate limit on login and registration.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tower_http::request_id::{MakeRequestId, RequestId};

use crate::config::Rate;
use crate::error::ApiError;

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

/// One log line and one metrics sample per request: method, path, matched route,
/// status, duration, request id.
pub async fn observe(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
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
        %method, %path, status, ms = elapsed.as_secs_f64() * 1000.0, request_id = %request_id,
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

/// Per-client-address limiter for login and registration.
#[derive(Clone)]
pub struct AuthLimiter(Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>);

impl AuthLimiter {
    pub fn new(rate: Option<Rate>) -> AuthLimiter {
        AuthLimiter(rate.map(|r| {
            let count = NonZeroU32::new(r.count).unwrap_or(NonZeroU32::MIN);
            let period = r.per / r.count;
            let quota = Quota::with_period(period)
                .unwrap_or_else(|| Quota::per_second(count))
                .allow_burst(count);
            Arc::new(RateLimiter::keyed(quota))
        }))
    }

    /// `Err(seconds to wait)` when `ip` is over its allowance.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let Some(l) = &self.0 else { return Ok(()) };
        l.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            wait.as_secs() + 1
        })
    }
}

/// Middleware: 429 with `Retry-After` when the client address is over the allowance.
pub async fn rate_limit(State(limiter): State<AuthLimiter>, req: Request, next: Next) -> Response {
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    match limiter.check(ip) {
        Ok(()) => next.run(req).await,
        Err(wait_secs) => ApiError::Throttled { wait_secs }.into_response(),
    }
}
