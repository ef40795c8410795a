//! The process stage: consume `news.raw` in a consumer group, run the core, produce enriched
//! events, routes, alerts, cluster updates and the dedup changelog, and store each offset only
//! after everything it produced is acknowledged (at-least-once, no duplicates as `new`: the
//! changelog restores dedup state after a crash).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::stream::{FuturesOrdered, StreamExt};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::FutureProducer;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::core::dedup::Remembered;
use crate::core::pipeline::{Output, Processor};
use crate::core::taxonomy::Taxonomy;
use crate::kafka::{self, Role, StatsContext};
use crate::observe::metrics as m;
use crate::observe::server::Readiness;
use crate::story::{AlertEvent, DedupStatus, RawStory, SCHEMA_VERSION};

/// Most messages whose productions are awaited at once.
const MAX_IN_FLIGHT: usize = 512;

/// Errors that stop the process stage.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Kafka(#[from] kafka::Error),
    #[error("kafka: {0}")]
    Client(#[from] rdkafka::error::KafkaError),
    #[error("delivery of the output of {topic}/{partition}@{offset} failed: {error}")]
    Delivery {
        topic: String,
        partition: i32,
        offset: i64,
        error: rdkafka::error::KafkaError,
    },
}

/// Counts of one run, for logs and tests.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessReport {
    pub consumed: u64,
    pub published: u64,
    pub deadlettered: u64,
    pub restored: u64,
    /// Raw messages whose outputs were found already emitted (after a crash or rebalance).
    pub recovered: u64,
}

/// Why a raw message could not be processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poison {
    Empty,
    TooLarge,
    InvalidJson,
    InvalidSchema,
}

impl Poison {
    pub fn label(self) -> &'static str {
        match self {
            Poison::Empty => "invalid_json",
            Poison::TooLarge => "too_large",
            Poison::InvalidJson => "invalid_json",
            Poison::InvalidSchema => "invalid_schema",
        }
    }
}

/// Decodes a raw message, or says why it is poison (with a human-readable reason).
pub fn decode(payload: Option<&[u8]>, max: usize) -> Result<RawStory, (Poison, String)> {
    let Some(bytes) = payload else {
        return Err((Poison::Empty, "message has no payload".into()));
    };
    if bytes.len() > max {
        return Err((
            Poison::TooLarge,
            format!("{} bytes is over the {max} byte limit", bytes.len()),
        ));
    }
    match serde_json::from_slice::<RawStory>(bytes) {
        Ok(s) if s.schema_version == SCHEMA_VERSION => Ok(s),
        Ok(s) => Err((
            Poison::InvalidSchema,
            format!(
                "schema_version {} is not {SCHEMA_VERSION}",
                s.schema_version
            ),
        )),
        Err(e) => {
            if serde_json::from_slice::<serde_json::Value>(bytes).is_ok() {
                Err((Poison::InvalidSchema, format!("not a raw story: {e}")))
            } else {
                Err((Poison::InvalidJson, format!("not JSON: {e}")))
            }
        }
    }
}

/// Reads the whole dedup changelog (to the high watermarks) into the processor. Returns the
/// number of records and, per partition, the offset where reading stopped.
pub async fn restore_state(
    cfg: &Config,
    brokers: &str,
    processor: &mut Processor,
) -> Result<(u64, Vec<(i32, i64)>), ProcessError> {
    let mut restored = 0;
    let ends = kafka::read_to_end(
        &cfg.kafka,
        brokers,
        &cfg.kafka.topics.dedup_state,
        "restore",
        |_, payload| {
            if let Ok(rec) = serde_json::from_slice::<Remembered>(payload) {
                processor.restore(&rec);
                restored += 1;
            }
        },
    )
    .await?;
    Ok((restored, ends))
}

/// Header naming the process instance that wrote a changelog record.
const INSTANCE_HEADER: &str = "instance";
/// Headers of an enriched event naming the raw message it came from.
const RAW_PARTITION_HEADER: &str = "raw_partition";
const RAW_OFFSET_HEADER: &str = "raw_offset";

/// Margin for clock differences between the fetcher that stamped a raw message and the
/// processor that stamped its event.
const RECOVERY_MARGIN_MS: i64 = 60_000;
/// Enriched events per partition read back when the broker cannot look offsets up by time:
/// more than one instance can have in flight (512) and processed between offset commits (one
/// second).
const RECOVERY_LOOKBACK: i64 = 20_000;
/// How long a recovery scan is reused (extended forward) for partitions that start later.
const RECOVERY_REUSE: Duration = Duration::from_secs(30);

/// The raw messages whose outputs are already on the enriched topic, for the raw offsets this
/// instance is about to (re)process.
///
/// When this instance starts reading a raw partition at some offset (at start, after a
/// rebalance, or after a gap), the messages from there on may have been processed by an
/// instance that crashed after their outputs were acknowledged but before their changelog
/// records were, or before their offsets were committed. Each enriched event carries its raw
/// partition and offset in headers, and is produced after the routes, alerts and cluster
/// update of its message (see `produce_output`): finding the event means every output is out,
/// so only the changelog record is written and no story comes out twice. Events are produced
/// after their raw message, so the scan starts at the raw message's timestamp (less a margin
/// for clock differences), or reads the last `RECOVERY_LOOKBACK` events of each partition
/// where the broker cannot look offsets up by time.
#[derive(Default)]
struct Recovery {
    /// Raw partition → raw offsets with an event on the enriched topic, not yet reached.
    emitted: std::collections::HashMap<i32, std::collections::BTreeSet<i64>>,
    /// How far the enriched topic has been read, and what that covers.
    read_to: Option<Scanned>,
}

/// Where a recovery scan of the enriched topic stopped.
struct Scanned {
    /// Per enriched partition, the next offset to read.
    ends: Vec<(i32, i64)>,
    /// Events from this time (ms) on are covered.
    covers: i64,
    at: Instant,
}

impl Recovery {
    /// Makes `emitted` cover the outputs of raw messages stamped from `since_ms` on.
    async fn refresh(
        &mut self,
        cfg: &Config,
        brokers: &str,
        since_ms: i64,
    ) -> Result<(), ProcessError> {
        let since = since_ms - RECOVERY_MARGIN_MS;
        let start = match &self.read_to {
            Some(r) if r.covers <= since && r.at.elapsed() < RECOVERY_REUSE => {
                kafka::Start::Offsets(r.ends.clone())
            }
            // A new scan adds to what earlier scans found for partitions not yet reached.
            _ => kafka::Start::Time {
                ms: since,
                or_last: RECOVERY_LOOKBACK,
            },
        };
        let covers = match (&start, &self.read_to) {
            (kafka::Start::Offsets(_), Some(r)) => r.covers,
            _ => since,
        };
        let header = |m: &rdkafka::message::BorrowedMessage<'_>, key: &str| -> Option<i64> {
            let h = m.headers()?;
            let v = h.iter().find(|x| x.key == key)?.value?;
            std::str::from_utf8(v).ok()?.parse().ok()
        };
        let mut scanned = 0u64;
        let emitted = &mut self.emitted;
        let ends = kafka::read_range(
            &cfg.kafka,
            brokers,
            &cfg.kafka.topics.enriched,
            "recovery",
            start,
            |m| {
                scanned += 1;
                if let (Some(p), Some(o)) = (
                    header(m, RAW_PARTITION_HEADER),
                    header(m, RAW_OFFSET_HEADER),
                ) {
                    emitted.entry(p as i32).or_default().insert(o);
                }
            },
        )
        .await?;
        tracing::info!(
            scanned,
            "checked the enriched topic for outputs of raw messages about to be processed"
        );
        self.read_to = Some(Scanned {
            ends,
            covers,
            at: Instant::now(),
        });
        Ok(())
    }

    /// Whether the outputs of raw `partition`/`offset` are out already (asked once per
    /// message, in offset order: what lies before `offset` is forgotten).
    fn take(&mut self, partition: i32, offset: i64) -> bool {
        let Some(set) = self.emitted.get_mut(&partition) else {
            return false;
        };
        let found = set.contains(&offset);
        *set = set.split_off(&(offset + 1));
        found
    }
}

/// Follows the dedup changelog from `from` and forwards records written by *other* instances,
/// so a copy arriving on another instance's partition is still recognised.
async fn follow_changelog(
    cfg: Arc<Config>,
    brokers: String,
    instance: String,
    from: Vec<(i32, i64)>,
    tx: mpsc::Sender<Remembered>,
    stop: CancellationToken,
) {
    let topic = cfg.kafka.topics.dedup_state.clone();
    let reader = match kafka::reader(&cfg.kafka, &brokers, "changelog") {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot follow the dedup changelog; copies across instances may be missed");
            return;
        }
    };
    let mut tpl = TopicPartitionList::new();
    for (p, off) in &from {
        if tpl
            .add_partition_offset(&topic, *p, Offset::Offset(*off))
            .is_err()
        {
            return;
        }
    }
    if let Err(e) = reader.assign(&tpl) {
        tracing::error!(error = %e, "cannot follow the dedup changelog");
        return;
    }
    loop {
        let msg = tokio::select! {
            _ = stop.cancelled() => return,
            m = reader.recv() => m,
        };
        let Ok(msg) = msg else { continue };
        let own = msg
            .headers()
            .and_then(|h| {
                h.iter()
                    .find(|x| x.key == INSTANCE_HEADER)
                    .and_then(|x| x.value.map(|v| v == instance.as_bytes()))
            })
            .unwrap_or(false);
        if own {
            continue;
        }
        if let Some(Ok(rec)) = msg.payload().map(serde_json::from_slice::<Remembered>) {
            if tx.send(rec).await.is_err() {
                return;
            }
        }
    }
}

/// Runs the process stage until `stop`; then drains, flushes and commits.
pub async fn run(
    cfg: Arc<Config>,
    brokers: String,
    mut taxonomy: watch::Receiver<Arc<Taxonomy>>,
    alerts_out: Option<mpsc::Sender<AlertEvent>>,
    ready: Readiness,
    stop: CancellationToken,
) -> Result<ProcessReport, ProcessError> {
    let tax = taxonomy.borrow_and_update().clone();
    let mut processor = Processor::new(tax, cfg.processor.dedup.clone(), cfg.kafka.routes.clone());
    let (restored, changelog_end) = restore_state(&cfg, &brokers, &mut processor).await?;
    let mut report = ProcessReport {
        restored,
        ..Default::default()
    };
    let instance = format!(
        "{}-{}-{}",
        cfg.kafka.client_id,
        std::process::id(),
        Utc::now().timestamp_micros()
    );
    let (peer_tx, mut peer_rx) = mpsc::channel::<Remembered>(4096);
    let follower_stop = stop.child_token();
    let follower = tokio::spawn(follow_changelog(
        cfg.clone(),
        brokers.clone(),
        instance.clone(),
        changelog_end,
        peer_tx,
        follower_stop.clone(),
    ));
    if report.restored > 0 {
        tracing::info!(
            records = report.restored,
            "dedup state restored from the changelog"
        );
    }
    let producer = kafka::producer(&cfg.kafka, &brokers, "process")?;
    let consumer = kafka::consumer(&cfg.kafka, &brokers, &cfg.kafka.group_id)?;
    consumer.subscribe(&[cfg.kafka.topics.raw.as_str()])?;
    ready.set(true);

    let mut in_flight = FuturesOrdered::new();
    // Per raw partition: the next offset expected; and what is already out (see `Recovery`).
    let mut next_offset: std::collections::HashMap<i32, i64> = Default::default();
    let mut recovery = Recovery::default();
    let result = loop {
        tokio::select! {
            biased;
            done = in_flight.next(), if !in_flight.is_empty() => {
                if let Err(e) = finish(&consumer, done) {
                    break Err(e);
                }
            }
            _ = stop.cancelled() => break Ok(()),
            Some(rec) = peer_rx.recv() => {
                // A story another instance remembered: learn it before the next message.
                processor.restore(&rec);
            }
            msg = consumer.recv(), if in_flight.len() < MAX_IN_FLIGHT => {
                let msg = match msg {
                    Ok(msg) => msg,
                    Err(e) => {
                        tracing::warn!(error = %e, "consumer error");
                        continue;
                    }
                };
                report.consumed += 1;
                metrics::counter!(m::CONSUMED).increment(1);
                let (topic, partition, offset) = (msg.topic().to_string(), msg.partition(), msg.offset());
                // Reading starts (or resumes) here: find the outputs already emitted from here on.
                if next_offset.get(&partition) != Some(&offset) {
                    let since = msg.timestamp().to_millis().unwrap_or(0);
                    if let Err(e) = recovery.refresh(&cfg, &brokers, since).await {
                        break Err(e);
                    }
                }
                next_offset.insert(partition, offset + 1);
                let recovered = recovery.take(partition, offset);
                let deliveries = match decode(msg.payload(), cfg.processor.max_message_bytes) {
                    Err((poison, reason)) => {
                        report.deadlettered += 1;
                        metrics::counter!(m::DEADLETTER, "reason" => poison.label()).increment(1);
                        tracing::warn!(topic = %topic, partition, offset, reason = %reason, "raw message sent to the dead-letter topic");
                        deadletter(&cfg, &producer, &msg, poison, &reason)
                    }
                    Ok(story) => {
                        // A reloaded taxonomy applies from the next story on.
                        if taxonomy.has_changed().unwrap_or(false) {
                            let t = taxonomy.borrow_and_update().clone();
                            processor.set_taxonomy(t);
                            tracing::info!("process: now tagging with the reloaded taxonomy");
                        }
                        let started = Instant::now();
                        let out = processor.process(&story, Utc::now());
                        metrics::gauge!(m::DEDUP_WINDOW).set(processor.dedup().len() as f64);
                        if recovered {
                            // Its event, routes, alerts and cluster update are out already
                            // (before a crash or a rebalance): only the changelog record.
                            metrics::counter!(m::RECOVERED).increment(1);
                            report.recovered += 1;
                            tracing::info!(partition, offset, story = %out.event.id, "outputs already emitted; writing the changelog record only");
                            changelog(&cfg, &producer, &out, &instance)
                        } else {
                            observe(&out, started);
                            if out.publish() {
                                report.published += 1;
                            }
                            if let (Some(tx), false) = (&alerts_out, out.alerts.is_empty()) {
                                for a in &out.alerts {
                                    if tx.try_send(a.clone()).is_err() {
                                        tracing::warn!(rule = %a.rule, "alert notification queue full; notification skipped (the alert is on the alerts topic)");
                                    }
                                }
                            }
                            produce_output(&cfg, &producer, out, &instance, partition, offset)
                        }
                    }
                };
                in_flight.push_back(async move {
                    let r = futures::future::try_join_all(deliveries).await;
                    (topic, partition, offset, r.map(|_| ()))
                });
            }
        }
    };
    ready.set(false);
    follower_stop.cancel();
    // Its reader closes before the broker connection goes (no "brokers down" at exit); the
    // receiver goes first so a follower blocked on a full channel ends too.
    drop(peer_rx);
    let _ = follower.await;
    // Drain: everything already consumed is delivered and its offset stored.
    let mut drained = result;
    while let Some(done) = in_flight.next().await {
        if let Err(e) = finish(&consumer, Some(done)) {
            drained = drained.and(Err(e));
        }
    }
    if let Err(e) = kafka::flush(&producer, Duration::from_secs(cfg.shutdown.deadline_secs)) {
        tracing::error!(error = %e, "producer flush failed");
    }
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) => {}
        // Nothing consumed yet: nothing to commit.
        Err(rdkafka::error::KafkaError::ConsumerCommit(
            rdkafka::types::RDKafkaErrorCode::NoOffset,
        )) => {}
        Err(e) => tracing::warn!(error = %e, "final offset commit failed"),
    }
    drained.map(|()| report)
}

type Delivered = (String, i32, i64, Result<(), rdkafka::error::KafkaError>);

fn finish(
    consumer: &StreamConsumer<StatsContext>,
    done: Option<Delivered>,
) -> Result<(), ProcessError> {
    let Some((topic, partition, offset, result)) = done else {
        return Ok(());
    };
    match result {
        Ok(()) => {
            if let Err(e) = consumer.store_offset(&topic, partition, offset) {
                // The partition was revoked meanwhile: its new owner reprocesses the message,
                // and dedup state makes that a duplicate, not a new story.
                tracing::debug!(error = %e, topic = %topic, partition, offset, "offset not stored");
            }
            Ok(())
        }
        Err(error) => Err(ProcessError::Delivery {
            topic,
            partition,
            offset,
            error,
        }),
    }
}

type Delivery = futures::future::BoxFuture<'static, Result<(), rdkafka::error::KafkaError>>;

fn send_owned(
    producer: &FutureProducer<StatsContext>,
    topic: String,
    role: Role,
    key: String,
    payload: Vec<u8>,
    headers: Option<OwnedHeaders>,
) -> Delivery {
    let producer = producer.clone();
    Box::pin(async move { kafka::send(&producer, &topic, role, &key, &payload, headers).await })
}

/// The changelog record of a decision (key: story id; header: this instance).
fn changelog(
    cfg: &Config,
    producer: &FutureProducer<StatsContext>,
    out: &Output,
    instance: &str,
) -> Vec<Delivery> {
    let Ok(state) = serde_json::to_vec(&out.remembered) else {
        return Vec::new();
    };
    let headers = OwnedHeaders::new().insert(Header {
        key: INSTANCE_HEADER,
        value: Some(instance),
    });
    vec![send_owned(
        producer,
        cfg.kafka.topics.dedup_state.clone(),
        Role::State,
        out.event.id.clone(),
        state,
        Some(headers),
    )]
}

/// The outputs of one raw message (`partition`/`offset` of `news.raw`), in three waves, each
/// sent once the previous one is acknowledged:
/// 1. routes, alerts and the cluster update;
/// 2. the enriched event, stamped with the raw partition and offset;
/// 3. the changelog record.
///
/// So an event on the enriched topic means everything before it is out (what
/// `already_emitted` relies on after a crash), and a changelog record means the event is out:
/// a crash anywhere loses nothing, and the next owner of the partition emits nothing twice.
fn produce_output(
    cfg: &Config,
    producer: &FutureProducer<StatsContext>,
    out: Output,
    instance: &str,
    partition: i32,
    offset: i64,
) -> Vec<Delivery> {
    let t = &cfg.kafka.topics;
    let state = changelog(cfg, producer, &out, instance);
    if !out.publish() {
        return state;
    }
    let key = out.event.id.clone();
    let mut first = Vec::new();
    let mut enriched = None;
    if let Ok(event) = serde_json::to_vec(&out.event) {
        for route in &out.event.routes {
            first.push(send_owned(
                producer,
                route.clone(),
                Role::Route,
                key.clone(),
                event.clone(),
                None,
            ));
        }
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: RAW_PARTITION_HEADER,
                value: Some(&partition.to_string()),
            })
            .insert(Header {
                key: RAW_OFFSET_HEADER,
                value: Some(&offset.to_string()),
            });
        enriched = Some((event, headers));
    }
    for alert in &out.alerts {
        if let Ok(a) = serde_json::to_vec(alert) {
            first.push(send_owned(
                producer,
                t.alerts.clone(),
                Role::Alerts,
                key.clone(),
                a,
                None,
            ));
        }
    }
    if let Ok(c) = serde_json::to_vec(&out.cluster) {
        first.push(send_owned(
            producer,
            t.clusters.clone(),
            Role::Clusters,
            out.cluster.cluster.clone(),
            c,
            None,
        ));
    }
    let producer = producer.clone();
    let enriched_topic = t.enriched.clone();
    vec![Box::pin(async move {
        futures::future::try_join_all(first).await?;
        if let Some((event, headers)) = enriched {
            kafka::send(
                &producer,
                &enriched_topic,
                Role::Enriched,
                &key,
                &event,
                Some(headers),
            )
            .await?;
        }
        futures::future::try_join_all(state).await?;
        Ok(())
    })]
}

fn deadletter<M: Message>(
    cfg: &Config,
    producer: &FutureProducer<StatsContext>,
    msg: &M,
    poison: Poison,
    reason: &str,
) -> Vec<Delivery> {
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: "reason",
            value: Some(reason),
        })
        .insert(Header {
            key: "reason_kind",
            value: Some(poison.label()),
        })
        .insert(Header {
            key: "source_topic",
            value: Some(msg.topic()),
        })
        .insert(Header {
            key: "source_partition",
            value: Some(&msg.partition().to_string()),
        })
        .insert(Header {
            key: "source_offset",
            value: Some(&msg.offset().to_string()),
        });
    // Keep the payload (capped at the limit) so nothing is lost.
    let payload = msg.payload().unwrap_or_default();
    let payload = payload[..payload.len().min(cfg.processor.max_message_bytes)].to_vec();
    let key = msg
        .key()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .unwrap_or_default();
    vec![send_owned(
        producer,
        cfg.kafka.topics.deadletter.clone(),
        Role::Deadletter,
        key,
        payload,
        Some(headers),
    )]
}

/// Metrics of one processed story.
pub fn observe(out: &Output, started: Instant) {
    let e = &out.event;
    metrics::histogram!(m::PROCESS_DURATION).record(started.elapsed().as_secs_f64());
    metrics::counter!(m::DEDUP, "status" => e.dedup.status.as_str()).increment(1);
    let kind = match e.dedup.status {
        DedupStatus::New => "unique",
        DedupStatus::NearDuplicate => "copy",
        _ => return,
    };
    metrics::counter!(m::OUTLET_STORIES, "outlet" => e.outlet.clone(), "kind" => kind).increment(1);
    for t in &e.topics {
        metrics::counter!(m::TOPIC_STORIES, "topic" => t.id.to_string(), "kind" => kind)
            .increment(1);
    }
    for a in &e.actors {
        metrics::counter!(m::ACTOR_MENTIONS, "kind" => a.kind.to_string()).increment(1);
    }
    for a in &out.alerts {
        metrics::counter!(m::ALERTS, "rule" => a.rule.clone(), "severity" => a.severity.clone())
            .increment(1);
    }
    let now = Utc::now();
    if let Some(p) = e.published_at {
        metrics::histogram!(m::END_TO_END, "from" => "published")
            .record((now - p).num_milliseconds().max(0) as f64 / 1000.0);
    }
    metrics::histogram!(m::END_TO_END, "from" => "fetched")
        .record((now - e.fetched_at).num_milliseconds().max(0) as f64 / 1000.0);
}
