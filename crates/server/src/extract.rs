//! Request extractors: who is calling ([`AuthUser`], [`MaybeUser`]), the request body in
//! any of the accepted encodings ([`Input`]), and the absolute origin for `url` fields
//! ([`Origin`]).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use ferrocat_core::{Actor, Session, User};
use serde_json::{Map, Value};

use crate::auth::Authn;
use crate::error::ApiError;

/// An authenticated caller; anonymous requests get 401 (never 403).
pub struct AuthUser {
    pub user: User,
    pub actor: Actor,
    /// The cookie session the request came with, if any.
    pub session: Option<Session>,
    /// The personal access token the request came with, if any (its id).
    pub access_token: Option<i64>,
}

impl<S: Send + Sync> FromRequestParts<S> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match MaybeUser::from_request_parts(parts, _state).await?.0 {
            Some(u) => Ok(u),
            None => Err(ApiError::not_authenticated()),
        }
    }
}

/// A caller who may be anonymous; presented but invalid credentials still give 401.
pub struct MaybeUser(pub Option<AuthUser>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Authn>() {
            Some(Authn::User { user, session, via }) => Ok(MaybeUser(Some(AuthUser {
                actor: Actor::from_user(user),
                user: User::clone(user),
                session: session.clone(),
                access_token: match via {
                    crate::auth::Via::Bearer(id) => Some(*id),
                    _ => None,
                },
            }))),
            Some(Authn::Failed(e)) => Err(e.clone().into_api_error()),
            Some(Authn::Anonymous) | None => Ok(MaybeUser(None)),
        }
    }
}

/// `scheme://host` of the request, from `X-Forwarded-Proto`/`X-Forwarded-Host` when
/// present, else `Host` (api-v1 §2.5).
#[derive(Debug, Clone)]
pub struct Origin(pub String, pub &'static str);

/// The path prefix of v1's API, and of v2's (CVAT 2 moved `/api/v1/…` to `/api/…`).
pub const API_V1: &str = "/api/v1";
pub const API_V2: &str = "/api";

impl Origin {
    pub fn from_headers(h: &HeaderMap) -> Origin {
        let first = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let scheme = first("x-forwarded-proto")
            .filter(|s| s == "http" || s == "https")
            .unwrap_or_else(|| "http".into());
        let host = first("x-forwarded-host")
            .or_else(|| first(header::HOST.as_str()))
            .filter(|h| {
                h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.:[]_".contains(c))
            })
            .unwrap_or_else(|| "localhost".into());
        Origin(format!("{scheme}://{host}"), API_V1)
    }

    /// The origin of a request to `path`: links in an answer stay in the API version
    /// the request was made in.
    pub fn of_request(h: &HeaderMap, path: &str) -> Origin {
        let mut o = Origin::from_headers(h);
        if path.starts_with("/api/") && !path.starts_with("/api/v1/") {
            o.1 = API_V2;
        }
        o
    }

    /// `<origin>/api/v1/<path>`, or `<origin>/api/<path>` for a v2 request.
    pub fn api(&self, path: &str) -> String {
        format!("{}{}/{}", self.0, self.1, path)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // a nested router sees its own part of the path: the original one decides
        let path = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map_or(parts.uri.path(), |u| u.0.path());
        Ok(Origin::of_request(&parts.headers, path))
    }
}

/// The request body as one JSON value, whatever its encoding (api-v1 §2.2): JSON,
/// `application/x-www-form-urlencoded` or `multipart/form-data` (text fields; list
/// fields use `name[0]`, `name[1]`, …). An empty body is an empty object.
pub struct Input(pub Value);

impl Input {
    /// The body as an object, or DRF's error for anything else.
    pub fn object(&self) -> Result<&Map<String, Value>, ApiError> {
        match &self.0 {
            Value::Object(m) => Ok(m),
            other => Err(ApiError::Invalid(ferrocat_wire::FieldErrors::non_field(
                format!(
                    "Invalid data. Expected a dictionary, but got {}.",
                    py_type(other)
                ),
            ))),
        }
    }
}

fn py_type(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "list",
        Value::String(_) => "str",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::Bool(_) => "bool",
        Value::Null => "NoneType",
        Value::Object(_) => "dict",
    }
}

impl<S: Send + Sync> FromRequest<S> for Input {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ctype = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let mime = ctype
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if mime == "multipart/form-data" {
            let mut mp = axum::extract::Multipart::from_request(req, state)
                .await
                .map_err(|e| ApiError::BadRequest(format!("Multipart form parse error - {e}")))?;
            let mut pairs = Vec::new();
            while let Some(field) = mp
                .next_field()
                .await
                .map_err(|e| ApiError::BadRequest(format!("Multipart form parse error - {e}")))?
            {
                let name = field.name().unwrap_or("").to_string();
                if field.file_name().is_some() {
                    continue;
                }
                let text = field.text().await.map_err(|e| {
                    ApiError::BadRequest(format!("Multipart form parse error - {e}"))
                })?;
                pairs.push((name, text));
            }
            return Ok(Input(Value::Object(form_to_object(pairs))));
        }
        let body = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::BadRequest("Request body is too large.".into())
            } else {
                ApiError::BadRequest(e.body_text())
            }
        })?;
        parse_body(&mime, &ctype, &body).map(Input)
    }
}

/// Decodes a non-multipart body by its media type.
pub fn parse_body(mime: &str, ctype: &str, body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(|b| b.is_ascii_whitespace())
        && (mime.is_empty() || mime == "application/json")
    {
        return Ok(Value::Object(Map::new()));
    }
    match mime {
        "application/json" | "" => serde_json::from_slice(body)
            .map_err(|e| ApiError::BadRequest(format!("JSON parse error - {e}"))),
        "application/x-www-form-urlencoded" => {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
                .map_err(|e| ApiError::BadRequest(format!("Form parse error - {e}")))?;
            Ok(Value::Object(form_to_object(pairs)))
        }
        m if m.ends_with("+json") => serde_json::from_slice(body)
            .map_err(|e| ApiError::BadRequest(format!("JSON parse error - {e}"))),
        _ => Err(ApiError::UnsupportedMediaType(format!(
            "Unsupported media type \"{ctype}\" in request."
        ))),
    }
}

/// Turns form pairs into an object: `k=v` → string, repeated `k` or `k[i]` → list in
/// index order.
pub fn form_to_object(pairs: Vec<(String, String)>) -> Map<String, Value> {
    let mut map = Map::new();
    let mut lists: std::collections::BTreeMap<String, Vec<(usize, String)>> = Default::default();
    for (k, v) in pairs {
        if let Some((base, rest)) = k.split_once('[')
            && let Some(idx) = rest.strip_suffix(']').and_then(|i| i.parse::<usize>().ok())
        {
            lists.entry(base.to_string()).or_default().push((idx, v));
            continue;
        }
        match map.get_mut(&k) {
            Some(Value::Array(a)) => a.push(Value::String(v)),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, Value::String(v)]);
            }
            None => {
                map.insert(k, Value::String(v));
            }
        }
    }
    for (k, mut items) in lists {
        items.sort_by_key(|(i, _)| *i);
        map.insert(
            k,
            Value::Array(items.into_iter().map(|(_, v)| Value::String(v)).collect()),
        );
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn form_lists_and_scalars() {
        let m = form_to_object(vec![
            ("a".into(), "1".into()),
            ("f[1]".into(), "y".into()),
            ("f[0]".into(), "x".into()),
            ("r".into(), "p".into()),
            ("r".into(), "q".into()),
        ]);
        assert_eq!(
            Value::Object(m),
            json!({"a": "1", "f": ["x", "y"], "r": ["p", "q"]})
        );
    }

    #[test]
    fn bodies_by_type() {
        assert_eq!(parse_body("", "", b"").unwrap(), json!({}));
        assert!(matches!(
            parse_body("application/json", "", b"{bad"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse_body("text/plain", "text/plain", b"x"),
            Err(ApiError::UnsupportedMediaType(_))
        ));
        assert_eq!(
            parse_body(
                "application/x-www-form-urlencoded",
                "",
                b"username=a&password=b%20c"
            )
            .unwrap(),
            json!({"username": "a", "password": "b c"})
        );
    }

    #[test]
    fn origin_from_headers() {
        let mut h = HeaderMap::new();
        h.insert("host", "alexking.site:8080".parse().unwrap());
        assert_eq!(
            Origin::from_headers(&h).api("users/1"),
            "http://alexking.site:8080/api/v1/users/1"
        );
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        h.insert(
            "x-forwarded-host",
            "cvat.example.org, proxy".parse().unwrap(),
        );
        assert_eq!(Origin::from_headers(&h).0, "https://cvat.example.org");
        assert_eq!(
            Origin::of_request(&h, "/api/users/self").api("users/1"),
            "https://cvat.example.org/api/users/1"
        );
        assert_eq!(
            Origin::of_request(&h, "/api/v1/users/self").api("users/1"),
            "https://cvat.example.org/api/v1/users/1"
        );
    }
}

/// The decoded query-string pairs of a request (unknown parameters are simply never
/// asked for; for repeated keys the last one wins, as in Django).
#[derive(Debug, Clone, Default)]
pub struct QueryPairs(pub Vec<(String, String)>);

impl QueryPairs {
    pub fn parse(query: Option<&str>) -> QueryPairs {
        QueryPairs(serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The client's address, for the login throttle.
pub struct ClientIp(pub std::net::IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip())
                .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1])),
        ))
    }
}
