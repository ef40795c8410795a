//! One poll of one feed: conditional GET with our own redirect handling, a cap on the body
//! (after decompression), timeouts; or a `file://` read for saved snapshots.

use std::time::{Duration, SystemTime};

use reqwest::header::{
    HeaderMap, HeaderValue, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, LOCATION,
};
use reqwest::StatusCode;
use url::Url;

/// Validators remembered between polls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// What a poll brought.
#[derive(Debug)]
pub enum Outcome {
    Fetched {
        body: Vec<u8>,
        status: u16,
        validators: Validators,
        charset: Option<String>,
        /// Set when a permanent redirect (301/308) moved the feed.
        moved_to: Option<String>,
        /// `Cache-Control: max-age` / `Expires` hint, seconds.
        fresh_for: Option<u64>,
    },
    NotModified {
        fresh_for: Option<u64>,
    },
}

/// Why a poll failed; `kind` is the bounded metric label.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct PollError {
    pub kind: &'static str,
    pub status: Option<u16>,
    pub message: String,
    /// `Retry-After` of a 429/503, seconds.
    pub retry_after: Option<u64>,
    /// 410 Gone: the feed should be disabled.
    pub gone: bool,
}

impl PollError {
    fn new(kind: &'static str, message: impl Into<String>) -> Self {
        PollError {
            kind,
            status: None,
            message: message.into(),
            retry_after: None,
            gone: false,
        }
    }
}

/// Limits of one poll.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body_bytes: u64,
    pub max_redirects: usize,
    /// Allow loopback, private, link-local and other non-public addresses (off by default so
    /// a feed URL or a redirect cannot turn the fetcher against internal services).
    pub allow_private: bool,
}

/// Whether an address is one a public feed never lives on.
pub fn is_private(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || v4.octets()[0] == 0
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xC0) == 64) // 100.64/10 CGNAT
        }
        std::net::IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(std::net::IpAddr::V4(v4));
            }
            let seg = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xFE00) == 0xFC00 // unique local
                || (seg[0] & 0xFFC0) == 0xFE80 // link local
        }
    }
}

/// Refuses URLs whose host is (or resolves to) a non-public address, unless allowed.
async fn check_destination(url: &Url, limits: &Limits) -> Result<(), PollError> {
    if limits.allow_private {
        return Ok(());
    }
    let Some(host) = url.host() else {
        return Err(PollError::new("blocked", format!("{url} has no host")));
    };
    let port = url.port_or_known_default().unwrap_or(80);
    let addrs: Vec<std::net::IpAddr> = match host {
        url::Host::Ipv4(ip) => vec![ip.into()],
        url::Host::Ipv6(ip) => vec![ip.into()],
        url::Host::Domain(d) => tokio::net::lookup_host((d, port))
            .await
            .map_err(|e| PollError::new("connect", format!("cannot resolve {d}: {e}")))?
            .map(|a| a.ip())
            .collect(),
    };
    if let Some(ip) = addrs.iter().find(|ip| is_private(**ip)) {
        return Err(PollError::new(
            "blocked",
            format!("{url} resolves to {ip}, a non-public address (set fetch.allow_private_addresses to allow)"),
        ));
    }
    Ok(())
}

/// Polls `url` once.
pub async fn poll(
    client: &reqwest::Client,
    url: &str,
    validators: &Validators,
    headers: &HeaderMap,
    limits: &Limits,
) -> Result<Outcome, PollError> {
    let mut current =
        Url::parse(url).map_err(|e| PollError::new("other", format!("bad url {url}: {e}")))?;
    if current.scheme() == "file" {
        return read_file(&current, validators, limits).await;
    }
    let mut moved_to = None;
    let mut permanent_so_far = true;
    let mut hops = 0;
    loop {
        check_destination(&current, limits).await?;
        let mut req = client.get(current.clone()).headers(headers.clone());
        if let Some(etag) = &validators.etag {
            if let Ok(v) = HeaderValue::from_str(etag) {
                req = req.header(IF_NONE_MATCH, v);
            }
        }
        if let Some(lm) = &validators.last_modified {
            if let Ok(v) = HeaderValue::from_str(lm) {
                req = req.header(IF_MODIFIED_SINCE, v);
            }
        }
        let resp = req.send().await.map_err(classify)?;
        let status = resp.status();
        if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
            hops += 1;
            if hops > limits.max_redirects {
                return Err(PollError {
                    status: Some(status.as_u16()),
                    ..PollError::new(
                        "redirect",
                        format!("more than {} redirects", limits.max_redirects),
                    )
                });
            }
            let location = resp
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    PollError::new("redirect", format!("{status} without a Location header"))
                })?;
            let next = current
                .join(location)
                .map_err(|e| PollError::new("redirect", format!("bad Location {location}: {e}")))?;
            if next.scheme() != "http" && next.scheme() != "https" {
                return Err(PollError::new(
                    "redirect",
                    format!("refusing redirect to {} URL", next.scheme()),
                ));
            }
            permanent_so_far &= matches!(
                status,
                StatusCode::MOVED_PERMANENTLY | StatusCode::PERMANENT_REDIRECT
            );
            if permanent_so_far {
                moved_to = Some(next.to_string());
            }
            current = next;
            continue;
        }
        let fresh_for = freshness(resp.headers());
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Outcome::NotModified { fresh_for });
        }
        if !status.is_success() {
            let retry_after = retry_after(resp.headers());
            return Err(PollError {
                kind: "http_status",
                status: Some(status.as_u16()),
                message: format!("HTTP {status}"),
                retry_after,
                gone: status == StatusCode::GONE,
            });
        }
        let new_validators = Validators {
            etag: header_string(resp.headers(), ETAG),
            last_modified: header_string(resp.headers(), LAST_MODIFIED),
        };
        let charset = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|ct| {
                ct.split(';')
                    .filter_map(|p| p.trim().strip_prefix("charset="))
                    .next()
                    .map(|c| c.trim_matches('"').to_string())
            });
        if let Some(len) = resp.content_length() {
            if len > limits.max_body_bytes {
                return Err(PollError::new(
                    "too_large",
                    format!(
                        "body of {len} bytes is over the {} byte cap",
                        limits.max_body_bytes
                    ),
                ));
            }
        }
        let body = read_capped(resp, limits.max_body_bytes).await?;
        return Ok(Outcome::Fetched {
            body,
            status: status.as_u16(),
            validators: new_validators,
            charset,
            moved_to,
            fresh_for,
        });
    }
}

async fn read_capped(mut resp: reqwest::Response, cap: u64) -> Result<Vec<u8>, PollError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(classify)? {
        if body.len() as u64 + chunk.len() as u64 > cap {
            return Err(PollError::new(
                "too_large",
                format!("body is over the {cap} byte cap (after decompression)"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn read_file(
    url: &Url,
    validators: &Validators,
    limits: &Limits,
) -> Result<Outcome, PollError> {
    let path = url
        .to_file_path()
        .map_err(|_| PollError::new("io", format!("bad file URL {url}")))?;
    let meta = tokio::fs::metadata(&path)
        .await
        .map_err(|e| PollError::new("io", format!("{}: {e}", path.display())))?;
    if meta.len() > limits.max_body_bytes {
        return Err(PollError::new(
            "too_large",
            format!(
                "{} is over the {} byte cap",
                path.display(),
                limits.max_body_bytes
            ),
        ));
    }
    let stamp = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| format!("{}.{:09}-{}", d.as_secs(), d.subsec_nanos(), meta.len()));
    if stamp.is_some() && validators.last_modified == stamp {
        return Ok(Outcome::NotModified { fresh_for: None });
    }
    let body = tokio::fs::read(&path)
        .await
        .map_err(|e| PollError::new("io", format!("{}: {e}", path.display())))?;
    Ok(Outcome::Fetched {
        body,
        status: 200,
        validators: Validators {
            etag: None,
            last_modified: stamp,
        },
        charset: None,
        moved_to: None,
        fresh_for: None,
    })
}

fn header_string(h: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `Retry-After` as seconds (delta-seconds or an HTTP date).
pub fn retry_after(h: &HeaderMap) -> Option<u64> {
    let v = h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(secs);
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    Some((when.timestamp() - chrono::Utc::now().timestamp()).max(0) as u64)
}

/// `Cache-Control: max-age` (or `Expires`) as seconds.
pub fn freshness(h: &HeaderMap) -> Option<u64> {
    if let Some(cc) = h
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
    {
        for part in cc.split(',') {
            if let Some(age) = part.trim().strip_prefix("max-age=") {
                if let Ok(secs) = age.trim().parse::<u64>() {
                    return Some(secs);
                }
            }
        }
    }
    let expires = h.get(reqwest::header::EXPIRES)?.to_str().ok()?;
    let when = chrono::DateTime::parse_from_rfc2822(expires).ok()?;
    Some((when.timestamp() - chrono::Utc::now().timestamp()).max(0) as u64)
}

fn classify(e: reqwest::Error) -> PollError {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_decode() || e.is_body() {
        "io"
    } else {
        "other"
    };
    // Show the cause chain: reqwest's top-level message alone is vague.
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    PollError::new(kind, msg)
}

/// Builds the shared HTTP client.
pub fn client(user_agent: &str, connect_timeout: Duration, timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(user_agent)
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .read_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .gzip(true)
        .brotli(true)
        .deflate(true)
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}
