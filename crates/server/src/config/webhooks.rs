//! Webhooks: `WEBHOOK_URL` and `WEBHOOK_SECRET` (the one endpoint configured by the
//! environment; more are added over REST), `WEBHOOK_ALLOW_PRIVATE` (let deliveries reach
//! loopback, link-local and private addresses) and the retry policy:
//! `WEBHOOK_RETRY_BASE_SECONDS` (first retry, default 5), `WEBHOOK_RETRY_MAX_SECONDS` (the
//! longest wait between tries, default 3600), `WEBHOOK_RETRY_WINDOW_SECONDS` (give up
//! after, default 86400: 24 hours) and `WEBHOOK_TIMEOUT_SECONDS` (one request, default 10).

use super::ConfigError;
use super::vars::{Vars, invalid};
use vytalcall_domain::webhook::{RetryPolicy, Secret, may_deliver_to};

#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// The endpoint of `WEBHOOK_URL`, with its secret; receives every event.
    pub endpoint: Option<(String, Secret)>,
    pub allow_private: bool,
    pub retry: RetryPolicy,
    pub timeout_seconds: u64,
}

pub(super) fn parse(v: &Vars) -> Result<WebhookSettings, ConfigError> {
    let allow_private = match v.get("WEBHOOK_ALLOW_PRIVATE").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => return Err(invalid("WEBHOOK_ALLOW_PRIVATE", other, "expected true or false")),
    };
    let endpoint = match (v.get("WEBHOOK_URL"), v.get("WEBHOOK_SECRET")) {
        (None, None) => None,
        (Some(url), Some(secret)) => {
            let parsed =
                crate::webhooks::target::parse_url(&url).map_err(|reason| invalid("WEBHOOK_URL", &url, reason))?;
            // An address written into the URL is judged now; a name, before each delivery.
            let literal = parsed
                .host_str()
                .and_then(|h| h.trim_matches(['[', ']']).parse::<std::net::IpAddr>().ok());
            if let Some(Err(class)) = literal.map(|ip| may_deliver_to(ip, allow_private)) {
                let why = format!(
                    "is a {} address; set WEBHOOK_ALLOW_PRIVATE=true to allow it",
                    class.as_str()
                );
                return Err(invalid("WEBHOOK_URL", &url, &why));
            }
            let secret = Secret::parse(&secret).map_err(|e| {
                invalid(
                    "WEBHOOK_SECRET",
                    "(hidden)",
                    &format!("{e} (whsec_ + base64 of 24-64 bytes)"),
                )
            })?;
            Some((url, secret))
        }
        (Some(url), None) => return Err(invalid("WEBHOOK_URL", &url, "needs WEBHOOK_SECRET too")),
        (None, Some(_)) => return Err(invalid("WEBHOOK_SECRET", "(hidden)", "needs WEBHOOK_URL too")),
    };
    let base = v.at_least("WEBHOOK_RETRY_BASE_SECONDS", 5u64, 1, "expected whole seconds")?;
    let max = v.at_least("WEBHOOK_RETRY_MAX_SECONDS", 3600u64, 1, "expected whole seconds")?;
    let window = v.at_least("WEBHOOK_RETRY_WINDOW_SECONDS", 86_400u64, 1, "expected whole seconds")?;
    if window > 30 * 86_400 {
        return Err(invalid(
            "WEBHOOK_RETRY_WINDOW_SECONDS",
            &window.to_string(),
            "must be at most 2592000 (30 days)",
        ));
    }
    let timeout_seconds = v.at_least("WEBHOOK_TIMEOUT_SECONDS", 10u64, 1, "expected whole seconds")?;
    if timeout_seconds > 60 {
        return Err(invalid(
            "WEBHOOK_TIMEOUT_SECONDS",
            &timeout_seconds.to_string(),
            "must be at most 60",
        ));
    }
    Ok(WebhookSettings {
        endpoint,
        allow_private,
        retry: RetryPolicy {
            base_ms: (base.min(86_400) * 1000) as i64,
            max_ms: (max.min(86_400) * 1000) as i64,
            window_ms: (window * 1000) as i64,
        },
        timeout_seconds,
    })
}
