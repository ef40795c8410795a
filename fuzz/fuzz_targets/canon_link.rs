//! Link text → `wirewatch::core::canon::canonical_link`.
//!
//! Checked beyond "no panic": a canonical link is an absolute http(s) URL without a fragment,
//! without tracking parameters and with its parameters sorted, and canonicalising it again
//! gives it back unchanged (idempotence: the dedup index keys on it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use url::Url;
use wirewatch::core::canon::canonical_link;

fuzz_target!(|data: &[u8]| {
    let Ok(link) = std::str::from_utf8(data) else {
        return;
    };
    let Some(canon) = canonical_link(link) else {
        return;
    };
    let url = Url::parse(&canon).expect("a canonical link parses as a URL");
    assert!(matches!(url.scheme(), "http" | "https"), "{canon:?}");
    assert_eq!(url.fragment(), None, "{canon:?}");
    if url.query().is_some() {
        assert_ne!(url.query(), Some(""), "empty query kept in {canon:?}");
        let keys: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
        for k in &keys {
            let lower = k.to_ascii_lowercase();
            assert!(
                !lower.starts_with("utm_") && !lower.starts_with("at_") && lower != "fbclid",
                "tracking parameter {k:?} kept in {canon:?}"
            );
        }
        let pairs: Vec<_> = url.query_pairs().collect();
        assert!(pairs.windows(2).all(|w| w[0] <= w[1]), "unsorted {canon:?}");
    }
    let again = canonical_link(&canon);
    assert_eq!(
        again.as_deref(),
        Some(canon.as_str()),
        "not idempotent: {link:?} → {canon:?} → {again:?}"
    );
});
