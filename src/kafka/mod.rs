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

impl ConsumerContext for StatsContext {}

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
    let reader = reader(cfg, brokers, role).map_err(|e| match e {
        Error::Kafka(k) => k,
        other => KafkaError::ClientCreation(other.to_string()),
    })?;
    let metadata = reader.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let mut tpl = TopicPartitionList::new();
    let mut remaining = std::collections::HashMap::new();
    let mut ends = Vec::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            let (lo, hi) = reader.fetch_watermarks(topic, p.id(), Duration::from_secs(10))?;
            ends.push((p.id(), hi.max(0)));
            if hi > lo {
                tpl.add_partition_offset(topic, p.id(), Offset::Beginning)?;
                remaining.insert(p.id(), hi);
            }
        }
    }
    if remaining.is_empty() {
        return Ok(ends);
    }
    reader.assign(&tpl)?;
    while !remaining.is_empty() {
        let msg = match tokio::time::timeout(Duration::from_secs(30), reader.recv()).await {
            Ok(Ok(msg)) => msg,
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                tracing::warn!(
                    topic,
                    missing = remaining.len(),
                    "reading the topic to its end timed out; continuing with what was read"
                );
                break;
            }
        };
        let Some(&end) = remaining.get(&msg.partition()) else {
            continue;
        };
        if msg.offset() < end {
            each(
                msg.key().unwrap_or_default(),
                msg.payload().unwrap_or_default(),
            );
        }
        if msg.offset() + 1 >= end {
            remaining.remove(&msg.partition());
        }
    }
    Ok(ends)
}
