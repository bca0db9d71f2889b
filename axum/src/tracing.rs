//! [`TracingSink`]: the engine's events as `tracing` events (feature `tracing`).

use token_engine::event::{Event, EventSink};

/// One structured `tracing` event per engine [`Event`], target `token_engine`, fields named
/// (`event`, `family`, `client_id`, `subject`, `reason`, ...). Levels by severity: `error`
/// for refresh-token reuse (likely theft), `warn` for a revocation for a security reason
/// (reuse, binding mismatch, code replay), a failed JWKS refresh and a re-authentication
/// forced by policy, `info` for issuance and other revocations, `debug` for routine
/// refreshes, rejections and failed verifications. Events carry no token material (the
/// library's promise; family ids are the access tokens' `sid`, not secrets), and this sink
/// adds none.
///
/// ```no_run
/// # fn demo(b: token_engine::EngineBuilder) -> token_engine::EngineBuilder {
/// b.events(std::sync::Arc::new(token_engine_axum::TracingSink))
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingSink;

const TARGET: &str = "token_engine";

impl EventSink for TracingSink {
    fn record(&self, event: &Event) {
        match event {
            Event::Issued {
                family,
                client_id,
                subject,
            } => tracing::info!(
                target: TARGET,
                event = "issued",
                family = %family,
                client_id = %client_id,
                subject = %subject,
                "tokens issued"
            ),
            Event::Refreshed {
                family,
                generation,
                policy_upgraded,
            } => tracing::debug!(
                target: TARGET,
                event = "refreshed",
                family = %family,
                generation = *generation,
                policy_upgraded = policy_upgraded.map(tracing::field::display),
                "refresh token rotated"
            ),
            Event::GraceRetryServed { family, generation } => tracing::debug!(
                target: TARGET,
                event = "grace_retry_served",
                family = %family,
                generation = *generation,
                "retry within the grace window served"
            ),
            Event::ReuseDetected {
                family,
                client_id,
                subject,
                presented_by,
                possible_repeat,
            } => tracing::error!(
                target: TARGET,
                event = "reuse_detected",
                family = %family,
                client_id = %client_id,
                subject = %subject,
                presented_by = %presented_by,
                possible_repeat = *possible_repeat,
                "refresh token reuse detected: session revoked"
            ),
            Event::FamilyRevoked {
                family,
                reason,
                possible_repeat,
            } => {
                use token_engine::RevocationReason as R;
                if matches!(
                    reason,
                    R::ReuseDetected | R::BindingMismatch | R::CodeReplayed
                ) {
                    tracing::warn!(
                        target: TARGET,
                        event = "family_revoked",
                        family = %family,
                        reason = reason.as_str(),
                        possible_repeat = *possible_repeat,
                        "session revoked"
                    );
                } else {
                    tracing::info!(
                        target: TARGET,
                        event = "family_revoked",
                        family = %family,
                        reason = reason.as_str(),
                        possible_repeat = *possible_repeat,
                        "session revoked"
                    );
                }
            }
            Event::ReauthenticationRequired {
                family,
                subject,
                possible_repeat,
            } => tracing::warn!(
                target: TARGET,
                event = "reauthentication_required",
                family = %family,
                subject = %subject,
                possible_repeat = *possible_repeat,
                "security policy changed: the user must sign in again"
            ),
            Event::RefreshRejected { family, reason } => tracing::debug!(
                target: TARGET,
                event = "refresh_rejected",
                family = family.as_ref().map(tracing::field::display),
                reason = %reason,
                "refresh rejected"
            ),
            Event::JwksRefreshed {
                url,
                trigger,
                keys,
                skipped,
            } => tracing::info!(
                target: TARGET,
                event = "jwks_refreshed",
                url = %url,
                trigger = ?trigger,
                keys = *keys,
                skipped = skipped.len(),
                "JWK Set refreshed"
            ),
            Event::JwksRefreshFailed {
                url,
                trigger,
                reason,
            } => tracing::warn!(
                target: TARGET,
                event = "jwks_refresh_failed",
                url = %url,
                trigger = ?trigger,
                reason = ?reason,
                "JWK Set refresh failed; keys unchanged"
            ),
            Event::VerificationFailed { reason } => tracing::debug!(
                target: TARGET,
                event = "verification_failed",
                reason = %reason,
                "access token rejected"
            ),
            other => tracing::info!(target: TARGET, event = ?other, "token engine event"),
        }
    }
}
