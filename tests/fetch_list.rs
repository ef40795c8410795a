//! The live feed list: edits to the config (and its OPML files) apply without a restart, a bad
//! edit is rejected, and several fetchers share one list without polling a feed twice.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use common::*;
use tokio_util::sync::CancellationToken;
use wirewatch::app::{App, Stages};
use wirewatch::config::Config;
use wirewatch::kafka::embedded::EmbeddedBroker;

const WAIT: Duration = Duration::from_secs(30);

/// A small RSS document of `items` distinct stories for feed `n`.
fn rss(n: usize, items: usize) -> Vec<u8> {
    let mut s = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Feed {n}</title><link>https://feed{n}.example/</link>"
    );
    for i in 0..items {
        s.push_str(&format!(
            "<item><guid>feed{n}-item{i}</guid><link>https://feed{n}.example/story/{i}</link><title>Story {i} of feed {n}</title><description>Body of story {i} published by feed number {n} for the test.</description></item>"
        ));
    }
    s.push_str("</channel></rss>");
    s.into_bytes()
}

/// Feed ids on a status board.
fn board_ids(app: &App) -> BTreeSet<String> {
    app.board.lock().unwrap().keys().cloned().collect()
}

/// Waits until `cond` holds, polling every 100 ms, for at most `timeout`.
async fn until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cond()
}

/// A broker for the whole test, and a fetch config for `feeds` with long intervals (each feed
/// is polled once unless it moves).
fn setup(server: std::net::SocketAddr, feeds: &[(&str, &str, &str)]) -> (EmbeddedBroker, Config) {
    let mut cfg = test_config("placeholder", server, feeds);
    cfg.fetch.default_interval_secs = 600;
    cfg.fetch.min_interval_secs = 600;
    cfg.fetch.max_interval_secs = 600;
    cfg.fetch.shards = 8;
    let broker = EmbeddedBroker::start(&wirewatch::kafka::topic_list(&cfg)).unwrap();
    cfg.kafka.brokers = broker.bootstrap().to_string();
    cfg.kafka.create_topics = false;
    (broker, cfg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn feed_list_edits_apply_without_restart_and_bad_edits_are_rejected() {
    let docs = Docs::default();
    for n in 0..3 {
        docs.set(&format!("list-{n}.xml"), rss(n, 2));
    }
    let server = feed_server(docs.clone()).await;
    let (broker, mut cfg) = setup(server, &[("list-0", "L", "list-0.xml")]);
    cfg.fetch.reload_secs = 1;
    // The config lives in a file (that is what is watched), with an OPML file beside it.
    let dir = std::env::temp_dir().join(format!("ww-fetch-list-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("wirewatch.toml");
    let write = |cfg: &Config| std::fs::write(&path, toml::to_string(cfg).unwrap()).unwrap();
    cfg.taxonomy.path = common::repo().join("config/taxonomy.toml");
    write(&cfg);
    let loaded = Config::load(&path).unwrap();
    let raw_rx = reader(&cfg.kafka.brokers, &cfg.kafka.topics.raw);
    let mut raw = Vec::new();

    let app = App::start(loaded, Stages::FETCH, CancellationToken::new())
        .await
        .unwrap();
    collect(&raw_rx, &mut raw, 2, WAIT).await;
    assert_eq!(board_ids(&app), BTreeSet::from(["list-0".to_string()]));

    // Edit: list-0 removed, list-1 added in the config, list-2 through an OPML file.
    let feed1 = format!("id = \"list-1\"\nurl = \"http://{server}/feeds/list-1.xml\"\n");
    cfg.feeds = vec![toml::Spanned::new(0..0, toml::from_str(&feed1).unwrap())];
    cfg.fetch.feed_files = vec!["more.opml".into()];
    std::fs::write(
        dir.join("more.opml"),
        format!("<opml version=\"2.0\"><body><outline text=\"Two\" xmlUrl=\"http://{server}/feeds/list-2.xml\"/></body></opml>"),
    )
    .unwrap();
    // A new mtime even on coarse-grained file systems.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    write(&cfg);
    collect(&raw_rx, &mut raw, 6, WAIT).await;
    assert_eq!(raw.len(), 6, "the added feeds were polled and published");
    let ids = board_ids(&app);
    assert!(ids.contains("list-1"), "{ids:?}");
    assert!(
        ids.iter().any(|id| id.starts_with("two-")),
        "OPML feed: {ids:?}"
    );
    assert!(
        !ids.contains("list-0"),
        "removed feed still listed: {ids:?}"
    );
    let hits_0 = docs.hits().get("list-0.xml").copied();

    // A bad edit (unknown key) is rejected: the running list stays and keeps working.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    std::fs::write(&path, "[fetch]\nreload_secs = 1\nno_such_key = 1\n").unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        board_ids(&app),
        ids,
        "the running list stays after a bad edit"
    );
    let (_, metrics) = http_get(app.metrics_addr, "/metrics").await;
    assert!(
        metric(
            &metrics,
            "wirewatch_feed_list_reloads_total{outcome=\"rejected\"}"
        ) >= 1.0,
        "rejection counted"
    );
    assert_eq!(
        docs.hits().get("list-0.xml").copied(),
        hits_0,
        "a removed feed is no longer polled"
    );
    drain(&raw_rx, &mut raw, Duration::from_secs(1)).await;
    assert_eq!(raw.len(), 6, "nothing republished by the reloads");
    app.stop();
    app.wait().await.unwrap();
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shared_fetchers_split_the_list_and_take_over_without_polling_twice() {
    const FEEDS: usize = 12;
    const ITEMS: usize = 3;
    let docs = Docs::default();
    let names: Vec<(String, String)> = (0..FEEDS)
        .map(|n| (format!("shared-{n}"), format!("shared-{n}.xml")))
        .collect();
    for (n, (_, path)) in names.iter().enumerate() {
        docs.set(path, rss(100 + n, ITEMS));
    }
    let server = feed_server(docs.clone()).await;
    let feeds: Vec<(&str, &str, &str)> = names
        .iter()
        .map(|(id, path)| (id.as_str(), "Shared", path.as_str()))
        .collect();
    let (broker, mut cfg) = setup(server, &feeds);
    cfg.fetch.shared = true;
    let all: BTreeSet<String> = names.iter().map(|(id, _)| id.clone()).collect();
    let raw_rx = reader(&cfg.kafka.brokers, &cfg.kafka.topics.raw);
    let state_rx = reader(&cfg.kafka.brokers, &cfg.kafka.topics.fetch_state);
    let mut raw = Vec::new();
    let mut states = Vec::new();

    // One fetcher owns every shard and polls every feed once.
    let a = App::start(cfg.clone(), Stages::FETCH, CancellationToken::new())
        .await
        .unwrap();
    collect(&raw_rx, &mut raw, FEEDS * ITEMS, WAIT).await;
    assert_eq!(raw.len(), FEEDS * ITEMS);
    collect(&state_rx, &mut states, FEEDS, WAIT).await;
    assert!(until(WAIT, || board_ids(&a) == all).await);

    // A second fetcher joins: the shards are split, each feed on exactly one of the two.
    let b = App::start(cfg.clone(), Stages::FETCH, CancellationToken::new())
        .await
        .unwrap();
    let split = until(WAIT, || {
        let (ia, ib) = (board_ids(&a), board_ids(&b));
        !ia.is_empty() && !ib.is_empty() && ia.is_disjoint(&ib) && &ia | &ib == all
    })
    .await;
    assert!(split, "split: a={:?} b={:?}", board_ids(&a), board_ids(&b));
    // `wirewatch feeds status` merges the fetchers' lists: every feed once, healthy.
    let urls = [a.metrics_addr, b.metrics_addr].map(|m| format!("http://{m}"));
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_wirewatch"))
            .args(["feeds", "status", "--url", &urls[0], "--url", &urls[1]])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let listed: BTreeSet<String> = text
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(listed, all, "{text}");
    assert_eq!(text.lines().count(), FEEDS, "{text}");
    assert!(text.lines().all(|l| l.contains(" healthy ")), "{text}");
    let moved = board_ids(&b);
    // The newcomer polls the feeds it took with the validators their last owner saved.
    let took_over = until(WAIT, || {
        let hits = docs.hits();
        moved
            .iter()
            .all(|id| hits.get(&format!("{id}.xml")).copied() == Some(2))
    })
    .await;
    assert!(took_over, "hits: {:?}", docs.hits());

    // The first fetcher stops: its feeds move to the second.
    a.stop();
    a.wait().await.unwrap();
    assert!(
        until(WAIT, || board_ids(&b) == all).await,
        "b={:?}",
        board_ids(&b)
    );
    let every_feed_polled_twice = until(WAIT, || {
        let hits = docs.hits();
        all.iter()
            .all(|id| hits.get(&format!("{id}.xml")).copied() == Some(2))
    })
    .await;
    let hits: HashMap<String, u64> = docs.hits();
    assert!(every_feed_polled_twice, "hits: {hits:?}");
    // Never a second full download, never a second publication.
    let full = docs.full_hits();
    for (_, path) in &names {
        assert_eq!(full.get(path).copied(), Some(1), "full downloads of {path}");
    }
    drain(&raw_rx, &mut raw, Duration::from_secs(2)).await;
    assert_eq!(raw.len(), FEEDS * ITEMS, "nothing published twice");
    let hits_now = docs.hits();
    assert_eq!(hits, hits_now, "no further polls within the interval");
    b.stop();
    b.wait().await.unwrap();
    drop(broker);
}
