//! Refused events in the audit trail: each refusal is audited with ids and the rule only
//! (never a signaling body), and a flood of the same refusal costs a bounded number of
//! entries per socket ([`vytalcall_domain::denials`]): the first few per window one by one,
//! the rest as one summary with their count, written when the window ends or the socket goes.

use super::Hub;
use super::session::{RefusalKind, Session};
use crate::audit::{self, Action, Outcome};
use serde_json::json;
use socketioxide::adapter::Adapter;
use vytalcall_domain::CallId;
use vytalcall_domain::denials::{Summary, Verdict};

/// Audits a refused relay: ids and the rule only, never the signaling body.
pub(super) async fn deny<A: Adapter>(
    hub: &Hub<A>,
    session: &Session,
    call: CallId,
    event: &'static str,
    why: &'static str,
) {
    deny_as(hub, session, Action::SignalRelay, call, event, why).await;
}

/// Audits a refused event as `action`, denied: ids and the rule only. Of a flood of the same
/// refusal only the first few per window are written; the rest become one summary entry
/// ([`vytalcall_domain::denials`]), so the trail grows by a bounded amount per socket.
pub(super) async fn deny_as<A: Adapter>(
    hub: &Hub<A>,
    session: &Session,
    action: Action,
    call: CallId,
    event: &'static str,
    why: &'static str,
) {
    let (verdict, ended) = session.refused((action, event, why), crate::now_millis());
    if let Some(summary) = ended {
        audit_summary(hub, session, &summary).await;
    }
    if verdict == Verdict::Write {
        let detail = json!({ "event": event, "reason": why });
        write_denial(
            hub,
            session.actor.fact(action, Some(call), None, Outcome::Denied, detail),
        )
        .await;
    }
}

/// One entry for refusals that were counted rather than written: how many, since when.
async fn audit_summary<A: Adapter>(hub: &Hub<A>, session: &Session, summary: &Summary<RefusalKind>) {
    let (action, event, why) = &summary.kind;
    let detail = json!({
        "event": event,
        "reason": why,
        "repeated": summary.suppressed,
        "since": crate::calls::view::iso(summary.since),
    });
    write_denial(hub, session.actor.fact(*action, None, None, Outcome::Denied, detail)).await;
}

/// The socket is going: its counted refusals get their summaries now.
pub(super) async fn summarise_refusals<A: Adapter>(hub: &Hub<A>, session: &Session) {
    for summary in session.unsummarised_refusals() {
        audit_summary(hub, session, &summary).await;
    }
}

async fn write_denial<A: Adapter>(hub: &Hub<A>, fact: vytalcall_domain::audit::AuditFact) {
    let action = fact.action.clone();
    if let Err(e) = audit::record(&hub.state.db, fact).await {
        tracing::warn!(error = %e, action, "could not audit a refused event");
    }
}
