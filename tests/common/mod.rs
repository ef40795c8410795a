//! Test support: a local feed server with switchable documents and ETags, configs pointing at
//! it, and a consumer that collects JSON events from a topic.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::ClientConfig;
use wirewatch::config::{Config, FeedConfig};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo().join("tests/fixtures/feeds").join(name)).expect("fixture exists")
}

/// The fixture feeds of `tests/fixtures/feeds/` as (feed id, outlet, file), in the order the
/// scenario publishes them.
pub const FIXTURE_FEEDS: &[(&str, &str, &str)] = &[
    ("afp", "AFP", "afp.xml"),
    ("japantimes", "The Japan Times", "japantimes.atom"),
    ("kcnawatch", "KCNA Watch", "kcnawatch.rdf"),
    ("yonhap", "Yonhap", "yonhap.xml"),
    ("aggregator", "World Wire Digest", "aggregator.json"),
];

/// An empty but valid RSS document.
pub const EMPTY_RSS: &[u8] =
    b"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>empty</title></channel></rss>";

/// Path → (body, version).
type DocMap = HashMap<String, (Vec<u8>, u64)>;

/// Documents served by path; a test swaps them while the pipeline runs.
#[derive(Clone, Default)]
pub struct Docs(Arc<Mutex<DocMap>>);

impl Docs {
    pub fn set(&self, path: &str, body: Vec<u8>) {
        let mut m = self.0.lock().unwrap();
        let version = m.get(path).map_or(1, |(_, v)| v + 1);
        m.insert(path.to_string(), (body, version));
    }

    /// Requests per path (how many times each document was fetched, 304s included).
    pub fn hits(&self) -> HashMap<String, u64> {
        HITS.lock().unwrap().clone()
    }

    /// Full downloads per path (200 responses: requests without the current validator).
    pub fn full_hits(&self) -> HashMap<String, u64> {
        FULL_HITS.lock().unwrap().clone()
    }
}

static HITS: std::sync::LazyLock<Mutex<HashMap<String, u64>>> =
    std::sync::LazyLock::new(Default::default);
static FULL_HITS: std::sync::LazyLock<Mutex<HashMap<String, u64>>> =
    std::sync::LazyLock::new(Default::default);

async fn serve_doc(
    State(docs): State<Docs>,
    UrlPath(path): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    *HITS.lock().unwrap().entry(path.clone()).or_default() += 1;
    let entry = docs.0.lock().unwrap().get(&path).cloned();
    let Some((body, version)) = entry else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::empty())
            .unwrap();
    };
    let etag = format!("\"v{version}\"");
    if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .header("etag", etag)
            .body(Body::empty())
            .unwrap();
    }
    *FULL_HITS.lock().unwrap().entry(path.clone()).or_default() += 1;
    let ctype = if path.ends_with(".json") {
        "application/feed+json"
    } else {
        "application/xml"
    };
    Response::builder()
        .header("etag", etag)
        .header("content-type", ctype)
        .body(Body::from(body))
        .unwrap()
}

/// Starts the feed server on 127.0.0.1:0.
pub async fn feed_server(docs: Docs) -> SocketAddr {
    let app = Router::new()
        .route("/feeds/{*path}", get(serve_doc))
        .with_state(docs);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A config for tests: fast polls, metrics on a free port, the shipped taxonomy, unique topic
/// names and group (so runs against a shared broker do not mix).
pub fn test_config(brokers: &str, server: SocketAddr, feeds: &[(&str, &str, &str)]) -> Config {
    let mut cfg = Config::parse("test.toml", "").unwrap();
    cfg.base_dir = repo().join("config");
    cfg.kafka.brokers = brokers.to_string();
    let suffix = unique();
    let t = &mut cfg.kafka.topics;
    for name in [
        &mut t.raw,
        &mut t.enriched,
        &mut t.alerts,
        &mut t.deadletter,
        &mut t.clusters,
        &mut t.dedup_state,
        &mut t.fetch_state,
        &mut t.fetch_shards,
    ] {
        *name = format!("{name}.{suffix}");
    }
    cfg.kafka.group_id = format!("wirewatch-test-{suffix}");
    cfg.fetch.group_id = format!("wirewatch-test-fetch-{suffix}");
    cfg.kafka.client_id = format!("wirewatch-test-{suffix}");
    cfg.kafka.routes = vec![wirewatch::core::pipeline::Route {
        tag: "missile-test".into(),
        to: format!("news.missile-test.{suffix}"),
    }];
    cfg.metrics.listen = "127.0.0.1:0".into();
    cfg.fetch.default_interval_secs = 1;
    cfg.fetch.min_interval_secs = 1;
    cfg.fetch.max_interval_secs = 2;
    // The fixture server is on loopback, which production refuses by default.
    cfg.fetch.allow_private_addresses = true;
    cfg.shutdown.deadline_secs = 20;
    cfg.taxonomy.watch_secs = 0;
    for (id, outlet, path) in feeds {
        let text = format!(
            "id = \"{id}\"\nurl = \"http://{server}/feeds/{path}\"\noutlet = \"{outlet}\"\n"
        );
        let feed: FeedConfig = toml::from_str(&text).unwrap();
        cfg.feeds.push(toml::Spanned::new(0..0, feed));
    }
    cfg
}

pub fn unique() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            % 1_000_000,
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// A consumer reading `topic` from the beginning.
pub fn reader(brokers: &str, topic: &str) -> StreamConsumer {
    let c: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("test-reader-{}", unique()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    c.subscribe(&[topic]).unwrap();
    c
}

/// Reads JSON events from `consumer` until `want` have arrived, or `timeout` passes.
pub async fn collect(
    consumer: &StreamConsumer,
    out: &mut Vec<serde_json::Value>,
    want: usize,
    timeout: Duration,
) {
    let deadline = tokio::time::Instant::now() + timeout;
    while out.len() < want {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return;
        }
        match tokio::time::timeout(left, consumer.recv()).await {
            Ok(Ok(m)) => {
                if let Some(p) = m.payload() {
                    out.push(serde_json::from_slice(p).expect("events are JSON"));
                }
            }
            // Transient (a broker restarting): the consumer reconnects by itself.
            Ok(Err(e)) => eprintln!("consumer error (retrying): {e}"),
            Err(_) => return,
        }
    }
}

/// Reads whatever else arrives within `quiet` (to prove nothing more comes).
pub async fn drain(consumer: &StreamConsumer, out: &mut Vec<serde_json::Value>, quiet: Duration) {
    while let Ok(Ok(m)) = tokio::time::timeout(quiet, consumer.recv()).await {
        if let Some(p) = m.payload() {
            out.push(serde_json::from_slice(p).unwrap());
        }
    }
}

/// GETs a path of the metrics server.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let r = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Value of a metric line (exact series text before the value), summed over matches.
pub fn metric(text: &str, series_prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(series_prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

pub mod scenario;
