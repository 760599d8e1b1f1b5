//! A call's waiting room as stored (migration 0008): one row per person at the door, waiting
//! (with a place in the queue) or admitted. A change loads the whole room under the call's
//! lock ([`lock_call`]), lets `domain::waiting_room` decide, and writes the room back, so two
//! nodes admitting at once line up instead of both letting someone through.

use super::{corrupt, parse_id};
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;
use vytalcall_domain::waiting_room::{DeviceCheck, Waiting, WaitingRoom};
use vytalcall_domain::{CallId, UserId};

/// The room and, for each person waiting, how many of their devices wait.
#[derive(Clone, Debug, Default)]
pub struct Door {
    pub room: WaitingRoom,
    pub devices: HashMap<UserId, i64>,
}

/// Takes the call's row lock (PostgreSQL) or the write lock (SQLite) for the rest of the
/// transaction; the first statement of every waiting-room change.
pub async fn lock_call(conn: &mut AnyConnection, call: CallId) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE calls SET version = version WHERE id = $1")
        .bind(call.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn load(conn: &mut AnyConnection, call: CallId) -> Result<Door, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT user_id, place, since, device_check, devices FROM waiting_room WHERE call_id = $1 \
         ORDER BY place, since, user_id",
    )
    .bind(call.to_string())
    .fetch_all(&mut *conn)
    .await?;
    let mut queue = Vec::new();
    let mut admitted = Vec::new();
    let mut devices = HashMap::new();
    for row in &rows {
        let user: UserId = parse_id(row, "user_id")?;
        let place: Option<i64> = row.try_get("place")?;
        if place.is_none() {
            admitted.push(user);
            continue;
        }
        let check: Option<String> = row.try_get("device_check")?;
        let device_check: Option<DeviceCheck> = match check {
            None => None,
            Some(json) => Some(serde_json::from_str(&json).map_err(|_| corrupt("device_check"))?),
        };
        queue.push(Waiting {
            user,
            since: row.try_get("since")?,
            device_check,
        });
        devices.insert(user, row.try_get::<i64, _>("devices")?);
    }
    Ok(Door {
        room: WaitingRoom::restore(queue, admitted),
        devices,
    })
}

/// Writes `door` as the call's whole room.
pub async fn save(conn: &mut AnyConnection, call: CallId, door: &Door, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM waiting_room WHERE call_id = $1")
        .bind(call.to_string())
        .execute(&mut *conn)
        .await?;
    let waiting = door.room.queue().iter().enumerate().map(|(place, w)| {
        let check = w.device_check.map(|c| serde_json::to_string(&c).unwrap_or_default());
        let devices = door.devices.get(&w.user).copied().unwrap_or(1);
        (w.user, Some(place as i64), w.since, check, devices)
    });
    let admitted = door.room.admitted().iter().map(|u| (*u, None, now, None, 0));
    for (user, place, since, check, devices) in waiting.chain(admitted) {
        sqlx::query(
            "INSERT INTO waiting_room (call_id, user_id, place, since, device_check, devices) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(call.to_string())
        .bind(user.to_string())
        .bind(place)
        .bind(since)
        .bind(check)
        .bind(devices)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The calls of which `provider` is a provider and where someone waits now.
pub async fn waited_on_by(pool: &sqlx::AnyPool, provider: UserId) -> Result<Vec<CallId>, sqlx::Error> {
    sqlx::query(
        "SELECT DISTINCT w.call_id FROM waiting_room w \
         JOIN call_members m ON m.call_id = w.call_id AND m.role = 'provider' \
         WHERE m.user_id = $1 AND w.place IS NOT NULL",
    )
    .bind(provider.to_string())
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| parse_id(r, "call_id"))
    .collect()
}
