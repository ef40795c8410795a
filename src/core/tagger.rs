//! The tagger: one pass of the compiled matcher over a story's headline, lead and body, then
//! actors (with context rules), topic scores and alert conditions, each with its evidence.
//!
//! Pure and synchronous: a [`Taxonomy`] and a [`Doc`] in, [`Tags`] out.

use std::cell::RefCell;

use compact_str::CompactString;

use super::matcher::Found;
use super::taxonomy::{ActorSet, Cond, Scope, Signal, Target, Taxonomy};
use super::text::{normalize_into, Cursors, Normalized};
use crate::story::{ActorTag, Evidence, Field, TopicTag};

/// How many evidence items an actor or topic carries at most.
const MAX_EVIDENCE: usize = 8;
/// Without a summary, the first this-many words of the content are the lead.
const LEAD_WORDS: u32 = 60;

/// The text of a story, markup already removed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Doc<'a> {
    pub title: &'a str,
    pub summary: &'a str,
    pub content: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Place {
    Headline,
    Lead,
    Body,
}

impl Place {
    fn weight(self) -> f64 {
        match self {
            Place::Headline => 3.0,
            Place::Lead => 2.0,
            Place::Body => 1.0,
        }
    }

    fn within(self, scope: Scope) -> bool {
        match scope {
            Scope::Anywhere => true,
            Scope::Headline => self == Place::Headline,
            Scope::Lead => self == Place::Lead,
            Scope::HeadlineOrLead => self != Place::Body,
            Scope::Body => self == Place::Body,
        }
    }
}

/// One match, in normalised coordinates of its field.
#[derive(Debug, Clone, Copy)]
struct Mention {
    field: u8,
    place: Place,
    start: u32,
    end: u32,
    pos2: u32,
    /// The range in the original field.
    orig_start: u32,
    orig_end: u32,
}

impl Mention {
    /// Text order (the place follows from it), as one number: field, start, end.
    fn key(&self) -> u64 {
        u64::from(self.field) << 62
            | u64::from(self.start & 0x3FFF_FFFF) << 32
            | u64::from(self.end)
    }
}

/// Merges `list` (in text order) into `best`, the first (at most) `MAX_EVIDENCE` distinct
/// mentions in text order, kept sorted. A list's mentions after the last one kept cannot
/// enter, so a list is read only as far as it can matter.
fn first_distinct(list: &[Mention], best: &mut Vec<Mention>) {
    for m in list {
        let key = m.key();
        let at = best.partition_point(|b| b.key() < key);
        if at == MAX_EVIDENCE {
            return;
        }
        if best.get(at).is_some_and(|b| b.key() == key) {
            continue;
        }
        if best.len() == MAX_EVIDENCE {
            best.pop();
        }
        best.insert(at, *m);
    }
}

/// Tags of one story.
#[derive(Debug, Clone, Default)]
pub struct Tags {
    pub actors: Vec<ActorTag>,
    /// Topics at or above their threshold, highest score first.
    pub topics: Vec<TopicTag>,
    /// Score of every topic of the taxonomy, by index (0 when it did not match).
    pub scores: Vec<f64>,
    /// Alert rules whose condition holds, by index, with evidence.
    pub alerts: Vec<(usize, Vec<Evidence>)>,
}

struct Fields<'a> {
    texts: [&'a str; 3],
    norms: [Normalized; 3],
}

impl Fields<'_> {
    fn evidence(&self, m: &Mention) -> Evidence {
        let text = self.texts[m.field as usize];
        let (s, e) = (m.orig_start as usize, m.orig_end as usize);
        Evidence {
            field: match m.field {
                0 => Field::Title,
                1 => Field::Summary,
                _ => Field::Content,
            },
            start: s,
            end: e,
            text: CompactString::from(text.get(s..e).unwrap_or_default()),
        }
    }
}

/// Buffers kept from one story to the next (one set per thread), so tagging allocates little
/// beyond what it returns. They hold the last story's mentions until the next story empties them.
#[derive(Debug, Default)]
struct Scratch {
    /// The normalised headline, summary and content.
    norms: [Normalized; 3],
    found: Vec<Found>,
    /// Per slot, its mentions in (field, start, end) order (empty unless the slot is in
    /// `touched`).
    by_slot: Vec<Vec<Mention>>,
    /// Slots with mentions, in order once `group` has run.
    touched: Vec<u32>,
    /// Per actor, its mentions after the context rules, in `actor_mentions`.
    actor_range: Vec<(u32, u32)>,
    actor_mentions: Vec<Mention>,
    /// Actors with mentions, in order.
    actors: Vec<u32>,
}

impl Scratch {
    fn push(&mut self, slot: u32, m: Mention) {
        let list = &mut self.by_slot[slot as usize];
        if list.is_empty() {
            self.touched.push(slot);
        }
        list.push(m);
    }

    /// Puts the slots in order, and each slot's mentions: matches come in text order, so they
    /// almost always are already; a CJK match that overlaps a word match can break the order
    /// or repeat a mention.
    fn group(&mut self) {
        self.touched.sort_unstable();
        let key = |m: &Mention| (m.field, m.start, m.end);
        for &slot in &self.touched {
            let g = &mut self.by_slot[slot as usize];
            if g.windows(2).any(|w| key(&w[0]) >= key(&w[1])) {
                g.sort_unstable_by_key(key);
                g.dedup_by_key(|m| key(m));
            }
        }
    }

    fn of(&self, slot: usize) -> &[Mention] {
        &self.by_slot[slot]
    }

    /// Empties the lists for the next story.
    fn reset(&mut self) {
        for &slot in &self.touched {
            self.by_slot[slot as usize].clear();
        }
        for &a in &self.actors {
            self.actor_range[a as usize] = (0, 0);
        }
        self.touched.clear();
        self.actors.clear();
        self.actor_mentions.clear();
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Tags a story: actors, topic scores, and which alert rules' conditions hold.
///
/// ```
/// use wirewatch::core::taxonomy::Taxonomy;
/// use wirewatch::core::tagger::{tag, Doc};
/// let tax = Taxonomy::from_toml("t.toml", r#"
///     version = 1
///     [[actor]]
///     id = "north-korea"
///     name = "North Korea"
///     kind = "country"
///     aliases = ["Pyongyang", "북한"]
/// "#).unwrap();
/// let tags = tag(&tax, &Doc { title: "Pyongyang fires missile", ..Doc::default() });
/// assert_eq!(tags.actors[0].id, "north-korea");
/// assert_eq!(tags.actors[0].evidence[0].text, "Pyongyang");
/// ```
pub fn tag(tax: &Taxonomy, doc: &Doc<'_>) -> Tags {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => tag_with(tax, doc, &mut scratch),
        Err(_) => tag_with(tax, doc, &mut Scratch::default()),
    })
}

fn tag_with(tax: &Taxonomy, doc: &Doc<'_>, sc: &mut Scratch) -> Tags {
    // The last story's lists (or those of a call that unwound half-way).
    sc.reset();
    let mut fields = Fields {
        texts: [doc.title, doc.summary, doc.content],
        norms: std::mem::take(&mut sc.norms),
    };
    for (norm, text) in fields.norms.iter_mut().zip(fields.texts) {
        normalize_into(text, norm);
    }
    // Content that repeats the summary at its start is not counted twice.
    let skip_content = {
        let (s, c) = (&fields.norms[1].text, &fields.norms[2].text);
        if !s.is_empty() && c.starts_with(s.as_str()) {
            s.len() as u32
        } else {
            0
        }
    };
    let has_summary = !fields.norms[1].is_empty();

    let slots = tax.slots();
    if sc.by_slot.len() < slots {
        sc.by_slot.resize_with(slots, Vec::new);
    }
    if sc.actor_range.len() < tax.actors.len() {
        sc.actor_range.resize(tax.actors.len(), (0, 0));
    }
    let mut found = std::mem::take(&mut sc.found);
    for (fi, norm) in fields.norms.iter().enumerate() {
        if norm.is_empty() {
            continue;
        }
        let hay = norm.text.as_bytes();
        found.clear();
        tax.matcher.find(hay, &mut found);
        let mut cursors = Cursors::default();
        let text = fields.texts[fi];
        // Word positions come from the matcher's word index unless unspaced CJK characters
        // count in them.
        let unspaced = norm.has_unspaced();
        for m in &found {
            // The mention of the last expansion (expansions come in (start, end) order).
            let mut last: Option<Mention> = None;
            for x in tax.expansions(m.pattern) {
                let (s, e) = ((m.start + x.start) as usize, (m.start + x.end) as usize);
                if (x.check_start && s > 0 && hay[s - 1] != b' ')
                    || (x.check_end && e < hay.len() && hay[e] != b' ')
                    || (fi == 2 && (s as u32) < skip_content)
                {
                    continue;
                }
                let mention = match last {
                    Some(l) if l.start == s as u32 && l.end == e as u32 => l,
                    _ => {
                        let (pos2, orig_start, orig_end) = if unspaced {
                            norm.locate(text, &mut cursors, s, e)
                        } else {
                            let (os, oe) = norm.range_from(text, &mut cursors, s, e);
                            let pos2 = 2 * (m.word + u32::from(x.words));
                            debug_assert_eq!(pos2, norm.pos2(s));
                            (pos2, os, oe)
                        };
                        let place = match fi {
                            0 => Place::Headline,
                            1 => Place::Lead,
                            _ if !has_summary && pos2 < LEAD_WORDS * 2 => Place::Lead,
                            _ => Place::Body,
                        };
                        Mention {
                            field: fi as u8,
                            place,
                            start: s as u32,
                            end: e as u32,
                            pos2,
                            orig_start: orig_start as u32,
                            orig_end: orig_end as u32,
                        }
                    }
                };
                last = Some(mention);
                sc.push(x.slot, mention);
            }
        }
    }
    sc.found = found;
    sc.group();
    resolve_actors(tax, sc);
    let tags = evaluate(tax, &fields, sc);
    sc.norms = fields.norms;
    tags
}

/// Actors, topics and alert conditions from the grouped mentions.
fn evaluate(tax: &Taxonomy, fields: &Fields<'_>, sc: &Scratch) -> Tags {
    let ctx = Ctx {
        tax,
        sc,
        scores: Vec::new(),
    };

    // Actors.
    let mut actors: Vec<ActorTag> = sc
        .actors
        .iter()
        .map(|&a| {
            let ms = ctx.actor(a as usize);
            let actor = &tax.actors[a as usize];
            ActorTag {
                id: CompactString::from(actor.id.as_str()),
                name: CompactString::from(actor.name.as_str()),
                kind: CompactString::const_new(actor.kind.as_str()),
                mentions: ms.len(),
                evidence: ms
                    .iter()
                    .take(MAX_EVIDENCE)
                    .map(|m| fields.evidence(m))
                    .collect(),
            }
        })
        .collect();
    actors.sort_by(|x, y| y.mentions.cmp(&x.mentions).then_with(|| x.id.cmp(&y.id)));

    // Topics.
    let mut scores = vec![0.0; tax.topics.len()];
    let mut topics = Vec::new();
    let mut evidence: Vec<Mention> = Vec::new();
    let mut heads: Vec<&[Mention]> = Vec::new();
    for (ti, topic) in tax.topics.iter().enumerate() {
        if let Some(set) = topic.exclude {
            if !ctx.set(set).is_empty() {
                continue;
            }
        }
        if let Some(req) = &topic.require {
            if !ctx.eval(req, &mut None) {
                continue;
            }
        }
        let mut raw_score = 0.0;
        for signal in &topic.signals {
            match signal {
                Signal::Terms { set, weight } => {
                    raw_score += ctx
                        .set(*set)
                        .iter()
                        .map(|m| weight * m.place.weight())
                        .sum::<f64>();
                }
                Signal::Actors { actors, weight } => {
                    for a in ctx.named(actors) {
                        raw_score += ctx
                            .actor(a)
                            .iter()
                            .map(|m| weight * m.place.weight())
                            .sum::<f64>();
                    }
                }
            }
        }
        let score = round3(1.0 - (-raw_score / topic.saturation).exp());
        scores[ti] = score;
        if score > 0.0 && score >= topic.threshold {
            // Evidence only for the topics that are tagged: the first mentions of its
            // signals in text order (headline, then lead, then body), each once. Every list
            // is in that order already, so they are merged, not sorted.
            heads.clear();
            for signal in &topic.signals {
                match signal {
                    Signal::Terms { set, .. } => heads.push(ctx.set(*set)),
                    Signal::Actors { actors, .. } => {
                        heads.extend(ctx.named(actors).map(|a| ctx.actor(a)))
                    }
                }
            }
            evidence.clear();
            for head in &heads {
                first_distinct(head, &mut evidence);
            }
            topics.push(TopicTag {
                id: CompactString::from(topic.id.as_str()),
                score,
                evidence: evidence
                    .iter()
                    .take(MAX_EVIDENCE)
                    .map(|m| fields.evidence(m))
                    .collect(),
            });
        }
    }
    topics.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));

    // Alert conditions (whether to fire is decided with the dedup status, elsewhere).
    let ctx = Ctx { scores, ..ctx };
    let mut alerts = Vec::new();
    for (ri, rule) in tax.alerts.iter().enumerate() {
        let mut ev = Some(Vec::new());
        if ctx.eval(&rule.when, &mut ev) {
            let mut ms = ev.unwrap_or_default();
            ms.sort_by_key(|m| (m.field, m.start));
            ms.dedup_by_key(|m| (m.field, m.start, m.end));
            alerts.push((
                ri,
                ms.iter()
                    .take(MAX_EVIDENCE)
                    .map(|m| fields.evidence(m))
                    .collect(),
            ));
        }
    }

    Tags {
        actors,
        topics,
        scores: ctx.scores,
        alerts,
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Applies the actor rules: exclusion phrases, context aliases (licensed by a full mention or
/// a title right before them), and nested matches of one actor counted once. Fills
/// `actor_mentions`, `actor_range` and `actors` from the grouped mentions.
fn resolve_actors(tax: &Taxonomy, sc: &mut Scratch) {
    let mut ms: Vec<Mention> = Vec::new();
    // Actors with a full or context mention, in order (touched slots are sorted, an actor's
    // slots together after the term sets').
    let mut i = sc
        .touched
        .partition_point(|&s| (s as usize) < tax.term_sets);
    while i < sc.touched.len() {
        let Some(a) = tax.actor_of_slot(sc.touched[i] as usize) else {
            break;
        };
        // Skip the rest of this actor's slots.
        while i < sc.touched.len() && tax.actor_of_slot(sc.touched[i] as usize) == Some(a) {
            i += 1;
        }
        let of = |t: Target| tax.slot(t).map_or(&[][..], |s| sc.of(s));
        let (full, context) = (of(Target::Actor(a)), of(Target::ContextAlias(a)));
        if full.is_empty() && context.is_empty() {
            continue;
        }
        let excluded = of(Target::ActorExclude(a));
        // A title of the actor right before the mention.
        let titled = |m: &Mention| {
            tax.title_slots(a).iter().any(|&s| {
                sc.of(s as usize)
                    .iter()
                    .any(|t| t.field == m.field && t.end + 1 == m.start)
            })
        };
        let not_excluded = |m: &Mention| !within_any(excluded, m);
        // A full mention of a companion actor in the same field ("Biden and Yoon"), the
        // context alias not being part of another actor's full name ("Kim" in "Kim Yo Jong").
        let companion = |m: &Mention| {
            tax.actors[a]
                .context_actors
                .iter()
                .any(|&b| full_mention_in(tax, sc, b, m.field))
                && !inside_other_name(tax, sc, a, m)
        };
        ms.clear();
        ms.extend(full.iter().filter(|m| not_excluded(m)));
        let has_full = !ms.is_empty();
        for m in context {
            if !not_excluded(m) {
                continue;
            }
            if has_full || titled(m) || companion(m) {
                ms.push(*m);
            }
        }
        if ms.is_empty() {
            continue;
        }
        // A match inside another match of the same actor is the same mention. (Mentions with
        // equal keys are equal, so an unstable sort gives the same result.)
        ms.sort_unstable_by_key(|m| (m.field, m.start, std::cmp::Reverse(m.end)));
        let lo = sc.actor_mentions.len() as u32;
        let mut last: Option<Mention> = None;
        for &m in &ms {
            if let Some(l) = last {
                if l.field == m.field && m.end <= l.end {
                    continue;
                }
            }
            sc.actor_mentions.push(m);
            last = Some(m);
        }
        sc.actor_range[a] = (lo, sc.actor_mentions.len() as u32);
        sc.actors.push(a as u32);
    }
}

/// Whether mention `m` lies within one of `spans` (an actor's exclusion phrases) of its field.
fn within_any(spans: &[Mention], m: &Mention) -> bool {
    spans
        .iter()
        .any(|x| x.field == m.field && x.start <= m.start && m.end <= x.end)
}

/// Whether actor `b` has a full mention (not inside one of its exclusion phrases) in `field`.
fn full_mention_in(tax: &Taxonomy, sc: &Scratch, b: usize, field: u8) -> bool {
    let of = |t: Target| tax.slot(t).map_or(&[][..], |s| sc.of(s));
    let excluded = of(Target::ActorExclude(b));
    of(Target::Actor(b))
        .iter()
        .any(|x| x.field == field && !within_any(excluded, x))
}

/// Whether mention `m` of actor `a` lies inside a longer full mention of another actor.
fn inside_other_name(tax: &Taxonomy, sc: &Scratch, a: usize, m: &Mention) -> bool {
    sc.touched.iter().any(|&s| {
        let s = s as usize;
        match tax.actor_of_slot(s) {
            Some(c) if c != a && tax.slot(Target::Actor(c)) == Some(s) => {
                sc.of(s).iter().any(|x| {
                    x.field == m.field
                        && x.start <= m.start
                        && m.end <= x.end
                        && (x.start, x.end) != (m.start, m.end)
                })
            }
            _ => false,
        }
    })
}

struct Ctx<'a> {
    tax: &'a Taxonomy,
    sc: &'a Scratch,
    scores: Vec<f64>,
}

impl Ctx<'_> {
    fn set(&self, set: usize) -> &[Mention] {
        self.sc.of(set)
    }

    /// The actors of `set` the story names, in order.
    fn named<'s>(&'s self, set: &'s ActorSet) -> impl Iterator<Item = usize> + 's {
        self.sc
            .actors
            .iter()
            .map(|&a| a as usize)
            .filter(move |&a| set.contains(a))
    }

    fn actor(&self, actor: usize) -> &[Mention] {
        debug_assert!(actor < self.tax.actors.len());
        let (lo, hi) = self.sc.actor_range[actor];
        &self.sc.actor_mentions[lo as usize..hi as usize]
    }

    /// Evaluates a condition; when `ev` is given, collects the mentions that made it hold.
    fn eval(&self, cond: &Cond, ev: &mut Option<Vec<Mention>>) -> bool {
        match cond {
            Cond::Terms { set, min, scope } => {
                let ms = self
                    .set(*set)
                    .iter()
                    .copied()
                    .filter(|m| m.place.within(*scope));
                match ev {
                    None => ms.take(*min as usize).count() >= *min as usize,
                    Some(ev) => {
                        let before = ev.len();
                        ev.extend(ms);
                        let ok = ev.len() - before >= *min as usize;
                        if !ok {
                            ev.truncate(before);
                        }
                        ok
                    }
                }
            }
            Cond::Actors { actors, min, scope } if ev.is_none() => {
                // Without evidence to collect, stop at the `min`-th actor found.
                self.named(actors)
                    .filter(|&a| self.actor(a).iter().any(|m| m.place.within(*scope)))
                    .take(*min as usize)
                    .count()
                    >= *min as usize
            }
            Cond::Actors { actors, min, scope } => {
                let mut distinct = 0;
                let before = ev.as_ref().map_or(0, Vec::len);
                for a in self.named(actors) {
                    if let Some(m) = self.actor(a).iter().find(|m| m.place.within(*scope)) {
                        distinct += 1;
                        if let Some(ev) = ev.as_mut() {
                            ev.push(*m);
                        }
                    }
                }
                let ok = distinct >= *min as usize;
                if !ok {
                    if let Some(ev) = ev.as_mut() {
                        ev.truncate(before);
                    }
                }
                ok
            }
            Cond::Near {
                a,
                b,
                within,
                scope,
            } => match near(self.set(*a), self.set(*b), *within * 2, *scope) {
                Some((x, y)) => {
                    if let Some(ev) = ev {
                        ev.push(x);
                        ev.push(y);
                    }
                    true
                }
                None => false,
            },
            Cond::All(cs) => {
                let mut local = ev.as_ref().map(|_| Vec::new());
                let ok = cs.iter().all(|c| self.eval(c, &mut local));
                if ok {
                    if let (Some(ev), Some(l)) = (ev, local) {
                        ev.extend(l);
                    }
                }
                ok
            }
            Cond::Any(cs) if ev.is_none() => cs.iter().any(|c| self.eval(c, &mut None)),
            Cond::Any(cs) => {
                let mut ok = false;
                for c in cs {
                    if self.eval(c, ev) {
                        ok = true;
                    }
                }
                ok
            }
            Cond::None(cs) => !cs.iter().any(|c| self.eval(c, &mut None)),
            Cond::Topic { topic, min_score } => {
                let s = self.scores.get(*topic).copied().unwrap_or(0.0);
                s > 0.0 && s >= *min_score
            }
        }
    }
}

/// The first mention `x` of `xs` (in their order) with a mention `y` of `ys` in the same field
/// at most `within2` word positions away, both within `scope`; and the first such `y`.
///
/// Both lists are in (field, start, end) order, and word positions grow with `start` in a
/// field, so the candidates for `y` are a run of `ys` found by binary search.
fn near(xs: &[Mention], ys: &[Mention], within2: u32, scope: Scope) -> Option<(Mention, Mention)> {
    if ys.is_empty() {
        return None;
    }
    for x in xs.iter().filter(|m| m.place.within(scope)) {
        let lo = x.pos2.saturating_sub(within2);
        let hi = x.pos2.saturating_add(within2);
        let from = ys.partition_point(|y| (y.field, y.pos2) < (x.field, lo));
        let found = ys[from..]
            .iter()
            .take_while(|y| y.field == x.field && y.pos2 <= hi)
            .find(|y| y.place.within(scope));
        if let Some(y) = found {
            return Some((*x, *y));
        }
    }
    None
}

/// "1 example fails", "3 examples fail": the count of [`failing_examples`] as the reload and
/// `replay --diff` report it.
pub fn examples_fail(n: usize) -> String {
    match n {
        1 => "1 example fails".to_string(),
        n => format!("{n} examples fail"),
    }
}

/// Runs the examples and counter-examples of every actor, topic and alert rule. Each example
/// is tagged as a headline, or as a headline and its lead when it holds a newline. Returns one
/// message per failure.
pub fn failing_examples(tax: &Taxonomy) -> Vec<String> {
    let mut failures = Vec::new();
    // An example is a headline, optionally followed by a newline and its lead (the summary),
    // for rules that read the lead: "Headline\nLead sentence."
    let headline = |text: &str| {
        let (title, summary) = text.split_once('\n').unwrap_or((text, ""));
        tag(
            tax,
            &Doc {
                title,
                summary,
                ..Doc::default()
            },
        )
    };
    for a in &tax.actors {
        for ex in &a.examples {
            if !headline(ex).actors.iter().any(|t| t.id == a.id) {
                failures.push(format!("actor `{}`: example does not match: {ex:?}", a.id));
            }
        }
        for ex in &a.counter_examples {
            if headline(ex).actors.iter().any(|t| t.id == a.id) {
                failures.push(format!("actor `{}`: counter-example matches: {ex:?}", a.id));
            }
        }
    }
    for t in &tax.topics {
        for ex in &t.examples {
            if !headline(ex).topics.iter().any(|x| x.id == t.id) {
                failures.push(format!("topic `{}`: example does not match: {ex:?}", t.id));
            }
        }
        for ex in &t.counter_examples {
            if headline(ex).topics.iter().any(|x| x.id == t.id) {
                failures.push(format!("topic `{}`: counter-example matches: {ex:?}", t.id));
            }
        }
    }
    for (i, r) in tax.alerts.iter().enumerate() {
        for ex in &r.examples {
            if !headline(ex).alerts.iter().any(|(j, _)| *j == i) {
                failures.push(format!("alert `{}`: example does not fire: {ex:?}", r.id));
            }
        }
        for ex in &r.counter_examples {
            if headline(ex).alerts.iter().any(|(j, _)| *j == i) {
                failures.push(format!("alert `{}`: counter-example fires: {ex:?}", r.id));
            }
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Topic evidence: merging lists one after the other into the first eight distinct
    /// mentions is taking all of them, in text order, once each, and the first eight.
    #[test]
    fn first_distinct_mentions_of_several_lists() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..2_000 {
            let lists: Vec<Vec<Mention>> = (0..next(6))
                .map(|_| {
                    let mut l: Vec<Mention> = (0..next(12))
                        .map(|_| {
                            let (field, start) = (next(3) as u8, next(40) as u32);
                            Mention {
                                field,
                                place: Place::Body,
                                start,
                                end: start + 1 + next(2) as u32,
                                pos2: 0,
                                orig_start: 0,
                                orig_end: 0,
                            }
                        })
                        .collect();
                    l.sort_by_key(Mention::key);
                    l.dedup_by_key(|m| m.key());
                    l
                })
                .collect();
            let mut ours = Vec::new();
            for l in &lists {
                first_distinct(l, &mut ours);
            }
            let mut all: Vec<u64> = lists.iter().flatten().map(Mention::key).collect();
            all.sort_unstable();
            all.dedup();
            all.truncate(MAX_EVIDENCE);
            assert_eq!(ours.iter().map(Mention::key).collect::<Vec<_>>(), all);
        }
    }

    const TAX: &str = r#"
version = 1
[terms]
missile = ["missile", "missiles", "ballistic missile", "projectile", "projectiles", "미사일", "ミサイル"]
launch = ["fired", "fires", "launched", "launches", "발사", "発射"]
meeting = ["met", "meeting", "talks"]

[[actor]]
id = "north-korea"
name = "North Korea"
kind = "country"
aliases = ["DPRK", "Pyongyang", "North Korean", "북한", "北朝鮮"]

[[actor]]
id = "united-states"
name = "United States"
kind = "country"
aliases = ["US", "U.S.", "Washington"]
exclude = ["Washington Post"]

[[actor]]
id = "kim-jong-un"
name = "Kim Jong Un"
kind = "person"
korean_name = true
aliases = ["김정은"]
context_aliases = ["Kim"]
titles = ["leader", "chairman"]

[[actor]]
id = "motegi"
name = "Toshimitsu Motegi"
kind = "person"
context_aliases = ["Motegi"]
titles = ["Foreign Minister", "Mr"]

[[topic]]
id = "missile-test"
name = "Missile test"
threshold = 0.5
signals = [{ terms = ["@missile"], weight = 1.0 }, { terms = ["@launch"], weight = 0.5 }]
require = { near = [["@launch"], ["@missile"]], within = 6 }
exclude = ["Samsung"]

[[topic]]
id = "north-korea"
name = "North Korea"
threshold = 0.4
signals = [{ actors = ["north-korea", "kim-jong-un"], weight = 1.0 }]

[[alert]]
id = "nk-launch"
name = "NK launch"
severity = "critical"
when = { all = [ { topic = "missile-test", min_score = 0.5 }, { actors = ["north-korea", "kim-jong-un"] }, { near = [["@launch"], ["@missile"]], within = 6, in = "headline_or_lead" } ] }
"#;

    fn tax() -> Taxonomy {
        Taxonomy::from_toml("t.toml", TAX).unwrap()
    }

    fn title(t: &str) -> Doc<'_> {
        Doc {
            title: t,
            ..Doc::default()
        }
    }

    fn ids(tags: &Tags) -> (Vec<&str>, Vec<&str>) {
        (
            tags.actors.iter().map(|a| a.id.as_str()).collect(),
            tags.topics.iter().map(|t| t.id.as_str()).collect(),
        )
    }

    #[test]
    fn projectiles_into_the_east_sea() {
        let t = tax();
        let tags = tag(
            &t,
            &title("Pyongyang fired two projectiles into the East Sea"),
        );
        let (actors, topics) = ids(&tags);
        assert_eq!(actors, ["north-korea"]);
        assert!(topics.contains(&"missile-test"), "{topics:?}");
        assert!(topics.contains(&"north-korea"));
        assert_eq!(tags.alerts.len(), 1);
        let ev = &tags.actors[0].evidence[0];
        assert_eq!((ev.start, ev.end, ev.text.as_str()), (0, 9, "Pyongyang"));
    }

    #[test]
    fn a_pattern_inside_a_word_does_not_hide_the_next_word() {
        // "U.S." normalises to "u s", which also occurs across "daegu south" and "ju seoul".
        let t = Taxonomy::from_toml(
            "t.toml",
            r#"
version = 1

[[actor]]
id = "south-korea"
name = "South Korea"
kind = "country"
aliases = ["Seoul"]

[[actor]]
id = "united-states"
name = "United States"
kind = "country"
aliases = ["U.S.", "U.S.A."]

[[actor]]
id = "nato"
name = "NATO"
kind = "organization"
aliases = ["Allies"]
"#,
        )
        .unwrap();
        for (text, at) in [
            ("Daegu, South Korea hosts the summit", 7),
            ("Jeju Seoul flights resume", 5),
            ("Gwangju South Korea", 8),
        ] {
            let tags = tag(&t, &title(text));
            assert_eq!(ids(&tags).0, ["south-korea"], "{text}");
            assert_eq!(tags.actors[0].evidence[0].start, at, "{text}");
        }
        let tags = tag(&t, &title("U.S. envoy in Seoul"));
        assert_eq!(ids(&tags).0, ["south-korea", "united-states"]);
        // "u s a" (U.S.A.) is a prefix of "u s allies": it must not hide "allies".
        let tags = tag(&t, &title("U.S. allies meet"));
        assert_eq!(ids(&tags).0, ["nato", "united-states"]);
    }

    #[test]
    fn a_title_licenses_the_actors_that_carry_it_only() {
        // "President" is a title of two actors, "Governor" of one, "Chairman" of a third.
        let t = Taxonomy::from_toml(
            "t.toml",
            r#"
version = 1

[[actor]]
id = "yoon"
name = "Yoon Suk Yeol"
kind = "person"
context_aliases = ["Yoon"]
titles = ["President"]

[[actor]]
id = "lee"
name = "Lee Jae-myung"
kind = "person"
context_aliases = ["Lee"]
titles = ["President", "Governor"]

[[actor]]
id = "kim"
name = "Kim Jong Un"
kind = "person"
context_aliases = ["Kim"]
titles = ["Chairman"]
"#,
        )
        .unwrap();
        let tags = tag(
            &t,
            &title("President Yoon met Governor Lee and President Kim"),
        );
        assert_eq!(ids(&tags).0, ["lee", "yoon"]);
        let tags = tag(
            &t,
            &title("President Lee and Chairman Kim, not Chairman Yoon"),
        );
        assert_eq!(ids(&tags).0, ["kim", "lee"]);
        let tags = tag(&t, &title("Yoon and Lee, President of nothing"));
        assert!(tags.actors.is_empty());
    }

    #[test]
    fn samsung_launch_is_not_a_missile_test() {
        let tags = tag(&tax(), &title("Samsung launches a phone in South Korea"));
        assert!(tags.topics.is_empty());
        assert!(tags.alerts.is_empty());
    }

    #[test]
    fn name_variants_and_context_aliases() {
        let t = tax();
        let tags = tag(&t, &title("Jong-un Kim's sister warns Seoul"));
        assert_eq!(ids(&tags).0, ["kim-jong-un"]);
        // A bare surname without a full mention or title does not count...
        let tags = tag(&t, &title("Kim wins the golf open"));
        assert!(tags.actors.is_empty());
        // ...but after a title it does, and after a full mention too, once per mention.
        let tags = tag(&t, &title("Foreign Minister Motegi arrives"));
        assert_eq!(ids(&tags).0, ["motegi"]);
        let doc = Doc {
            title: "Kim Jong Un visits factory",
            summary: "Kim praised workers.",
            content: "",
        };
        let tags = tag(&t, &doc);
        assert_eq!(tags.actors[0].mentions, 2);
    }

    #[test]
    fn a_leader_named_beside_licenses_a_short_name() {
        let t = Taxonomy::from_toml(
            "t.toml",
            r#"
version = 1

[[actor]]
id = "yoon"
name = "Yoon Suk Yeol"
kind = "person"
context_aliases = ["Yoon"]
context_actors = ["biden"]

[[actor]]
id = "biden"
name = "Joe Biden"
kind = "person"
aliases = ["Biden"]

[[actor]]
id = "yoon-mi-hyang"
name = "Yoon Mi-hyang"
kind = "person"
"#,
        )
        .unwrap();
        let got = |h: &str, lead: &str| {
            let doc = Doc {
                title: h,
                summary: lead,
                content: "",
            };
            let tags = tag(&t, &doc);
            ids(&tags)
                .0
                .into_iter()
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(got("Biden and Yoon hold summit", ""), ["biden", "yoon"]);
        // Alone, or with the companion in another field, the short name does not count.
        assert!(got("Yoon wins the match", "").is_empty());
        assert_eq!(
            got("Yoon wins the match", "Biden congratulated him."),
            ["biden"]
        );
        // Nor as part of another actor's full name.
        assert_eq!(
            got("Biden meets Yoon Mi-hyang", ""),
            ["biden", "yoon-mi-hyang"]
        );
        let err = Taxonomy::from_toml(
            "t.toml",
            "version = 1\n[[actor]]\nid = \"a\"\nname = \"A\"\nkind = \"person\"\ncontext_aliases = [\"A\"]\ncontext_actors = [\"ghost\"]\n",
        )
        .map(|_| ())
        .unwrap_err();
        assert!(
            err.0[0].message.contains("unknown actor `ghost`"),
            "{err:?}"
        );
    }

    #[test]
    fn exclusion_phrases_and_word_boundaries() {
        let t = tax();
        assert!(tag(&t, &title("The Washington Post reports"))
            .actors
            .is_empty());
        assert_eq!(
            ids(&tag(&t, &title("Washington warns"))).0,
            ["united-states"]
        );
        assert!(tag(&t, &title("USB sticks and bus stops"))
            .actors
            .is_empty());
    }

    #[test]
    fn cjk_without_spaces() {
        let t = tax();
        let tags = tag(&t, &title("北朝鮮が弾道ミサイルを発射"));
        let (actors, topics) = ids(&tags);
        assert_eq!(actors, ["north-korea"]);
        assert!(topics.contains(&"missile-test"));
        let tags = tag(&t, &title("북한, 동해상으로 탄도미사일 발사"));
        assert!(ids(&tags).1.contains(&"missile-test"));
        assert_eq!(tags.alerts.len(), 1);
    }

    #[test]
    fn passing_mention_scores_low_headline_scores_high() {
        let t = tax();
        let lead =
            "Nikkei futures slipped on Monday as investors weighed earnings from exporters. "
                .repeat(6);
        let body =
            format!("{lead}Traders cited many factors, including North Korea, the yen and oil.");
        let tags = tag(
            &t,
            &Doc {
                title: "Nikkei futures slip",
                summary: "",
                content: &body,
            },
        );
        assert!(!ids(&tags).1.contains(&"north-korea"));
        let tags = tag(&t, &title("North Korea warns of retaliation"));
        assert!(ids(&tags).1.contains(&"north-korea"));
    }

    #[test]
    fn evidence_points_into_the_original_text() {
        let t = tax();
        let doc = Doc {
            title: "x",
            summary: "Le chef <Kim Jong-Un>, dit-on",
            content: "",
        };
        let tags = tag(&t, &doc);
        let ev = &tags.actors[0].evidence[0];
        assert_eq!(&doc.summary[ev.start..ev.end], "Kim Jong-Un");
        assert_eq!(ev.field, Field::Summary);
    }
}
