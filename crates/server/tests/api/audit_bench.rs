//! Audit append throughput (ignored: not part of the suite; run by hand, figures in
//! docs/audit-trail.md):
//! `cargo test -p vytalcall --test api audit_bench -- --ignored --nocapture`
//! (add `VYTALCALL_TEST_DB=postgres` for PostgreSQL). Appends `VYTALCALL_BENCH_APPENDS`
//! (default 2000) facts one after the other, then the same number from 8 writers at once,
//! each in a transaction of its own, and prints appends per second.

use crate::helpers::*;
use std::time::Instant;
use vytalcall::audit::{Actor, Outcome};

async fn append_n(app: &TestApp, n: usize) {
    for _ in 0..n {
        let fact = Actor::system().fact(
            vytalcall::audit::Action::CallView,
            None,
            None,
            Outcome::Success,
            serde_json::json!({}),
        );
        vytalcall::audit::record(&app.db, fact).await.expect("append");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run by hand"]
async fn audit_bench_appends_per_second() {
    let n: usize = std::env::var("VYTALCALL_BENCH_APPENDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let app = spawn_app().await;
    append_n(&app, 50).await; // warm the pool
    let started = Instant::now();
    append_n(&app, n).await;
    let one = n as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let writers = (0..8).map(|_| append_n(&app, n / 8));
    futures_util::future::join_all(writers).await;
    let eight = (n / 8 * 8) as f64 / started.elapsed().as_secs_f64();
    let backend = if test_database_is_postgres() {
        "postgres"
    } else {
        "sqlite"
    };
    println!("audit appends per second ({backend}): {one:.0} from one writer, {eight:.0} from 8 writers");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log").await as usize,
        50 + n + n / 8 * 8
    );
}
