//! The end-to-end scenario of `tests/fixtures/feeds/README.md`, run against any broker:
//! fixture feeds served over HTTP → `run` in process → `news.enriched` / `news.alerts`.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;
use wirewatch::app::{App, Stages};

use super::*;

const WAIT: Duration = Duration::from_secs(90);

fn by_title<'a>(events: &'a [Value], prefix: &str) -> &'a Value {
    let hits: Vec<&Value> = events
        .iter()
        .filter(|e| e["title"].as_str().unwrap_or("").starts_with(prefix))
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "exactly one event titled {prefix:?}; events: {:#?}",
        titles(events)
    );
    hits[0]
}

fn titles(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| format!("{} {}", e["dedup"]["status"], e["title"]))
        .collect()
}

fn topics(e: &Value) -> Vec<String> {
    e["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

fn actors(e: &Value) -> Vec<String> {
    e["actors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

fn status(e: &Value) -> &str {
    e["dedup"]["status"].as_str().unwrap()
}

fn cluster(e: &Value) -> &str {
    e["dedup"]["cluster"].as_str().unwrap()
}

fn assert_topics(e: &Value, must: &[&str], must_not: &[&str]) {
    let t = topics(e);
    for m in must {
        assert!(
            t.iter().any(|x| x == m),
            "{:?} should have topic {m}; has {t:?}",
            e["title"]
        );
    }
    for m in must_not {
        assert!(
            !t.iter().any(|x| x == m),
            "{:?} should not have topic {m}; has {t:?}",
            e["title"]
        );
    }
}

/// Runs the whole scenario against `brokers` ("embedded" or a bootstrap list).
pub async fn run(brokers: &str) {
    let docs = Docs::default();
    for (_, _, f) in FIXTURE_FEEDS {
        docs.set(f, EMPTY_RSS.to_vec());
    }
    let server = feed_server(docs.clone()).await;
    let cfg = test_config(brokers, server, FIXTURE_FEEDS);
    let topics_cfg = cfg.kafka.topics.clone();
    let route_topic = cfg.kafka.routes[0].to.clone();
    let stop = CancellationToken::new();
    let app = App::start(cfg, Stages::ALL, stop.clone())
        .await
        .expect("pipeline starts");
    let brokers = app.brokers.clone();
    let enriched_rx = reader(&brokers, &topics_cfg.enriched);
    let alerts_rx = reader(&brokers, &topics_cfg.alerts);
    let route_rx = reader(&brokers, &route_topic);
    let clusters_rx = reader(&brokers, &topics_cfg.clusters);

    let (code, _) = http_get(app.metrics_addr, "/healthz").await;
    assert_eq!(code, 200);

    let mut events = Vec::new();
    // Phase 1: originals.
    for f in ["afp.xml", "japantimes.atom", "kcnawatch.rdf"] {
        docs.set(f, fixture(f));
    }
    collect(&enriched_rx, &mut events, 7, WAIT).await;
    assert_eq!(events.len(), 7, "phase 1 events: {:#?}", titles(&events));
    // Phase 2: Yonhap (a duplicate by canonical link, two new stories).
    docs.set("yonhap.xml", fixture("yonhap.xml"));
    collect(&enriched_rx, &mut events, 9, WAIT).await;
    assert_eq!(events.len(), 9, "phase 2 events: {:#?}", titles(&events));
    // Phase 3: the aggregator's syndicated copies and one independent report.
    docs.set("aggregator.json", fixture("aggregator.json"));
    collect(&enriched_rx, &mut events, 13, WAIT).await;
    assert_eq!(events.len(), 13, "phase 3 events: {:#?}", titles(&events));
    // Phase 4: the AFP launch story updated in place.
    docs.set("afp.xml", fixture("afp-updated.xml"));
    collect(&enriched_rx, &mut events, 14, WAIT).await;
    assert_eq!(events.len(), 14, "phase 4 events: {:#?}", titles(&events));

    let mut alerts = Vec::new();
    collect(&alerts_rx, &mut alerts, 3, WAIT).await;
    // Nothing else may come: no duplicate events, no extra alerts.
    drain(&enriched_rx, &mut events, Duration::from_secs(3)).await;
    drain(&alerts_rx, &mut alerts, Duration::from_secs(1)).await;
    assert_eq!(
        events.len(),
        14,
        "no further events: {:#?}",
        titles(&events)
    );

    // Dedup decisions and clusters.
    let blinken = by_title(&events, "Blinken meets South Korean");
    let launch: Vec<&Value> = events
        .iter()
        .filter(|e| e["title"] == "North Korea fires ballistic missile into sea, says Seoul")
        .collect();
    assert_eq!(launch.len(), 2, "the launch story and its update");
    let (launch0, launch1) = (launch[0], launch[1]);
    let policy = by_title(&events, "US seeks to get allies");
    assert_eq!(status(blinken), "new");
    assert_eq!(status(launch0), "new");
    assert_eq!(status(launch1), "update");
    assert_eq!(launch1["dedup"]["revision"], 1);
    assert_eq!(cluster(launch1), cluster(launch0));
    assert_eq!(status(policy), "new");
    for (title, original) in [
        ("Blinken seats feuding", blinken),
        ("Washington wants Tokyo", policy),
        ("Seoul says Pyongyang launched", launch0),
    ] {
        let copy = by_title(&events, title);
        assert_eq!(status(copy), "near_duplicate", "{title}");
        assert_eq!(
            cluster(copy),
            cluster(original),
            "{title} joins its original's cluster"
        );
    }
    for title in [
        "북한, 동해상으로",
        "(LEAD) N. Korea launches",
        "Samsung launches",
        "Big manufacturers",
        "Seoul ready for talks",
        "Kim Yo Jong statement",
        "DPRK Foreign Ministry",
    ] {
        let e = by_title(&events, title);
        assert_eq!(status(e), "new", "{title}");
        assert_ne!(
            cluster(e),
            cluster(launch0),
            "{title} is not a copy of the AFP launch report"
        );
    }
    assert_eq!(
        blinken["dedup"]["cluster"], blinken["id"],
        "a cluster is named after its first story"
    );

    // Tags.
    // Whether a trilateral meeting "despite rifts" is also about Japan–Korea relations is a
    // taxonomy judgement measured on the labelled set (docs/TAGGING.md), not asserted here.
    assert_topics(
        blinken,
        &["north-korea", "trilateral-diplomacy"],
        &["missile-test"],
    );
    assert_topics(
        launch0,
        &["north-korea", "missile-test"],
        &[
            "trilateral-diplomacy",
            "japan-korea-relations",
            "us-korea-alliance",
        ],
    );
    assert_topics(
        policy,
        &[
            "north-korea",
            "trilateral-diplomacy",
            "japan-korea-relations",
        ],
        &[],
    );
    assert_topics(
        by_title(&events, "북한, 동해상으로"),
        &["north-korea", "missile-test"],
        &["trilateral-diplomacy"],
    );
    assert_topics(
        by_title(&events, "Samsung launches"),
        &[],
        &[
            "north-korea",
            "missile-test",
            "trilateral-diplomacy",
            "us-korea-alliance",
            "japan-korea-relations",
        ],
    );
    assert_topics(
        by_title(&events, "Kim Yo Jong statement"),
        &["north-korea", "us-korea-alliance"],
        &["missile-test"],
    );
    let blinken_actors = actors(blinken);
    for a in [
        "antony-blinken",
        "toshimitsu-motegi",
        "chung-eui-yong",
        "united-states",
        "japan",
        "south-korea",
        "north-korea",
    ] {
        assert!(
            blinken_actors.iter().any(|x| x == a),
            "Blinken story names {a}; has {blinken_actors:?}"
        );
    }
    let kyj = actors(by_title(&events, "Kim Yo Jong statement"));
    assert!(kyj.iter().any(|a| a == "kim-yo-jong"), "{kyj:?}");
    assert!(!kyj.iter().any(|a| a == "kim-jong-un"), "{kyj:?}");
    for e in &events {
        assert_eq!(e["schema_version"], 1);
        for t in e["topics"].as_array().unwrap() {
            let s = t["score"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&s));
            assert!(
                !t["evidence"].as_array().unwrap().is_empty(),
                "every topic carries evidence"
            );
        }
        assert!(
            e["published_at"].is_string()
                || e["title"].as_str().unwrap().starts_with("Seoul ready")
        );
        assert!(e["fetched_at"].is_string());
    }

    // Alerts: once per new launch report, never for the copy or the update.
    let mut alerted: Vec<&str> = alerts
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    alerted.sort();
    assert_eq!(
        alerted,
        [
            "(LEAD) N. Korea launches short-range ballistic missile into East Sea: JCS",
            "North Korea fires ballistic missile into sea, says Seoul",
            "북한, 동해상으로 탄도미사일 발사",
        ],
        "alerts: {alerts:#?}"
    );
    assert!(alerts
        .iter()
        .all(|a| a["rule"] == "nk-missile-launch" && a["severity"] == "critical"));
    assert!(alerts
        .iter()
        .all(|a| !a["evidence"].as_array().unwrap().is_empty()));
    assert_eq!(
        alerts.iter().filter(|a| a["notify"] == true).count(),
        1,
        "one notification per cooldown window"
    );
    assert_eq!(launch0["alerts"].as_array().unwrap().len(), 1);
    assert!(
        launch1["alerts"].as_array().unwrap().is_empty(),
        "no alert for an update"
    );

    // Routing: every published missile-test event also went to the route topic.
    let expected_routed = events
        .iter()
        .filter(|e| topics(e).iter().any(|t| t == "missile-test"))
        .count();
    let mut routed = Vec::new();
    collect(&route_rx, &mut routed, expected_routed, WAIT).await;
    assert_eq!(routed.len(), expected_routed);
    // Coverage: the Blinken cluster reached 2 copies across 2 outlets.
    let mut clusters = Vec::new();
    collect(&clusters_rx, &mut clusters, 14, WAIT).await;
    let last_blinken = clusters
        .iter()
        .rev()
        .find(|c| c["cluster"] == blinken["dedup"]["cluster"])
        .expect("cluster updates for the Blinken story");
    assert_eq!(last_blinken["copies"], 2);
    assert_eq!(
        last_blinken["outlets"],
        serde_json::json!(["AFP", "World Wire Digest"])
    );

    // Metrics: the duplicate was counted though not published.
    let (code, text) = http_get(app.metrics_addr, "/metrics").await;
    assert_eq!(code, 200);
    assert!(
        metric(&text, "wirewatch_process_dedup_total{status=\"duplicate\"}") >= 1.0,
        "{text}"
    );
    assert!(
        metric(&text, "wirewatch_fetch_not_modified_total") >= 1.0,
        "conditional GETs answered 304"
    );
    assert!(
        metric(
            &text,
            "wirewatch_alerts_total{rule=\"nk-missile-launch\",severity=\"critical\"}"
        ) >= 3.0
    );
    assert!(
        text.contains("wirewatch_process_duration_seconds_bucket"),
        "histograms, not summaries"
    );
    let (code, _) = http_get(app.metrics_addr, "/readyz").await;
    assert_eq!(code, 200);
    let (code, feeds) = http_get(app.metrics_addr, "/feeds").await;
    assert_eq!(code, 200);
    let feeds: Vec<Value> = serde_json::from_str(&feeds).unwrap();
    assert_eq!(feeds.len(), 5);
    for f in &feeds {
        assert_eq!(f["state"], "healthy", "{f}");
        assert!(
            f["last_success"].is_string() && f["next_poll"].is_string(),
            "{f}"
        );
    }

    // The unchanged AFP items were not republished on the second poll.
    let raw_rx = reader(&brokers, &topics_cfg.raw);
    let mut raw = Vec::new();
    collect(&raw_rx, &mut raw, 15, WAIT).await;
    drain(&raw_rx, &mut raw, Duration::from_secs(2)).await;
    assert_eq!(
        raw.len(),
        15,
        "15 raw stories: each item once, plus the one update"
    );

    // Graceful stop.
    app.stop();
    tokio::time::timeout(Duration::from_secs(30), app.wait())
        .await
        .expect("stops within the deadline")
        .expect("stops cleanly");
    let _: HashMap<String, u64> = docs.hits();
}
