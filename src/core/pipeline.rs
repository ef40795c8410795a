//! One raw story in, one enriched event out: markup removal, dedup, tagging, routing and the
//! alert decisions. Used as is by `process` (live, from Kafka) and `replay` (offline), so what
//! is evaluated offline is what runs live.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::dedup::{DedupConfig, DedupIndex, DedupInput, Remembered};
use super::tagger::{tag, Doc};
use super::taxonomy::Taxonomy;
use super::text::html_to_text;
use crate::story::{
    AlertEvent, AlertHit, ClusterUpdate, DedupInfo, DedupStatus, EnrichedEvent, RawStory,
    SCHEMA_VERSION,
};

/// Sends events carrying a topic tag to an extra Kafka topic as well.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Topic tag id from the taxonomy, e.g. `missile-test`.
    pub tag: String,
    /// Kafka topic, e.g. `news.missile-test`.
    pub to: String,
}

/// Everything one story produces.
#[derive(Debug, Clone)]
pub struct Output {
    pub event: EnrichedEvent,
    /// Alerts fired (only for `new` stories).
    pub alerts: Vec<AlertEvent>,
    /// The cluster's coverage after this story.
    pub cluster: ClusterUpdate,
    /// The dedup changelog record.
    pub remembered: Remembered,
}

impl Output {
    /// Whether the event goes to `news.enriched` (duplicates are only counted).
    pub fn publish(&self) -> bool {
        self.event.dedup.status != DedupStatus::Duplicate
    }
}

/// The processing core: dedup state, the taxonomy, routes and alert cooldowns.
pub struct Processor {
    taxonomy: Arc<Taxonomy>,
    dedup: DedupIndex,
    routes: Vec<Route>,
    /// Rule id → time of the last notification.
    last_notified: HashMap<String, i64>,
}

/// The plain text of a story's fields.
pub struct PlainText {
    pub title: String,
    pub summary: String,
    pub content: String,
}

impl PlainText {
    pub fn of(raw: &RawStory) -> PlainText {
        PlainText {
            title: html_to_text(&raw.title),
            summary: html_to_text(&raw.summary),
            content: html_to_text(&raw.content),
        }
    }

    /// The body used for dedup: the content when there is one (syndicated copies carry the
    /// full text, while summaries are often an outlet's own teaser), else the summary.
    pub fn body(&self) -> &str {
        if self.content.trim().is_empty() {
            &self.summary
        } else {
            &self.content
        }
    }

    /// Title, summary and content joined by blank lines (empty parts skipped), with the byte
    /// offset where each part starts in the result.
    pub fn joined(&self) -> (String, [usize; 3]) {
        let mut out =
            String::with_capacity(self.title.len() + self.summary.len() + self.content.len() + 4);
        let mut starts = [0; 3];
        for (i, part) in [&self.title, &self.summary, &self.content]
            .into_iter()
            .enumerate()
        {
            if part.is_empty() {
                starts[i] = out.len();
                continue;
            }
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            starts[i] = out.len();
            out.push_str(part);
        }
        (out, starts)
    }
}

impl Processor {
    pub fn new(taxonomy: Arc<Taxonomy>, dedup: DedupConfig, routes: Vec<Route>) -> Self {
        Processor {
            taxonomy,
            dedup: DedupIndex::new(dedup),
            routes,
            last_notified: HashMap::new(),
        }
    }

    /// Swaps in a new taxonomy (hot reload); dedup state is kept.
    pub fn set_taxonomy(&mut self, taxonomy: Arc<Taxonomy>) {
        self.taxonomy = taxonomy;
    }

    pub fn taxonomy(&self) -> &Arc<Taxonomy> {
        &self.taxonomy
    }

    pub fn dedup(&self) -> &DedupIndex {
        &self.dedup
    }

    /// Restores dedup state from the changelog.
    pub fn restore(&mut self, r: &Remembered) {
        self.dedup.restore(r);
    }

    /// Processes one story at time `clock` (the wall clock live; the story's own time in
    /// replay).
    pub fn process(&mut self, raw: &RawStory, clock: DateTime<Utc>) -> Output {
        let plain = PlainText::of(raw);
        let (decision, remembered) = self.dedup.observe(&DedupInput {
            id: &raw.id,
            feed: &raw.feed,
            outlet: &raw.outlet,
            canonical_link: raw.canonical_link.as_deref(),
            title: &plain.title,
            body: plain.body(),
            now: clock.timestamp(),
        });
        let mut tags = tag(
            &self.taxonomy,
            &Doc {
                title: &plain.title,
                summary: &plain.summary,
                content: &plain.content,
            },
        );
        // Evidence offsets point into the event's `text`.
        let (text, starts) = plain.joined();
        let shift = |ev: &mut Vec<crate::story::Evidence>| {
            for e in ev.iter_mut() {
                let base = starts[e.field as usize];
                e.start += base;
                e.end += base;
            }
        };
        tags.actors.iter_mut().for_each(|a| shift(&mut a.evidence));
        tags.topics.iter_mut().for_each(|t| shift(&mut t.evidence));
        tags.alerts.iter_mut().for_each(|(_, ev)| shift(ev));

        let mut hits = Vec::new();
        if decision.status == DedupStatus::New {
            for (rule_idx, evidence) in tags.alerts {
                let rule = &self.taxonomy.alerts[rule_idx];
                let now = clock.timestamp();
                let notify = match self.last_notified.get(&rule.id) {
                    Some(&last) if now - last < rule.cooldown_secs as i64 => false,
                    _ => {
                        self.last_notified.insert(rule.id.clone(), now);
                        true
                    }
                };
                hits.push(AlertHit {
                    rule: rule.id.clone(),
                    name: rule.name.clone(),
                    severity: rule.severity.clone(),
                    notify,
                    evidence,
                });
            }
        }
        let routes = if decision.status == DedupStatus::Duplicate {
            Vec::new()
        } else {
            let mut r: Vec<String> = self
                .routes
                .iter()
                .filter(|route| tags.topics.iter().any(|t| t.id == route.tag))
                .map(|route| route.to.clone())
                .collect();
            r.dedup();
            r
        };

        let alerts = hits
            .iter()
            .map(|h| AlertEvent {
                schema_version: SCHEMA_VERSION,
                rule: h.rule.clone(),
                name: h.name.clone(),
                severity: h.severity.clone(),
                notify: h.notify,
                story_id: raw.id.clone(),
                cluster: decision.cluster.clone(),
                feed: raw.feed.clone(),
                outlet: raw.outlet.clone(),
                title: plain.title.clone(),
                link: raw.link.clone(),
                published_at: raw.published_at,
                fired_at: clock,
                evidence: h.evidence.clone(),
            })
            .collect();
        let cs = &decision.cluster_state;
        let cluster = ClusterUpdate {
            schema_version: SCHEMA_VERSION,
            cluster: decision.cluster.clone(),
            first_seen: ts(cs.first_seen),
            last_seen: ts(cs.last_seen),
            copies: cs.copies,
            updates: cs.updates,
            outlets: cs.outlets.clone(),
            title: plain.title.clone(),
        };
        let event = EnrichedEvent {
            schema_version: SCHEMA_VERSION,
            id: raw.id.clone(),
            feed: raw.feed.clone(),
            outlet: raw.outlet.clone(),
            guid: raw.guid.clone(),
            link: raw.link.clone(),
            canonical_link: raw.canonical_link.clone(),
            title: raw.title.clone(),
            summary: raw.summary.clone(),
            content: raw.content.clone(),
            text,
            published_at: raw.published_at,
            fetched_at: raw.fetched_at,
            processed_at: clock,
            language: raw.language.clone(),
            dedup: DedupInfo {
                status: decision.status,
                cluster: decision.cluster,
                revision: decision.revision,
                matched_by: decision.matched_by.map(str::to_string),
                similarity: decision.similarity,
            },
            actors: tags.actors,
            topics: tags.topics,
            alerts: hits,
            routes,
        };
        Output {
            event,
            alerts,
            cluster,
            remembered,
        }
    }
}

fn ts(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}
