//! Waiting for edits of configuration files: their modification times polled every few
//! seconds, and SIGHUP for an immediate reload. Used by the taxonomy and feed-list reloads.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

/// Files watched for changes.
pub struct FileWatch {
    files: Vec<PathBuf>,
    last: Vec<Option<SystemTime>>,
    every_secs: u64,
    #[cfg(unix)]
    hup: Option<tokio::signal::unix::Signal>,
}

fn mtimes(files: &[PathBuf]) -> Vec<Option<SystemTime>> {
    files
        .iter()
        .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .collect()
}

impl FileWatch {
    /// Watches `files`, polled every `every_secs` (0: only SIGHUP).
    pub fn new(files: Vec<PathBuf>, every_secs: u64) -> Self {
        FileWatch {
            last: mtimes(&files),
            files,
            every_secs,
            #[cfg(unix)]
            hup: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok(),
        }
    }

    /// Watches these files from now on (their current state is the baseline).
    pub fn set_files(&mut self, files: Vec<PathBuf>) {
        self.last = mtimes(&files);
        self.files = files;
    }

    /// Returns when a file's modification time changed or SIGHUP arrived, `false` when `stop`
    /// is cancelled first.
    pub async fn changed(&mut self, stop: &CancellationToken) -> bool {
        loop {
            let every = self.every_secs;
            let tick = async {
                if every == 0 {
                    std::future::pending::<()>().await
                } else {
                    tokio::time::sleep(Duration::from_secs(every)).await
                }
            };
            #[cfg(unix)]
            let hup = crate::shutdown::next_signal(&mut self.hup);
            #[cfg(not(unix))]
            let hup = std::future::pending::<()>();
            let forced = tokio::select! {
                _ = stop.cancelled() => return false,
                _ = tick => false,
                _ = hup => true,
            };
            let now = mtimes(&self.files);
            if forced || now != self.last {
                self.last = now;
                return true;
            }
        }
    }
}
