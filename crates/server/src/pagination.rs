//! The pagination of list endpoints (api-v1 §2.6): `page` (1-based, or `last`),
//! `page_size` (default 10, `all` for everything; 0, negative or non-numeric fall back
//! to 10), absolute `next`/`previous` links that keep every other query parameter.

use axum::http::Uri;
use ferrocat_wire::Page;

use crate::error::ApiError;
use crate::extract::Origin;

pub const DEFAULT_PAGE_SIZE: i64 = 10;

/// What the client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageQuery {
    page: Option<String>,
    /// `None` = all.
    size: Option<i64>,
}

impl PageQuery {
    /// Reads `page` and `page_size` from a raw query string (other parameters ignored).
    pub fn from_query(query: Option<&str>) -> PageQuery {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default();
        let get = |k: &str| {
            pairs
                .iter()
                .rev()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        let size = match get("page_size").as_deref() {
            Some("all") => None,
            Some(s) => Some(
                s.trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .unwrap_or(DEFAULT_PAGE_SIZE),
            ),
            None => Some(DEFAULT_PAGE_SIZE),
        };
        PageQuery {
            page: get("page"),
            size,
        }
    }

    /// The page window for a collection of `count` items: `(page number, offset, limit)`;
    /// 404 "Invalid page." for pages that do not exist.
    pub fn window(&self, count: i64) -> Result<(i64, i64, Option<i64>), ApiError> {
        let pages = match self.size {
            None => 1,
            Some(s) => ((count + s - 1) / s).max(1),
        };
        let page = match self.page.as_deref().map(str::trim) {
            None | Some("") => 1,
            Some("last") => pages,
            Some(p) => p.parse::<i64>().map_err(|_| invalid_page())?,
        };
        if page < 1 || page > pages {
            return Err(invalid_page());
        }
        Ok(match self.size {
            None => (1, 0, None),
            Some(s) => (page, (page - 1) * s, Some(s)),
        })
    }

    /// Builds the envelope for `results` (the items of page `page`).
    pub fn envelope<T>(
        &self,
        origin: &Origin,
        uri: &Uri,
        count: i64,
        page: i64,
        results: Vec<T>,
    ) -> Page<T> {
        let pages = match self.size {
            None => 1,
            Some(s) => ((count + s - 1) / s).max(1),
        };
        let link = |target: Option<i64>| -> String {
            let mut pairs: Vec<(String, String)> =
                serde_urlencoded::from_str(uri.query().unwrap_or("")).unwrap_or_default();
            pairs.retain(|(k, _)| k != "page");
            if let Some(t) = target {
                pairs.push(("page".into(), t.to_string()));
            }
            pairs.sort();
            let q = serde_urlencoded::to_string(&pairs).unwrap_or_default();
            if q.is_empty() {
                format!("{}{}", origin.0, uri.path())
            } else {
                format!("{}{}?{}", origin.0, uri.path(), q)
            }
        };
        Page {
            count,
            next: (page < pages).then(|| link(Some(page + 1))),
            previous: (page > 1).then(|| link(if page == 2 { None } else { Some(page - 1) })),
            results,
        }
    }
}

fn invalid_page() -> ApiError {
    ApiError::NotFound("Invalid page.".into())
}

impl PageQuery {
    /// The page this query asks for out of `rows` already in memory (short lists built
    /// by the handler: a user's tokens, the jobs or labels of a few tasks).
    pub fn page_of<T>(
        &self,
        origin: &Origin,
        uri: &Uri,
        rows: Vec<T>,
    ) -> Result<Page<T>, ApiError> {
        let count = rows.len() as i64;
        let (page, offset, limit) = self.window(count)?;
        let results = rows
            .into_iter()
            .skip(offset as usize)
            .take(limit.map_or(usize::MAX, |l| l as usize))
            .collect();
        Ok(self.envelope(origin, uri, count, page, results))
    }
}

/// A page window handed to a core list as its `window` closure: remembers the page
/// number it chose and a paging error (a page past the end, say), which
/// [`Window::finish`] returns in place of the core's error.
pub struct Window<'a> {
    pq: &'a PageQuery,
    pub page_no: i64,
    err: Option<ApiError>,
}

impl<'a> Window<'a> {
    pub fn new(pq: &'a PageQuery) -> Self {
        Window {
            pq,
            page_no: 1,
            err: None,
        }
    }

    /// (offset, limit) for `count` items.
    pub fn apply(&mut self, count: i64) -> ferrocat_core::Result<(i64, Option<i64>)> {
        match self.pq.window(count) {
            Ok((p, o, l)) => {
                self.page_no = p;
                Ok((o, l))
            }
            Err(e) => {
                self.err = Some(e);
                Err(ferrocat_core::Error::NotFound)
            }
        }
    }

    pub fn finish<T>(&mut self, r: ferrocat_core::Result<T>) -> Result<T, ApiError> {
        r.map_err(|e| self.err.take().unwrap_or_else(|| e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> PageQuery {
        PageQuery::from_query(Some(s))
    }

    #[test]
    fn sizes() {
        assert_eq!(q("").size, Some(10));
        assert_eq!(q("page_size=0").size, Some(10));
        assert_eq!(q("page_size=-3").size, Some(10));
        assert_eq!(q("page_size=abc").size, Some(10));
        assert_eq!(q("page_size=25").size, Some(25));
        assert_eq!(q("page_size=all").size, None);
    }

    #[test]
    fn windows() {
        assert_eq!(q("").window(0).unwrap(), (1, 0, Some(10)));
        assert!(q("page=2").window(0).is_err());
        assert!(q("page=0").window(50).is_err());
        assert!(q("page=x").window(50).is_err());
        assert_eq!(
            q("page=last&page_size=20").window(50).unwrap(),
            (3, 40, Some(20))
        );
        assert!(q("page=4&page_size=20").window(50).is_err());
        assert_eq!(q("page_size=all").window(50).unwrap(), (1, 0, None));
    }

    #[test]
    fn links_keep_other_parameters() {
        let origin = Origin("http://h:8080".into(), crate::extract::API_V1);
        let uri: Uri = "/api/v1/users?page=2&page_size=1&search=x".parse().unwrap();
        let pq = PageQuery::from_query(uri.query());
        let p = pq.envelope(&origin, &uri, 3, 2, vec![1]);
        assert_eq!(
            p.next.as_deref(),
            Some("http://h:8080/api/v1/users?page=3&page_size=1&search=x")
        );
        assert_eq!(
            p.previous.as_deref(),
            Some("http://h:8080/api/v1/users?page_size=1&search=x")
        );
    }
}
