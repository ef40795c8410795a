//! The pattern matcher of the tagger: the leftmost-longest, non-overlapping matches of the
//! taxonomy's patterns in a normalised text (see `text::normalize`: lower case, words
//! separated by single spaces).
//!
//! Patterns come in two kinds, searched differently:
//!
//! - **Word patterns** (no CJK character): whole words, so they match a run of whole words of
//!   the text. The text is cut at its spaces and each word looked up, by hash, in a table of
//!   the words the patterns use; a word that starts a pattern walks a trie of word ids
//!   (`north` → `korea`, `united` → `states` → `forces` → `korea`). Most words of a text
//!   start no pattern: a Bloom filter of the starting words (4 KB for the shipped taxonomy,
//!   in the L1 cache) turns them away before any probe of the table. Instead of a DFA
//!   transition per byte over an automaton of tens of megabytes: several times faster, and
//!   about the same speed whatever the number of patterns. Word boundaries come for free: a
//!   pattern cannot start or end inside a word. Each match carries the index of its first
//!   word, which the tagger's word distances use.
//! - **CJK patterns** (any Han, kana or Hangul character): Korean, Japanese and Chinese are
//!   matched without word boundaries, so they go to an Aho-Corasick automaton
//!   (leftmost-longest), run only over the words around non-ASCII words. The tagger checks
//!   the word boundaries a CJK pattern still needs on a Latin end.
//!
//! Each kind's matches are leftmost-longest among the patterns of that kind; the two lists
//! are merged in text order (a pattern mixing scripts, such as "g7 정상", may overlap a word
//! match: both are reported).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use aho_corasick::{AhoCorasick, BuildError, MatchKind};

use super::text::is_cjk;

/// One match: pattern index, byte range in the text, and the number of spaces before its
/// start (the index of the word it starts in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub pattern: u32,
    pub start: u32,
    pub end: u32,
    pub word: u32,
}

/// A leftmost-longest search over a fixed list of normalised patterns.
#[derive(Debug, Clone)]
pub struct Matcher {
    words: Words,
    cjk: Option<Cjk>,
}

/// The CJK patterns: an automaton, run over the parts of a text that hold non-ASCII words.
#[derive(Debug, Clone)]
struct Cjk {
    ac: AhoCorasick,
    /// The index in the list of each automaton pattern.
    index: Vec<u32>,
    /// The most all-ASCII words in a row in one of these patterns ("9 19 군사합의": 2): a
    /// match reaches at most this many words away from a non-ASCII word.
    reach: usize,
}

impl Cjk {
    /// The matches in the runs of words within `reach` words of a non-ASCII word. Every
    /// match lies in one such run; two non-ASCII words up to 2 × `reach` ASCII words apart
    /// share a run, so runs never overlap and each is searched on its own. The work is in
    /// proportion to the non-ASCII parts of the text.
    fn find(&self, hay: &[u8], out: &mut Vec<Found>) {
        // Start and end of the word holding byte `i` (words are separated by single spaces;
        // two spaces make an empty word, as in `split`).
        let start_of = |i: usize| {
            hay[..i]
                .iter()
                .rposition(|&b| b == b' ')
                .map_or(0, |k| k + 1)
        };
        let end_of = |i: usize| {
            hay[i..]
                .iter()
                .position(|&b| b == b' ')
                .map_or(hay.len(), |k| i + k)
        };
        // Spaces before `spaces.0`, counted as the runs go.
        let mut spaces = (0, 0u32);
        let mut word_of = |at: usize| {
            spaces.1 += hay[spaces.0..at].iter().filter(|&&b| b == b' ').count() as u32;
            spaces.0 = at;
            spaces.1
        };
        let mut from = 0;
        while let Some(p) = next_non_ascii(hay, from) {
            let mut lo = start_of(p);
            for _ in 0..self.reach {
                if lo == 0 {
                    break;
                }
                lo = start_of(lo - 1);
            }
            let mut hi = end_of(p);
            // Take in the next non-ASCII word while at most 2 × reach ASCII words away.
            while let Some(q) = next_non_ascii(hay, hi) {
                let gap = hay[hi..q].iter().filter(|&&b| b == b' ').count();
                if gap > 2 * self.reach + 1 {
                    break;
                }
                hi = end_of(q);
            }
            for _ in 0..self.reach {
                if hi >= hay.len() {
                    break;
                }
                hi = end_of(hi + 1);
            }
            out.extend(self.ac.find_iter(&hay[lo..hi]).map(|m| Found {
                pattern: self.index[m.pattern().as_usize()],
                start: (lo + m.start()) as u32,
                end: (lo + m.end()) as u32,
                word: word_of(lo + m.start()),
            }));
            from = hi;
        }
    }
}

/// The first byte at or after `from` that is not ASCII, eight bytes at a time.
fn next_non_ascii(hay: &[u8], from: usize) -> Option<usize> {
    let rest = hay.get(from..)?;
    let mut chunks = rest.chunks_exact(8);
    let mut at = from;
    for c in chunks.by_ref() {
        let x = u64::from_le_bytes(c.try_into().unwrap_or_default()) & HIGH;
        if x != 0 {
            return Some(at + (x.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b >= 0x80)
        .map(|k| at + k)
}

const NONE: u32 = u32::MAX;

/// The word patterns: a hash table of their words and a trie over word ids.
#[derive(Debug, Clone, Default)]
struct Words {
    /// Open addressing, `slots.len()` a power of two: (hash, word id, the trie node a pattern's
    /// first word leads to or `NONE` when no pattern starts with it), id `NONE` when empty.
    /// Node 0 is the root.
    slots: Vec<(u64, u32, u32)>,
    /// The words, by id (to confirm a hash hit): their first sixteen bytes (zero-padded),
    /// length and text.
    head: Vec<[u64; 2]>,
    len: Vec<u32>,
    text: Vec<Box<[u8]>>,
    /// A Bloom filter (two bits per word) of the words that start a pattern, small enough to
    /// stay in the L1 cache: most words of a text start no pattern, and this answers for them
    /// without a probe of `slots`.
    starts: Vec<u64>,
    /// Deeper edges: (node << 32 | word id) → child node.
    edges: HashMap<u64, u32, BuildHasherDefault<EdgeHasher>>,
    /// Pattern index ending at each node, or `NONE`.
    ends: Vec<u32>,
}

impl Matcher {
    /// Builds the matcher; pattern `i` of the list is reported as `Found::pattern == i`.
    /// Patterns are normalised text; empty patterns never match.
    pub fn new<I, P>(patterns: I) -> Result<Matcher, BuildError>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<str>,
    {
        let mut words = Words {
            ends: vec![NONE],
            ..Words::default()
        };
        let mut ids: HashMap<Box<[u8]>, u32> = HashMap::new();
        // The trie node a pattern's first word leads to, by word id (into the slots below).
        let mut first: Vec<u32> = Vec::new();
        let mut cjk_patterns = Vec::new();
        let mut cjk_index = Vec::new();
        for (i, p) in patterns.into_iter().enumerate() {
            let p = p.as_ref();
            if p.is_empty() {
                continue;
            }
            if p.chars().any(is_cjk) {
                cjk_patterns.push(p.to_string());
                cjk_index.push(i as u32);
                continue;
            }
            let mut node = 0u32;
            for (k, w) in p.split(' ').enumerate() {
                let next_id = ids.len() as u32;
                let id = *ids.entry(w.as_bytes().into()).or_insert_with(|| {
                    words.text.push(w.as_bytes().into());
                    first.push(NONE);
                    next_id
                });
                let fresh = words.ends.len() as u32;
                let child = if k == 0 {
                    &mut first[id as usize]
                } else {
                    words
                        .edges
                        .entry(u64::from(node) << 32 | u64::from(id))
                        .or_insert(NONE)
                };
                if *child == NONE {
                    *child = fresh;
                    words.ends.push(NONE);
                }
                node = *child;
            }
            // The first of equal patterns wins (they are normalised, so duplicates can occur).
            if words.ends[node as usize] == NONE {
                words.ends[node as usize] = i as u32;
            }
        }
        let size = (words.text.len() * 2).next_power_of_two().max(2);
        words.slots = vec![(0, NONE, NONE); size];
        for (id, w) in words.text.iter().enumerate() {
            let (h, head) = hash_word(w);
            words.head.push(head);
            words.len.push(w.len() as u32);
            let mut at = slot(h, size);
            while words.slots[at].1 != NONE {
                at = (at + 1) & (size - 1);
            }
            words.slots[at] = (h, id as u32, first[id]);
        }
        // Sixteen bits per starting word (at least 4 KB): about 0.5 % false positives.
        let starting = first.iter().filter(|&&f| f != NONE).count();
        let bits = (starting * 16).next_power_of_two().max(1 << 15);
        words.starts = vec![0; bits / 64];
        for (w, &f) in words.text.iter().zip(&first) {
            if f != NONE {
                let (a, b) = words.start_bits(hash_word(w).0);
                words.starts[a / 64] |= 1 << (a % 64);
                words.starts[b / 64] |= 1 << (b % 64);
            }
        }
        let cjk = if cjk_patterns.is_empty() {
            None
        } else {
            let reach = cjk_patterns
                .iter()
                .map(|p| {
                    p.split(' ')
                        .fold((0, 0), |(run, most), w| {
                            let run = if w.is_ascii() { run + 1 } else { 0 };
                            (run, most.max(run))
                        })
                        .1
                })
                .max()
                .unwrap_or(0);
            let ac = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&cjk_patterns)?;
            Some(Cjk {
                ac,
                index: cjk_index,
                reach,
            })
        };
        Ok(Matcher { words, cjk })
    }

    /// Appends every match in `hay` to `out`, in order of start.
    pub fn find(&self, hay: &[u8], out: &mut Vec<Found>) {
        let from = out.len();
        self.words.find(hay, out);
        if let Some(cjk) = &self.cjk {
            if !hay.is_ascii() {
                let words_end = out.len();
                cjk.find(hay, out);
                if words_end > from && out.len() > words_end {
                    out[from..].sort_by_key(|m| (m.start, m.end));
                }
            }
        }
    }

    /// Heap memory of the matcher, in bytes (approximate).
    pub fn memory_usage(&self) -> usize {
        let w = &self.words;
        w.slots.len() * 16
            + w.starts.len() * 8
            + w.text.iter().map(|t| t.len() + 16).sum::<usize>()
            + w.edges.capacity() * 16
            + w.ends.len() * 4
            + self
                .cjk
                .as_ref()
                .map_or(0, |c| c.ac.memory_usage() + c.index.len() * 4)
    }
}

/// A word of the text: its range, its hash and first bytes (see [`hash_word`]).
#[derive(Clone, Copy)]
struct Word {
    start: usize,
    end: usize,
    hash: (u64, [u64; 2]),
}

impl Words {
    /// The word starting at `at` (past the end of `hay`: an empty word at its end).
    #[inline(always)]
    fn read(&self, hay: &[u8], at: usize) -> Word {
        if at >= hay.len() {
            return Word {
                start: hay.len(),
                end: hay.len(),
                hash: (0, [0; 2]),
            };
        }
        let (end, hash) = next_word(hay, at);
        Word {
            start: at,
            end,
            hash,
        }
    }

    /// The two bits of the `starts` filter for a word hash.
    #[inline(always)]
    fn start_bits(&self, h: u64) -> (usize, usize) {
        let mask = self.starts.len() * 64 - 1;
        (h as usize & mask, (h >> 24) as usize & mask)
    }

    /// False when no pattern starts with the word of hash `h`; true when one does (or, rarely,
    /// when none does).
    #[inline(always)]
    fn may_start(&self, h: u64) -> bool {
        let (a, b) = self.start_bits(h);
        (self.starts[a / 64] >> (a % 64)) & (self.starts[b / 64] >> (b % 64)) & 1 != 0
    }

    /// The word's id and `first` node, if a pattern uses it.
    #[inline(always)]
    fn lookup(&self, w: &Word, hay: &[u8]) -> Option<(u32, u32)> {
        let (h, head) = w.hash;
        let text = &hay[w.start..w.end];
        let mask = self.slots.len() - 1;
        let mut at = slot(h, self.slots.len());
        let mut s = self.slots[at];
        loop {
            let (sh, id, first) = s;
            if id == NONE {
                return None;
            }
            if sh == h {
                let i = id as usize;
                if self.head[i] == head
                    && self.len[i] as usize == text.len()
                    && (text.len() <= 16 || self.text[i][16..] == text[16..])
                {
                    return Some((id, first));
                }
            }
            at = (at + 1) & mask;
            s = self.slots[at];
        }
    }

    /// Leftmost-longest matches of the word patterns. Most words start no pattern, which the
    /// `starts` filter tells without a probe of the table.
    fn find(&self, hay: &[u8], out: &mut Vec<Found>) {
        if self.text.is_empty() {
            return;
        }
        let (mut at, mut word) = (0, 0);
        while at < hay.len() {
            let cur = self.read(hay, at);
            if !self.may_start(cur.hash.0) {
                at = cur.end + 1;
                word += 1;
                continue;
            }
            let node = self.lookup(&cur, hay).map_or(NONE, |(_, first)| first);
            if node == NONE {
                at = cur.end + 1;
                word += 1;
                continue;
            }
            // Walk the trie over the following words; remember the last pattern end and its
            // number of words.
            let mut best = (self.ends[node as usize], cur.end, 1);
            let (mut node, mut words) = (node, 1);
            let mut w = self.read(hay, cur.end + 1);
            while w.start < hay.len() {
                let Some((id, _)) = self.lookup(&w, hay) else {
                    break;
                };
                match self.edges.get(&(u64::from(node) << 32 | u64::from(id))) {
                    Some(&child) => {
                        node = child;
                        words += 1;
                        if self.ends[node as usize] != NONE {
                            best = (self.ends[node as usize], w.end, words);
                        }
                        w = self.read(hay, w.end + 1);
                    }
                    None => break,
                }
            }
            if best.0 != NONE {
                out.push(Found {
                    pattern: best.0,
                    start: cur.start as u32,
                    end: best.1 as u32,
                    word,
                });
                at = best.1 + 1;
                word += best.2;
            } else {
                at = cur.end + 1;
                word += 1;
            }
        }
    }
}

#[inline]
fn slot(h: u64, size: usize) -> usize {
    (h >> 32) as usize & (size - 1)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;
const SPACES: u64 = ONES * b' ' as u64;
const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// The end of the word starting at `at` (the next space or the end of `hay`), its hash and
/// first sixteen bytes (see [`hash_word`]), eight bytes at a time.
#[inline(always)]
fn next_word(hay: &[u8], mut at: usize) -> (usize, (u64, [u64; 2])) {
    let mut h = 0u64;
    let mut head = [0u64; 2];
    let mut chunk = 0;
    loop {
        let x = match hay.get(at..at + 8) {
            Some(b) => u64::from_le_bytes(b.try_into().unwrap_or([b' '; 8])),
            None => {
                let mut b = [b' '; 8];
                b[..hay.len() - at].copy_from_slice(&hay[at..]);
                u64::from_le_bytes(b)
            }
        };
        // The lowest zero byte of `x ^ SPACES` is the first space (bits above it may be
        // false positives; only the lowest is used).
        let y = x ^ SPACES;
        let zero = y.wrapping_sub(ONES) & !y & HIGH;
        let (x, k) = if zero == 0 {
            (x, 8)
        } else {
            let k = (zero.trailing_zeros() / 8) as usize;
            (
                if k == 0 {
                    0
                } else {
                    x & (u64::MAX >> (64 - 8 * k))
                },
                k,
            )
        };
        if k > 0 {
            h = mix(h, x);
            if chunk < 2 {
                head[chunk] = x;
            }
            chunk += 1;
        }
        at += k;
        if k < 8 {
            return (at, (finish(h), head));
        }
    }
}

#[inline]
fn mix(h: u64, x: u64) -> u64 {
    (h.rotate_left(23) ^ x).wrapping_mul(K)
}

#[inline]
fn finish(h: u64) -> u64 {
    (h ^ (h >> 29)).wrapping_mul(K)
}

/// Hash of a word, as `next_word` computes it, and its first sixteen bytes (zero-padded).
fn hash_word(w: &[u8]) -> (u64, [u64; 2]) {
    let mut h = 0u64;
    let mut head = [0u64; 2];
    for (i, chunk) in w.chunks(8).enumerate() {
        let mut b = [0u8; 8];
        b[..chunk.len()].copy_from_slice(chunk);
        let x = u64::from_le_bytes(b);
        if i < 2 {
            head[i] = x;
        }
        h = mix(h, x);
    }
    (finish(h), head)
}

/// The hasher of the trie's edge map: its keys are a node and a word id, not chosen by
/// whoever writes the text, so a multiply suffices.
#[derive(Default)]
struct EdgeHasher(u64);

impl Hasher for EdgeHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = mix(self.0, u64::from(b));
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.0 = finish(mix(self.0, x));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic PRNG (xorshift64*).
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
        }
    }

    /// The definition, written plainly: at each word (left to right), the longest word
    /// pattern made of the words starting there (the first listed among equal ones); after a
    /// match, the search goes on after it. Then the CJK patterns, leftmost-longest by
    /// `aho_corasick`'s own search.
    fn reference(patterns: &[String], hay: &str) -> Vec<Found> {
        let mut starts = Vec::new();
        let mut pos = 0;
        for w in hay.split(' ') {
            starts.push((pos, w));
            pos += w.len() + 1;
        }
        let mut out = Vec::new();
        let mut i = 0;
        while i < starts.len() {
            let mut best: Option<(usize, usize)> = None;
            for (pi, p) in patterns.iter().enumerate() {
                if p.is_empty() || p.chars().any(is_cjk) {
                    continue;
                }
                let pw: Vec<&str> = p.split(' ').collect();
                if i + pw.len() <= starts.len()
                    && pw.iter().zip(&starts[i..]).all(|(a, (_, b))| a == b)
                    && best.is_none_or(|(_, n)| pw.len() > n)
                {
                    best = Some((pi, pw.len()));
                }
            }
            match best {
                Some((pi, n)) => {
                    let (s, _) = starts[i];
                    let (ls, lw) = starts[i + n - 1];
                    out.push(Found {
                        pattern: pi as u32,
                        start: s as u32,
                        end: (ls + lw.len()) as u32,
                        word: i as u32,
                    });
                    i += n;
                }
                None => i += 1,
            }
        }
        let cjk: Vec<(usize, &String)> = patterns
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.is_empty() && p.chars().any(is_cjk))
            .collect();
        if !cjk.is_empty() {
            let ac = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(cjk.iter().map(|(_, p)| p))
                .unwrap();
            out.extend(ac.find_iter(hay).map(|m| Found {
                pattern: cjk[m.pattern().as_usize()].0 as u32,
                start: m.start() as u32,
                end: m.end() as u32,
                word: hay[..m.start()].matches(' ').count() as u32,
            }));
        }
        out.sort_by_key(|m| (m.start, m.end));
        out
    }

    fn ours(m: &Matcher, hay: &str) -> Vec<Found> {
        let mut out = Vec::new();
        m.find(hay.as_bytes(), &mut out);
        out
    }

    /// Random texts over a tiny vocabulary (short and longer-than-eight-byte words, Hangul),
    /// so matches are dense, overlap and nest in every way.
    #[test]
    fn same_matches_as_the_definition() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let words = [
            "a",
            "b",
            "ab",
            "ba",
            "aab",
            "abcdefgh",
            "abcdefghi",
            "abcdefghijklmnopq",
            "북한",
            "한",
            "x북",
        ];
        for round in 0..1000 {
            let n = 1 + rng.below(40);
            let patterns: Vec<String> = (0..n)
                .map(|_| {
                    let k = 1 + rng.below(3);
                    (0..k)
                        .map(|_| words[rng.below(words.len())])
                        .collect::<Vec<_>>()
                        .join(if rng.below(4) == 0 { "" } else { " " })
                })
                .collect();
            let len = [10, 600, 2_000][round % 3];
            let mut hay = String::new();
            while hay.len() < len {
                if !hay.is_empty() {
                    hay.push(' ');
                }
                hay.push_str(words[rng.below(words.len())]);
            }
            let m = Matcher::new(&patterns).unwrap();
            assert_eq!(ours(&m, &hay), reference(&patterns, &hay), "round {round}");
        }
    }

    /// The filter of starting words never turns away a word that starts a pattern, and turns
    /// away nearly all the others (here with 20,000 patterns, as a large taxonomy has).
    #[test]
    fn starting_word_filter() {
        let mut rng = Rng(7);
        let word = |rng: &mut Rng| -> String {
            let len = 2 + rng.below(14);
            (0..len)
                .map(|_| (b'a' + rng.below(26) as u8) as char)
                .collect()
        };
        let patterns: Vec<String> = (0..20_000)
            .map(|_| format!("{} {}", word(&mut rng), word(&mut rng)))
            .collect();
        let m = Matcher::new(&patterns).unwrap();
        let firsts: std::collections::HashSet<&str> = patterns
            .iter()
            .filter_map(|p| p.split(' ').next())
            .collect();
        for f in &firsts {
            assert!(m.words.may_start(hash_word(f.as_bytes()).0), "{f}");
        }
        let others: Vec<String> = (0..20_000)
            .map(|_| word(&mut rng))
            .filter(|w| !firsts.contains(w.as_str()))
            .collect();
        let passed = others
            .iter()
            .filter(|w| m.words.may_start(hash_word(w.as_bytes()).0))
            .count();
        assert!(passed * 100 < others.len(), "{passed} of {}", others.len());
    }

    #[test]
    fn whole_words_only() {
        let patterns = ["north korea", "korea", "u s", "south korea"];
        let m = Matcher::new(patterns).unwrap();
        let found = |hay: &str| -> Vec<(u32, String)> {
            ours(&m, hay)
                .iter()
                .map(|f| (f.pattern, hay[f.start as usize..f.end as usize].to_string()))
                .collect()
        };
        let s = |x: &str| x.to_string();
        assert_eq!(found("north korean troops"), []);
        assert_eq!(found("daegu south korea"), [(3, s("south korea"))]);
        assert_eq!(
            found("the u s and north korea"),
            [(2, s("u s")), (0, s("north korea"))]
        );
        assert_eq!(found("koreas korea"), [(1, s("korea"))]);
        assert_eq!(found(""), []);
        // Words longer than eight bytes, and a pattern word that is a prefix of a text word.
        let m = Matcher::new(["denuclearization talks", "denuclear"]).unwrap();
        let hay = "denuclearization talks and denuclearization";
        assert_eq!(ours(&m, hay).len(), 1);
    }

    #[test]
    fn cjk_without_word_boundaries_and_mixed_order() {
        let patterns = ["북한", "미사일", "missile"];
        let m = Matcher::new(patterns).unwrap();
        let hay = "북한이 탄도미사일 missile 발사";
        let got: Vec<&str> = ours(&m, hay)
            .iter()
            .map(|f| &hay[f.start as usize..f.end as usize])
            .collect();
        assert_eq!(got, ["북한", "미사일", "missile"]);
    }

    #[test]
    fn many_patterns() {
        // 60,000 two-word patterns "wI xJ" with J = I mod 7.
        let patterns: Vec<String> = (0..60_000).map(|i| format!("w{i} x{}", i % 7)).collect();
        let m = Matcher::new(&patterns).unwrap();
        let hay = "w1 x1 w22 x1 xw333 w20005 x3 w59999 x2 w ".repeat(50);
        let got: Vec<u32> = ours(&m, hay.trim_end()).iter().map(|f| f.pattern).collect();
        assert_eq!(got, [1, 22, 59999].repeat(50));
    }
}
