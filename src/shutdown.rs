//! The stop signal: SIGINT or SIGTERM cancels the token (stages stop and drain in order:
//! fetchers → processor → producer flush → metrics server); a second signal forces exit.

use tokio_util::sync::CancellationToken;

/// Cancels `stop` on the first SIGINT/SIGTERM; exits the process with 130 on the second.
pub fn install(stop: CancellationToken) {
    tokio::spawn(async move {
        wait_signal().await;
        tracing::info!("stopping: draining in-flight work (a second signal forces exit)");
        stop.cancel();
        wait_signal().await;
        tracing::warn!("second signal: exiting now");
        std::process::exit(130);
    });
}

async fn wait_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
