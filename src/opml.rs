//! OPML feed lists: import (OPML → `[[feeds]]` TOML for the config) and export (the config's
//! feeds → OPML), for `wirewatch feeds import|export`.

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::config::FeedConfig;

/// One feed found in an OPML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpmlFeed {
    pub title: String,
    pub url: String,
    /// The title of the enclosing outline, if any (a folder or category).
    pub category: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid OPML: {0}")]
pub struct OpmlError(String);

/// Reads every `<outline xmlUrl=...>` of an OPML document, with its enclosing outline's title.
pub fn parse(text: &str) -> Result<Vec<OpmlFeed>, OpmlError> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Option<String>> = Vec::new();
    let mut out = Vec::new();
    let mut saw_opml = false;
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| OpmlError(format!("at byte {}: {e}", reader.buffer_position())))?;
        let (e, empty) = match &ev {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(e) => {
                if e.name().as_ref() == b"outline" {
                    stack.pop();
                }
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        match e.name().as_ref() {
            b"opml" => saw_opml = true,
            b"outline" => {
                let mut title = None;
                let mut url = None;
                for a in e.attributes().flatten() {
                    let v = a
                        .decoded_and_normalized_value(
                            quick_xml::XmlVersion::Implicit1_0,
                            reader.decoder(),
                        )
                        .map(|v| v.into_owned())
                        .unwrap_or_default();
                    match a.key.as_ref() {
                        b"title" => title = Some(v),
                        b"text" if title.is_none() => title = Some(v),
                        b"xmlUrl" | b"xmlurl" => url = Some(v),
                        _ => {}
                    }
                }
                if let Some(url) = url.filter(|u| !u.trim().is_empty()) {
                    out.push(OpmlFeed {
                        title: title.clone().unwrap_or_else(|| url.clone()),
                        url: url.trim().to_string(),
                        category: stack.iter().rev().flatten().next().cloned(),
                    });
                }
                if !empty {
                    stack.push(title);
                }
            }
            _ => {}
        }
    }
    if !saw_opml {
        return Err(OpmlError("no <opml> element".into()));
    }
    Ok(out)
}

/// A feed id from a title: lower-case letters and digits joined by '-'.
pub fn slug(title: &str) -> String {
    let mut s = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            s.push(c);
        } else if !s.ends_with('-') && !s.is_empty() {
            s.push('-');
        }
    }
    let s = s.trim_end_matches('-').to_string();
    if s.is_empty() {
        "feed".to_string()
    } else {
        s
    }
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// `[[feeds]]` TOML for the feeds of an OPML document; ids are unique and not in `taken`; the
/// outlet is the enclosing outline's title (the grouping `export` writes), else the feed's.
pub fn to_toml(feeds: &[OpmlFeed], taken: &[String]) -> String {
    let mut used: std::collections::HashSet<String> = taken.iter().cloned().collect();
    let mut out = String::new();
    for f in feeds {
        let base = slug(&f.title);
        let mut id = base.clone();
        let mut n = 2;
        while !used.insert(id.clone()) {
            id = format!("{base}-{n}");
            n += 1;
        }
        out.push_str(&format!(
            "[[feeds]]\nid = {}\nurl = {}\noutlet = {}\n\n",
            toml_str(&id),
            toml_str(&f.url),
            toml_str(f.category.as_deref().unwrap_or(&f.title))
        ));
    }
    out
}

fn xml_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The feeds of a config as an OPML 2.0 document, grouped by outlet.
pub fn export<'a>(feeds: impl Iterator<Item = &'a FeedConfig>) -> String {
    let mut by_outlet: std::collections::BTreeMap<String, Vec<&FeedConfig>> = Default::default();
    for f in feeds {
        by_outlet.entry(f.outlet().to_string()).or_default().push(f);
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n  <head><title>wirewatch feeds</title></head>\n  <body>\n");
    for (outlet, feeds) in by_outlet {
        out.push_str(&format!("    <outline text=\"{}\">\n", xml_attr(&outlet)));
        for f in feeds {
            out.push_str(&format!(
                "      <outline type=\"rss\" text=\"{}\" title=\"{}\" xmlUrl=\"{}\"/>\n",
                xml_attr(&f.id),
                xml_attr(&f.id),
                xml_attr(&f.url)
            ));
        }
        out.push_str("    </outline>\n");
    }
    out.push_str("  </body>\n</opml>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"<?xml version="1.0"?><opml version="2.0"><head><title>x</title></head><body>
        <outline text="Korea">
          <outline type="rss" text="Yonhap N. Korea" xmlUrl="https://en.yna.co.kr/RSS/nk.xml?a=1&amp;b=2"/>
          <outline type="rss" title="38 North" text="ignored" xmlUrl="https://www.38north.org/feed/"/>
        </outline>
        <outline type="rss" text="Yonhap N. Korea" xmlUrl="https://example.com/other.xml"/>
        <outline text="empty folder"></outline>
        </body></opml>"#;

    #[test]
    fn imports_nested_outlines_with_unique_ids() {
        let feeds = parse(DOC).unwrap();
        assert_eq!(feeds.len(), 3);
        assert_eq!(feeds[0].url, "https://en.yna.co.kr/RSS/nk.xml?a=1&b=2");
        assert_eq!(feeds[0].category.as_deref(), Some("Korea"));
        assert_eq!(feeds[1].title, "38 North");
        assert_eq!(feeds[2].category, None);
        let toml_text = to_toml(&feeds, &["38-north".to_string()]);
        #[derive(serde::Deserialize)]
        struct F {
            feeds: Vec<FeedConfig>,
        }
        let parsed: F = toml::from_str(&toml_text).unwrap();
        let ids: Vec<&str> = parsed.feeds.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["yonhap-n-korea", "38-north-2", "yonhap-n-korea-2"]);
    }

    #[test]
    fn export_round_trips() {
        let feeds = parse(DOC).unwrap();
        let toml_text = to_toml(&feeds, &[]);
        #[derive(serde::Deserialize)]
        struct F {
            feeds: Vec<FeedConfig>,
        }
        let parsed: F = toml::from_str(&toml_text).unwrap();
        let again = parse(&export(parsed.feeds.iter())).unwrap();
        let urls: Vec<&str> = again.iter().map(|f| f.url.as_str()).collect();
        assert!(urls.contains(&"https://en.yna.co.kr/RSS/nk.xml?a=1&b=2"));
        assert_eq!(again.len(), 3);
    }

    #[test]
    fn rejects_non_opml() {
        assert!(parse("<rss></rss>").is_err());
        assert!(parse("<opml><body><outline").is_err());
    }
}
