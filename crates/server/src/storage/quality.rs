//! The `call_quality_samples` rows: connection-quality reports, sampled per participant.

use vytalcall_domain::{CallId, UserId};

/// A connection-quality report in integer units.
pub struct QualitySample {
    pub call: CallId,
    pub user: UserId,
    pub device_id: String,
    pub at: i64,
    pub bandwidth_kbps: i64,
    pub latency_ms: i64,
    pub packet_loss_milli: i64,
    pub jitter_ms: i64,
    pub video_resolution: Option<String>,
    pub warning: Option<&'static str>,
}

/// Stores the sample unless this participant already has one newer than `interval_ms`;
/// true if stored. The check and the insert are one statement, so sampling holds across
/// server processes too.
pub async fn insert_quality_sample_if_due(
    conn: &mut sqlx::AnyConnection,
    s: &QualitySample,
    interval_ms: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO call_quality_samples (id, call_id, user_id, device_id, at, bandwidth_kbps, latency_ms, \
         packet_loss_milli, jitter_ms, video_resolution, warning) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 WHERE NOT EXISTS (\
         SELECT 1 FROM call_quality_samples WHERE call_id = $2 AND user_id = $3 AND at > $12)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(s.call.to_string())
    .bind(s.user.to_string())
    .bind(s.device_id.as_str())
    .bind(s.at)
    .bind(s.bandwidth_kbps)
    .bind(s.latency_ms)
    .bind(s.packet_loss_milli)
    .bind(s.jitter_ms)
    .bind(s.video_resolution.as_deref())
    .bind(s.warning)
    .bind(s.at - interval_ms)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
