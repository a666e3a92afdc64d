//! The threads that make token signatures: one per core, taking the waiting signatures in order.
//!
//! A signature is CPU-bound (a fraction of a millisecond for RS256). Measured with 64 connections
//! asking for tokens on two cores (README "Benchmarks"): handed to tokio's blocking pool, each
//! waiting request got a thread of its own (~230 threads, 4 MB more heap) and the threads took
//! turns on the cores (p99 26–28 ms); a semaphore in front of the pool kept the threads down but
//! left the cores idle between signatures (each turn passed through the async runtime: −15 %
//! tokens). Here a signing thread takes the next signature as soon as it finishes one.

use std::{
    panic::AssertUnwindSafe,
    sync::{mpsc, Arc, Mutex},
};

type Job = Box<dyn FnOnce() + Send>;

/// A handle on the signing threads, cheap to clone; they end when the last handle is dropped.
#[derive(Clone)]
pub struct Signer {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

impl Signer {
    /// `threads` signing threads (at least one).
    pub fn new(threads: usize) -> Signer {
        let (jobs, waiting) = mpsc::channel::<Job>();
        let waiting = Arc::new(Mutex::new(waiting));
        for i in 0..threads.max(1) {
            let waiting = waiting.clone();
            std::thread::Builder::new()
                .name(format!("signer-{i}"))
                .spawn(move || loop {
                    let next = waiting.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    match next {
                        Ok(job) => job(),
                        Err(_) => return, // every handle dropped
                    }
                })
                .expect("a signing thread starts");
        }
        Signer { jobs }
    }

    /// One per core.
    pub fn per_core() -> Signer {
        Signer::new(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
    }

    /// Runs `sign` on a signing thread and waits for it without blocking the caller's thread.
    /// `Err`: `sign` panicked (the thread goes on with the next one).
    pub async fn run<T: Send + 'static>(&self, sign: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(std::panic::catch_unwind(AssertUnwindSafe(sign)));
        });
        self.jobs.send(job).map_err(|_| "the signing threads have stopped".to_string())?;
        match result.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) => Err("a signature panicked".into()),
            Err(_) => Err("the signing thread dropped the signature".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn signatures_run_on_the_signing_threads_and_a_panic_is_an_error_not_a_lost_thread() {
        let signer = Signer::new(1);
        let name = signer.run(|| std::thread::current().name().map(str::to_string)).await.unwrap();
        assert_eq!(name.as_deref(), Some("signer-0"));
        assert!(signer.run(|| -> u8 { panic!("bad key") }).await.is_err());
        // the one thread survived the panic and takes the next signature
        let waiting: Vec<_> = (0..50u32).map(|i| { let s = signer.clone(); tokio::spawn(async move { s.run(move || i * 2).await }) }).collect();
        let mut sum = 0;
        for w in waiting {
            sum += w.await.unwrap().unwrap();
        }
        assert_eq!(sum, (0..50).map(|i| i * 2).sum::<u32>());
    }
}
