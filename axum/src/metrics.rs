//! [`MetricsSink`]: the engine's events as counters through the `metrics` facade, and the
//! layer's verify latency (feature `metrics`).

use core::time::Duration;

use token_engine::event::{Event, EventSink};

/// Counters through the `metrics` facade (install any recorder: Prometheus, StatsD, ...):
///
/// | metric | labels |
/// |---|---|
/// | `token_engine_issued_total` | |
/// | `token_engine_refreshed_total` | |
/// | `token_engine_reuse_detected_total` | `possible_repeat` (`true` may repeat an earlier detection: alert on `false`, or count once) |
/// | `token_engine_revoked_total` | `reason` ([`RevocationReason::as_str`](token_engine::RevocationReason::as_str)) |
/// | `token_engine_refresh_rejected_total` | `reason` |
/// | `token_engine_verification_failed_total` | `reason` |
/// | `token_engine_jwks_refresh_failed_total` | |
///
/// The [`TokenLayer`](crate::TokenLayer) records, with this feature on,
/// `token_engine_verify_seconds` (histogram, label `outcome`: `ok` or `refused`) and
/// `token_engine_store_errors_total` (a check that failed on the store, answered `500`); the
/// authorization server's [`Router`](crate::AuthorizationServer) counts its endpoints'
/// `500`s in `token_engine_store_errors_total` too.
#[derive(Clone, Copy, Debug, Default)]
pub struct MetricsSink;

impl EventSink for MetricsSink {
    fn record(&self, event: &Event) {
        match event {
            Event::Issued { .. } => metrics::counter!("token_engine_issued_total").increment(1),
            Event::Refreshed { .. } => {
                metrics::counter!("token_engine_refreshed_total").increment(1);
            }
            Event::ReuseDetected {
                possible_repeat, ..
            } => metrics::counter!(
                "token_engine_reuse_detected_total",
                "possible_repeat" => if *possible_repeat { "true" } else { "false" }
            )
            .increment(1),
            Event::FamilyRevoked { reason, .. } => {
                metrics::counter!("token_engine_revoked_total", "reason" => reason.as_str())
                    .increment(1);
            }
            Event::RefreshRejected { reason, .. } => metrics::counter!(
                "token_engine_refresh_rejected_total",
                "reason" => reason.to_string()
            )
            .increment(1),
            Event::VerificationFailed { reason } => metrics::counter!(
                "token_engine_verification_failed_total",
                "reason" => reason.to_string()
            )
            .increment(1),
            Event::JwksRefreshFailed { .. } => {
                metrics::counter!("token_engine_jwks_refresh_failed_total").increment(1);
            }
            _ => {}
        }
    }
}

/// The layer's check: its latency, and a store failure (the refusal is a `500`).
pub(crate) fn record_verify(elapsed: Duration, status: Option<u16>) {
    let outcome = if status.is_none() { "ok" } else { "refused" };
    metrics::histogram!("token_engine_verify_seconds", "outcome" => outcome)
        .record(elapsed.as_secs_f64());
    if status == Some(500) {
        store_error();
    }
}

/// One store failure answered `500`.
pub(crate) fn store_error() {
    metrics::counter!("token_engine_store_errors_total").increment(1);
}
