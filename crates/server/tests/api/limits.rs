//! Abuse limits: one client over its allowance gets 429 with `Retry-After`; others go on.

use crate::helpers::*;
use reqwest::StatusCode;

#[tokio::test]
async fn a_user_over_their_limit_is_slowed_down_and_others_are_not() {
    // 20 a minute allows a burst of 2.
    let app = spawn_app_with(&[("RATE_LIMIT_PER_USER_PER_MINUTE", "20")]).await;
    let (greedy, other) = (user("provider"), user("provider"));
    for _ in 0..2 {
        expect_status(app.get(&greedy, "/webrtc/calls").await, StatusCode::OK).await;
    }
    let r = app.get(&greedy, "/webrtc/calls").await;
    let retry_after: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After seconds");
    assert!((1..=3).contains(&retry_after), "{retry_after}");
    expect_problem(r, StatusCode::TOO_MANY_REQUESTS, None).await;
    expect_status(app.get(&other, "/webrtc/calls").await, StatusCode::OK).await;
}

#[tokio::test]
async fn an_address_over_its_limit_is_refused_but_probes_still_answer() {
    let app = spawn_app_with(&[("RATE_LIMIT_PER_ADDRESS_PER_MINUTE", "30")]).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(app.get(&user("patient"), "/webrtc/calls").await.status());
    }
    assert_eq!(&statuses[..3], &[StatusCode::OK; 3]);
    assert_eq!(statuses[4], StatusCode::TOO_MANY_REQUESTS);
    for probe in ["/healthz", "/readyz", "/metrics"] {
        let r = app.http.get(app.url(probe)).send().await.expect("request");
        assert_eq!(r.status(), StatusCode::OK, "{probe}");
    }
}
