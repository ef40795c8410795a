//! Every document of the shared real-world corpus (`../shared/corpus`, feeds from established
//! parsers' test suites: well-formed, ill-formed, badly encoded) goes through the replay reader
//! without a panic: items where the document has them, a clear error where it has none.

use std::path::{Path, PathBuf};

fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    p.is_dir().then_some(p)
}

fn documents(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            // Expected outputs of other parsers, not feeds.
            if p.file_name().is_some_and(|n| n == "output") {
                continue;
            }
            documents(&p, out);
            continue;
        }
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        let skip = name.starts_with("LICENSE")
            || name == "SOURCE"
            || name.ends_with(".tsv")
            || name.ends_with(".md")
            || name.ends_with(".serde.json");
        if !skip {
            out.push(p);
        }
    }
}

#[test]
fn every_corpus_document_reads_without_panic() {
    let Some(root) = corpus() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have ../shared/corpus beside the repository"
        );
        eprintln!("SKIPPED: ../shared/corpus is not beside the repository");
        return;
    };
    let mut files = Vec::new();
    documents(&root, &mut files);
    files.sort();
    assert!(
        files.len() > 2000,
        "the corpus has {} documents",
        files.len()
    );
    let (mut with_items, mut errors) = (0, 0);
    for f in &files {
        let result = std::panic::catch_unwind(|| wirewatch::replay::read_file(f));
        match result {
            Err(_) => panic!("{} made the reader panic", f.display()),
            Ok(Ok(stories)) => {
                with_items += 1;
                for s in &stories {
                    assert_eq!(s.id.len(), 16, "{}: stable 16-hex ids", f.display());
                }
            }
            Ok(Err(e)) => {
                errors += 1;
                let msg = e.to_string();
                assert!(
                    msg.starts_with(&f.display().to_string()),
                    "errors name the file: {msg}"
                );
                assert!(
                    msg.len() > f.display().to_string().len() + 5,
                    "errors say why: {msg}"
                );
            }
        }
    }
    eprintln!(
        "{} documents: {with_items} with items, {errors} clear errors",
        files.len()
    );
}

/// Documents that feed-rs's own test suite parses (its `*.serde.json` golden files) give
/// exactly as many stories as the golden file has entries.
#[test]
fn feed_rs_golden_files_give_their_item_counts() {
    let Some(root) = corpus() else {
        eprintln!("SKIPPED: ../shared/corpus is not beside the repository");
        return;
    };
    let mut files = Vec::new();
    documents(&root.join("feeds-real/feed-rs"), &mut files);
    let mut checked = 0;
    for f in files {
        let golden = f.with_extension("serde.json");
        let Ok(text) = std::fs::read_to_string(&golden) else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let want = v["entries"].as_array().map_or(0, Vec::len);
        let got = wirewatch::replay::read_file(&f)
            .map(|s| s.len())
            .unwrap_or(0);
        assert_eq!(got, want, "{}: items", f.display());
        checked += 1;
    }
    assert!(checked >= 50, "checked {checked} golden files");
}

/// Every document the manifest lists as strictly well-formed with items gives items.
#[test]
fn well_formed_manifest_documents_give_items() {
    let Some(root) = corpus() else {
        eprintln!("SKIPPED: ../shared/corpus is not beside the repository");
        return;
    };
    let manifest = std::fs::read_to_string(root.join("feeds-real/MANIFEST.tsv")).unwrap();
    let mut checked = 0;
    for line in manifest.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (path, format, items, strict) = (cols[0], cols[2], cols[3], cols[4]);
        let Ok(n) = items.parse::<usize>() else {
            continue;
        };
        // `rdf` is a bare <rdf> test document of feed-rs's XML layer, not a feed format.
        if n == 0 || strict != "yes" || format == "rdf" {
            continue;
        }
        let got = wirewatch::replay::read_file(&root.join("feeds-real").join(path))
            .unwrap_or_else(|e| panic!("{e}"))
            .len();
        assert_eq!(got, n, "{path}: items");
        checked += 1;
    }
    assert!(checked >= 80, "checked {checked}");
}
