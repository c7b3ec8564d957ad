//! `remote_files` (api-v1 §7.1): HTTP(S) downloads for task data, with a size cap, a
//! minimum transfer rate and a timeout ([`Transfer`]), and no requests to any IANA
//! special-purpose address (loopback, private, link-local, translation, documentation…,
//! one table: [`special_purpose`]) unless the operator allows them
//! (`FERROCAT_ALLOW_PRIVATE_REMOTE=1`). Host names are resolved
//! once, checked, and the connection is pinned to the checked addresses, so DNS cannot
//! point a download elsewhere afterwards.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

/// The IANA special-purpose IPv4 registry (RFC 6890 and its updates), with multicast,
/// broadcast and the reserved 240/4: `(first address, prefix length, name)`.
/// Checked 2026-12 against iana-ipv4-special-registry.
const V4_SPECIAL: &[([u8; 4], u8, &str)] = &[
    ([0, 0, 0, 0], 8, "\"this network\""),
    ([10, 0, 0, 0], 8, "private use"),
    (
        [100, 64, 0, 0],
        10,
        "shared address space (carrier-grade NAT)",
    ),
    ([127, 0, 0, 0], 8, "loopback"),
    ([169, 254, 0, 0], 16, "link local"),
    ([172, 16, 0, 0], 12, "private use"),
    ([192, 0, 0, 0], 24, "IETF protocol assignments"),
    ([192, 0, 2, 0], 24, "documentation (TEST-NET-1)"),
    ([192, 31, 196, 0], 24, "AS112-v4"),
    ([192, 52, 193, 0], 24, "AMT"),
    ([192, 88, 99, 0], 24, "deprecated 6to4 relay anycast"),
    ([192, 168, 0, 0], 16, "private use"),
    ([192, 175, 48, 0], 24, "direct delegation AS112 service"),
    ([198, 18, 0, 0], 15, "benchmarking"),
    ([198, 51, 100, 0], 24, "documentation (TEST-NET-2)"),
    ([203, 0, 113, 0], 24, "documentation (TEST-NET-3)"),
    ([224, 0, 0, 0], 4, "multicast"),
    ([240, 0, 0, 0], 4, "reserved"),
    ([255, 255, 255, 255], 32, "limited broadcast"),
];

/// The IANA special-purpose IPv6 registry (RFC 6890 and its updates), with the rest of
/// `::/8` (IPv4-compatible `::a.b.c.d`, SIIT `::ffff:0:a.b.c.d`), the deprecated
/// site-local `fec0::/10` and multicast. Checked 2026-12 against
/// iana-ipv6-special-registry.
const V6_SPECIAL: &[([u16; 8], u8, &str)] = &[
    (
        [0, 0, 0, 0, 0, 0, 0, 0],
        8,
        "reserved by the IETF (loopback, unspecified, IPv4-compatible and -mapped)",
    ),
    (
        [0x64, 0xff9b, 0, 0, 0, 0, 0, 0],
        96,
        "IPv4-IPv6 translation",
    ),
    (
        [0x64, 0xff9b, 1, 0, 0, 0, 0, 0],
        48,
        "local-use IPv4-IPv6 translation",
    ),
    ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "discard-only"),
    ([0x100, 0, 0, 1, 0, 0, 0, 0], 64, "dummy IPv6 prefix"),
    (
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        23,
        "IETF protocol assignments (Teredo, benchmarking, ORCHID, AMT)",
    ),
    ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, "documentation"),
    ([0x2002, 0, 0, 0, 0, 0, 0, 0], 16, "6to4"),
    (
        [0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0],
        48,
        "direct delegation AS112 service",
    ),
    ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, "documentation"),
    (
        [0x5f00, 0, 0, 0, 0, 0, 0, 0],
        16,
        "segment routing (SRv6) SIDs",
    ),
    ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "unique local"),
    ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link local"),
    ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "site local (deprecated)"),
    ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "multicast"),
];

fn in_prefix(addr: u128, first: u128, len: u8, bits: u32) -> bool {
    let len = u32::from(len);
    len == 0 || (addr ^ first) >> (bits - len) == 0
}

/// The special-purpose range an address is in (a server should not fetch from it on a
/// user's behalf), as `prefix: name`; `None` for a globally routable address.
pub fn special_purpose(ip: IpAddr) -> Option<String> {
    match ip {
        IpAddr::V4(v4) => V4_SPECIAL
            .iter()
            .find(|(first, len, _)| {
                let first = u32::from_be_bytes(*first);
                in_prefix(u32::from(v4).into(), first.into(), *len, 32)
            })
            .map(|(first, len, name)| {
                format!("{}/{len}: {name}", std::net::Ipv4Addr::from(*first))
            }),
        IpAddr::V6(v6) => V6_SPECIAL
            .iter()
            .find(|(first, len, _)| {
                let first = u128::from(std::net::Ipv6Addr::from(*first));
                in_prefix(u128::from(v6), first, *len, 128)
            })
            .map(|(first, len, name)| {
                format!("{}/{len}: {name}", std::net::Ipv6Addr::from(*first))
            }),
    }
}

/// Whether an address is one a server should not fetch from on a user's behalf.
pub fn is_internal(ip: IpAddr) -> bool {
    special_purpose(ip).is_some()
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
    if !allow_private
        && let Some((addr, range)) = addrs
            .iter()
            .find_map(|a| special_purpose(a.ip()).map(|r| (a.ip(), r)))
    {
        return Err(format!(
            "{raw}: downloads from local or private addresses are not allowed ({addr} is in {range})"
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

/// The limits of a download.
#[derive(Debug, Clone, Copy)]
pub struct Transfer {
    /// Largest file.
    pub max_bytes: u64,
    /// Slowest transfer kept: fewer than `min_rate × rate_window` bytes in any
    /// `rate_window` (including the wait for the response head) abort it. 0 turns it off.
    pub min_rate: u64,
    pub rate_window: Duration,
    /// Longest download of one file, however fast.
    pub timeout: Duration,
    /// Files of one task downloaded at once.
    pub parallel: usize,
}

impl Default for Transfer {
    fn default() -> Self {
        Transfer {
            max_bytes: 4 << 30,
            min_rate: 10 << 10,
            rate_window: Duration::from_secs(30),
            timeout: Duration::from_secs(600),
            parallel: 4,
        }
    }
}

/// Downloads to `dest` within the limits of `t`.
pub async fn download(c: &Checked, dest: &Path, t: &Transfer) -> Result<(), String> {
    let failed = |e: &dyn std::fmt::Display| format!("Failed to download {}. {e}", c.url);
    let too_large = || format!("{} is larger than the {}-byte limit", c.url, t.max_bytes);
    let mut client = reqwest::Client::builder()
        .resolve_to_addrs(&c.host, &c.addrs)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(30))
        .timeout(t.timeout)
        .user_agent("Mozilla/5.0");
    if t.min_rate > 0 {
        // no byte at all for a whole window is too slow at any rate
        client = client.read_timeout(t.rate_window);
    }
    let client = client.build().map_err(|e| e.to_string())?;
    let send = client.get(c.url.clone()).send();
    let resp = if t.min_rate > 0 {
        // the response head must arrive within one window too
        tokio::time::timeout(t.rate_window, send)
            .await
            .map_err(|_| {
                format!(
                    "{} is too slow: no response head in {} s",
                    c.url,
                    t.rate_window.as_secs()
                )
            })?
    } else {
        send.await
    }
    .map_err(|e| failed(&e))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!(
            "Failed to download {}. {} - {}",
            c.url,
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        ));
    }
    if resp.content_length().is_some_and(|n| n > t.max_bytes) {
        return Err(too_large());
    }
    let mut file = tokio::fs::File::create(dest)
        .await
        .map_err(|e| e.to_string())?;
    let mut written = 0u64;
    let mut rate = RateCheck::new(t);
    let mut body = resp.bytes_stream();
    loop {
        let next = match rate.deadline() {
            Some(d) => match tokio::time::timeout_at(d, body.next()).await {
                Ok(next) => next,
                Err(_) => {
                    rate.check(0).map_err(|slow| format!("{} {slow}", c.url))?;
                    continue;
                }
            },
            None => body.next().await,
        };
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| failed(&e))?;
        written += chunk.len() as u64;
        if written > t.max_bytes {
            return Err(too_large());
        }
        rate.check(chunk.len() as u64)
            .map_err(|slow| format!("{} {slow}", c.url))?;
        file.write_all(&chunk).await.map_err(|e| e.to_string())?;
    }
    file.flush().await.map_err(|e| e.to_string())
}

/// The minimum transfer rate over consecutive windows.
struct RateCheck {
    min_bytes: u64,
    window: Duration,
    window_end: tokio::time::Instant,
    in_window: u64,
}

impl RateCheck {
    fn new(t: &Transfer) -> RateCheck {
        RateCheck {
            min_bytes: t.min_rate.saturating_mul(t.rate_window.as_secs().max(1)),
            window: t.rate_window,
            window_end: tokio::time::Instant::now() + t.rate_window,
            in_window: 0,
        }
    }

    /// When the current window ends (`None`: no minimum rate).
    fn deadline(&self) -> Option<tokio::time::Instant> {
        (self.min_bytes > 0).then_some(self.window_end)
    }

    /// Counts `n` bytes; at the end of a window, fails if it held too few.
    fn check(&mut self, n: u64) -> Result<(), String> {
        self.in_window += n;
        if self.min_bytes == 0 || tokio::time::Instant::now() < self.window_end {
            return Ok(());
        }
        if self.in_window < self.min_bytes {
            return Err(format!(
                "is too slow: {} bytes in {} s, below the minimum of {} bytes per second",
                self.in_window,
                self.window.as_secs(),
                self.min_bytes / self.window.as_secs().max(1)
            ));
        }
        self.in_window = 0;
        self.window_end = tokio::time::Instant::now() + self.window;
        Ok(())
    }
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
            // the gaps found by the fuzzing of issue 16
            "::10.0.0.1",
            "::8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2002:c0a8:101::1",
            "fec0::1",
            "::ffff:0:8.8.8.8",
            "::ffff:0:7f00:1",
            "192.0.0.8",
            "240.0.0.1",
            "255.255.255.255",
            "2001:db8::1",
            "2001::1",
            "3fff::1",
            "ff02::1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "151.101.1.1",
            "2a00:1450::1",
            "1.1.1.1",
            "192.0.1.1",
            "223.255.255.255",
            "2001:4860:4860::8888",
            "2600::1",
        ] {
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
