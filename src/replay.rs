//! `wirewatch replay`: saved feed documents → the same core as `process` → JSON lines.
//!
//! Offline and without Kafka. Items of all files are processed in order of publication time
//! (items without a date take the file's modification time; ties keep the order of the files
//! given, then document order), as if they had arrived live, starting from empty state. Every
//! item is printed, duplicates included, so each dedup decision can be audited.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::core::dedup::DedupConfig;
use crate::core::pipeline::{Processor, Route};
use crate::core::taxonomy::Taxonomy;
use crate::feed::{parse_document, Source};
use crate::story::RawStory;

/// What a replay did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    pub files: usize,
    pub failed_files: usize,
    pub stories: usize,
}

/// One input that could not be used, with the reason.
#[derive(Debug)]
pub struct FileError {
    pub path: PathBuf,
    pub reason: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

/// Reads one saved document into raw stories. The feed id is the file stem.
pub fn read_file(path: &Path) -> Result<Vec<RawStory>, FileError> {
    let fail = |reason: String| FileError {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    let fetched_at: DateTime<Utc> = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map(DateTime::<Utc>::from)
        .unwrap_or_else(|_| Utc::now());
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "feed".to_string());
    let url =
        url::Url::from_file_path(std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()))
            .ok()
            .map(String::from);
    let stories = parse_document(
        &bytes,
        &Source {
            feed: &stem,
            outlet: &stem,
            url: url.as_deref(),
            charset: None,
            fetched_at,
        },
    )
    .map_err(|e| fail(e.to_string()))?;
    if stories.is_empty() {
        return Err(fail("the feed has no items".to_string()));
    }
    Ok(stories)
}

/// Inputs up to this size are held in memory at once; larger replays read each file twice
/// (once for the order, once to process) so memory stays flat as the input grows.
const IN_MEMORY_BYTES: u64 = 64 * 1024 * 1024;

/// Replays `files` through a fresh [`Processor`], writing one JSON line per item to `out`
/// and one line per unusable file to `errors`. Keeps going after a bad file.
pub fn replay(
    taxonomy: Arc<Taxonomy>,
    dedup: DedupConfig,
    routes: Vec<Route>,
    files: &[PathBuf],
    out: &mut dyn Write,
    errors: &mut dyn FnMut(FileError),
) -> std::io::Result<ReplayReport> {
    let mut report = ReplayReport {
        files: files.len(),
        ..Default::default()
    };
    let mut processor = Processor::new(taxonomy, dedup, routes);
    let total: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();

    // Pass 1: the order. (time, file index, document index); ties keep file then document order.
    let mut order: Vec<(DateTime<Utc>, u32, u32)> = Vec::new();
    let mut held: Vec<Option<Vec<Option<RawStory>>>> = Vec::with_capacity(files.len());
    let mut remaining: Vec<u32> = Vec::with_capacity(files.len());
    for (fi, path) in files.iter().enumerate() {
        match read_file(path) {
            Ok(stories) => {
                for (di, s) in stories.iter().enumerate() {
                    order.push((s.published_at.unwrap_or(s.fetched_at), fi as u32, di as u32));
                }
                remaining.push(stories.len() as u32);
                held.push(
                    (total <= IN_MEMORY_BYTES).then(|| stories.into_iter().map(Some).collect()),
                );
            }
            Err(e) => {
                report.failed_files += 1;
                remaining.push(0);
                held.push(None);
                errors(e);
            }
        }
    }
    order.sort();

    // Pass 2: process in order, (re)reading a file when its first item is due and dropping it
    // when its last item is done.
    let mut line = Vec::with_capacity(16 * 1024);
    for (_, fi, di) in order {
        let (fi, di) = (fi as usize, di as usize);
        if held[fi].is_none() {
            match read_file(&files[fi]) {
                Ok(stories) => held[fi] = Some(stories.into_iter().map(Some).collect()),
                Err(e) => {
                    errors(e);
                    continue;
                }
            }
        }
        let Some(story) = held[fi]
            .as_mut()
            .and_then(|v| v.get_mut(di))
            .and_then(Option::take)
        else {
            continue;
        };
        remaining[fi] -= 1;
        if remaining[fi] == 0 {
            held[fi] = None;
        }
        let clock = story.published_at.unwrap_or(story.fetched_at);
        let output = processor.process(&story, clock);
        line.clear();
        serde_json::to_writer(&mut line, &output.event)?;
        line.push(b'\n');
        out.write_all(&line)?;
        report.stories += 1;
    }
    out.flush()?;
    Ok(report)
}
