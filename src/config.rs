//! Configuration: `config/wirewatch.toml` → validated [`Config`], with environment overrides
//! for addresses. Unknown keys are errors; every error is reported with its file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::core::dedup::DedupConfig;
use crate::core::pipeline::Route;
use crate::core::taxonomy::{line_col, toml_error, ConfigError, ConfigErrors};

/// Environment variable overriding `kafka.brokers`.
pub const ENV_BROKERS: &str = "WIREWATCH_KAFKA_BROKERS";
/// Environment variable overriding `metrics.listen`.
pub const ENV_METRICS_LISTEN: &str = "WIREWATCH_METRICS_LISTEN";
/// Environment variable overriding `fetch.shared` (`true` or `false`).
pub const ENV_FETCH_SHARED: &str = "WIREWATCH_FETCH_SHARED";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub kafka: KafkaConfig,
    #[serde(default)]
    pub fetch: FetchConfig,
    #[serde(default)]
    pub feeds: Vec<Spanned<FeedConfig>>,
    #[serde(default)]
    pub processor: ProcessorConfig,
    #[serde(default)]
    pub taxonomy: TaxonomyConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub alerts: AlertsConfig,
    #[serde(default)]
    pub shutdown: ShutdownConfig,
    /// Directory of the config file: relative paths in it are relative to this.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The file this was loaded from (watched for feed-list changes).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// `"embedded"` for the in-process mock cluster, else a bootstrap list `host:port,...`.
    pub brokers: String,
    pub client_id: String,
    /// Consumer group of `process`.
    pub group_id: String,
    pub topics: TopicNames,
    /// Partitions of topics created by wirewatch (embedded broker, or `create_topics`).
    pub partitions: i32,
    /// Create missing topics at startup through the admin API (real brokers).
    pub create_topics: bool,
    /// Extra librdkafka properties, passed through as they are (TLS, SASL, tuning).
    pub properties: BTreeMap<String, String>,
    /// Extra topics receiving events that carry a given topic tag.
    pub routes: Vec<Route>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "embedded".into(),
            client_id: "wirewatch".into(),
            group_id: "wirewatch-process".into(),
            topics: TopicNames::default(),
            partitions: 3,
            create_topics: true,
            properties: BTreeMap::new(),
            routes: Vec::new(),
        }
    }
}

impl KafkaConfig {
    pub fn is_embedded(&self) -> bool {
        self.brokers == "embedded"
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicNames {
    pub raw: String,
    pub enriched: String,
    pub alerts: String,
    pub deadletter: String,
    pub clusters: String,
    /// Compacted changelog of the dedup index.
    pub dedup_state: String,
    /// Compacted per-feed fetch state (validators, seen items).
    pub fetch_state: String,
    /// Coordination topic of shared fetchers: its partitions are the feed shards (no
    /// messages are written to it).
    pub fetch_shards: String,
}

impl Default for TopicNames {
    fn default() -> Self {
        TopicNames {
            raw: "news.raw".into(),
            enriched: "news.enriched".into(),
            alerts: "news.alerts".into(),
            deadletter: "news.deadletter".into(),
            clusters: "news.clusters".into(),
            dedup_state: "wirewatch.dedup-state".into(),
            fetch_state: "wirewatch.fetch-state".into(),
            fetch_shards: "wirewatch.fetch-shards".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchConfig {
    /// `User-Agent` header; `{version}` is replaced by the wirewatch version.
    pub user_agent: String,
    pub connect_timeout_secs: u64,
    /// Whole-request timeout (a server dripping bytes is cut off here).
    pub timeout_secs: u64,
    /// Largest body accepted, after decompression.
    pub max_body_bytes: u64,
    /// Polls in flight at once, all hosts together.
    pub concurrency: usize,
    /// Polls in flight at once per host.
    pub per_host: usize,
    pub default_interval_secs: u64,
    pub min_interval_secs: u64,
    pub max_interval_secs: u64,
    pub max_redirects: usize,
    /// Allow feeds (and redirects) to loopback, private and link-local addresses.
    pub allow_private_addresses: bool,
    /// OPML files whose feeds are polled beside `[[feeds]]` (paths relative to the config).
    pub feed_files: Vec<PathBuf>,
    /// Re-read the feed list (this file and `feed_files`) when they change, checked every
    /// `reload_secs` (0 = off; SIGHUP reloads too).
    pub reload_secs: u64,
    /// Several fetcher processes share the feed list: each polls only the feeds of the
    /// shards the Kafka group `group_id` assigns it (see `docs/ARCHITECTURE.md`).
    pub shared: bool,
    /// Consumer group of shared fetchers.
    pub group_id: String,
    /// Shards of the feed list (partitions of `kafka.topics.fetch_shards`): the most fetcher
    /// processes that can share the list.
    pub shards: u32,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            user_agent:
                "wirewatch/{version} (news wire monitor; +https://github.com/wirewatch/wirewatch)"
                    .into(),
            connect_timeout_secs: 10,
            timeout_secs: 30,
            max_body_bytes: 10 * 1024 * 1024,
            concurrency: 64,
            per_host: 1,
            default_interval_secs: 300,
            min_interval_secs: 60,
            max_interval_secs: 3600,
            max_redirects: 5,
            allow_private_addresses: false,
            feed_files: Vec::new(),
            reload_secs: 10,
            shared: false,
            group_id: "wirewatch-fetch".into(),
            shards: 32,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// Short unique id: lower-case letters, digits, '-', '_', '.'.
    pub id: String,
    /// `http(s)://` or `file://` (saved snapshots).
    pub url: String,
    /// Bounded label for metrics and events; defaults to the id.
    #[serde(default)]
    pub outlet: Option<String>,
    #[serde(default)]
    pub interval_secs: Option<u64>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Extra request headers for this feed.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// The path of a `file:relative/path` URL (no `//`).
fn relative_file(url: &str) -> Option<&str> {
    url.strip_prefix("file:")
        .filter(|rest| !rest.starts_with('/') && !rest.is_empty())
}

fn yes() -> bool {
    true
}

impl FeedConfig {
    pub fn outlet(&self) -> &str {
        self.outlet.as_deref().unwrap_or(&self.id)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessorConfig {
    /// Raw messages larger than this go to the dead-letter topic.
    pub max_message_bytes: usize,
    pub dedup: DedupConfig,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        ProcessorConfig {
            max_message_bytes: 1024 * 1024,
            dedup: DedupConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TaxonomyConfig {
    /// Path of the taxonomy, relative to the config file.
    pub path: PathBuf,
    /// Reload the taxonomy when the file changes (checked every `watch_secs`; 0 = off;
    /// SIGHUP reloads too).
    pub watch_secs: u64,
}

impl Default for TaxonomyConfig {
    fn default() -> Self {
        TaxonomyConfig {
            path: "taxonomy.toml".into(),
            watch_secs: 5,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address of the `/metrics`, `/healthz` and `/readyz` server.
    pub listen: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: "127.0.0.1:9464".into(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    pub webhook: Option<WebhookConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Receives a JSON POST (Slack-compatible: `text` plus the alert fields) per notification.
    pub url: String,
    #[serde(default = "default_webhook_timeout")]
    pub timeout_ms: u64,
    #[serde(default = "default_webhook_retries")]
    pub retries: u32,
}

fn default_webhook_timeout() -> u64 {
    5000
}
fn default_webhook_retries() -> u32 {
    3
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// How long a graceful stop may take before the process exits anyway.
    pub deadline_secs: u64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig { deadline_secs: 30 }
    }
}

fn valid_feed_id(id: &str) -> bool {
    !id.is_empty()
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
}

impl Config {
    /// Reads, parses and validates a config file (without environment overrides).
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let file = path.display().to_string();
        let source = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: file.clone(),
                line: 0,
                column: 0,
                message: format!("cannot read: {e}"),
            }])
        })?;
        let mut cfg = Config::parse(&file, &source)?;
        cfg.base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        cfg.source = Some(path.to_path_buf());
        cfg.resolve_relative_files();
        Ok(cfg)
    }

    /// Parses and validates config text; `file` names it in errors.
    pub fn parse(file: &str, source: &str) -> Result<Config, ConfigErrors> {
        let cfg: Config =
            toml::from_str(source).map_err(|e| ConfigErrors(vec![toml_error(file, source, &e)]))?;
        let mut errors = Vec::new();
        let mut err = |offset: usize, message: String| {
            let (line, column) = line_col(source, offset);
            errors.push(ConfigError {
                file: file.to_string(),
                line,
                column,
                message,
            });
        };
        let mut seen = std::collections::HashSet::new();
        for f in &cfg.feeds {
            let at = f.span().start;
            let feed = f.get_ref();
            if !valid_feed_id(&feed.id) {
                err(
                    at,
                    format!(
                        "feed `{}`: id must be lower-case letters, digits, '-', '_' or '.'",
                        feed.id
                    ),
                );
            }
            if !seen.insert(feed.id.clone()) {
                err(at, format!("feed `{}`: duplicate feed id", feed.id));
            }
            if relative_file(&feed.url).is_some() {
                // `file:relative/path`, resolved against the config directory on load.
            } else {
                match url::Url::parse(&feed.url) {
                    Ok(u) if matches!(u.scheme(), "http" | "https" | "file") => {}
                    Ok(u) => err(
                        at,
                        format!(
                            "feed `{}`: scheme `{}` is not http, https or file",
                            feed.id,
                            u.scheme()
                        ),
                    ),
                    Err(e) => err(at, format!("feed `{}`: url `{}`: {e}", feed.id, feed.url)),
                }
            }
            if feed.interval_secs == Some(0) {
                err(
                    at,
                    format!("feed `{}`: interval_secs must be at least 1", feed.id),
                );
            }
        }
        let f = &cfg.fetch;
        if f.min_interval_secs == 0 || f.min_interval_secs > f.max_interval_secs {
            err(
                0,
                "fetch: need 0 < min_interval_secs <= max_interval_secs".into(),
            );
        }
        if f.shards == 0 || f.shards > 10_000 {
            err(0, "fetch.shards must be between 1 and 10000".into());
        }
        if f.concurrency == 0 || f.per_host == 0 {
            err(
                0,
                "fetch: concurrency and per_host must be at least 1".into(),
            );
        }
        if cfg.kafka.brokers.trim().is_empty() {
            err(
                0,
                "kafka.brokers: empty (use \"embedded\" or host:port,...)".into(),
            );
        }
        if cfg.kafka.partitions < 1 {
            err(0, "kafka.partitions must be at least 1".into());
        }
        if let Err(e) = cfg.metrics.listen.parse::<std::net::SocketAddr>() {
            err(0, format!("metrics.listen `{}`: {e}", cfg.metrics.listen));
        }
        if let Some(w) = &cfg.alerts.webhook {
            if url::Url::parse(&w.url).is_err() {
                err(0, format!("alerts.webhook.url `{}` is not a URL", w.url));
            }
        }
        let d = &cfg.processor.dedup;
        if !(0.0..=1.0).contains(&d.containment)
            || d.shingle_words == 0
            || d.anchors == 0
            || d.anchors > crate::core::dedup::MAX_ANCHORS
            || d.lead_anchors > d.anchors
        {
            err(0, format!(
                "processor.dedup: need containment in 0..1, shingle_words >= 1, 1 <= anchors <= {}, lead_anchors <= anchors",
                crate::core::dedup::MAX_ANCHORS
            ));
        }
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// Turns `file:relative/path` feed URLs into absolute `file://` URLs, relative to the
    /// directory of the config file (so saved snapshots can live beside the config).
    pub fn resolve_relative_files(&mut self) {
        for f in &mut self.feeds {
            let feed = f.get_mut();
            if let Some(rel) = relative_file(&feed.url) {
                let abs = std::path::absolute(self.base_dir.join(rel))
                    .unwrap_or_else(|_| self.base_dir.join(rel));
                if let Ok(u) = url::Url::from_file_path(&abs) {
                    feed.url = u.to_string();
                }
            }
        }
    }

    /// Applies `WIREWATCH_KAFKA_BROKERS`, `WIREWATCH_METRICS_LISTEN` and
    /// `WIREWATCH_FETCH_SHARED`.
    pub fn apply_env(&mut self) {
        if let Ok(v) = std::env::var(ENV_FETCH_SHARED) {
            match v.trim() {
                "true" | "1" | "yes" => self.fetch.shared = true,
                "false" | "0" | "no" => self.fetch.shared = false,
                "" => {}
                other => tracing::warn!(
                    value = other,
                    "{ENV_FETCH_SHARED}: expected true or false; ignored"
                ),
            }
        }
        if let Ok(b) = std::env::var(ENV_BROKERS) {
            if !b.trim().is_empty() {
                self.kafka.brokers = b.trim().to_string();
            }
        }
        if let Ok(l) = std::env::var(ENV_METRICS_LISTEN) {
            if !l.trim().is_empty() {
                self.metrics.listen = l.trim().to_string();
            }
        }
    }

    pub fn taxonomy_path(&self) -> PathBuf {
        self.base_dir.join(&self.taxonomy.path)
    }

    /// Enabled feeds.
    pub fn feeds(&self) -> impl Iterator<Item = &FeedConfig> {
        self.feeds.iter().map(|f| f.get_ref()).filter(|f| f.enabled)
    }

    /// The user agent with the version filled in.
    pub fn user_agent(&self) -> String {
        self.fetch
            .user_agent
            .replace("{version}", env!("CARGO_PKG_VERSION"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let c = Config::parse("c.toml", "").unwrap();
        assert!(c.kafka.is_embedded());
        assert_eq!(c.kafka.topics.raw, "news.raw");
        assert_eq!(c.metrics.listen, "127.0.0.1:9464");
    }

    #[test]
    fn unknown_keys_are_errors_with_location() {
        let e =
            Config::parse("c.toml", "[kafka]\nbrokers = \"x:1\"\nbrokres = \"y\"\n").unwrap_err();
        assert_eq!(e.0.len(), 1);
        assert!(e.to_string().starts_with("c.toml:3:1:"), "{e}");
        assert!(e.to_string().contains("brokres"), "{e}");
    }

    #[test]
    fn reports_all_feed_errors() {
        let src =
            "[[feeds]]\nid = \"a\"\nurl = \"ftp://x/y\"\n\n[[feeds]]\nid = \"a\"\nurl = \"nope\"\n";
        let e = Config::parse("c.toml", src).unwrap_err().to_string();
        assert!(e.contains("c.toml:1:1: feed `a`: scheme `ftp`"), "{e}");
        assert!(e.contains("c.toml:5:1: feed `a`: duplicate feed id"), "{e}");
        assert!(e.contains("url `nope`"), "{e}");
    }
}
