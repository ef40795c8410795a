//! What each command does. Returns the process exit code (0 ok, 1 failure, 2 invalid input).

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use tokio_util::sync::CancellationToken;

use crate::app::{load_taxonomy, App, Stages};
use crate::cli::{Command, ConfigArg, EvalKind, FeedsAction};
use crate::config::Config;
use crate::core::tagger::{failing_examples, tag, Doc};
use crate::core::taxonomy::Taxonomy;
use crate::core::text::html_to_text;
use crate::story::{AlertEvent, EnrichedEvent};

pub fn dispatch(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Run(c) => serve(&c, Stages::ALL),
        Command::Fetch(c) => serve(&c, Stages::FETCH),
        Command::Process(c) => serve(&c, Stages::PROCESS),
        Command::Replay {
            config,
            taxonomy,
            diff: false,
            files,
            ..
        } => replay(&config, taxonomy.as_deref(), &files),
        Command::Replay {
            config,
            taxonomy: Some(candidate),
            diff: true,
            json,
            files,
        } => replay_diff(&config, &candidate, json, &files),
        // clap requires --taxonomy with --diff.
        Command::Replay { taxonomy: None, .. } => {
            anyhow::bail!("--diff needs --taxonomy CANDIDATE.toml")
        }
        Command::Tag {
            config,
            taxonomy,
            json,
            file,
        } => tag_cmd(&config, taxonomy.as_deref(), json, file.as_deref()),
        Command::CheckConfig { paths } => check_config(&paths),
        Command::Eval {
            config,
            what,
            file,
            taxonomy,
            verbose,
        } => eval(&config, what, &file, taxonomy.as_deref(), verbose),
        Command::Feeds { action } => feeds(action),
        Command::Tail {
            config,
            alerts,
            from_beginning,
            brokers,
        } => tail(&config, alerts, from_beginning, brokers),
    }
}

fn load_config(c: &ConfigArg) -> anyhow::Result<Config> {
    let mut cfg =
        Config::load(&c.config).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
    cfg.apply_env();
    Ok(cfg)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn serve(c: &ConfigArg, stages: Stages) -> anyhow::Result<u8> {
    let cfg = load_config(c)?;
    let feeds = cfg.feeds().count();
    let topics = crate::kafka::topic_list(&cfg);
    runtime()?.block_on(async move {
        let stop = CancellationToken::new();
        crate::shutdown::install(stop.clone());
        let app = App::start(cfg, stages, stop).await?;
        let mut summary = String::new();
        summary.push_str("wirewatch is up\n");
        if app.embedded {
            summary.push_str(&format!(
                "  broker:  {} (embedded librdkafka mock cluster: IN MEMORY ONLY, data is lost on exit)\n  read:    kcat -b {} -t news.enriched -C\n",
                app.brokers, app.brokers
            ));
        } else {
            summary.push_str(&format!("  broker:  {}\n", app.brokers));
        }
        let names: Vec<&str> = topics.iter().map(|t| t.name.as_str()).collect();
        summary.push_str(&format!("  topics:  {}\n", names.join(", ")));
        if stages.fetch {
            summary.push_str(&format!("  feeds:   {feeds}\n"));
        }
        summary.push_str(&format!(
            "  metrics: http://{}/metrics (health: /healthz, /readyz)\n  stop:    Ctrl-C or SIGTERM\n",
            app.metrics_addr
        ));
        println!("{summary}");
        let _ = std::io::stdout().flush();
        app.wait().await?;
        Ok(0)
    })
}

/// The end of a `replay` run: the count of stories and files on stderr, and the exit code (2
/// when a file could not be read or parsed).
fn replay_outcome(report: std::io::Result<crate::replay::ReplayReport>) -> anyhow::Result<u8> {
    match report {
        Ok(r) => {
            eprintln!(
                "replayed {} stories from {} of {} files",
                r.stories,
                r.files - r.failed_files,
                r.files
            );
            Ok(if r.failed_files > 0 { 2 } else { 0 })
        }
        // A closed pipe (`| head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(e.into()),
    }
}

fn taxonomy_for(c: &ConfigArg, over: Option<&Path>) -> anyhow::Result<Taxonomy> {
    let path = match over {
        Some(p) => p.to_path_buf(),
        None => Config::load(&c.config)
            .map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?
            .taxonomy_path(),
    };
    load_taxonomy(&path)
}

fn replay(c: &ConfigArg, taxonomy: Option<&Path>, files: &[PathBuf]) -> anyhow::Result<u8> {
    let cfg =
        Config::load(&c.config).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
    let tax = taxonomy_for(c, taxonomy)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let report = crate::replay::replay(
        Arc::new(tax),
        cfg.processor.dedup.clone(),
        cfg.kafka.routes.clone(),
        files,
        &mut out,
        &mut |e| eprintln!("error: {e}"),
    );
    replay_outcome(report)
}

fn replay_diff(
    c: &ConfigArg,
    candidate: &Path,
    json: bool,
    files: &[PathBuf],
) -> anyhow::Result<u8> {
    let cfg =
        Config::load(&c.config).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
    let configured = load_taxonomy(&cfg.taxonomy_path())?;
    let proposed = load_taxonomy(candidate)?;
    // Like `replay --taxonomy`, a candidate whose examples fail is compared anyway (the
    // analyst may be trying the edit before fixing them); say so, as deploying it would fail.
    let fails = failing_examples(&proposed).len();
    if fails > 0 {
        eprintln!(
            "warning: {}: {} (compared anyway; run `wirewatch check-config {}`)",
            candidate.display(),
            crate::core::tagger::examples_fail(fails),
            candidate.display()
        );
    }
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let format = if json {
        crate::replay::DiffFormat::Json
    } else {
        crate::replay::DiffFormat::Text
    };
    let result = crate::replay::replay_diff(
        Arc::new(configured),
        Arc::new(proposed),
        cfg.processor.dedup.clone(),
        cfg.kafka.routes.clone(),
        files,
        format,
        &mut out,
        &mut |e| eprintln!("error: {e}"),
    )
    .and_then(|(report, summary)| {
        if json {
            eprint!("{}", summary.render());
        } else {
            out.write_all(summary.render().as_bytes())?;
            out.flush()?;
        }
        Ok(report)
    });
    replay_outcome(result)
}

/// Reads the input of `tag`: plain text, or a JSON story with title/summary/content.
fn read_doc(file: Option<&Path>) -> anyhow::Result<(String, String, String)> {
    let mut input = String::new();
    match file {
        None => {
            std::io::stdin().read_to_string(&mut input)?;
        }
        Some(p) if p == Path::new("-") => {
            std::io::stdin().read_to_string(&mut input)?;
        }
        Some(p) => {
            input = std::fs::read_to_string(p)
                .with_context(|| format!("{}: cannot read", p.display()))?;
        }
    }
    let trimmed = input.trim_start();
    if trimmed.starts_with('{') {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(trimmed) {
            let field = |k: &str| {
                v.get(k)
                    .and_then(|x| x.as_str())
                    .map(html_to_text)
                    .unwrap_or_default()
            };
            return Ok((field("title"), field("summary"), field("content")));
        }
    }
    // Plain text: the first line is the headline, the rest the body.
    let mut lines = input.splitn(2, '\n');
    let title = lines.next().unwrap_or_default().trim().to_string();
    let rest = lines.next().unwrap_or_default().trim().to_string();
    Ok((title, String::new(), rest))
}

fn tag_cmd(
    c: &ConfigArg,
    taxonomy: Option<&Path>,
    json: bool,
    file: Option<&Path>,
) -> anyhow::Result<u8> {
    let tax = taxonomy_for(c, taxonomy)?;
    let (title, summary, content) = read_doc(file)?;
    let tags = tag(
        &tax,
        &Doc {
            title: &title,
            summary: &summary,
            content: &content,
        },
    );
    let mut out = std::io::stdout().lock();
    if json {
        let alerts: Vec<serde_json::Value> = tags
            .alerts
            .iter()
            .map(|(i, ev)| serde_json::json!({"rule": tax.alerts[*i].id, "evidence": ev}))
            .collect();
        let v = serde_json::json!({"actors": tags.actors, "topics": tags.topics, "alerts": alerts});
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(0);
    }
    writeln!(out, "actors:")?;
    if tags.actors.is_empty() {
        writeln!(out, "  (none)")?;
    }
    for a in &tags.actors {
        let ev: Vec<String> = a
            .evidence
            .iter()
            .map(|e| format!("{:?}[{}..{}] \"{}\"", e.field, e.start, e.end, e.text))
            .collect();
        writeln!(
            out,
            "  {} ({}, {}) ×{}: {}",
            a.id,
            a.name,
            a.kind,
            a.mentions,
            ev.join(", ")
        )?;
    }
    writeln!(out, "topics (score ≥ threshold):")?;
    if tags.topics.is_empty() {
        writeln!(out, "  (none)")?;
    }
    for t in &tags.topics {
        let ev: Vec<String> = t
            .evidence
            .iter()
            .map(|e| format!("\"{}\"", e.text))
            .collect();
        writeln!(out, "  {} {:.3}: {}", t.id, t.score, ev.join(", "))?;
    }
    let below: Vec<String> = tax
        .topics
        .iter()
        .zip(&tags.scores)
        .filter(|(t, s)| **s > 0.0 && **s < t.threshold)
        .map(|(t, s)| format!("{} {:.3} (< {})", t.id, s, t.threshold))
        .collect();
    if !below.is_empty() {
        writeln!(out, "below threshold: {}", below.join(", "))?;
    }
    writeln!(out, "alert conditions met:")?;
    if tags.alerts.is_empty() {
        writeln!(out, "  (none)")?;
    }
    for (i, ev) in &tags.alerts {
        let ev: Vec<String> = ev.iter().map(|e| format!("\"{}\"", e.text)).collect();
        writeln!(out, "  {}: {}", tax.alerts[*i].id, ev.join(", "))?;
    }
    Ok(0)
}

/// What kind of file `check-config` was given.
fn looks_like_taxonomy(source: &str) -> bool {
    source.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with("[[actor]]")
            || l.starts_with("[[topic]]")
            || l.starts_with("[[alert]]")
            || l.starts_with("[terms]")
    })
}

fn check_taxonomy_file(path: &Path) -> Vec<String> {
    match load_taxonomy(path) {
        Ok(t) => {
            let fails = failing_examples(&t);
            let file = path.display();
            if fails.is_empty() {
                println!(
                    "{file}: ok ({} actors, {} topics, {} alert rules, {} patterns; all examples pass)",
                    t.actors.len(),
                    t.topics.len(),
                    t.alerts.len(),
                    t.pattern_count()
                );
            }
            fails.into_iter().map(|f| format!("{file}: {f}")).collect()
        }
        Err(e) => vec![e.to_string()],
    }
}

fn check_config(paths: &[PathBuf]) -> anyhow::Result<u8> {
    let default = [PathBuf::from("config/wirewatch.toml")];
    let paths = if paths.is_empty() {
        &default[..]
    } else {
        paths
    };
    let mut errors: Vec<String> = Vec::new();
    for path in paths {
        let source = match std::fs::read_to_string(path) {
            Ok(s) => s,
            Err(e) => {
                errors.push(format!("{}: cannot read: {e}", path.display()));
                continue;
            }
        };
        if looks_like_taxonomy(&source) {
            errors.extend(check_taxonomy_file(path));
            continue;
        }
        match Config::load(path) {
            Ok(cfg) => {
                let tax = cfg.taxonomy_path();
                let before = errors.len();
                errors.extend(check_taxonomy_file(&tax));
                if errors.len() == before {
                    println!(
                        "{}: ok ({} feeds, taxonomy {})",
                        path.display(),
                        cfg.feeds.len(),
                        tax.display()
                    );
                }
            }
            Err(e) => errors.extend(e.0.iter().map(|x| x.to_string())),
        }
    }
    for e in &errors {
        eprintln!("{e}");
    }
    if errors.is_empty() {
        Ok(0)
    } else {
        eprintln!(
            "{}",
            crate::core::text::counted(errors.len(), "error", "errors")
        );
        Ok(2)
    }
}

/// One readable line per event for an analyst's terminal.
pub fn tail_line(e: &EnrichedEvent) -> String {
    let time = e
        .published_at
        .unwrap_or(e.fetched_at)
        .format("%Y-%m-%d %H:%M");
    let topics: Vec<String> = e
        .topics
        .iter()
        .map(|t| format!("{}:{:.2}", t.id, t.score))
        .collect();
    let actors: Vec<&str> = e.actors.iter().take(5).map(|a| a.name.as_str()).collect();
    format!(
        "{time} [{:<14}] {:<40} | {} | {} | {}",
        e.dedup.status.as_str(),
        truncate(&e.outlet, 40),
        html_to_text(&e.title),
        if topics.is_empty() {
            "-".to_string()
        } else {
            topics.join(" ")
        },
        if actors.is_empty() {
            "-".to_string()
        } else {
            actors.join(", ")
        },
    )
}

fn alert_line(a: &AlertEvent) -> String {
    format!(
        "{} {} {} [{}] {} ({}) {}",
        a.fired_at.format("%Y-%m-%d %H:%M:%S"),
        a.severity.to_uppercase(),
        a.rule,
        a.outlet,
        a.title,
        if a.notify { "notified" } else { "grouped" },
        a.link.as_deref().unwrap_or("")
    )
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn tail(
    c: &ConfigArg,
    alerts: bool,
    from_beginning: bool,
    brokers: Option<String>,
) -> anyhow::Result<u8> {
    let cfg = load_config(c)?;
    let brokers = brokers.unwrap_or_else(|| cfg.kafka.brokers.clone());
    if brokers == "embedded" {
        anyhow::bail!("`tail` needs a broker address: pass --brokers ADDRESS (the embedded broker's address is printed by `wirewatch run`)");
    }
    let topic = if alerts {
        cfg.kafka.topics.alerts.clone()
    } else {
        cfg.kafka.topics.enriched.clone()
    };
    runtime()?.block_on(async move {
        let mut kc = cfg.kafka.clone();
        kc.client_id = format!("{}-tail-{}", kc.client_id, std::process::id());
        let mut conf = crate::kafka::client_config(&kc, &brokers, "tail");
        conf.set("group.id", format!("wirewatch-tail-{}", std::process::id()))
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", if from_beginning { "earliest" } else { "latest" });
        let consumer: rdkafka::consumer::StreamConsumer = conf.create()?;
        consumer.subscribe(&[topic.as_str()])?;
        let stop = CancellationToken::new();
        crate::shutdown::install(stop.clone());
        let mut out = std::io::stdout();
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                msg = tokio::time::timeout(Duration::from_secs(3600), consumer.recv()) => {
                    let Ok(msg) = msg else { continue };
                    let msg = msg?;
                    let Some(payload) = msg.payload() else { continue };
                    let line = if alerts {
                        serde_json::from_slice::<AlertEvent>(payload).map(|a| alert_line(&a))
                    } else {
                        serde_json::from_slice::<EnrichedEvent>(payload).map(|e| tail_line(&e))
                    };
                    match line {
                        Ok(l) => {
                            if writeln!(out, "{l}").is_err() {
                                break;
                            }
                        }
                        Err(e) => eprintln!("skipping an unreadable event at {}/{}: {e}", msg.partition(), msg.offset()),
                    }
                }
            }
        }
        Ok(0)
    })
}

fn eval(
    c: &ConfigArg,
    what: EvalKind,
    file: &Path,
    taxonomy: Option<&Path>,
    verbose: bool,
) -> anyhow::Result<u8> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("{}: cannot read", file.display()))?;
    let bad = |e: String| anyhow::anyhow!("{}: {e}", file.display());
    let mut out = std::io::stdout().lock();
    match what {
        EvalKind::Dedup => {
            let cfg = Config::load(&c.config)
                .map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
            let items: Vec<crate::eval::DedupItem> =
                crate::eval::parse_jsonl(&text).map_err(bad)?;
            let ev = crate::eval::eval_dedup(&items, cfg.processor.dedup.clone());
            if verbose {
                for e in &ev.errors {
                    writeln!(out, "{e}")?;
                }
            }
            writeln!(out, "items: {}", items.len())?;
            writeln!(
                out,
                "pairs:  precision {:.4}  recall {:.4}  (tp {} fp {} fn {})",
                ev.pairs.precision(),
                ev.pairs.recall(),
                ev.pairs.tp,
                ev.pairs.fp,
                ev.pairs.fn_
            )?;
            writeln!(
                out,
                "hard-negative pairs: precision {:.4}  (fp {})",
                ev.hard_negative_pairs.precision(),
                ev.hard_negative_pairs.fp
            )?;
            for (v, (ok, all)) in &ev.by_variation {
                writeln!(out, "  {v:<28} {ok:>4}/{all:<4} in their story's cluster")?;
            }
        }
        EvalKind::Tagging => {
            let tax = taxonomy_for(c, taxonomy)?;
            let items: Vec<crate::eval::TagItem> = crate::eval::parse_jsonl(&text).map_err(bad)?;
            let ev = crate::eval::eval_tagging(&items, &tax);
            if verbose {
                for e in &ev.errors {
                    writeln!(out, "{e}")?;
                }
            }
            writeln!(out, "items: {}", items.len())?;
            for (t, pr) in &ev.topics {
                write_pr(&mut out, &format!("topic {t}"), pr)?;
            }
            write_pr(&mut out, "actors", &ev.actors)?;
            write_pr(
                &mut out,
                &format!("alert {}", crate::eval::ALERT_RULE),
                &ev.alerts,
            )?;
        }
    }
    Ok(0)
}

/// One line of `eval tagging`: what was scored, then its precision, recall and counts.
fn write_pr(out: &mut impl Write, what: &str, pr: &crate::eval::Pr) -> std::io::Result<()> {
    writeln!(
        out,
        "  {what:<30} precision {:.3}  recall {:.3}  (tp {} fp {} fn {})",
        pr.precision(),
        pr.recall(),
        pr.tp,
        pr.fp,
        pr.fn_
    )
}

fn feeds(action: FeedsAction) -> anyhow::Result<u8> {
    match action {
        FeedsAction::Import { config, file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("{}: cannot read", file.display()))?;
            let found = crate::opml::parse(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let taken: Vec<String> = Config::load(&config.config)
                .map(|c| c.feeds.iter().map(|f| f.get_ref().id.clone()).collect())
                .unwrap_or_default();
            print!("{}", crate::opml::to_toml(&found, &taken));
            eprintln!("{} feeds from {}", found.len(), file.display());
            Ok(0)
        }
        FeedsAction::Export { config } => {
            let cfg = load_config(&config)?;
            print!("{}", crate::opml::export(cfg.feeds()));
            Ok(0)
        }
        FeedsAction::Status { urls } => {
            let mut list: Vec<serde_json::Value> = Vec::new();
            for url in urls {
                let body = runtime()?.block_on(async move {
                    let r = reqwest::get(format!("{}/feeds", url.trim_end_matches('/'))).await?;
                    r.error_for_status()?.text().await
                })?;
                list.extend(serde_json::from_str::<Vec<serde_json::Value>>(&body)?);
            }
            list.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
            let mut out = std::io::stdout().lock();
            for f in list {
                writeln!(
                    out,
                    "{:<28} {:<8} failures={:<3} last_success={} next_poll={} {}",
                    f["id"].as_str().unwrap_or(""),
                    f["state"].as_str().unwrap_or(""),
                    f["consecutive_failures"],
                    f["last_success"].as_str().unwrap_or("-"),
                    f["next_poll"].as_str().unwrap_or("-"),
                    f["last_error"]
                        .as_str()
                        .map(|e| format!("last_error={e}"))
                        .unwrap_or_default()
                )?;
            }
            Ok(0)
        }
    }
}
