//! Evaluation against labelled sets: pairwise precision/recall of dedup clusters, and
//! per-topic / actor / alert precision/recall of the tagger. `wirewatch eval` prints them; the
//! test suite holds them above the levels reached (see `docs/DEDUP.md`, `docs/TAGGING.md`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::core::canon::canonical_link;
use crate::core::dedup::DedupConfig;
use crate::core::pipeline::Processor;
use crate::core::tagger::{tag, Doc};
use crate::core::taxonomy::Taxonomy;
use crate::core::text::html_to_text;
use crate::feed::story_id;
use crate::story::{RawStory, SCHEMA_VERSION};

/// One item of the dedup set.
#[derive(Debug, Clone, Deserialize)]
pub struct DedupItem {
    pub n: u32,
    pub feed: String,
    pub outlet: String,
    pub guid: Option<String>,
    pub link: Option<String>,
    pub title: String,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub content: String,
    pub published_at: Option<DateTime<Utc>>,
    pub story: String,
    pub variation: String,
    #[serde(default)]
    pub note: String,
}

/// Precision and recall with their counts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Pr {
    pub tp: u64,
    pub fp: u64,
    pub fn_: u64,
}

impl Pr {
    pub fn precision(&self) -> f64 {
        if self.tp + self.fp == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fp) as f64
        }
    }
    pub fn recall(&self) -> f64 {
        if self.tp + self.fn_ == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fn_) as f64
        }
    }

    /// Counts one decision; for an error, what to call it: `false_positive` or "missed".
    fn count(
        &mut self,
        want: bool,
        got: bool,
        false_positive: &'static str,
    ) -> Option<&'static str> {
        match (want, got) {
            (true, true) => self.tp += 1,
            (false, true) => {
                self.fp += 1;
                return Some(false_positive);
            }
            (true, false) => {
                self.fn_ += 1;
                return Some("missed");
            }
            (false, false) => {}
        }
        None
    }
}

/// Result of the dedup evaluation.
#[derive(Debug, Default)]
pub struct DedupEval {
    /// Over all pairs of items.
    pub pairs: Pr,
    /// Pairs where at least one item is a hard negative.
    pub hard_negative_pairs: Pr,
    /// Per variation: items whose predicted cluster is their story's, out of all.
    pub by_variation: BTreeMap<String, (u64, u64)>,
    /// Human-readable mistakes.
    pub errors: Vec<String>,
}

pub fn parse_jsonl<T: for<'de> Deserialize<'de>>(text: &str) -> Result<Vec<T>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

/// Runs the items, in order, through the same processor as `process` and scores clusters.
pub fn eval_dedup(items: &[DedupItem], cfg: DedupConfig) -> DedupEval {
    let tax =
        Arc::new(Taxonomy::from_toml("empty", "version = 1").expect("empty taxonomy compiles"));
    let mut p = Processor::new(tax, cfg, Vec::new());
    let mut clock = DateTime::<Utc>::MIN_UTC;
    let mut predicted = Vec::with_capacity(items.len());
    for it in items {
        let canonical = it.link.as_deref().and_then(canonical_link);
        let text = format!(
            "{}\n{}\n{}",
            html_to_text(&it.title),
            html_to_text(&it.summary),
            html_to_text(&it.content)
        );
        let raw = RawStory {
            schema_version: SCHEMA_VERSION,
            id: story_id(&it.feed, it.guid.as_deref(), canonical.as_deref(), &text),
            feed: it.feed.clone(),
            outlet: it.outlet.clone(),
            guid: it.guid.clone(),
            link: it.link.clone(),
            canonical_link: canonical,
            title: it.title.clone(),
            summary: it.summary.clone(),
            content: it.content.clone(),
            published_at: it.published_at,
            fetched_at: it.published_at.unwrap_or_default(),
            language: None,
        };
        // Arrival order is the set's order; the clock never goes back.
        clock = clock.max(it.published_at.unwrap_or(clock));
        let out = p.process(&raw, clock);
        predicted.push((out.event.dedup.cluster.clone(), out.event.dedup.status));
    }
    let mut ev = DedupEval::default();
    let hard = |v: &str| v.starts_with("hard_negative");
    for i in 0..items.len() {
        for j in i + 1..items.len() {
            let truth = items[i].story == items[j].story;
            let pred = predicted[i].0 == predicted[j].0;
            let bucket = |pr: &mut Pr| match (truth, pred) {
                (true, true) => pr.tp += 1,
                (false, true) => pr.fp += 1,
                (true, false) => pr.fn_ += 1,
                _ => {}
            };
            bucket(&mut ev.pairs);
            if hard(&items[i].variation) || hard(&items[j].variation) {
                bucket(&mut ev.hard_negative_pairs);
            }
            if !truth && pred {
                ev.errors.push(format!(
                    "merged different stories: #{} {:?} [{}] and #{} {:?} [{}]",
                    items[i].n,
                    items[i].title,
                    items[i].variation,
                    items[j].n,
                    items[j].title,
                    items[j].variation
                ));
            }
        }
    }
    // Per variation: does the item sit in the cluster of its story's first item?
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, it) in items.iter().enumerate() {
        let f = *first.entry(it.story.as_str()).or_insert(i);
        let ok = predicted[i].0 == predicted[f].0;
        let e = ev.by_variation.entry(it.variation.clone()).or_default();
        e.1 += 1;
        if ok {
            e.0 += 1;
        } else {
            ev.errors.push(format!(
                "missed: #{} {:?} [{}] got {} in another cluster than #{}",
                it.n,
                it.title,
                it.variation,
                predicted[i].1.as_str(),
                items[f].n
            ));
        }
    }
    ev
}

/// One item of the tagging set (`tests/data/tagging/*.jsonl`, one JSON object a line).
#[derive(Debug, Clone, Deserialize)]
pub struct TagItem {
    pub id: String,
    #[serde(default)]
    pub lang: String,
    pub title: String,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub content: String,
    pub topics: Vec<String>,
    /// Every actor of the taxonomy the item names, by any of its names (a complete list: the
    /// actors are scored over every id the tagger returns, see [`TagEval::actors`]).
    pub actors: Vec<String>,
    /// Whether the alert rule [`ALERT_RULE`] should fire on the item taken alone (the eval has
    /// no dedup): the item reports a new North Korean launch (a missile, a rocket-launcher
    /// test-firing or a satellite launch attempt, as the rule's terms and examples define it),
    /// the report of that day, reactions included. Not for another country's launch, a launch
    /// named in passing or as the background of other news (talks, sanctions, a call the next
    /// day), warnings, speculation, denials, retrospectives and anniversaries, nor for digests
    /// (which get no topics either).
    #[serde(default)]
    pub alert: bool,
    #[serde(default)]
    pub note: String,
}

/// The alert rule `alert` labels are about (`config/taxonomy.toml`).
pub const ALERT_RULE: &str = "nk-missile-launch";

#[derive(Debug, Default)]
pub struct TagEval {
    pub topics: BTreeMap<String, Pr>,
    /// Micro-averaged over (item, actor) pairs, for every actor id the tagger returns or the
    /// labels name: an actor the tagger finds but the item's label lacks is a false positive,
    /// whether or not any other label uses that id.
    pub actors: Pr,
    /// Over items: the alert "fires" when the tagger's alerts include the rule [`ALERT_RULE`]
    /// (other alert rules, if a taxonomy has any, are not scored), and is wanted when the item's
    /// `alert` label is true. A taxonomy without that rule never fires.
    pub alerts: Pr,
    pub errors: Vec<String>,
}

pub fn eval_tagging(items: &[TagItem], tax: &Taxonomy) -> TagEval {
    let alert_rule = tax.alerts.iter().position(|a| a.id == ALERT_RULE);
    // Only topics the set labels are scored (a taxonomy may have more).
    let labelled_topics: BTreeSet<&str> = items
        .iter()
        .flat_map(|i| i.topics.iter().map(String::as_str))
        .collect();
    let mut ev = TagEval::default();
    for t in &tax.topics {
        if labelled_topics.contains(t.id.as_str()) {
            ev.topics.insert(t.id.clone(), Pr::default());
        }
    }
    for it in items {
        let (title, summary, content) = (
            html_to_text(&it.title),
            html_to_text(&it.summary),
            html_to_text(&it.content),
        );
        let tags = tag(
            tax,
            &Doc {
                title: &title,
                summary: &summary,
                content: &content,
            },
        );
        let got: BTreeSet<&str> = tags.topics.iter().map(|t| t.id.as_str()).collect();
        for (topic, pr) in ev.topics.iter_mut() {
            let want = it.topics.iter().any(|t| t == topic);
            if let Some(what) = pr.count(want, got.contains(topic.as_str()), "false positive") {
                ev.errors
                    .push(format!("{} topic {topic}: {what}: {:?}", it.id, it.title));
            }
        }
        let got_actors: BTreeSet<&str> = tags.actors.iter().map(|a| a.id.as_str()).collect();
        let want_actors: BTreeSet<&str> = it.actors.iter().map(String::as_str).collect();
        for a in got_actors.union(&want_actors) {
            let (want, got) = (want_actors.contains(a), got_actors.contains(a));
            if let Some(what) = ev.actors.count(want, got, "false positive") {
                ev.errors
                    .push(format!("{} actor {a}: {what}: {:?}", it.id, it.title));
            }
        }
        let fired = alert_rule.is_some_and(|r| tags.alerts.iter().any(|(i, _)| *i == r));
        if let Some(what) = ev.alerts.count(it.alert, fired, "false alert") {
            ev.errors.push(format!(
                "{} alert {ALERT_RULE}: {what}: {:?}",
                it.id, it.title
            ));
        }
    }
    ev
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAX: &str = r#"
version = 1
[terms]
missile = ["missile", "missiles"]
launch = ["fires", "fired", "launches"]

[[actor]]
id = "north-korea"
name = "North Korea"
kind = "country"
aliases = ["Pyongyang"]

[[actor]]
id = "iran"
name = "Iran"
kind = "country"

[[topic]]
id = "missile-test"
name = "Missile test"
threshold = 0.5
signals = [{ terms = ["@missile"], weight = 1.0 }, { terms = ["@launch"], weight = 0.5 }]
require = { near = [["@launch"], ["@missile"]], within = 6 }

[[alert]]
id = "other-rule"
name = "Any missile"
severity = "info"
when = { topic = "missile-test", min_score = 0.5 }

[[alert]]
id = "nk-missile-launch"
name = "North Korean missile launch"
severity = "critical"
when = { all = [ { topic = "missile-test", min_score = 0.5 }, { actors = ["north-korea"] } ] }
"#;

    fn item(id: &str, title: &str, topics: &[&str], actors: &[&str], alert: bool) -> TagItem {
        TagItem {
            id: id.into(),
            lang: "en".into(),
            title: title.into(),
            summary: String::new(),
            content: String::new(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            actors: actors.iter().map(|a| a.to_string()).collect(),
            alert,
            note: String::new(),
        }
    }

    #[test]
    fn an_actor_no_label_uses_is_still_a_false_positive() {
        let tax = Taxonomy::from_toml("t.toml", TAX).unwrap();
        // No item is labelled `iran`: it used to be left out of the scoring altogether.
        let items = [item(
            "a",
            "Iran and North Korea hold talks",
            &[],
            &["north-korea"],
            false,
        )];
        let ev = eval_tagging(&items, &tax);
        assert_eq!(
            ev.actors,
            Pr {
                tp: 1,
                fp: 1,
                fn_: 0
            }
        );
        assert!(
            ev.errors
                .iter()
                .any(|e| e.starts_with("a actor iran: false positive")),
            "{:?}",
            ev.errors
        );
    }

    #[test]
    fn the_alert_is_scored_per_item_on_its_own_rule() {
        let tax = Taxonomy::from_toml("t.toml", TAX).unwrap();
        let mt = &["missile-test"];
        let items = [
            item("hit", "Pyongyang fires missile", mt, &["north-korea"], true),
            // `other-rule` fires here, `nk-missile-launch` does not: not an alert.
            item("quiet", "Iran fires missile", mt, &["iran"], false),
            item(
                "false",
                "Pyongyang fires missiles again",
                mt,
                &["north-korea"],
                false,
            ),
            item("missed", "Missile flies over Japan", &[], &[], true),
        ];
        let ev = eval_tagging(&items, &tax);
        assert_eq!(
            ev.alerts,
            Pr {
                tp: 1,
                fp: 1,
                fn_: 1
            }
        );
        let alert_errors: Vec<&str> = ev
            .errors
            .iter()
            .map(String::as_str)
            .filter(|e| e.contains(" alert "))
            .collect();
        assert_eq!(
            alert_errors,
            [
                "false alert nk-missile-launch: false alert: \"Pyongyang fires missiles again\"",
                "missed alert nk-missile-launch: missed: \"Missile flies over Japan\"",
            ]
        );
    }

    #[test]
    fn the_alert_label_defaults_to_false() {
        let items: Vec<TagItem> =
            parse_jsonl(r#"{"id": "x", "title": "t", "topics": [], "actors": []}"#).unwrap();
        assert!(!items[0].alert);
    }
}
