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

/// A request dropped while its write transaction begins must not leave the writer connection
/// inside a transaction that nobody owns: every later write would fail ("begin at non-zero
/// transaction depth") and, on SQLite, the database's write lock would stay taken until a
/// restart. Each `Db::begin` here is polled by hand and dropped right after its `step`-th
/// wake-up, before it is polled again — after the pool lent the connection, after the database
/// answered the `BEGIN`, and so on — so every point where a cancelled request can stop it is
/// hit, not left to timing. (The code before the fix, without the `BEGIN`'s own task, fails it
/// in every run, within the first steps.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_begin_dropped_at_each_of_its_steps_leaves_no_transaction_open() {
    let (_guard, db) = temp_db().await;
    let mut dropped_while_pending = 0;
    for step in 1..=6 {
        for round in 0..5 {
            let woken = Arc::new(Woken(AtomicBool::new(false)));
            let waker = Waker::from(woken.clone());
            let mut cx = Context::from_waker(&waker);
            let mut begin = Box::pin(db.begin());
            let mut wakes = 0;
            loop {
                if let Poll::Ready(tx) = begin.as_mut().poll(&mut cx) {
                    drop(tx.expect("begin")); // it finished first: a whole Tx, rolled back on drop
                    break;
                }
                let deadline = Instant::now() + Duration::from_secs(10);
                while !woken.0.swap(false, Ordering::SeqCst) {
                    assert!(Instant::now() < deadline, "step {step}: never woken");
                    tokio::task::yield_now().await;
                }
                wakes += 1;
                if wakes == step {
                    dropped_while_pending += 1;
                    break;
                }
            }
            drop(begin);
            let mut tx = db.begin().await.unwrap_or_else(|e| panic!("a write transaction after a begin dropped at step {step} ({round}): {e}"));
            sqlx::query("SELECT 1").execute(&mut *tx).await.unwrap();
            tx.commit().await.unwrap();
        }
    }
    assert!(dropped_while_pending > 0, "no begin was dropped half-way");
}
