//! `wirewatch process` killed with SIGKILL in the middle of its work, and a scale-out of two
//! fetchers and three processors, as real processes: nothing is lost and no story comes out
//! twice. Runs against the broker in `WIREWATCH_TEST_KAFKA`
//! (tansu in CI, a separate process) or else an embedded broker hosted by the test.
//!
//! Counts are printed (`stories in / out / duplicates / lost`) for the closing report.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::Utc;
use rdkafka::consumer::StreamConsumer;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use serde_json::Value;
use wirewatch::config::Config;
use wirewatch::kafka::embedded::EmbeddedBroker;
use wirewatch::story::RawStory;

use common::*;

/// The broker: the one CI started, else an embedded one (kept alive by the returned value).
async fn broker(cfg: &mut Config) -> Option<EmbeddedBroker> {
    cfg.kafka.partitions = 3;
    match std::env::var("WIREWATCH_TEST_KAFKA") {
        Ok(b) => {
            cfg.kafka.brokers = b.clone();
            // tansu keeps a dead member in the group until the rebalance timeout
            // (`max.poll.interval.ms`, 5 minutes by default) rather than the session timeout
            // (10 s) as Kafka does: shorten it so the test's killed member goes in time.
            let props = &mut cfg.kafka.properties;
            props.insert("max.poll.interval.ms".into(), "20000".into());
            props.insert("session.timeout.ms".into(), "10000".into());
            wirewatch::kafka::create_topics(cfg, &b).await.unwrap();
            cfg.kafka.create_topics = false;
            None
        }
        Err(_) => {
            let broker = EmbeddedBroker::start(&wirewatch::kafka::topic_list(cfg)).unwrap();
            cfg.kafka.brokers = broker.bootstrap().to_string();
            cfg.kafka.create_topics = false;
            Some(broker)
        }
    }
}

/// A distinct story: its own words, so dedup keeps every one apart.
fn story(n: usize) -> RawStory {
    const WORDS: &[&str] = &[
        "ministry",
        "officials",
        "harbour",
        "province",
        "delegation",
        "council",
        "railway",
        "festival",
        "budget",
        "reservoir",
        "election",
        "factory",
        "embassy",
        "vaccine",
        "bridge",
        "drought",
        "tariff",
        "museum",
        "airline",
        "court",
        "satellite",
        "fisheries",
        "garrison",
        "summit",
    ];
    let mut body = format!("Report number {n}: ");
    let mut x = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for i in 0..70 {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let w = WORDS[(x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 59) as usize % WORDS.len()];
        body.push_str(&format!("{w}{} ", (n * 131 + i * 7) % 997));
    }
    RawStory {
        schema_version: wirewatch::story::SCHEMA_VERSION,
        id: format!("{:016x}", 0xA000_0000_0000_0000u64 + n as u64),
        feed: "wire".into(),
        outlet: "Wire".into(),
        guid: Some(format!("story-{n}")),
        link: Some(format!("https://wire.example/story/{n}")),
        canonical_link: Some(format!("https://wire.example/story/{n}")),
        title: format!("Story {n} of the kill test"),
        summary: String::new(),
        content: body,
        published_at: Some(Utc::now()),
        fetched_at: Utc::now(),
        language: None,
    }
}

async fn produce(brokers: &str, topic: &str, range: std::ops::Range<usize>) {
    let p: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "20")
        .create()
        .unwrap();
    let sends: Vec<_> = range
        .map(|n| {
            let s = story(n);
            let payload = serde_json::to_vec(&s).unwrap();
            let p = p.clone();
            let topic = topic.to_string();
            async move {
                p.send(
                    FutureRecord::to(&topic).key(&s.id).payload(&payload),
                    Duration::from_secs(30),
                )
                .await
                .map_err(|(e, _)| e)
                .unwrap();
            }
        })
        .collect();
    futures::future::join_all(sends).await;
}

/// Writes `cfg` as `dir/name` for a `wirewatch` process and returns its path.
fn write_config(cfg: &Config, dir: &Path, name: &str) -> PathBuf {
    let mut cfg = cfg.clone();
    cfg.taxonomy.path = repo().join("config/taxonomy.toml");
    let path = dir.join(name);
    std::fs::write(&path, toml::to_string(&cfg).unwrap()).unwrap();
    path
}

/// What each test here starts from: a broker, its config written to a scratch directory.
struct Rig {
    cfg: Config,
    brokers: String,
    topics: wirewatch::config::TopicNames,
    dir: PathBuf,
    config: PathBuf,
    _embedded: Option<EmbeddedBroker>,
}

async fn rig(name: &str, mut cfg: Config) -> Rig {
    let embedded = broker(&mut cfg).await;
    let dir = temp_dir(name);
    let config = write_config(&cfg, &dir, &format!("{name}.toml"));
    Rig {
        brokers: cfg.kafka.brokers.clone(),
        topics: cfg.kafka.topics.clone(),
        cfg,
        dir,
        config,
        _embedded: embedded,
    }
}

/// A config for `process` only (no feeds).
fn process_config() -> Config {
    test_config("placeholder", "127.0.0.1:1".parse().unwrap(), &[])
}

fn spawn_process(config: &Path, log: &Path) -> Child {
    spawn("process", config, log)
}

fn spawn(stage: &str, config: &Path, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_wirewatch"))
        .args([stage, "--config"])
        .arg(config)
        .env("WIREWATCH_LOG", "info,rdkafka=warn,wirewatch::kafka=debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("wirewatch starts")
}

fn sigkill(child: &mut Child) {
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
}

fn sigterm(child: &mut Child) {
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
}

/// Reads events until `want` arrived (or the timeout), then whatever else comes within 3 s.
async fn read_events(rx: &StreamConsumer, out: &mut Vec<Value>, want: usize, timeout: Duration) {
    collect(rx, out, want, timeout).await;
    drain(rx, out, Duration::from_secs(3)).await;
}

/// (stories out as `new`, duplicates of a story, stories lost) for stories `0..n`.
fn tally(events: &[Value], n: usize) -> (usize, usize, usize) {
    let mut per_story: HashMap<String, usize> = HashMap::new();
    for e in events {
        assert_eq!(e["dedup"]["status"], "new", "every story is distinct: {e}");
        *per_story
            .entry(e["id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let dups = per_story.values().map(|c| c - 1).sum();
    let lost = (0..n)
        .filter(|&i| !per_story.contains_key(&story(i).id))
        .count();
    (per_story.len(), dups, lost)
}

/// Starts `process` again once the stopped member's session has expired (10 s: Kafka evicts a
/// dead member then by itself, tansu only when a member joins after it expired, and can leave
/// one that joins right after another left without partitions), reads events until stories
/// `0..n` are all out, and stops it. Returns the tally and how many messages the restarted
/// process found already emitted.
async fn restart_until(
    config: &Path,
    dir: &Path,
    enriched: &StreamConsumer,
    events: &mut Vec<Value>,
    n: usize,
) -> ((usize, usize, usize), usize) {
    tokio::time::sleep(Duration::from_secs(11)).await;
    let mut second = spawn_process(config, &dir.join("second.log"));
    read_events(enriched, events, n, Duration::from_secs(120)).await;
    sigterm(&mut second);
    let log = std::fs::read_to_string(dir.join("second.log")).unwrap_or_default();
    (
        tally(events, n),
        log.matches("outputs already emitted").count(),
    )
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ww-{name}-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn process_killed_mid_batch_and_restarted_loses_nothing_and_emits_nothing_twice() {
    const N: usize = 1500;
    let Rig {
        cfg: _,
        brokers,
        topics: t,
        dir,
        config,
        _embedded,
    } = rig("kill", process_config()).await;
    produce(&brokers, &t.raw, 0..N).await;

    let enriched = reader(&brokers, &t.enriched);
    let mut events = Vec::new();
    let mut first = spawn_process(&config, &dir.join("first.log"));
    // Killed while it works through the backlog (hundreds of messages in flight).
    collect(&enriched, &mut events, N / 3, Duration::from_secs(120)).await;
    sigkill(&mut first);
    let at_kill = events.len();
    assert!(
        (N / 3..N).contains(&at_kill),
        "killed mid-run: {at_kill} of {N} out"
    );

    let ((out, dups, lost), recovered) =
        restart_until(&config, &dir, &enriched, &mut events, N).await;
    println!(
        "SIGKILL mid-batch: stories in {N}, out {out}, duplicates {dups}, lost {lost} (killed after {at_kill} events; {recovered} messages found already emitted on restart)"
    );
    assert_eq!((out, dups, lost), (N, 0, 0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_processors_one_killed_then_scaled_back_up() {
    const N: usize = 900;
    let Rig {
        cfg: _,
        brokers,
        topics: t,
        dir,
        config,
        _embedded,
    } = rig("scale", process_config()).await;
    let enriched = reader(&brokers, &t.enriched);
    let mut events = Vec::new();

    let mut procs: Vec<Child> = (0..3)
        .map(|i| spawn_process(&config, &dir.join(format!("p{i}.log"))))
        .collect();
    // Let the group settle on three members, then feed them.
    tokio::time::sleep(Duration::from_secs(8)).await;
    produce(&brokers, &t.raw, 0..N).await;
    collect(&enriched, &mut events, N / 3, Duration::from_secs(120)).await;
    // One of the three dies: its partitions move to the two others (after the session timeout).
    sigkill(&mut procs[0]);
    let at_kill = events.len();
    read_events(&enriched, &mut events, N, Duration::from_secs(120)).await;
    let (out, dups, lost) = tally(&events, N);
    println!(
        "3 processors, one SIGKILLed: stories in {N}, out {out}, duplicates {dups}, lost {lost} (killed after {at_kill} events)"
    );
    assert_eq!((out, dups, lost), (N, 0, 0));

    // Scaled back up to three; more stories, still each exactly once.
    procs[0] = spawn_process(&config, &dir.join("p3.log"));
    tokio::time::sleep(Duration::from_secs(8)).await;
    produce(&brokers, &t.raw, N..2 * N).await;
    read_events(&enriched, &mut events, 2 * N, Duration::from_secs(120)).await;
    let (out, dups, lost) = tally(&events, 2 * N);
    println!(
        "scaled back to 3 processors: stories in {}, out {out}, duplicates {dups}, lost {lost}",
        2 * N
    );
    assert_eq!((out, dups, lost), (2 * N, 0, 0));
    for p in &mut procs {
        sigterm(p);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// RSS for feed `f`: `items` stories, each with its own words (see `story`).
fn feed_doc(f: usize, items: usize) -> Vec<u8> {
    let mut x =
        format!("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Feed {f}</title>");
    for i in 0..items {
        let s = story(10_000 + f * 100 + i);
        x.push_str(&format!(
            "<item><guid>f{f}-{i}</guid><link>https://feed{f}.example/{i}</link><title>{}</title><description>{}</description></item>",
            s.title, s.content
        ));
    }
    x.push_str("</channel></rss>");
    x.into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_fetchers_and_three_processors_share_the_work() {
    const FEEDS: usize = 12;
    const ITEMS: usize = 5;
    let docs = Docs::default();
    let names: Vec<(String, String)> = (0..FEEDS)
        .map(|f| (format!("scale-{f}"), format!("scale-{f}.xml")))
        .collect();
    for (f, (_, path)) in names.iter().enumerate() {
        docs.set(path, feed_doc(f, ITEMS));
    }
    let server = feed_server(docs.clone()).await;
    let feeds: Vec<(&str, &str, &str)> = names
        .iter()
        .map(|(id, path)| (id.as_str(), "Scale", path.as_str()))
        .collect();
    let mut cfg = test_config("placeholder", server, &feeds);
    cfg.fetch.shared = true;
    cfg.fetch.shards = 8;
    cfg.fetch.default_interval_secs = 600;
    cfg.fetch.min_interval_secs = 600;
    cfg.fetch.max_interval_secs = 600;
    let Rig {
        brokers,
        topics: t,
        dir,
        config,
        _embedded,
        ..
    } = rig("scale-out", cfg).await;
    let raw_rx = reader(&brokers, &t.raw);
    let enriched = reader(&brokers, &t.enriched);

    let mut procs: Vec<Child> = (0..3)
        .map(|i| spawn("process", &config, &dir.join(format!("process{i}.log"))))
        .collect();
    let mut fetchers: Vec<Child> = (0..2)
        .map(|i| spawn("fetch", &config, &dir.join(format!("fetch{i}.log"))))
        .collect();
    let want = FEEDS * ITEMS;
    let mut raw = Vec::new();
    let mut events = Vec::new();
    read_events(&raw_rx, &mut raw, want, Duration::from_secs(120)).await;
    read_events(&enriched, &mut events, want, Duration::from_secs(120)).await;
    for p in fetchers.iter_mut().chain(procs.iter_mut()) {
        sigterm(p);
    }

    let mut per_story: HashMap<String, usize> = HashMap::new();
    for e in &events {
        assert_eq!(e["dedup"]["status"], "new", "{e}");
        *per_story
            .entry(e["id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let dups: usize = per_story.values().map(|c| c - 1).sum();
    let lost = want.saturating_sub(per_story.len());
    let full = docs.full_hits();
    let downloads: Vec<u64> = names
        .iter()
        .map(|(_, p)| full.get(p).copied().unwrap_or(0))
        .collect();
    println!(
        "2 fetchers + 3 processors: stories in {want} (raw {}), out {}, duplicates {dups}, lost {lost}; downloads per feed {downloads:?}",
        raw.len(),
        per_story.len()
    );
    assert_eq!(raw.len(), want, "each item published once");
    assert_eq!((per_story.len(), dups, lost), (want, 0, 0));
    assert!(
        downloads.iter().all(|&d| d == 1),
        "each feed downloaded once: {downloads:?}"
    );
    let logs: Vec<String> = (0..2)
        .map(|i| std::fs::read_to_string(dir.join(format!("fetch{i}.log"))).unwrap_or_default())
        .collect();
    // Both fetchers got a share of the feed list.
    let got_shards = |log: &str| {
        log.lines()
            .any(|l| l.contains("feed shards assigned") && !l.contains("shards=[]"))
    };
    assert!(
        logs.iter().all(|l| got_shards(l)),
        "both fetchers own shards"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_drains_commits_and_exits_zero_and_a_second_signal_forces_exit() {
    const N: usize = 600;
    let Rig {
        cfg,
        brokers,
        topics: t,
        dir,
        config,
        _embedded,
    } = rig("sigterm", process_config()).await;
    produce(&brokers, &t.raw, 0..N).await;
    let enriched = reader(&brokers, &t.enriched);
    let mut events = Vec::new();

    // SIGTERM in the middle of the backlog: in-flight work drains, offsets are committed, and
    // the process exits 0 within the deadline.
    let mut first = spawn_process(&config, &dir.join("first.log"));
    collect(&enriched, &mut events, N / 3, Duration::from_secs(120)).await;
    let asked = std::time::Instant::now();
    let _ = Command::new("kill").arg(first.id().to_string()).status();
    let status = first.wait().unwrap();
    let took = asked.elapsed();
    assert_eq!(status.code(), Some(0), "graceful stop exits 0");
    assert!(
        took < Duration::from_secs(cfg.shutdown.deadline_secs),
        "stopped in {took:?}"
    );
    // The restarted process starts at the committed offsets: nothing to recover, nothing twice.
    let ((out, dups, lost), reprocessed) =
        restart_until(&config, &dir, &enriched, &mut events, N).await;
    println!(
        "SIGTERM mid-run: stories in {N}, out {out}, duplicates {dups}, lost {lost}; stopped in {took:?}; {reprocessed} messages reprocessed after the restart"
    );
    assert_eq!((out, dups, lost), (N, 0, 0));
    assert_eq!(reprocessed, 0, "offsets were committed at the stop");

    // A poll that hangs keeps the first stop waiting (up to the deadline); a second signal
    // exits at once.
    let hang = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hang_addr = hang.local_addr().unwrap();
    let mut fcfg = test_config(&brokers, hang_addr, &[("hang", "Hang", "hang.xml")]);
    fcfg.kafka.create_topics = false;
    fcfg.kafka.properties = cfg.kafka.properties.clone();
    fcfg.shutdown.deadline_secs = 60;
    let fconfig = write_config(&fcfg, &dir, "fetch.toml");
    let mut fetcher = spawn("fetch", &fconfig, &dir.join("fetch.log"));
    let (_conn, _) = tokio::task::spawn_blocking(move || hang.accept().unwrap())
        .await
        .unwrap();
    let _ = Command::new("kill").arg(fetcher.id().to_string()).status();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        fetcher.try_wait().unwrap().is_none(),
        "still draining the hung poll"
    );
    let second_signal = std::time::Instant::now();
    let _ = Command::new("kill").arg(fetcher.id().to_string()).status();
    let status = fetcher.wait().unwrap();
    assert_eq!(status.code(), Some(130), "a second signal forces exit");
    assert!(second_signal.elapsed() < Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(&dir);
}
