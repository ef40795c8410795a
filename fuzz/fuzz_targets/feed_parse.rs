//! Feed document bytes → raw stories (`wirewatch::feed::parse_document`).
//!
//! The whole input is the document, so feed files work as seeds unchanged. Its last byte also
//! picks the HTTP charset and the base URL handed alongside it (mutating or appending one byte
//! changes them), so charset overrides and relative-link resolution are fuzzed too.
//!
//! Checked beyond "no panic, no hang": every story id is 16 hex digits, no document gives more
//! than `MAX_ITEMS` stories, and a canonical link is a fixed point of `canonical_link`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wirewatch::core::canon::canonical_link;
use wirewatch::feed::{parse_document, Source, MAX_ITEMS};

/// Charsets as a server may send them in `Content-Type`: real labels, aliases, the
/// `replacement` encoding, UTF-16 (which contradicts any ASCII document) and junk.
const CHARSETS: [Option<&str>; 16] = [
    None,
    Some("utf-8"),
    Some("UTF-8"),
    Some("iso-8859-1"),
    Some("windows-1251"),
    Some("koi8-r"),
    Some("euc-kr"),
    Some("shift_jis"),
    Some("gb18030"),
    Some("big5"),
    Some("utf-16le"),
    Some("utf-16"),
    Some("replacement"),
    Some("x-user-defined"),
    Some(""),
    Some("\"utf-8\"; q=\u{e9}"),
];

const URLS: [Option<&str>; 4] = [
    Some("https://example.com/news/feed.xml"),
    None,
    Some("not a url"),
    Some("http://[::1]:8080/a/../b/?q=1#frag"),
];

fuzz_target!(|data: &[u8]| {
    let sel = data.last().copied().unwrap_or(0) as usize;
    let src = Source {
        feed: "fuzz",
        outlet: "Fuzz",
        url: URLS[(sel >> 4) % URLS.len()],
        charset: CHARSETS[sel % CHARSETS.len()],
        fetched_at: chrono::DateTime::UNIX_EPOCH,
    };
    let Ok(stories) = parse_document(data, &src) else {
        return;
    };
    assert!(stories.len() <= MAX_ITEMS);
    for s in &stories {
        assert_eq!(s.id.len(), 16, "story id {:?}", s.id);
        assert!(
            s.id.bytes().all(|b| b.is_ascii_hexdigit()),
            "story id {:?}",
            s.id
        );
        assert_eq!(s.feed, "fuzz");
        if let Some(c) = &s.canonical_link {
            assert_eq!(
                canonical_link(c).as_deref(),
                Some(c.as_str()),
                "canonical link of {:?} is not canonical",
                s.link
            );
        }
    }
});
