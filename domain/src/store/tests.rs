//! Write transactions when the request that began one goes away (a client that hung up).

use super::testing::temp_db;

/// A request cancelled while its write transaction begins must not leave the writer connection
/// inside a transaction that nobody owns: every later write would fail ("begin at non-zero
/// transaction depth") and, on SQLite, the database's write lock would stay taken until a
/// restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_begin_cancelled_at_any_moment_leaves_no_transaction_open() {
    let (_guard, db) = temp_db().await;
    let mut ended_inside = 0;
    for i in 0..2000u32 {
        let task = tokio::spawn({
            let db = db.clone();
            async move {
                let _tx = db.begin().await;
            }
        });
        // cancel it a varying moment later: before, while or just after the BEGIN runs
        for _ in 0..(i % 400) {
            tokio::task::yield_now().await;
        }
        task.abort();
        if task.await.is_ok() {
            ended_inside += 1;
        }
        let mut tx = db.begin().await.unwrap_or_else(|e| panic!("a write transaction after {i} cancelled ones: {e}"));
        sqlx::query("SELECT 1").execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
    }
    // the control: some begins were cancelled before they ended, some were not
    assert!(ended_inside > 0 && ended_inside < 2000, "{ended_inside} of 2000 ran to the end");
}
