//! Text → `wirewatch::core::text::{normalize, normalize_text, html_to_text}`.
//!
//! Checked beyond "no panic": every byte of the normalised text (and the empty range at each
//! end) maps back to a range of the original that is in bounds, on UTF-8 character boundaries
//! and in the same order as the normalised bytes; the normalised text has no leading, trailing
//! or doubled separator; `normalize_text` (no offset maps) gives the same text as `normalize`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wirewatch::core::text::{html_to_text, normalize, normalize_text};

fn check_range(original: &str, what: &str, (s, e): (usize, usize)) {
    assert!(
        s <= e && e <= original.len(),
        "{what}: {s}..{e} out of bounds (len {})",
        original.len()
    );
    assert!(
        original.is_char_boundary(s) && original.is_char_boundary(e),
        "{what}: {s}..{e} not on char boundaries of {original:?}"
    );
}

fn check(original: &str) {
    let n = normalize(original);
    let t = n.text.as_str();
    assert!(!t.starts_with(' ') && !t.ends_with(' '), "untrimmed {t:?}");
    assert!(!t.contains("  "), "doubled separator in {t:?}");
    assert_eq!(normalize_text(original), t);

    check_range(original, "empty at 0", n.original_range(original, 0, 0));
    check_range(
        original,
        "empty at end",
        n.original_range(original, t.len(), t.len()),
    );
    check_range(original, "whole", n.original_range(original, 0, t.len()));
    let mut prev = (0, 0);
    for i in 0..t.len() {
        let r = n.original_range(original, i, i + 1);
        check_range(original, &format!("byte {i}"), r);
        assert!(r.0 >= prev.0, "byte {i}: maps to {r:?}, before {prev:?}");
        prev = r;
    }
    // Every word, as the tagger's evidence would take it.
    let mut at = 0;
    for w in t.split(' ') {
        let r = n.original_range(original, at, at + w.len());
        check_range(original, &format!("word {w:?}"), r);
        assert!(
            r.0 < r.1 || w.is_empty(),
            "word {w:?} maps to nothing: {r:?}"
        );
        at += w.len() + 1;
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    check(input);
    // What the pipeline tags is markup-free text: normalise that too.
    let plain = html_to_text(input);
    if plain != input {
        check(&plain);
    }
});
