//! Scale of the fetch stage: 10,000 feeds of 30 items served from local loopback servers,
//! polled by a real `wirewatch fetch` process that publishes to an embedded broker.
//!
//!   cargo bench --bench fetch                  # 10,000 feeds
//!   cargo bench --bench fetch -- 2000          # another feed count
//!
//! This process hosts the feed servers (one per loopback address 127.0.1.1–127.0.1.100, so the
//! default limit of one request in flight per host holds, as with real publishers) and the
//! broker; the fetcher runs as its own process so its peak RSS and CPU time are its own.
//!
//! 1. First cycle: the fetcher starts with no state and downloads, parses and publishes every
//!    feed (300,000 stories for 10,000 feeds); done when its `published` counter has them all.
//! 2. 304 cycle: the fetcher is restarted; it restores the validators from the fetch-state
//!    topic and polls every feed again, each answered 304 Not Modified.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;

const HOSTS: usize = 100;
const ITEMS: usize = 30;

#[derive(Default)]
struct Counters {
    full: AtomicU64,
    not_modified: AtomicU64,
    /// When the first and the latest 304 were sent.
    not_modified_span: std::sync::Mutex<Option<(Instant, Instant)>>,
}

#[derive(Clone)]
struct Server {
    docs: Arc<Vec<Bytes>>,
    counters: Arc<Counters>,
}

/// RSS 2.0 for feed `n`: 30 items of about 400 bytes (headline, one-paragraph summary).
fn feed_doc(n: usize) -> Bytes {
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>Bench feed {n}</title><link>https://feed{n}.example/</link><description>Feed {n}</description>\n"
    );
    for i in 0..ITEMS {
        s.push_str(&format!(
            "<item><title>Officials in region {n} report development {i} after talks</title><link>https://feed{n}.example/news/{i}?utm_source=rss</link><guid>feed{n}-{i}</guid><pubDate>Tue, 24 Nov 2026 0{}:{:02}:00 GMT</pubDate><description>Officials said on Tuesday that the talks in region {n} had produced development number {i}, the latest step in a process that began earlier this year, according to a statement.</description></item>\n",
            i % 10,
            (n + i) % 60
        ));
    }
    s.push_str("</channel></rss>\n");
    Bytes::from(s)
}

async fn serve_feed(
    State(srv): State<Server>,
    UrlPath(file): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let n: usize = file.trim_end_matches(".xml").parse().unwrap_or(usize::MAX);
    let Some(doc) = srv.docs.get(n) else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::empty())
            .unwrap();
    };
    let etag = format!("\"f{n}-v1\"");
    if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        srv.counters.not_modified.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let mut span = srv.counters.not_modified_span.lock().unwrap();
        *span = Some(span.map_or((now, now), |(first, _)| (first, now)));
        return Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .header("etag", etag)
            .body(Body::empty())
            .unwrap();
    }
    srv.counters.full.fetch_add(1, Ordering::Relaxed);
    Response::builder()
        .header("etag", etag)
        .header("content-type", "application/rss+xml")
        .body(Body::from(doc.clone()))
        .unwrap()
}

/// CPU seconds (user + system) of a process so far, from `/proc/<pid>/stat`.
fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 (1-based), 12 and 13 here; 100 ticks a second.
    (ticks(11) + ticks(12)) / 100.0
}

fn peak_rss_mib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024)
}

/// A metric's value from the fetcher's `/metrics`, 0 when not there (yet).
async fn metric(client: &reqwest::Client, addr: &str, name: &str) -> f64 {
    let Ok(r) = client.get(format!("http://{addr}/metrics")).send().await else {
        return 0.0;
    };
    let text = r.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

struct Phase {
    secs: f64,
    cpu: f64,
    peak_mib: u64,
}

/// Runs `wirewatch fetch` until `done` says the cycle is complete; then stops it (SIGTERM).
async fn run_fetcher(
    exe: &str,
    config: &Path,
    metrics_addr: &str,
    mut done: impl FnMut(f64) -> bool,
) -> Phase {
    let client = reqwest::Client::new();
    let start = Instant::now();
    let mut child = std::process::Command::new(exe)
        .arg("fetch")
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("runs wirewatch fetch");
    let pid = child.id();
    let mut peak = 0;
    let (secs, cpu) = loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        peak = peak.max(peak_rss_mib(pid));
        let published = metric(
            &client,
            metrics_addr,
            "wirewatch_fetch_stories_published_total",
        )
        .await;
        if done(published) {
            break (start.elapsed().as_secs_f64(), cpu_secs(pid));
        }
        if let Some(st) = child.try_wait().unwrap() {
            panic!("wirewatch fetch exited early: {st}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "cycle did not finish in 10 minutes"
        );
    };
    peak = peak.max(peak_rss_mib(pid));
    let _ = std::process::Command::new("kill")
        .arg(pid.to_string())
        .status();
    let _ = child.wait();
    Phase {
        secs,
        cpu,
        peak_mib: peak,
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn main() {
    let feeds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let exe = env!("CARGO_BIN_EXE_wirewatch");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let docs: Vec<Bytes> = (0..feeds).map(feed_doc).collect();
        let bytes: usize = docs.iter().map(Bytes::len).sum();
        let srv = Server {
            docs: Arc::new(docs),
            counters: Arc::default(),
        };
        let port = free_port();
        let mut hosts = Vec::new();
        for h in 0..HOSTS {
            let addr: SocketAddr = format!("127.0.1.{}:{port}", h + 1).parse().unwrap();
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .expect("binds a loopback address (Linux routes all of 127.0.0.0/8)");
            let app = Router::new()
                .route("/feed/{file}", get(serve_feed))
                .with_state(srv.clone());
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            hosts.push(addr);
        }

        let dir = std::env::temp_dir().join(format!("wirewatch-bench-fetch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cfg = wirewatch::config::Config::parse("bench.toml", "").unwrap();
        // Enough partitions that the embedded broker's ~5 MiB per partition keeps every
        // feed's fetch state (it drops the oldest records beyond that).
        cfg.kafka.partitions = 32;
        let broker =
            wirewatch::kafka::embedded::EmbeddedBroker::start(&wirewatch::kafka::topic_list(&cfg))
                .unwrap();
        let metrics_addr = format!("127.0.0.1:{}", free_port());
        let mut toml = format!(
            "[kafka]\nbrokers = \"{}\"\ncreate_topics = false\npartitions = 32\n\n[fetch]\nallow_private_addresses = true\ndefault_interval_secs = 3600\nmin_interval_secs = 3600\nmax_interval_secs = 3600\nreload_secs = 0\n\n[metrics]\nlisten = \"{metrics_addr}\"\n\n",
            broker.bootstrap()
        );
        for n in 0..feeds {
            let host = hosts[n % HOSTS];
            toml.push_str(&format!(
                "[[feeds]]\nid = \"f{n}\"\nurl = \"http://{host}/feed/{n}.xml\"\noutlet = \"bench\"\n"
            ));
        }
        let config = dir.join("bench.toml");
        std::fs::write(&config, toml).unwrap();
        let stories = (feeds * ITEMS) as f64;
        println!(
            "fetch: {feeds} feeds of {ITEMS} items ({:.0} MB of RSS) on {HOSTS} loopback hosts, one request in flight per host, 64 in all",
            bytes as f64 / 1e6
        );

        let first = run_fetcher(exe, &config, &metrics_addr, |published| published >= stories).await;
        let full = srv.counters.full.load(Ordering::Relaxed);
        println!(
            "fetch: first cycle     {:>6.2} s  {:>8.0} feeds/s  {:>8.0} stories/s published  CPU {:.2} s per 1,000 feeds  peak RSS {} MiB  ({full} full downloads)",
            first.secs,
            feeds as f64 / first.secs,
            stories / first.secs,
            first.cpu / feeds as f64 * 1000.0,
            first.peak_mib
        );

        let before = srv.counters.not_modified.load(Ordering::Relaxed);
        let counters = srv.counters.clone();
        let second = run_fetcher(exe, &config, &metrics_addr, |_| {
            counters.not_modified.load(Ordering::Relaxed) - before >= feeds as u64
        })
        .await;
        let (first_304, last_304) = srv.counters.not_modified_span.lock().unwrap().unwrap();
        let polls = (last_304 - first_304).as_secs_f64();
        println!(
            "fetch: 304 cycle       {:>6.2} s  {:>8.0} feeds/s  (first to last 304; {:.2} s with the restart and the state restore)  CPU {:.2} s per 1,000 feeds  peak RSS {} MiB  ({} full downloads in all)",
            polls,
            feeds as f64 / polls,
            second.secs,
            second.cpu / feeds as f64 * 1000.0,
            second.peak_mib,
            srv.counters.full.load(Ordering::Relaxed)
        );
        drop(broker);
        let _ = std::fs::remove_dir_all(&dir);
    });
}
