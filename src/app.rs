//! Wiring of the long-running commands (`run`, `fetch`, `process`): broker (embedded or
//! real), topics, taxonomy and its hot reload, the stages, the metrics server, and the stop
//! order: fetchers → processor (drain, flush, commit) → metrics server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::core::tagger::failing_examples;
use crate::core::taxonomy::Taxonomy;
use crate::fetch::{self, StatusBoard};
use crate::filewatch::FileWatch;
use crate::kafka::{self, embedded::EmbeddedBroker};
use crate::observe::{metrics as m, server};

/// Which stages run in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stages {
    pub fetch: bool,
    pub process: bool,
}

impl Stages {
    pub const ALL: Stages = Stages {
        fetch: true,
        process: true,
    };
    pub const FETCH: Stages = Stages {
        fetch: true,
        process: false,
    };
    pub const PROCESS: Stages = Stages {
        fetch: false,
        process: true,
    };
}

/// A started pipeline.
pub struct App {
    /// Bootstrap servers in use (the embedded broker's address when embedded).
    pub brokers: String,
    pub embedded: bool,
    pub metrics_addr: SocketAddr,
    pub board: StatusBoard,
    stop: CancellationToken,
    stages: JoinHandle<anyhow::Result<()>>,
    server: JoinHandle<()>,
    server_stop: CancellationToken,
    broker: Option<EmbeddedBroker>,
}

/// Loads and compiles the taxonomy file.
pub fn load_taxonomy(path: &Path) -> anyhow::Result<Taxonomy> {
    let source = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("{}: cannot read the taxonomy: {e}", path.display()))?;
    Taxonomy::from_toml(&path.display().to_string(), &source).map_err(|e| anyhow::anyhow!("{e}"))
}

/// [`load_taxonomy`] for the taxonomy a running pipeline tags with: its examples and
/// counter-examples must pass too (as `check-config` requires), so an edit that breaks one is
/// rejected like an edit that does not parse.
pub fn load_checked_taxonomy(path: &Path) -> anyhow::Result<Taxonomy> {
    let taxonomy = load_taxonomy(path)?;
    let fails = failing_examples(&taxonomy);
    if fails.is_empty() {
        return Ok(taxonomy);
    }
    anyhow::bail!(
        "{}: {} (run `wirewatch check-config {}`):\n  {}",
        path.display(),
        crate::core::tagger::examples_fail(fails.len()),
        path.display(),
        fails.join("\n  ")
    )
}

impl App {
    /// Starts the stages of `cfg` (environment overrides already applied).
    pub async fn start(
        cfg: Config,
        stages: Stages,
        stop: CancellationToken,
    ) -> anyhow::Result<App> {
        let cfg = Arc::new(cfg);
        let handle = m::install();
        // The watch's baseline is the file as it is before loading: an edit made while it
        // loads is picked up by the first poll.
        let taxonomy = if stages.process {
            let files = FileWatch::new(vec![cfg.taxonomy_path()], cfg.taxonomy.watch_secs);
            Some((load_checked_taxonomy(&cfg.taxonomy_path())?, files))
        } else {
            None
        };

        let rules: Vec<(String, String)> = taxonomy
            .iter()
            .flat_map(|(t, _)| t.alerts.iter().map(|r| (r.id.clone(), r.severity.clone())))
            .collect();
        let topics: Vec<String> = taxonomy
            .iter()
            .flat_map(|(t, _)| t.topics.iter().map(|x| x.id.clone()))
            .collect();
        let mut outlets: Vec<String> = cfg.feeds().map(|f| f.outlet().to_string()).collect();
        outlets.sort();
        outlets.dedup();
        m::zero_series(&rules, &topics, &outlets);

        let (broker, brokers) = if cfg.kafka.is_embedded() {
            let b = EmbeddedBroker::start(&kafka::topic_list(&cfg))?;
            let addr = b.bootstrap().to_string();
            tracing::warn!(address = %addr, "embedded Kafka broker (librdkafka mock cluster): data is kept IN MEMORY ONLY and lost when wirewatch stops; at most ~5 MiB per partition, oldest dropped");
            (Some(b), addr)
        } else {
            if cfg.kafka.create_topics {
                kafka::create_topics(&cfg, &cfg.kafka.brokers).await?;
            }
            (None, cfg.kafka.brokers.clone())
        };

        let ready = server::Readiness::default();
        let server_stop = CancellationToken::new();
        let board = StatusBoard::default();
        let (metrics_addr, server) = server::serve(
            &cfg.metrics.listen,
            handle,
            ready.clone(),
            board.clone(),
            server_stop.clone(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("metrics server on {}: {e}", cfg.metrics.listen))?;

        let stages_task = {
            let cfg = cfg.clone();
            let brokers = brokers.clone();
            let stop = stop.clone();
            let board = board.clone();
            tokio::spawn(async move {
                run_stages(cfg, stages, brokers, taxonomy, board, ready, stop).await
            })
        };
        Ok(App {
            brokers,
            embedded: broker.is_some(),
            metrics_addr,
            board,
            stop,
            stages: stages_task,
            server,
            server_stop,
            broker,
        })
    }

    /// Asks the stages to stop (same as SIGTERM).
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Waits for the stages to finish (after a stop), then stops the server and the broker.
    pub async fn wait(self) -> anyhow::Result<()> {
        let result = match self.stages.await {
            Ok(r) => r,
            Err(e) => Err(anyhow::anyhow!("a stage panicked: {e}")),
        };
        self.server_stop.cancel();
        let _ = self.server.await;
        drop(self.broker);
        result
    }
}

async fn run_stages(
    cfg: Arc<Config>,
    stages: Stages,
    brokers: String,
    taxonomy: Option<(Taxonomy, FileWatch)>,
    board: StatusBoard,
    ready: server::Readiness,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    // Fetchers get their own token so they stop first.
    let fetch_stop = CancellationToken::new();
    let fetcher = if stages.fetch {
        let producer = kafka::producer(&cfg.kafka, &brokers, "fetch")?;
        let cfg = cfg.clone();
        let fs = fetch_stop.clone();
        let board = board.clone();
        let p = producer.clone();
        let brokers_f = brokers.clone();
        let list_files = fetch::list::watcher(&cfg);
        let feeds = fetch::list::load(&cfg).map_err(|e| anyhow::anyhow!("feed list: {e}"))?;
        let (list_tx, list_rx) = watch::channel(Arc::new(feeds));
        tokio::spawn(fetch::list::watch(
            cfg.clone(),
            list_files,
            list_tx,
            fs.clone(),
        ));
        let owned = if cfg.fetch.shared {
            Some(fetch::shard::join(&cfg, &brokers, fs.clone())?)
        } else {
            None
        };
        Some((
            tokio::spawn(
                async move { fetch::run(cfg, brokers_f, p, board, list_rx, owned, fs).await },
            ),
            producer,
        ))
    } else {
        None
    };
    let process_stop = CancellationToken::new();
    let processor = if let Some((tax, tax_files)) = taxonomy {
        let (tax_tx, tax_rx) = watch::channel(Arc::new(tax));
        tokio::spawn(watch_taxonomy(
            cfg.taxonomy_path(),
            tax_files,
            tax_tx,
            stop.clone(),
        ));
        let alerts_tx = cfg.alerts.webhook.clone().map(|w| {
            let (tx, rx) = mpsc::channel(1024);
            tokio::spawn(crate::notify::run(w, rx));
            tx
        });
        let cfg = cfg.clone();
        let ps = process_stop.clone();
        let ready = ready.clone();
        let brokers = brokers.clone();
        Some(tokio::spawn(async move {
            crate::process::run(cfg, brokers, tax_rx, alerts_tx, ready, ps).await
        }))
    } else {
        ready.set(true);
        None
    };

    // Wait for a stop, or for a stage to end on its own (an error).
    let mut processor = processor;
    let mut early: Option<anyhow::Result<()>> = None;
    if let Some(p) = processor.as_mut() {
        tokio::select! {
            _ = stop.cancelled() => {}
            r = p => {
                early = Some(match r {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(anyhow::anyhow!("process stage: {e}")),
                    Err(e) => Err(anyhow::anyhow!("process stage panicked: {e}")),
                });
            }
        }
    } else {
        stop.cancelled().await;
    }
    let deadline = Duration::from_secs(cfg.shutdown.deadline_secs);
    // 1. fetchers
    fetch_stop.cancel();
    if let Some((task, producer)) = fetcher {
        if tokio::time::timeout(deadline, task).await.is_err() {
            tracing::warn!("fetchers still busy at the deadline");
        }
        if let Err(e) = kafka::flush(&producer, deadline) {
            tracing::error!(error = %e, "fetch producer flush failed: some raw stories may not be delivered");
        }
    }
    // 2. processor: drain, flush, commit
    process_stop.cancel();
    if early.is_none() {
        if let Some(p) = processor {
            early = Some(match tokio::time::timeout(deadline, p).await {
                Ok(Ok(Ok(report))) => {
                    tracing::info!(
                        consumed = report.consumed,
                        published = report.published,
                        deadlettered = report.deadlettered,
                        "process stage stopped"
                    );
                    Ok(())
                }
                Ok(Ok(Err(e))) => Err(anyhow::anyhow!("process stage: {e}")),
                Ok(Err(e)) => Err(anyhow::anyhow!("process stage panicked: {e}")),
                Err(_) => Err(anyhow::anyhow!(
                    "process stage still busy at the {}s deadline",
                    deadline.as_secs()
                )),
            });
        }
    }
    ready.set(false);
    early.unwrap_or(Ok(()))
}

/// Reloads the taxonomy when its file changes (polled) or on SIGHUP. An invalid edit is
/// rejected with its errors and the running taxonomy stays.
async fn watch_taxonomy(
    path: PathBuf,
    mut files: FileWatch,
    tx: watch::Sender<Arc<Taxonomy>>,
    stop: CancellationToken,
) {
    while files.changed(&stop).await {
        match load_checked_taxonomy(&path) {
            Ok(t) => {
                tracing::info!(path = %path.display(), actors = t.actors.len(), topics = t.topics.len(), "taxonomy reloaded");
                metrics::counter!(m::TAXONOMY_RELOADS, "outcome" => "ok").increment(1);
                let _ = tx.send(Arc::new(t));
            }
            Err(e) => {
                tracing::error!(path = %path.display(), "taxonomy edit rejected; keeping the running taxonomy:\n{e}");
                metrics::counter!(m::TAXONOMY_RELOADS, "outcome" => "rejected").increment(1);
            }
        }
    }
}
