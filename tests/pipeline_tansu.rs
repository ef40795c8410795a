//! End to end against a real, separately started Kafka-protocol broker (tansu in CI).
//!
//! `.ci/run` starts tansu and sets `WIREWATCH_TEST_KAFKA=127.0.0.1:PORT`. Without it the test
//! says it skipped and why; under CI (`CI` set) a missing broker is a failure.
mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn feeds_to_enriched_events_and_alerts_on_a_real_broker() {
    let Ok(brokers) = std::env::var("WIREWATCH_TEST_KAFKA") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run this test: set WIREWATCH_TEST_KAFKA to a running broker (.ci/run starts tansu)"
        );
        eprintln!("SKIPPED: WIREWATCH_TEST_KAFKA is not set (start a broker, e.g. tansu, and set it to its address)");
        return;
    };
    common::scenario::run(&brokers).await;
}
