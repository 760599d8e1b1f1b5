//! The operator's recording commands: `recording export`, `recording rewrap` and
//! `retention run`. They run
//! beside a live server, so they never recover (close) its running recordings.

use crate::config::Settings;
use crate::recording::{RecordingService, upkeep};
use crate::storage::Db;
use std::path::Path;
use std::sync::Arc;
use vytalcall_domain::RecordingId;

/// The recording service as the server would run it, without start-up recovery.
async fn operator_service(settings: &Settings) -> anyhow::Result<Arc<RecordingService>> {
    let db = Db::open(settings).await?;
    upkeep::open_service(settings, db, upkeep::OpenFor::Operator)
        .await
        .map(|(service, _)| service)
}

/// `vytalcall recording export <id> <file>`.
/// The file is created 0600 and never overwritten; the audit entry names `operator` (or
/// the OS user).
pub(super) async fn export(
    settings: &Settings,
    id: RecordingId,
    out: &Path,
    operator: Option<String>,
) -> anyhow::Result<()> {
    let operator = operator.unwrap_or_else(crate::audit::os_user);
    let service = operator_service(settings).await?;
    let bytes = service.export(id, out, &operator).await?;
    println!("exported {bytes} bytes of WebM to {}", out.display());
    Ok(())
}

/// `vytalcall recording rewrap [--max N] [--operator NAME]`: prints what was done and what
/// is left; every rewrapped recording is audited under `operator` (or the OS user).
pub(super) async fn rewrap(settings: &Settings, max: Option<u64>, operator: Option<String>) -> anyhow::Result<()> {
    let operator = operator.unwrap_or_else(crate::audit::os_user);
    let service = operator_service(settings).await?;
    let max = max.map(|m| usize::try_from(m).unwrap_or(usize::MAX));
    let summary = service.rewrap(max, &operator).await?;
    println!("{summary}");
    if !summary.unreadable.is_empty() {
        anyhow::bail!(
            "{} recording key(s) could not be rewrapped (see above)",
            summary.unreadable.len()
        );
    }
    Ok(())
}

/// `vytalcall retention run`.
pub(super) async fn retention(settings: &Settings) -> anyhow::Result<()> {
    let service = operator_service(settings).await?;
    let n = service.run_retention(crate::now_millis()).await?;
    println!(
        "deleted {n} expired recording(s) (retention {} days)",
        settings.recording_retention_days
    );
    Ok(())
}
