//! Quality floors on the labelled sets (`tests/data/`): the figures `wirewatch eval` prints may
//! only go up. See docs/DEDUP.md and docs/TAGGING.md for what they mean and how they were
//! reached.
use std::path::Path;

use wirewatch::config::Config;
use wirewatch::core::taxonomy::Taxonomy;
use wirewatch::eval::{eval_dedup, eval_tagging, parse_jsonl, DedupItem, TagItem};

fn repo(p: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

#[test]
fn dedup_never_merges_different_stories_and_finds_copies() {
    let items: Vec<DedupItem> =
        parse_jsonl(&std::fs::read_to_string(repo("tests/data/dedup/labelled.jsonl")).unwrap())
            .unwrap();
    let cfg = Config::load(&repo("config/wirewatch.toml")).unwrap();
    let ev = eval_dedup(&items, cfg.processor.dedup.clone());
    assert!(items.len() >= 250);
    assert_eq!(
        ev.pairs.fp, 0,
        "no two different stories merged: {:#?}",
        ev.errors
    );
    assert_eq!(ev.hard_negative_pairs.precision(), 1.0);
    assert!(
        ev.pairs.recall() >= 0.99,
        "pairwise recall {:.4}: {:#?}",
        ev.pairs.recall(),
        ev.errors
    );
    let (ok, all) = ev
        .by_variation
        .iter()
        .filter(|(v, _)| v.starts_with("copy_"))
        .fold((0, 0), |(a, b), (_, (ok, all))| (a + ok, b + all));
    let copy_recall = ok as f64 / all as f64;
    assert!(copy_recall >= 0.99, "copies found: {ok}/{all}");
    for v in [
        "exact_redelivery",
        "same_link_other_feed",
        "update",
        "original",
    ] {
        let (ok, all) = ev.by_variation[v];
        assert_eq!(ok, all, "{v}: every item in its story's cluster");
    }
}

#[test]
fn tagging_precision_and_recall_hold() {
    let items: Vec<TagItem> =
        parse_jsonl(&std::fs::read_to_string(repo("tests/data/tagging/labelled.jsonl")).unwrap())
            .unwrap();
    let src = std::fs::read_to_string(repo("config/taxonomy.toml")).unwrap();
    let tax = Taxonomy::from_toml("config/taxonomy.toml", &src).unwrap();
    let ev = eval_tagging(&items, &tax);
    assert!(items.len() >= 400);
    // Floors per topic: (precision, recall), the levels reached (docs/TAGGING.md).
    let floors: &[(&str, f64, f64)] = &[
        ("north-korea", 0.97, 0.988),
        ("trilateral-diplomacy", 0.96, 1.0),
        ("missile-test", 0.946, 0.981),
        ("nuclear-test", 1.0, 0.954),
        ("denuclearization", 1.0, 0.965),
        ("sanctions", 1.0, 1.0),
        ("inter-korean", 0.88, 0.88),
        ("japan-korea-relations", 1.0, 0.93),
        ("us-korea-alliance", 0.956, 0.956),
    ];
    let mut report = String::new();
    for (topic, p, r) in floors {
        let pr = ev.topics[*topic];
        report.push_str(&format!(
            "{topic}: {:.3}/{:.3} (floor {p}/{r})\n",
            pr.precision(),
            pr.recall()
        ));
        assert!(pr.precision() >= *p && pr.recall() >= *r, "{report}");
    }
    assert!(
        ev.actors.precision() >= 0.997 && ev.actors.recall() >= 0.993,
        "actors {:.3}/{:.3}",
        ev.actors.precision(),
        ev.actors.recall()
    );
}
