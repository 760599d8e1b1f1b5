//! The top-of-the-hour surge: N call pairs arrive at once. Each pair creates its call (REST,
//! for vytalcall), connects both sockets through the real handshake, joins, and exchanges an
//! offer and an answer, all pairs together (at most `--concurrency` handshakes and REST
//! calls in flight, as a burst of browsers behind one loopback would be). Measured: joins
//! acknowledged per second over the whole surge (calls created included), each join's
//! acknowledgement time, and the time until every pair has exchanged its offer and answer.

use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::measure::*;
use crate::scenarios::{create_call, sdp};
use crate::socketio::*;
use crate::{Cli, Kind};

/// What one pair measured: its two joins' acknowledgement times, and when (since the surge
/// began) its offer and answer were both acknowledged.
struct PairTimes {
    joins_ns: [u64; 2],
    negotiated_ns: u64,
}

async fn one_pair(cli: Arc<Cli>, sem: Arc<Semaphore>, stats: Arc<Stats>, t0: Instant) -> Result<PairTimes, String> {
    let (prov, pat) = (Uuid::new_v4(), Uuid::new_v4());
    let (call, provider, patient) = {
        let _slot = sem.acquire().await.map_err(|e| e.to_string())?;
        let call = create_call(&cli, prov, pat).await?;
        let pt = token(&cli.secret, prov, "provider");
        let provider = connect(&cli.addr, &pt, prov, stats.clone(), None).await?;
        let qt = token(&cli.secret, pat, "patient");
        let patient = connect(&cli.addr, &qt, pat, stats.clone(), None).await?;
        (call, provider, patient)
    };
    let join = json!({ "callId": call });
    let timed = |conn: Arc<Conn>, body: Value| async move {
        let t = Instant::now();
        conn.call("join-call", &body)
            .await
            .map(|_| t.elapsed().as_nanos() as u64)
    };
    let (a, b) = tokio::join!(timed(provider.clone(), join.clone()), timed(patient.clone(), join));
    let joins_ns = [a?, b?];
    let offer = json!({ "callId": call, "targetUserId": patient.user, "offer": { "type": "offer", "sdp": sdp("offer", now_ns()) } });
    provider.call("offer", &offer).await?;
    let answer = json!({ "callId": call, "targetUserId": provider.user, "answer": { "type": "answer", "sdp": sdp("answer", now_ns()) } });
    patient.call("answer", &answer).await?;
    let negotiated_ns = t0.elapsed().as_nanos() as u64;
    let leave = json!({ "callId": call, "reason": "visit complete" });
    let _ = provider.call("leave-call", &leave).await;
    let _ = patient.call("leave-call", &leave).await;
    Ok(PairTimes {
        joins_ns,
        negotiated_ns,
    })
}

pub(crate) async fn run_surge(cli: &Cli, pairs: usize) -> Value {
    let pid = cli.server_pid;
    let cli = Arc::new(cli.clone_for_tasks());
    let stats = Arc::new(Stats::default());
    let sem = Arc::new(Semaphore::new(cli.concurrency));
    let mark = cpu_mark(pid);
    let rss0 = proc_rss_kb(pid);
    let t0 = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..pairs {
        set.spawn(one_pair(cli.clone(), sem.clone(), stats.clone(), t0));
    }
    let mut joins = Vec::with_capacity(2 * pairs);
    let mut negotiated_ns = 0u64;
    let mut done = 0usize;
    let mut failures: Vec<String> = Vec::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(p)) => {
                joins.extend(p.joins_ns);
                negotiated_ns = negotiated_ns.max(p.negotiated_ns);
                done += 1;
            }
            Ok(Err(e)) => failures.push(e),
            Err(e) => failures.push(e.to_string()),
        }
    }
    let (srv_cpu, gen_cpu) = cpu_since(&mark, pid);
    let rss1 = proc_rss_kb(pid);
    joins.sort_unstable();
    let surge_secs = negotiated_ns as f64 / 1e9;
    eprintln!(
        "surge: {done} of {pairs} pairs joined and negotiated in {surge_secs:.2}s ({} failed)",
        failures.len()
    );
    failures.truncate(3);
    json!({
        "run": "surge", "pairs": pairs, "server": if cli.server == Kind::Vytalcall { "vytalcall" } else { "node" },
        "pairs_done": done, "failures": failures,
        "joins_per_sec": joins.len() as f64 / surge_secs.max(1e-9),
        "join_ack_p50_ms": percentile(&joins, 50.0) / 1000.0, "join_ack_p99_ms": percentile(&joins, 99.0) / 1000.0,
        "all_negotiated_secs": surge_secs,
        "server_cpu_pct": srv_cpu, "gen_cpu_pct": gen_cpu,
        "rss_before_kb": rss0, "rss_after_kb": rss1,
    })
}
