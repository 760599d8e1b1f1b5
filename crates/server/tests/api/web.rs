//! The embedded web app: served at `/` and `/assets/*` with the right content types and a
//! strict Content-Security-Policy; unknown assets and API paths still answer problem+json.

use crate::helpers::*;
use reqwest::StatusCode;

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test]
async fn the_app_page_is_served_at_the_root_with_a_strict_policy() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/")).send().await.expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
    let csp = header(&r, "content-security-policy").to_string();
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    let host = app.base.trim_start_matches("http://");
    assert!(
        csp.contains(&format!("connect-src 'self' ws://{host} wss://{host};")),
        "{csp}"
    );
    assert!(csp.contains("media-src 'self' blob:"), "{csp}");
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    let body = r.text().await.expect("body");
    assert!(
        body.contains(r#"<script type="module" src="/assets/app.js">"#),
        "{body}"
    );
    assert!(!body.contains("<script>"), "no inline script: {body}");
}

#[tokio::test]
async fn assets_are_served_with_their_content_types_and_revalidated_by_etag() {
    let app = spawn_app().await;
    for (path, ty) in [
        ("/assets/app.js", "text/javascript; charset=utf-8"),
        ("/assets/app.css", "text/css; charset=utf-8"),
        ("/assets/icon.svg", "image/svg+xml"),
    ] {
        let r = app.http.get(app.url(path)).send().await.expect("request");
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&r, "content-type"), ty, "{path}");
        assert!(header(&r, "content-security-policy").contains("script-src 'self'"));
        let etag = header(&r, "etag").to_string();
        assert!(etag.starts_with('"') && etag.len() > 10, "{path}: etag {etag}");
        let again = app
            .http
            .get(app.url(path))
            .header("if-none-match", &etag)
            .send()
            .await
            .expect("request");
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
    }
}

#[tokio::test]
async fn an_unknown_asset_is_a_problem_404() {
    let app = spawn_app().await;
    for path in [
        "/assets/nope.js",
        "/assets/../index.html",
        "/assets/%2e%2e/index.html",
        "/assets/.hidden",
        "/index.html",
    ] {
        let r = app.http.get(app.url(path)).send().await.expect("request");
        assert_eq!(header(&r, "content-type"), "application/problem+json", "{path}");
        expect_problem(r, StatusCode::NOT_FOUND, None).await;
    }
}

#[tokio::test]
async fn api_paths_are_not_shadowed_by_the_app() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(app.url("/webrtc/no-such-thing"))
        .send()
        .await
        .expect("request");
    expect_problem(r, StatusCode::NOT_FOUND, None).await;
    let r = app.http.get(app.url("/webrtc/calls")).send().await.expect("request");
    expect_problem(r, StatusCode::UNAUTHORIZED, None).await;
}

#[tokio::test]
async fn the_page_learns_the_clinic_and_the_retention_from_app_config() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/app-config.json")).send().await.expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["clinicName"], "vytalcall");
    assert_eq!(body["clinicLogoUrl"], serde_json::Value::Null);
    assert_eq!(body["recordingRetentionDays"], 365);
    let r = app.http.get(app.url("/clinic-logo")).send().await.expect("request");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let dir = tempfile::tempdir().expect("tempdir");
    let logo = dir.path().join("logo.svg");
    std::fs::write(
        &logo,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>"#,
    )
    .expect("write logo");
    let logo = logo.display().to_string();
    let app = spawn_app_with(&[
        ("CLINIC_NAME", "Riverside Clinic"),
        ("CLINIC_LOGO_FILE", &logo),
        ("RECORDING_RETENTION_DAYS", "30"),
    ])
    .await;
    let body = app.public_json("/app-config.json").await;
    assert_eq!(body["clinicName"], "Riverside Clinic");
    assert_eq!(body["clinicLogoUrl"], "/clinic-logo");
    assert_eq!(body["recordingRetentionDays"], 30);
    let r = app.http.get(app.url("/clinic-logo")).send().await.expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-type"), "image/svg+xml");
    assert!(header(&r, "content-security-policy").starts_with("default-src 'none'"));
    assert!(r.text().await.expect("body").starts_with("<svg"));
}
