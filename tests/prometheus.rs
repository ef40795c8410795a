//! The dashboards and alerting rules against a real Prometheus (Debian's `prometheus`)
//! scraping a running wirewatch that processes the fixture feeds: every PromQL expression must
//! parse and return data, and every metric it names must exist.
mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wirewatch::app::{App, Stages};

use common::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GETs a Prometheus API path and returns the body ("" when Prometheus is not up yet).
async fn api(client: &reqwest::Client, url: &str, path: &str) -> String {
    match client.get(format!("{url}{path}")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Polls a Prometheus API path until its body contains `needle` (at most a minute).
async fn wait_for(client: &reqwest::Client, url: &str, path: &str, needle: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while tokio::time::Instant::now() < deadline {
        if api(client, url, path).await.contains(needle) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dashboards_and_rules_return_data_from_a_real_prometheus() {
    if Command::new("prometheus")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install prometheus (.ci/run does)"
        );
        eprintln!("SKIPPED: no `prometheus` binary (Debian package prometheus)");
        return;
    }
    let docs = Docs::default();
    for (_, _, f) in FIXTURE_FEEDS {
        docs.set(f, EMPTY_RSS.to_vec());
    }
    let server = feed_server(docs.clone()).await;
    // One feed that fails, so the error series have data too.
    let mut feeds = FIXTURE_FEEDS.to_vec();
    feeds.push(("gone", "Gone", "missing.xml"));
    let mut cfg = test_config("embedded", server, &feeds);
    cfg.fetch.max_interval_secs = 2;
    let topics = cfg.kafka.topics.clone();
    let app = App::start(cfg, Stages::ALL, CancellationToken::new())
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("wirewatch-prom-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = repo().join("deploy/prometheus/rules.yml");
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: process\n    static_configs:\n      - targets: ['{}']\n",
            rules.display(),
            app.metrics_addr
        ),
    )
    .unwrap();
    let port = free_port();
    let _prom = Child(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    // Prometheus sees the (zeroed) series before anything happens, as in production.
    wait_for(
        &client,
        &url,
        "/api/v1/query?query=wirewatch_alerts_total",
        "nk-missile-launch",
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (_, _, f) in FIXTURE_FEEDS {
        docs.set(f, fixture(f));
    }
    let enriched = reader(&app.brokers, &topics.enriched);
    let mut events = Vec::new();
    collect(&enriched, &mut events, 13, Duration::from_secs(60)).await;
    assert!(
        events.len() >= 13,
        "the pipeline ran: {} events",
        events.len()
    );
    // Let it scrape for a while (librdkafka statistics come every 5 s).
    wait_for(
        &client,
        &url,
        "/api/v1/query?query=wirewatch_kafka_consumer_lag_messages",
        "\"value\"",
    )
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;

    let mut files: Vec<String> = std::fs::read_dir(repo().join("dashboards"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    assert!(files.len() >= 2);
    files.push(rules.display().to_string());
    let out = Command::new("python3")
        .arg(repo().join("scripts/check_dashboards.py"))
        .arg("--prometheus")
        .arg(&url)
        .arg("--require-data")
        .args(&files)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "check_dashboards failed:\n{text}");
    eprintln!("{}", text.lines().last().unwrap_or_default());

    // The alerting rules evaluate without errors.
    let rules_state = api(&client, &url, "/api/v1/rules").await;
    let v: serde_json::Value = serde_json::from_str(&rules_state).unwrap();
    let mut n = 0;
    for g in v["data"]["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            n += 1;
            assert_eq!(
                r["health"], "ok",
                "rule {} evaluates: {}",
                r["name"], r["lastError"]
            );
        }
    }
    assert!(n >= 6, "{n} rules loaded");
    // The missile-launch alert rule fired on the fixture launch reports.
    let alerts = api(&client, &url, "/api/v1/alerts").await;
    assert!(alerts.contains("WirewatchMissileLaunchAlert"), "{alerts}");

    app.stop();
    app.wait().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
