//! The feed list: the `[[feeds]]` of the config file plus the feeds of the OPML files named in
//! `fetch.feed_files`, re-read when those files change (or on SIGHUP) so feeds can be added,
//! removed or edited without a restart. An edit that does not validate is rejected with its
//! errors and the running list stays.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use xxhash_rust::xxh3::xxh3_64;

use crate::config::{Config, FeedConfig};
use crate::filewatch::FileWatch;
use crate::observe::metrics as m;
use crate::opml::{self, OpmlFeed};

/// The feeds to poll, shared with the fetch supervisor.
pub type FeedList = Arc<Vec<FeedConfig>>;

/// The id of a feed found in an OPML file: its title's slug and a short hash of its URL, so it
/// stays the same whatever else the file holds or however it is reordered.
pub fn opml_feed_id(f: &OpmlFeed) -> String {
    format!(
        "{}-{:06x}",
        opml::slug(&f.title),
        xxh3_64(f.url.as_bytes()) & 0xFF_FFFF
    )
}

/// The enabled feeds of `cfg` and of its OPML files. A feed whose id or URL is already in the
/// list (the config's `[[feeds]]` come first) is skipped, so a URL is never polled twice.
pub fn load(cfg: &Config) -> Result<Vec<FeedConfig>, String> {
    let mut out: Vec<FeedConfig> = cfg.feeds().cloned().collect();
    let mut ids: HashSet<String> = cfg.feeds.iter().map(|f| f.get_ref().id.clone()).collect();
    let mut urls: HashSet<String> = cfg.feeds.iter().map(|f| f.get_ref().url.clone()).collect();
    for file in &cfg.fetch.feed_files {
        let path = cfg.base_dir.join(file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let found = opml::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        for f in found {
            match url::Url::parse(&f.url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                _ => {
                    tracing::warn!(file = %path.display(), url = %f.url, "OPML feed skipped: not an http(s) URL");
                    continue;
                }
            }
            let id = opml_feed_id(&f);
            if !urls.insert(f.url.clone()) || !ids.insert(id.clone()) {
                continue;
            }
            out.push(FeedConfig {
                id,
                outlet: Some(f.category.clone().unwrap_or_else(|| f.title.clone())),
                url: f.url,
                interval_secs: None,
                enabled: true,
                headers: Default::default(),
            });
        }
    }
    Ok(out)
}

/// The files the feed list comes from.
fn sources(cfg: &Config) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = cfg.source.iter().cloned().collect();
    files.extend(cfg.fetch.feed_files.iter().map(|f| cfg.base_dir.join(f)));
    files
}

/// A watch of the files the feed list comes from, their current state the baseline: made
/// before the list is loaded, so an edit made while it loads is not missed.
pub fn watcher(cfg: &Config) -> FileWatch {
    FileWatch::new(sources(cfg), cfg.fetch.reload_secs)
}

/// Follows the config file and the OPML files (`files`, from [`watcher`]: polled every
/// `fetch.reload_secs`, and on SIGHUP) and publishes each valid, changed feed list to `tx`,
/// until `stop`.
pub async fn watch(
    cfg: Arc<Config>,
    mut files: FileWatch,
    tx: watch::Sender<FeedList>,
    stop: CancellationToken,
) {
    let Some(config_path) = cfg.source.clone() else {
        return; // built in memory: nothing to follow
    };
    while files.changed(&stop).await {
        let loaded = Config::load(&config_path)
            .map_err(|e| e.to_string())
            .and_then(|mut c| {
                c.apply_env();
                let feeds = load(&c)?;
                Ok((c, feeds))
            });
        match loaded {
            Ok((new_cfg, feeds)) => {
                metrics::counter!(m::FEED_LIST_RELOADS, "outcome" => "ok").increment(1);
                // The OPML files named may have changed too.
                files.set_files(sources(&new_cfg));
                if serde_json::to_value(&new_cfg.fetch).ok()
                    != serde_json::to_value(&cfg.fetch).ok()
                {
                    tracing::warn!("[fetch] settings changed: the feed list applies now, the other settings at the next restart");
                }
                let old = tx.borrow().clone();
                if *old == feeds {
                    continue;
                }
                let (added, removed, changed) = diff(&old, &feeds);
                tracing::info!(
                    feeds = feeds.len(),
                    added,
                    removed,
                    changed,
                    "feed list reloaded"
                );
                let _ = tx.send(Arc::new(feeds));
            }
            Err(e) => {
                metrics::counter!(m::FEED_LIST_RELOADS, "outcome" => "rejected").increment(1);
                tracing::error!(path = %config_path.display(), "feed list edit rejected; keeping the running list:\n{e}");
            }
        }
    }
}

/// Feeds added, removed and changed between two lists (by id).
pub fn diff(old: &[FeedConfig], new: &[FeedConfig]) -> (usize, usize, usize) {
    let before: std::collections::HashMap<&str, &FeedConfig> =
        old.iter().map(|f| (f.id.as_str(), f)).collect();
    let after: HashSet<&str> = new.iter().map(|f| f.id.as_str()).collect();
    let added = new
        .iter()
        .filter(|f| !before.contains_key(f.id.as_str()))
        .count();
    let changed = new
        .iter()
        .filter(|f| before.get(f.id.as_str()).is_some_and(|o| **o != **f))
        .count();
    let removed = old
        .iter()
        .filter(|f| !after.contains(f.id.as_str()))
        .count();
    (added, removed, changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn config_and_opml_feeds_merge_without_polling_a_url_twice() {
        let dir = std::env::temp_dir().join(format!("ww-list-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write(
            &dir,
            "more.opml",
            r#"<opml version="2.0"><body><outline text="Wires">
                <outline text="Yonhap" xmlUrl="https://en.yna.co.kr/RSS/nk.xml"/>
                <outline text="Already there" xmlUrl="https://a.example/rss"/>
                <outline text="Local" xmlUrl="file:///etc/passwd"/>
            </outline></body></opml>"#,
        );
        let path = write(
            &dir,
            "c.toml",
            "[fetch]\nfeed_files = [\"more.opml\"]\n\n[[feeds]]\nid = \"a\"\nurl = \"https://a.example/rss\"\n\n[[feeds]]\nid = \"off\"\nurl = \"https://off.example/rss\"\nenabled = false\n",
        );
        let cfg = Config::load(&path).unwrap();
        let feeds = load(&cfg).unwrap();
        let ids: Vec<&str> = feeds.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids.len(), 2, "{ids:?}");
        assert_eq!(ids[0], "a");
        assert!(ids[1].starts_with("yonhap-"), "{ids:?}");
        assert_eq!(feeds[1].outlet(), "Wires");
        // Stable: the same feed gets the same id however the file is arranged.
        assert_eq!(
            ids[1],
            opml_feed_id(&OpmlFeed {
                title: "Yonhap".into(),
                url: "https://en.yna.co.kr/RSS/nk.xml".into(),
                category: None,
            })
        );
        std::fs::remove_file(dir.join("more.opml")).unwrap();
        let err = load(&cfg).unwrap_err();
        assert!(err.contains("more.opml: cannot read"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn diff_counts_added_removed_changed() {
        let f = |id: &str, url: &str| FeedConfig {
            id: id.into(),
            url: url.into(),
            outlet: None,
            interval_secs: None,
            enabled: true,
            headers: Default::default(),
        };
        let old = vec![f("a", "u1"), f("b", "u2"), f("c", "u3")];
        let new = vec![f("a", "u1"), f("b", "u2-moved"), f("d", "u4")];
        assert_eq!(diff(&old, &new), (1, 1, 1));
    }
}
