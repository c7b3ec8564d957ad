//! `remote_files` (api-v1 §7.1): HTTP(S) downloads for task data, with a size cap, a
//! timeout, and no requests to loopback, link-local or private addresses unless the
//! operator allows them (`FERROCAT_ALLOW_PRIVATE_REMOTE=1`). Host names are resolved
//! once, checked, and the connection is pinned to the checked addresses, so DNS cannot
//! point a download elsewhere afterwards.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

/// Whether an address is one a server should not fetch from on a user's behalf.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10, carrier-grade NAT
                || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18.0.0/15, benchmarking
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link local
        }
    }
}

/// A checked URL: its host's addresses are all allowed.
#[derive(Debug, Clone)]
pub struct Checked {
    pub url: reqwest::Url,
    pub host: String,
    pub addrs: Vec<SocketAddr>,
}

/// Parses and checks a URL; the error is a message for the client.
pub async fn check(raw: &str, allow_private: bool) -> Result<Checked, String> {
    let url = reqwest::Url::parse(raw.trim()).map_err(|_| format!("{raw}: not a valid URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{raw}: only http and https URLs are supported"));
    }
    let host = url
        .host_str()
        .ok_or_else(|| format!("{raw}: the URL has no host"))?
        .to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare.as_str(), port))
            .await
            .map_err(|e| format!("{raw}: cannot resolve {host}: {e}"))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(format!("{raw}: cannot resolve {host}"));
    }
    if !allow_private && addrs.iter().any(|a| is_internal(a.ip())) {
        return Err(format!(
            "{raw}: downloads from local or private addresses are not allowed"
        ));
    }
    Ok(Checked {
        url,
        host: bare,
        addrs,
    })
}

/// The local file name of a URL: its last path segment.
pub fn file_name(url: &reqwest::Url) -> String {
    url.path_segments()
        .and_then(|mut s| s.next_back().map(str::to_string))
        .filter(|s| !s.is_empty() && s != "." && s != "..")
        .unwrap_or_else(|| "file".into())
}

/// Downloads to `dest`, at most `max_bytes`, within `timeout`.
pub async fn download(
    c: &Checked,
    dest: &Path,
    max_bytes: u64,
    timeout: Duration,
) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .resolve_to_addrs(&c.host, &c.addrs)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(30))
        .timeout(timeout)
        .user_agent("Mozilla/5.0")
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client
        .get(c.url.clone())
        .send()
        .await
        .map_err(|e| format!("Failed to download {}. {e}", c.url))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!(
            "Failed to download {}. {} - {}",
            c.url,
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        ));
    }
    if resp.content_length().is_some_and(|n| n > max_bytes) {
        return Err(format!(
            "{} is larger than the {max_bytes}-byte limit",
            c.url
        ));
    }
    let mut file = tokio::fs::File::create(dest)
        .await
        .map_err(|e| e.to_string())?;
    let mut written = 0u64;
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| format!("Failed to download {}. {e}", c.url))?;
        written += chunk.len() as u64;
        if written > max_bytes {
            return Err(format!(
                "{} is larger than the {max_bytes}-byte limit",
                c.url
            ));
        }
        file.write_all(&chunk).await.map_err(|e| e.to_string())?;
    }
    file.flush().await.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "151.101.1.1", "2a00:1450::1"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn checks() {
        assert!(check("ftp://example.com/a.jpg", false).await.is_err());
        assert!(
            check("http://127.0.0.1:8080/a.jpg", false)
                .await
                .unwrap_err()
                .contains("not allowed")
        );
        assert!(check("http://[::1]/a.jpg", false).await.is_err());
        assert!(check("http://127.0.0.1:8080/a.jpg", true).await.is_ok());
        assert!(check("not a url", true).await.is_err());
        let c = check("http://127.0.0.1/x/photo%201.jpg?x=1", true)
            .await
            .unwrap();
        assert_eq!(file_name(&c.url), "photo%201.jpg");
    }
}
