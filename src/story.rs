//! The data that flows through the pipeline: raw stories (fetch → `news.raw`), enriched events
//! (`news.enriched`, replay output), alerts (`news.alerts`) and cluster updates (`news.clusters`).
//!
//! Every message carries `schema_version`; the JSON Schema is `docs/event.schema.json`.

use chrono::{DateTime, Utc};
use compact_str::CompactString;
use serde::{Deserialize, Serialize};

/// Version of the JSON messages this build writes. Bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// One item of a feed, as the fetcher publishes it to `news.raw` (key = `id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStory {
    pub schema_version: u32,
    /// Stable story id: a hash of the feed id and the item's guid, else its canonical link,
    /// else its text (see [`crate::feed::story_id`]).
    pub id: String,
    /// Feed id from the configuration (the file stem in `replay`).
    pub feed: String,
    /// Outlet label of the feed (bounded, from the configuration).
    pub outlet: String,
    /// The guid as the feed gave it, if it gave one.
    pub guid: Option<String>,
    /// The link as the feed gave it (resolved against the feed URL).
    pub link: Option<String>,
    /// The link canonicalised (see [`crate::core::canon`]).
    pub canonical_link: Option<String>,
    pub title: String,
    /// Summary / description, original markup kept.
    pub summary: String,
    /// Full content, original markup kept.
    pub content: String,
    pub published_at: Option<DateTime<Utc>>,
    pub fetched_at: DateTime<Utc>,
    /// Language reported by the feed, if any.
    #[serde(default)]
    pub language: Option<String>,
}

/// The dedup decision for a story.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DedupStatus {
    /// First time this story is seen.
    New,
    /// The same story (same id or canonical link) with changed text.
    Update,
    /// The same item again: same id, canonical link or text.
    Duplicate,
    /// A syndicated copy of a story already seen (same body text, other outlet/headline).
    NearDuplicate,
}

impl DedupStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DedupStatus::New => "new",
            DedupStatus::Update => "update",
            DedupStatus::Duplicate => "duplicate",
            DedupStatus::NearDuplicate => "near_duplicate",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DedupInfo {
    pub status: DedupStatus,
    /// Shared by a story, its updates and its copies: the id of the first story of the cluster.
    pub cluster: String,
    /// 0 for the first version of a story, incremented by each `update`.
    pub revision: u32,
    /// What decided it: `id`, `link`, `text`, `shingles` (near-duplicate), or absent for `new`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_by: Option<String>,
    /// For near-duplicates: the share of this story's fingerprints found in the cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f32>,
}

/// Where in the story a match was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Title,
    Summary,
    Content,
}

/// One piece of evidence: the text that matched, the field it is in, and its byte offsets in
/// the event's `text` (title, summary and content with markup removed, joined by blank lines:
/// `text[start..end] == evidence.text`). `wirewatch tag` shows offsets within each field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub field: Field,
    pub start: usize,
    pub end: usize,
    pub text: CompactString,
}

// Ids, names and evidence texts are short: `CompactString` keeps up to 24 bytes inline, so
// tagging a story does not allocate one string for each of them (about a hundred per dense
// story). It serialises as a plain string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActorTag {
    pub id: CompactString,
    pub name: CompactString,
    pub kind: CompactString,
    pub mentions: usize,
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicTag {
    pub id: CompactString,
    pub score: f64,
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertHit {
    pub rule: String,
    pub name: String,
    pub severity: String,
    /// False when a notification for the same rule went out less than `cooldown_secs` ago:
    /// the alert is recorded but does not page again.
    pub notify: bool,
    pub evidence: Vec<Evidence>,
}

/// The event published to `news.enriched` (and printed by `replay`) for each story.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrichedEvent {
    pub schema_version: u32,
    pub id: String,
    pub feed: String,
    pub outlet: String,
    pub guid: Option<String>,
    pub link: Option<String>,
    pub canonical_link: Option<String>,
    pub title: String,
    pub summary: String,
    pub content: String,
    /// Title, summary and content with markup removed: the text that was matched.
    pub text: String,
    pub published_at: Option<DateTime<Utc>>,
    pub fetched_at: DateTime<Utc>,
    pub processed_at: DateTime<Utc>,
    pub language: Option<String>,
    pub dedup: DedupInfo,
    pub actors: Vec<ActorTag>,
    pub topics: Vec<TopicTag>,
    pub alerts: Vec<AlertHit>,
    /// Extra topics this event was routed to (besides `news.enriched`).
    pub routes: Vec<String>,
}

/// A message on `news.alerts`: one per new story that fired a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    pub schema_version: u32,
    pub rule: String,
    pub name: String,
    pub severity: String,
    pub notify: bool,
    pub story_id: String,
    pub cluster: String,
    pub feed: String,
    pub outlet: String,
    pub title: String,
    pub link: Option<String>,
    pub published_at: Option<DateTime<Utc>>,
    pub fired_at: DateTime<Utc>,
    pub evidence: Vec<Evidence>,
}

/// A message on `news.clusters` (key = cluster id): the coverage of one story so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterUpdate {
    pub schema_version: u32,
    pub cluster: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Stories in the cluster: the original plus its near-duplicate copies.
    pub copies: u32,
    /// Revisions (updates) seen of stories in the cluster.
    pub updates: u32,
    /// Distinct outlets that carried it (at most 64 kept).
    pub outlets: Vec<String>,
    pub title: String,
}
