//! Feed documents → raw stories: feed-rs parsing from the raw bytes with the feed URL as
//! base, our own stable story ids, and charset handling for documents that do not declare
//! what they are written in.

use chrono::{DateTime, Utc};
use feed_rs::model::Entry;
use xxhash_rust::xxh3::xxh3_64;

use crate::core::canon::canonical_link;
use crate::core::text::html_to_text;
use crate::story::{RawStory, SCHEMA_VERSION};

/// Why a document gave no stories.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("empty document")]
    Empty,
    #[error("not a feed (RSS, Atom or JSON Feed): {0}")]
    NotAFeed(String),
    #[error("invalid feed: {0}")]
    Invalid(String),
}

/// Where a document came from.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub feed: &'a str,
    pub outlet: &'a str,
    /// URL of the document: base for relative links.
    pub url: Option<&'a str>,
    /// Charset from the HTTP `Content-Type`, if any.
    pub charset: Option<&'a str>,
    pub fetched_at: DateTime<Utc>,
}

/// Most items taken from one document (a feed with more is cut, newest kept first as the
/// document orders them).
pub const MAX_ITEMS: usize = 10_000;

/// The stable id of a story: hash of the feed id and the guid, else the canonical link, else
/// the title and text. 16 hex digits. Never feed-rs's generated id (random without a link).
pub fn story_id(feed: &str, guid: Option<&str>, canonical: Option<&str>, text: &str) -> String {
    let (kind, value) = match (guid, canonical) {
        (Some(g), _) => ("guid", g),
        (None, Some(l)) => ("link", l),
        (None, None) => ("text", text),
    };
    let mut buf = String::with_capacity(feed.len() + kind.len() + value.len() + 2);
    buf.push_str(feed);
    buf.push('\u{1f}');
    buf.push_str(kind);
    buf.push('\u{1f}');
    buf.push_str(value);
    format!("{:016x}", xxh3_64(buf.as_bytes()))
}

/// Parses one feed document into raw stories, in document order.
pub fn parse_document(bytes: &[u8], src: &Source<'_>) -> Result<Vec<RawStory>, FeedError> {
    let trimmed = trim_leading(bytes);
    if trimmed.is_empty() {
        return Err(FeedError::Empty);
    }
    if !matches!(trimmed[0], b'<' | b'{') && bom_encoding(trimmed).is_none() {
        let head: String = String::from_utf8_lossy(&trimmed[..trimmed.len().min(40)])
            .chars()
            .take(30)
            .collect();
        return Err(FeedError::NotAFeed(format!(
            "neither XML nor JSON (starts with {head:?})"
        )));
    }
    let transcoded = transcode_if_needed(trimmed, src.charset);
    let input: &[u8] = transcoded.as_deref().unwrap_or(trimmed);
    let parser = feed_rs::parser::Builder::new()
        .base_uri(src.url)
        // Empty: we know the item had no id of its own and derive ours.
        .id_generator(|_, _, _| String::new())
        .build();
    let parsed = parser.parse(input);
    // Recoveries for documents seen in the wild: `<rss>` without a version is read as RSS 2.0;
    // a feed wrapped in another document (an XHTML page around an Atom feed) is read alone.
    let parsed = match parsed {
        Err(feed_rs::parser::ParseFeedError::ParseError(_)) if rss_without_version(input) => {
            parser.parse(add_rss_version(input).as_slice())
        }
        Err(feed_rs::parser::ParseFeedError::ParseError(kind)) => match embedded_feed(input) {
            Some(inner) => parser.parse(inner),
            None => Err(feed_rs::parser::ParseFeedError::ParseError(kind)),
        },
        other => other,
    };
    let feed = parsed.map_err(|e| match e {
        feed_rs::parser::ParseFeedError::ParseError(kind) => {
            let k = format!("{kind:?}");
            if k.contains("NoFeedRoot") {
                FeedError::NotAFeed(describe_non_feed(input))
            } else {
                FeedError::Invalid(k)
            }
        }
        other => FeedError::Invalid(other.to_string()),
    })?;
    // RSS 0.90 (Netscape's RDF namespace) has the shape of RSS 1.0 but another namespace,
    // which feed-rs does not read items from: read it as RSS 1.0.
    const RSS090: &[u8] = b"http://my.netscape.com/rdf/simple/0.9/";
    let feed = if feed.entries.is_empty() && input.windows(RSS090.len()).any(|w| w == RSS090) {
        let text = String::from_utf8_lossy(input).replace(
            "http://my.netscape.com/rdf/simple/0.9/",
            "http://purl.org/rss/1.0/",
        );
        parser.parse(text.as_bytes()).unwrap_or(feed)
    } else {
        feed
    };
    let language = feed.language.clone();
    Ok(feed
        .entries
        .into_iter()
        .take(MAX_ITEMS)
        .map(|e| entry_to_story(e, src, language.as_deref()))
        .collect())
}

fn entry_to_story(e: Entry, src: &Source<'_>, language: Option<&str>) -> RawStory {
    let guid = (!e.id.trim().is_empty()).then(|| e.id.trim().to_string());
    let link = e
        .links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .or_else(|| e.links.first())
        .map(|l| l.href.trim().to_string())
        .filter(|l| !l.is_empty());
    let canonical = link.as_deref().and_then(canonical_link);
    let title = e.title.map(|t| t.content).unwrap_or_default();
    let summary = e.summary.map(|t| t.content).unwrap_or_default();
    let content = e.content.and_then(|c| c.body).unwrap_or_default();
    let id = {
        let text = if guid.is_none() && canonical.is_none() {
            format!(
                "{}\n{}\n{}",
                html_to_text(&title),
                html_to_text(&summary),
                html_to_text(&content)
            )
        } else {
            String::new()
        };
        story_id(src.feed, guid.as_deref(), canonical.as_deref(), &text)
    };
    RawStory {
        schema_version: SCHEMA_VERSION,
        id,
        feed: src.feed.to_string(),
        outlet: src.outlet.to_string(),
        guid,
        link,
        canonical_link: canonical,
        title: title.trim().to_string(),
        summary: summary.trim().to_string(),
        content: content.trim().to_string(),
        published_at: e.published.or(e.updated),
        fetched_at: src.fetched_at,
        language: e.language.or_else(|| language.map(str::to_string)),
    }
}

/// A feed element nested inside another document: from its opening tag to its last closing
/// tag. Only when the document's root is not itself a feed.
fn embedded_feed(bytes: &[u8]) -> Option<&[u8]> {
    fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len()).position(|w| w == needle)
    }
    fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len()).rposition(|w| w == needle)
    }
    for (open, close) in [
        (&b"<feed"[..], &b"</feed>"[..]),
        (b"<rss", b"</rss>"),
        (b"<rdf:RDF", b"</rdf:RDF>"),
    ] {
        let Some(start) = find(bytes, open) else {
            continue;
        };
        if start == 0 {
            continue;
        }
        if !bytes
            .get(start + open.len())
            .is_some_and(|b| *b == b'>' || b.is_ascii_whitespace())
        {
            continue;
        }
        let end = rfind(bytes, close)? + close.len();
        if end > start {
            return Some(&bytes[start..end]);
        }
    }
    None
}

/// Whether the root element is `<rss>` with no `version` attribute.
fn rss_without_version(bytes: &[u8]) -> bool {
    rss_open_tag(bytes).is_some_and(|(_, tag)| !tag.windows(7).any(|w| w == b"version"))
}

/// The position and bytes of the opening `<rss ...>` tag, if the document has one early on.
fn rss_open_tag(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let head = &bytes[..bytes.len().min(4096)];
    let at = head.windows(4).position(|w| w == b"<rss")?;
    let next = *head.get(at + 4)?;
    if !(next == b'>' || next.is_ascii_whitespace()) {
        return None;
    }
    let end = head[at..].iter().position(|&b| b == b'>')?;
    Some((at, &head[at..at + end]))
}

fn add_rss_version(bytes: &[u8]) -> Vec<u8> {
    let Some((at, _)) = rss_open_tag(bytes) else {
        return bytes.to_vec();
    };
    let mut out = Vec::with_capacity(bytes.len() + 16);
    out.extend_from_slice(&bytes[..at + 4]);
    out.extend_from_slice(b" version=\"2.0\"");
    out.extend_from_slice(&bytes[at + 4..]);
    out
}

fn bom_encoding(bytes: &[u8]) -> Option<(&'static encoding_rs::Encoding, usize)> {
    encoding_rs::Encoding::for_bom(bytes)
}

fn trim_leading(bytes: &[u8]) -> &[u8] {
    let mut b = bytes;
    // UTF-8 BOM and leading whitespace before the prolog break strict XML parsers.
    if b.starts_with(&[0xEF, 0xBB, 0xBF]) {
        b = &b[3..];
    }
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    &b[start..]
}

/// Re-encodes documents to UTF-8 when the XML itself cannot tell its charset: UTF-16/32
/// (BOM), or no `encoding` in the prolog while HTTP says a non-UTF-8 charset, or bytes that
/// are not UTF-8 and no declaration at all (sniffed: EUC-KR, Shift_JIS, GB18030, Big5,
/// windows-1252 tried in that order). Returns `None` when the bytes can go to the parser as
/// they are.
fn transcode_if_needed(bytes: &[u8], http_charset: Option<&str>) -> Option<Vec<u8>> {
    use encoding_rs::Encoding;
    if let Some((enc, bom_len)) = Encoding::for_bom(bytes) {
        if enc != encoding_rs::UTF_8 {
            let (text, _, _) = enc.decode(&bytes[bom_len..]);
            return Some(strip_declared_encoding(&text).into_bytes());
        }
    }
    let declared = declared_encoding(bytes);
    if declared.is_some() {
        // quick-xml decodes by the declaration; trust it unless HTTP overrides it.
        if let Some(cs) = http_charset.and_then(|c| Encoding::for_label(c.as_bytes())) {
            let decl = declared.and_then(|d| Encoding::for_label(d.as_bytes()));
            if Some(cs) != decl && cs != encoding_rs::UTF_8 {
                let (text, _, _) = cs.decode(bytes);
                return Some(strip_declared_encoding(&text).into_bytes());
            }
        }
        return None;
    }
    if std::str::from_utf8(bytes).is_ok() {
        return None;
    }
    if let Some(cs) = http_charset.and_then(|c| Encoding::for_label(c.as_bytes())) {
        let (text, _, _) = cs.decode(bytes);
        return Some(text.into_owned().into_bytes());
    }
    for enc in [
        encoding_rs::EUC_KR,
        encoding_rs::SHIFT_JIS,
        encoding_rs::GB18030,
        encoding_rs::BIG5,
    ] {
        let (text, _, had_errors) = enc.decode(bytes);
        if !had_errors {
            return Some(text.into_owned().into_bytes());
        }
    }
    let (text, _, _) = encoding_rs::WINDOWS_1252.decode(bytes);
    Some(text.into_owned().into_bytes())
}

/// The `encoding` of the XML declaration, if there is one.
fn declared_encoding(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(200)];
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = head.iter().position(|&b| b == b'>')?;
    let decl = String::from_utf8_lossy(&head[..end]);
    let at = decl.find("encoding")?;
    let rest = decl[at + 8..].trim_start().strip_prefix('=')?.trim_start();
    // Only a quoted value is a declaration (and the quote is one byte to slice past).
    let quote = rest.chars().next().filter(|q| matches!(q, '"' | '\''))?;
    let rest = &rest[1..];
    let close = rest.find(quote)?;
    Some(rest[..close].to_string())
}

/// Removes the `encoding` pseudo-attribute of the XML declaration of already-decoded text.
fn strip_declared_encoding(text: &str) -> String {
    if let Some(end) = text.starts_with("<?xml").then(|| text.find("?>")).flatten() {
        let decl = &text[..end];
        if let Some(at) = decl.find("encoding") {
            let rest = &decl[at..];
            let mut quotes = 0;
            let mut stop = rest.len();
            for (i, c) in rest.char_indices() {
                if c == '"' || c == '\'' {
                    quotes += 1;
                    if quotes == 2 {
                        stop = i + 1;
                        break;
                    }
                }
            }
            return format!("{}{}{}", &decl[..at], &rest[stop..], &text[end..]);
        }
    }
    text.to_string()
}

fn describe_non_feed(bytes: &[u8]) -> String {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_ascii_lowercase();
    if head.contains("<html") || head.contains("<!doctype html") {
        "an HTML page, not a feed".to_string()
    } else {
        "no <rss>, <feed>, <rdf:RDF> root or JSON Feed object".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src() -> Source<'static> {
        Source {
            feed: "test",
            outlet: "Test",
            url: Some("https://example.com/feed.xml"),
            charset: None,
            fetched_at: DateTime::parse_from_rfc3339("2021-05-06T00:00:00Z")
                .unwrap()
                .to_utc(),
        }
    }

    #[test]
    fn ids_are_stable_and_not_random() {
        let doc = br#"<rss version="2.0"><channel><title>t</title>
            <item><title>No guid, no link</title><description>Body text</description></item>
            <item><title>Link only</title><link>https://example.com/a?utm_source=x</link></item>
            <item><guid>g-1</guid><title>Guid</title></item></channel></rss>"#;
        let a = parse_document(doc, &src()).unwrap();
        let b = parse_document(doc, &src()).unwrap();
        assert_eq!(a.len(), 3);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.id, y.id);
            assert_eq!(x.id.len(), 16);
        }
        assert_eq!(a[0].guid, None);
        assert_eq!(
            a[1].canonical_link.as_deref(),
            Some("https://example.com/a")
        );
        assert_eq!(a[2].guid.as_deref(), Some("g-1"));
        assert_eq!(
            a[1].id,
            story_id("test", None, Some("https://example.com/a"), "")
        );
    }

    #[test]
    fn relative_links_resolve_against_the_feed_url() {
        let doc = br#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>x</id><updated>2021-01-01T00:00:00Z</updated>
            <entry><id>e1</id><title>T</title><updated>2021-01-01T00:00:00Z</updated><link href="/news/1"/></entry></feed>"#;
        let s = parse_document(doc, &src()).unwrap();
        assert_eq!(s[0].link.as_deref(), Some("https://example.com/news/1"));
    }

    #[test]
    fn html_and_empty_documents_are_clear_errors() {
        let e = parse_document(b"<!DOCTYPE html><html><body>hi</body></html>", &src()).unwrap_err();
        assert!(e.to_string().contains("HTML page"), "{e}");
        assert!(matches!(
            parse_document(b"  \n", &src()),
            Err(FeedError::Empty)
        ));
    }

    #[test]
    fn rss_without_version_is_read_as_rss2() {
        let doc = b"<rss>\n<channel><title>t</title><item><title>A</title><guid>1</guid></item></channel></rss>";
        let s = parse_document(doc, &src()).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].title, "A");
    }

    #[test]
    fn undeclared_euc_kr_is_decoded() {
        let (bytes, _, _) = encoding_rs::EUC_KR.encode(
            "<rss version=\"2.0\"><channel><title>t</title><item><title>북한 미사일 발사</title></item></channel></rss>",
        );
        let s = parse_document(&bytes, &src()).unwrap();
        assert_eq!(s[0].title, "북한 미사일 발사");
        let s = parse_document(
            &bytes,
            &Source {
                charset: Some("euc-kr"),
                ..src()
            },
        )
        .unwrap();
        assert_eq!(s[0].title, "북한 미사일 발사");
    }
}
