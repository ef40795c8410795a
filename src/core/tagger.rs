//! The tagger: one pass of the compiled matcher over a story's headline, lead and body, then
//! actors (with context rules), topic scores and alert conditions, each with its evidence.
//!
//! Pure and synchronous: a [`Taxonomy`] and a [`Doc`] in, [`Tags`] out.

use super::taxonomy::{Cond, Scope, Signal, Target, Taxonomy};
use super::text::{normalize, Normalized};
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
        let n = &self.norms[m.field as usize];
        let text = self.texts[m.field as usize];
        let (s, e) = n.original_range(text, m.start as usize, m.end as usize);
        Evidence {
            field: match m.field {
                0 => Field::Title,
                1 => Field::Summary,
                _ => Field::Content,
            },
            start: s,
            end: e,
            text: text.get(s..e).unwrap_or_default().to_string(),
        }
    }
}

/// Target indexes (actor, term set) fit in 34 bits of the sort key.
const INDEX_MASK: u128 = (1 << 34) - 1;

/// A mention of a target, with the key it is sorted by: target kind and index (see
/// [`target_key`]), then field, start and end.
#[derive(Debug, Clone, Copy)]
struct Keyed {
    key: u128,
    mention: Mention,
}

impl Keyed {
    fn new(t: Target, m: Mention) -> Keyed {
        let (kind, index) = target_key(t);
        Keyed {
            key: (kind as u128) << 100
                | (index as u128 & INDEX_MASK) << 66
                | (m.field as u128) << 64
                | (m.start as u128) << 32
                | m.end as u128,
            mention: m,
        }
    }

    /// Target kind and index.
    fn target(&self) -> (u8, u64) {
        (
            (self.key >> 100) as u8,
            ((self.key >> 66) & INDEX_MASK) as u64,
        )
    }
}

/// Mentions grouped by owner (term set or actor), each group in (field, start, end) order, with
/// a sorted index of the owners present: lookups cost a binary search over the few owners a
/// story mentions, whatever the size of the taxonomy.
#[derive(Debug, Default)]
struct Groups {
    mentions: Vec<Mention>,
    /// (owner, start, end) into `mentions`, by owner.
    index: Vec<(usize, u32, u32)>,
}

impl Groups {
    fn push(&mut self, owner: usize, m: Mention) {
        let at = self.mentions.len() as u32;
        match self.index.last_mut() {
            Some((o, _, end)) if *o == owner => *end = at + 1,
            _ => self.index.push((owner, at, at + 1)),
        }
        self.mentions.push(m);
    }

    fn of(&self, owner: usize) -> &[Mention] {
        match self.index.binary_search_by_key(&owner, |(o, _, _)| *o) {
            Ok(i) => {
                let (_, lo, hi) = self.index[i];
                &self.mentions[lo as usize..hi as usize]
            }
            Err(_) => &[],
        }
    }
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
    let fields = Fields {
        texts: [doc.title, doc.summary, doc.content],
        norms: [
            normalize(doc.title),
            normalize(doc.summary),
            normalize(doc.content),
        ],
    };
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

    let mut raw: Vec<Keyed> = Vec::new();
    let mut found = Vec::new();
    // The text searched: a space, then the field (see `Taxonomy::matcher`).
    let mut spaced: Vec<u8> = Vec::new();
    for (fi, norm) in fields.norms.iter().enumerate() {
        if norm.is_empty() {
            continue;
        }
        let hay = norm.text.as_bytes();
        spaced.clear();
        spaced.push(b' ');
        spaced.extend_from_slice(hay);
        found.clear();
        tax.matcher.find(&spaced, &mut found);
        for m in &found {
            let outer = &tax.patterns[m.pattern as usize];
            // Where the pattern starts in `hay`: after the space searched with it, or, for a
            // pattern searched without one, one byte back.
            let at = if outer.cjk_start {
                m.start - 1
            } else {
                m.start
            };
            for n in &outer.nested {
                let (s, e) = ((at + n.start) as usize, (at + n.end) as usize);
                let pat = &tax.patterns[n.pattern as usize];
                let left_ok = s == 0 || hay[s - 1] == b' ' || pat.cjk_start;
                let right_ok = e == hay.len() || hay[e] == b' ' || pat.cjk_end;
                if !left_ok || !right_ok {
                    continue;
                }
                if fi == 2 && (s as u32) < skip_content {
                    continue;
                }
                let pos2 = norm.pos2(s);
                let place = match fi {
                    0 => Place::Headline,
                    1 => Place::Lead,
                    _ if !has_summary && pos2 < LEAD_WORDS * 2 => Place::Lead,
                    _ => Place::Body,
                };
                let mention = Mention {
                    field: fi as u8,
                    place,
                    start: s as u32,
                    end: e as u32,
                    pos2,
                };
                raw.extend(pat.targets.iter().map(|t| Keyed::new(*t, mention)));
            }
        }
    }
    // Each (target, field, start, end) occurs once, so the order is total.
    raw.sort_unstable_by_key(|k| k.key);

    let mut terms = Groups::default();
    let first_term = raw.partition_point(|k| k.target().0 < 4);
    for k in &raw[first_term..] {
        terms.push(k.target().1 as usize, k.mention);
    }
    let actor_mentions = resolve_actors(&raw[..first_term]);
    let ctx = Ctx {
        terms: &terms,
        actors: &actor_mentions,
        scores: Vec::new(),
    };

    // Actors.
    let mut actors: Vec<ActorTag> = actor_mentions
        .index
        .iter()
        .map(|&(a, lo, hi)| {
            let ms = &actor_mentions.mentions[lo as usize..hi as usize];
            let actor = &tax.actors[a];
            ActorTag {
                id: actor.id.clone(),
                name: actor.name.clone(),
                kind: actor.kind.as_str().to_string(),
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
                    for a in actors {
                        raw_score += ctx
                            .actor(*a)
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
            // Evidence only for the topics that are tagged.
            evidence.clear();
            for signal in &topic.signals {
                match signal {
                    Signal::Terms { set, .. } => evidence.extend_from_slice(ctx.set(*set)),
                    Signal::Actors { actors, .. } => {
                        for a in actors {
                            evidence.extend_from_slice(ctx.actor(*a));
                        }
                    }
                }
            }
            evidence.sort_unstable_by_key(|m| (m.place, m.field, m.start, m.end));
            evidence.dedup_by_key(|m| (m.field, m.start, m.end));
            topics.push(TopicTag {
                id: topic.id.clone(),
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

fn target_key(t: Target) -> (u8, usize) {
    match t {
        Target::Actor(a) => (0, a),
        Target::ContextAlias(a) => (1, a),
        Target::Title(a) => (2, a),
        Target::ActorExclude(a) => (3, a),
        Target::Term(s) => (4, s),
    }
}

/// Applies the actor rules: exclusion phrases, context aliases (licensed by a full mention or
/// a title right before them), and nested matches of one actor counted once. `raw` holds the
/// actor targets (kinds 0 to 3), sorted.
fn resolve_actors(raw: &[Keyed]) -> Groups {
    // Start of each (kind, actor) group in `raw`, in order.
    let mut starts: Vec<(u8, usize, usize)> = Vec::new();
    for (i, k) in raw.iter().enumerate() {
        let (kind, a) = k.target();
        if starts
            .last()
            .is_none_or(|&(pk, pa, _)| (pk, pa) != (kind, a as usize))
        {
            starts.push((kind, a as usize, i));
        }
    }
    let of = |kind: u8, a: usize| -> &[Keyed] {
        match starts.binary_search_by_key(&(kind, a), |&(k, x, _)| (k, x)) {
            Ok(i) => {
                let end = starts.get(i + 1).map_or(raw.len(), |s| s.2);
                &raw[starts[i].2..end]
            }
            Err(_) => &[],
        }
    };
    // Actors with a full or context mention, in order.
    let mut actor_ids: Vec<usize> = starts
        .iter()
        .filter(|(kind, _, _)| *kind <= 1)
        .map(|(_, a, _)| *a)
        .collect();
    actor_ids.sort_unstable();
    actor_ids.dedup();

    let mut out = Groups::default();
    let mut ms: Vec<Mention> = Vec::new();
    for a in actor_ids {
        let excluded = of(3, a);
        let not_excluded = |m: &Mention| {
            !excluded.iter().any(|x| {
                let x = &x.mention;
                x.field == m.field && x.start <= m.start && m.end <= x.end
            })
        };
        ms.clear();
        ms.extend(
            of(0, a)
                .iter()
                .map(|k| k.mention)
                .filter(|m| not_excluded(m)),
        );
        let has_full = !ms.is_empty();
        let titles = of(2, a);
        for k in of(1, a) {
            let m = &k.mention;
            if !not_excluded(m) {
                continue;
            }
            let titled = titles
                .iter()
                .any(|t| t.mention.field == m.field && t.mention.end + 1 == m.start);
            if has_full || titled {
                ms.push(*m);
            }
        }
        // A match inside another match of the same actor is the same mention. (Mentions with
        // equal keys are equal, so an unstable sort gives the same result.)
        ms.sort_unstable_by_key(|m| (m.field, m.start, std::cmp::Reverse(m.end)));
        let mut last: Option<Mention> = None;
        for &m in &ms {
            if let Some(l) = last {
                if l.field == m.field && m.end <= l.end {
                    continue;
                }
            }
            out.push(a, m);
            last = Some(m);
        }
    }
    out
}

struct Ctx<'a> {
    terms: &'a Groups,
    actors: &'a Groups,
    scores: Vec<f64>,
}

impl Ctx<'_> {
    fn set(&self, set: usize) -> &[Mention] {
        self.terms.of(set)
    }

    fn actor(&self, actor: usize) -> &[Mention] {
        self.actors.of(actor)
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
                    None => ms.count() >= *min as usize,
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
            Cond::Actors { actors, min, scope } => {
                let mut distinct = 0;
                let before = ev.as_ref().map_or(0, Vec::len);
                for a in actors {
                    if let Some(m) = self.actor(*a).iter().find(|m| m.place.within(*scope)) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
aliases = ["U.S."]
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
