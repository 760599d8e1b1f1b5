//! Abuse limits for REST: requests per minute per client address (all routes but health
//! probes and metrics) and per authenticated user. Over the limit a client gets 429 with
//! `Retry-After`; other clients are unaffected because each key has its own bucket.

use super::error::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use vytalcall_domain::UserId;

pub struct Limits {
    per_address: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_user: Option<DefaultKeyedRateLimiter<UserId>>,
}

fn limiter<K: Hash + Eq + Clone>(per_minute: u32) -> Option<DefaultKeyedRateLimiter<K>> {
    // A burst of a tenth of the minute's allowance absorbs page loads without letting a
    // flood through.
    let rate = NonZeroU32::new(per_minute)?;
    let burst = NonZeroU32::new((per_minute / 10).max(1))?;
    Some(RateLimiter::keyed(Quota::per_minute(rate).allow_burst(burst)))
}

/// A refusal: 429 with the number of seconds to wait.
#[derive(Debug, Clone, Copy)]
pub struct RateLimited {
    pub retry_after_secs: u64,
}

impl IntoResponse for RateLimited {
    fn into_response(self) -> Response {
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "too many requests; slow down",
        )
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&self.retry_after_secs.max(1).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

fn check<K: Hash + Eq + Clone>(limiter: &Option<DefaultKeyedRateLimiter<K>>, key: &K) -> Result<(), RateLimited> {
    match limiter.as_ref().map(|l| l.check_key(key)) {
        Some(Err(not_until)) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            metrics::counter!("vytalcall_rate_limited_total").increment(1);
            Err(RateLimited {
                retry_after_secs: wait.as_secs_f64().ceil() as u64,
            })
        }
        _ => Ok(()),
    }
}

impl Limits {
    pub fn new(per_address_per_minute: u32, per_user_per_minute: u32) -> Limits {
        Limits {
            per_address: limiter(per_address_per_minute),
            per_user: limiter(per_user_per_minute),
        }
    }

    pub fn check_user(&self, user: UserId) -> Result<(), RateLimited> {
        check(&self.per_user, &user)
    }

    /// Spends one of `address`'s requests: a Socket.IO handshake costs what a REST request
    /// costs, so opening sockets in a loop meets the same limit as calling the API in one.
    pub fn check_address(&self, address: IpAddr) -> Result<(), RateLimited> {
        check(&self.per_address, &address)
    }

    /// Forgets idle clients so the limiters' memory stays bounded.
    pub fn forget_idle(&self) {
        if let Some(l) = &self.per_address {
            l.retain_recent();
        }
        if let Some(l) = &self.per_user {
            l.retain_recent();
        }
    }
}

/// Middleware: the per-address limit. Probes and metrics scrapes are exempt.
pub async fn per_address(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let exempt = matches!(req.uri().path(), "/healthz" | "/readyz" | "/metrics");
    let addr = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    if let (false, Some(ip)) = (exempt, addr)
        && let Err(refused) = check(&state.limits.per_address, &ip)
    {
        return refused.into_response();
    }
    next.run(req).await
}
