//! Every metric wirewatch exports: name, description, labels (listed in `docs/METRICS.md`).
//! Labels come from small closed sets or from configuration (outlet, topic, rule): never a
//! URL, story id or free text.

use std::sync::OnceLock;

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const BUILD_INFO: &str = "wirewatch_build_info";
pub const FETCH_REQUESTS: &str = "wirewatch_fetch_requests_total";
pub const FETCH_DURATION: &str = "wirewatch_fetch_duration_seconds";
pub const FETCH_BYTES: &str = "wirewatch_fetch_bytes_total";
pub const FETCH_ITEMS: &str = "wirewatch_fetch_items_total";
pub const FETCH_NOT_MODIFIED: &str = "wirewatch_fetch_not_modified_total";
pub const FETCH_PUBLISHED: &str = "wirewatch_fetch_stories_published_total";
pub const FETCH_ERRORS: &str = "wirewatch_fetch_errors_total";
pub const FEEDS: &str = "wirewatch_feeds";
pub const FEED_LIST_RELOADS: &str = "wirewatch_feed_list_reloads_total";
pub const FETCH_SHARDS_OWNED: &str = "wirewatch_fetch_shards_owned";
pub const KAFKA_PRODUCED: &str = "wirewatch_kafka_messages_produced_total";
pub const KAFKA_PRODUCE_ERRORS: &str = "wirewatch_kafka_produce_errors_total";
pub const KAFKA_QUEUE: &str = "wirewatch_kafka_producer_queue_messages";
pub const KAFKA_LAG: &str = "wirewatch_kafka_consumer_lag_messages";
pub const CONSUMED: &str = "wirewatch_process_messages_consumed_total";
pub const DEADLETTER: &str = "wirewatch_process_deadletter_total";
pub const RECOVERED: &str = "wirewatch_process_recovered_total";
pub const DEDUP: &str = "wirewatch_process_dedup_total";
pub const TOPIC_STORIES: &str = "wirewatch_process_topic_stories_total";
pub const OUTLET_STORIES: &str = "wirewatch_process_outlet_stories_total";
pub const ACTOR_MENTIONS: &str = "wirewatch_process_actor_mentions_total";
pub const ALERTS: &str = "wirewatch_alerts_total";
pub const NOTIFICATIONS: &str = "wirewatch_alert_notifications_total";
pub const PROCESS_DURATION: &str = "wirewatch_process_duration_seconds";
pub const END_TO_END: &str = "wirewatch_end_to_end_delay_seconds";
pub const DEDUP_WINDOW: &str = "wirewatch_dedup_window_stories";
pub const TAXONOMY_RELOADS: &str = "wirewatch_taxonomy_reloads_total";

/// Buckets of request and processing durations, seconds.
const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Buckets of delays from publication or fetch to the enriched event, seconds.
const DELAY_BUCKETS: &[f64] = &[
    0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0,
];

fn describe() {
    describe_gauge!(BUILD_INFO, "Build information; always 1.");
    describe_counter!(
        FETCH_REQUESTS,
        "Feed polls by outcome (ok, not_modified, error) and HTTP status class."
    );
    describe_histogram!(
        FETCH_DURATION,
        Unit::Seconds,
        "Time of one poll, request to parsed feed."
    );
    describe_counter!(
        FETCH_BYTES,
        Unit::Bytes,
        "Body bytes received, after decompression."
    );
    describe_counter!(FETCH_ITEMS, "Items parsed from fetched documents.");
    describe_counter!(FETCH_NOT_MODIFIED, "Polls answered 304 Not Modified.");
    describe_counter!(
        FETCH_PUBLISHED,
        "New or changed items sent to the raw topic."
    );
    describe_counter!(FETCH_ERRORS, "Failed polls by kind.");
    describe_gauge!(
        FEEDS,
        "Feeds polled by this process, by health state (healthy, failing, disabled)."
    );
    describe_counter!(
        FEED_LIST_RELOADS,
        "Feed list reloads by outcome (ok, rejected)."
    );
    describe_gauge!(
        FETCH_SHARDS_OWNED,
        "Feed shards this fetcher owns (shared fetchers only)."
    );
    describe_counter!(
        KAFKA_PRODUCED,
        "Messages acknowledged by the broker, by topic role."
    );
    describe_counter!(
        KAFKA_PRODUCE_ERRORS,
        "Messages the broker did not acknowledge, by topic role."
    );
    describe_gauge!(
        KAFKA_QUEUE,
        "Messages waiting in the producer queue (librdkafka statistics)."
    );
    describe_gauge!(
        KAFKA_LAG,
        "Consumer lag summed over assigned partitions (librdkafka statistics)."
    );
    describe_counter!(CONSUMED, "Messages read from the raw topic.");
    describe_counter!(
        DEADLETTER,
        "Messages sent to the dead-letter topic, by reason."
    );
    describe_counter!(DEDUP, "Dedup decisions by status.");
    describe_counter!(
        TOPIC_STORIES,
        "Stories tagged with a topic, unique (new) or copy (near_duplicate)."
    );
    describe_counter!(
        OUTLET_STORIES,
        "Stories by source outlet, unique (new) or copy (near_duplicate)."
    );
    describe_counter!(
        ACTOR_MENTIONS,
        "Actors tagged on published stories, by actor kind."
    );
    describe_counter!(
        RECOVERED,
        "Raw messages reprocessed after a crash or rebalance whose outputs were already out (only their changelog record is written)."
    );
    describe_counter!(
        ALERTS,
        "Alerts fired, by rule and severity (one per new story)."
    );
    describe_counter!(
        NOTIFICATIONS,
        "Webhook notifications by rule and outcome (sent, failed, grouped)."
    );
    describe_histogram!(
        PROCESS_DURATION,
        Unit::Seconds,
        "Time to dedup, tag and route one story."
    );
    describe_histogram!(
        END_TO_END,
        Unit::Seconds,
        "Delay from publication or fetch to the enriched event."
    );
    describe_gauge!(DEDUP_WINDOW, "Stories remembered in the dedup window.");
    describe_counter!(
        TAXONOMY_RELOADS,
        "Taxonomy hot reloads by outcome (ok, rejected)."
    );
}

/// Installs the global Prometheus recorder once per process and returns its handle.
pub fn install() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(FETCH_DURATION.into()), DURATION_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(PROCESS_DURATION.into()),
                        DURATION_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(END_TO_END.into()), DELAY_BUCKETS)
                })
                .expect("bucket lists are non-empty constants");
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only when another recorder is installed (a test harness): keep ours
            // as a detached handle then.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            handle
        })
        .clone()
}

/// Registers every series of a closed label set at zero, so dashboards and alert rules see
/// them (and `increase()` counts the first event) before anything happened. `rules` are the
/// alert rule ids with their severity, `topics` the topic ids, `outlets` the feed outlets.
pub fn zero_series(rules: &[(String, String)], topics: &[String], outlets: &[String]) {
    for topic in [
        "raw",
        "enriched",
        "alerts",
        "deadletter",
        "clusters",
        "route",
        "state",
    ] {
        metrics::counter!(KAFKA_PRODUCED, "topic" => topic).increment(0);
        metrics::counter!(KAFKA_PRODUCE_ERRORS, "topic" => topic).increment(0);
    }
    for kind in [
        "timeout",
        "connect",
        "http_status",
        "too_large",
        "parse",
        "redirect",
        "gone",
        "io",
        "other",
    ] {
        metrics::counter!(FETCH_ERRORS, "kind" => kind).increment(0);
    }
    for reason in ["invalid_json", "invalid_schema", "too_large"] {
        metrics::counter!(DEADLETTER, "reason" => reason).increment(0);
    }
    for status in ["new", "update", "duplicate", "near_duplicate"] {
        metrics::counter!(DEDUP, "status" => status).increment(0);
    }
    for outcome in ["ok", "rejected"] {
        metrics::counter!(TAXONOMY_RELOADS, "outcome" => outcome).increment(0);
        metrics::counter!(FEED_LIST_RELOADS, "outcome" => outcome).increment(0);
    }
    for kind in ["person", "country", "organization"] {
        metrics::counter!(ACTOR_MENTIONS, "kind" => kind).increment(0);
    }
    metrics::counter!(CONSUMED).increment(0);
    metrics::counter!(RECOVERED).increment(0);
    metrics::gauge!(FETCH_SHARDS_OWNED).set(0.0);
    metrics::counter!(FETCH_NOT_MODIFIED).increment(0);
    for (rule, severity) in rules {
        metrics::counter!(ALERTS, "rule" => rule.clone(), "severity" => severity.clone())
            .increment(0);
        for outcome in ["sent", "failed", "grouped"] {
            metrics::counter!(NOTIFICATIONS, "rule" => rule.clone(), "outcome" => outcome)
                .increment(0);
        }
    }
    for kind in ["unique", "copy"] {
        for topic in topics {
            metrics::counter!(TOPIC_STORIES, "topic" => topic.clone(), "kind" => kind).increment(0);
        }
        for outlet in outlets {
            metrics::counter!(OUTLET_STORIES, "outlet" => outlet.clone(), "kind" => kind)
                .increment(0);
        }
    }
}
