//! Group commit on SQLite: short write jobs that many requests queue run back to back on one
//! thread and commit together.
//!
//! Where is each rule? A job is a closure over a transaction ([`super::Db::write`]). On SQLite
//! every job goes to one writer thread (its own single-threaded runtime, so a job's statements
//! never wait behind the HTTP tasks of the main runtime while it holds the database's write
//! lock). The thread takes the database's one writer connection, opens `BEGIN IMMEDIATE` and
//! runs each queued job inside its own `SAVEPOINT`: a job that fails is rolled back to its
//! savepoint and answered at once with its error (nothing of it is written); a job that succeeds
//! is released and answered only after the shared `COMMIT` (a failed commit answers every job of
//! the group with the error: all of them or none of them are written). The group ends when the
//! queue is empty or after [`MAX_GROUP`] jobs. A job that panics is treated as failed. On
//! PostgreSQL (many writers, row locks) a job simply runs in its own transaction where it was
//! called.

use std::{
    future::Future,
    panic::AssertUnwindSafe,
    pin::Pin,
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc, Arc,
    },
    task::{Context, Poll},
};

use tokio::sync::{mpsc as queue, oneshot};

use super::{StoreError, Tx};

/// Jobs committed together at most: bounds the wait a job adds to the ones queued before it.
pub const MAX_GROUP: usize = 64;

/// A boxed future borrowing the transaction for `'t`.
pub type JobFuture<'t, T> = Pin<Box<dyn Future<Output = T> + Send + 't>>;

/// What a finished job leaves: `Some(deliver)` keeps its changes and is answered with the
/// commit's outcome; `None` means it failed (already answered) and its savepoint is undone.
type Deliver = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
type Job = Box<dyn for<'t, 'c> FnOnce(&'t mut Tx<'c>) -> JobFuture<'t, Option<Deliver>> + Send>;

/// The queue into the writer thread (started on the first job).
#[derive(Debug)]
pub struct Group {
    queue: queue::UnboundedSender<Job>,
    /// Jobs sent and not yet taken by the writer.
    queued: Arc<AtomicUsize>,
}

impl Group {
    /// Starts the writer thread on `writer` (the pool of SQLite's one writer connection).
    pub fn start(writer: sqlx::AnyPool) -> Result<Group, StoreError> {
        let (send, receive) = queue::unbounded_channel::<Job>();
        let (ready, started) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let taken = Arc::clone(&queued);
        std::thread::Builder::new()
            .name("joygate-writer".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
                let runtime = match runtime {
                    Ok(r) => {
                        let _ = ready.send(Ok(()));
                        r
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e.to_string()));
                        return;
                    }
                };
                runtime.block_on(run(writer, Queue { receive, taken }));
            })
            .map_err(|e| StoreError::Internal(format!("the writer thread did not start: {e}")))?;
        started
            .recv()
            .map_err(|e| StoreError::Internal(e.to_string()))?
            .map_err(|e| StoreError::Internal(format!("the writer thread has no runtime: {e}")))?;
        Ok(Group { queue: send, queued })
    }

    /// Jobs waiting for the writer right now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    /// Queues `f` and waits for its outcome (see the module header).
    pub async fn run<R, E, F>(&self, f: F) -> Result<R, E>
    where
        F: for<'t, 'c> FnOnce(&'t mut Tx<'c>) -> JobFuture<'t, Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (answer, outcome) = oneshot::channel::<Result<R, E>>();
        let job: Job = Box::new(move |tx| {
            Box::pin(async move {
                match f(tx).await {
                    Ok(value) => Some(Box::new(move |committed: Result<(), StoreError>| {
                        let _ = answer.send(committed.map(|()| value).map_err(E::from));
                    }) as Deliver),
                    Err(e) => {
                        let _ = answer.send(Err(e));
                        None
                    }
                }
            })
        });
        self.queued.fetch_add(1, Ordering::SeqCst);
        if self.queue.send(job).is_err() {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            return Err(StoreError::Internal("the database writer has stopped".into()).into());
        }
        outcome.await.map_err(|_| StoreError::Internal("the database writer dropped this write without running it to the end (see the log)".into()))?
    }
}

/// The writer's end of the queue, counting what it takes.
struct Queue {
    receive: queue::UnboundedReceiver<Job>,
    taken: Arc<AtomicUsize>,
}

impl Queue {
    async fn next(&mut self) -> Option<Job> {
        let job = self.receive.recv().await;
        self.took(job)
    }

    fn next_now(&mut self) -> Option<Job> {
        let job = self.receive.try_recv().ok();
        self.took(job)
    }

    fn took(&self, job: Option<Job>) -> Option<Job> {
        if job.is_some() {
            self.taken.fetch_sub(1, Ordering::SeqCst);
        }
        job
    }
}

/// The writer thread's loop: one group per turn until every [`Group`] handle is gone.
async fn run(writer: sqlx::AnyPool, mut queue: Queue) {
    let mut next: Option<Job> = None;
    loop {
        let first = match next.take() {
            Some(job) => job,
            None => match queue.next().await {
                Some(job) => job,
                None => return,
            },
        };
        next = commit_group(&writer, first, &mut queue).await;
    }
}

/// Runs `first` and whatever is queued behind it (up to [`MAX_GROUP`]) in one transaction.
/// Returns a job taken from the queue but not run (the transaction broke before it).
async fn commit_group(writer: &sqlx::AnyPool, first: Job, queue: &mut Queue) -> Option<Job> {
    let mut tx = match writer.begin_with("BEGIN IMMEDIATE").await {
        Ok(tx) => tx,
        Err(e) => {
            // No transaction: the job is dropped unrun, which answers it with an error.
            tracing::error!(error = %e, "the writer could not begin a transaction");
            drop(first);
            return None;
        }
    };
    let mut kept: Vec<Deliver> = Vec::new();
    let mut job = Some(first);
    let mut ran = 0;
    while let Some(j) = job.take() {
        let mut savepoint = match sqlx::Acquire::begin(&mut tx).await {
            Ok(sp) => sp,
            Err(e) => {
                tracing::error!(error = %e, "the writer could not open a savepoint");
                fail(kept, &StoreError::from(e));
                return Some(j);
            }
        };
        let finished = CatchUnwind(j(&mut savepoint)).await;
        let undo = match finished {
            Ok(Some(deliver)) => match savepoint.commit().await {
                Ok(()) => {
                    kept.push(deliver);
                    Ok(())
                }
                Err(e) => {
                    deliver(Err(StoreError::Internal(format!("releasing the savepoint failed: {e}"))));
                    Err(e)
                }
            },
            Ok(None) | Err(()) => savepoint.rollback().await,
        };
        if let Err(e) = undo {
            tracing::error!(error = %e, "the writer's transaction broke; the group is abandoned");
            fail(kept, &StoreError::from(e));
            return None;
        }
        ran += 1;
        if ran < MAX_GROUP {
            job = queue.next_now();
        }
    }
    let committed = tx.commit().await.map_err(StoreError::from);
    if kept.len() > 1 {
        metrics::histogram!("joygate_write_group_size").record(kept.len() as f64);
    }
    match committed {
        Ok(()) => kept.into_iter().for_each(|deliver| deliver(Ok(()))),
        Err(e) => fail(kept, &e),
    }
    None
}

/// Answers every kept job of a group that did not commit.
fn fail(kept: Vec<Deliver>, e: &StoreError) {
    for deliver in kept {
        deliver(Err(StoreError::Internal(format!("the group commit failed: {e}"))));
    }
}

/// A job's future with its panic caught (the writer thread outlives a bad job).
struct CatchUnwind<F>(F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(&mut self.0).poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{testing::temp_db, Backend, Db, StoreError};

    async fn names(db: &Db) -> Vec<String> {
        sqlx::query_scalar("SELECT name FROM group_probe ORDER BY name").fetch_all(db.pool()).await.unwrap()
    }

    fn insert(db: &Db, name: &'static str, fail: bool) -> tokio::task::JoinHandle<Result<(), StoreError>> {
        let db = db.clone();
        tokio::spawn(async move {
            db.write(move |tx| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO group_probe (name) VALUES ($1)").bind(name).execute(&mut **tx).await?;
                    if fail {
                        return Err(StoreError::Internal(format!("{name} refused after writing")));
                    }
                    Ok(())
                })
            })
            .await
        })
    }

    /// Jobs queued behind a running one commit together: the ones that fail (an error after
    /// their insert, a panic) leave nothing, the others are all written, and none of them is
    /// visible to a reader before the group's one commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_jobs_commit_together_and_a_failed_one_leaves_nothing() {
        let (_d, db) = temp_db().await;
        if db.backend() != Backend::Sqlite {
            return; // PostgreSQL runs each job in its own transaction (Db::write)
        }
        sqlx::query("CREATE TABLE group_probe (name TEXT PRIMARY KEY)").execute(db.pool()).await.unwrap();
        // The first job holds the writer until the others are queued behind it.
        let (open, gate) = tokio::sync::oneshot::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel::<()>();
        let reader = db.clone();
        let first = {
            let db = db.clone();
            tokio::spawn(async move {
                db.write(move |tx| {
                    Box::pin(async move {
                        sqlx::query("INSERT INTO group_probe (name) VALUES ('a')").execute(&mut **tx).await?;
                        let _ = started.send(());
                        let _ = gate.await;
                        Ok::<_, StoreError>(())
                    })
                })
                .await
            })
        };
        running.await.unwrap();
        let (b, c) = (insert(&db, "b", false), insert(&db, "c", true));
        let d = {
            let db = db.clone();
            tokio::spawn(async move {
                db.write(move |tx| {
                    Box::pin(async move {
                        sqlx::query("INSERT INTO group_probe (name) VALUES ('d')").execute(&mut **tx).await?;
                        panic!("a job that panics after writing");
                        #[allow(unreachable_code)]
                        Ok::<_, StoreError>(())
                    })
                })
                .await
            })
        };
        // the last job looks from a reader connection: nothing of the group is committed yet
        let e = {
            let db = db.clone();
            tokio::spawn(async move {
                db.write(move |tx| {
                    Box::pin(async move {
                        sqlx::query("INSERT INTO group_probe (name) VALUES ('e')").execute(&mut **tx).await?;
                        let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM group_probe").fetch_one(reader.pool()).await?;
                        Ok::<_, StoreError>(seen)
                    })
                })
                .await
            })
        };
        while db.group.get().unwrap().queued() < 4 {
            tokio::task::yield_now().await;
        }
        assert!(names(&db).await.is_empty(), "the running job is not committed");
        open.send(()).unwrap();
        first.await.unwrap().unwrap();
        b.await.unwrap().unwrap();
        assert!(matches!(c.await.unwrap(), Err(StoreError::Internal(m)) if m.contains("refused after writing")));
        assert!(matches!(d.await.unwrap(), Err(StoreError::Internal(m)) if m.contains("dropped this write")), "a panic is an error");
        assert_eq!(e.await.unwrap().unwrap(), 0, "the reader saw nothing before the group committed");
        assert_eq!(names(&db).await, ["a", "b", "e"]);
        // the writer is still there after the panic
        insert(&db, "f", false).await.unwrap().unwrap();
        assert_eq!(names(&db).await, ["a", "b", "e", "f"]);
    }
}
