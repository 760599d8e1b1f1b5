//! Who people are, by name: each authenticated user's display name comes from the `name`
//! claim of their latest token (`auth::jwt`), is kept in the `people` table
//! (`storage::people`) and is sent wherever a person appears (`incoming-call`'s `fromName`,
//! participant lists, call views).
//!
//! Writing is cheap: each process remembers what it last wrote for a user and writes only
//! when a token's role or name differs from it, so a session's requests cost one write at
//! most. (Another process may have written a newer name meanwhile; the next token that
//! differs from this process's memory writes again, so the latest sign-in wins soon enough.)
//!
//! Names are PHI: nothing here logs one, and audit entries carry ids and counts only.

use crate::auth::Identity;
use crate::storage::Db;
use crate::storage::people::{self as repo, Person};
use std::collections::HashMap;
use std::sync::Mutex;
use vytalcall_domain::{Role, UserId};

/// The most users whose last write a process remembers; beyond it the memory starts again
/// (a few extra writes), so it cannot grow without bound.
const REMEMBERED: usize = 100_000;

pub struct People {
    db: Db,
    written: Mutex<HashMap<UserId, (Role, Option<String>)>>,
}

impl People {
    pub fn new(db: Db) -> People {
        People {
            db,
            written: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `identity` says something this process has not written yet. A token without
    /// a name says nothing about the name.
    fn is_news(&self, identity: &Identity) -> bool {
        let written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        match written.get(&identity.user) {
            None => true,
            Some((role, name)) => *role != identity.role || (identity.name.is_some() && identity.name != *name),
        }
    }

    /// Records a verified identity (REST authentication, Socket.IO handshake). A failure is
    /// logged (without the name) and does not fail the request: names are a courtesy.
    pub async fn seen(&self, identity: &Identity) {
        if !self.is_news(identity) {
            return;
        }
        let stored = repo::upsert(
            &self.db.pool,
            identity.user,
            identity.role,
            identity.name.as_deref(),
            crate::now_millis(),
        )
        .await;
        match stored {
            Ok(()) => {
                let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
                if written.len() >= REMEMBERED {
                    written.clear();
                }
                let name = match (&identity.name, written.get(&identity.user)) {
                    (None, Some((_, held))) => held.clone(),
                    (name, _) => name.clone(),
                };
                written.insert(identity.user, (identity.role, name));
            }
            Err(e) => tracing::warn!(error = %e, user_id = %identity.user, "could not record who signed in"),
        }
    }

    /// One person, if the server has met them.
    pub async fn get(&self, user: UserId) -> Result<Option<Person>, sqlx::Error> {
        repo::get(&self.db.pool, user).await
    }

    /// The people among `users` the server has met.
    pub async fn many(&self, users: &[UserId]) -> Result<HashMap<UserId, Person>, sqlx::Error> {
        repo::many(&self.db.pool, users).await
    }

    /// Names of `users` for a notice: a lookup that fails leaves them unnamed (logged), since
    /// a call must ring whether or not a name could be read.
    pub async fn names_or_none(&self, users: &[UserId]) -> HashMap<UserId, Person> {
        self.many(users).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not read names; people are shown by role");
            HashMap::new()
        })
    }
}

/// The name of `user` in `people`, if known.
pub fn name_in(people: &HashMap<UserId, Person>, user: UserId) -> Option<String> {
    people.get(&user).and_then(|p| p.name.clone())
}
