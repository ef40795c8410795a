//! The Kafka edge: client configuration, the producer (acks=all, idempotent, explicit flush),
//! the consumer (offsets stored only after delivery), topic creation, and the embedded broker.

pub mod embedded;

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::statistics::Statistics;
use rdkafka::{Offset, TopicPartitionList};

use crate::config::{Config, KafkaConfig};
use crate::observe::metrics as m;

/// Errors at the Kafka edge.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("cannot create topic {topic}: {reason}")]
    CreateTopic { topic: String, reason: String },
    #[error("embedded broker: {0}")]
    Embedded(String),
    #[error("cannot start a thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// The role of a topic, used as the bounded `topic` metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Raw,
    Enriched,
    Alerts,
    Deadletter,
    Clusters,
    Route,
    State,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::Raw => "raw",
            Role::Enriched => "enriched",
            Role::Alerts => "alerts",
            Role::Deadletter => "deadletter",
            Role::Clusters => "clusters",
            Role::Route => "route",
            Role::State => "state",
        }
    }
}

/// Client context turning librdkafka statistics into metrics (queue depth, consumer lag).
#[derive(Clone, Default)]
pub struct StatsContext;

impl ClientContext for StatsContext {
    fn error(&self, error: KafkaError, reason: &str) {
        match error {
            // Readers ask to be told where a partition ends (`read_range`): not an error.
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF) => {
                tracing::trace!(reason, "end of partition")
            }
            _ => tracing::error!(error = %error, reason, "librdkafka error"),
        }
    }

    fn stats(&self, stats: Statistics) {
        if stats.client_type == "producer" {
            metrics::gauge!(m::KAFKA_QUEUE).set(stats.msg_cnt as f64);
        } else {
            let lag: i64 = stats
                .topics
                .values()
                .flat_map(|t| t.partitions.values())
                .filter(|p| p.partition >= 0 && p.consumer_lag >= 0)
                .map(|p| p.consumer_lag)
                .sum();
            metrics::gauge!(m::KAFKA_LAG).set(lag as f64);
        }
    }
}

impl ConsumerContext for StatsContext {
    fn pre_rebalance(
        &self,
        _: &rdkafka::consumer::BaseConsumer<Self>,
        rebalance: &rdkafka::consumer::Rebalance<'_>,
    ) {
        if let rdkafka::consumer::Rebalance::Revoke(tpl) = rebalance {
            tracing::info!(partitions = %partitions(tpl), "partitions revoked");
        }
    }

    fn post_rebalance(
        &self,
        _: &rdkafka::consumer::BaseConsumer<Self>,
        rebalance: &rdkafka::consumer::Rebalance<'_>,
    ) {
        match rebalance {
            rdkafka::consumer::Rebalance::Assign(tpl) => {
                tracing::info!(partitions = %partitions(tpl), "partitions assigned")
            }
            rdkafka::consumer::Rebalance::Revoke(_) => {}
            rdkafka::consumer::Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
    }
}

/// "topic/partition" list of a rebalance, for logs.
fn partitions(tpl: &TopicPartitionList) -> String {
    tpl.elements()
        .iter()
        .map(|e| format!("{}/{}", e.topic(), e.partition()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Base client configuration: bootstrap servers, client id, statistics, pass-through
/// properties (TLS, SASL, tuning) last so they win.
pub fn client_config(cfg: &KafkaConfig, brokers: &str, role: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("client.id", format!("{}-{role}", cfg.client_id))
        .set("statistics.interval.ms", "5000");
    passthrough(&mut c, cfg);
    c
}

/// The configured librdkafka properties, applied last so they win over wirewatch's settings.
pub fn passthrough(c: &mut ClientConfig, cfg: &KafkaConfig) {
    for (k, v) in &cfg.properties {
        c.set(k, v);
    }
}

/// The producer: acks=all, idempotence on; deliveries are awaited by the callers.
pub fn producer(
    cfg: &KafkaConfig,
    brokers: &str,
    role: &str,
) -> Result<FutureProducer<StatsContext>, Error> {
    let mut c = client_config(cfg, brokers, role);
    c.set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "300000");
    passthrough(&mut c, cfg);
    Ok(c.create_with_context(StatsContext)?)
}

/// A group consumer that stores offsets only when told (at-least-once).
pub fn consumer(
    cfg: &KafkaConfig,
    brokers: &str,
    group: &str,
) -> Result<StreamConsumer<StatsContext>, Error> {
    let mut c = client_config(cfg, brokers, "process");
    c.set("group.id", group)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("partition.assignment.strategy", "cooperative-sticky");
    passthrough(&mut c, cfg);
    Ok(c.create_with_context(StatsContext)?)
}

/// A consumer outside any group, for reading whole topics (state restore, `tail`).
pub fn reader(
    cfg: &KafkaConfig,
    brokers: &str,
    role: &str,
) -> Result<StreamConsumer<StatsContext>, Error> {
    let mut c = client_config(cfg, brokers, role);
    c.set("group.id", format!("{}-{role}-reader", cfg.client_id))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    passthrough(&mut c, cfg);
    Ok(c.create_with_context(StatsContext)?)
}

/// A topic wirewatch uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    /// Compacted (latest value per key kept) rather than deleted by age.
    pub compacted: bool,
}

/// The topics wirewatch uses: `kafka.partitions` each, except the fetcher group's shard topic
/// (`fetch.shards` partitions, see [`crate::fetch::shard`]).
pub fn topic_list(cfg: &Config) -> Vec<TopicSpec> {
    let k = &cfg.kafka;
    let t = &k.topics;
    let spec = |name: &String, compacted: bool| TopicSpec {
        name: name.clone(),
        partitions: k.partitions,
        compacted,
    };
    let mut out = vec![
        spec(&t.raw, false),
        spec(&t.enriched, false),
        spec(&t.alerts, false),
        spec(&t.deadletter, false),
        spec(&t.clusters, true),
        spec(&t.dedup_state, true),
        spec(&t.fetch_state, true),
        TopicSpec {
            name: t.fetch_shards.clone(),
            partitions: cfg.fetch.shards as i32,
            compacted: false,
        },
    ];
    for r in &k.routes {
        if !out.iter().any(|s| s.name == r.to) {
            out.push(spec(&r.to, false));
        }
    }
    out
}

/// Creates missing topics through the admin API (real brokers; the embedded one creates its
/// own). Topics that already exist are fine.
pub async fn create_topics(cfg: &Config, brokers: &str) -> Result<(), Error> {
    let admin: AdminClient<DefaultClientContext> =
        client_config(&cfg.kafka, brokers, "admin").create()?;
    let topics = topic_list(cfg);
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|s| {
            let t = NewTopic::new(&s.name, s.partitions, TopicReplication::Fixed(-1));
            if s.compacted {
                t.set("cleanup.policy", "compact")
            } else {
                t
            }
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.create_topics(new.iter(), &opts).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(Error::CreateTopic {
                    topic,
                    reason: code.to_string(),
                })
            }
        }
    }
    Ok(())
}

/// Sends one message and waits for the broker's acknowledgement, counting the outcome.
pub async fn send(
    producer: &FutureProducer<StatsContext>,
    topic: &str,
    role: Role,
    key: &str,
    payload: &[u8],
    headers: Option<OwnedHeaders>,
) -> Result<(), KafkaError> {
    let mut record = FutureRecord::to(topic).key(key).payload(payload);
    if let Some(h) = headers {
        record = record.headers(h);
    }
    match producer.send(record, Duration::from_secs(0)).await {
        Ok(_) => {
            metrics::counter!(m::KAFKA_PRODUCED, "topic" => role.label()).increment(1);
            Ok(())
        }
        Err((e, _)) => {
            metrics::counter!(m::KAFKA_PRODUCE_ERRORS, "topic" => role.label()).increment(1);
            Err(e)
        }
    }
}

/// Flushes the producer, reporting what could not be delivered in time.
pub fn flush(producer: &FutureProducer<StatsContext>, timeout: Duration) -> Result<(), KafkaError> {
    producer.flush(timeout)
}

/// Reads a whole topic from the beginning to its high watermarks (as they were when called),
/// calling `each(key, payload)` per message. Returns, per partition, the offset where reading
/// stopped (to follow the topic from there).
pub async fn read_to_end(
    cfg: &KafkaConfig,
    brokers: &str,
    topic: &str,
    role: &str,
    mut each: impl FnMut(&[u8], &[u8]),
) -> Result<Vec<(i32, i64)>, KafkaError> {
    read_range(cfg, brokers, topic, role, Start::Beginning, |m| {
        each(m.key().unwrap_or_default(), m.payload().unwrap_or_default())
    })
    .await
}

/// Where [`read_range`] starts in each partition.
#[derive(Debug, Clone)]
pub enum Start {
    Beginning,
    /// The first message whose timestamp is at or after `ms` (milliseconds since the epoch);
    /// where the broker cannot look offsets up by time (librdkafka's mock cluster), the last
    /// `or_last` messages of the partition.
    Time {
        ms: i64,
        or_last: i64,
    },
    /// Given offsets (partitions not listed: from their beginning).
    Offsets(Vec<(i32, i64)>),
}

/// Reads `topic` from `start` to its end (each partition until the consumer reports reaching
/// its end: the watermarks a broker lists are not trusted for that, tansu's can lag), calling
/// `each` per message. Returns, per partition, the offset where reading stopped.
pub async fn read_range(
    cfg: &KafkaConfig,
    brokers: &str,
    topic: &str,
    role: &str,
    start: Start,
    mut each: impl FnMut(&rdkafka::message::BorrowedMessage<'_>),
) -> Result<Vec<(i32, i64)>, KafkaError> {
    let mut c = client_config(cfg, brokers, role);
    c.set("group.id", format!("{}-{role}-reader", cfg.client_id))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "true");
    passthrough(&mut c, cfg);
    let reader: StreamConsumer<StatsContext> = c.create_with_context(StatsContext)?;
    let metadata = reader.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let mut bounds = Vec::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            let (lo, hi) = reader.fetch_watermarks(topic, p.id(), Duration::from_secs(10))?;
            bounds.push((p.id(), lo.max(0), hi.max(0)));
        }
    }
    let mut from: Vec<(i32, i64)> = Vec::new();
    match start {
        Start::Beginning => from.extend(bounds.iter().map(|&(p, lo, _)| (p, lo))),
        Start::Offsets(offsets) => {
            for &(p, lo, _) in &bounds {
                let at = offsets
                    .iter()
                    .find(|o| o.0 == p)
                    .map_or(lo, |o| o.1.max(lo));
                from.push((p, at));
            }
        }
        Start::Time { ms, or_last } => {
            let mut query = TopicPartitionList::new();
            for &(p, _, _) in &bounds {
                query.add_partition_offset(topic, p, Offset::Offset(ms))?;
            }
            let found = if query.count() > 0 {
                Some(reader.offsets_for_times(query, Duration::from_secs(10))?)
            } else {
                None
            };
            for &(p, lo, hi) in &bounds {
                let at = found
                    .as_ref()
                    .and_then(|f| f.find_partition(topic, p))
                    .map(|e| e.offset());
                match at {
                    Some(Offset::Offset(o)) if o >= 0 => from.push((p, o.max(lo).min(hi))),
                    // No offset for that time: either no message that late, or a broker
                    // that cannot tell; the last `or_last` messages cover both.
                    _ => from.push((p, (hi - or_last).max(lo))),
                }
            }
        }
    }
    tracing::debug!(topic, ?from, "reading from (partition, offset)");
    let mut next: std::collections::HashMap<i32, i64> = from.iter().copied().collect();
    if from.is_empty() {
        return Ok(Vec::new());
    }
    let mut tpl = TopicPartitionList::new();
    for &(p, at) in &from {
        tpl.add_partition_offset(topic, p, Offset::Offset(at))?;
    }
    reader.assign(&tpl)?;
    let mut remaining: std::collections::HashSet<i32> = next.keys().copied().collect();
    while !remaining.is_empty() {
        match tokio::time::timeout(Duration::from_secs(30), reader.recv()).await {
            Ok(Ok(msg)) => {
                each(&msg);
                next.insert(msg.partition(), msg.offset() + 1);
            }
            Ok(Err(KafkaError::PartitionEOF(p))) => {
                remaining.remove(&p);
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                tracing::warn!(
                    topic,
                    missing = remaining.len(),
                    "reading the topic to its end timed out; continuing with what was read"
                );
                break;
            }
        }
    }
    let mut ends: Vec<(i32, i64)> = next.into_iter().collect();
    ends.sort_unstable();
    Ok(ends)
}
