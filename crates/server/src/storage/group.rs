//! Group commit for the writes a socket's acknowledgement waits on (a join, a leave, a media
//! update, a quality sample, each with its audit entry where it has one). Each is committed
//! before its caller answers, but they no longer commit one by one: a single writer takes
//! whatever is waiting, runs it in one transaction (each write in a savepoint of its own, so
//! one failing write takes nothing else with it) and commits once. At the top-of-the-hour
//! join surge that is one disk flush, and one turn of the audit chain's lock, for many
//! joins, the way PostgreSQL's WAL flush serves many commits. A lone write waits for nobody:
//! the writer starts on a batch as soon as there is anything to do.

use futures_util::future::BoxFuture;
use sqlx::{AnyConnection, AnyPool};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// The most writes one transaction takes; the rest wait for the next.
const MAX_BATCH: usize = 128;

/// Writes queued beyond this wait to be queued (backpressure on a stalled database).
const QUEUE: usize = 4096;

type Work = Box<dyn for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<(), sqlx::Error>> + Send>;

struct Job {
    work: Work,
    done: oneshot::Sender<Result<(), sqlx::Error>>,
}

/// The handle writes are submitted through; cheap to clone. The writer stops when the last
/// handle is dropped.
#[derive(Clone)]
pub struct GroupCommit {
    jobs: mpsc::Sender<Job>,
    /// Transactions committed so far (each serving one or more writes).
    groups: Arc<std::sync::atomic::AtomicU64>,
}

impl GroupCommit {
    /// Starts the writer on `pool` (on the current tokio runtime).
    pub fn start(pool: AnyPool) -> GroupCommit {
        let (jobs, rx) = mpsc::channel(QUEUE);
        let groups = Arc::default();
        tokio::spawn(writer(pool, rx, Arc::clone(&groups)));
        GroupCommit { jobs, groups }
    }

    /// How many transactions the writer has committed.
    pub fn groups(&self) -> u64 {
        self.groups.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs `write` in the next group's transaction and returns its value once that
    /// transaction is committed. An error from `write` undoes only its own statements.
    pub async fn run<T, F>(&self, write: F) -> Result<T, sqlx::Error>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<T, sqlx::Error>> + Send + 'static,
    {
        let slot = Arc::new(Mutex::new(None));
        let out = Arc::clone(&slot);
        let work: Work = Box::new(move |conn| {
            Box::pin(async move {
                let value = write(conn).await?;
                if let Ok(mut s) = out.lock() {
                    *s = Some(value);
                }
                Ok(())
            })
        });
        let (done, committed) = oneshot::channel();
        self.jobs
            .send(Job { work, done })
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        committed.await.map_err(|_| sqlx::Error::PoolClosed)??;
        let value = slot.lock().ok().and_then(|mut s| s.take());
        value.ok_or(sqlx::Error::PoolClosed)
    }
}

async fn writer(pool: AnyPool, mut rx: mpsc::Receiver<Job>, groups: Arc<std::sync::atomic::AtomicU64>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let jobs = std::mem::take(&mut batch);
        metrics::histogram!("vytalcall_group_commit_writes").record(jobs.len() as f64);
        commit(&pool, jobs).await;
        groups.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// One transaction for `jobs`; every job learns its own outcome.
async fn commit(pool: &AnyPool, jobs: Vec<Job>) {
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => {
            fail_all(jobs.into_iter().map(|j| j.done), &e);
            return;
        }
    };
    if jobs.len() == 1 {
        // Alone, the transaction is the write's own: no savepoint needed.
        let Some(job) = jobs.into_iter().next() else {
            return;
        };
        let outcome = match (job.work)(&mut tx).await {
            Ok(()) => tx.commit().await,
            Err(e) => Err(e),
        };
        if let Err(e) = &outcome {
            tracing::debug!(error = %e, "a write failed");
        }
        let _ = job.done.send(outcome);
        return;
    }
    let mut outcomes = Vec::with_capacity(jobs.len());
    for job in jobs {
        let outcome = in_savepoint(&mut tx, job.work).await;
        if let Err(e) = &outcome
            && is_broken(e)
        {
            // The connection itself failed: nothing more can run on it.
            outcomes.push((job.done, outcome));
            break;
        }
        outcomes.push((job.done, outcome));
    }
    match tx.commit().await {
        Ok(()) => {
            for (done, outcome) in outcomes {
                let _ = done.send(outcome);
            }
        }
        Err(e) => fail_all(outcomes.into_iter().map(|(done, _)| done), &e),
    }
}

async fn in_savepoint(conn: &mut AnyConnection, work: Work) -> Result<(), sqlx::Error> {
    sqlx::query("SAVEPOINT grouped").execute(&mut *conn).await?;
    match work(conn).await {
        Ok(()) => {
            sqlx::query("RELEASE SAVEPOINT grouped").execute(&mut *conn).await?;
            Ok(())
        }
        Err(e) => {
            sqlx::query("ROLLBACK TO SAVEPOINT grouped").execute(&mut *conn).await?;
            sqlx::query("RELEASE SAVEPOINT grouped").execute(&mut *conn).await?;
            Err(e)
        }
    }
}

fn is_broken(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed
    )
}

/// Tells every waiting write that its group failed (each gets an error of its own: the
/// database error is not `Clone`).
fn fail_all(waiting: impl Iterator<Item = oneshot::Sender<Result<(), sqlx::Error>>>, e: &sqlx::Error) {
    tracing::warn!(error = %e, "a group of writes could not be committed");
    for done in waiting {
        let _ = done.send(Err(sqlx::Error::Io(std::io::Error::other(format!(
            "the write could not be committed: {e}"
        )))));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;

    async fn pool() -> (tempfile::TempDir, AnyPool) {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("g.db").display());
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .expect("sqlite");
        sqlx::query("CREATE TABLE t (n INTEGER PRIMARY KEY)")
            .execute(&pool)
            .await
            .expect("table");
        (dir, pool)
    }

    fn insert(n: i64) -> impl for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<i64, sqlx::Error>> {
        move |conn| {
            Box::pin(async move {
                sqlx::query("INSERT INTO t (n) VALUES ($1)")
                    .bind(n)
                    .execute(&mut *conn)
                    .await?;
                Ok(n)
            })
        }
    }

    async fn stored(pool: &AnyPool) -> Vec<i64> {
        sqlx::query("SELECT n FROM t ORDER BY n")
            .fetch_all(pool)
            .await
            .expect("select")
            .iter()
            .map(|r| r.get::<i64, _>(0))
            .collect()
    }

    #[tokio::test]
    async fn concurrent_writes_share_commits_and_each_gets_its_own_outcome() {
        let (_dir, pool) = pool().await;
        let group = GroupCommit::start(pool.clone());
        // 200 writes at once; 7 of them collide with a row another write inserts first.
        let writes = (0..200).map(|i| {
            let group = group.clone();
            let n = if i % 29 == 1 { i - 1 } else { i };
            async move { group.run(insert(n)).await }
        });
        let outcomes = futures_util::future::join_all(writes).await;
        let failed = outcomes.iter().filter(|o| o.is_err()).count();
        assert_eq!(failed, 7, "exactly the colliding writes fail");
        let expected: Vec<i64> = (0..200).filter(|i| i % 29 != 1).collect();
        assert_eq!(stored(&pool).await, expected, "every other write is committed");
        assert!(group.groups() < 200, "{} transactions for 200 writes", group.groups());
    }

    #[tokio::test]
    async fn a_lone_write_is_committed_when_its_call_returns() {
        let (_dir, pool) = pool().await;
        let group = GroupCommit::start(pool.clone());
        assert_eq!(group.run(insert(5)).await.expect("written"), 5);
        assert_eq!(stored(&pool).await, vec![5]);
        assert_eq!(group.groups(), 1);
    }
}
