//! Webhooks through the real server: the admin routes and their refusals (SSRF included),
//! a call's events arriving signed and in order at a receiver on a real socket, a rolled-back
//! change producing nothing, retries with backoff visible in the deliveries list, giving up,
//! and redelivery with the same `webhook-id`. Nothing here waits a fixed time: each test
//! polls for the state it expects, with a generous deadline.

use crate::helpers::*;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxStatus};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vytalcall::audit::{Action, Actor, Outcome};
use vytalcall_domain::webhook::{Secret, signature};

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    id: String,
    timestamp: i64,
    signature: String,
    body: String,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    /// The status it answers; 200 unless a test says otherwise.
    status: Arc<AtomicU16>,
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let receiver = Receiver::default();
        receiver.status.store(200, Ordering::SeqCst);
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://127.0.0.1:{}/hook", listener.local_addr().expect("addr").port());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    fn all(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }

    /// Waits until `enough` holds for what arrived; panics after 30 s.
    async fn wait_for(&self, what: &str, enough: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.all();
            if enough(&got) {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "waited 30 s for {what}; got {got:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: String) -> AxStatus {
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    r.got.lock().expect("lock").push(Received {
        id: h("webhook-id"),
        timestamp: h("webhook-timestamp").parse().unwrap_or(0),
        signature: h("webhook-signature"),
        body,
    });
    AxStatus::from_u16(r.status.load(Ordering::SeqCst)).unwrap_or(AxStatus::OK)
}

fn types(got: &[Received], call: &str) -> Vec<String> {
    got.iter()
        .map(Received::json)
        .filter(|b| b["data"]["callId"] == call)
        .map(|b| b["type"].as_str().unwrap_or("").to_string())
        .collect()
}

async fn add_endpoint(app: &TestApp, admin: &User, url: &str, events: Value) -> (String, Secret) {
    let r = app
        .post(admin, "/webrtc/webhooks", json!({ "url": url, "events": events }))
        .await;
    let body = expect_status(r, StatusCode::CREATED).await;
    let secret = Secret::parse(body["secret"].as_str().expect("secret")).expect("a whsec_ secret");
    (body["id"].as_str().expect("id").to_string(), secret)
}

async fn deliveries(app: &TestApp, admin: &User, endpoint: &str) -> Vec<Value> {
    let r = app.get(admin, &format!("/webrtc/webhooks/{endpoint}/deliveries")).await;
    let body = expect_status(r, StatusCode::OK).await;
    body["deliveries"].as_array().expect("deliveries").clone()
}

/// Waits until the endpoint's deliveries satisfy `enough`; panics after 30 s.
async fn wait_deliveries(
    app: &TestApp,
    admin: &User,
    endpoint: &str,
    what: &str,
    enough: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got = deliveries(app, admin, endpoint).await;
        if enough(&got) {
            return got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited 30 s for {what}; deliveries {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn private_allowed() -> TestApp {
    spawn_app_with(&[
        ("WEBHOOK_ALLOW_PRIVATE", "true"),
        ("WEBHOOK_RETRY_BASE_SECONDS", "1"),
        ("WEBHOOK_RETRY_MAX_SECONDS", "1"),
    ])
    .await
}

#[tokio::test]
async fn only_admins_manage_webhooks_and_every_refusal_is_a_problem_naming_the_field() {
    let app = spawn_app().await;
    let c = cast();
    for who in [&c.provider, &c.patient] {
        let r = app
            .post(who, "/webrtc/webhooks", json!({ "url": "https://hooks.example.com/" }))
            .await;
        expect_problem(r, StatusCode::FORBIDDEN, None).await;
        expect_problem(app.get(who, "/webrtc/webhooks").await, StatusCode::FORBIDDEN, None).await;
    }
    let bad = [
        (json!({ "url": "ftp://hooks.example.com/" }), "url"),
        (json!({ "url": 7 }), "url"),
        (
            json!({ "url": "https://hooks.example.com/", "events": ["call.created", "call.nope"] }),
            "events[1]",
        ),
        (
            json!({ "url": "https://hooks.example.com/", "events": ["waiting-room.left"] }),
            "events[0]",
        ),
    ];
    for (body, field) in bad {
        let r = app.post(&c.admin, "/webrtc/webhooks", body.clone()).await;
        expect_problem(r, StatusCode::UNPROCESSABLE_ENTITY, Some(field)).await;
    }
    let r = app.get(&c.admin, "/webrtc/webhooks/not-a-uuid/deliveries").await;
    expect_problem(r, StatusCode::BAD_REQUEST, Some("id")).await;
    let r = app
        .get(
            &c.admin,
            &format!("/webrtc/webhooks/{}/deliveries", uuid::Uuid::new_v4()),
        )
        .await;
    expect_problem(r, StatusCode::NOT_FOUND, None).await;
    let audited = app.audit_entries().await;
    let denied = audited
        .iter()
        .filter(|(a, o, _, _)| a.starts_with("webhook.") && o == "denied")
        .count();
    assert_eq!(denied, 4, "each refused admin action is audited: {audited:?}");
}

#[tokio::test]
async fn targets_on_loopback_link_local_private_or_unspecified_addresses_are_refused() {
    let app = spawn_app().await;
    let admin = user("admin");
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.8/hook",
        "http://192.168.1.1/hook",
        "http://[fd00::1]/hook",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
        "http://[::ffff:127.0.0.1]/hook",
    ] {
        let r = app.post(&admin, "/webrtc/webhooks", json!({ "url": url })).await;
        let problem = expect_problem(r, StatusCode::UNPROCESSABLE_ENTITY, Some("url")).await;
        assert!(
            problem["detail"]
                .as_str()
                .unwrap_or("")
                .contains("WEBHOOK_ALLOW_PRIVATE"),
            "{url}: {problem}"
        );
    }
    let listed = expect_status(app.get(&admin, "/webrtc/webhooks").await, StatusCode::OK).await;
    assert_eq!(listed["endpoints"], json!([]));
}

#[tokio::test]
async fn a_call_s_events_arrive_signed_in_order_with_ids_and_no_names() {
    let app = private_allowed().await;
    let (receiver, url) = Receiver::start().await;
    let c = cast();
    let (_, secret) = add_endpoint(&app, &c.admin, &url, json!(["*"])).await;
    let call = app.active_call(&c.provider, &c.patient).await;
    let r = app
        .post(
            &c.provider,
            &format!("/webrtc/calls/{call}/end"),
            json!({ "reason": "Visit done" }),
        )
        .await;
    expect_status(r, StatusCode::OK).await;
    let got = receiver
        .wait_for("the call's four events", |got| types(got, &call).len() >= 4)
        .await;
    assert_eq!(
        types(&got, &call),
        ["call.created", "call.ringing", "call.answered", "call.ended"]
    );
    for r in &got {
        assert!(r.id.starts_with("msg_"), "{r:?}");
        assert_eq!(r.signature, signature(&secret, &r.id, r.timestamp, r.body.as_bytes()));
        assert!((now() - r.timestamp).abs() < 300, "the timestamp is the attempt's");
        assert!(!r.body.contains("Test User"), "no names in webhook bodies: {}", r.body);
    }
    let ended = got
        .iter()
        .map(Received::json)
        .find(|b| b["type"] == "call.ended")
        .expect("ended");
    assert_eq!(ended["data"]["status"], "ended");
    assert_eq!(ended["data"]["from"], "active");
    assert_eq!(ended["data"]["reason"], "Visit done");
    assert_eq!(ended["data"]["actorId"], c.provider.id.to_string());
    assert!(ended["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
}

#[tokio::test]
async fn a_change_that_rolls_back_produces_no_event_and_one_that_commits_does() {
    let app = private_allowed().await;
    let (receiver, url) = Receiver::start().await;
    let c = cast();
    add_endpoint(&app, &c.admin, &url, json!(["call.ended"])).await;
    let call: vytalcall_domain::CallId = uuid::Uuid::new_v4().to_string().parse().expect("id");
    let fact = |reason: &str| {
        Actor::system().fact(
            Action::CallEnd,
            Some(call),
            None,
            Outcome::Success,
            json!({ "from": "active", "to": "ended", "reason": reason }),
        )
    };
    let events = "SELECT COUNT(*) FROM webhook_events";
    let mut tx = app.db.pool.begin().await.expect("begin");
    vytalcall::storage::audit::append(&app.db, &mut tx, fact("rolled back"))
        .await
        .expect("append");
    tx.rollback().await.expect("rollback");
    assert_eq!(app.count(events).await, 0, "a rolled-back change leaves no event");
    let mut tx = app.db.pool.begin().await.expect("begin");
    vytalcall::storage::audit::append(&app.db, &mut tx, fact("committed"))
        .await
        .expect("append");
    tx.commit().await.expect("commit");
    let got = receiver.wait_for("the committed event", |got| !got.is_empty()).await;
    assert_eq!(got[0].json()["data"]["reason"], "committed");
    // A later committed event of another call shows the worker has passed the rolled-back one.
    let other = app.active_call(&c.provider, &c.patient).await;
    expect_status(
        app.post(&c.provider, &format!("/webrtc/calls/{other}/end"), json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    let got = receiver.wait_for("the second call's end", |got| got.len() >= 2).await;
    assert!(
        got.iter().all(|r| r.json()["data"]["reason"] != "rolled back"),
        "{got:?}"
    );
    assert_eq!(app.count(events).await, 2);
}

#[tokio::test]
async fn a_failing_receiver_is_retried_with_backoff_then_given_up_and_redelivered_with_the_same_id() {
    let app = spawn_app_with(&[
        ("WEBHOOK_ALLOW_PRIVATE", "true"),
        ("WEBHOOK_RETRY_BASE_SECONDS", "1"),
        ("WEBHOOK_RETRY_MAX_SECONDS", "1"),
        ("WEBHOOK_RETRY_WINDOW_SECONDS", "3"),
    ])
    .await;
    let (receiver, url) = Receiver::start().await;
    receiver.status.store(503, Ordering::SeqCst);
    let c = cast();
    let (endpoint, _) = add_endpoint(&app, &c.admin, &url, json!(["call.created"])).await;
    let call = app.create_call(&c.provider, &c.patient).await;
    let retried = wait_deliveries(&app, &c.admin, &endpoint, "a retry", |d| {
        d.first().is_some_and(|d| d["attempts"].as_i64() >= Some(2))
    })
    .await;
    let d = &retried[0];
    assert_eq!(d["callId"], call.as_str());
    assert_eq!(d["eventType"], "call.created");
    assert_eq!(d["lastStatus"], 503);
    assert!(d["lastError"].as_str().is_some_and(|e| e.contains("503")), "{d}");
    let failed = wait_deliveries(&app, &c.admin, &endpoint, "giving up", |d| {
        d.first().is_some_and(|d| d["status"] == "failed")
    })
    .await;
    let tries = receiver.all();
    assert!(
        tries.len() >= 2 && tries.iter().all(|t| t.id == tries[0].id),
        "same id on every try: {tries:?}"
    );
    assert_eq!(failed[0]["attempts"].as_i64(), Some(tries.len() as i64));
    // The gaps between tries back off (each at least half the 1 s base).
    for pair in tries.windows(2) {
        assert!(pair[1].timestamp >= pair[0].timestamp, "{tries:?}");
    }

    receiver.status.store(200, Ordering::SeqCst);
    let delivery = failed[0]["id"].as_i64().expect("delivery id");
    let r = app
        .post(
            &c.admin,
            &format!("/webrtc/webhooks/{endpoint}/deliveries/{delivery}/redeliver"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let done = wait_deliveries(&app, &c.admin, &endpoint, "the redelivery", |d| {
        d.first().is_some_and(|d| d["status"] == "delivered")
    })
    .await;
    assert!(done[0]["deliveredAt"].is_string());
    let all = receiver.all();
    assert_eq!(
        all.last().map(|r| r.id.clone()),
        Some(tries[0].id.clone()),
        "the same webhook-id"
    );
    let r = app
        .post(
            &c.admin,
            &format!("/webrtc/webhooks/{endpoint}/deliveries/99999/redeliver"),
            json!({}),
        )
        .await;
    expect_problem(r, StatusCode::NOT_FOUND, None).await;
    let actions: Vec<String> = app.audit_entries().await.into_iter().map(|e| e.0).collect();
    for action in ["webhook.create", "webhook.deliveries", "webhook.redeliver"] {
        assert!(actions.iter().any(|a| a == action), "{action} audited");
    }
}

#[tokio::test]
async fn a_rotated_secret_signs_what_follows_and_a_deleted_endpoint_gets_nothing_more() {
    let app = private_allowed().await;
    let (receiver, url) = Receiver::start().await;
    let c = cast();
    let (endpoint, old) = add_endpoint(&app, &c.admin, &url, json!(["call.created"])).await;
    let listed = expect_status(app.get(&c.admin, "/webrtc/webhooks").await, StatusCode::OK).await;
    assert_eq!(listed["endpoints"][0]["id"], endpoint.as_str());
    assert_eq!(listed["endpoints"][0]["events"], json!(["call.created"]));
    assert!(listed["endpoints"][0].get("secret").is_none(), "secrets are shown once");

    let r = app
        .post(
            &c.admin,
            &format!("/webrtc/webhooks/{endpoint}/rotate-secret"),
            json!({}),
        )
        .await;
    let rotated = expect_status(r, StatusCode::OK).await;
    let new = Secret::parse(rotated["secret"].as_str().expect("secret")).expect("whsec_");
    assert_ne!(new, old);
    app.create_call(&c.provider, &c.patient).await;
    let got = receiver.wait_for("a delivery", |got| !got.is_empty()).await;
    let r = &got[0];
    assert_eq!(r.signature, signature(&new, &r.id, r.timestamp, r.body.as_bytes()));
    assert_ne!(r.signature, signature(&old, &r.id, r.timestamp, r.body.as_bytes()));

    let r = app
        .http
        .delete(app.url(&format!("/webrtc/webhooks/{endpoint}")))
        .bearer_auth(&c.admin.token)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    app.create_call(&c.provider, &c.patient).await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM webhook_events").await,
        1,
        "no endpoint wants it"
    );
    let listed = expect_status(app.get(&c.admin, "/webrtc/webhooks").await, StatusCode::OK).await;
    assert_eq!(listed["endpoints"], json!([]));
    let actions: Vec<String> = app.audit_entries().await.into_iter().map(|e| e.0).collect();
    for action in ["webhook.list", "webhook.rotate_secret", "webhook.delete"] {
        assert!(actions.iter().any(|a| a == action), "{action} audited");
    }
}

#[tokio::test]
async fn the_openapi_document_describes_the_webhook_routes() {
    let app = spawn_app().await;
    let doc: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let paths = doc["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/webrtc/webhooks", "post"),
        ("/webrtc/webhooks", "get"),
        ("/webrtc/webhooks/{id}", "delete"),
        ("/webrtc/webhooks/{id}/rotate-secret", "post"),
        ("/webrtc/webhooks/{id}/deliveries", "get"),
        ("/webrtc/webhooks/{id}/deliveries/{deliveryId}/redeliver", "post"),
    ] {
        let op = &paths.get(path).unwrap_or_else(|| panic!("{path} documented"))[method];
        assert!(
            op["responses"]["403"].is_object(),
            "{method} {path} documents the admin-only 403"
        );
    }
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "CreateWebhookBody",
        "WebhookEndpointWithSecret",
        "WebhookEndpoints",
        "WebhookDeliveries",
    ] {
        assert!(schemas.contains_key(name), "{name} schema");
    }
}

#[tokio::test]
async fn the_environment_s_endpoint_is_listed_and_its_secret_changes_only_through_the_environment() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let app = spawn_app_with(&[
        ("WEBHOOK_URL", "https://hooks.example.com/vytalcall"),
        ("WEBHOOK_SECRET", secret),
    ])
    .await;
    let admin = user("admin");
    let listed = expect_status(app.get(&admin, "/webrtc/webhooks").await, StatusCode::OK).await;
    let env = &listed["endpoints"][0];
    assert_eq!(env["source"], "env");
    assert_eq!(env["url"], "https://hooks.example.com/vytalcall");
    assert_eq!(env["events"], json!(["*"]));
    let id = env["id"].as_str().expect("id");
    let r = app
        .post(&admin, &format!("/webrtc/webhooks/{id}/rotate-secret"), json!({}))
        .await;
    expect_problem(r, StatusCode::CONFLICT, None).await;
}

#[tokio::test]
async fn finished_deliveries_are_pruned_and_pending_ones_kept() {
    let app = private_allowed().await;
    let (receiver, url) = Receiver::start().await;
    let c = cast();
    let (endpoint, _) = add_endpoint(&app, &c.admin, &url, json!(["call.created"])).await;
    app.create_call(&c.provider, &c.patient).await;
    receiver.wait_for("a delivery", |got| !got.is_empty()).await;
    wait_deliveries(&app, &c.admin, &endpoint, "delivered", |d| {
        d.first().is_some_and(|d| d["status"] == "delivered")
    })
    .await;
    receiver.status.store(503, Ordering::SeqCst);
    app.create_call(&c.provider, &c.patient).await;
    wait_deliveries(&app, &c.admin, &endpoint, "a retry", |d| {
        d.first().is_some_and(|d| d["attempts"].as_i64() >= Some(1))
    })
    .await;
    let removed = vytalcall::storage::webhooks::prune(&app.db.pool, now() * 1000 + 60_000)
        .await
        .expect("prune");
    assert_eq!(removed, 1, "the delivered one");
    let left = deliveries(&app, &c.admin, &endpoint).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["status"], "pending");
    assert_eq!(app.count("SELECT COUNT(*) FROM webhook_events").await, 1);
}
