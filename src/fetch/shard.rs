//! Sharing one feed list among several fetchers without polling a feed twice.
//!
//! Every feed belongs to one of `fetch.shards` shards (a stable hash of its id). The shards are
//! the partitions of a coordination topic (`kafka.topics.fetch_shards`, which carries no
//! messages), and the fetchers are consumers of that topic in one group
//! (`fetch.group_id`): Kafka's group protocol gives each shard to exactly one live fetcher, moves
//! the shards of a fetcher that stops or dies (after `session.timeout.ms`) to the others, and
//! spreads them again when one joins. The cooperative-sticky assignor moves only the shards that
//! have to move, so the other fetchers keep polling undisturbed.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use xxhash_rust::xxh3::xxh3_64;

use crate::config::Config;
use crate::kafka::{self, Error};
use crate::observe::metrics as m;

/// The shard of a feed: stable across processes, versions and feed-list edits.
pub fn shard_of(feed_id: &str, shards: u32) -> i32 {
    (xxh3_64(feed_id.as_bytes()) % u64::from(shards.max(1))) as i32
}

/// The shards this fetcher owns: `None` until the group has assigned any.
pub type Owned = watch::Receiver<Option<Arc<BTreeSet<i32>>>>;

/// Turns rebalance callbacks into updates of the owned set (incremental: cooperative protocol).
struct ShardContext {
    owned: watch::Sender<Option<Arc<BTreeSet<i32>>>>,
}

impl ShardContext {
    fn update(&self, f: impl FnOnce(&mut BTreeSet<i32>)) {
        self.owned.send_modify(|cur| {
            let mut set = cur.as_deref().cloned().unwrap_or_default();
            f(&mut set);
            metrics::gauge!(m::FETCH_SHARDS_OWNED).set(set.len() as f64);
            *cur = Some(Arc::new(set));
        });
    }
}

impl ClientContext for ShardContext {}

impl ConsumerContext for ShardContext {
    // Revocations are applied before the group hands the shards to another fetcher.
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let gone: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
            tracing::info!(shards = ?gone, "feed shards revoked");
            self.update(|set| set.retain(|p| !gone.contains(p)));
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let got: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                tracing::info!(shards = ?got, "feed shards assigned");
                self.update(|set| set.extend(got));
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => tracing::warn!(error = %e, "feed shard rebalance error"),
        }
    }
}

/// Joins the fetcher group; the returned receiver follows the shards this process owns until
/// `stop` is cancelled, when the process leaves the group (its shards move at once).
pub fn join(cfg: &Config, brokers: &str, stop: CancellationToken) -> Result<Owned, Error> {
    let (tx, rx) = watch::channel(None);
    let mut c = kafka::client_config(&cfg.kafka, brokers, "fetch-group");
    c.set("group.id", &cfg.fetch.group_id)
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .set("partition.assignment.strategy", "cooperative-sticky");
    kafka::passthrough(&mut c, &cfg.kafka);
    let consumer: BaseConsumer<ShardContext> = c.create_with_context(ShardContext { owned: tx })?;
    consumer.subscribe(&[cfg.kafka.topics.fetch_shards.as_str()])?;
    // The group protocol runs in the consumer's poll: a thread of its own keeps polling.
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    std::thread::Builder::new()
        .name("fetch-group".into())
        .spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                if let Some(Err(e)) = consumer.poll(Duration::from_millis(200)) {
                    tracing::debug!(error = %e, "fetch group poll");
                }
            }
            // Dropping the consumer leaves the group, which moves our shards immediately.
            drop(consumer);
            tracing::info!("left the fetcher group");
        })?;
    tokio::spawn(async move {
        stop.cancelled().await;
        done.store(true, Ordering::Relaxed);
    });
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_spread() {
        assert_eq!(shard_of("yonhap-en", 32), shard_of("yonhap-en", 32));
        let mut counts = [0usize; 8];
        for i in 0..8000 {
            counts[shard_of(&format!("feed-{i}"), 8) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
        assert_eq!(shard_of("x", 0), 0);
    }
}
