//! Background triggers: loops that choose *which* functions to re-decide and *when*, and hand them
//! to the service's one decision path ([`Service::decide`]); they never sequence a decision
//! themselves, so audit, metrics, logs and conflict retries apply to them as to a webhook.
//!
//! - The settle pass, every `policy.settle_interval_secs`: AlertManager sends a resolution once, so
//!   a scale-down held by the stabilization window would otherwise stay held.
//! - The follow-up pass, every `policy.follow_up_interval_secs`: while a capacity alert fires,
//!   AlertManager repeats it only every repeat_interval (and Prometheus resends its annotations
//!   only every minute), so the desired count is re-read from Prometheus and re-decided.
//! - The label refresh, every [`LABEL_REFRESH`]: re-exports per-function label series (latency
//!   targets) from a listing, so `/metrics` never calls the backend.

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use futures_util::FutureExt;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::error::BackendError;
use crate::service::Service;

/// How often per-function label series are rebuilt from a listing.
pub(crate) const LABEL_REFRESH: Duration = Duration::from_secs(60);

/// Run the settle pass and the label refresh until aborted.
pub fn spawn(service: Service) -> JoinHandle<()> {
    spawn_until(service, std::future::pending())
}

/// As [`spawn`], until `stop` completes: no pass starts after it, and a pass in flight then
/// finishes (its decisions are written and recorded) before the task ends. On shutdown, serve
/// stops the loop at the signal and waits for it within the grace period, as for webhooks.
pub fn spawn_until(
    service: Service,
    stop: impl Future<Output = ()> + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        tokio::pin!(stop);
        let every = service.settings().policy.settle_interval_secs;
        let mut settle = (every > 0).then(|| interval(Duration::from_secs(every)));
        let follow_every = service.settings().policy.follow_up_interval_secs;
        let mut follow = (follow_every > 0).then(|| interval(Duration::from_secs(follow_every)));
        let mut refresh = interval(LABEL_REFRESH);
        loop {
            let pass = tokio::select! {
                () = &mut stop => break,
                _ = tick(&mut settle) => Pass::Settle,
                _ = tick(&mut follow) => Pass::FollowUp,
                _ = refresh.tick() => Pass::Refresh,
            };
            // A stop that came with the tick wins: no pass starts after it.
            if stop.as_mut().now_or_never().is_some() {
                break;
            }
            match pass {
                Pass::Settle => {
                    if service.backend().leads_passes().await && !settle_pass(&service).await {
                        settle = None;
                    }
                }
                Pass::FollowUp => {
                    service.follow_up(Utc::now()).await;
                }
                Pass::Refresh => {
                    if let Err(e) = service.refresh_label_exports().await {
                        debug!(error = %e, "label refresh failed; the next one tries again");
                    }
                }
            }
        }
    })
}

/// Which loop's tick came.
enum Pass {
    Settle,
    FollowUp,
    Refresh,
}

fn interval(every: Duration) -> tokio::time::Interval {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// One settle pass; `false` when the backend cannot list, so the loop stops trying.
async fn settle_pass(service: &Service) -> bool {
    match service.settle(Utc::now()).await {
        Ok(_) => true,
        Err(e @ BackendError::Unsupported(_)) => {
            warn!(error = %e, backend = service.backend().name(), "backend cannot list functions: held-back scale-downs finish only on the next alert");
            false
        }
        Err(e) => {
            warn!(error = %e, backend = service.backend().name(), "settle pass failed");
            true
        }
    }
}
