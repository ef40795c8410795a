//! The pattern matcher of the tagger: leftmost-longest, non-overlapping matches of every
//! taxonomy pattern in a normalised text — exactly what `aho_corasick::AhoCorasick::find_iter`
//! reports with `MatchKind::LeftmostLongest`, only faster on long texts.
//!
//! Why not `find_iter` itself: a DFA over a few thousand patterns is tens of megabytes, so
//! nearly every byte's transition is a cache miss and the search waits on memory, one byte
//! after the other. Here a long text is cut into [`STREAMS`] pieces searched in lock step (one
//! byte of each piece per round), so those misses overlap. A piece other than the first starts
//! on a guess (a fresh search at its first byte); the results are then joined at a point where
//! the true search and the guess restart at the same byte, after which they are the same search
//! (see [`Matcher::find`]). When they never meet, the true search simply carries on alone, so
//! the result never depends on the cut.
//!
//! Automata above [`DFA_MAX_PATTERNS`] patterns are a contiguous NFA, searched in one stream
//! (the NFA is compact and computes more per byte, so it gains nothing from the lock step).

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::{dfa, nfa, Anchored, BuildError, MatchKind, StartKind};

/// Up to this many patterns the matcher is a DFA (about 7 KB per pattern with the shipped
/// taxonomy's alphabet, so some 140 MB at the limit).
pub const DFA_MAX_PATTERNS: usize = 20_000;

/// Number of pieces searched in lock step.
const STREAMS: usize = 4;

/// Texts shorter than this are searched in one stream (the joining is not worth it).
const MIN_INTERLEAVED_LEN: usize = 512;

/// One match: pattern index and byte range in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub pattern: u32,
    pub start: u32,
    pub end: u32,
}

/// A leftmost-longest automaton over a fixed list of patterns.
#[derive(Debug, Clone)]
pub struct Matcher {
    imp: Imp,
}

#[derive(Debug, Clone)]
enum Imp {
    Dfa(dfa::DFA),
    Nfa(nfa::contiguous::NFA),
}

impl Matcher {
    /// Builds the automaton; pattern `i` of the list is reported as `Found::pattern == i`.
    pub fn new<I, P>(patterns: I) -> Result<Matcher, BuildError>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<[u8]>,
    {
        let patterns: Vec<P> = patterns.into_iter().collect();
        // No prefilter: with this many patterns it rarely skips anything, and without it the
        // only special states are match and dead states (see `search`).
        let imp = if patterns.len() <= DFA_MAX_PATTERNS {
            Imp::Dfa(
                dfa::DFA::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .start_kind(StartKind::Unanchored)
                    .prefilter(false)
                    .build(&patterns)?,
            )
        } else {
            Imp::Nfa(
                nfa::contiguous::NFA::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .prefilter(false)
                    .build(&patterns)?,
            )
        };
        Ok(Matcher { imp })
    }

    /// Appends every match in `hay` to `out`, in order.
    pub fn find(&self, hay: &[u8], out: &mut Vec<Found>) {
        match &self.imp {
            Imp::Dfa(a) => {
                if let Ok(start) = a.start_state(Anchored::No) {
                    let w = Crate(a, start);
                    if hay.len() >= MIN_INTERLEAVED_LEN {
                        find_interleaved(&w, hay, out);
                    } else {
                        find_sequential(&w, hay, 0, out);
                    }
                }
            }
            Imp::Nfa(a) => {
                if let Ok(start) = a.start_state(Anchored::No) {
                    find_sequential(&Crate(a, start), hay, 0, out);
                }
            }
        }
    }

    /// Heap memory of the automaton, in bytes.
    pub fn memory_usage(&self) -> usize {
        match &self.imp {
            Imp::Dfa(a) => a.memory_usage(),
            Imp::Nfa(a) => a.memory_usage(),
        }
    }
}

/// What one byte does to a search.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Go,
    Match,
    Dead,
}

/// The walk over an automaton's states that the searches below need.
trait Walk {
    type State: Copy;
    fn start(&self) -> Self::State;
    fn step(&self, state: Self::State, byte: u8) -> (Self::State, Step);
    /// The match of match state `state` ending at `end`.
    fn found(&self, state: Self::State, end: usize) -> Found;
}

/// An automaton of the crate, searched as `try_find` does for an unanchored search without
/// prefilter (so the only special states are match and dead states).
struct Crate<'a, A>(&'a A, StateID);

impl<A: Automaton> Walk for Crate<'_, A> {
    type State = StateID;

    fn start(&self) -> StateID {
        self.1
    }

    #[inline(always)]
    fn step(&self, state: StateID, byte: u8) -> (StateID, Step) {
        let a = self.0;
        let next = a.next_state(Anchored::No, state, byte);
        let step = if !a.is_special(next) {
            Step::Go
        } else if a.is_dead(next) {
            Step::Dead
        } else if a.is_match(next) {
            Step::Match
        } else {
            Step::Go
        };
        (next, step)
    }

    fn found(&self, state: StateID, end: usize) -> Found {
        let pid = self.0.match_pattern(state, 0);
        Found {
            pattern: pid.as_u32(),
            start: (end - self.0.pattern_len(pid)) as u32,
            end: end as u32,
        }
    }
}

/// One leftmost-longest search starting at `at`: the last match state seen before the
/// automaton dies or the text ends.
fn search<W: Walk>(w: &W, hay: &[u8], at: usize) -> Option<Found> {
    let mut state = w.start();
    let mut last = None;
    for (i, &byte) in hay.iter().enumerate().skip(at) {
        let (next, step) = w.step(state, byte);
        state = next;
        match step {
            Step::Go => {}
            Step::Match => last = Some((state, i + 1)),
            Step::Dead => break,
        }
    }
    last.map(|(state, end)| w.found(state, end))
}

/// Searches from `at` to the end of `hay`, each search restarting where the previous match
/// ended.
fn find_sequential<W: Walk>(w: &W, hay: &[u8], mut at: usize, out: &mut Vec<Found>) {
    while let Some(m) = search(w, hay, at) {
        out.push(m);
        at = m.end as usize;
    }
}

/// One of the lock-step searches: it starts at `begin` and keeps starting new searches while
/// its restart point is before `stop`.
struct Stream<S> {
    begin: usize,
    stop: usize,
    /// The next byte its current search reads.
    i: usize,
    state: S,
    last: Option<(S, usize)>,
    /// Every match, in order: the restart points are `begin` and each match's end.
    found: Vec<Found>,
    /// Its last search found nothing: no pattern occurs at or after its last restart point.
    exhausted: bool,
    running: bool,
}

impl<S> Stream<S> {
    /// Where its last search started (its last restart point).
    fn restart(&self) -> usize {
        self.found.last().map_or(self.begin, |m| m.end as usize)
    }
}

fn find_interleaved<W: Walk>(w: &W, hay: &[u8], out: &mut Vec<Found>) {
    let piece = hay.len() / STREAMS;
    let mut streams: [Stream<W::State>; STREAMS] = std::array::from_fn(|k| Stream {
        begin: k * piece,
        stop: if k + 1 == STREAMS {
            hay.len()
        } else {
            (k + 1) * piece
        },
        i: k * piece,
        state: w.start(),
        last: None,
        found: Vec::new(),
        exhausted: false,
        running: true,
    });
    let mut running = STREAMS;
    while running > 0 {
        for s in streams.iter_mut().filter(|s| s.running) {
            // One byte of this stream's current search, or the end of that search.
            let mut ended = s.i == hay.len();
            if !ended {
                let (next, step) = w.step(s.state, hay[s.i]);
                s.state = next;
                s.i += 1;
                match step {
                    Step::Go => {}
                    Step::Match => s.last = Some((next, s.i)),
                    Step::Dead => ended = true,
                }
            }
            if !ended {
                continue;
            }
            match s.last.take() {
                Some((state, end)) => {
                    s.found.push(w.found(state, end));
                    s.i = end;
                    s.state = w.start();
                    if end >= s.stop {
                        s.running = false;
                        running -= 1;
                    }
                }
                None => {
                    s.exhausted = true;
                    s.running = false;
                    running -= 1;
                }
            }
        }
    }

    // Join: the first stream's searches are the true ones. The true search continues into the
    // next stream's piece until it restarts where that stream restarted; from there on that
    // stream's matches are the true ones.
    let (first, rest) = streams.split_first().expect("STREAMS > 0");
    out.extend_from_slice(&first.found);
    let mut at = first.restart();
    let mut exhausted = first.exhausted;
    for s in rest {
        if exhausted {
            return;
        }
        // `at` is at or after `s.begin` here: the previous stream stopped at or after it.
        let restart = s.restart();
        let synced = loop {
            if at == s.begin {
                out.extend_from_slice(&s.found);
                break true;
            }
            if let Ok(j) = s.found.binary_search_by_key(&at, |m| m.end as usize) {
                out.extend_from_slice(&s.found[j + 1..]);
                break true;
            }
            if at > restart {
                break false;
            }
            match search(w, hay, at) {
                Some(m) => {
                    out.push(m);
                    at = m.end as usize;
                }
                None => return,
            }
        };
        if synced {
            at = restart;
            exhausted = s.exhausted;
        } else if s.exhausted {
            // Nothing occurs after its last restart point, so nothing after `at` either.
            return;
        }
        // Otherwise the true search is past all of its restart points: on to the next one.
    }
    if !exhausted {
        find_sequential(w, hay, at, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aho_corasick::AhoCorasick;

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

    fn reference(patterns: &[String], hay: &str) -> Vec<Found> {
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(patterns)
            .unwrap();
        ac.find_iter(hay)
            .map(|m| Found {
                pattern: m.pattern().as_u32(),
                start: m.start() as u32,
                end: m.end() as u32,
            })
            .collect()
    }

    fn ours(m: &Matcher, hay: &str) -> Vec<Found> {
        let mut out = Vec::new();
        m.find(hay.as_bytes(), &mut out);
        out
    }

    /// Random texts over a tiny alphabet, so matches are dense, overlap and straddle the cuts
    /// between the lock-step pieces in every possible way.
    #[test]
    fn same_matches_as_aho_corasick_find_iter() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let words = [
            "a", "b", "ab", "ba", "aab", "abab", "b a", "a b a", "bbb", "북", "한",
        ];
        for round in 0..300 {
            let n = 1 + rng.below(40);
            let mut patterns: Vec<String> = (0..n)
                .map(|_| {
                    let k = 1 + rng.below(3);
                    (0..k)
                        .map(|_| words[rng.below(words.len())])
                        .collect::<Vec<_>>()
                        .join(if rng.below(2) == 0 { " " } else { "" })
                })
                .collect();
            patterns.sort();
            patterns.dedup();
            let len = [10, 600, 2_000, 5_000][round % 4];
            let mut hay = String::new();
            while hay.len() < len {
                hay.push_str(["a", "b", " ", "ab", "북한", "x", "  "][rng.below(7)]);
            }
            let m = Matcher::new(&patterns).unwrap();
            assert_eq!(ours(&m, &hay), reference(&patterns, &hay), "round {round}");
        }
    }

    #[test]
    fn sparse_matches_and_none() {
        let patterns = vec!["north korea".to_string(), "korea".to_string()];
        let m = Matcher::new(&patterns).unwrap();
        let filler = "the quick brown fox jumps over the lazy dog ".repeat(40);
        for hay in [
            filler.clone(),
            format!("{filler}north korea"),
            format!("north korea {filler}"),
            format!("{filler}south korea{filler}"),
            String::new(),
        ] {
            assert_eq!(ours(&m, &hay), reference(&patterns, &hay));
        }
    }

    #[test]
    fn large_pattern_lists_use_the_nfa() {
        let patterns: Vec<String> = (0..DFA_MAX_PATTERNS + 10)
            .map(|i| format!("w{i}"))
            .collect();
        let m = Matcher::new(&patterns).unwrap();
        assert!(matches!(m.imp, Imp::Nfa(_)));
        let hay = "w1 w22 xw333 w20005 w".repeat(50);
        assert_eq!(ours(&m, &hay), reference(&patterns, &hay));
    }
}
