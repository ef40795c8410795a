//! Canonical links: the same article reached through different URLs (tracking parameters,
//! fragments, host case, default ports, parameter order) gets one canonical form.

use url::Url;

/// Query parameters that only track the reader and never select content.
const TRACKING_PARAMS: &[&str] = &[
    "fbclid",
    "gclid",
    "dclid",
    "msclkid",
    "yclid",
    "igshid",
    "mc_cid",
    "mc_eid",
    "xtor",
    "cmpid",
    "cmp",
    "ncid",
    "ocid",
    "_ga",
    "ref_src",
    "ref",
    "src",
    "rss",
    "feed",
    "at_medium",
    "at_campaign",
    "sr_share",
    "smid",
    "spm",
    "share",
    "mbid",
    "__twitter_impression",
];

fn is_tracking(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("utm_")
        || lower.starts_with("at_")
        || TRACKING_PARAMS.contains(&lower.as_str())
}

/// Canonicalises a link: lower-case scheme and host (the `url` crate does both), default port
/// dropped, fragment dropped, tracking parameters removed, remaining parameters sorted, an
/// empty query removed. Returns `None` for text that is not an absolute http(s) URL.
///
/// ```
/// use wirewatch::core::canon::canonical_link;
/// assert_eq!(
///     canonical_link("HTTPS://Example.com:443/news/1?utm_source=rss&b=2&a=1#top").as_deref(),
///     Some("https://example.com/news/1?a=1&b=2")
/// );
/// ```
pub fn canonical_link(link: &str) -> Option<String> {
    let mut url = Url::parse(link.trim()).ok()?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return None;
    }
    url.set_fragment(None);
    // `url` already drops the scheme's default port when parsing.
    if url.query().is_some() {
        let mut pairs: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| !is_tracking(k))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        pairs.sort();
        if pairs.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(pairs);
        }
    }
    // "www." and a trailing slash are kept: they can name different documents on some sites,
    // and the same site always publishes the same form in its own feeds.
    Some(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_tracking_fragment_and_default_port() {
        assert_eq!(
            canonical_link("HTTPS://WWW.Example.COM:443/a/B?utm_source=rss&id=3&fbclid=x#top")
                .as_deref(),
            Some("https://www.example.com/a/B?id=3")
        );
    }

    #[test]
    fn sorts_query_and_drops_empty_query() {
        assert_eq!(
            canonical_link("http://example.com:80/x?b=2&a=1").as_deref(),
            Some("http://example.com/x?a=1&b=2")
        );
        assert_eq!(
            canonical_link("http://example.com/x?utm_medium=feed&xtor=RSS-1").as_deref(),
            Some("http://example.com/x")
        );
    }

    #[test]
    fn keeps_non_default_port_and_path_case() {
        assert_eq!(
            canonical_link("http://example.com:8080/Path").as_deref(),
            Some("http://example.com:8080/Path")
        );
    }

    #[test]
    fn rejects_non_http_and_garbage() {
        assert_eq!(canonical_link("mailto:a@b.c"), None);
        assert_eq!(canonical_link("not a url"), None);
        assert_eq!(canonical_link("/relative/path"), None);
    }
}
