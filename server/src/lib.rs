//! How the world reaches Joygate: configuration, the HTTP router and its middleware, background
//! workers and the command line. Business rules live in `domain`, pages in `app`.

pub mod cli;
pub mod config;
pub mod http;
pub mod telemetry;
pub mod workers;

use std::net::SocketAddr;

use anyhow::Context;
use tokio::{sync::watch, task::JoinHandle};

pub use config::Config;

/// A started server: its address, and a way to stop it gracefully.
pub struct Running {
    pub addr: SocketAddr,
    pub db: domain::Db,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Asks every part to stop, then waits for in-flight requests and jobs to finish.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        self.db.close().await;
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Opens the database (applying migrations), binds the listener and starts the HTTP server
/// and the background workers. `config.listen` may use port 0 (tests).
pub async fn start(config: Config) -> anyhow::Result<Running> {
    telemetry::metrics_handle(); // install the recorder before the first request is counted
    let db = domain::Db::connect(config.database_url.expose()).await.context("opening the database")?;
    db.migrate().await.context("applying database migrations")?;
    let (shutdown, shutdown_rx) = watch::channel(false);

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;

    let mut tasks = workers::spawn(&db, &config, shutdown_rx.clone());
    let (router, session_cleanup) = http::router(&config, db.clone(), addr, shutdown_rx.clone()).await?;
    tasks.push(session_cleanup);
    tasks.push(tokio::spawn(http::serve(listener, router, shutdown_rx)));
    tracing::info!(%addr, "joygate listening");
    Ok(Running { addr, db, shutdown, tasks })
}
