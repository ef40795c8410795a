//! The stop signal: SIGINT or SIGTERM cancels the token (stages stop and drain in order:
//! fetchers → processor → producer flush → metrics server); a second signal forces exit.

use tokio_util::sync::CancellationToken;

/// Cancels `stop` on the first SIGINT/SIGTERM; exits the process with 130 on the second.
pub fn install(stop: CancellationToken) {
    tokio::spawn(async move {
        let mut signals = Signals::new();
        signals.next().await;
        tracing::info!("stopping: draining in-flight work (a second signal forces exit)");
        stop.cancel();
        signals.next().await;
        tracing::warn!("second signal: exiting now");
        std::process::exit(130);
    });
}

/// SIGINT and SIGTERM, registered once so a signal is never seen twice.
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Signals {
                term: signal(SignalKind::terminate()).ok(),
                int: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = next_signal(&mut self.term) => {}
                _ = next_signal(&mut self.int) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The next delivery of a registered signal; never, when it could not be registered.
#[cfg(unix)]
pub(crate) async fn next_signal(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal.as_mut() {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}
