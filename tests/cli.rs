//! The command line as a user runs it: help, exit codes, error messages, replay output.
use std::process::Command;

fn wirewatch() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wirewatch"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = wirewatch().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_everywhere() {
    for cmd in [
        &["--help"][..],
        &["run", "--help"],
        &["fetch", "--help"],
        &["process", "--help"],
        &["replay", "--help"],
        &["tag", "--help"],
        &["check-config", "--help"],
        &["eval", "--help"],
        &["tail", "--help"],
    ] {
        let (code, out, _) = run(cmd);
        assert_eq!(code, 0, "{cmd:?}");
        assert!(out.contains("Usage"), "{cmd:?}: {out}");
    }
    let (code, _, err) = run(&["frobnicate"]);
    assert_eq!(code, 2);
    assert!(err.contains("unrecognized subcommand"), "{err}");
}

#[test]
fn check_config_accepts_every_shipped_file() {
    for f in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/config"))
        .unwrap()
        .flatten()
    {
        let p = f.path();
        if p.extension().is_some_and(|e| e == "toml") {
            let (code, out, err) = run(&["check-config", p.to_str().unwrap()]);
            assert_eq!(code, 0, "{}: {out}{err}", p.display());
        }
    }
}

#[test]
fn check_config_reports_every_error_with_its_location() {
    let dir = std::env::temp_dir().join(format!("ww-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("bad.toml");
    std::fs::write(&cfg, "[[feeds]]\nid = \"Bad Id\"\nurl = \"gopher://x\"\n\n[[feeds]]\nid = \"ok\"\nurl = \"https://example.com/rss\"\n[metrics]\nlisten = \"nowhere\"\n").unwrap();
    let (code, _, err) = run(&["check-config", cfg.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("bad.toml:1:1: feed `Bad Id`: id must be"),
        "{err}"
    );
    assert!(err.contains("scheme `gopher`"), "{err}");
    assert!(err.contains("metrics.listen `nowhere`"), "{err}");
    let tax = dir.join("taxonomy.toml");
    std::fs::write(&tax, "version = 1\n[[actor]]\nid = \"x\"\nname = \"X\"\nkind = \"person\"\nexamples = [\"nothing here\"]\n[[topic]]\nid = \"t\"\nname = \"T\"\nthreshold = 0.5\nsignals = [{ actors = [\"y\"], weight = 1.0 }]\n").unwrap();
    let (code, _, err) = run(&["check-config", tax.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("taxonomy.toml:7:1: topic `t`.signals[0]: unknown actor `y`"),
        "{err}"
    );
    std::fs::write(&tax, "version = 1\n[[actor]]\nid = \"x\"\nname = \"Xavier\"\nkind = \"person\"\nexamples = [\"nothing here\"]\n").unwrap();
    let (code, _, err) = run(&["check-config", tax.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("actor `x`: example does not match: \"nothing here\""),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn replay_prints_one_event_per_item_and_keeps_going_after_bad_files() {
    let (code, out, err) = run(&[
        "replay",
        "tests/fixtures/feeds/afp.xml",
        "no/such/file.xml",
        "README.md",
        "tests/fixtures/feeds/aggregator.json",
        "tests/fixtures/feeds/afp-updated.xml",
    ]);
    assert_eq!(code, 2, "bad inputs give exit 2");
    assert!(err.contains("no/such/file.xml: cannot read"), "{err}");
    assert!(err.contains("README.md: not a feed"), "{err}");
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 10, "3 + 4 + 3 items, duplicates included");
    let mut times: Vec<String> = events
        .iter()
        .map(|e| e["published_at"].as_str().unwrap().to_string())
        .collect();
    let sorted = {
        let mut t = times.clone();
        t.sort();
        t
    };
    assert_eq!(times, sorted, "items come out in publication order");
    times.dedup();
    let statuses: Vec<&str> = events
        .iter()
        .map(|e| e["dedup"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "duplicate").count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == "update").count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == "near_duplicate").count(),
        2,
        "{statuses:?}"
    );
    for e in &events {
        for t in e["topics"].as_array().unwrap() {
            for ev in t["evidence"].as_array().unwrap() {
                let text = e["text"].as_str().unwrap();
                let (s, en) = (
                    ev["start"].as_u64().unwrap() as usize,
                    ev["end"].as_u64().unwrap() as usize,
                );
                assert_eq!(
                    &text[s..en],
                    ev["text"].as_str().unwrap(),
                    "evidence offsets point into `text`"
                );
            }
        }
    }
}

/// Yonhap sends one launch as a flash, then "(LEAD)" and "(2nd LD)" versions under new guids
/// and links (and "[속보]" then "(종합)" in Korean): one alert per launch, the versions are
/// updates of the first report; the same stock headline a week later is a new launch.
#[test]
fn replay_alerts_once_per_launch_across_wire_updates() {
    let (code, out, err) = run(&["replay", "tests/fixtures/feeds/yonhap-updates.xml"]);
    assert_eq!(code, 0, "{err}");
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(&str, &str, &str, usize)> = events
        .iter()
        .map(|e| {
            (
                e["title"].as_str().unwrap(),
                e["dedup"]["status"].as_str().unwrap(),
                e["dedup"]["cluster"].as_str().unwrap(),
                e["alerts"].as_array().unwrap().len(),
            )
        })
        .collect();
    let first_en = events[0]["id"].as_str().unwrap();
    let first_ko = events[1]["id"].as_str().unwrap();
    let last = events[5]["id"].as_str().unwrap();
    assert_eq!(
        got,
        [
            (
                "(URGENT) N. Korea fires ballistic missile into East Sea: JCS",
                "new",
                first_en,
                1
            ),
            (
                "[속보] 북한, 동해상으로 탄도미사일 발사",
                "new",
                first_ko,
                1
            ),
            (
                "(LEAD) N. Korea fires ballistic missile into East Sea: JCS",
                "update",
                first_en,
                0
            ),
            (
                "북한, 동해상으로 탄도미사일 발사(종합)",
                "update",
                first_ko,
                0
            ),
            (
                "(2nd LD) N. Korea fires SRBM into East Sea, flies 600 km: JCS",
                "update",
                first_en,
                0
            ),
            (
                "(URGENT) N. Korea fires ballistic missile into East Sea: JCS",
                "new",
                last,
                1
            ),
        ]
    );
    assert_ne!(first_en, last);
    for e in &events {
        let topics: Vec<&str> = e["topics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap())
            .collect();
        assert!(
            topics.contains(&"missile-test"),
            "{}: {topics:?}",
            e["title"]
        );
    }
}

#[test]
fn tag_shows_matches_with_evidence() {
    let mut child = wirewatch()
        .args(["tag", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all("Pyongyang fired two projectiles into the East Sea\nThe launch was North Korea's third this month, the JCS said.".as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("north-korea"), "{text}");
    assert!(text.contains("\"Pyongyang\""), "{text}");
    assert!(text.contains("missile-test"), "{text}");
    assert!(text.contains("nk-missile-launch"), "{text}");
    let (code, out, _) = run(&["tag", "--json", "tests/fixtures/feeds/README.md"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["actors"].is_array() && v["topics"].is_array());
}

/// Decomposed text (NFD: macOS tools, some CMSs) tags as its composed form does, and the
/// evidence offsets cover whole decomposed characters of the text as sent.
#[test]
fn tag_matches_decomposed_korean_and_french() {
    use unicode_normalization::UnicodeNormalization;
    for (text, body_actor) in [
        (
            "북한, 동해상으로 탄도미사일 발사\n합참은 북한이 오늘 오전 탄도미사일을 발사했다고 밝혔다.",
            "joint-chiefs-of-staff",
        ),
        (
            "La Corée du Nord a tiré un missile balistique\nSéoul a condamné le tir.",
            "south-korea",
        ),
    ] {
        let nfd: String = text.nfd().collect();
        assert_ne!(nfd, text, "the test text must decompose");
        let mut child = wirewatch()
            .args(["tag", "--json", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(nfd.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let ids = |key: &str, field: &str| -> Vec<String> {
            v[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x[field].as_str().unwrap().to_string())
                .collect()
        };
        assert!(ids("actors", "id").contains(&"north-korea".to_string()), "{v}");
        assert!(ids("actors", "id").contains(&body_actor.to_string()), "{v}");
        assert!(ids("topics", "id").contains(&"missile-test".to_string()), "{v}");
        assert_eq!(ids("alerts", "rule"), ["nk-missile-launch"], "{v}");
        let headline = nfd.lines().next().unwrap();
        let ev = &v["actors"][0]["evidence"][0];
        let (start, end) = (
            ev["start"].as_u64().unwrap() as usize,
            ev["end"].as_u64().unwrap() as usize,
        );
        assert_eq!(ev["field"], "title");
        assert_eq!(&headline[start..end], ev["text"].as_str().unwrap());
        let composed: String = headline[start..end].nfc().collect();
        assert!(
            ["북한", "Corée du Nord"].contains(&composed.as_str()),
            "{composed}"
        );
    }
}

#[test]
fn unreadable_config_is_a_clear_error() {
    let (code, _, err) = run(&[
        "replay",
        "--config",
        "nope.toml",
        "tests/fixtures/feeds/afp.xml",
    ]);
    assert_ne!(code, 0);
    assert!(
        err.contains("nope.toml: 0:0: cannot read") || err.contains("nope.toml"),
        "{err}"
    );
}

#[test]
fn feeds_export_and_import_round_trip() {
    let (code, opml, _) = run(&["feeds", "export"]);
    assert_eq!(code, 0);
    assert!(opml.contains("<opml version=\"2.0\">"));
    let dir = std::env::temp_dir().join(format!("ww-opml-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("feeds.opml");
    std::fs::write(&file, &opml).unwrap();
    let empty = dir.join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    let (code, toml_text, err) = run(&[
        "feeds",
        "import",
        "--config",
        empty.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let imported = wirewatch::config::Config::parse("imported.toml", &toml_text).unwrap();
    let shipped = wirewatch::config::Config::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/wirewatch.toml"
    )))
    .unwrap();
    let key = |c: &wirewatch::config::Config| {
        let mut v: Vec<(String, String, String)> = c
            .feeds()
            .map(|f| (f.id.clone(), f.url.clone(), f.outlet().to_string()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        key(&imported),
        key(&shipped),
        "ids, URLs and outlets survive export and import"
    );
    let (code, _, err) = run(&["feeds", "import", "README.md"]);
    assert_ne!(code, 0);
    assert!(err.contains("README.md"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
