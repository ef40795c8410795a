//! The webhook sink of alerts: one JSON POST per alert that should notify (Slack-compatible:
//! a `text` field, plus the alert itself), with a timeout and retries with backoff. Alerts
//! grouped by a rule's cooldown are counted, not sent.

use std::time::Duration;

use tokio::sync::mpsc;

use crate::config::WebhookConfig;
use crate::observe::metrics as m;
use crate::story::AlertEvent;

/// The Slack-compatible body of one notification.
pub fn payload(alert: &AlertEvent) -> serde_json::Value {
    let link = alert.link.as_deref().unwrap_or("");
    let text = format!(
        "[{}] {}: {} ({}) {}",
        alert.severity.to_uppercase(),
        alert.name,
        alert.title,
        alert.outlet,
        link
    );
    serde_json::json!({ "text": text.trim_end(), "alert": alert })
}

/// Sends notifications until the channel closes.
pub async fn run(cfg: WebhookConfig, mut rx: mpsc::Receiver<AlertEvent>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(cfg.timeout_ms))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new());
    while let Some(alert) = rx.recv().await {
        if !alert.notify {
            metrics::counter!(m::NOTIFICATIONS, "rule" => alert.rule.clone(), "outcome" => "grouped").increment(1);
            continue;
        }
        let body = payload(&alert);
        let mut attempt = 0;
        let outcome = loop {
            attempt += 1;
            let result = client
                .post(&cfg.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string())
                .send()
                .await;
            match result {
                Ok(r) if r.status().is_success() => break "sent",
                Ok(r) => {
                    tracing::warn!(status = %r.status(), attempt, rule = %alert.rule, "webhook refused the alert")
                }
                Err(e) => {
                    tracing::warn!(error = %e, attempt, rule = %alert.rule, "webhook unreachable")
                }
            }
            if attempt > cfg.retries {
                break "failed";
            }
            tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt.min(8)))).await;
        };
        if outcome == "failed" {
            tracing::error!(rule = %alert.rule, story = %alert.story_id, "alert notification failed after retries (the alert is on the alerts topic)");
        }
        metrics::counter!(m::NOTIFICATIONS, "rule" => alert.rule.clone(), "outcome" => outcome)
            .increment(1);
    }
}
