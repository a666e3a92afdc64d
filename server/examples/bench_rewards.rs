//! Reward task load for `scripts/bench`. Not part of the product.
//!
//! `bench_rewards prepare DATABASE_URL DIR BACKLOG BODIES` (the server stopped): makes the bench
//! client's signing key and API key and writes `DIR/rewards.toml` (its `[rewards.clients.bench]`,
//! for the server's next start); links a member to Customer ID `bench-member`; stores BACKLOG
//! queued `transaction` tickets, each one signed and with its outbox job, as the gateway would;
//! and writes BODIES more signed Request In bodies (new trxIds) to `DIR/requestin.bodies`, one a
//! line, plus the API key to `DIR/api_key`.
//!
//! `bench_rewards drain DATABASE_URL BACKLOG` (the server running): waits until the worker has
//! paid the backlog, then prints its rate as a row of the bench table — tasks paid per second,
//! from the first ticket settled to the last (each ticket one REWARD posting).

use std::{io::Write, time::Duration};

use domain::{
    identity::{
        members::{self, NewMember},
        CustomerId, FullName, PhoneNumber,
    },
    rewards::{tickets, Command, Envelope, RewardClient},
    signing::{loyalty_task, RsaPrivateKey},
};
use serde_json::{json, Map, Value};

const CLIENT: &str = "bench";
const MEMBER: &str = "bench-member";

fn message(key: &RsaPrivateKey, trx: u64) -> Value {
    let mut data = Map::new();
    data.insert("trxId".into(), json!(trx));
    data.insert("refference".into(), json!(format!("bench-{trx}")));
    data.insert("memberId".into(), json!(MEMBER));
    data.insert("memberName".into(), json!("Bench Member"));
    data.insert("userFromStatus".into(), json!(0));
    data.insert("userId".into(), json!(0));
    data.insert("userIdShare".into(), json!(0));
    data.insert("deviceType".into(), json!("android"));
    data.insert("installId".into(), json!("bench"));
    data.insert("data".into(), json!([{"trxAmount": 150_000, "trxDate": "2024-04-30 10:30:00"}]));
    loyalty_task::sign_data(key, &mut data);
    json!({"Subject":"loyalty","SubjectType":"reward","SubjectIdentifier":"task","Action":"transaction",
           "ResourceType":"null","Resource":"null","ResourceId":"null","ScopeSource":"","Data":data})
}

/// Signs `count` messages from trxId `first` on, on every core.
fn sign_all(key: &RsaPrivateKey, first: u64, count: u64) -> Vec<String> {
    let threads = std::thread::available_parallelism().map(|n| n.get() as u64).unwrap_or(1);
    let per = count.div_ceil(threads);
    std::thread::scope(|s| {
        let parts: Vec<_> = (0..threads)
            .map(|t| {
                let from = first + t * per;
                let to = (from + per).min(first + count);
                s.spawn(move || (from..to).map(|trx| message(key, trx).to_string()).collect::<Vec<_>>())
            })
            .collect();
        parts.into_iter().flat_map(|p| p.join().expect("signing thread")).collect()
    })
}

async fn prepare(db: &domain::Db, dir: &std::path::Path, backlog: u64, bodies: u64) -> anyhow::Result<()> {
    let key = RsaPrivateKey::generate_2048()?;
    let api_key = uuid::Uuid::new_v4().simple().to_string();
    let toml = format!(
        "[rewards.clients.{CLIENT}]\napi_key_sha256 = \"{}\"\npublic_key_pem = \"\"\"\n{}\"\"\"\n",
        domain::identity::clients::secret_sha256(&api_key),
        key.public_key().to_pem()
    );
    std::fs::write(dir.join("rewards.toml"), toml)?;
    std::fs::write(dir.join("api_key"), &api_key)?;
    let now = domain::now_ms();
    let new = NewMember { phone: PhoneNumber::parse("0900000003")?, full_name: FullName::parse("Bench Rewards")?, date_of_birth: None, email: None };
    members::onboard(db, CLIENT, new, Some(&CustomerId::parse(MEMBER)?), now).await?;
    let client = RewardClient { client_id: CLIENT.into(), time_zone: Default::default(), rules: Default::default() };
    for raw in sign_all(&key, 1, backlog) {
        let value: Value = serde_json::from_str(&raw)?;
        let command = Command::try_from(&Envelope::try_from(&value)?)?;
        tickets::submit(db, &tickets::NewTicket::of(&client, &command, raw, None, true, now), 8, now).await?;
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(dir.join("requestin.bodies"))?);
    for body in sign_all(&key, backlog + 1, bodies) {
        writeln!(out, "{body}")?;
    }
    out.flush()?;
    Ok(())
}

async fn drain(db: &domain::Db, backlog: i64) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1800);
    loop {
        let (open, paid, first, last): (i64, i64, Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(CASE WHEN state IN ('queued', 'processing') THEN 1 ELSE 0 END), 0) AS BIGINT),
                    CAST(COALESCE(SUM(CASE WHEN state = 'success' THEN 1 ELSE 0 END), 0) AS BIGINT), MIN(finished_at), MAX(finished_at)
             FROM reward_tickets WHERE client_id = $1",
        )
        .bind(CLIENT)
        .fetch_one(db.pool())
        .await?;
        if open == 0 {
            anyhow::ensure!(paid == backlog, "{paid} of {backlog} tickets paid");
            let seconds = (last.unwrap_or(0) - first.unwrap_or(0)).max(1) as f64 / 1000.0;
            println!("{:.0}", paid as f64 / seconds);
            return Ok(());
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the worker did not drain the backlog ({open} left)");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["prepare", url, dir, backlog, bodies] => {
            let db = domain::Db::connect(url).await?;
            db.migrate().await?;
            prepare(&db, std::path::Path::new(dir), backlog.parse()?, bodies.parse()?).await
        }
        ["drain", url, backlog] => drain(&domain::Db::connect(url).await?, backlog.parse()?).await,
        _ => anyhow::bail!("usage: bench_rewards prepare DATABASE_URL DIR BACKLOG BODIES | bench_rewards drain DATABASE_URL BACKLOG"),
    }
}
