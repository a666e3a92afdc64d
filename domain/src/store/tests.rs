//! Write transactions when the request that began one goes away (a client that hung up).

use std::{
    future::Future,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    task::{Context, Poll, Wake, Waker},
    time::{Duration, Instant},
};

use super::testing::temp_db;

/// Set when the future it wakes may go on.
struct Woken(AtomicBool);

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Polls `begin` by hand and drops it right after its `step`-th wake-up, before it is polled
/// again. `true` when it was dropped half-way (`false`: it finished first, and its `Tx` was
/// dropped whole, which rolls back).
async fn drop_after_wakeups<T, E: std::fmt::Debug>(begin: impl Future<Output = Result<T, E>>, step: u32) -> bool {
    let woken = Arc::new(Woken(AtomicBool::new(false)));
    let waker = Waker::from(woken.clone());
    let mut cx = Context::from_waker(&waker);
    let mut begin = Box::pin(begin);
    let mut wakes = 0;
    loop {
        if let Poll::Ready(tx) = begin.as_mut().poll(&mut cx) {
            drop(tx.expect("begin"));
            return false;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !woken.0.swap(false, Ordering::SeqCst) {
            assert!(Instant::now() < deadline, "step {step}: never woken");
            tokio::task::yield_now().await;
        }
        wakes += 1;
        if wakes == step {
            return true;
        }
    }
}

/// A request dropped while its write transaction begins must not leave the writer connection
/// inside a transaction that nobody owns: every later write would fail ("begin at non-zero
/// transaction depth") and, on SQLite, the database's write lock would stay taken until a
/// restart. Each `Db::begin` here is dropped right after its 1st, 2nd, … 6th wake-up — after
/// the pool lent the connection, after the database answered the `BEGIN`, and so on — so every
/// point where a cancelled request can stop it is hit, not left to timing. The control, on
/// SQLite: the same drops of sqlx's own `begin_with` on the writer, which `Db::begin` wraps,
/// do leave it wedged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_begin_dropped_at_each_of_its_steps_leaves_no_transaction_open() {
    let (_guard, db) = temp_db().await;
    let mut dropped_while_pending = 0;
    for step in 1..=6 {
        for round in 0..5 {
            if drop_after_wakeups(db.begin(), step).await {
                dropped_while_pending += 1;
            }
            let mut tx = db.begin().await.unwrap_or_else(|e| panic!("a write transaction after a begin dropped at step {step} ({round}): {e}"));
            sqlx::query("SELECT 1").execute(&mut *tx).await.unwrap();
            tx.commit().await.unwrap();
        }
    }
    assert!(dropped_while_pending > 0, "no begin was dropped half-way");

    if db.backend() == super::Backend::Sqlite {
        let (_guard, control) = temp_db().await;
        let mut wedged = None;
        'steps: for step in 1..=6 {
            for round in 0..5 {
                drop_after_wakeups(control.writer.begin_with("BEGIN IMMEDIATE"), step).await;
                match control.writer.begin_with("BEGIN IMMEDIATE").await {
                    Ok(tx) => drop(tx),
                    Err(e) => {
                        wedged = Some(format!("step {step} ({round}): {e}"));
                        break 'steps;
                    }
                }
            }
        }
        assert!(wedged.is_some(), "the control: sqlx's begin_with, dropped the same way, wedged the writer");
    }
}
