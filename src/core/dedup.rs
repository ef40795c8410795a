//! The dedup index: decides whether a story is `new`, an `update` of one already seen, a
//! `duplicate` or a `near_duplicate` (a syndicated copy), and keeps clusters of copies.
//!
//! How it decides, in order (see `docs/DEDUP.md` for the reasoning and measured quality):
//! 1. same story id (feed + guid): same text → duplicate, changed text → update;
//! 2. same canonical link (any feed): same or contained text → duplicate, else → update;
//! 3. a headline with a wire update marker ("(LEAD)", "(2nd LD)", "UPDATE 2-", "[속보]",
//!    [`UPDATE_MARKERS`]) and, in the same feed, a story first seen within
//!    [`MARKER_UPDATE_WITHIN_SECS`] with the same headline once markers are stripped, or
//!    whose fingerprints this body contains → update of that story (duplicate when the
//!    headline and body are the same);
//! 4. same headline and body (any feed) → duplicate;
//! 5. same body, or most of this story's body fingerprints found in one earlier story
//!    (containment, so a copy cut to its first paragraphs still matches) → near-duplicate.
//!
//! Text matches (4, 5) need a body of at least `min_words` words after boilerplate removal,
//! and never join two items of the same feed that differ in both guid and link: a feed does
//! not republish its own story under a new guid and a new link, but it does publish template
//! items ("Photos of the day") whose short texts look alike. The one exception is 3: a wire
//! agency's update of its own story comes under a new guid and link, and says so in the
//! headline.
//!
//! Memory: per remembered story one slab record, three entries in the key table (id, link,
//! headline) and `anchors` entries in the fingerprint map; `bytes_per_story` reports the
//! measured figure.
//! Old stories leave the window in a sweep that runs every `window / 16`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use super::text::normalize_text;
use crate::story::DedupStatus;

/// A hasher for keys that are already uniformly distributed hashes.
#[derive(Default, Clone, Copy)]
pub struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u32(&mut self, n: u32) {
        // Spread 32-bit keys over the 64-bit space hashbrown reads its control bits from.
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<IdentityHasher>>;

/// Tunables of the dedup index (`[processor.dedup]` in the config).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DedupConfig {
    /// How long a story is remembered, in seconds (default 7 days).
    pub window_secs: u64,
    /// Words per shingle.
    pub shingle_words: usize,
    /// Keep one shingle in `sample` as a fingerprint (content-defined sampling).
    pub sample: u32,
    /// Fingerprints remembered per story: `lead_anchors` from the start of the body, the rest
    /// spread evenly over the remainder (each with its position, so a copy cut short is only
    /// compared with the part it kept).
    pub anchors: usize,
    /// How many of `anchors` come from the start of the body.
    pub lead_anchors: usize,
    /// Fingerprints of an incoming story looked up at most.
    pub query_anchors: usize,
    /// Minimum fingerprints in common for a near-duplicate.
    pub min_hits: usize,
    /// Minimum share of fingerprints in common (of the smaller of the two sets).
    pub containment: f32,
    /// Minimum words in a body for text-based matching.
    pub min_words: usize,
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig {
            window_secs: 7 * 24 * 3600,
            shingle_words: 4,
            sample: 2,
            anchors: 6,
            lead_anchors: 4,
            query_anchors: 160,
            min_hits: 3,
            containment: 0.7,
            min_words: 12,
        }
    }
}

/// What the index needs of a story.
#[derive(Debug, Clone, Copy)]
pub struct DedupInput<'a> {
    /// Stable story id (feed + guid / link / text).
    pub id: &'a str,
    pub feed: &'a str,
    pub outlet: &'a str,
    pub canonical_link: Option<&'a str>,
    /// Plain text (markup removed).
    pub title: &'a str,
    pub body: &'a str,
    /// Seconds since the Unix epoch: the time the story is processed.
    pub now: i64,
}

/// The decision for one story.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub status: DedupStatus,
    /// Id of the cluster: the id of its first story.
    pub cluster: String,
    pub revision: u32,
    pub matched_by: Option<&'static str>,
    pub similarity: Option<f32>,
    pub cluster_state: ClusterState,
}

/// Coverage of a cluster after this decision.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterState {
    pub first_seen: i64,
    pub last_seen: i64,
    pub copies: u32,
    pub updates: u32,
    pub outlets: Vec<String>,
}

/// What one story leaves in the index: also the record of the durable changelog, from which
/// [`DedupIndex::restore`] rebuilds the index after a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Remembered {
    pub id: u64,
    pub feed: String,
    pub link: u64,
    pub text: u64,
    pub body: u64,
    /// Remembered fingerprints with their position (tokens / 4).
    pub anchors: Vec<(u32, u8)>,
    pub cluster: u64,
    pub revision: u32,
    pub seen: i64,
    pub outlet: String,
    pub status: DedupStatus,
    /// Key of the feed and the headline without its wire update marker (0: none, or a
    /// record written before headlines were remembered).
    #[serde(default)]
    pub headline: u64,
    /// For an update joined by its wire update marker (new guid, new link, so neither names
    /// the story it updates): the key that found that story, its headline key or its id key.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub update_of: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// One remembered story (32 bytes).
#[derive(Debug, Clone)]
struct StoryRec {
    /// Hash of headline and body (low 32 bits): the same item again when equal.
    text: u32,
    /// Hash of the body alone (low 32 bits).
    body: u32,
    cluster: u32,
    seen_min: u32,
    revision: u16,
    feed: u16,
    /// Words in the body (saturated), to tell a shorter copy from a longer update.
    words: u16,
    n_anchors: u8,
    live: bool,
    /// Position (tokens / 4, saturated) of each remembered fingerprint.
    anchor_pos: [u8; MAX_ANCHORS],
}

/// Most fingerprints remembered per story.
pub const MAX_ANCHORS: usize = 8;

/// Tokens per band of the lead fingerprints.
const LEAD_BAND: u32 = 8;

/// Stories one fingerprint can point to: the fingerprint map is a multimap whose keys are the
/// fingerprint with its two low bits replaced by the entry's index. A fingerprint shared by
/// more stories than this is stock phrasing and is not remembered again.
const FP_WAYS: u32 = 4;

fn fp_keys(a: u32) -> impl Iterator<Item = u32> {
    let base = a & !(FP_WAYS - 1);
    (0..FP_WAYS).map(move |j| base | j)
}

/// Keys of the id and link entries in the one key map (tagged so they never collide).
fn id_key(id: u64) -> u64 {
    id ^ 0x1D1D_1D1D_1D1D_1D1D
}
fn link_key(link: u64) -> u64 {
    link.rotate_left(29) ^ 0x7E57_11C4_7E57_11C4
}
/// Key of a headline (normalised, without its wire update marker) in one feed, from the
/// hash of that headline; 0 for an empty headline.
fn headline_key(feed: &str, norm_headline: &str, headline_hash: u64) -> u64 {
    if norm_headline.is_empty() {
        return 0;
    }
    let h = mix64(xxh3_64(feed.as_bytes()) ^ headline_hash.rotate_left(31));
    (h ^ 0x4EAD_11E5_4EAD_11E5).max(1)
}

/// Wire update markers: the tag an agency puts on a later version of a story it has already
/// sent under another guid and link, as the tag reads once normalised with its spaces
/// removed; `#` stands for a number ("2" or "2nd"). Yonhap "(LEAD)", "(2nd LD)", "(URGENT)";
/// Reuters "UPDATE 2-"; AP and others "(Update)", "(UPDATED)"; Korean "[속보]", "[2보]",
/// "(종합)", "(종합2보)". A tag counts in brackets at the start of a headline or at its end
/// (Yonhap's Korean service puts "(종합)" last); only Reuters' numbered "UPDATE 2-" form
/// counts without brackets, since "Lead", "Update" and "Urgent" also open ordinary headlines.
pub const UPDATE_MARKERS: &[&str] = &[
    "lead",
    "#ld",
    "urgent",
    "update",
    "updated",
    "update#",
    "속보",
    "#보",
    "종합",
    "종합#보",
];

/// How long after a story was first seen a marked item of its feed can still update it
/// (seconds). An agency's updates of a story follow within hours; a later launch reported
/// under the same stock headline ("N. Korea fires ballistic missile into East Sea: JCS") a
/// day or a week on is a new story and must alert again.
pub const MARKER_UPDATE_WITHIN_SECS: i64 = 12 * 3600;

/// Whether normalised, space-free `tag` is `pat` of [`UPDATE_MARKERS`].
fn marker_matches(pat: &str, tag: &str) -> bool {
    let Some((pre, post)) = pat.split_once('#') else {
        return pat == tag;
    };
    let Some(rest) = tag.strip_prefix(pre) else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return false;
    }
    let rest = &rest[digits..];
    rest == post
        || ["st", "nd", "rd", "th"]
            .iter()
            .any(|o| rest.strip_prefix(o) == Some(post))
}

fn is_update_marker(tag: &str, bare: bool) -> bool {
    if tag.len() > 40 {
        return false;
    }
    let norm: String = normalize_text(tag).chars().filter(|c| *c != ' ').collect();
    UPDATE_MARKERS
        .iter()
        .filter(|m| !bare || **m == "update#")
        .any(|m| marker_matches(m, &norm))
}

/// One wire update marker split off the start or the end of a headline: the rest.
fn split_update_marker(t: &str) -> Option<&str> {
    const BRACKETS: &[(char, char)] = &[
        ('(', ')'),
        ('[', ']'),
        ('（', '）'),
        ('［', '］'),
        ('【', '】'),
    ];
    let first = t.chars().next()?;
    if let Some(&(open, close)) = BRACKETS.iter().find(|(o, _)| *o == first) {
        let inner = &t[open.len_utf8()..];
        if let Some(end) = inner.find(close) {
            if is_update_marker(&inner[..end], false) {
                return Some(inner[end + close.len_utf8()..].trim_start());
            }
        }
    }
    let last = t.chars().next_back()?;
    if let Some(&(open, close)) = BRACKETS.iter().find(|(_, c)| *c == last) {
        let body = &t[..t.len() - close.len_utf8()];
        if let Some(at) = body.rfind(open) {
            if is_update_marker(&body[at + open.len_utf8()..], false) {
                return Some(body[..at].trim_end());
            }
        }
    }
    // Reuters: "UPDATE 2-N.Korea fires …" (most headlines fail the first test, so the
    // normalisation of `is_update_marker` runs for almost none of them).
    if !t.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("update")) {
        return None;
    }
    let dash = t.char_indices().take(16).find(|(_, c)| *c == '-')?.0;
    is_update_marker(&t[..dash], true).then(|| t[dash + 1..].trim_start())
}

/// The headline without its wire update markers (up to two: "[속보](종합)", "UPDATE
/// 1-(LEAD)"), or `None` when it carries none.
pub fn strip_update_marker(title: &str) -> Option<&str> {
    let mut rest = split_update_marker(title.trim())?;
    if let Some(r) = split_update_marker(rest) {
        rest = r;
    }
    Some(rest)
}

/// One cluster (32 bytes): a story, its updates and its copies.
#[derive(Debug, Clone)]
struct ClusterRec {
    /// Id of the first story (0 = free slot).
    id: u64,
    first_min: u32,
    last_min: u32,
    /// Stories in the cluster (the original and its copies).
    copies: u32,
    updates: u16,
    first_outlet: u16,
    /// Index in `outlet_lists` of further outlets, `NO_LIST` when there are none.
    more_outlets: u32,
}

const NO_LIST: u32 = u32::MAX;

/// Most outlets listed per cluster.
const MAX_OUTLETS: usize = 64;

/// The dedup index. Pure: the caller passes the time in.
#[derive(Debug, Default)]
pub struct DedupIndex {
    cfg: DedupConfig,
    stories: Vec<StoryRec>,
    free_stories: Vec<u32>,
    clusters: Vec<ClusterRec>,
    free_clusters: Vec<u32>,
    outlet_lists: Vec<Vec<u16>>,
    free_lists: Vec<u32>,
    /// Story ids and canonical links (tagged keys) → story slot.
    keys: super::table::KeyTable,
    /// Fingerprint multimap → story slot.
    anchors: FastMap<u32, u32>,
    names: Vec<String>,
    name_ids: HashMap<String, u16>,
    last_sweep_min: u32,
    live: usize,
}

/// A fingerprinted body.
#[derive(Debug, Default)]
pub struct Fingerprint {
    pub words: usize,
    pub body: u64,
    /// Sampled shingle hashes in document order with their token position (deduplicated,
    /// capped at `query_anchors`).
    pub anchors: Vec<(u32, u32)>,
    /// Tokens covered by `anchors` (the whole body unless the cap cut it).
    pub cover: u32,
}

fn pos8(tokens: u32) -> u8 {
    (tokens / 4).min(255) as u8
}

/// A leading dateline ("SEOUL, May 17 (Yonhap) --", "Seoul (AFP) -", "LONDON —"): copies
/// often drop or rewrite it, so it is not part of the fingerprinted text.
pub fn strip_dateline(text: &str) -> &str {
    let head_end = text.char_indices().nth(120).map_or(text.len(), |(i, _)| i);
    let head = &text[..head_end];
    // Korean wire style: "(서울=연합뉴스) 박수현 기자 = ..." or "(서울=연합뉴스) ...".
    if head.starts_with('(') {
        if let Some(close) = head.find(')') {
            let inside = &head[..close];
            if inside.contains('=') {
                let rest = head[close + 1..].trim_start();
                if let Some(eq) = rest
                    .find(" = ")
                    .filter(|i| rest[..*i].contains("기자") || *i < 30)
                {
                    let after = &rest[eq + 3..];
                    return text[text.len() - (text.len() - (head.len() - after.len()))..]
                        .trim_start();
                }
                return text[close + 1..].trim_start();
            }
        }
    }
    for sep in [" -- ", " — ", " – ", " - ", "-- ", "— "] {
        if let Some(at) = head.find(sep) {
            let prefix = &head[..at];
            let words = prefix.split_whitespace().count();
            if words == 0 || words > 12 {
                continue;
            }
            const MONTHS: &[&str] = &[
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            let first = prefix.split_whitespace().next().unwrap_or("");
            let caps = first.trim_end_matches(',').len() >= 3
                && first
                    .trim_end_matches(',')
                    .chars()
                    .all(|c| c.is_uppercase() || !c.is_alphabetic());
            if prefix.contains('(') || caps || MONTHS.iter().any(|m| prefix.contains(m)) {
                return text[at + sep.len()..].trim_start();
            }
        }
    }
    text
}

/// Words and phrases that frame syndicated copies without being part of the story.
const LEADING_BOILERPLATE: &[&str] = &[
    "0 shares share tweet",
    "shares share tweet",
    "share tweet",
    "share this article",
    "share on facebook",
    "share",
    "tweet",
    "advertisement",
    "listen to this article",
    "listen",
    "breaking news",
    "breaking",
    "updated",
    "news",
];
const TRAILING_MARKERS: &[&str] = &[
    "copyright",
    "저작권자",
    "무단 전재",
    "ⓒ",
    "all rights reserved",
    "tribune news service",
    "tribune content agency",
    "distributed by",
    "read more",
    "related articles",
    "follow us on",
    "sign up for",
    "click here",
];

/// First bytes of the trailing markers (a cheap test before comparing whole markers).
const MARKER_FIRST_BYTES: &[u8] = &[b'c', b'a', b't', b'd', b'r', b'f', b's', 0xEC, 0xEB, 0xE2];

/// Removes boilerplate from normalised text: leading share/advert noise, trailing credit and
/// copyright lines (searched in the last 40 words).
pub fn strip_boilerplate(norm: &str) -> &str {
    let mut s = norm.trim();
    // Leading "date 2021 05 05" page furniture of scraped copies.
    loop {
        let before = s.len();
        for b in LEADING_BOILERPLATE {
            if let Some(rest) = s.strip_prefix(b) {
                if rest.is_empty() || rest.starts_with(' ') {
                    s = rest.trim_start();
                }
            }
        }
        if s.len() == before {
            break;
        }
    }
    // Trailing credits and copyright, searched in the last 40 words only.
    let bytes = s.as_bytes();
    let mut limit = 0;
    let mut spaces = 0;
    for i in (0..bytes.len()).rev() {
        if bytes[i] == b' ' {
            spaces += 1;
            if spaces == 40 {
                limit = i;
                break;
            }
        }
    }
    // Check each word start of the tail against the markers (cheaper than a substring
    // search per marker).
    let mut cut = s.len();
    let mut at = limit;
    while at < bytes.len() {
        if (at == 0 || bytes[at - 1] == b' ') && MARKER_FIRST_BYTES.contains(&bytes[at]) {
            let rest = &s[at..];
            if TRAILING_MARKERS.iter().any(|m| rest.starts_with(m)) {
                cut = at;
                break;
            }
        }
        at += 1;
    }
    s[..cut].trim_end()
}

/// FNV-1a hashes of the tokens of normalised text — words, and each Han/kana character on
/// its own — computed in one pass without slicing the tokens out.
fn token_hashes(norm: &str, out: &mut Vec<u64>) {
    let bytes = norm.as_bytes();
    let mut h = FNV_SEED;
    let mut open = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            if b == b' ' {
                if open {
                    out.push(h);
                    h = FNV_SEED;
                    open = false;
                }
            } else {
                h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
                open = true;
            }
            i += 1;
            continue;
        }
        let c = norm[i..].chars().next().unwrap_or(' ');
        let len = c.len_utf8();
        let char_bytes = &bytes[i..i + len];
        if super::text::is_cjk(c) && !matches!(c as u32, 0xAC00..=0xD7A3) {
            // Han and kana: each character is a token (no spaces between words).
            if open {
                out.push(h);
                h = FNV_SEED;
                open = false;
            }
            out.push(fnv1a(char_bytes));
        } else {
            for &x in char_bytes {
                h = (h ^ u64::from(x)).wrapping_mul(FNV_PRIME);
            }
            open = true;
        }
        i += len;
    }
    if open {
        out.push(h);
    }
}

impl DedupIndex {
    pub fn new(cfg: DedupConfig) -> Self {
        DedupIndex {
            cfg,
            ..Default::default()
        }
    }

    pub fn config(&self) -> &DedupConfig {
        &self.cfg
    }

    /// Stories remembered.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Fingerprints a plain-text body.
    pub fn fingerprint(&self, body: &str) -> Fingerprint {
        let norm = normalize_text(strip_dateline(body.trim_start()));
        let text = strip_boilerplate(&norm);
        let mut th: Vec<u64> = Vec::with_capacity(text.len() / 5 + 1);
        token_hashes(text, &mut th);
        let mut fp = Fingerprint {
            words: th.len(),
            body: xxh3_64(text.as_bytes()),
            anchors: Vec::new(),
            cover: th.len() as u32,
        };
        let k = self.cfg.shingle_words.max(1);
        if th.len() < k {
            return fp;
        }
        // Shingle hashes from per-token hashes: an order-sensitive combination, finalised.
        let sample = u64::from(self.cfg.sample.max(1));
        // One shingle in `sample`: a mask when `sample` is a power of two (no division).
        let keep = |h: u64| {
            if sample.is_power_of_two() {
                h & (sample - 1) == 0
            } else {
                h % sample == 0
            }
        };
        let mut seen = SeenSet::new();
        for (pos, w) in th.windows(k).enumerate() {
            let mut h: u64 = 0x9E37_79B9_7F4A_7C15;
            for t in w {
                h = (h ^ t).wrapping_mul(FNV_PRIME).rotate_left(23);
            }
            let h = mix64(h);
            if keep(h) {
                let a = (h >> 32) as u32;
                if seen.insert(a) {
                    fp.anchors.push((a, pos as u32));
                    if fp.anchors.len() >= self.cfg.query_anchors.min(MAX_QUERY_ANCHORS) {
                        fp.cover = pos as u32 + k as u32;
                        break;
                    }
                }
            }
        }
        fp
    }

    fn name_id(&mut self, name: &str) -> u16 {
        if let Some(&i) = self.name_ids.get(name) {
            return i;
        }
        let i = self.names.len().min(u16::MAX as usize) as u16;
        if (i as usize) == self.names.len() {
            self.names.push(name.to_string());
        }
        self.name_ids.insert(name.to_string(), i);
        i
    }

    /// Decides on one story and remembers it. Returns the decision and the changelog record.
    pub fn observe(&mut self, input: &DedupInput<'_>) -> (Decision, Remembered) {
        let now_min = minutes(input.now);
        self.maybe_sweep(now_min);
        let id = story_key(input.id);
        let feed = self.name_id(input.feed);
        let outlet = self.name_id(input.outlet);
        let link = input.canonical_link.map_or(0, |l| xxh3_64(l.as_bytes()));
        let fp = self.fingerprint(input.body);
        let title = normalize_text(input.title);
        let title_hash = xxh3_64(title.as_bytes());
        let text = title_hash ^ fp.body.rotate_left(17);
        let unmarked = strip_update_marker(input.title);
        let headline = match unmarked {
            Some(rest) => {
                let rest = normalize_text(rest);
                headline_key(input.feed, &rest, xxh3_64(rest.as_bytes()))
            }
            None => headline_key(input.feed, &title, title_hash),
        };
        let seen = Seen {
            id,
            feed,
            outlet,
            link,
            text,
            headline,
            now: input.now,
        };

        // 1. Same story id.
        if let Some(slot) = self.keys.get(id_key(id)) {
            let same = self.stories[slot as usize].text == text as u32;
            return self.repeat(slot, same, "id", &seen, fp);
        }
        // 2. Same canonical link.
        if link != 0 {
            if let Some(slot) = self.keys.get(link_key(link)) {
                let rec = &self.stories[slot as usize];
                let same = rec.text == text as u32 || rec.body == fp.body as u32;
                // The same link elsewhere with a shorter or equal text contained in ours (a
                // feed that truncates) is the same item; a longer or different text is an
                // update in place.
                let contained = !same
                    && fp.words <= usize::from(rec.words)
                    && self.containment_with(slot, &fp) >= 0.8;
                return self.repeat(slot, same || contained, "link", &seen, fp);
            }
        }
        // 3. A wire update marker: the agency's later version of a story of this feed, under
        // a new guid and link.
        if unmarked.is_some() {
            if let Some((slot, by, key)) = self.marker_target(&fp, feed, headline, now_min) {
                let same = self.stories[slot as usize].text == text as u32;
                let (decision, mut remembered) = self.repeat(slot, same, by, &seen, fp);
                remembered.update_of = key;
                return (decision, remembered);
            }
        }
        // 4, 5. Text: the same body (a re-delivery or a retitled copy) or most of its
        // fingerprints (a syndicated copy); never within one feed across different guid and
        // link, and only for bodies long enough to tell stories apart.
        if fp.words >= self.cfg.min_words {
            if let Some((slot, sim)) = self.best_candidate(&fp, |r| r.feed != feed) {
                let rec = &self.stories[slot as usize];
                let cluster = rec.cluster;
                let (status, by, sim) = if rec.text == text as u32 {
                    (DedupStatus::Duplicate, "text", None)
                } else if rec.body == fp.body as u32 {
                    (DedupStatus::NearDuplicate, "text", Some(1.0))
                } else {
                    (DedupStatus::NearDuplicate, "shingles", Some(sim))
                };
                return self.attach(&seen, fp, Some(cluster), status, by, sim);
            }
        }
        self.attach(&seen, fp, None, DedupStatus::New, "", None)
    }

    /// The story a marked item updates, with what found it and its key: the story of this
    /// feed with the same headline once markers are stripped, else the story of this feed
    /// whose fingerprints this body contains (the containment test of copies); either first
    /// seen within [`MARKER_UPDATE_WITHIN_SECS`].
    fn marker_target(
        &self,
        fp: &Fingerprint,
        feed: u16,
        headline: u64,
        now_min: u32,
    ) -> Option<(u32, &'static str, u64)> {
        let within = (MARKER_UPDATE_WITHIN_SECS / 60) as u32;
        let recent = |r: &StoryRec| {
            r.live && now_min.saturating_sub(self.clusters[r.cluster as usize].first_min) <= within
        };
        // The headline key is per feed: set by this feed's item for that story.
        if headline != 0 {
            if let Some(slot) = self.keys.get(headline) {
                if recent(&self.stories[slot as usize]) {
                    return Some((slot, "headline", headline));
                }
            }
        }
        if fp.words < self.cfg.min_words {
            return None;
        }
        let (slot, _) = self.best_candidate(fp, |r| r.feed == feed && recent(r))?;
        // Only stories that started their cluster keep fingerprints, so the story is found
        // again by the cluster's id when the changelog is replayed.
        let key = id_key(self.clusters[self.stories[slot as usize].cluster as usize].id);
        (self.keys.get(key) == Some(slot)).then_some((slot, "shingles", key))
    }

    /// Share of `fp`'s anchors found among a remembered story's anchors.
    fn containment_with(&self, slot: u32, fp: &Fingerprint) -> f32 {
        let n = self.covered(slot, fp);
        if n == 0 {
            return 0.0;
        }
        let hits = fp
            .anchors
            .iter()
            .filter(|(a, _)| self.slots_of(*a).any(|s| s == slot))
            .count();
        (hits as f32 / n as f32).min(1.0)
    }

    /// Stories remembered under a fingerprint.
    fn slots_of(&self, a: u32) -> impl Iterator<Item = u32> + '_ {
        fp_keys(a).map_while(|k| self.anchors.get(&k).copied())
    }

    fn remember_fp(&mut self, a: u32, slot: u32) {
        for k in fp_keys(a) {
            match self.anchors.entry(k) {
                std::collections::hash_map::Entry::Occupied(e) if *e.get() == slot => return,
                std::collections::hash_map::Entry::Occupied(_) => continue,
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(slot);
                    return;
                }
            }
        }
    }

    /// How many of a remembered story's fingerprints lie within the part of the text the
    /// incoming story covers (a copy cut to its first paragraphs is compared with those).
    fn covered(&self, slot: u32, fp: &Fingerprint) -> usize {
        let rec = &self.stories[slot as usize];
        // A remembered fingerprint at quantised position p started at token 4p..4p+3; count it
        // when even its latest possible start is a shingle the incoming text has.
        let last_start = fp.cover.saturating_sub(self.cfg.shingle_words as u32);
        rec.anchor_pos[..rec.n_anchors as usize]
            .iter()
            .filter(|p| **p < 255 && u32::from(**p) * 4 + 3 <= last_start)
            .count()
    }

    /// The remembered story (live, and one `keep` accepts) sharing most of `fp`'s
    /// fingerprints, if enough.
    fn best_candidate(
        &self,
        fp: &Fingerprint,
        keep: impl Fn(&StoryRec) -> bool,
    ) -> Option<(u32, f32)> {
        // Hits per remembered story, in the order the stories are first met (which breaks
        // ties): counted by sorting rather than a search per hit, since a body with stock
        // phrasing can point at hundreds of stories.
        let mut seen: Vec<(u32, u32)> = Vec::with_capacity(fp.anchors.len());
        for (a, _) in &fp.anchors {
            for slot in self.slots_of(*a) {
                seen.push((slot, seen.len() as u32));
            }
        }
        seen.sort_unstable();
        let mut counts: Vec<(u32, u32, u32)> = Vec::new(); // (first met, slot, hits)
        for &(slot, at) in &seen {
            match counts.last_mut() {
                Some((_, s, c)) if *s == slot => *c += 1,
                _ => counts.push((at, slot, 1)),
            }
        }
        counts.sort_unstable();
        let mut best: Option<(u32, f32)> = None;
        for (_, slot, hits) in counts {
            let rec = &self.stories[slot as usize];
            if !rec.live || !keep(rec) {
                continue;
            }
            let n = self.covered(slot, fp);
            if n == 0 || (hits as usize) < self.cfg.min_hits.min(n) || hits < 2 {
                continue;
            }
            let sim = (hits as f32 / n as f32).min(1.0);
            if sim >= self.cfg.containment && best.is_none_or(|(_, b)| sim > b) {
                best = Some((slot, sim));
            }
        }
        best
    }

    /// The fingerprints remembered for a story: one from each of the first `lead_anchors`
    /// bands of `LEAD_BAND` tokens (so a short copy is checked along its whole length, not
    /// only on the stock opening phrase that independent reports share), then the rest spread
    /// evenly over the remainder of the body.
    fn choose_anchors(&self, fp: &Fingerprint) -> Vec<(u32, u8)> {
        let total = self.cfg.anchors.min(MAX_ANCHORS);
        let lead = self.cfg.lead_anchors.min(total) as u32;
        let mut out: Vec<(u32, u8)> = Vec::with_capacity(total);
        for band in 0..lead {
            let (lo, hi) = (band * LEAD_BAND, (band + 1) * LEAD_BAND);
            if let Some((a, p)) = fp.anchors.iter().find(|(_, p)| (lo..hi).contains(p)) {
                out.push((*a, pos8(*p)));
            }
        }
        let rest: Vec<&(u32, u32)> = fp
            .anchors
            .iter()
            .filter(|(_, p)| *p >= lead * LEAD_BAND)
            .collect();
        let spread = total - out.len();
        if rest.len() <= spread {
            out.extend(rest.iter().map(|(a, p)| (*a, pos8(*p))));
        } else {
            for k in 0..spread {
                let (a, p) = rest[k * rest.len() / spread];
                out.push((*a, pos8(*p)));
            }
        }
        out
    }

    fn new_cluster(&mut self, id: u64, now_min: u32, outlet: u16) -> u32 {
        let rec = ClusterRec {
            id,
            first_min: now_min,
            last_min: now_min,
            copies: 0,
            updates: 0,
            first_outlet: outlet,
            more_outlets: NO_LIST,
        };
        match self.free_clusters.pop() {
            Some(s) => {
                self.clusters[s as usize] = rec;
                s
            }
            None => {
                self.clusters.push(rec);
                (self.clusters.len() - 1) as u32
            }
        }
    }

    fn add_outlet(&mut self, cluster: u32, outlet: u16) {
        let c = &self.clusters[cluster as usize];
        if c.first_outlet == outlet {
            return;
        }
        if c.more_outlets == NO_LIST {
            let list = match self.free_lists.pop() {
                Some(i) => i,
                None => {
                    self.outlet_lists.push(Vec::new());
                    (self.outlet_lists.len() - 1) as u32
                }
            };
            self.clusters[cluster as usize].more_outlets = list;
        }
        let list = &mut self.outlet_lists[self.clusters[cluster as usize].more_outlets as usize];
        if !list.contains(&outlet) && list.len() + 1 < MAX_OUTLETS {
            list.push(outlet);
        }
    }

    /// The story (by slot) was seen again: duplicate or update.
    fn repeat(
        &mut self,
        slot: u32,
        same: bool,
        by: &'static str,
        seen: &Seen,
        fp: Fingerprint,
    ) -> (Decision, Remembered) {
        let now_min = minutes(seen.now);
        let rec = &mut self.stories[slot as usize];
        rec.seen_min = rec.seen_min.max(now_min);
        let status = if same {
            DedupStatus::Duplicate
        } else {
            rec.revision = rec.revision.saturating_add(1);
            rec.text = seen.text as u32;
            rec.body = fp.body as u32;
            rec.words = fp.words.min(usize::from(u16::MAX)) as u16;
            DedupStatus::Update
        };
        let (cluster, revision, feed) = (rec.cluster, rec.revision, rec.feed);
        if seen.link != 0 {
            self.keys.get_or_insert(link_key(seen.link), slot);
        }
        // A re-delivery under another id (same link) is known by that id from now on.
        self.keys.get_or_insert(id_key(seen.id), slot);
        if seen.headline != 0 {
            self.keys.insert(seen.headline, slot);
        }
        let c = &mut self.clusters[cluster as usize];
        c.last_min = c.last_min.max(now_min);
        if status == DedupStatus::Update {
            c.updates = c.updates.saturating_add(1);
        }
        self.add_outlet(cluster, seen.outlet);
        let remembered = Remembered {
            id: seen.id,
            feed: self.names[feed as usize].clone(),
            link: seen.link,
            text: seen.text,
            body: fp.body,
            anchors: Vec::new(),
            cluster: self.clusters[cluster as usize].id,
            revision: u32::from(revision),
            seen: seen.now,
            outlet: self.names[seen.outlet as usize].clone(),
            status,
            headline: seen.headline,
            update_of: 0,
        };
        (
            self.decision(status, cluster, u32::from(revision), Some(by), None),
            remembered,
        )
    }

    /// Remembers a story that is not a repeat of one already known: `cluster` is the cluster
    /// of the story it copies, or `None` for a new story.
    fn attach(
        &mut self,
        seen: &Seen,
        fp: Fingerprint,
        cluster: Option<u32>,
        status: DedupStatus,
        by: &'static str,
        sim: Option<f32>,
    ) -> (Decision, Remembered) {
        let now_min = minutes(seen.now);
        let cluster = match cluster {
            Some(c) => c,
            None => self.new_cluster(seen.id, now_min, seen.outlet),
        };
        let texty = fp.words >= self.cfg.min_words;
        // Copies do not add fingerprints: the original's already stand for the cluster.
        let stored = if texty && status == DedupStatus::New {
            self.choose_anchors(&fp)
        } else {
            Vec::new()
        };
        let mut anchor_pos = [0u8; MAX_ANCHORS];
        for (i, (_, p)) in stored.iter().enumerate() {
            anchor_pos[i] = *p;
        }
        let rec = StoryRec {
            text: seen.text as u32,
            body: fp.body as u32,
            cluster,
            seen_min: now_min,
            revision: 0,
            feed: seen.feed,
            words: fp.words.min(usize::from(u16::MAX)) as u16,
            n_anchors: stored.len() as u8,
            live: true,
            anchor_pos,
        };
        let slot = match self.free_stories.pop() {
            Some(s) => {
                self.stories[s as usize] = rec;
                s
            }
            None => {
                self.stories.push(rec);
                (self.stories.len() - 1) as u32
            }
        };
        self.live += 1;
        self.keys.insert(id_key(seen.id), slot);
        if seen.link != 0 {
            self.keys.get_or_insert(link_key(seen.link), slot);
        }
        // The latest story of a feed with a headline is the one its marked updates join.
        if seen.headline != 0 {
            self.keys.insert(seen.headline, slot);
        }
        for (a, _) in &stored {
            self.remember_fp(*a, slot);
        }
        let c = &mut self.clusters[cluster as usize];
        c.last_min = c.last_min.max(now_min);
        c.copies += 1;
        self.add_outlet(cluster, seen.outlet);
        let remembered = Remembered {
            id: seen.id,
            feed: self.names[seen.feed as usize].clone(),
            link: seen.link,
            text: seen.text,
            body: fp.body,
            anchors: stored,
            cluster: self.clusters[cluster as usize].id,
            revision: 0,
            seen: seen.now,
            outlet: self.names[seen.outlet as usize].clone(),
            status,
            headline: seen.headline,
            update_of: 0,
        };
        let by = (!by.is_empty()).then_some(by);
        (self.decision(status, cluster, 0, by, sim), remembered)
    }

    fn decision(
        &self,
        status: DedupStatus,
        cluster: u32,
        revision: u32,
        matched_by: Option<&'static str>,
        similarity: Option<f32>,
    ) -> Decision {
        let c = &self.clusters[cluster as usize];
        let mut outlets = vec![self.names[c.first_outlet as usize].clone()];
        if c.more_outlets != NO_LIST {
            outlets.extend(
                self.outlet_lists[c.more_outlets as usize]
                    .iter()
                    .map(|o| self.names[*o as usize].clone()),
            );
        }
        Decision {
            status,
            cluster: format!("{:016x}", c.id),
            revision,
            matched_by,
            similarity: similarity.map(|s| (s * 1000.0).round() / 1000.0),
            cluster_state: ClusterState {
                first_seen: i64::from(c.first_min) * 60,
                last_seen: i64::from(c.last_min) * 60,
                copies: c.copies,
                updates: u32::from(c.updates),
                outlets,
            },
        }
    }

    /// Rebuilds the index from changelog records (in their original order).
    pub fn restore(&mut self, r: &Remembered) {
        let now_min = minutes(r.seen);
        let outlet = self.name_id(&r.outlet);
        let feed = self.name_id(&r.feed);
        let seen = Seen {
            id: r.id,
            feed,
            outlet,
            link: r.link,
            text: r.text,
            headline: r.headline,
            now: r.seen,
        };
        let by_marker = (r.update_of != 0)
            .then(|| self.keys.get(r.update_of))
            .flatten();
        let repeat_of = by_marker
            .or_else(|| self.keys.get(id_key(r.id)))
            .or_else(|| {
                let by_link =
                    r.link != 0 && matches!(r.status, DedupStatus::Duplicate | DedupStatus::Update);
                by_link.then(|| self.keys.get(link_key(r.link))).flatten()
            });
        if let Some(slot) = repeat_of {
            // A later duplicate or update of a story already restored.
            self.keys.get_or_insert(id_key(r.id), slot);
            let rec = &mut self.stories[slot as usize];
            rec.seen_min = rec.seen_min.max(now_min);
            if r.status == DedupStatus::Update {
                rec.revision = r.revision.min(u32::from(u16::MAX)) as u16;
                rec.text = r.text as u32;
                rec.body = r.body as u32;
                let c = rec.cluster as usize;
                self.clusters[c].updates = self.clusters[c].updates.saturating_add(1);
            }
            let c = self.stories[slot as usize].cluster as usize;
            self.clusters[c].last_min = self.clusters[c].last_min.max(now_min);
            if r.link != 0 {
                self.keys.get_or_insert(link_key(r.link), slot);
            }
            if r.headline != 0 {
                self.keys.insert(r.headline, slot);
            }
            return;
        }
        // The cluster is named after its first story: find it through that story's id.
        let cluster = self
            .keys
            .get(id_key(r.cluster))
            .map(|s| self.stories[s as usize].cluster)
            .filter(|&c| self.clusters[c as usize].id == r.cluster);
        let status = if r.cluster == r.id {
            DedupStatus::New
        } else {
            DedupStatus::NearDuplicate
        };
        let cluster = match cluster {
            Some(c) => c,
            None => self.new_cluster(r.cluster, now_min, outlet),
        };
        let fp = Fingerprint {
            words: if r.anchors.is_empty() {
                0
            } else {
                self.cfg.min_words
            },
            body: r.body,
            anchors: Vec::new(),
            cover: 0,
        };
        let (_, _) = self.attach(&seen, fp, Some(cluster), status, "", None);
        // `attach` chose no fingerprints (the body is not here); put back the recorded ones.
        let Some(slot) = self.keys.get(id_key(r.id)) else {
            return;
        };
        let mut anchor_pos = [0u8; MAX_ANCHORS];
        for (i, (a, p)) in r.anchors.iter().take(MAX_ANCHORS).enumerate() {
            anchor_pos[i] = *p;
            self.remember_fp(*a, slot);
        }
        let rec = &mut self.stories[slot as usize];
        rec.anchor_pos = anchor_pos;
        rec.n_anchors = r.anchors.len().min(MAX_ANCHORS) as u8;
        if status == DedupStatus::New {
            // `attach` counted it as a copy of the cluster created just above.
            let c = &mut self.clusters[cluster as usize];
            c.copies = c.copies.max(1);
        }
    }

    /// Drops stories and clusters older than the window. Runs at most every window/16.
    fn maybe_sweep(&mut self, now_min: u32) {
        let window_min = (self.cfg.window_secs / 60).max(1) as u32;
        let every = (window_min / 16).max(1);
        if now_min < self.last_sweep_min + every {
            return;
        }
        self.last_sweep_min = now_min;
        let cutoff = now_min.saturating_sub(window_min);
        let mut dead = vec![false; self.stories.len()];
        let mut any = false;
        for (i, s) in self.stories.iter_mut().enumerate() {
            if s.live && s.seen_min < cutoff {
                s.live = false;
                dead[i] = true;
                any = true;
            }
        }
        if !any {
            return;
        }
        self.keys.retain(|s| !dead[s as usize]);
        // Rebuild the fingerprint multimap so no entry sits behind a removed one.
        let mut live: Vec<(u32, u32)> = self
            .anchors
            .iter()
            .filter(|(_, s)| !dead[**s as usize])
            .map(|(k, s)| (*k, *s))
            .collect();
        live.sort_unstable();
        self.anchors.clear();
        for (k, s) in live {
            self.remember_fp(k, s);
        }
        let mut cluster_live = vec![false; self.clusters.len()];
        for (i, s) in self.stories.iter().enumerate() {
            if dead[i] {
                self.free_stories.push(i as u32);
                self.live -= 1;
            } else if s.live {
                cluster_live[s.cluster as usize] = true;
            }
        }
        for (i, c) in self.clusters.iter_mut().enumerate() {
            if c.id != 0 && !cluster_live[i] {
                c.id = 0;
                if c.more_outlets != NO_LIST {
                    self.outlet_lists[c.more_outlets as usize].clear();
                    self.free_lists.push(c.more_outlets);
                    c.more_outlets = NO_LIST;
                }
                self.free_clusters.push(i as u32);
            }
        }
    }

    /// Heap bytes held by the index (slabs and maps at their capacity), for the memory
    /// figure per story.
    pub fn heap_bytes(&self) -> usize {
        fn map<K, V>(m: &FastMap<K, V>) -> usize {
            // hashbrown: one control byte per bucket plus the (K, V) slot; buckets are
            // capacity × 8/7 rounded up to a power of two.
            let buckets = (m.capacity() * 8 / 7).next_power_of_two();
            buckets * (std::mem::size_of::<(K, V)>() + 1)
        }
        self.stories.capacity() * std::mem::size_of::<StoryRec>()
            + self.clusters.capacity() * std::mem::size_of::<ClusterRec>()
            + self
                .outlet_lists
                .iter()
                .map(|l| l.capacity() * 2 + 24)
                .sum::<usize>()
            + self.keys.heap_bytes()
            + map(&self.anchors)
    }
}

/// What the index knows of an incoming story.
struct Seen {
    id: u64,
    feed: u16,
    outlet: u16,
    link: u64,
    text: u64,
    /// [`headline_key`] of the story's feed and unmarked headline.
    headline: u64,
    now: i64,
}

/// The fingerprints of one body already taken: a small open-addressing set on the stack.
struct SeenSet {
    slots: [u32; 1024],
    zero: bool,
}

impl SeenSet {
    fn new() -> Self {
        SeenSet {
            slots: [0; 1024],
            zero: false,
        }
    }

    /// True when `a` was not in the set yet.
    fn insert(&mut self, a: u32) -> bool {
        if a == 0 {
            return !std::mem::replace(&mut self.zero, true);
        }
        let mut i = (a.wrapping_mul(0x9E37_79B9) >> 22) as usize;
        loop {
            match self.slots[i] {
                0 => {
                    self.slots[i] = a;
                    return true;
                }
                x if x == a => return false,
                _ => i = (i + 1) & 1023,
            }
        }
    }
}

/// Most fingerprints of one incoming story looked up (`query_anchors` is capped here, well
/// under the capacity of [`SeenSet`]).
pub const MAX_QUERY_ANCHORS: usize = 512;

/// FNV-1a, 64-bit: a fast, stable hash for short tokens.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = FNV_SEED;
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
    }
    h
}
const FNV_SEED: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01B3;

/// A 64-bit finaliser (splitmix64's): spreads every input bit over the output.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn minutes(secs: i64) -> u32 {
    (secs.max(0) / 60).min(i64::from(u32::MAX)) as u32
}

/// The 64-bit key of a story id: its hex value when it is one of ours, else a hash.
pub fn story_key(id: &str) -> u64 {
    if id.len() == 16 {
        if let Ok(v) = u64::from_str_radix(id, 16) {
            return v;
        }
    }
    xxh3_64(id.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tokens of normalised text: words, and each Han/kana character on its own.
    fn tokens(norm: &str) -> Vec<&str> {
        let mut out = Vec::with_capacity(norm.len() / 5 + 1);
        let bytes = norm.as_bytes();
        let mut start = 0;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b == b' ' {
                if start < i {
                    out.push(&norm[start..i]);
                }
                i += 1;
                start = i;
                continue;
            }
            if b < 0x80 {
                i += 1;
                continue;
            }
            // Han and kana: each character is a token (no spaces between words).
            let c = norm[i..].chars().next().unwrap_or(' ');
            let len = c.len_utf8();
            if crate::core::text::is_cjk(c) && !matches!(c as u32, 0xAC00..=0xD7A3) {
                if start < i {
                    out.push(&norm[start..i]);
                }
                out.push(&norm[i..i + len]);
                start = i + len;
            }
            i += len;
        }
        if start < bytes.len() {
            out.push(&norm[start..]);
        }
        out
    }

    const BODY: &str =
        "London, May 5 - US Secretary of State Antony Blinken on Wednesday met jointly \
        with his South Korean and Japanese counterparts to discuss North Korea, bringing together \
        the allies despite renewed rifts. Joined by aides, Blinken sat in the centre of a U-shaped \
        table with Japanese Foreign Minister Toshimitsu Motegi and South Korean Foreign Minister \
        Chung Eui-yong on each side in a conference room of a London hotel.";

    fn input<'a>(
        id: &'a str,
        feed: &'a str,
        link: &'a str,
        title: &'a str,
        body: &'a str,
        now: i64,
    ) -> DedupInput<'a> {
        DedupInput {
            id,
            feed,
            outlet: feed,
            canonical_link: Some(link),
            title,
            body,
            now,
        }
    }

    #[test]
    fn marker_first_bytes_cover_every_marker() {
        for m in TRAILING_MARKERS {
            assert!(MARKER_FIRST_BYTES.contains(&m.as_bytes()[0]), "{m}");
        }
        let text = "the talks ended on friday copyright 2021 afp all rights reserved";
        assert_eq!(strip_boilerplate(text), "the talks ended on friday");
    }

    #[test]
    fn tokens_split_words_and_cjk_characters() {
        assert_eq!(
            tokens("north korea 北朝鮮が 발사했다"),
            ["north", "korea", "北", "朝", "鮮", "が", "발사했다"]
        );
    }

    #[test]
    fn token_hashes_are_the_hashes_of_the_tokens() {
        for text in [
            "",
            " ",
            "north korea 北朝鮮が 발사했다",
            "  leading and trailing  ",
            "café ü 북한 미사일 発射 x",
            "北",
            "a北b",
        ] {
            let mut got = Vec::new();
            token_hashes(text, &mut got);
            let want: Vec<u64> = tokens(text).iter().map(|t| fnv1a(t.as_bytes())).collect();
            assert_eq!(got, want, "{text:?}");
        }
    }

    #[test]
    fn new_then_duplicate_then_update() {
        let mut d = DedupIndex::new(DedupConfig::default());
        let (a, _) = d.observe(&input(
            "0000000000000001",
            "afp",
            "https://a/1",
            "T",
            BODY,
            1000,
        ));
        assert_eq!(a.status, DedupStatus::New);
        assert_eq!(a.cluster, "0000000000000001");
        let (b, _) = d.observe(&input(
            "0000000000000001",
            "afp",
            "https://a/1",
            "T",
            BODY,
            1100,
        ));
        assert_eq!(b.status, DedupStatus::Duplicate);
        let changed = format!("{BODY} It was the second meeting this month.");
        let (c, _) = d.observe(&input(
            "0000000000000001",
            "afp",
            "https://a/1",
            "T",
            &changed,
            1200,
        ));
        assert_eq!(
            (c.status, c.revision, c.cluster.as_str()),
            (DedupStatus::Update, 1, "0000000000000001")
        );
    }

    #[test]
    fn same_link_other_feed_is_duplicate() {
        let mut d = DedupIndex::new(DedupConfig::default());
        d.observe(&input(
            "0000000000000001",
            "afp",
            "https://a/1",
            "T",
            BODY,
            1000,
        ));
        let (b, _) = d.observe(&input(
            "0000000000000002",
            "afp-asia",
            "https://a/1",
            "T",
            BODY,
            1000,
        ));
        assert_eq!(
            (b.status, b.matched_by),
            (DedupStatus::Duplicate, Some("link"))
        );
    }

    #[test]
    fn syndicated_copy_with_boilerplate_and_truncation() {
        let mut d = DedupIndex::new(DedupConfig::default());
        d.observe(&input(
            "0000000000000001",
            "afp",
            "https://a/1",
            "Blinken meets allies",
            BODY,
            1000,
        ));
        let copy =
            format!("0 SHARES Share Tweet {BODY} © Copyright 2021 AFP. All rights reserved.");
        let (b, _) = d.observe(&input(
            "0000000000000002",
            "digest",
            "https://b/x",
            "Allies meet in London",
            &copy,
            2000,
        ));
        assert_eq!(b.status, DedupStatus::NearDuplicate);
        assert_eq!(b.cluster, "0000000000000001");
        let cut: String = BODY
            .split_whitespace()
            .take(30)
            .collect::<Vec<_>>()
            .join(" ");
        let (c, _) = d.observe(&input(
            "0000000000000003",
            "other",
            "https://c/y",
            "Blinken",
            &cut,
            3000,
        ));
        assert_eq!(c.status, DedupStatus::NearDuplicate, "{c:?}");
        assert_eq!(c.cluster_state.copies, 3);
        assert_eq!(c.cluster_state.outlets, ["afp", "digest", "other"]);
    }

    #[test]
    fn template_items_of_one_feed_stay_apart() {
        let mut d = DedupIndex::new(DedupConfig::default());
        let body = "Our pick of the most striking news photographs taken around the world this week by our photographers";
        let (a, _) = d.observe(&input(
            "0000000000000001",
            "bbc",
            "https://bbc/1",
            "Photos of the day",
            body,
            1000,
        ));
        let (b, _) = d.observe(&input(
            "0000000000000002",
            "bbc",
            "https://bbc/2",
            "Photos of the day",
            body,
            90_000,
        ));
        assert_eq!((a.status, b.status), (DedupStatus::New, DedupStatus::New));
    }

    #[test]
    fn template_items_without_markers_stay_apart_within_hours() {
        let mut d = DedupIndex::new(DedupConfig::default());
        let body = "Our pick of the most striking news photographs taken around the world today by our photographers";
        let statuses: Vec<DedupStatus> = ["1", "2", "3"]
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let id = format!("000000000000000{n}");
                let link = format!("https://bbc/{n}");
                let now = 1000 + 600 * i as i64;
                d.observe(&input(&id, "bbc", &link, "Photos of the day", body, now))
                    .0
                    .status
            })
            .collect();
        assert_eq!(statuses, [DedupStatus::New; 3]);
    }

    #[test]
    fn update_markers_are_recognised_and_stripped() {
        let x = "N. Korea fires missile";
        for t in [
            "(LEAD) N. Korea fires missile",
            "(2nd LD) N. Korea fires missile",
            "(3rd LD) N. Korea fires missile",
            "( 11th LD )N. Korea fires missile",
            "(URGENT) N. Korea fires missile",
            "UPDATE 1-N. Korea fires missile",
            "UPDATE 2 - N. Korea fires missile",
            "(Update) N. Korea fires missile",
            "(updated) N. Korea fires missile",
            "(UPDATED) N. Korea fires missile",
            "N. Korea fires missile (Updated)",
            "UPDATE 1-(LEAD) N. Korea fires missile",
        ] {
            assert_eq!(strip_update_marker(t), Some(x), "{t}");
        }
        let k = "북한, 동해상으로 탄도미사일 발사";
        for t in [
            "[속보] 북한, 동해상으로 탄도미사일 발사",
            "[2보] 북한, 동해상으로 탄도미사일 발사",
            "[3보]북한, 동해상으로 탄도미사일 발사",
            "(종합) 북한, 동해상으로 탄도미사일 발사",
            "(종합2보) 북한, 동해상으로 탄도미사일 발사",
            "북한, 동해상으로 탄도미사일 발사(종합)",
            "북한, 동해상으로 탄도미사일 발사(종합2보)",
            "[속보] 북한, 동해상으로 탄도미사일 발사(종합)",
        ] {
            assert_eq!(strip_update_marker(t), Some(k), "{t}");
        }
        for t in [
            "N. Korea fires missile",
            "Lead poisoning found in school water",
            "Update on the talks: no deal yet",
            "Urgent care clinics close early",
            "Updated guidance for travellers",
            "UPDATE-free phones sold out",
            "North Korea-US talks stall",
            "(Yonhap Interview) Minister on chips",
            "(LEAD) ",
            "[날씨] 내일 전국 흐리고 비",
        ] {
            let got = strip_update_marker(t);
            assert!(got.is_none() || got == Some(""), "{t}: {got:?}");
        }
    }

    const NK_FIRST: &str = "SEOUL, May 17 (Yonhap) -- North Korea fired a short-range ballistic \
        missile into the East Sea on Thursday, South Korea's Joint Chiefs of Staff (JCS) said.";
    const NK_LEAD_MORE: &str = "It was launched from near Pyongyang at around 7:10 a.m.";
    const NK_2ND_LD_MORE: &str = "It was launched from near Pyongyang at around 7:10 a.m. and \
        flew about 600 km.";

    /// Yonhap's first report, its "(LEAD)" (same headline, longer summary) and its "(2nd LD)"
    /// (new headline, longer again), each under a new guid and link.
    fn yonhap_sequence() -> Vec<(String, String, String, String, i64)> {
        let h = "N. Korea fires ballistic missile into East Sea: JCS";
        vec![
            (
                "00000000000000a1".into(),
                "https://en.yna.co.kr/view/AEN20230517000100315".into(),
                h.to_string(),
                NK_FIRST.to_string(),
                1_000_000,
            ),
            (
                "00000000000000a2".into(),
                "https://en.yna.co.kr/view/AEN20230517000151315".into(),
                format!("(LEAD) {h}"),
                format!("{NK_FIRST} {NK_LEAD_MORE}"),
                1_000_000 + 900,
            ),
            (
                "00000000000000a3".into(),
                "https://en.yna.co.kr/view/AEN20230517000252315".into(),
                "(2nd LD) N. Korea fires SRBM into East Sea, flies 600 km: JCS".to_string(),
                format!("{NK_FIRST} {NK_2ND_LD_MORE}"),
                1_000_000 + 3 * 3600,
            ),
        ]
    }

    #[test]
    fn yonhap_lead_and_2nd_ld_update_the_first_report() {
        let mut d = DedupIndex::new(DedupConfig::default());
        let got: Vec<(DedupStatus, String, u32, Option<&str>)> = yonhap_sequence()
            .iter()
            .map(|(id, link, title, body, now)| {
                let (x, _) = d.observe(&input(id, "yonhap-nk", link, title, body, *now));
                (x.status, x.cluster, x.revision, x.matched_by)
            })
            .collect();
        let c = "00000000000000a1".to_string();
        assert_eq!(
            got,
            [
                (DedupStatus::New, c.clone(), 0, None),
                (DedupStatus::Update, c.clone(), 1, Some("headline")),
                (DedupStatus::Update, c.clone(), 2, Some("shingles")),
            ]
        );
        // A short "(3rd LD)" item under the 2nd LD's headline: found by the headline alone.
        let (e, _) = d.observe(&input(
            "00000000000000a4",
            "yonhap-nk",
            "https://en.yna.co.kr/view/AEN20230517000353315",
            "(3rd LD) N. Korea fires SRBM into East Sea, flies 600 km: JCS",
            "The launch was the third this month.",
            1_000_000 + 5 * 3600,
        ));
        assert_eq!(
            (e.status, e.cluster, e.revision),
            (DedupStatus::Update, c, 3)
        );
        assert_eq!(e.cluster_state.updates, 3);
    }

    #[test]
    fn korean_breaking_then_combined_report_is_an_update() {
        let mut d = DedupIndex::new(DedupConfig::default());
        let (a, _) = d.observe(&input(
            "00000000000000b1",
            "yna-kr-nk",
            "https://www.yna.co.kr/view/AKR20230517001000504",
            "[속보] 북한, 동해상으로 탄도미사일 발사",
            "합참 \"북한, 동해상으로 탄도미사일 발사\"",
            2_000_000,
        ));
        let (b, _) = d.observe(&input(
            "00000000000000b2",
            "yna-kr-nk",
            "https://www.yna.co.kr/view/AKR20230517001051504",
            "북한, 동해상으로 탄도미사일 발사(종합)",
            "(서울=연합뉴스) 김귀근 기자 = 북한이 17일 동해상으로 탄도미사일을 발사했다고 합동참모본부가 밝혔다.",
            2_000_000 + 1200,
        ));
        assert_eq!(
            (a.status, b.status, b.revision, b.cluster.as_str()),
            (DedupStatus::New, DedupStatus::Update, 1, "00000000000000b1")
        );
    }

    #[test]
    fn reuters_update_2_joins_the_earlier_report() {
        let mut d = DedupIndex::new(DedupConfig::default());
        let first = "SEOUL, Nov 2 (Reuters) - North Korea fired at least 10 missiles off its \
            coasts on Wednesday, South Korea's military said, a day after Pyongyang warned of a \
            high price for U.S.-South Korean drills.";
        let (a, _) = d.observe(&input(
            "00000000000000c1",
            "reuters-world",
            "https://www.reuters.com/world/asia-pacific/north-korea-fires-missiles-2022-11-02/",
            "North Korea fires at least 10 missiles, South Korea says",
            first,
            3_000_000,
        ));
        let second = format!(
            "{first} One of the missiles landed near South Korea's territorial waters for the first time."
        );
        let (b, _) = d.observe(&input(
            "00000000000000c2",
            "reuters-world",
            "https://www.reuters.com/world/asia-pacific/north-korea-missile-lands-near-south-2022-11-02/",
            "UPDATE 2-North Korea missile lands near South Korean waters for first time",
            &second,
            3_000_000 + 2 * 3600,
        ));
        assert_eq!(a.status, DedupStatus::New);
        assert_eq!(
            (b.status, b.revision, b.cluster.as_str(), b.matched_by),
            (DedupStatus::Update, 1, "00000000000000c1", Some("shingles"))
        );
    }

    #[test]
    fn marker_item_about_another_story_stays_new() {
        let mut d = DedupIndex::new(DedupConfig::default());
        let (id, link, title, body, now) = &yonhap_sequence()[0];
        d.observe(&input(id, "yonhap-nk", link, title, body, *now));
        let (b, _) = d.observe(&input(
            "00000000000000d2",
            "yonhap-nk",
            "https://en.yna.co.kr/view/AEN20230517000400315",
            "(LEAD) Unification minister calls on N. Korea to return to dialogue",
            "SEOUL, May 17 (Yonhap) -- Unification Minister Kwon Young-se on Thursday urged \
            Pyongyang to come back to the negotiating table, saying Seoul remains open to \
            talks on humanitarian aid and family reunions.",
            now + 1800,
        ));
        assert_eq!(b.status, DedupStatus::New, "{b:?}");
        // A launch a week later under the same stock headline is a new story too.
        let (c, _) = d.observe(&input(
            "00000000000000d3",
            "yonhap-nk",
            "https://en.yna.co.kr/view/AEN20230524000100315",
            &format!("(URGENT) {title}"),
            &body.replace("May 17", "May 24"),
            now + 7 * 24 * 3600 - 3600,
        ));
        assert_eq!(c.status, DedupStatus::New, "{c:?}");
    }

    #[test]
    fn marker_updates_survive_a_restore_from_the_changelog() {
        let seq = yonhap_sequence();
        let mut d = DedupIndex::new(DedupConfig::default());
        let mut log = Vec::new();
        for (id, link, title, body, now) in &seq {
            let (_, rec) = d.observe(&input(id, "yonhap-nk", link, title, body, *now));
            // Through JSON, as the changelog topic carries it.
            let json = serde_json::to_vec(&rec).unwrap_or_default();
            log.push(serde_json::from_slice::<Remembered>(&json).ok());
        }
        assert!(log[1].as_ref().is_some_and(|r| r.update_of != 0));
        let mut r = DedupIndex::new(DedupConfig::default());
        for rec in log.iter().flatten() {
            r.restore(rec);
        }
        assert_eq!(r.len(), d.len());
        let t0 = seq[0].4;
        let later: [(&str, &str, &str, &str, i64); 4] = [
            // The 2nd LD delivered again: a duplicate of the story at revision 2.
            (&seq[2].0, &seq[2].1, &seq[2].2, &seq[2].3, t0 + 4 * 3600),
            // A "(3rd LD)" under the 2nd LD's headline.
            (
                "00000000000000a4",
                "https://en.yna.co.kr/view/AEN20230517000353315",
                "(3rd LD) N. Korea fires SRBM into East Sea, flies 600 km: JCS",
                "The launch was the third this month.",
                t0 + 5 * 3600,
            ),
            // Extended again under another headline: found by its fingerprints.
            (
                "00000000000000a5",
                "https://en.yna.co.kr/view/AEN20230517000454315",
                "(4th LD) S. Korea, U.S. condemn N. Korea launch",
                &format!("{NK_FIRST} {NK_2ND_LD_MORE} Seoul and Washington condemned it."),
                t0 + 6 * 3600,
            ),
            // The first report's headline and text under a new guid and link, without a
            // marker: as before, never joined within the feed.
            (
                "00000000000000a6",
                "https://en.yna.co.kr/view/AEN20230517000555315",
                "N. Korea fires ballistic missile into East Sea: JCS",
                NK_FIRST,
                t0 + 7 * 3600,
            ),
        ];
        let mut want = Vec::new();
        for (id, link, title, body, now) in later {
            let live = d.observe(&input(id, "yonhap-nk", link, title, body, now)).0;
            let restored = r.observe(&input(id, "yonhap-nk", link, title, body, now)).0;
            assert_eq!(
                (live.status, &live.cluster, live.revision, live.matched_by),
                (
                    restored.status,
                    &restored.cluster,
                    restored.revision,
                    restored.matched_by
                ),
                "{title}"
            );
            want.push((live.status, live.revision));
        }
        assert_eq!(
            want,
            [
                (DedupStatus::Duplicate, 2),
                (DedupStatus::Update, 3),
                (DedupStatus::Update, 4),
                (DedupStatus::New, 0),
            ]
        );
    }

    #[test]
    fn records_written_before_headlines_restore() {
        let old = r#"{"id":1,"feed":"afp","link":2,"text":3,"body":4,"anchors":[],"cluster":1,
            "revision":0,"seen":1000,"outlet":"afp","status":"new"}"#;
        let rec: Remembered = serde_json::from_str(old).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((rec.headline, rec.update_of), (0, 0));
        let mut r = DedupIndex::new(DedupConfig::default());
        r.restore(&rec);
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn short_texts_never_match_on_text() {
        let mut d = DedupIndex::new(DedupConfig::default());
        d.observe(&input(
            "0000000000000001",
            "a",
            "https://a/1",
            "Morning briefing",
            "Top stories today",
            1000,
        ));
        let (b, _) = d.observe(&input(
            "0000000000000002",
            "b",
            "https://b/1",
            "Morning briefing",
            "Top stories today",
            1000,
        ));
        assert_eq!(b.status, DedupStatus::New);
    }

    #[test]
    fn different_launches_are_different_stories() {
        let mut d = DedupIndex::new(DedupConfig::default());
        let one = "North Korea fired two short-range ballistic missiles into the East Sea on Tuesday, \
            South Korea's Joint Chiefs of Staff said, the third launch this month. The missiles flew \
            about 600 km at an altitude of 60 km, the JCS said, and landed outside Japan's exclusive economic zone.";
        let two = "North Korea fired an intercontinental ballistic missile into the East Sea on Friday, \
            South Korea's Joint Chiefs of Staff said, days after a US aircraft carrier arrived in Busan. \
            The missile flew about 1,000 km on a lofted trajectory, reaching 6,000 km in altitude, Japan said.";
        d.observe(&input(
            "0000000000000001",
            "afp",
            "https://a/1",
            "N. Korea fires missiles",
            one,
            1000,
        ));
        let (b, _) = d.observe(&input(
            "0000000000000002",
            "yonhap",
            "https://y/2",
            "N. Korea fires ICBM",
            two,
            600_000,
        ));
        assert_eq!(b.status, DedupStatus::New, "{b:?}");
    }

    #[test]
    fn window_forgets_old_stories() {
        let cfg = DedupConfig {
            window_secs: 3600,
            ..DedupConfig::default()
        };
        let mut d = DedupIndex::new(cfg);
        d.observe(&input(
            "0000000000000001",
            "afp",
            "https://a/1",
            "T",
            BODY,
            0,
        ));
        assert_eq!(d.len(), 1);
        let (b, _) = d.observe(&input(
            "0000000000000002",
            "x",
            "https://x/1",
            "U",
            "short",
            2 * 3600,
        ));
        assert_eq!(b.status, DedupStatus::New);
        assert_eq!(d.len(), 1, "the old story left the window");
        let (c, _) = d.observe(&input(
            "0000000000000001",
            "afp",
            "https://a/1",
            "T",
            BODY,
            2 * 3600 + 60,
        ));
        assert_eq!(c.status, DedupStatus::New);
    }

    #[test]
    fn restore_from_changelog_remembers_everything() {
        let mut d = DedupIndex::new(DedupConfig::default());
        let mut log = Vec::new();
        log.push(
            d.observe(&input(
                "0000000000000001",
                "afp",
                "https://a/1",
                "T",
                BODY,
                1000,
            ))
            .1,
        );
        let copy = format!("Share Tweet {BODY}");
        log.push(
            d.observe(&input(
                "0000000000000002",
                "digest",
                "https://b/1",
                "X",
                &copy,
                1100,
            ))
            .1,
        );
        let mut r = DedupIndex::new(DedupConfig::default());
        for rec in &log {
            r.restore(rec);
        }
        let (a, _) = r.observe(&input(
            "0000000000000001",
            "afp",
            "https://a/1",
            "T",
            BODY,
            1200,
        ));
        assert_eq!(a.status, DedupStatus::Duplicate);
        let (b, _) = r.observe(&input(
            "0000000000000003",
            "third",
            "https://c/1",
            "Y",
            BODY,
            1300,
        ));
        assert_eq!(b.status, DedupStatus::NearDuplicate);
        assert_eq!(b.cluster, "0000000000000001");
        assert_eq!(b.cluster_state.copies, 3);
    }
}
