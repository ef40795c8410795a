//! `wirewatch replay`: saved feed documents → the same core as `process` → JSON lines.
//!
//! Offline and without Kafka. Items of all files are processed in order of publication time
//! (items without a date take the file's modification time; ties keep the order of the files
//! given, then document order), as if they had arrived live, starting from empty state. Every
//! item is printed, duplicates included, so each dedup decision can be audited.
//!
//! `replay --diff` runs the items through two [`Processor`]s side by side, one with the
//! configured taxonomy and one with a candidate, and reports what the candidate would change:
//! [`diff_events`] (pure) compares the two events of a story, [`DiffSummary`] counts the
//! changes, [`replay_diff`] is the I/O around them. Dedup does not read the taxonomy (its
//! input is the story's id, link, title and body, and its state is keyed by hashes with fixed
//! hashers), so both processors make the same dedup decisions and the alerts, which fire only
//! for `new` stories, are comparable.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use compact_str::CompactString;
use serde::Serialize;

use crate::core::dedup::DedupConfig;
use crate::core::pipeline::{Processor, Route};
use crate::core::taxonomy::Taxonomy;
use crate::core::text::{counted, html_to_text};
use crate::feed::{parse_document, Source};
use crate::story::{DedupStatus, EnrichedEvent, RawStory};

/// What a replay did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    pub files: usize,
    pub failed_files: usize,
    pub stories: usize,
}

/// One input that could not be used, with the reason.
#[derive(Debug)]
pub struct FileError {
    pub path: PathBuf,
    pub reason: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

/// Reads one saved document into raw stories. The feed id is the file stem.
pub fn read_file(path: &Path) -> Result<Vec<RawStory>, FileError> {
    let fail = |reason: String| FileError {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    let fetched_at: DateTime<Utc> = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map(DateTime::<Utc>::from)
        .unwrap_or_else(|_| Utc::now());
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "feed".to_string());
    let url =
        url::Url::from_file_path(std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()))
            .ok()
            .map(String::from);
    let stories = parse_document(
        &bytes,
        &Source {
            feed: &stem,
            outlet: &stem,
            url: url.as_deref(),
            charset: None,
            fetched_at,
        },
    )
    .map_err(|e| fail(e.to_string()))?;
    if stories.is_empty() {
        return Err(fail("the feed has no items".to_string()));
    }
    Ok(stories)
}

/// Inputs up to this size are held in memory at once; larger replays read each file twice
/// (once for the order, once to process) so memory stays flat as the input grows.
const IN_MEMORY_BYTES: u64 = 64 * 1024 * 1024;

/// Replays `files` through a fresh [`Processor`], writing one JSON line per item to `out`
/// and one line per unusable file to `errors`. Keeps going after a bad file.
pub fn replay(
    taxonomy: Arc<Taxonomy>,
    dedup: DedupConfig,
    routes: Vec<Route>,
    files: &[PathBuf],
    out: &mut dyn Write,
    errors: &mut dyn FnMut(FileError),
) -> std::io::Result<ReplayReport> {
    let mut processor = Processor::new(taxonomy, dedup, routes);
    let mut line = Vec::with_capacity(16 * 1024);
    let report = for_each_story(files, errors, &mut |story| {
        let clock = story.published_at.unwrap_or(story.fetched_at);
        let output = processor.process(&story, clock);
        line.clear();
        serde_json::to_writer(&mut line, &output.event)?;
        line.push(b'\n');
        out.write_all(&line)
    })?;
    out.flush()?;
    Ok(report)
}

/// Calls `each` with every item of `files` in replay order (see the module docs), reporting
/// unusable files to `errors`. Holds all items in memory when the files are small, else reads
/// each file twice (once for the order, once to process), so memory stays flat.
fn for_each_story(
    files: &[PathBuf],
    errors: &mut dyn FnMut(FileError),
    each: &mut dyn FnMut(RawStory) -> std::io::Result<()>,
) -> std::io::Result<ReplayReport> {
    let mut report = ReplayReport {
        files: files.len(),
        ..Default::default()
    };
    let total: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();

    // Pass 1: the order. (time, file index, document index); ties keep file then document order.
    let mut order: Vec<(DateTime<Utc>, u32, u32)> = Vec::new();
    let mut held: Vec<Option<Vec<Option<RawStory>>>> = Vec::with_capacity(files.len());
    let mut remaining: Vec<u32> = Vec::with_capacity(files.len());
    for (fi, path) in files.iter().enumerate() {
        match read_file(path) {
            Ok(stories) => {
                for (di, s) in stories.iter().enumerate() {
                    order.push((s.published_at.unwrap_or(s.fetched_at), fi as u32, di as u32));
                }
                remaining.push(stories.len() as u32);
                held.push(
                    (total <= IN_MEMORY_BYTES).then(|| stories.into_iter().map(Some).collect()),
                );
            }
            Err(e) => {
                report.failed_files += 1;
                remaining.push(0);
                held.push(None);
                errors(e);
            }
        }
    }
    order.sort();

    // Pass 2: process in order, (re)reading a file when its first item is due and dropping it
    // when its last item is done.
    for (_, fi, di) in order {
        let (fi, di) = (fi as usize, di as usize);
        if held[fi].is_none() {
            match read_file(&files[fi]) {
                Ok(stories) => held[fi] = Some(stories.into_iter().map(Some).collect()),
                Err(e) => {
                    errors(e);
                    continue;
                }
            }
        }
        let Some(story) = held[fi]
            .as_mut()
            .and_then(|v| v.get_mut(di))
            .and_then(Option::take)
        else {
            continue;
        };
        remaining[fi] -= 1;
        if remaining[fi] == 0 {
            held[fi] = None;
        }
        each(story)?;
        report.stories += 1;
    }
    Ok(report)
}

/// A topic kept by both taxonomies is reported as rescored when its score moves by at least
/// this much; smaller moves are left out as noise.
pub const RESCORE_MIN: f64 = 0.05;

/// What one side has that the other has not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delta<T> {
    /// Only with the candidate taxonomy.
    pub added: Vec<T>,
    /// Only with the configured taxonomy.
    pub removed: Vec<T>,
}

impl<T> Delta<T> {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// A topic and its score on the side that has it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoredTopic {
    pub id: CompactString,
    pub score: f64,
}

/// A topic both sides have, with a score that moved by at least [`RESCORE_MIN`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rescore {
    pub id: CompactString,
    pub before: f64,
    pub after: f64,
}

/// An actor, with the first text that matched it on the side that has it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NamedActor {
    pub id: CompactString,
    pub name: CompactString,
    pub evidence: Option<CompactString>,
}

/// How one story's tagging differs between the configured taxonomy (`removed`, `before`) and
/// the candidate (`added`, `after`). Alert rules fire only for `new` stories; routes follow
/// the topics. Changes of evidence, mention counts or an alert's `notify` are not reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoryDiff {
    pub id: String,
    pub published_at: Option<DateTime<Utc>>,
    pub feed: String,
    pub outlet: String,
    /// The title with markup removed.
    pub title: String,
    pub status: DedupStatus,
    pub topics: Delta<ScoredTopic>,
    pub rescored: Vec<Rescore>,
    pub actors: Delta<NamedActor>,
    pub alerts: Delta<String>,
    pub routes: Delta<String>,
}

impl StoryDiff {
    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
            && self.rescored.is_empty()
            && self.actors.is_empty()
            && self.alerts.is_empty()
            && self.routes.is_empty()
    }
}

/// The items of `before` and `after` (matched by `key`) that only one side has, in key order.
fn delta<'a, T, U>(
    before: &'a [T],
    after: &'a [T],
    key: impl Fn(&'a T) -> &'a str,
    view: impl Fn(&'a T) -> U,
) -> Delta<U> {
    let b: BTreeMap<&str, &T> = before.iter().map(|t| (key(t), t)).collect();
    let a: BTreeMap<&str, &T> = after.iter().map(|t| (key(t), t)).collect();
    let only = |x: &BTreeMap<&str, &'a T>, y: &BTreeMap<&str, &'a T>| -> Vec<U> {
        x.iter()
            .filter(|(k, _)| !y.contains_key(*k))
            .map(|(_, t)| view(t))
            .collect()
    };
    Delta {
        added: only(&a, &b),
        removed: only(&b, &a),
    }
}

/// The change set of one story: `before` is its event with the configured taxonomy, `after`
/// with the candidate (the same item, so the same dedup decision). `None` when nothing differs.
pub fn diff_events(before: &EnrichedEvent, after: &EnrichedEvent) -> Option<StoryDiff> {
    let topics = delta(
        &before.topics,
        &after.topics,
        |t| t.id.as_str(),
        |t| ScoredTopic {
            id: t.id.clone(),
            score: t.score,
        },
    );
    let mut rescored: Vec<Rescore> = before
        .topics
        .iter()
        .filter_map(|b| {
            let a = after.topics.iter().find(|a| a.id == b.id)?;
            // Scores are floats: 0.60 - 0.55 is 0.0499…
            ((a.score - b.score).abs() >= RESCORE_MIN - 1e-9).then(|| Rescore {
                id: b.id.clone(),
                before: b.score,
                after: a.score,
            })
        })
        .collect();
    rescored.sort_by(|x, y| x.id.cmp(&y.id));
    let actors = delta(
        &before.actors,
        &after.actors,
        |a| a.id.as_str(),
        |a| NamedActor {
            id: a.id.clone(),
            name: a.name.clone(),
            evidence: a.evidence.first().map(|e| e.text.clone()),
        },
    );
    let alerts = delta(
        &before.alerts,
        &after.alerts,
        |h| h.rule.as_str(),
        |h| h.rule.clone(),
    );
    let routes = delta(&before.routes, &after.routes, String::as_str, String::clone);
    let diff = StoryDiff {
        id: after.id.clone(),
        published_at: after.published_at,
        feed: after.feed.clone(),
        outlet: after.outlet.clone(),
        title: html_to_text(&after.title)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        status: after.dedup.status,
        topics,
        rescored,
        actors,
        alerts,
        routes,
    };
    (!diff.is_empty()).then_some(diff)
}

/// The readable report of one changed story: a header line (short id, publication time,
/// feed, dedup status, title), then one line per change, then a blank line.
pub fn render_story(d: &StoryDiff) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let short = d.id.get(..8).unwrap_or(&d.id);
    let when = d.published_at.map_or_else(
        || format!("{:<16}", "undated"),
        |t| t.format("%Y-%m-%d %H:%M").to_string(),
    );
    let _ = writeln!(
        s,
        "{short} {when} {} [{}] {}",
        d.feed,
        d.status.as_str(),
        d.title
    );
    for (sign, list) in [('+', &d.topics.added), ('-', &d.topics.removed)] {
        for t in list {
            let _ = writeln!(s, "  {sign} topic {} ({:.2})", t.id, t.score);
        }
    }
    for r in &d.rescored {
        let _ = writeln!(s, "  ~ topic {} {:.2} -> {:.2}", r.id, r.before, r.after);
    }
    for (sign, list) in [('+', &d.actors.added), ('-', &d.actors.removed)] {
        for a in list {
            let _ = match &a.evidence {
                Some(e) => writeln!(s, "  {sign} actor {} (\"{e}\")", a.id),
                None => writeln!(s, "  {sign} actor {}", a.id),
            };
        }
    }
    for (kind, delta) in [("alert", &d.alerts), ("route", &d.routes)] {
        for (sign, list) in [('+', &delta.added), ('-', &delta.removed)] {
            for x in list {
                let _ = writeln!(s, "  {sign} {kind} {x}");
            }
        }
    }
    s.push('\n');
    s
}

/// Gains and losses of one topic, alert rule, route or actor over all stories.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub gained: usize,
    pub lost: usize,
    /// Topics only: stories where the topic stayed but its score moved.
    pub rescored: usize,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "+{} -{}", self.gained, self.lost)?;
        if self.rescored > 0 {
            write!(f, ", {} rescored", self.rescored)?;
        }
        Ok(())
    }
}

/// The totals of a `replay --diff`. Its size is bounded by the taxonomies (one entry per
/// topic, rule, route or actor that changed), not by the input.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DiffSummary {
    /// Stories compared: every item except duplicates, which are not published.
    pub compared: usize,
    pub duplicates: usize,
    pub changed: usize,
    pub topics: BTreeMap<CompactString, Counts>,
    pub alerts: BTreeMap<String, Counts>,
    pub routes: BTreeMap<String, Counts>,
    pub actors: BTreeMap<CompactString, Counts>,
    /// Stories that gained or lost an actor.
    pub actor_stories: usize,
}

impl DiffSummary {
    /// Compares the two events of one item ([`diff_events`]) and counts the result.
    /// Duplicates are counted as such and not compared.
    pub fn observe(&mut self, before: &EnrichedEvent, after: &EnrichedEvent) -> Option<StoryDiff> {
        if before.dedup.status == DedupStatus::Duplicate {
            self.duplicates += 1;
            return None;
        }
        self.compared += 1;
        let d = diff_events(before, after)?;
        self.changed += 1;
        for t in &d.topics.added {
            self.topics.entry(t.id.clone()).or_default().gained += 1;
        }
        for t in &d.topics.removed {
            self.topics.entry(t.id.clone()).or_default().lost += 1;
        }
        for r in &d.rescored {
            self.topics.entry(r.id.clone()).or_default().rescored += 1;
        }
        for (map, delta) in [(&mut self.alerts, &d.alerts), (&mut self.routes, &d.routes)] {
            for x in &delta.added {
                map.entry(x.clone()).or_default().gained += 1;
            }
            for x in &delta.removed {
                map.entry(x.clone()).or_default().lost += 1;
            }
        }
        for a in &d.actors.added {
            self.actors.entry(a.id.clone()).or_default().gained += 1;
        }
        for a in &d.actors.removed {
            self.actors.entry(a.id.clone()).or_default().lost += 1;
        }
        if !d.actors.is_empty() {
            self.actor_stories += 1;
        }
        Some(d)
    }

    /// The readable totals: stories compared and changed, then gains and losses per topic,
    /// alert rule and route, then actors in all and per actor.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut s = format!(
            "summary: {} compared, {} changed",
            counted(self.compared, "story", "stories"),
            counted(self.changed, "story", "stories")
        );
        if self.duplicates > 0 {
            let _ = write!(
                s,
                " ({} not compared: not published)",
                counted(self.duplicates, "duplicate", "duplicates")
            );
        }
        s.push('\n');
        for (id, c) in &self.topics {
            let _ = writeln!(s, "  topic {id}: {c}");
        }
        for (id, c) in &self.alerts {
            let _ = writeln!(s, "  alert {id}: {c}");
        }
        for (id, c) in &self.routes {
            let _ = writeln!(s, "  route {id}: {c}");
        }
        if self.actor_stories > 0 {
            let (gained, lost) = self
                .actors
                .values()
                .fold((0, 0), |(g, l), c| (g + c.gained, l + c.lost));
            let _ = writeln!(
                s,
                "  actors: +{gained} -{lost} (over {})",
                counted(self.actor_stories, "story", "stories")
            );
            for (id, c) in &self.actors {
                let _ = writeln!(s, "    actor {id}: {c}");
            }
        }
        s
    }
}

/// How `replay --diff` prints a changed story.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffFormat {
    /// [`render_story`].
    Text,
    /// One [`StoryDiff`] as a JSON object per line.
    Json,
}

/// Replays `files` through two fresh [`Processor`]s side by side, one with the `configured`
/// taxonomy and one with the `candidate`, in one pass, and writes each story whose tagging
/// differs to `out` as it comes (memory stays flat as the input grows). Returns the replay's
/// report and the totals; the caller prints those.
#[allow(clippy::too_many_arguments)]
pub fn replay_diff(
    configured: Arc<Taxonomy>,
    candidate: Arc<Taxonomy>,
    dedup: DedupConfig,
    routes: Vec<Route>,
    files: &[PathBuf],
    format: DiffFormat,
    out: &mut dyn Write,
    errors: &mut dyn FnMut(FileError),
) -> std::io::Result<(ReplayReport, DiffSummary)> {
    let mut before = Processor::new(configured, dedup.clone(), routes.clone());
    let mut after = Processor::new(candidate, dedup, routes);
    let mut summary = DiffSummary::default();
    let mut buf = Vec::with_capacity(4 * 1024);
    let report = for_each_story(files, errors, &mut |story| {
        let clock = story.published_at.unwrap_or(story.fetched_at);
        let b = before.process(&story, clock).event;
        let a = after.process(&story, clock).event;
        if (b.dedup.status, &b.dedup.cluster) != (a.dedup.status, &a.dedup.cluster) {
            // Cannot happen while dedup ignores the taxonomy; if it ever does, the alerts are
            // no longer comparable, so stop rather than report a wrong difference.
            return Err(std::io::Error::other(format!(
                "story {}: dedup decided {} with the configured taxonomy and {} with the candidate (a bug: the comparison is not valid)",
                story.id,
                b.dedup.status.as_str(),
                a.dedup.status.as_str()
            )));
        }
        let Some(d) = summary.observe(&b, &a) else {
            return Ok(());
        };
        buf.clear();
        match format {
            DiffFormat::Text => buf.extend_from_slice(render_story(&d).as_bytes()),
            DiffFormat::Json => {
                serde_json::to_writer(&mut buf, &d)?;
                buf.push(b'\n');
            }
        }
        out.write_all(&buf)
    })?;
    out.flush()?;
    Ok((report, summary))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::story::{ActorTag, AlertHit, DedupInfo, Evidence, Field, TopicTag};

    /// An event with the given tags; everything else fixed.
    fn event(
        status: DedupStatus,
        topics: &[(&str, f64)],
        actors: &[(&str, &str)],
        alerts: &[&str],
        routes: &[&str],
    ) -> EnrichedEvent {
        let at = DateTime::parse_from_rfc3339("2021-05-06T01:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let evidence = |text: &str| Evidence {
            field: Field::Title,
            start: 0,
            end: text.len(),
            text: text.into(),
        };
        EnrichedEvent {
            schema_version: 1,
            id: "18a60bfc5f0cce32".into(),
            feed: "afp".into(),
            outlet: "AFP".into(),
            guid: None,
            link: None,
            canonical_link: None,
            title: "North Korea fires <b>ballistic missile</b>\n into sea".into(),
            summary: String::new(),
            content: String::new(),
            text: String::new(),
            published_at: Some(at),
            fetched_at: at,
            processed_at: at,
            language: None,
            dedup: DedupInfo {
                status,
                cluster: "18a60bfc5f0cce32".into(),
                revision: 0,
                matched_by: None,
                similarity: None,
            },
            actors: actors
                .iter()
                .map(|(id, text)| ActorTag {
                    id: (*id).into(),
                    name: id.to_uppercase().into(),
                    kind: "person".into(),
                    mentions: 1,
                    evidence: vec![evidence(text), evidence("second")],
                })
                .collect(),
            topics: topics
                .iter()
                .map(|(id, score)| TopicTag {
                    id: (*id).into(),
                    score: *score,
                    evidence: vec![evidence("x")],
                })
                .collect(),
            alerts: alerts
                .iter()
                .map(|rule| AlertHit {
                    rule: rule.to_string(),
                    name: String::new(),
                    severity: "critical".into(),
                    notify: true,
                    evidence: vec![],
                })
                .collect(),
            routes: routes.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn same_tags_are_no_change() {
        let e = event(
            DedupStatus::New,
            &[("missile-test", 0.9)],
            &[("kim-jong-un", "Kim")],
            &["nk-missile-launch"],
            &["news.missile-test"],
        );
        assert_eq!(diff_events(&e, &e.clone()), None);
        // Only evidence, mention counts or `notify` differ: not a change either.
        let mut other = e.clone();
        other.actors[0].mentions = 4;
        other.actors[0].evidence.reverse();
        other.topics[0].evidence.clear();
        other.alerts[0].notify = false;
        assert_eq!(diff_events(&e, &other), None);
    }

    #[test]
    fn gains_losses_and_rescores() {
        let before = event(
            DedupStatus::New,
            &[
                ("north-korea", 0.55),
                ("missile-test", 0.64),
                ("us-korea-alliance", 0.70),
                ("inter-korean", 0.50),
            ],
            &[("north-korea", "Pyongyang"), ("joe-biden", "Biden")],
            &["nk-missile-launch"],
            &["news.missile-test"],
        );
        let after = event(
            DedupStatus::New,
            &[
                ("trilateral-diplomacy", 0.71),
                ("north-korea", 0.81),
                ("us-korea-alliance", 0.74),
                ("inter-korean", 0.55),
            ],
            &[("yoon-suk-yeol", "Yoon"), ("north-korea", "DPRK")],
            &[],
            &["news.diplomacy"],
        );
        let d = diff_events(&before, &after).unwrap();
        let ids = |v: &[ScoredTopic]| v.iter().map(|t| t.id.to_string()).collect::<Vec<_>>();
        assert_eq!(ids(&d.topics.added), ["trilateral-diplomacy"]);
        assert_eq!(ids(&d.topics.removed), ["missile-test"]);
        assert_eq!(
            d.topics.removed[0].score, 0.64,
            "the score of the side that has it"
        );
        // 0.55 → 0.81 and exactly 0.05 (0.50 → 0.55) are reported, 0.70 → 0.74 is not.
        let moved: Vec<(&str, f64, f64)> = d
            .rescored
            .iter()
            .map(|r| (r.id.as_str(), r.before, r.after))
            .collect();
        assert_eq!(
            moved,
            [("inter-korean", 0.50, 0.55), ("north-korea", 0.55, 0.81)]
        );
        assert_eq!(
            d.actors.added,
            [NamedActor {
                id: "yoon-suk-yeol".into(),
                name: "YOON-SUK-YEOL".into(),
                evidence: Some("Yoon".into()),
            }]
        );
        assert_eq!(d.actors.removed.len(), 1);
        assert_eq!(
            d.actors.removed[0].evidence.as_deref(),
            Some("Biden"),
            "a lost actor shows what it matched before"
        );
        assert_eq!(d.alerts.removed, ["nk-missile-launch"]);
        assert!(d.alerts.added.is_empty());
        assert_eq!(d.routes.added, ["news.diplomacy"]);
        assert_eq!(d.routes.removed, ["news.missile-test"]);
        assert_eq!(d.title, "North Korea fires ballistic missile into sea");

        assert_eq!(
            render_story(&d),
            "18a60bfc 2021-05-06 01:00 afp [new] North Korea fires ballistic missile into sea\n\
             \x20 + topic trilateral-diplomacy (0.71)\n\
             \x20 - topic missile-test (0.64)\n\
             \x20 ~ topic inter-korean 0.50 -> 0.55\n\
             \x20 ~ topic north-korea 0.55 -> 0.81\n\
             \x20 + actor yoon-suk-yeol (\"Yoon\")\n\
             \x20 - actor joe-biden (\"Biden\")\n\
             \x20 - alert nk-missile-launch\n\
             \x20 + route news.diplomacy\n\
             \x20 - route news.missile-test\n\n"
        );
    }

    #[test]
    fn a_small_score_move_alone_is_no_change() {
        let before = event(DedupStatus::New, &[("north-korea", 0.81)], &[], &[], &[]);
        let after = event(DedupStatus::New, &[("north-korea", 0.77)], &[], &[], &[]);
        assert_eq!(diff_events(&before, &after), None);
    }

    #[test]
    fn summary_counts_per_topic_rule_route_and_actor() {
        let mut s = DiffSummary::default();
        let plain = event(DedupStatus::New, &[("north-korea", 0.9)], &[], &[], &[]);
        let launch = event(
            DedupStatus::New,
            &[("north-korea", 0.9), ("missile-test", 0.9)],
            &[("kcna", "KCNA")],
            &["nk-missile-launch"],
            &["news.missile-test"],
        );
        // A story that loses the launch, one that gains it, a copy that loses the topic (no
        // alert: copies fire none), an unchanged story and a duplicate.
        assert!(s.observe(&launch, &plain).is_some());
        assert!(s.observe(&plain, &launch).is_some());
        let copy = |e: &EnrichedEvent| {
            let mut e = e.clone();
            e.dedup.status = DedupStatus::NearDuplicate;
            e.alerts.clear();
            e
        };
        assert!(s.observe(&copy(&launch), &copy(&plain)).is_some());
        assert!(s.observe(&plain, &plain).is_none());
        let dup = |e: &EnrichedEvent| {
            let mut e = e.clone();
            e.dedup.status = DedupStatus::Duplicate;
            e
        };
        assert!(
            s.observe(&dup(&launch), &dup(&plain)).is_none(),
            "duplicates are not compared"
        );
        assert_eq!((s.compared, s.changed, s.duplicates), (4, 3, 1));
        assert_eq!(
            s.render(),
            "summary: 4 stories compared, 3 stories changed (1 duplicate not compared: not published)\n\
             \x20 topic missile-test: +1 -2\n\
             \x20 alert nk-missile-launch: +1 -1\n\
             \x20 route news.missile-test: +1 -2\n\
             \x20 actors: +1 -2 (over 3 stories)\n\
             \x20   actor kcna: +1 -2\n"
        );
    }

    #[test]
    fn summary_of_nothing_changed() {
        let mut s = DiffSummary::default();
        let e = event(DedupStatus::Update, &[("north-korea", 0.9)], &[], &[], &[]);
        assert!(s.observe(&e, &e).is_none());
        assert_eq!(s.render(), "summary: 1 story compared, 0 stories changed\n");
    }

    #[test]
    fn an_undated_story_says_so() {
        let before = event(DedupStatus::New, &[], &[("kcna", "KCNA")], &[], &[]);
        let mut after = event(DedupStatus::New, &[], &[], &[], &[]);
        after.published_at = None;
        let d = diff_events(&before, &after).unwrap();
        assert!(
            render_story(&d).starts_with("18a60bfc undated          afp [new] "),
            "{}",
            render_story(&d)
        );
    }
}
