//! The `people` rows: each user the server has met, with the role and display name of their
//! latest token. Names are PHI: nothing here logs them. The in-memory cache that keeps
//! requests from writing is [`crate::people::People`].

use super::{Arg, Sql, corrupt, parse_id};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};
use std::collections::HashMap;
use vytalcall_domain::{Role, UserId};

/// A user as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Person {
    pub user: UserId,
    pub role: Role,
    pub name: Option<String>,
}

/// Names are PHI: a stray `{:?}` must not print one.
impl std::fmt::Debug for Person {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Person")
            .field("user", &self.user)
            .field("role", &self.role)
            .field("name", &self.name.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

fn person_from_row(row: &AnyRow) -> Result<Person, sqlx::Error> {
    let role: String = row.try_get("role")?;
    Ok(Person {
        user: parse_id(row, "user_id")?,
        role: role.parse().map_err(|_| corrupt("role"))?,
        name: row.try_get("name")?,
    })
}

/// Records that `user` signed in with `role` and, when the token named them, `name`. A
/// token without a name keeps the name held.
pub async fn upsert(pool: &AnyPool, user: UserId, role: Role, name: Option<&str>, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO people (user_id, role, name, first_seen, updated_at) VALUES ($1, $2, $3, $4, $4) \
         ON CONFLICT (user_id) DO UPDATE SET role = excluded.role, \
         name = COALESCE(excluded.name, people.name), updated_at = excluded.updated_at",
    )
    .bind(user.to_string())
    .bind(role.as_str())
    .bind(name)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// One user, if the server has met them.
pub async fn get(pool: &AnyPool, user: UserId) -> Result<Option<Person>, sqlx::Error> {
    sqlx::query("SELECT user_id, role, name FROM people WHERE user_id = $1")
        .bind(user.to_string())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(person_from_row)
        .transpose()
}

/// The people among `users` the server has met, by id (one query).
pub async fn many(pool: &AnyPool, users: &[UserId]) -> Result<HashMap<UserId, Person>, sqlx::Error> {
    let mut unique: Vec<UserId> = users.to_vec();
    unique.sort_unstable_by_key(|u| u.to_string());
    unique.dedup();
    let mut found = HashMap::with_capacity(unique.len());
    // Bounded batches keep every query well under both databases' placeholder limits.
    for batch in unique.chunks(200) {
        let mut sql = Sql::new("SELECT user_id, role, name FROM people WHERE user_id IN (");
        for (i, user) in batch.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(Arg::Text(user.to_string()));
        }
        sql.push(")");
        for row in sql.query().fetch_all(pool).await? {
            let person = person_from_row(&row)?;
            found.insert(person.user, person);
        }
    }
    Ok(found)
}

/// A patient someone had calls with, and when the latest of those calls was placed.
#[derive(Clone, Debug)]
pub struct RecentPatient {
    pub person: Person,
    pub last_call_at: i64,
    pub calls: i64,
}

/// Patients of the calls `provider` belongs to (every call's, for `None`), most recent
/// first. Only people the server has met are listed: an id that was called but never
/// signed in is nobody to pick.
pub async fn recent_patients(
    pool: &AnyPool,
    provider: Option<UserId>,
    limit: i64,
) -> Result<Vec<RecentPatient>, sqlx::Error> {
    let mut sql = Sql::new(
        "SELECT p.user_id, p.role, p.name, r.last_call_at, r.calls FROM \
         (SELECT c.patient_id, MAX(c.created_at) AS last_call_at, COUNT(*) AS calls FROM calls c",
    );
    if let Some(u) = provider {
        sql.push(" WHERE c.id IN (SELECT call_id FROM call_members WHERE role = 'provider' AND user_id = ")
            .bind(Arg::Text(u.to_string()))
            .push(")");
    }
    sql.push(
        " GROUP BY c.patient_id) r JOIN people p ON p.user_id = r.patient_id \
         ORDER BY r.last_call_at DESC, p.user_id LIMIT ",
    )
    .bind(Arg::Int(limit));
    sql.query()
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| {
            Ok(RecentPatient {
                person: person_from_row(row)?,
                last_call_at: row.try_get("last_call_at")?,
                calls: row.try_get("calls")?,
            })
        })
        .collect()
}
