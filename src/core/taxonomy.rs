//! The taxonomy file: raw TOML → validated, compiled [`Taxonomy`] ready for the tagger.
//!
//! Format and semantics: `docs/TAXONOMY.md`. Every error is collected (not just the first)
//! with the file and line:column it comes from.

use std::collections::HashMap;
use std::fmt;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use serde::Deserialize;
use toml::Spanned;

use super::matcher::Matcher;
use super::text::{is_cjk, normalize_pattern};

/// One validation error, with its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// All errors found in one file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Line and column (1-based) of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    (line, col)
}

/// Converts a TOML deserialisation error into a located [`ConfigError`].
pub fn toml_error(file: &str, source: &str, err: &toml::de::Error) -> ConfigError {
    let (line, column) = err.span().map_or((1, 1), |s| line_col(source, s.start));
    ConfigError {
        file: file.to_string(),
        line,
        column,
        message: err.message().to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Raw file

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTaxonomy {
    version: u32,
    #[serde(default)]
    terms: HashMap<String, Vec<String>>,
    #[serde(default)]
    actor: Vec<Spanned<RawActor>>,
    #[serde(default)]
    topic: Vec<Spanned<RawTopic>>,
    #[serde(default)]
    alert: Vec<Spanned<RawAlert>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawActor {
    id: String,
    name: String,
    kind: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    korean_name: bool,
    #[serde(default)]
    context_aliases: Vec<String>,
    #[serde(default)]
    titles: Vec<String>,
    #[serde(default)]
    context_actors: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    examples: Vec<String>,
    #[serde(default)]
    counter_examples: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopic {
    id: String,
    name: String,
    threshold: f64,
    #[serde(default)]
    saturation: Option<f64>,
    #[serde(default)]
    signals: Vec<RawSignal>,
    #[serde(default)]
    require: Option<RawCond>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    examples: Vec<String>,
    #[serde(default)]
    counter_examples: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSignal {
    #[serde(default)]
    terms: Option<Vec<String>>,
    #[serde(default)]
    actors: Option<Vec<String>>,
    weight: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlert {
    id: String,
    name: String,
    severity: String,
    when: RawCond,
    #[serde(default)]
    cooldown_secs: u64,
    #[serde(default)]
    examples: Vec<String>,
    #[serde(default)]
    counter_examples: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCond {
    terms: Option<Vec<String>>,
    actors: Option<Vec<String>>,
    near: Option<Vec<Vec<String>>>,
    all: Option<Vec<RawCond>>,
    any: Option<Vec<RawCond>>,
    none: Option<Vec<RawCond>>,
    topic: Option<String>,
    min: Option<u32>,
    within: Option<u32>,
    #[serde(rename = "in")]
    place: Option<String>,
    min_score: Option<f64>,
}

// ---------------------------------------------------------------------------------------------
// Compiled form

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    Person,
    Country,
    Organization,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Person => "person",
            ActorKind::Country => "country",
            ActorKind::Organization => "organization",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Actor {
    pub id: String,
    pub name: String,
    pub kind: ActorKind,
    /// Actors whose full mention in the same field licenses this actor's context aliases
    /// ("Biden and Yoon hold summit": Yoon is Yoon Suk Yeol).
    pub context_actors: Vec<usize>,
    pub examples: Vec<String>,
    pub counter_examples: Vec<String>,
}

/// Where a condition looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Headline,
    Lead,
    HeadlineOrLead,
    Body,
    Anywhere,
}

#[derive(Debug, Clone)]
pub enum Cond {
    Terms {
        set: usize,
        min: u32,
        scope: Scope,
    },
    Actors {
        actors: ActorSet,
        min: u32,
        scope: Scope,
    },
    Near {
        a: usize,
        b: usize,
        within: u32,
        scope: Scope,
    },
    All(Vec<Cond>),
    Any(Vec<Cond>),
    None(Vec<Cond>),
    Topic {
        topic: usize,
        min_score: f64,
    },
}

#[derive(Debug, Clone)]
pub enum Signal {
    Terms { set: usize, weight: f64 },
    Actors { actors: ActorSet, weight: f64 },
}

/// A set of actors (by index), for membership tests: the tagger goes through the few actors a
/// story names, not through lists of dozens.
#[derive(Debug, Clone, Default)]
pub struct ActorSet {
    bits: Vec<u64>,
}

impl ActorSet {
    pub fn new(actors: impl IntoIterator<Item = usize>) -> ActorSet {
        let mut bits = Vec::new();
        for a in actors {
            if bits.len() <= a / 64 {
                bits.resize(a / 64 + 1, 0);
            }
            bits[a / 64] |= 1 << (a % 64);
        }
        ActorSet { bits }
    }

    pub fn contains(&self, actor: usize) -> bool {
        self.bits
            .get(actor / 64)
            .is_some_and(|w| w & (1 << (actor % 64)) != 0)
    }
}

#[derive(Debug, Clone)]
pub struct Topic {
    pub id: String,
    pub name: String,
    pub threshold: f64,
    pub saturation: f64,
    pub signals: Vec<Signal>,
    pub require: Option<Cond>,
    pub exclude: Option<usize>,
    pub examples: Vec<String>,
    pub counter_examples: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct AlertRule {
    pub id: String,
    pub name: String,
    pub severity: String,
    pub when: Cond,
    pub cooldown_secs: u64,
    pub examples: Vec<String>,
    pub counter_examples: Vec<String>,
}

/// What a pattern stands for (one pattern can stand for several things).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A full alias (or the name) of an actor.
    Actor(usize),
    /// A context-only alias of an actor.
    ContextAlias(usize),
    /// A title that licenses a following context alias of an actor.
    Title(usize),
    /// An exclusion phrase of an actor.
    ActorExclude(usize),
    /// A term of a term set.
    Term(usize),
}

/// A pattern while the taxonomy is compiled (what it stands for, and whether its ends need word
/// boundaries); the compiled taxonomy keeps only its expansions.
#[derive(Debug, Clone)]
struct Pattern {
    pub targets: Vec<Target>,
    /// The pattern starts / ends with a CJK character: no word boundary needed on that side.
    pub cjk_start: bool,
    pub cjk_end: bool,
}

/// A pattern inside another one (or the pattern itself), for one of its targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Expansion {
    /// Byte range in the outer pattern.
    pub start: u32,
    pub end: u32,
    /// Where its mentions go (see [`Taxonomy::slot`]).
    pub slot: u32,
    /// The text must have a word boundary before / after it: it is at the edge of a CJK
    /// pattern, whose matches need not start or end at a word.
    pub check_start: bool,
    pub check_end: bool,
    /// Spaces in the outer pattern before `start` (so its word index from the match's).
    pub words: u16,
}

/// A compiled taxonomy: actors, topics, alert rules and one automaton over all their patterns.
#[derive(Debug, Clone)]
pub struct Taxonomy {
    pub actors: Vec<Actor>,
    pub topics: Vec<Topic>,
    pub alerts: Vec<AlertRule>,
    /// Number of term sets (named lists and inline lists).
    pub term_sets: usize,
    /// Every pattern's expansions, one pattern after the other (see [`Taxonomy::expansions`]).
    expansions: Vec<Expansion>,
    /// Where each pattern's expansions are in `expansions`.
    expansion_ranges: Vec<(u32, u32)>,
    /// Per actor, the slots of the title sets that hold it (see `slot_of`).
    title_slots: Vec<Box<[u32]>>,
    /// Number of title sets.
    title_sets: usize,
    /// Leftmost-longest search over all patterns (`Found::pattern` is the index for
    /// [`Taxonomy::expansions`]).
    pub matcher: Matcher,
}

/// Where the mentions of a target go in the tagger: a slot per term set, then three per actor
/// (full alias, context alias, exclusion phrase), then one per title set. A title pattern
/// stands for a set of actors ("President" for some twenty): its mentions go once to the
/// slot of that set, not once per actor; `None` for a title here.
fn slot_of(term_sets: usize, t: Target) -> Option<usize> {
    let actor = |a: usize, k: usize| Some(term_sets + 3 * a + k);
    match t {
        Target::Term(s) => Some(s),
        Target::Actor(a) => actor(a, 0),
        Target::ContextAlias(a) => actor(a, 1),
        Target::ActorExclude(a) => actor(a, 2),
        Target::Title(_) => None,
    }
}

impl Taxonomy {
    /// The tagger's slot of a target (see `slot_of`): `None` for a title, whose mentions are in
    /// the slots of [`Taxonomy::title_slots`].
    pub fn slot(&self, t: Target) -> Option<usize> {
        slot_of(self.term_sets, t)
    }

    /// The slots of the title sets that hold an actor: its title mentions.
    pub fn title_slots(&self, actor: usize) -> &[u32] {
        &self.title_slots[actor]
    }

    /// The mentions a match of pattern `pattern` stands for, in (start, end) order: the
    /// matcher reports the longest match at a position, so a match also stands for every
    /// pattern inside it ("Washington" inside "Washington Post", "missile" inside "ballistic
    /// missile"). In one array for all patterns, which the tagger reads for every match.
    pub fn expansions(&self, pattern: u32) -> &[Expansion] {
        let (from, to) = self.expansion_ranges[pattern as usize];
        &self.expansions[from as usize..to as usize]
    }

    /// The actor a slot belongs to (`None` for the slot of a term set or a title set).
    pub fn actor_of_slot(&self, slot: usize) -> Option<usize> {
        slot.checked_sub(self.term_sets)
            .map(|s| s / 3)
            .filter(|&a| a < self.actors.len())
    }

    /// Number of slots: one per term set, three per actor, one per title set.
    pub fn slots(&self) -> usize {
        self.term_sets + 3 * self.actors.len() + self.title_sets
    }

    /// Parses, validates and compiles a taxonomy. `file` names the source in errors.
    pub fn from_toml(file: &str, source: &str) -> Result<Taxonomy, ConfigErrors> {
        let raw: RawTaxonomy =
            toml::from_str(source).map_err(|e| ConfigErrors(vec![toml_error(file, source, &e)]))?;
        Compiler::new(file, source).compile(raw)
    }

    /// Total number of patterns in the automaton (aliases, titles, terms, exclusions).
    pub fn pattern_count(&self) -> usize {
        self.expansion_ranges.len()
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

struct Compiler<'a> {
    file: &'a str,
    source: &'a str,
    errors: Vec<ConfigError>,
    /// Normalised pattern → index in `patterns`.
    pattern_ids: HashMap<String, usize>,
    patterns: Vec<(String, Pattern)>,
    named_sets: HashMap<String, Vec<String>>,
    /// Sorted normalised terms of a set → set index.
    set_ids: HashMap<Vec<String>, usize>,
    actor_ids: HashMap<String, usize>,
    topic_ids: HashMap<String, usize>,
}

/// Most terms one numeric range may stand for.
const MAX_RANGE: u32 = 200;

/// A term with one numeric range `{A..B}` ("{2006..2025} ICBM launch") stands for one term per
/// number, in order; a term without `..` inside braces is itself.
fn expand_range(term: &str) -> Result<Vec<String>, String> {
    let Some(open) = term.find('{') else {
        return Ok(vec![term.to_string()]);
    };
    let Some(len) = term[open..].find('}') else {
        return Ok(vec![term.to_string()]);
    };
    let inner = &term[open + 1..open + len];
    let Some((a, b)) = inner.split_once("..") else {
        return Ok(vec![term.to_string()]);
    };
    let (prefix, suffix) = (&term[..open], &term[open + len + 1..]);
    let another = suffix.find('{').and_then(|o| {
        suffix[o..]
            .find('}')
            .map(|l| suffix[o..o + l].contains(".."))
    });
    if another == Some(true) {
        return Err("a term may hold one range `{A..B}` only".to_string());
    }
    let bad = || format!("`{{{inner}}}` is not a range of whole numbers `{{A..B}}` with A <= B");
    let (a, b): (u32, u32) = match (a.trim().parse(), b.trim().parse()) {
        (Ok(a), Ok(b)) if a <= b => (a, b),
        _ => return Err(bad()),
    };
    if b - a >= MAX_RANGE {
        return Err(format!(
            "`{{{inner}}}` stands for {} terms, more than {MAX_RANGE}",
            b - a + 1
        ));
    }
    Ok((a..=b).map(|n| format!("{prefix}{n}{suffix}")).collect())
}

impl<'a> Compiler<'a> {
    fn new(file: &'a str, source: &'a str) -> Self {
        Compiler {
            file,
            source,
            errors: Vec::new(),
            pattern_ids: HashMap::new(),
            patterns: Vec::new(),
            named_sets: HashMap::new(),
            set_ids: HashMap::new(),
            actor_ids: HashMap::new(),
            topic_ids: HashMap::new(),
        }
    }

    fn error(&mut self, offset: usize, message: String) {
        let (line, column) = line_col(self.source, offset);
        self.errors.push(ConfigError {
            file: self.file.to_string(),
            line,
            column,
            message,
        });
    }

    fn add_pattern(&mut self, text: &str, target: Target) -> bool {
        let norm = normalize_pattern(text);
        if norm.is_empty() {
            return false;
        }
        let idx = match self.pattern_ids.get(&norm) {
            Some(&i) => i,
            None => {
                let i = self.patterns.len();
                let pattern = Pattern {
                    targets: Vec::new(),
                    cjk_start: norm.chars().next().is_some_and(is_cjk),
                    cjk_end: norm.chars().last().is_some_and(is_cjk),
                };
                self.patterns.push((norm.clone(), pattern));
                self.pattern_ids.insert(norm, i);
                i
            }
        };
        let targets = &mut self.patterns[idx].1.targets;
        if !targets.contains(&target) {
            targets.push(target);
        }
        true
    }

    /// Resolves a list of terms (with `@name` references) into a term set index.
    fn term_set(&mut self, at: usize, what: &str, terms: &[String]) -> Option<usize> {
        let mut expanded = Vec::new();
        for t in terms {
            if let Some(name) = t.strip_prefix('@') {
                match self.named_sets.get(name) {
                    Some(list) => expanded.extend(list.iter().cloned()),
                    None => {
                        self.error(at, format!("{what}: unknown term list `@{name}`"));
                        return None;
                    }
                }
            } else {
                expanded.push(t.clone());
            }
        }
        let mut ranged = Vec::with_capacity(expanded.len());
        for t in &expanded {
            match expand_range(t) {
                Ok(list) => ranged.extend(list),
                Err(e) => {
                    self.error(at, format!("{what}: term {t:?}: {e}"));
                    return None;
                }
            }
        }
        let mut norm: Vec<String> = ranged
            .iter()
            .map(|t| normalize_pattern(t))
            .filter(|t| !t.is_empty())
            .collect();
        norm.sort();
        norm.dedup();
        if norm.is_empty() {
            self.error(at, format!("{what}: the term list is empty"));
            return None;
        }
        if let Some(&i) = self.set_ids.get(&norm) {
            return Some(i);
        }
        let i = self.set_ids.len();
        for t in &norm {
            self.add_pattern(t, Target::Term(i));
        }
        self.set_ids.insert(norm, i);
        Some(i)
    }

    fn actor_refs(&mut self, at: usize, what: &str, ids: &[String]) -> Option<ActorSet> {
        let mut out = Vec::new();
        let mut ok = true;
        for id in ids {
            match self.actor_ids.get(id) {
                Some(&i) => out.push(i),
                None => {
                    self.error(at, format!("{what}: unknown actor `{id}`"));
                    ok = false;
                }
            }
        }
        if ids.is_empty() {
            self.error(at, format!("{what}: the actor list is empty"));
            ok = false;
        }
        ok.then(|| ActorSet::new(out))
    }

    fn scope(&mut self, at: usize, what: &str, place: &Option<String>) -> Scope {
        match place.as_deref() {
            None | Some("anywhere") => Scope::Anywhere,
            Some("headline") => Scope::Headline,
            Some("lead") => Scope::Lead,
            Some("headline_or_lead") => Scope::HeadlineOrLead,
            Some("body") => Scope::Body,
            Some(other) => {
                self.error(
                    at,
                    format!("{what}: `in = \"{other}\"` is not one of headline, lead, headline_or_lead, body, anywhere"),
                );
                Scope::Anywhere
            }
        }
    }

    fn cond(&mut self, at: usize, what: &str, c: &RawCond, alerts: bool) -> Option<Cond> {
        let forms = [
            c.terms.is_some(),
            c.actors.is_some(),
            c.near.is_some(),
            c.all.is_some(),
            c.any.is_some(),
            c.none.is_some(),
            c.topic.is_some(),
        ];
        let n = forms.iter().filter(|f| **f).count();
        if n != 1 {
            self.error(
                at,
                format!("{what}: a condition needs exactly one of terms, actors, near, all, any, none, topic (found {n})"),
            );
            return None;
        }
        let scope = self.scope(at, what, &c.place);
        let min = c.min.unwrap_or(1).max(1);
        if c.within.is_some() && c.near.is_none() {
            self.error(at, format!("{what}: `within` only goes with `near`"));
        }
        if c.min_score.is_some() && c.topic.is_none() {
            self.error(at, format!("{what}: `min_score` only goes with `topic`"));
        }
        if let Some(terms) = &c.terms {
            let set = self.term_set(at, what, terms)?;
            return Some(Cond::Terms { set, min, scope });
        }
        if let Some(ids) = &c.actors {
            let actors = self.actor_refs(at, what, ids)?;
            return Some(Cond::Actors { actors, min, scope });
        }
        if let Some(near) = &c.near {
            if near.len() != 2 {
                self.error(
                    at,
                    format!("{what}: `near` takes two term lists, [[A...], [B...]]"),
                );
                return None;
            }
            let a = self.term_set(at, &format!("{what}.near[0]"), &near[0]);
            let b = self.term_set(at, &format!("{what}.near[1]"), &near[1]);
            let Some(within) = c.within else {
                self.error(at, format!("{what}: `near` needs `within = N` (words)"));
                return None;
            };
            return Some(Cond::Near {
                a: a?,
                b: b?,
                within,
                scope,
            });
        }
        if let Some(topic) = &c.topic {
            if !alerts {
                self.error(
                    at,
                    format!("{what}: `topic` conditions are only allowed in alert rules"),
                );
                return None;
            }
            let Some(&t) = self.topic_ids.get(topic) else {
                self.error(at, format!("{what}: unknown topic `{topic}`"));
                return None;
            };
            let min_score = c.min_score.unwrap_or(0.0);
            if !(0.0..=1.0).contains(&min_score) {
                self.error(at, format!("{what}: min_score {min_score} is outside 0..1"));
            }
            return Some(Cond::Topic {
                topic: t,
                min_score,
            });
        }
        let (list, kind) = if let Some(l) = &c.all {
            (l, "all")
        } else if let Some(l) = &c.any {
            (l, "any")
        } else {
            (c.none.as_ref()?, "none")
        };
        if list.is_empty() {
            self.error(at, format!("{what}: `{kind}` is empty"));
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for (i, sub) in list.iter().enumerate() {
            match self.cond(at, &format!("{what}.{kind}[{i}]"), sub, alerts) {
                Some(c) => out.push(c),
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        Some(match kind {
            "all" => Cond::All(out),
            "any" => Cond::Any(out),
            _ => Cond::None(out),
        })
    }

    /// The expansions of pattern `i` (see [`Taxonomy::expansions`]), `all` being an overlapping
    /// search over every pattern.
    /// `title_slot` is the slot of each pattern's title set (if it is a title).
    fn expansions(
        &self,
        all: &AhoCorasick,
        i: usize,
        term_sets: usize,
        title_slot: &[Option<u32>],
    ) -> Vec<Expansion> {
        let (text, outer) = &self.patterns[i];
        let bytes = text.as_bytes();
        let cjk = text.chars().any(is_cjk);
        let mut out = Vec::new();
        for m in all.find_overlapping_iter(text.as_str()) {
            let inner_index = m.pattern().as_usize();
            let inner = &self.patterns[inner_index].1;
            let (start, end) = (m.start(), m.end());
            // Inside the pattern, a word pattern must sit on word boundaries of the pattern
            // ("korea" in "north korea", not "or" in "north"). At the pattern's edges it
            // depends on the text: a word pattern's matches are whole words, a CJK
            // pattern's are checked there.
            let start_ok = start == 0 || bytes[start - 1] == b' ' || inner.cjk_start;
            let end_ok = end == bytes.len() || bytes[end] == b' ' || inner.cjk_end;
            if !start_ok || !end_ok {
                continue;
            }
            let whole = start == 0 && end == bytes.len();
            for &t in &inner.targets {
                // A name of an actor inside a full name of the same actor is the same mention
                // (the tagger would drop it); a word pattern's match always stands, so it
                // can be dropped here.
                let same_actor = match t {
                    Target::Actor(a) | Target::ContextAlias(a) => {
                        outer.targets.contains(&Target::Actor(a))
                    }
                    _ => false,
                };
                if !whole && !cjk && same_actor {
                    continue;
                }
                let Some(slot) = slot_of(term_sets, t)
                    .map(|s| s as u32)
                    .or(title_slot[inner_index])
                else {
                    continue;
                };
                // (One expansion per title set: the duplicates go below.)
                out.push(Expansion {
                    start: start as u32,
                    end: end as u32,
                    slot,
                    check_start: cjk && start == 0 && !inner.cjk_start,
                    check_end: cjk && end == bytes.len() && !inner.cjk_end,
                    words: bytes[..start].iter().filter(|&&b| b == b' ').count() as u16,
                });
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    fn compile(mut self, raw: RawTaxonomy) -> Result<Taxonomy, ConfigErrors> {
        if raw.version != 1 {
            self.error(
                0,
                format!("version {} is not supported (expected 1)", raw.version),
            );
        }
        self.named_sets = raw.terms.clone();
        for (name, list) in &raw.terms {
            if list.iter().any(|t| t.starts_with('@')) {
                self.error(
                    0,
                    format!("terms.{name}: term lists cannot reference other lists"),
                );
            }
        }

        // Actors first: topics and alerts refer to them.
        let mut actors = Vec::new();
        for spanned in &raw.actor {
            let at = spanned.span().start;
            let a = spanned.get_ref();
            let what = format!("actor `{}`", a.id);
            if !valid_id(&a.id) {
                self.error(
                    at,
                    format!("{what}: id must be lower-case letters, digits and '-'"),
                );
            }
            if self.actor_ids.insert(a.id.clone(), actors.len()).is_some() {
                self.error(at, format!("{what}: duplicate actor id"));
            }
            let kind = match a.kind.as_str() {
                "person" => ActorKind::Person,
                "country" => ActorKind::Country,
                "organization" => ActorKind::Organization,
                other => {
                    self.error(
                        at,
                        format!(
                            "{what}: kind `{other}` is not one of person, country, organization"
                        ),
                    );
                    ActorKind::Organization
                }
            };
            if a.korean_name && kind != ActorKind::Person {
                self.error(at, format!("{what}: korean_name only applies to persons"));
            }
            if !a.titles.is_empty() && a.context_aliases.is_empty() {
                self.error(
                    at,
                    format!("{what}: titles only matter with context_aliases"),
                );
            }
            if !a.context_actors.is_empty() && a.context_aliases.is_empty() {
                self.error(
                    at,
                    format!("{what}: context_actors only matter with context_aliases"),
                );
            }
            let idx = actors.len();
            let mut full: Vec<String> = vec![a.name.clone()];
            full.extend(a.aliases.iter().cloned());
            if a.korean_name {
                let generated: Vec<String> =
                    full.iter().filter_map(|n| korean_reversed(n)).collect();
                full.extend(generated);
            }
            for alias in &full {
                if !self.add_pattern(alias, Target::Actor(idx)) {
                    self.error(
                        at,
                        format!("{what}: alias `{alias}` is empty once normalised"),
                    );
                }
            }
            for alias in &a.context_aliases {
                if !self.add_pattern(alias, Target::ContextAlias(idx)) {
                    self.error(
                        at,
                        format!("{what}: context alias `{alias}` is empty once normalised"),
                    );
                }
            }
            for title in &a.titles {
                self.add_pattern(title, Target::Title(idx));
            }
            for phrase in &a.exclude {
                self.add_pattern(phrase, Target::ActorExclude(idx));
            }
            actors.push(Actor {
                id: a.id.clone(),
                name: a.name.clone(),
                kind,
                context_actors: Vec::new(),
                examples: a.examples.clone(),
                counter_examples: a.counter_examples.clone(),
            });
        }

        // Context actors name other actors, declared before or after.
        for (idx, spanned) in raw.actor.iter().enumerate() {
            let a = spanned.get_ref();
            for id in &a.context_actors {
                match self.actor_ids.get(id) {
                    Some(&b) if b != idx => actors[idx].context_actors.push(b),
                    Some(_) => self.error(
                        spanned.span().start,
                        format!("actor `{}`: context_actors names the actor itself", a.id),
                    ),
                    None => self.error(
                        spanned.span().start,
                        format!("actor `{}`: context_actors: unknown actor `{id}`", a.id),
                    ),
                }
            }
        }

        let mut topics = Vec::new();
        for spanned in &raw.topic {
            let at = spanned.span().start;
            let t = spanned.get_ref();
            let what = format!("topic `{}`", t.id);
            if !valid_id(&t.id) {
                self.error(
                    at,
                    format!("{what}: id must be lower-case letters, digits and '-'"),
                );
            }
            if self.topic_ids.insert(t.id.clone(), topics.len()).is_some() {
                self.error(at, format!("{what}: duplicate topic id"));
            }
            if !(0.0..=1.0).contains(&t.threshold) {
                self.error(
                    at,
                    format!("{what}: threshold {} is outside 0..1", t.threshold),
                );
            }
            let saturation = t.saturation.unwrap_or(3.0);
            if saturation <= 0.0 || !saturation.is_finite() {
                self.error(at, format!("{what}: saturation must be a positive number"));
            }
            if t.signals.is_empty() {
                self.error(at, format!("{what}: a topic needs at least one signal"));
            }
            let mut signals = Vec::new();
            for (i, s) in t.signals.iter().enumerate() {
                let swhat = format!("{what}.signals[{i}]");
                if !s.weight.is_finite() || s.weight <= 0.0 {
                    self.error(at, format!("{swhat}: weight must be a positive number"));
                }
                match (&s.terms, &s.actors) {
                    (Some(terms), None) => {
                        if let Some(set) = self.term_set(at, &swhat, terms) {
                            signals.push(Signal::Terms {
                                set,
                                weight: s.weight,
                            });
                        }
                    }
                    (None, Some(ids)) => {
                        if let Some(actors) = self.actor_refs(at, &swhat, ids) {
                            signals.push(Signal::Actors {
                                actors,
                                weight: s.weight,
                            });
                        }
                    }
                    _ => self.error(
                        at,
                        format!("{swhat}: a signal has exactly one of `terms` or `actors`"),
                    ),
                }
            }
            let require = t
                .require
                .as_ref()
                .and_then(|c| self.cond(at, &format!("{what}.require"), c, false));
            let exclude = if t.exclude.is_empty() {
                None
            } else {
                self.term_set(at, &format!("{what}.exclude"), &t.exclude)
            };
            topics.push(Topic {
                id: t.id.clone(),
                name: t.name.clone(),
                threshold: t.threshold,
                saturation,
                signals,
                require,
                exclude,
                examples: t.examples.clone(),
                counter_examples: t.counter_examples.clone(),
            });
        }

        let mut alerts = Vec::new();
        let mut alert_ids = HashMap::new();
        for spanned in &raw.alert {
            let at = spanned.span().start;
            let a = spanned.get_ref();
            let what = format!("alert `{}`", a.id);
            if !valid_id(&a.id) {
                self.error(
                    at,
                    format!("{what}: id must be lower-case letters, digits and '-'"),
                );
            }
            if alert_ids.insert(a.id.clone(), ()).is_some() {
                self.error(at, format!("{what}: duplicate alert id"));
            }
            if !matches!(a.severity.as_str(), "info" | "warning" | "critical") {
                self.error(
                    at,
                    format!(
                        "{what}: severity `{}` is not one of info, warning, critical",
                        a.severity
                    ),
                );
            }
            if let Some(when) = self.cond(at, &format!("{what}.when"), &a.when, true) {
                alerts.push(AlertRule {
                    id: a.id.clone(),
                    name: a.name.clone(),
                    severity: a.severity.clone(),
                    when,
                    cooldown_secs: a.cooldown_secs,
                    examples: a.examples.clone(),
                    counter_examples: a.counter_examples.clone(),
                });
            }
        }

        if !self.errors.is_empty() {
            self.errors.sort_by_key(|e| (e.line, e.column));
            return Err(ConfigErrors(self.errors));
        }
        let build_error = |e: aho_corasick::BuildError| {
            ConfigErrors(vec![ConfigError {
                file: self.file.to_string(),
                line: 1,
                column: 1,
                message: format!("cannot build the matcher: {e}"),
            }])
        };
        // Which patterns occur inside which (an overlapping search over the patterns).
        let all = AhoCorasickBuilder::new()
            .kind(Some(AhoCorasickKind::NoncontiguousNFA))
            .match_kind(MatchKind::Standard)
            .build(self.patterns.iter().map(|(p, _)| p.as_str()))
            .map_err(build_error)?;
        let term_sets = self.set_ids.len();
        // The title sets: the actors each title pattern stands for, once per distinct set.
        let mut set_index: HashMap<Vec<usize>, u32> = HashMap::new();
        let mut title_slots: Vec<Vec<u32>> = vec![Vec::new(); actors.len()];
        let title_base = (term_sets + 3 * actors.len()) as u32;
        let title_slot: Vec<Option<u32>> = self
            .patterns
            .iter()
            .map(|(_, p)| {
                let set: Vec<usize> = p
                    .targets
                    .iter()
                    .filter_map(|t| match t {
                        Target::Title(a) => Some(*a),
                        _ => None,
                    })
                    .collect();
                if set.is_empty() {
                    return None;
                }
                let fresh = title_base + set_index.len() as u32;
                let slot = *set_index.entry(set.clone()).or_insert_with(|| {
                    for &a in &set {
                        title_slots[a].push(fresh);
                    }
                    fresh
                });
                Some(slot)
            })
            .collect();
        let mut expansions = Vec::new();
        let mut expansion_ranges = Vec::with_capacity(self.patterns.len());
        for i in 0..self.patterns.len() {
            let from = expansions.len() as u32;
            expansions.extend(self.expansions(&all, i, term_sets, &title_slot));
            expansion_ranges.push((from, expansions.len() as u32));
        }
        // Leftmost-longest search (see `matcher.rs`): whole words for Latin-script patterns,
        // an automaton for CJK ones.
        let matcher =
            Matcher::new(self.patterns.iter().map(|(p, _)| p.as_str())).map_err(build_error)?;
        Ok(Taxonomy {
            actors,
            topics,
            alerts,
            term_sets: self.set_ids.len(),
            expansions,
            expansion_ranges,
            title_slots: title_slots.into_iter().map(Vec::into_boxed_slice).collect(),
            title_sets: set_index.len(),
            matcher,
        })
    }
}

/// Given-name-first form of a Korean name written surname first: "Chung Eui-yong" →
/// "Eui-yong Chung". Only for Latin-script names of three words, or two with a hyphen.
fn korean_reversed(name: &str) -> Option<String> {
    if name.chars().any(is_cjk) {
        return None;
    }
    let words: Vec<&str> = name.split_whitespace().collect();
    let hyphenated = words.len() == 2 && words[1].contains('-');
    if words.len() == 3 || hyphenated {
        let mut out = words[1..].join(" ");
        out.push(' ');
        out.push_str(words[0]);
        Some(out)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
version = 1
[terms]
missile = ["missile", "missiles", "미사일"]
launch = ["fired", "launch"]

[[actor]]
id = "north-korea"
name = "North Korea"
kind = "country"
aliases = ["DPRK", "Pyongyang", "북한"]

[[topic]]
id = "missile-test"
name = "Missile test"
threshold = 0.5
signals = [{ terms = ["@missile"], weight = 1.0 }]
require = { near = [["@launch"], ["@missile"]], within = 5 }
"#;

    #[test]
    fn compiles_a_small_taxonomy() {
        let t = Taxonomy::from_toml("t.toml", SMALL).unwrap();
        assert_eq!(t.actors.len(), 1);
        assert_eq!(t.topics.len(), 1);
        assert!(t.pattern_count() >= 7);
    }

    #[test]
    fn reports_every_error_with_location() {
        let bad = r#"
version = 1
[[actor]]
id = "North Korea"
name = "x"
kind = "nation"

[[topic]]
id = "t"
name = "t"
threshold = 1.5
signals = [{ terms = ["@nothing"], weight = 1.0 }, { actors = ["ghost"], weight = 1.0 }]
require = { terms = ["a"], actors = ["b"] }
"#;
        let errs = Taxonomy::from_toml("bad.toml", bad).unwrap_err().0;
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        let joined = text.join("\n");
        assert!(
            joined.contains("bad.toml:3:1: actor `North Korea`: id must be"),
            "{joined}"
        );
        assert!(joined.contains("kind `nation`"), "{joined}");
        assert!(joined.contains("threshold 1.5"), "{joined}");
        assert!(joined.contains("unknown term list `@nothing`"), "{joined}");
        assert!(joined.contains("unknown actor `ghost`"), "{joined}");
        assert!(joined.contains("exactly one of"), "{joined}");
        assert!(errs.iter().any(|e| e.line == 8), "{joined}");
    }

    #[test]
    fn unknown_keys_are_errors_with_location() {
        let bad = "version = 1\n[[actor]]\nid = \"a\"\nname = \"A\"\nkind = \"person\"\nalias = [\"x\"]\n";
        let errs = Taxonomy::from_toml("k.toml", bad).unwrap_err().0;
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].message.contains("unknown field `alias`"),
            "{}",
            errs[0]
        );
        assert_eq!(errs[0].line, 6);
    }

    #[test]
    fn reverses_korean_names() {
        assert_eq!(
            korean_reversed("Chung Eui-yong").as_deref(),
            Some("Eui-yong Chung")
        );
        assert_eq!(
            korean_reversed("Kim Jong Un").as_deref(),
            Some("Jong Un Kim")
        );
        assert_eq!(korean_reversed("Suh Hoon"), None);
        assert_eq!(korean_reversed("김정은"), None);
    }

    #[test]
    fn a_numeric_range_stands_for_one_term_per_number() {
        assert_eq!(
            expand_range("{2016..2018} ICBM launch"),
            Ok(vec![
                "2016 ICBM launch".to_string(),
                "2017 ICBM launch".to_string(),
                "2018 ICBM launch".to_string()
            ])
        );
        assert_eq!(
            expand_range("{7..7}차 핵실험"),
            Ok(vec!["7차 핵실험".to_string()])
        );
        for plain in ["Kim Jong Un", "{not a range}", "a {b", "1..2"] {
            assert_eq!(expand_range(plain), Ok(vec![plain.to_string()]));
        }
        for bad in [
            "{2018..2016} test",
            "{a..b}",
            "{1..}",
            "{0..500}",
            "{1..2} x {3..4}",
        ] {
            assert!(expand_range(bad).is_err(), "{bad}");
        }
        // Found at load time, with the list's location.
        let src = "version = 1\n[terms]\nyears = [\"{2017..2016} launch\"]\n\n[[topic]]\nid = \"t\"\nname = \"T\"\nthreshold = 0.5\nsignals = [{ terms = [\"@years\"], weight = 1.0 }]\n";
        let errs = Taxonomy::from_toml("t.toml", src)
            .map(|_| ())
            .unwrap_err()
            .0;
        assert!(
            errs.iter().any(|e| e.message.contains("{2017..2016}")),
            "{errs:?}"
        );
    }
}
