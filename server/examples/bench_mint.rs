//! Mints authorization codes and refresh tokens straight into a joygate database, for
//! `scripts/bench` (codes and refresh tokens are single use, so a load test needs one per
//! request). Not part of the product.
//!
//! Usage: bench_mint DATABASE_URL CLIENT_ID REDIRECT_URI COUNT CODES_FILE REFRESH_FILE

use domain::identity::{
    grants::{self, CodeRequest, GrantPolicy},
    members::{self, NewMember},
    FullName, PhoneNumber,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [db_url, client_id, redirect_uri, count, codes_file, refresh_file] = args.as_slice() else {
        anyhow::bail!("usage: bench_mint DATABASE_URL CLIENT_ID REDIRECT_URI COUNT CODES_FILE REFRESH_FILE");
    };
    let count: usize = count.parse()?;
    let db = domain::Db::connect(db_url).await?;
    let now = domain::now_ms();
    let new = NewMember {
        phone: PhoneNumber::parse("0900000001")?,
        full_name: FullName::parse("Bench Member")?,
        date_of_birth: None,
        email: None,
    };
    let (member, _) = members::find_or_create(&db, new, None, now).await?;
    // Long-lived codes: the load test starts after minting ends.
    let policy = GrantPolicy { code_ttl_ms: 3_600_000, ..GrantPolicy::default() };
    let req = CodeRequest {
        client_id,
        member_id: &member.id,
        scope: "openid profile phone",
        nonce: Some("bench"),
        redirect_uri,
        code_challenge: None,
        auth_time_ms: now,
    };
    let (mut codes, mut refresh) = (String::new(), String::new());
    for _ in 0..count {
        codes.push_str(&grants::issue_code(&db, &policy, &req, now).await?);
        codes.push('\n');
        let code = grants::issue_code(&db, &policy, &req, now).await?;
        let (_, first) = grants::exchange_code(&db, &policy, client_id, &code, redirect_uri, None, now).await?;
        refresh.push_str(&first);
        refresh.push('\n');
    }
    std::fs::write(codes_file, codes)?;
    std::fs::write(refresh_file, refresh)?;
    Ok(())
}
