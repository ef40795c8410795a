//! Text → the tagger (`wirewatch::core::tagger::tag`) with the shipped taxonomy
//! (`config/taxonomy.toml`, compiled once).
//!
//! The input is split on its first two newlines into title, summary and content, so a plain
//! headline is a seed as it is and the fuzzer reaches the summary/content rules by adding a
//! newline. Checked beyond "no panic": every evidence of every actor, topic and alert is a
//! non-empty byte range of its field that slices it to exactly the evidence text.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use wirewatch::core::tagger::{tag, Doc};
use wirewatch::core::taxonomy::Taxonomy;
use wirewatch::story::{Evidence, Field};

static TAXONOMY: LazyLock<Taxonomy> = LazyLock::new(|| {
    Taxonomy::from_toml(
        "config/taxonomy.toml",
        include_str!("../../config/taxonomy.toml"),
    )
    .unwrap_or_else(|e| panic!("the shipped taxonomy does not compile: {e}"))
});

fn check(doc: &Doc<'_>, what: &str, ev: &Evidence) {
    let field = match ev.field {
        Field::Title => doc.title,
        Field::Summary => doc.summary,
        Field::Content => doc.content,
    };
    assert!(ev.start < ev.end, "{what}: empty evidence {ev:?}");
    assert_eq!(
        field.get(ev.start..ev.end),
        Some(ev.text.as_str()),
        "{what}: evidence {ev:?} does not slice {field:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = input.splitn(3, '\n');
    let doc = Doc {
        title: parts.next().unwrap_or_default(),
        summary: parts.next().unwrap_or_default(),
        content: parts.next().unwrap_or_default(),
    };
    let tags = tag(&TAXONOMY, &doc);
    assert_eq!(tags.scores.len(), TAXONOMY.topics.len());
    for a in &tags.actors {
        assert!(a.mentions >= a.evidence.len());
        for ev in &a.evidence {
            check(&doc, &format!("actor {}", a.id), ev);
        }
    }
    for t in &tags.topics {
        assert!(
            t.score > 0.0 && t.score <= 1.0,
            "topic {} score {}",
            t.id,
            t.score
        );
        for ev in &t.evidence {
            check(&doc, &format!("topic {}", t.id), ev);
        }
    }
    for (rule, evs) in &tags.alerts {
        for ev in evs {
            check(&doc, &format!("alert {}", TAXONOMY.alerts[*rule].id), ev);
        }
    }
});
