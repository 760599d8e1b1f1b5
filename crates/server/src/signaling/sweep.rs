//! Signaling's once-a-second upkeep: presence maintenance (heartbeat, devices of dead nodes,
//! re-publishing after the store lost them), the departures kept for retry, grace expiry,
//! and quality-stats requests to silent participants.

use super::session::Session;
use super::{Hub, NAMESPACE, departures, wire};
use socketioxide::adapter::Adapter;
use std::sync::Arc;

impl<A: Adapter> Hub<A> {
    /// Once a second: end the grace of users who did not come back, and ask silent
    /// participants for quality stats.
    pub(super) async fn sweep(self: Arc<Self>) {
        {
            let now = crate::now_millis();
            let store_answered = match self.presence.maintain(now).await {
                Ok(m) => {
                    if m.resync {
                        self.resync().await;
                    }
                    for (call, user) in m.dropped {
                        if let Err(e) = self.state.calls.devices_lost_with_node(call, user).await {
                            tracing::warn!(error = %e, call_id = %call, "could not close the devices of a dead node");
                        }
                        departures::announce_disconnected(&self, call, user, now).await;
                    }
                    true
                }
                Err(e) => {
                    tracing::warn!(error = %e, "presence upkeep failed");
                    false
                }
            };
            // Only after an upkeep that reached the store (had it come back empty, that upkeep
            // published the departed devices again first, so their departures mean something)
            // and once the pub/sub link answers too, or the announcements would be lost.
            if store_answered && !self.pending_departures().is_empty() && self.redis_answers().await {
                self.retry_departures().await;
            }
            match self.presence.expire(now, self.limits.grace_ms).await {
                Ok(expired) => {
                    for expired in expired {
                        if let Err(e) = departures::grace_expired(&self, &expired).await {
                            tracing::warn!(error = %e, call_id = %expired.call, "grace expiry failed");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "grace expiry sweep failed"),
            }
            self.request_silent_stats(now);
        }
    }

    /// The shared store lost this node's devices (or never had them): publish them again.
    async fn resync(&self) {
        let Some(ns) = self.io.of(NAMESPACE) else {
            return;
        };
        let mut devices = 0usize;
        for s in ns.sockets() {
            let Some(session) = s.extensions.get::<Arc<Session>>() else {
                continue;
            };
            let calls: Vec<_> = session.state().calls.keys().copied().collect();
            for call in calls {
                match self.presence.join(call, session.caller.user, session.sid.clone()).await {
                    Ok(_) => devices += 1,
                    Err(e) => {
                        tracing::warn!(error = %e, "presence resync failed");
                        return;
                    }
                }
            }
        }
        // Devices that went away during the outage are published too, so that their
        // departures, retried next, tell the call what happened (instead of the user
        // vanishing without a word).
        let departed: Vec<_> = self.pending_departures().clone();
        for d in departed {
            if let Err(e) = self.presence.join(d.call, d.user, d.device.clone()).await {
                tracing::warn!(error = %e, "presence resync failed");
                return;
            }
            devices += 1;
        }
        if devices > 0 {
            tracing::info!(devices, "presence published again after the store lost it");
        }
    }

    fn request_silent_stats(&self, now: i64) {
        let Some(ns) = self.io.of(NAMESPACE) else {
            return;
        };
        for s in ns.sockets() {
            let Some(session) = s.extensions.get::<Arc<Session>>() else {
                continue;
            };
            for call in session.silent_calls(now, self.limits.quality_silence_ms) {
                wire::emit(&s, &wire::RequestQualityStats { call_id: call });
            }
        }
    }
}
