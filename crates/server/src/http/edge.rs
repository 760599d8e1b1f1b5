//! What every request meets before any route: the client address behind trusted proxies,
//! a deadline for the whole request, and HSTS when vytalcall itself serves TLS.
//!
//! hyper only times the request head (`HTTP_HEADER_READ_TIMEOUT_SECONDS`); a client that
//! then trickles its body a byte a second would hold a connection and a handler for as long
//! as it likes. REST requests therefore get one deadline for the whole exchange up to the
//! response (`HTTP_REQUEST_TIMEOUT_SECONDS`, default 30), answered 408 problem+json; the
//! Socket.IO endpoint, whose long-polling requests legitimately wait, gets a deadline per
//! body frame instead.

use super::client_addr;
use super::error::ApiError;
use crate::config::Settings;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use std::time::Duration;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;

/// Two years, the value browsers' preload lists ask for.
const HSTS: &str = "max-age=63072000; includeSubDomains";

/// The REST router with its whole-request deadline.
pub fn with_deadline(rest: Router, settings: &Settings) -> Router {
    let limit = Duration::from_secs(settings.request_timeout_seconds.max(1));
    rest.layer(middleware::from_fn_with_state(limit, deadline))
}

/// The layers around everything served on the port (REST, Socket.IO and the web app).
pub fn around(app: Router, settings: &Settings) -> Router {
    let frame_limit = Duration::from_secs(settings.request_timeout_seconds.max(1));
    let app = app
        .layer(RequestBodyTimeoutLayer::new(frame_limit))
        .layer(middleware::from_fn_with_state(
            settings.trusted_proxies.clone(),
            client_addr::resolve,
        ));
    if settings.tls.is_some() {
        app.layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        ))
    } else {
        app
    }
}

/// HTTP/2 (offered with in-binary TLS) multiplexes many requests on one connection, so its
/// limits are per connection: a bounded number of concurrent streams and of header bytes,
/// a cap on streams a client resets before we answer (the "rapid reset" flood), and
/// keep-alive pings that find dead peers. Each stream still meets the request deadline.
pub fn limit_http2(builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>) {
    builder
        .http2()
        .max_concurrent_streams(100)
        .max_header_list_size(16 * 1024)
        .max_pending_accept_reset_streams(20)
        .max_local_error_reset_streams(100)
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10))
        .timer(hyper_util::rt::TokioTimer::new());
}

async fn deadline(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            metrics::counter!("vytalcall_http_request_timeouts_total").increment(1);
            let mut response = ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request-timeout",
                "the request was not completed in time; send it again",
            )
            .into_response();
            // The rest of a trickled body is not worth reading: close the connection.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    }
}
