//! The `joygate` command line: `serve` (the default), `migrate`, `config`, and operator
//! subcommands such as `jobs`.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::{Parser, Subcommand};
use domain::outbox::{self, JobState};

use crate::{config::Config, telemetry};

#[derive(Debug, Parser)]
#[command(name = "joygate", version, about = "Self-hosted loyalty and super-app integration platform")]
pub struct Cli {
    /// TOML configuration file (default: ./joygate.toml when present).
    #[arg(long, global = true, env = "JOYGATE_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the platform (HTTP, pages, workers). The default.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the effective configuration (secrets redacted).
    Config,
    /// Inspect and replay outbox jobs.
    #[command(subcommand)]
    Jobs(JobsCommand),
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List jobs, newest first.
    List {
        /// Only jobs in this state: pending, running, done, dead.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Put a dead (or done) job back in the queue.
    Replay {
        id: i64,
        /// How many more attempts it gets.
        #[arg(long, default_value_t = 5)]
        attempts: u32,
    },
}

pub async fn run(cli: Cli) -> ExitCode {
    match execute(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("joygate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref()).context("reading configuration")?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            let db = domain::Db::connect(config.database_url.expose()).await?;
            db.migrate().await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Config => {
            println!("{config:#?}");
            Ok(())
        }
        Command::Jobs(cmd) => jobs(config, cmd).await,
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    telemetry::init_logging(&config.log);
    let running = crate::start(config.clone()).await?;
    let url = config.public_url(running.addr);
    println!("Joygate is serving on {url}/");
    println!("  health   {url}/healthz   readiness {url}/readyz   metrics {url}/metrics");
    if config.sandbox {
        println!("  sandbox mode: counterparts run on this machine (JOYGATE_SANDBOX=false to turn off)");
    }
    crate::http::shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight requests and jobs");
    running.stop().await;
    Ok(())
}

async fn jobs(config: Config, cmd: JobsCommand) -> anyhow::Result<()> {
    let db = domain::Db::connect(config.database_url.expose()).await?;
    db.migrate().await?;
    match cmd {
        JobsCommand::List { state, limit } => {
            let state = match state.as_deref() {
                None => None,
                Some(s) => Some(JobState::parse(s).with_context(|| format!("unknown state {s:?}"))?),
            };
            for job in outbox::list(&db, state, limit).await? {
                println!("{}", serde_json::to_string(&job)?);
            }
        }
        JobsCommand::Replay { id, attempts } => {
            if !outbox::replay(&db, id, attempts, domain::now_ms()).await? {
                anyhow::bail!("job {id} does not exist or is not dead/done");
            }
            println!("job {id} queued again with {attempts} more attempts");
        }
    }
    Ok(())
}
