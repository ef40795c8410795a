//! One poll against misbehaving servers on 127.0.0.1: every case ends in bounded time and
//! memory with a clear, classified error (or the right outcome), never a hang or a panic.
use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use reqwest::header::HeaderMap;
use tokio::io::AsyncWriteExt;
use wirewatch::fetch::http::{client, poll, Limits, Outcome, Validators};

const RSS: &str = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title><item><guid>1</guid><title>North Korea fires missile</title></item></channel></rss>";

async fn serve(app: Router) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    a
}

fn limits() -> Limits {
    Limits {
        max_body_bytes: 1024 * 1024,
        max_redirects: 3,
        allow_private: true,
    }
}

fn http() -> reqwest::Client {
    client(
        "wirewatch-test",
        Duration::from_secs(2),
        Duration::from_secs(3),
    )
}

fn gzip_bomb() -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![b' '; 1024 * 1024];
    for _ in 0..64 {
        e.write_all(&zeros).unwrap();
    }
    e.finish().unwrap()
}

async fn app() -> SocketAddr {
    let bomb = gzip_bomb();
    let router = Router::new()
        .route("/ok", get(|| async { ([(header::ETAG, "\"v1\"")], RSS) }))
        .route(
            "/etag",
            get(|h: axum::http::HeaderMap| async move {
                if h.get("if-none-match").is_some_and(|v| v == "\"v1\"") {
                    StatusCode::NOT_MODIFIED.into_response()
                } else {
                    ([(header::ETAG, "\"v1\"")], RSS).into_response()
                }
            }),
        )
        .route("/loop-a", get(|| async { Redirect::temporary("/loop-b") }))
        .route("/loop-b", get(|| async { Redirect::temporary("/loop-a") }))
        .route("/moved", get(|| async { Redirect::permanent("/ok") }))
        .route("/to-file", get(|| async { Response::builder().status(302).header("location", "file:///etc/passwd").body(axum::body::Body::empty()).unwrap() }))
        .route("/busy", get(|| async { (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "120")], "busy") }))
        .route("/limited", get(|| async { (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "30")], "slow down") }))
        .route("/gone", get(|| async { StatusCode::GONE }))
        .route("/html", get(|| async { ([(header::CONTENT_TYPE, "text/html")], "<!doctype html><html><body>Not a feed</body></html>") }))
        .route("/empty", get(|| async { "" }))
        .route("/broken", get(|| async { "<rss version=\"2.0\"><channel><title>x</title><item><title>unclosed" }))
        .route(
            "/latin1",
            get(|| async {
                let body = encoding_rs::WINDOWS_1252.encode("<rss version=\"2.0\"><channel><title>t</title><item><guid>1</guid><title>Séoul et Pyongyang</title></item></channel></rss>").0.into_owned();
                ([(header::CONTENT_TYPE, "application/rss+xml; charset=ISO-8859-1")], body)
            }),
        )
        .route(
            "/endless",
            get(|| async {
                let stream = futures::stream::repeat_with(|| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'x'; 64 * 1024])));
                axum::body::Body::from_stream(stream)
            }),
        )
        .route(
            "/bomb",
            get(move || {
                let bomb = bomb.clone();
                async move { ([(header::CONTENT_ENCODING, "gzip"), (header::CONTENT_TYPE, "application/xml")], bomb) }
            }),
        )
        .route(
            "/big",
            get(|| async {
                let mut s = String::from("<rss version=\"2.0\"><channel><title>t</title>");
                for i in 0..10_000 {
                    s.push_str(&format!("<item><title>Item {i}</title><description>Summary {i}</description></item>"));
                }
                s.push_str("</channel></rss>");
                s
            }),
        );
    serve(router).await
}

async fn get_url(url: &str) -> Result<Outcome, wirewatch::fetch::http::PollError> {
    poll(
        &http(),
        url,
        &Validators::default(),
        &HeaderMap::new(),
        &limits(),
    )
    .await
}

#[tokio::test]
async fn well_behaved_feed_and_conditional_get() {
    let a = app().await;
    let Outcome::Fetched {
        body, validators, ..
    } = get_url(&format!("http://{a}/ok")).await.unwrap()
    else {
        panic!()
    };
    assert!(body.starts_with(b"<?xml"));
    assert_eq!(validators.etag.as_deref(), Some("\"v1\""));
    let again = poll(
        &http(),
        &format!("http://{a}/etag"),
        &validators,
        &HeaderMap::new(),
        &limits(),
    )
    .await
    .unwrap();
    assert!(
        matches!(again, Outcome::NotModified { .. }),
        "a matching ETag gets 304"
    );
}

#[tokio::test]
async fn redirects_loops_moves_and_non_http_targets() {
    let a = app().await;
    let e = get_url(&format!("http://{a}/loop-a")).await.unwrap_err();
    assert_eq!(e.kind, "redirect");
    assert!(e.message.contains("more than 3 redirects"), "{}", e.message);
    let Outcome::Fetched { moved_to, .. } = get_url(&format!("http://{a}/moved")).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(
        moved_to.as_deref(),
        Some(format!("http://{a}/ok").as_str()),
        "301/308 move the feed"
    );
    let e = get_url(&format!("http://{a}/to-file")).await.unwrap_err();
    assert!(
        e.message.contains("refusing redirect to file"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn server_errors_carry_retry_after_and_gone_disables() {
    let a = app().await;
    let e = get_url(&format!("http://{a}/busy")).await.unwrap_err();
    assert_eq!(
        (e.kind, e.status, e.retry_after),
        ("http_status", Some(503), Some(120))
    );
    let e = get_url(&format!("http://{a}/limited")).await.unwrap_err();
    assert_eq!((e.status, e.retry_after), (Some(429), Some(30)));
    let e = get_url(&format!("http://{a}/gone")).await.unwrap_err();
    assert!(e.gone);
}

#[tokio::test]
async fn endless_bodies_and_decompression_bombs_stop_at_the_cap() {
    let a = app().await;
    let started = Instant::now();
    let e = get_url(&format!("http://{a}/endless")).await.unwrap_err();
    assert_eq!(e.kind, "too_large", "{}", e.message);
    let e = get_url(&format!("http://{a}/bomb")).await.unwrap_err();
    assert_eq!(
        e.kind, "too_large",
        "64 MiB of gzip-compressed spaces is cut at 1 MiB: {}",
        e.message
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn silent_and_dripping_servers_time_out() {
    // A server that accepts and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sa = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    // A server that sends headers, then one byte a second.
    let drip = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let da = drip.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = drip.accept().await {
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let mut req = [0u8; 4096];
                let _ = s.read(&mut req).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n\r\n")
                    .await;
                for _ in 0..120 {
                    if s.write_all(b"<").await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            });
        }
    });
    let started = Instant::now();
    let e = get_url(&format!("http://{sa}/")).await.unwrap_err();
    assert_eq!(e.kind, "timeout", "{}", e.message);
    let e = get_url(&format!("http://{da}/")).await.unwrap_err();
    assert_eq!(e.kind, "timeout", "{}", e.message);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bounded by the request timeout"
    );
}

#[tokio::test]
async fn bad_documents_are_clear_errors_and_charsets_are_decoded() {
    use chrono::Utc;
    use wirewatch::feed::{parse_document, Source};
    let a = app().await;
    let parse = |body: &[u8], charset: Option<&str>| {
        parse_document(
            body,
            &Source {
                feed: "f",
                outlet: "f",
                url: Some("http://example.com/feed"),
                charset,
                fetched_at: Utc::now(),
            },
        )
    };
    for (path, want) in [
        ("html", "HTML page"),
        ("empty", "empty document"),
        ("broken", "invalid feed"),
    ] {
        let Outcome::Fetched { body, charset, .. } =
            get_url(&format!("http://{a}/{path}")).await.unwrap()
        else {
            panic!()
        };
        let e = parse(&body, charset.as_deref()).unwrap_err();
        assert!(e.to_string().contains(want), "{path}: {e}");
    }
    let Outcome::Fetched { body, charset, .. } =
        get_url(&format!("http://{a}/latin1")).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(charset.as_deref(), Some("ISO-8859-1"));
    let s = parse(&body, charset.as_deref()).unwrap();
    assert_eq!(s[0].title, "Séoul et Pyongyang");
    let Outcome::Fetched { body, .. } = get_url(&format!("http://{a}/big")).await.unwrap() else {
        panic!()
    };
    let s = parse(&body, None).unwrap();
    assert_eq!(
        s.len(),
        10_000,
        "a feed of 10,000 items without guid, link or date"
    );
    let ids: std::collections::HashSet<&str> = s.iter().map(|x| x.id.as_str()).collect();
    assert_eq!(
        ids.len(),
        10_000,
        "each gets a distinct stable id from its text"
    );
}

#[tokio::test]
async fn private_addresses_are_refused_unless_allowed() {
    let a = app().await;
    let strict = Limits {
        allow_private: false,
        ..limits()
    };
    for url in [
        format!("http://{a}/ok"),
        "http://localhost:9/".to_string(),
        "http://[::1]:9/".to_string(),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://10.1.2.3/".to_string(),
    ] {
        let e = poll(
            &http(),
            &url,
            &Validators::default(),
            &HeaderMap::new(),
            &strict,
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind, "blocked", "{url}: {}", e.message);
        assert!(e.message.contains("non-public address"), "{}", e.message);
    }
    assert!(
        get_url(&format!("http://{a}/ok")).await.is_ok(),
        "allowed when configured"
    );
}
