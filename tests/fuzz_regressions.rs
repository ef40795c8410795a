//! Inputs the fuzz targets of `fuzz/` found crashing, one named test each (docs/FUZZING.md,
//! "When a target crashes"). Each input is the minimised artifact, inline; larger ones live in
//! `tests/data/fuzz/<target>-<what>.bin`.

use chrono::DateTime;
use wirewatch::feed::{parse_document, FeedError, Source};

fn source(charset: Option<&'static str>) -> Source<'static> {
    Source {
        feed: "fuzz",
        outlet: "Fuzz",
        url: Some("https://example.com/news/feed.xml"),
        charset,
        fetched_at: DateTime::UNIX_EPOCH,
    }
}

/// feed_parse: a non-ASCII byte where the XML declaration's `encoding=` expects its opening
/// quote. The declaration reader took the first character as the quote and sliced one byte
/// past it, inside the three bytes of U+FFFD that the invalid byte had become: a panic in
/// `feed::declared_encoding` for any fetched document starting `<?xml encoding=\xff`.
#[test]
fn feed_parse_unquoted_non_ascii_encoding_value() {
    for charset in [None, Some("euc-kr")] {
        // The minimised artifact.
        let r = parse_document(b"<?xml encoding=\xff>", &source(charset));
        assert!(matches!(r, Err(FeedError::NotAFeed(_))), "{r:?}");
        // The same declaration in front of a feed: no declared encoding, the feed is read.
        let doc = "<?xml version=\"1.0\" encoding=\u{e9}?>\n<rss version=\"2.0\"><channel>\
                   <item><title>T</title><guid>g</guid></item></channel></rss>";
        let stories = parse_document(doc.as_bytes(), &source(charset)).unwrap();
        assert_eq!(stories.len(), 1);
        assert_eq!(stories[0].title, "T");
    }
}
