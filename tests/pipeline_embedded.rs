//! End to end on the embedded broker: fixture feeds over HTTP → `run` → Kafka topics.
mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn feeds_to_enriched_events_and_alerts_on_the_embedded_broker() {
    common::scenario::run("embedded").await;
}
