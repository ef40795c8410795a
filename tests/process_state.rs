//! The process stage against a broker that outlives it: dedup state survives a restart,
//! copies are recognised across instances, poison messages go to the dead-letter topic, the
//! alert webhook is called, and a bad taxonomy edit is rejected while the old one stays.
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use axum::Router;
use chrono::Utc;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use wirewatch::app::{App, Stages};
use wirewatch::config::Config;
use wirewatch::kafka::embedded::EmbeddedBroker;
use wirewatch::story::{RawStory, SCHEMA_VERSION};

use common::*;

const WAIT: Duration = Duration::from_secs(60);

const BLINKEN: &str = "US Secretary of State Antony Blinken on Wednesday met jointly with his South Korean and Japanese counterparts to discuss North Korea, bringing together the allies despite renewed rifts. Joined by aides, Blinken sat in the centre of a U-shaped table with Japanese Foreign Minister Toshimitsu Motegi and South Korean Foreign Minister Chung Eui-yong on each side in a conference room of a London hotel on the sidelines of a Group of Seven meeting.";
const LAUNCH: &str = "North Korea fired a short-range ballistic missile into the East Sea on Thursday, South Korea's Joint Chiefs of Staff said, the latest in a series of weapons tests this year. The missile flew about 450 kilometres, the JCS said.";

fn raw(id: &str, feed: &str, link: &str, title: &str, body: &str) -> RawStory {
    RawStory {
        schema_version: SCHEMA_VERSION,
        id: id.to_string(),
        feed: feed.to_string(),
        outlet: feed.to_string(),
        guid: Some(id.to_string()),
        link: Some(link.to_string()),
        canonical_link: Some(link.to_string()),
        title: title.to_string(),
        summary: String::new(),
        content: body.to_string(),
        published_at: Some(Utc::now()),
        fetched_at: Utc::now(),
        language: None,
    }
}

/// A broker that lives for the whole test, and a process-only config using it.
fn setup() -> (EmbeddedBroker, Config) {
    let mut cfg = test_config("placeholder", "127.0.0.1:1".parse().unwrap(), &[]);
    let broker = EmbeddedBroker::start(&wirewatch::kafka::topic_list(&cfg)).unwrap();
    cfg.kafka.brokers = broker.bootstrap().to_string();
    cfg.kafka.create_topics = false; // the mock cluster has no CreateTopics; created above
    (broker, cfg)
}

fn producer(brokers: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap()
}

async fn send(p: &FutureProducer, topic: &str, key: &str, payload: &[u8]) {
    p.send(
        FutureRecord::to(topic).key(key).payload(payload),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
}

async fn send_story(p: &FutureProducer, topic: &str, s: &RawStory) {
    send(p, topic, &s.id, &serde_json::to_vec(s).unwrap()).await;
}

fn actor_ids(event: &Value) -> Vec<&str> {
    event["actors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect()
}

/// Waits until a metric series reaches 1 (or the test's patience runs out).
async fn wait_for_metric(addr: std::net::SocketAddr, series: &str) {
    wait_for_metric_value(addr, series, 1.0).await
}

/// Waits until `series` reaches `at_least`; fails the test if it does not within `WAIT`.
async fn wait_for_metric_value(addr: std::net::SocketAddr, series: &str, at_least: f64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut seen = 0.0;
    while tokio::time::Instant::now() < deadline {
        let (_, m) = http_get(addr, "/metrics").await;
        seen = metric(&m, series);
        if seen >= at_least {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{series} is {seen} after {WAIT:?}, expected at least {at_least}");
}

fn statuses(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_string(),
                e["dedup"]["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restart_restores_dedup_state_and_nothing_comes_out_new_twice() {
    let (_broker, cfg) = setup();
    let brokers = cfg.kafka.brokers.clone();
    let t = cfg.kafka.topics.clone();
    let p = producer(&brokers);
    let enriched = reader(&brokers, &t.enriched);
    let mut events = Vec::new();

    let app = App::start(cfg.clone(), Stages::PROCESS, CancellationToken::new())
        .await
        .unwrap();
    let a = raw(
        "00000000000000a1",
        "afp",
        "https://afp.example/a",
        "Blinken meets allies",
        BLINKEN,
    );
    let b = raw(
        "00000000000000b2",
        "afp",
        "https://afp.example/b",
        "N. Korea fires missile",
        LAUNCH,
    );
    send_story(&p, &t.raw, &a).await;
    send_story(&p, &t.raw, &b).await;
    collect(&enriched, &mut events, 2, WAIT).await;
    assert_eq!(events.len(), 2);
    app.stop();
    app.wait().await.unwrap();

    // A fetcher restarted without its state republishes both; a copy arrives too.
    let app = App::start(cfg.clone(), Stages::PROCESS, CancellationToken::new())
        .await
        .unwrap();
    send_story(&p, &t.raw, &a).await;
    send_story(&p, &t.raw, &b).await;
    let copy = raw(
        "00000000000000c3",
        "digest",
        "https://digest.example/x",
        "Allies meet in London",
        &format!("0 SHARES Share Tweet {BLINKEN}"),
    );
    send_story(&p, &t.raw, &copy).await;
    collect(&enriched, &mut events, 3, WAIT).await;
    drain(&enriched, &mut events, Duration::from_secs(3)).await;
    app.stop();
    app.wait().await.unwrap();

    let got = statuses(&events);
    assert_eq!(
        got.len(),
        3,
        "re-deliveries are duplicates (not published); got {got:?}"
    );
    assert_eq!(got.iter().filter(|(_, s)| s == "new").count(), 2, "{got:?}");
    let c = events
        .iter()
        .find(|e| e["id"] == "00000000000000c3")
        .unwrap();
    assert_eq!(c["dedup"]["status"], "near_duplicate");
    assert_eq!(
        c["dedup"]["cluster"], "00000000000000a1",
        "the copy joins the story remembered before the restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_dedup_state_through_the_changelog() {
    let (_broker, cfg) = setup();
    let brokers = cfg.kafka.brokers.clone();
    let t = cfg.kafka.topics.clone();
    let p = producer(&brokers);
    let one = App::start(cfg.clone(), Stages::PROCESS, CancellationToken::new())
        .await
        .unwrap();
    let mut cfg2 = cfg.clone();
    cfg2.metrics.listen = "127.0.0.1:0".into();
    let two = App::start(cfg2, Stages::PROCESS, CancellationToken::new())
        .await
        .unwrap();
    let enriched = reader(&brokers, &t.enriched);
    let mut events = Vec::new();

    // Originals on every partition, then copies of each (other keys, other partitions).
    let mut originals = Vec::new();
    for i in 0..6 {
        let body = format!(
            "Story number {i}: {BLINKEN} Officials said talks would continue in round {i}."
        );
        let s = raw(
            &format!("{:016x}", 0x100 + i),
            "afp",
            &format!("https://afp.example/{i}"),
            &format!("Story {i}"),
            &body,
        );
        send_story(&p, &t.raw, &s).await;
        originals.push((s, body));
    }
    collect(&enriched, &mut events, 6, WAIT).await;
    assert_eq!(events.len(), 6);
    // Give each instance a moment to apply the other's changelog records.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (i, (s, body)) in originals.iter().enumerate() {
        let c = raw(
            &format!("{:016x}", 0x900 + i),
            "digest",
            &format!("https://digest.example/{i}"),
            &format!("Copy {i}"),
            &format!("Share Tweet {body} © AFP"),
        );
        let _ = s;
        send_story(&p, &t.raw, &c).await;
    }
    collect(&enriched, &mut events, 12, WAIT).await;
    one.stop();
    two.stop();
    one.wait().await.unwrap();
    two.wait().await.unwrap();
    let copies: Vec<&Value> = events.iter().filter(|e| e["feed"] == "digest").collect();
    assert_eq!(copies.len(), 6);
    for c in copies {
        assert_eq!(c["dedup"]["status"], "near_duplicate", "{c}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn poison_messages_go_to_the_deadletter_topic_and_processing_continues() {
    let (_broker, mut cfg) = setup();
    cfg.processor.max_message_bytes = 64 * 1024;
    let brokers = cfg.kafka.brokers.clone();
    let t = cfg.kafka.topics.clone();
    let p = producer(&brokers);
    let app = App::start(cfg, Stages::PROCESS, CancellationToken::new())
        .await
        .unwrap();
    send(&p, &t.raw, "k1", b"not json at all").await;
    send(&p, &t.raw, "k2", br#"{"hello": "world"}"#).await;
    send(&p, &t.raw, "k3", &vec![b'x'; 100 * 1024]).await;
    let good = raw(
        "00000000000000d4",
        "afp",
        "https://afp.example/d",
        "N. Korea fires missile",
        LAUNCH,
    );
    send_story(&p, &t.raw, &good).await;

    let enriched = reader(&brokers, &t.enriched);
    let mut events = Vec::new();
    collect(&enriched, &mut events, 1, WAIT).await;
    assert_eq!(
        events.len(),
        1,
        "the good story after the poison ones is processed"
    );

    use rdkafka::message::{Headers, Message};
    let dl = reader(&brokers, &t.deadletter);
    let mut reasons = Vec::new();
    while reasons.len() < 3 {
        let m = tokio::time::timeout(WAIT, rdkafka::consumer::StreamConsumer::recv(&dl))
            .await
            .unwrap()
            .unwrap();
        let h = m.headers().unwrap();
        let kind = h
            .iter()
            .find(|x| x.key == "reason_kind")
            .and_then(|x| x.value)
            .map(|v| String::from_utf8_lossy(v).to_string());
        let reason = h
            .iter()
            .find(|x| x.key == "reason")
            .and_then(|x| x.value)
            .map(|v| String::from_utf8_lossy(v).to_string());
        assert!(reason.is_some_and(|r| !r.is_empty()));
        assert!(
            m.payload().is_some_and(|p| !p.is_empty()),
            "the payload is kept"
        );
        reasons.push(kind.unwrap());
    }
    reasons.sort();
    assert_eq!(reasons, ["invalid_json", "invalid_schema", "too_large"]);
    app.stop();
    app.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alerts_reach_the_webhook_once_per_cooldown() {
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = received.clone();
    let hook = Router::new().route(
        "/hook",
        post(move |body: String| {
            let sink = sink.clone();
            async move {
                sink.lock()
                    .unwrap()
                    .push(serde_json::from_str::<Value>(&body).unwrap());
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, hook).await.unwrap() });

    let (_broker, mut cfg) = setup();
    cfg.alerts.webhook = Some(
        toml::from_str(&format!(
            "url = \"http://{addr}/hook\"\ntimeout_ms = 2000\nretries = 2"
        ))
        .unwrap(),
    );
    let brokers = cfg.kafka.brokers.clone();
    let t = cfg.kafka.topics.clone();
    let p = producer(&brokers);
    let app = App::start(cfg, Stages::PROCESS, CancellationToken::new())
        .await
        .unwrap();
    // Two independent launch reports within the cooldown, and a Samsung "launch".
    send_story(
        &p,
        &t.raw,
        &raw(
            "00000000000000e5",
            "afp",
            "https://afp.example/e",
            "North Korea fires ballistic missile into sea, says Seoul",
            LAUNCH,
        ),
    )
    .await;
    send_story(&p, &t.raw, &raw("00000000000000f6", "yonhap", "https://yna.example/f", "(LEAD) N. Korea launches short-range ballistic missile: JCS", "North Korea launched a short-range ballistic missile toward the East Sea on Thursday morning, the military said, in its third such launch this month.")).await;
    send_story(
        &p,
        &t.raw,
        &raw(
            "0000000000000107",
            "afp",
            "https://afp.example/s",
            "Samsung launches new Galaxy phone in Seoul",
            "Samsung Electronics launched its new Galaxy smartphone in Seoul on Thursday.",
        ),
    )
    .await;
    let alerts_rx = reader(&brokers, &t.alerts);
    let mut alerts = Vec::new();
    collect(&alerts_rx, &mut alerts, 2, WAIT).await;
    drain(&alerts_rx, &mut alerts, Duration::from_secs(2)).await;
    assert_eq!(
        alerts.len(),
        2,
        "both launch reports are alerts; the phone launch is not"
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    while received.lock().unwrap().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got = received.lock().unwrap().clone();
    assert_eq!(
        got.len(),
        1,
        "one notification per cooldown window: {got:?}"
    );
    assert!(
        got[0]["text"].as_str().unwrap().contains("CRITICAL"),
        "Slack-compatible text: {}",
        got[0]
    );
    assert_eq!(got[0]["alert"]["rule"], "nk-missile-launch");
    let (_, metrics) = http_get(app.metrics_addr, "/metrics").await;
    assert!(
        metric(
            &metrics,
            "wirewatch_alert_notifications_total{rule=\"nk-missile-launch\",outcome=\"grouped\"}"
        ) >= 1.0,
        "{metrics}"
    );
    app.stop();
    app.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn taxonomy_edits_apply_without_restart_and_bad_edits_are_rejected() {
    let (_broker, mut cfg) = setup();
    let dir = std::env::temp_dir().join(format!("ww-reload-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let shipped = std::fs::read_to_string(repo().join("config/taxonomy.toml")).unwrap();
    std::fs::write(dir.join("taxonomy.toml"), &shipped).unwrap();
    cfg.base_dir = dir.clone();
    cfg.taxonomy.watch_secs = 1;
    let brokers = cfg.kafka.brokers.clone();
    let t = cfg.kafka.topics.clone();
    let p = producer(&brokers);
    let app = App::start(cfg, Stages::PROCESS, CancellationToken::new())
        .await
        .unwrap();
    let enriched = reader(&brokers, &t.enriched);
    let mut events = Vec::new();

    // An invalid edit: rejected, the running taxonomy stays.
    std::fs::write(
        dir.join("taxonomy.toml"),
        format!("{shipped}\n[[actor]]\nid = \"Bad Id\"\n"),
    )
    .unwrap();
    wait_for_metric(
        app.metrics_addr,
        "wirewatch_taxonomy_reloads_total{outcome=\"rejected\"}",
    )
    .await;
    send_story(&p, &t.raw, &raw("0000000000000201", "afp", "https://afp.example/r1", "Zorblax Quentavia visits Pyongyang", "Zorblax Quentavia, a made-up envoy, arrived in Pyongyang on Monday for talks with North Korean officials about food aid and border trade.")).await;
    collect(&enriched, &mut events, 1, WAIT).await;
    let actors = actor_ids(&events[0]);
    assert!(
        actors.contains(&"north-korea"),
        "the old taxonomy still tags: {actors:?}"
    );
    assert!(!actors.contains(&"zorblax-quentavia"));

    // An edit that parses but whose counter-example matches (check-config fails it): rejected
    // too.
    std::fs::write(
        dir.join("taxonomy.toml"),
        format!("{shipped}\n[[actor]]\nid = \"zorblax-quentavia\"\nname = \"Zorblax Quentavia\"\nkind = \"person\"\ncounter_examples = [\"Zorblax Quentavia visits Pyongyang\"]\n"),
    )
    .unwrap();
    wait_for_metric_value(
        app.metrics_addr,
        "wirewatch_taxonomy_reloads_total{outcome=\"rejected\"}",
        2.0,
    )
    .await;
    send_story(&p, &t.raw, &raw("0000000000000203", "afp", "https://afp.example/r3", "Zorblax Quentavia leaves Pyongyang", "Zorblax Quentavia, a made-up envoy, left Pyongyang on Wednesday after three days of talks with North Korean officials about food aid.")).await;
    collect(&enriched, &mut events, 2, WAIT).await;
    let actors = actor_ids(&events[1]);
    assert!(
        !actors.contains(&"zorblax-quentavia"),
        "the edit failing its examples does not apply: {actors:?}"
    );

    // A valid edit takes effect without a restart.
    std::fs::write(
        dir.join("taxonomy.toml"),
        format!("{shipped}\n[[actor]]\nid = \"zorblax-quentavia\"\nname = \"Zorblax Quentavia\"\nkind = \"person\"\n"),
    )
    .unwrap();
    wait_for_metric(
        app.metrics_addr,
        "wirewatch_taxonomy_reloads_total{outcome=\"ok\"}",
    )
    .await;
    send_story(&p, &t.raw, &raw("0000000000000202", "afp", "https://afp.example/r2", "Zorblax Quentavia meets Kim Yo Jong", "Zorblax Quentavia met Kim Yo Jong in Pyongyang on Tuesday, state media said, in a second day of talks about food aid.")).await;
    collect(&enriched, &mut events, 3, WAIT).await;
    let actors = actor_ids(&events[2]);
    assert!(
        actors.contains(&"zorblax-quentavia"),
        "the edit applies: {actors:?}"
    );
    app.stop();
    app.wait().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tail_prints_one_readable_line_per_event() {
    let (_broker, cfg) = setup();
    let brokers = cfg.kafka.brokers.clone();
    let t = cfg.kafka.topics.clone();
    let p = producer(&brokers);
    let app = App::start(cfg.clone(), Stages::PROCESS, CancellationToken::new())
        .await
        .unwrap();
    send_story(
        &p,
        &t.raw,
        &raw(
            "0000000000000301",
            "afp",
            "https://afp.example/t",
            "North Korea fires ballistic missile into sea, says Seoul",
            LAUNCH,
        ),
    )
    .await;
    let enriched = reader(&brokers, &t.enriched);
    let mut events = Vec::new();
    collect(&enriched, &mut events, 1, WAIT).await;
    // `tail` reads the configured topic names from a config file.
    let dir = std::env::temp_dir().join(format!("ww-tail-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("c.toml"),
        format!(
            "[kafka.topics]\nenriched = \"{}\"\nalerts = \"{}\"\n",
            t.enriched, t.alerts
        ),
    )
    .unwrap();
    for (flag, want) in [(None, "new"), (Some("--alerts"), "CRITICAL")] {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_wirewatch"));
        cmd.args([
            "tail",
            "--from-beginning",
            "--brokers",
            &brokers,
            "--config",
        ])
        .arg(dir.join("c.toml"));
        if let Some(f) = flag {
            cmd.arg(f);
        }
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let line = tokio::task::spawn_blocking(move || {
            use std::io::BufRead;
            let mut l = String::new();
            std::io::BufReader::new(stdout).read_line(&mut l).map(|_| l)
        });
        let line = tokio::time::timeout(WAIT, line)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            line.contains("North Korea fires ballistic missile"),
            "{line}"
        );
        assert!(line.contains(want), "{line}");
        if flag.is_none() {
            assert!(
                line.contains("missile-test") && line.contains("North Korea"),
                "topics and actors: {line}"
            );
        }
    }
    app.stop();
    app.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_fetcher_neither_refetches_nor_republishes() {
    let docs = Docs::default();
    docs.set("afp.xml", fixture("afp.xml"));
    let server = feed_server(docs.clone()).await;
    let mut cfg = test_config("placeholder", server, &[("afp", "AFP", "afp.xml")]);
    let broker = EmbeddedBroker::start(&wirewatch::kafka::topic_list(&cfg)).unwrap();
    cfg.kafka.brokers = broker.bootstrap().to_string();
    cfg.kafka.create_topics = false;
    let brokers = cfg.kafka.brokers.clone();
    let t = cfg.kafka.topics.clone();
    let raw_rx = reader(&brokers, &t.raw);
    let mut raw_msgs = Vec::new();

    let app = App::start(cfg.clone(), Stages::FETCH, CancellationToken::new())
        .await
        .unwrap();
    collect(&raw_rx, &mut raw_msgs, 3, WAIT).await;
    assert_eq!(raw_msgs.len(), 3);
    // Let the state record land, then stop.
    let state_rx = reader(&brokers, &t.fetch_state);
    let mut states = Vec::new();
    collect(&state_rx, &mut states, 1, WAIT).await;
    assert_eq!(states[0]["feed"], "afp");
    assert_eq!(states[0]["seen"].as_array().unwrap().len(), 3);
    app.stop();
    app.wait().await.unwrap();

    // Restart: the saved ETag makes the first poll a 304; nothing is published again.
    let (_, before) = http_get(metrics_probe().await, "/metrics").await;
    let not_modified_before = metric(&before, "wirewatch_fetch_not_modified_total");
    let app = App::start(cfg.clone(), Stages::FETCH, CancellationToken::new())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (_, after) = http_get(app.metrics_addr, "/metrics").await;
    assert!(
        metric(&after, "wirewatch_fetch_not_modified_total") > not_modified_before,
        "the restarted fetcher sent the saved validators"
    );
    drain(&raw_rx, &mut raw_msgs, Duration::from_secs(2)).await;
    assert_eq!(raw_msgs.len(), 3, "nothing republished after the restart");
    // A changed feed is still picked up: one item updated in place.
    docs.set("afp.xml", fixture("afp-updated.xml"));
    collect(&raw_rx, &mut raw_msgs, 4, WAIT).await;
    drain(&raw_rx, &mut raw_msgs, Duration::from_secs(2)).await;
    assert_eq!(raw_msgs.len(), 4, "only the changed item is published");
    app.stop();
    app.wait().await.unwrap();
    drop(broker);
}

/// The metrics are process-wide: read the global recorder through a throwaway server while no
/// app is running.
async fn metrics_probe() -> std::net::SocketAddr {
    let handle = wirewatch::observe::metrics::install();
    let (addr, _task) = wirewatch::observe::server::serve(
        "127.0.0.1:0",
        handle,
        Default::default(),
        Default::default(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    addr
}
