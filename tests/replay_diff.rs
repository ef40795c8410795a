//! `wirewatch replay --taxonomy CANDIDATE --diff` as an analyst runs it: the shipped taxonomy
//! against a real edit of it, over the feed fixtures (`tests/fixtures/feeds/README.md` says
//! what each item is).
use std::path::PathBuf;
use std::process::Command;

/// The fixtures' documented sequence: 17 items, 3 of them duplicates.
const FEEDS: [&str; 6] = [
    "tests/fixtures/feeds/afp.xml",
    "tests/fixtures/feeds/japantimes.atom",
    "tests/fixtures/feeds/yonhap.xml",
    "tests/fixtures/feeds/kcnawatch.rdf",
    "tests/fixtures/feeds/aggregator.json",
    "tests/fixtures/feeds/afp-updated.xml",
];

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wirewatch"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A candidate taxonomy in a directory of its own, removed when the test ends.
struct Candidate {
    dir: PathBuf,
    path: PathBuf,
}

impl Drop for Candidate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The shipped taxonomy with `edit` applied.
fn candidate(name: &str, edit: impl FnOnce(&str) -> String) -> Candidate {
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/taxonomy.toml"))
            .unwrap();
    let edited = edit(&shipped);
    let dir = std::env::temp_dir().join(format!("ww-replay-diff-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("candidate.toml");
    std::fs::write(&path, edited).unwrap();
    Candidate { dir, path }
}

/// `s` with `from` replaced, which must be there.
fn replace(s: &str, from: &str, to: &str) -> String {
    assert!(
        s.contains(from),
        "the shipped taxonomy no longer has {from:?}"
    );
    s.replacen(from, to, 1)
}

fn diff(candidate: &Candidate, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "replay",
        "--taxonomy",
        candidate.path.to_str().unwrap(),
        "--diff",
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&FEEDS);
    run(&args)
}

/// The report's story blocks: (header, change lines).
fn blocks(out: &str) -> Vec<(String, Vec<String>)> {
    out.split("\n\n")
        .filter(|b| !b.starts_with("summary:") && !b.trim().is_empty())
        .map(|b| {
            let mut lines = b.lines();
            let header = lines.next().unwrap().to_string();
            (header, lines.map(str::to_string).collect())
        })
        .collect()
}

#[test]
fn an_identical_candidate_changes_nothing() {
    let same = candidate("same", str::to_string);
    let (code, out, err) = diff(&same, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "summary: 14 stories compared, 0 stories changed (3 duplicates not compared: not published)\n"
    );
    assert!(!err.contains("warning"), "{err}");
}

/// The alert fires only for new stories, and dedup is the same in both runs: deleting the rule
/// loses exactly the three first reports of a launch, not their copy (#13) or update (#15).
#[test]
fn deleting_the_alert_rule_loses_it_for_the_three_first_reports() {
    let no_alert = candidate("no-alert", |s| {
        let start = s
            .find("[[alert]]\nid = \"nk-missile-launch\"")
            .expect("the shipped taxonomy has the nk-missile-launch rule");
        let end = s[start + 1..]
            .find("\n[[")
            .map_or(s.len(), |i| start + 1 + i + 1);
        format!("{}{}", &s[..start], &s[end..])
    });
    let (code, out, err) = diff(&no_alert, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "6771325e 2021-05-06 01:00 afp [new] North Korea fires ballistic missile into sea, says Seoul\n  \
         - alert nk-missile-launch\n\
         \n\
         e7c65431 2021-05-06 01:10 yonhap [new] 북한, 동해상으로 탄도미사일 발사\n  \
         - alert nk-missile-launch\n\
         \n\
         86274625 2021-05-06 01:30 aggregator [new] (LEAD) N. Korea launches short-range ballistic missile into East Sea: JCS\n  \
         - alert nk-missile-launch\n\
         \n\
         summary: 14 stories compared, 3 stories changed (3 duplicates not compared: not published)\n  \
         alert nk-missile-launch: +0 -3\n"
    );
}

/// The KCNA Watch items name North Korea only as "DPRK" (and KCNA): without that alias they
/// lose the actor, and nothing else loses or gains anything.
#[test]
fn removing_an_alias_loses_the_actor_where_only_it_matched() {
    let no_dprk = candidate("no-dprk", |s| {
        replace(
            s,
            "  \"DPRK\", \"D.P.R.K.\", \"Democratic People's Republic of Korea\", \"Pyongyang\",",
            "  \"D.P.R.K.\", \"Democratic People's Republic of Korea\", \"Pyongyang\",",
        )
    });
    let (code, out, err) = diff(&no_dprk, &[]);
    assert_eq!(code, 0, "{err}");
    let got = blocks(&out);
    let titles: Vec<&str> = got
        .iter()
        .map(|(h, _)| h.split_once("] ").unwrap().1)
        .collect();
    assert_eq!(
        titles,
        [
            "Kim Yo Jong statement denounces US–South Korea joint military drills",
            "DPRK Foreign Ministry official calls Biden speech a “big blunder”",
        ],
        "{out}"
    );
    for (header, changes) in &got {
        assert!(header.contains(" kcnawatch [new] "), "{header}");
        // A weaker north-korea score may show as `~`; nothing is gained or lost but the actor.
        let gained_or_lost: Vec<&String> =
            changes.iter().filter(|l| !l.starts_with("  ~ ")).collect();
        assert_eq!(
            gained_or_lost,
            ["  - actor north-korea (\"DPRK\")"],
            "{out}"
        );
    }
    assert!(
        out.contains("\n  actors: +0 -2 (over 2 stories)\n    actor north-korea: +0 -2\n"),
        "{out}"
    );
}

/// Routes follow topics: a story that loses `missile-test` loses its route too. The edit
/// breaks examples of the taxonomy: a warning, but the comparison is made.
#[test]
fn raising_a_threshold_loses_the_topic_and_its_route() {
    let strict = candidate("strict", |s| {
        replace(
            s,
            "id = \"missile-test\"\nname = \"Missile launch or test\"\nthreshold = 0.5\n",
            "id = \"missile-test\"\nname = \"Missile launch or test\"\nthreshold = 0.95\n",
        )
    });
    let (code, out, err) = diff(&strict, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!("warning: {}: ", strict.path.display()))
            && err.contains(" examples fail (compared anyway;"),
        "{err}"
    );
    let got = blocks(&out);
    assert!(!got.is_empty(), "{out}");
    let mut lost = 0;
    for (header, changes) in &got {
        let topic = changes
            .iter()
            .any(|l| l.starts_with("  - topic missile-test ("));
        let route = changes.contains(&"  - route news.missile-test".to_string());
        assert_eq!(topic, route, "{header}: {changes:?}");
        assert!(
            !changes.iter().any(|l| l.starts_with("  + ")),
            "a higher threshold gains nothing: {header}: {changes:?}"
        );
        lost += usize::from(topic);
    }
    assert!(lost > 0, "{out}");
    assert!(
        out.contains(&format!("\n  topic missile-test: +0 -{lost}\n")),
        "{out}"
    );
    assert!(
        out.contains(&format!("\n  route news.missile-test: +0 -{lost}\n")),
        "{out}"
    );
}

#[test]
fn json_prints_one_object_per_changed_story_and_the_totals_on_stderr() {
    let no_dprk = candidate("no-dprk-json", |s| {
        replace(s, "  \"DPRK\", \"D.P.R.K.\",", "  \"D.P.R.K.\",")
    });
    let (code, out, err) = diff(&no_dprk, &["--json"]);
    assert_eq!(code, 0, "{err}");
    let stories: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(stories.len(), 2, "{out}");
    for s in &stories {
        assert_eq!(s["feed"], "kcnawatch");
        assert_eq!(s["status"], "new");
        assert_eq!(s["id"].as_str().unwrap().len(), 16, "the full story id");
        assert_eq!(
            s["actors"]["removed"],
            serde_json::json!([{"id": "north-korea", "name": "North Korea", "evidence": "DPRK"}])
        );
        assert_eq!(s["actors"]["added"], serde_json::json!([]));
        assert_eq!(s["alerts"], serde_json::json!({"added": [], "removed": []}));
    }
    assert!(
        err.contains("summary: 14 stories compared, 2 stories changed"),
        "{err}"
    );
}

#[test]
fn diff_needs_a_candidate() {
    let (code, out, err) = run(&["replay", "--diff", "tests/fixtures/feeds/afp.xml"]);
    assert_eq!(code, 2, "a usage error");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("required arguments were not provided") && err.contains("--taxonomy"),
        "{err}"
    );
    let (code, _, err) = run(&["replay", "--json", "tests/fixtures/feeds/afp.xml"]);
    assert_eq!(code, 2);
    assert!(err.contains("--diff"), "{err}");
}

#[test]
fn an_invalid_candidate_is_an_error_naming_the_file() {
    let broken = candidate("broken", |s| {
        replace(
            s,
            "id = \"missile-test\"\n",
            "id = \"missile-test\"\nbogus = 1\n",
        )
    });
    let (code, out, err) = diff(&broken, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains(&broken.path.display().to_string()), "{err}");
}

#[test]
fn bad_inputs_give_exit_2_and_the_others_are_compared() {
    let same = candidate("same-bad-inputs", str::to_string);
    let (code, out, err) = run(&[
        "replay",
        "--taxonomy",
        same.path.to_str().unwrap(),
        "--diff",
        "no/such/file.xml",
        "tests/fixtures/feeds/afp.xml",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no/such/file.xml: cannot read"), "{err}");
    assert_eq!(out, "summary: 3 stories compared, 0 stories changed\n");
}
