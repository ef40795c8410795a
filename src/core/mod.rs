//! The pure core: values in, values out. No I/O, no clock reads, no async.
//!
//! - [`text`]: markup removal and matching normalisation with offset maps
//! - [`canon`]: canonical links
//! - [`taxonomy`]: the taxonomy file → compiled actors, topics, alert rules
//! - [`matcher`]: the leftmost-longest pattern search of the tagger (word trie, CJK automaton)
//! - [`tagger`]: actors, topic scores and alert conditions of one story, with evidence
//! - [`table`]: the compact hash table of the dedup index's keys
//! - [`dedup`]: the dedup index (exact, update, near-duplicate) over a time window
//! - [`pipeline`]: one raw story → one enriched event (dedup + tag + route + alert decisions)

pub mod canon;
pub mod dedup;
pub mod matcher;
pub mod pipeline;
pub mod table;
pub mod tagger;
pub mod taxonomy;
pub mod text;
