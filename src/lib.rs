//! wirewatch: an event-driven stream processor for news wire feeds.
//!
//! # Layout
//! A story travels down this list once: fetch → Kafka → process → core → Kafka.
//!
//! - [`cli`], [`commands`]: the command line and what each command does
//! - [`config`]: `config/wirewatch.toml` → validated config, environment overrides
//! - [`story`]: the messages that flow (raw story, enriched event, alert, cluster update)
//! - [`feed`]: feed documents → raw stories (feed-rs, stable ids, charsets)
//! - [`fetch`]: edge: per-feed polling tasks, polite HTTP, scheduling, publication to `news.raw`
//! - [`core`]: pure: text normalisation, canonical links, taxonomy, tagger, dedup, pipeline
//! - [`process`]: edge: consume `news.raw`, run the core, produce, store offsets
//! - [`kafka`]: producer, consumer, topic creation, the embedded broker
//! - [`replay`]: offline: files → the same core → JSON lines
//! - [`eval`]: precision/recall of dedup and tagging on labelled sets
//! - [`notify`]: webhook sink of alerts
//! - [`opml`]: feed lists in OPML (import, export)
//! - [`observe`]: metric names and the `/metrics`, `/healthz`, `/readyz` server
//! - [`app`], [`shutdown`]: wiring of the long-running commands and the stop order

pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
pub mod core;
pub mod eval;
pub mod feed;
pub mod fetch;
pub mod filewatch;
pub mod kafka;
pub mod notify;
pub mod observe;
pub mod opml;
pub mod process;
pub mod replay;
pub mod shutdown;
pub mod story;
