//! The fetch stage: one task per feed, polite polling (conditional GET, per-host and global
//! limits, backoff with jitter), feed-rs parsing, and publication of new or changed items to
//! the raw topic, each acknowledged by the broker before the item counts as seen.

pub mod http;
pub mod list;
pub mod schedule;
pub mod shard;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::Rng;
use rdkafka::producer::FutureProducer;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;
use xxhash_rust::xxh3::xxh3_64;

use crate::config::{Config, FeedConfig};
use crate::feed::{parse_document, Source};
use crate::kafka::{self, Role, StatsContext};
use crate::observe::metrics as m;
use crate::story::RawStory;
use http::{Limits, Outcome, PollError, Validators};

/// Health of one feed, for `/feeds` and metrics.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FeedStatus {
    pub id: String,
    pub url: String,
    pub state: &'static str,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_kind: Option<&'static str>,
    pub consecutive_failures: u32,
    pub next_poll: Option<DateTime<Utc>>,
    pub items_published: u64,
}

/// Shared view of every feed's status.
pub type StatusBoard = Arc<Mutex<HashMap<String, FeedStatus>>>;

/// What a feed task saves to the fetch-state topic (key = feed id).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct FetchState {
    pub schema_version: u32,
    pub feed: String,
    /// The URL in the configuration (a state for another URL is ignored).
    pub config_url: String,
    /// Where the feed is polled now (differs after a permanent redirect).
    pub url: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub seen: Vec<(String, u64)>,
    pub seen_links: Vec<(u64, String)>,
    pub interval_secs: f64,
}

/// What a feed task remembers between polls.
#[derive(Debug, Default)]
struct FeedMemory {
    validators: Validators,
    /// Story id → hash of its text: unchanged items are not republished.
    seen: HashMap<String, u64>,
    /// Hash of canonical link + title → story id, for feeds that rewrite guids every poll.
    seen_links: HashMap<u64, String>,
    interval: Duration,
    /// The feed's own scheduling hints (`<ttl>`, `sy:update*`, `skipHours`, `skipDays`).
    hints: schedule::FeedHints,
    /// Items published by the last poll (drives the adaptive interval).
    new_items: usize,
}

/// A feed task in flight.
struct Running {
    feed: FeedConfig,
    stop: CancellationToken,
    /// Ends with the task's memory (validators, seen items), handed to its successor when the
    /// feed's settings change.
    handle: tokio::task::JoinHandle<Option<FetchState>>,
}

/// Reads the latest fetch state of every feed from the compacted fetch-state topic.
async fn read_states(cfg: &Config, brokers: &str) -> HashMap<String, FetchState> {
    let mut saved: HashMap<String, FetchState> = HashMap::new();
    let topic = cfg.kafka.topics.fetch_state.clone();
    let read = kafka::read_to_end(&cfg.kafka, brokers, &topic, "fetch-state", |_, payload| {
        if let Ok(st) = serde_json::from_slice::<FetchState>(payload) {
            saved.insert(st.feed.clone(), st);
        }
    })
    .await;
    match read {
        Ok(_) => tracing::info!(feeds = saved.len(), "fetch state restored"),
        Err(e) => tracing::warn!(error = %e, "could not read the fetch state; starting fresh"),
    }
    saved
}

/// Polls the feeds of `feeds` (the live feed list; see [`list`]) until `stop` is cancelled:
/// one task per feed, started, stopped or restarted as the list changes. With `owned` (shared
/// fetchers, see [`shard`]) only the feeds of the shards this process owns are polled.
pub async fn run(
    cfg: Arc<Config>,
    brokers: String,
    producer: FutureProducer<StatsContext>,
    board: StatusBoard,
    mut feeds: watch::Receiver<list::FeedList>,
    mut owned: Option<shard::Owned>,
    stop: CancellationToken,
) {
    let client = http::client(
        &cfg.user_agent(),
        Duration::from_secs(cfg.fetch.connect_timeout_secs),
        Duration::from_secs(cfg.fetch.timeout_secs),
    );
    let global = Arc::new(Semaphore::new(cfg.fetch.concurrency));
    let mut hosts: HashMap<String, Arc<Semaphore>> = HashMap::new();
    let mut running: HashMap<String, Running> = HashMap::new();
    // What earlier runs (or, with shared fetchers, earlier owners) remembered: validators and
    // seen items per feed, so a restart neither re-downloads unchanged feeds nor republishes
    // their items. Read when feeds start.
    let mut saved: Option<HashMap<String, FetchState>> = None;
    let gauges = tokio::spawn(update_gauges(board.clone(), stop.clone()));
    let mut list_open = true;
    loop {
        let list = feeds.borrow_and_update().clone();
        let shards = owned.as_mut().map(|o| o.borrow_and_update().clone());
        let desired: HashMap<&str, &FeedConfig> = list
            .iter()
            .filter(|f| match &shards {
                None => true,
                Some(None) => false,
                Some(Some(set)) => set.contains(&shard::shard_of(&f.id, cfg.fetch.shards)),
            })
            .map(|f| (f.id.as_str(), f))
            .collect();
        running.retain(|id, r| {
            let keep = desired.contains_key(id.as_str());
            if !keep {
                tracing::info!(feed = %id, "feed no longer polled here");
                r.stop.cancel();
                if let Ok(mut b) = board.lock() {
                    b.remove(id);
                }
            }
            keep
        });
        let starting: Vec<&FeedConfig> = desired
            .values()
            .filter(|f| running.get(&f.id).is_none_or(|r| r.feed != ***f))
            .copied()
            .collect();
        if !starting.is_empty() && (saved.is_none() || owned.is_some()) {
            // Shared fetchers read again: another fetcher may have polled these feeds since.
            saved = Some(read_states(&cfg, &brokers).await);
        }
        for feed in starting {
            let host = url::Url::parse(&feed.url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_default();
            let per_host = hosts
                .entry(host)
                .or_insert_with(|| Arc::new(Semaphore::new(cfg.fetch.per_host)))
                .clone();
            let token = stop.child_token();
            let task = FeedTask {
                cfg: cfg.clone(),
                feed: feed.clone(),
                client: client.clone(),
                producer: producer.clone(),
                global: global.clone(),
                per_host,
                board: board.clone(),
                stop: token.clone(),
            };
            let state = saved
                .as_mut()
                .and_then(|s| s.remove(&feed.id))
                .filter(|st| st.config_url == feed.url);
            let handle = match running.remove(&feed.id) {
                // Settings changed: the old task ends first (no overlapping polls) and hands
                // over its memory when the URL is the same.
                Some(old) => {
                    tracing::info!(feed = %feed.id, "feed settings changed; restarting its poller");
                    old.stop.cancel();
                    tokio::spawn(async move {
                        let kept = old
                            .handle
                            .await
                            .ok()
                            .flatten()
                            .filter(|st| st.config_url == task.feed.url);
                        task.run(kept.or(state)).await
                    })
                }
                None => tokio::spawn(task.run(state)),
            };
            running.insert(
                feed.id.clone(),
                Running {
                    feed: feed.clone(),
                    stop: token,
                    handle,
                },
            );
        }
        let list_changed = async {
            if list_open {
                feeds.changed().await.is_ok()
            } else {
                std::future::pending().await
            }
        };
        let shards_changed = async {
            match owned.as_mut() {
                Some(o) => {
                    if o.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stop.cancelled() => break,
            open = list_changed => list_open = open,
            _ = shards_changed => {}
        }
    }
    for r in running.into_values() {
        r.stop.cancel();
        let _ = r.handle.await;
    }
    gauges.abort();
}

async fn update_gauges(board: StatusBoard, stop: CancellationToken) {
    loop {
        let mut counts: HashMap<&'static str, usize> = HashMap::new();
        if let Ok(b) = board.lock() {
            for s in b.values() {
                *counts.entry(s.state).or_default() += 1;
            }
        }
        for state in ["healthy", "failing", "disabled"] {
            metrics::gauge!(m::FEEDS, "state" => state)
                .set(*counts.get(state).unwrap_or(&0) as f64);
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

struct FeedTask {
    cfg: Arc<Config>,
    feed: FeedConfig,
    client: reqwest::Client,
    producer: FutureProducer<StatsContext>,
    global: Arc<Semaphore>,
    per_host: Arc<Semaphore>,
    board: StatusBoard,
    stop: CancellationToken,
}

impl FeedTask {
    fn base_interval(&self) -> Duration {
        let f = &self.cfg.fetch;
        let secs = self
            .feed
            .interval_secs
            .unwrap_or(f.default_interval_secs)
            .clamp(
                f.min_interval_secs
                    .min(self.feed.interval_secs.unwrap_or(u64::MAX)),
                f.max_interval_secs,
            );
        Duration::from_secs(secs.max(1))
    }

    fn headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in &self.feed.headers {
            if let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::from_str(v)) {
                h.insert(k, v);
            }
        }
        h
    }

    fn set_status(&self, f: impl FnOnce(&mut FeedStatus)) {
        if let Ok(mut b) = self.board.lock() {
            let s = b.entry(self.feed.id.clone()).or_insert_with(|| FeedStatus {
                id: self.feed.id.clone(),
                url: self.feed.url.clone(),
                state: "healthy",
                ..Default::default()
            });
            f(s);
        }
    }

    /// Polls until stopped; returns what the feed's poller remembers (for its successor).
    async fn run(mut self, saved: Option<FetchState>) -> Option<FetchState> {
        let mut mem = FeedMemory {
            interval: self.base_interval(),
            ..Default::default()
        };
        if let Some(st) = saved {
            if st.url != self.feed.url {
                tracing::info!(feed = %self.feed.id, url = %st.url, "polling the URL the feed moved to");
                self.feed.url = st.url.clone();
            }
            mem.validators = Validators {
                etag: st.etag,
                last_modified: st.last_modified,
            };
            mem.seen = st.seen.into_iter().collect();
            mem.seen_links = st.seen_links.into_iter().collect();
            if st.interval_secs > 0.0 {
                mem.interval = Duration::from_secs_f64(st.interval_secs);
            }
        }
        let config_url = self.feed.url.clone();
        let headers = self.headers();
        let limits = Limits {
            max_body_bytes: self.cfg.fetch.max_body_bytes,
            max_redirects: self.cfg.fetch.max_redirects,
            allow_private: self.cfg.fetch.allow_private_addresses,
        };
        self.set_status(|_| {});
        // First polls are spread over a few seconds so a restart does not burst.
        let mut wait = Duration::from_millis(rand::rng().random_range(0..1000));
        let mut failures: u32 = 0;
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => return Some(self.snapshot(&config_url, &mem)),
                _ = tokio::time::sleep(wait) => {}
            }
            let started = Instant::now();
            let result = {
                let Ok(_g) = self.global.acquire().await else {
                    return None;
                };
                let Ok(_h) = self.per_host.acquire().await else {
                    return None;
                };
                http::poll(
                    &self.client,
                    &self.feed.url,
                    &mem.validators,
                    &headers,
                    &limits,
                )
                .await
            };
            let hint: Option<u64>;
            match result {
                Ok(Outcome::NotModified { fresh_for }) => {
                    metrics::counter!(m::FETCH_REQUESTS, "outcome" => "not_modified", "status_class" => "3xx").increment(1);
                    metrics::counter!(m::FETCH_NOT_MODIFIED).increment(1);
                    metrics::histogram!(m::FETCH_DURATION, "outcome" => "not_modified")
                        .record(started.elapsed().as_secs_f64());
                    failures = 0;
                    hint = fresh_for;
                    self.set_status(|s| {
                        s.state = "healthy";
                        s.last_success = Some(Utc::now());
                        s.consecutive_failures = 0;
                    });
                }
                Ok(Outcome::Fetched {
                    body,
                    status,
                    validators,
                    charset,
                    moved_to,
                    fresh_for,
                }) => {
                    metrics::counter!(m::FETCH_BYTES).increment(body.len() as u64);
                    hint = fresh_for;
                    if let Some(new_url) = moved_to {
                        tracing::warn!(feed = %self.feed.id, from = %self.feed.url, to = %new_url, "feed moved permanently; polling the new URL");
                        self.feed.url = new_url.clone();
                        self.set_status(|s| s.url = new_url);
                    }
                    let fetched_at = Utc::now();
                    let parsed = parse_document(
                        &body,
                        &Source {
                            feed: &self.feed.id,
                            outlet: self.feed.outlet(),
                            url: Some(&self.feed.url),
                            charset: charset.as_deref(),
                            fetched_at,
                        },
                    );
                    match parsed {
                        Ok(stories) => {
                            metrics::counter!(m::FETCH_REQUESTS, "outcome" => "ok", "status_class" => class(status)).increment(1);
                            metrics::counter!(m::FETCH_ITEMS).increment(stories.len() as u64);
                            match self.publish_new(&mut mem, stories).await {
                                Ok(n) => {
                                    mem.new_items = n;
                                    mem.hints = schedule::feed_hints(&body);
                                    mem.validators = validators;
                                    self.save_state(&config_url, &mem).await;
                                    failures = 0;
                                    self.set_status(|s| {
                                        s.state = "healthy";
                                        s.last_success = Some(fetched_at);
                                        s.consecutive_failures = 0;
                                        s.items_published += n as u64;
                                    });
                                }
                                Err(e) => {
                                    // Not marked seen: the next poll publishes them again.
                                    tracing::error!(feed = %self.feed.id, error = %e, "could not publish stories; will retry");
                                    failures += 1;
                                }
                            }
                            metrics::histogram!(m::FETCH_DURATION, "outcome" => "ok")
                                .record(started.elapsed().as_secs_f64());
                        }
                        Err(e) => {
                            let err = PollError {
                                kind: "parse",
                                status: Some(status),
                                message: e.to_string(),
                                retry_after: None,
                                gone: false,
                            };
                            failures += 1;
                            self.record_error(&err, failures, started);
                        }
                    }
                }
                Err(err) => {
                    failures += 1;
                    hint = err.retry_after;
                    self.record_error(&err, failures, started);
                    if err.gone {
                        tracing::error!(feed = %self.feed.id, url = %self.feed.url, "feed is gone (HTTP 410); disabled until the config changes");
                        self.set_status(|s| s.state = "disabled");
                        self.stop.cancelled().await;
                        return Some(self.snapshot(&config_url, &mem));
                    }
                }
            }
            wait = self.next_wait(failures, hint, &mut mem);
            let next = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
            self.set_status(|s| s.next_poll = Some(next));
        }
    }

    fn record_error(&self, err: &PollError, failures: u32, started: Instant) {
        let status_class = err.status.map_or("none", class);
        metrics::counter!(m::FETCH_REQUESTS, "outcome" => "error", "status_class" => status_class)
            .increment(1);
        metrics::counter!(m::FETCH_ERRORS, "kind" => err.kind).increment(1);
        metrics::histogram!(m::FETCH_DURATION, "outcome" => "error")
            .record(started.elapsed().as_secs_f64());
        tracing::warn!(feed = %self.feed.id, url = %self.feed.url, kind = err.kind, failures, error = %err, "poll failed");
        let (kind, message) = (err.kind, err.message.clone());
        self.set_status(|s| {
            s.state = "failing";
            s.last_error = Some(message);
            s.last_error_kind = Some(kind);
            s.consecutive_failures = failures;
        });
    }

    /// Next wait (see [`schedule::next_interval`]): adaptive between the floor and the
    /// ceiling, backoff on failures, the server's and the feed's hints honoured, ±10 % jitter
    /// so polls never align, and the feed's skipped hours and days skipped.
    fn next_wait(&self, failures: u32, hint: Option<u64>, mem: &mut FeedMemory) -> Duration {
        let f = &self.cfg.fetch;
        let base = self.base_interval().as_secs_f64();
        let bounds = schedule::Bounds {
            min: (f.min_interval_secs as f64).min(base),
            max: (f.max_interval_secs as f64).max(base),
        };
        let hint = hint.max(mem.hints.min_interval_secs());
        let secs = schedule::next_interval(
            mem.interval.as_secs_f64(),
            base,
            bounds,
            mem.new_items,
            failures,
            hint,
        );
        mem.interval = Duration::from_secs_f64(secs);
        mem.new_items = 0;
        let jitter = rand::rng().random_range(0.9..1.1);
        let wait = Duration::from_secs_f64((secs * jitter).max(0.05));
        let at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
        let allowed = schedule::skip_forward(at, &mem.hints);
        (allowed - Utc::now()).to_std().unwrap_or(wait).max(wait)
    }

    /// Saves validators and seen items to the compacted fetch-state topic (best effort: a
    /// failure only means the next start republishes, which dedup absorbs).
    /// What this poller remembers, as saved to the fetch-state topic.
    fn snapshot(&self, config_url: &str, mem: &FeedMemory) -> FetchState {
        FetchState {
            schema_version: crate::story::SCHEMA_VERSION,
            feed: self.feed.id.clone(),
            config_url: config_url.to_string(),
            url: self.feed.url.clone(),
            etag: mem.validators.etag.clone(),
            last_modified: mem.validators.last_modified.clone(),
            seen: mem.seen.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            seen_links: mem
                .seen_links
                .iter()
                .map(|(k, v)| (*k, v.clone()))
                .collect(),
            interval_secs: mem.interval.as_secs_f64(),
        }
    }

    async fn save_state(&self, config_url: &str, mem: &FeedMemory) {
        let st = self.snapshot(config_url, mem);
        let Ok(payload) = serde_json::to_vec(&st) else {
            return;
        };
        let topic = &self.cfg.kafka.topics.fetch_state;
        if let Err(e) = kafka::send(
            &self.producer,
            topic,
            Role::State,
            &self.feed.id,
            &payload,
            None,
        )
        .await
        {
            tracing::warn!(feed = %self.feed.id, error = %e, "could not save the fetch state");
        }
    }

    /// Publishes items not seen before (or changed) and waits for the broker's
    /// acknowledgements; only then are they remembered as seen.
    async fn publish_new(
        &self,
        mem: &mut FeedMemory,
        stories: Vec<RawStory>,
    ) -> Result<usize, rdkafka::error::KafkaError> {
        let topic = &self.cfg.kafka.topics.raw;
        let mut fresh = Vec::new();
        let mut present = Vec::with_capacity(stories.len());
        for story in &stories {
            let text_hash = xxh3_64(
                format!(
                    "{}\u{1f}{}\u{1f}{}",
                    story.title, story.summary, story.content
                )
                .as_bytes(),
            );
            let link_key = story
                .canonical_link
                .as_ref()
                .map(|l| xxh3_64(format!("{l}\u{1f}{}", story.title).as_bytes()));
            present.push(story.id.clone());
            if mem.seen.get(&story.id) == Some(&text_hash) {
                continue;
            }
            // A feed that rewrites guids: same link and title under a new id is not new.
            if let Some(k) = link_key {
                if let Some(old) = mem.seen_links.get(&k) {
                    if old != &story.id && mem.seen.contains_key(old) {
                        present.push(old.clone());
                        continue;
                    }
                }
            }
            let payload = serde_json::to_vec(story).unwrap_or_default();
            fresh.push((story.id.clone(), text_hash, link_key, payload));
        }
        // All in flight at once (the producer batches them); each is remembered as seen only
        // once the broker has acknowledged it.
        let acks = futures::future::join_all(fresh.iter().map(|(id, _, _, payload)| {
            kafka::send(&self.producer, topic, Role::Raw, id, payload, None)
        }))
        .await;
        let mut n = 0;
        let mut failed = None;
        for (ack, (id, h, k, _)) in acks.into_iter().zip(fresh) {
            if let Err(e) = ack {
                failed = Some(e);
                continue;
            }
            metrics::counter!(m::FETCH_PUBLISHED).increment(1);
            n += 1;
            if let Some(k) = k {
                mem.seen_links.insert(k, id.clone());
            }
            mem.seen.insert(id, h);
        }
        if let Some(e) = failed {
            return Err(e);
        }
        // Forget items that left the document, so memory follows the feed's size.
        let keep: std::collections::HashSet<&String> = present.iter().collect();
        mem.seen.retain(|id, _| keep.contains(id));
        mem.seen_links.retain(|_, id| keep.contains(id));
        Ok(n)
    }
}

fn class(status: u16) -> &'static str {
    match status {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "none",
    }
}
