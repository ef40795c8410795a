//! The command line (a contract: keep it stable; documented in the README).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "wirewatch",
    version,
    about = "Stream processor for news wire feeds: fetch, dedup, tag and alert over Kafka"
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human, env = "WIREWATCH_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum FeedsAction {
    /// Print `[[feeds]]` TOML for the feeds of an OPML file (append it to the config).
    Import {
        #[command(flatten)]
        config: ConfigArg,
        /// The OPML file.
        file: PathBuf,
    },
    /// Print the config's enabled feeds as OPML.
    Export {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Print the per-feed state of a running `run`/`fetch` (its `/feeds` endpoint).
    Status {
        /// Base URL of a fetcher's metrics server; repeat it for shared fetchers (their lists
        /// are merged).
        #[arg(long = "url", default_value = "http://127.0.0.1:9464")]
        urls: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EvalKind {
    Dedup,
    Tagging,
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// Configuration file.
    #[arg(long, short, default_value = "config/wirewatch.toml")]
    pub config: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fetchers, processor and the metrics/health server in one process.
    Run(ConfigArg),
    /// Only the fetch stage: poll feeds, publish raw stories.
    Fetch(ConfigArg),
    /// Only the process stage: dedup, tag, route and alert raw stories.
    Process(ConfigArg),
    /// Offline: saved feed documents through the same core as `process`, one JSON line per item
    /// (with --diff: what a candidate taxonomy would change).
    Replay {
        #[command(flatten)]
        config: ConfigArg,
        /// Use this taxonomy instead of the configured one (to preview an edit; see --diff).
        #[arg(long)]
        taxonomy: Option<PathBuf>,
        /// Instead of events, print what the --taxonomy candidate changes against the
        /// configured taxonomy, story by story: topics, actors, alert rules and routes gained
        /// (+) or lost (-), topics whose score moves by 0.05 or more (~); then totals.
        /// Duplicates are not compared (they are not published).
        #[arg(long, requires = "taxonomy")]
        diff: bool,
        /// With --diff: one JSON object per changed story on stdout, the totals on stderr.
        #[arg(long, requires = "diff")]
        json: bool,
        /// Feed documents (RSS 0.9x/1.0/2.0, Atom, JSON Feed); the feed id is the file stem.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Show the actors and topics a text matches, with the text that matched.
    Tag {
        #[command(flatten)]
        config: ConfigArg,
        /// Use this taxonomy instead of the configured one.
        #[arg(long)]
        taxonomy: Option<PathBuf>,
        /// Print JSON instead of a readable report.
        #[arg(long)]
        json: bool,
        /// Plain text or a story as JSON (title/summary/content); `-` or nothing for stdin.
        file: Option<PathBuf>,
    },
    /// Validate configuration and taxonomy files (and run the taxonomy's examples).
    CheckConfig {
        /// Files to check: wirewatch configs or taxonomies (detected); default the config.
        paths: Vec<PathBuf>,
    },
    /// Precision and recall on a labelled set (see docs/DEDUP.md and docs/TAGGING.md).
    Eval {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(value_enum)]
        what: EvalKind,
        /// The labelled set (JSON lines).
        file: PathBuf,
        /// Use this taxonomy instead of the configured one (tagging).
        #[arg(long)]
        taxonomy: Option<PathBuf>,
        /// List every mistake.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Feed lists: import from OPML, export to OPML, show the per-feed state of a running fetcher.
    Feeds {
        #[command(subcommand)]
        action: FeedsAction,
    },
    /// Follow the enriched (or alerts) topic and print one readable line per event.
    Tail {
        #[command(flatten)]
        config: ConfigArg,
        /// Follow the alerts topic instead.
        #[arg(long)]
        alerts: bool,
        /// Start from the beginning of the topic instead of new events only.
        #[arg(long)]
        from_beginning: bool,
        /// Bootstrap servers (default: the config's, or WIREWATCH_KAFKA_BROKERS).
        #[arg(long)]
        brokers: Option<String>,
    },
}
