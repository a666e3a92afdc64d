//! Sets up the benefit bench rows of `scripts/bench` in a joygate database and signs the
//! issueBenefit requests the load test sends (an RSA signature per request cannot be made in
//! wrk's Lua): a bench platform with its own key, the partner shop, a template with a budget
//! large enough for the run, synced; then COUNT requests, each with a new benefitIssueRequestId,
//! signed with the platform's key over the issue path (valid for the `[benefits]` time window,
//! 5 minutes by default). Not part of the product.
//!
//! Usage: bench_benefits DATABASE_URL ISSUE_PATH COUNT OUT_FILE
//! Writes one request per line: `Request-Time<TAB>Signature<TAB>body`; prints the Client-Id.

use domain::{
    benefits::{
        fields::Amount,
        keys, platforms, sync,
        templates::{self, Credential, NewTemplate, Validity, MAX_BUDGET},
        ClientCode, TemplateId, Title,
    },
    identity::clients::{self, ClientSpec},
    signing::{alipay_plus, RsaPrivateKey},
};

const CLIENT_ID: &str = "BENCH_5Y00000000000001";
const TEMPLATE: &str = "BENCH-ISSUE";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [db_url, path, count, out] = args.as_slice() else {
        anyhow::bail!("usage: bench_benefits DATABASE_URL ISSUE_PATH COUNT OUT_FILE");
    };
    let count: usize = count.parse()?;
    let db = domain::Db::connect(db_url).await?;
    let now = domain::now_ms();
    platforms::register(&db, CLIENT_ID, "Bench platform", "http://127.0.0.1:9", now).await?;
    let key = RsaPrivateKey::generate_2048()?;
    let version = keys::register_platform_key(&db, CLIENT_ID, None, &key.public_key().to_spki_base64(), now).await?;
    let shop = ClientSpec {
        client_id: "bench-shop".into(),
        name: "Bench Shop".into(),
        redirect_uris: vec!["http://localhost/bench".into()],
        scopes: vec!["benefit:use".into()],
        ..ClientSpec::default()
    };
    clients::register(&db, &shop, true, now).await?;
    if templates::find(&db, TEMPLATE).await?.is_none() {
        let t = NewTemplate {
            template_id: TemplateId::parse(TEMPLATE)?,
            client_id: CLIENT_ID.into(),
            partner_client_id: "bench-shop".into(),
            title: Title::parse("Bench voucher")?,
            content: "Load test".into(),
            client_codes: vec![ClientCode::parse("BENCHAPP")?],
            begin_at_ms: now - 86_400_000,
            end_at_ms: now + 86_400_000,
            budget: MAX_BUDGET,
            amount: Amount::new("VND", 50_000)?,
            credential: Credential::Code,
            url_base: None,
            validity: Validity::Days(30),
        };
        templates::create(&db, &t, now).await?;
        let s = sync::request(&db, TEMPLATE, now).await?;
        sync::apply(&db, &s.sync_request_id, &sync::SyncReport::accepted(), 86_400_000, now).await?;
    }
    // Sign on every core (the requests are independent).
    let key = std::sync::Arc::new(key);
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let stamp = now;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (key, path) = (key.clone(), path.clone());
            std::thread::spawn(move || {
                let mut lines = String::new();
                for n in (t..count).step_by(threads) {
                    let body = format!(
                        r#"{{"benefitIssueRequestId":"B{stamp}{n:08}","userId":"U{n}","clientCode":"BENCHAPP","benefitTemplateId":"{TEMPLATE}","quantity":1}}"#
                    );
                    let time = alipay_plus::format_time(domain::now_ms());
                    let sig = alipay_plus::sign_header(&key, version as u32, "POST", &path, CLIENT_ID, &time, body.as_bytes());
                    lines.push_str(&format!("{time}\t{sig}\t{body}\n"));
                }
                lines
            })
        })
        .collect();
    let mut all = String::new();
    for h in handles {
        all.push_str(&h.join().map_err(|_| anyhow::anyhow!("a signing thread panicked"))?);
    }
    std::fs::write(out, all)?;
    println!("{CLIENT_ID}");
    Ok(())
}
