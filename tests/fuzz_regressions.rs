//! Inputs the fuzz targets of `fuzz/` found crashing, one named test each (docs/FUZZING.md,
//! "When a target crashes"). Each input is the minimised artifact, inline; larger ones live in
//! `tests/data/fuzz/<target>-<what>.bin`.

use chrono::DateTime;
use wirewatch::core::tagger::{tag, Doc, Tags};
use wirewatch::core::taxonomy::Taxonomy;
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

/// tag: a compatibility character that decomposes into several kana ("㌀", one character,
/// is "アパート") before a mention. The normaliser counted it as no word at all while word
/// positions read from the normalised text counted four kana, so the tagger's positions taken
/// from the matcher's word index disagreed with the text's (a failed debug assertion; in a
/// release build, `near` distances off by the difference).
#[test]
fn tag_compatibility_character_that_decomposes_into_kana() {
    let taxonomy = Taxonomy::from_toml(
        "config/taxonomy.toml",
        include_str!("../config/taxonomy.toml"),
    )
    .unwrap();
    let headline = |title: &str| {
        tag(
            &taxonomy,
            &Doc {
                title,
                summary: "",
                content: "",
            },
        )
    };
    let scores = |tags: &Tags| {
        tags.topics
            .iter()
            .map(|t| (t.id.to_string(), t.score))
            .collect::<Vec<_>>()
    };
    // The minimised artifact.
    headline("\u{3300} Pyongyang");
    // Tagged as the kana it stands for, the evidence still in the original text.
    let text = "Pyongyang fires a ballistic missile into the East Sea";
    let squared = headline(&format!("\u{3300} {text}"));
    let written = headline(&format!("\u{30a2}\u{30d1}\u{30fc}\u{30c8} {text}"));
    assert!(!squared.topics.is_empty());
    assert_eq!(scores(&squared), scores(&written));
    let evidence = &squared.actors[0].evidence[0];
    assert_eq!(
        (evidence.start, evidence.text.as_str()),
        ("\u{3300} ".len(), "Pyongyang")
    );
}
