//! Fault injection against a real broker process (tansu, SQLite storage so data survives its
//! restart): the broker goes down in the middle of a run and comes back; every story fetched
//! meanwhile reaches `news.enriched` exactly once, as `new`.
//!
//! Needs `tansu` on PATH (`.ci/run` installs it). Without it the test says it skipped; under
//! CI a missing tansu is a failure.
mod common;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wirewatch::app::{App, Stages};

use common::*;

struct Broker {
    child: Child,
}

impl Broker {
    fn start(dir: &std::path::Path, port: u16) -> Broker {
        let child = Command::new("tansu")
            .current_dir(dir)
            .args([
                "broker",
                "--listener-url",
                &format!("tcp://127.0.0.1:{port}"),
                "--advertised-listener-url",
                &format!("tcp://127.0.0.1:{port}"),
                "--storage-engine",
                "sqlite://wirewatch.db",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu starts");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Broker { child }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

fn feed(items: std::ops::Range<usize>) -> Vec<u8> {
    let mut s =
        String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>wire</title>");
    for i in items {
        s.push_str(&format!(
            "<item><guid>wire-{i}</guid><link>https://wire.example/{i}</link><title>Story {i}: talks on the peninsula, round {i}</title>\
             <description>Officials from Seoul and Tokyo met for round {i} of talks on Monday, number {i} in a series that began in {}.</description>\
             <pubDate>Mon, 03 May 2021 {:02}:{:02}:00 GMT</pubDate></item>",
            1990 + i,
            i / 60,
            i % 60
        ));
    }
    s.push_str("</channel></rss>");
    s.into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broker_down_for_30_seconds_loses_and_doubles_nothing() {
    if Command::new("tansu").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install tansu (.ci/run does)"
        );
        eprintln!("SKIPPED: no `tansu` binary on PATH");
        return;
    }
    let dir = std::env::temp_dir().join(format!("ww-faults-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut broker = Broker::start(&dir, port);
    let brokers = format!("127.0.0.1:{port}");

    let docs = Docs::default();
    docs.set("wire.xml", feed(0..10));
    let server = feed_server(docs.clone()).await;
    let cfg = test_config(&brokers, server, &[("wire", "Wire", "wire.xml")]);
    let topics = cfg.kafka.topics.clone();
    let app = App::start(cfg, Stages::ALL, CancellationToken::new())
        .await
        .unwrap();
    let enriched = reader(&brokers, &topics.enriched);
    let mut events = Vec::new();
    collect(&enriched, &mut events, 10, Duration::from_secs(90)).await;
    assert_eq!(events.len(), 10, "before the fault");

    // The broker dies; ten more stories are published by the feed meanwhile.
    broker.kill();
    docs.set("wire.xml", feed(0..20));
    tokio::time::sleep(Duration::from_secs(30)).await;
    let (_, m) = http_get(app.metrics_addr, "/metrics").await;
    let stalled = metric(&m, "wirewatch_kafka_messages_produced_total{topic=\"raw\"}");
    assert!(
        stalled <= 10.0,
        "nothing was acknowledged while the broker was down ({stalled})"
    );
    let _broker = Broker::start(&dir, port);

    collect(&enriched, &mut events, 20, Duration::from_secs(120)).await;
    drain(&enriched, &mut events, Duration::from_secs(5)).await;
    app.stop();
    app.wait().await.unwrap();

    let mut seen: HashMap<String, usize> = HashMap::new();
    for e in &events {
        assert_eq!(e["dedup"]["status"], "new", "{}", e["title"]);
        *seen
            .entry(e["guid"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let lost: Vec<String> = (0..20)
        .map(|i| format!("wire-{i}"))
        .filter(|g| !seen.contains_key(g))
        .collect();
    let doubled: Vec<&String> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(g, _)| g)
        .collect();
    eprintln!(
        "faults: stories in 20, out {}, duplicates {}, lost {}",
        seen.len(),
        doubled.len(),
        lost.len()
    );
    assert!(lost.is_empty(), "lost: {lost:?}");
    assert!(doubled.is_empty(), "doubled: {doubled:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
