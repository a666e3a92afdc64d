//! The `joygate` binary's operator commands, run as an operator would.

use std::process::{Command, Output};

struct Cli {
    dir: tempfile::TempDir,
    /// The database the commands run on: SQLite in `dir`, or a fresh PostgreSQL database when
    /// `JOYGATE_TEST_POSTGRES_URL` is set.
    url: String,
    _db: domain::store::testing::TestDb,
}

impl Cli {
    fn new() -> Cli {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        // its own runtime on its own thread: called from sync and async tests alike
        let (url, db) = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(domain::store::testing::fresh_url(&path))
        })
        .join()
        .unwrap();
        Cli { dir, url, _db: db }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_joygate"))
            .args(args)
            .current_dir(self.dir.path())
            .env("JOYGATE_DATABASE_URL", &self.url)
            .output()
            .expect("runs")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }
}

#[test]
fn clients_are_registered_with_a_secret_shown_once_and_listed_without_it() {
    let cli = Cli::new();
    let out = cli.ok(&["clients", "add", "shop-web", "--name", "Shop", "--redirect-uri", "https://shop.example/cb", "--web-origin", "https://shop.example"]);
    let secret = out.lines().find_map(|l| l.strip_prefix("client_secret: ")).expect("secret printed once").to_string();
    assert_eq!(secret.len(), 64);
    let list = cli.ok(&["clients", "list"]);
    assert!(list.contains("\"client_id\":\"shop-web\"") && !list.contains(&secret), "{list}");

    let refused = cli.run(&["clients", "add", "shop-web", "--name", "Shop", "--redirect-uri", "http://shop.example/cb"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("https"), "the operator is told why");
}

#[test]
fn keys_rotate_and_the_old_key_stays_published() {
    let cli = Cli::new();
    let first = cli.ok(&["keys", "list"]);
    let first_kid = first.lines().next().unwrap().strip_prefix("active: ").unwrap().to_string();
    let rotated = cli.ok(&["keys", "rotate"]);
    assert!(!rotated.contains(&format!("active: {first_kid}")));
    assert!(rotated.contains(&format!("\"kid\": \"{first_kid}\"")), "{rotated}");
    assert_eq!(rotated.matches("\"kty\": \"RSA\"").count(), 2);
}

#[test]
fn config_prints_with_secrets_redacted_and_bad_files_fail_clearly() {
    let cli = Cli::new();
    let out = cli.run(&["config"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("[redacted]") && !text.contains("j.db"), "{text}");

    std::fs::write(cli.dir.path().join("joygate.toml"), "listn = \"x\"\n").unwrap();
    let out = cli.run(&["migrate"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("listn"));
}

#[test]
fn jobs_list_and_replay_of_a_missing_job() {
    let cli = Cli::new();
    assert_eq!(cli.ok(&["jobs", "list", "--state", "dead"]), "");
    let out = cli.run(&["jobs", "replay", "999"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("999"));
    assert!(!cli.run(&["jobs", "list", "--state", "zombie"]).status.success());
}

#[tokio::test]
async fn ledger_check_passes_on_a_consistent_ledger_and_names_a_corrupted_account() {
    use domain::{identity::{members, FullName, PhoneNumber}, ledger};
    let cli = Cli::new();
    let db = domain::Db::connect(&cli.url).await.unwrap();
    db.migrate().await.unwrap();
    let new = members::NewMember { phone: PhoneNumber::parse("0912345678").unwrap(), full_name: FullName::parse("A").unwrap(), date_of_birth: None, email: None };
    let m = members::create(&db, new, None, 1).await.unwrap();
    let p = ledger::Posting {
        client_id: "shop".into(),
        transaction_id: "T1".into(),
        member_id: m.id.clone(),
        kind: ledger::Kind::Accrual,
        points: 70,
        amount: None,
        currency: None,
    };
    ledger::post(&db, &p, 2).await.unwrap();
    assert!(cli.ok(&["ledger", "check"]).contains("ledger consistent"));

    // a balance changed behind the ledger's back
    sqlx::query("UPDATE ledger_accounts SET balance = 99").execute(db.pool()).await.unwrap();
    let out = cli.run(&["ledger", "check"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("member {}: balance 99, entries sum to 70", m.id)));
}

#[tokio::test]
async fn webhook_endpoints_delivery_log_and_points_expiry_from_the_command_line() {
    use domain::{identity::{members, FullName, PhoneNumber}, ledger};
    let cli = Cli::new();
    let out = cli.ok(&["webhooks", "add", "shop", "--url", "https://shop.example/skyjoy", "--event", "user.updated-balance"]);
    let secret = out.lines().find_map(|l| l.strip_prefix("secret: ")).expect("secret printed").to_string();
    assert!(secret.starts_with("whsec_"));
    assert!(!cli.run(&["webhooks", "add", "shop", "--url", "https://shop.example/x", "--event", "user.bogus"]).status.success());
    let list = cli.ok(&["webhooks", "list"]);
    assert!(list.contains("https://shop.example/skyjoy") && !list.contains(&secret), "{list}");

    let db = domain::Db::connect(&cli.url).await.unwrap();
    let new = members::NewMember { phone: PhoneNumber::parse("0912345679").unwrap(), full_name: FullName::parse("B").unwrap(), date_of_birth: None, email: None };
    let m = members::create(&db, new, None, 1).await.unwrap();
    let p = ledger::Posting { client_id: "shop".into(), transaction_id: "OLD".into(), member_id: m.id.clone(), kind: ledger::Kind::Accrual, points: 40, amount: None, currency: None };
    ledger::post(&db, &p, 2).await.unwrap(); // earned in 1970: long expired under the default 24 months

    let (event_id, _, _) = domain::events::webhooks::events_of_member(&db, &m.id, 1).await.unwrap().remove(0);
    let log = cli.ok(&["webhooks", "log", &event_id]);
    assert!(log.contains("\"state\":\"pending\""), "{log}");
    assert!(!cli.run(&["webhooks", "log", "no-such-event"]).status.success());

    let out = cli.ok(&["ledger", "expire"]);
    assert!(out.contains(&format!("member {}: 40 points expired, balance 0", m.id)), "{out}");
    assert!(cli.ok(&["ledger", "expire"]).contains("0 member(s)"), "idempotent");
    assert!(cli.ok(&["ledger", "check"]).contains("ledger consistent"));
}

#[tokio::test]
async fn tikivip_reconcile_writes_a_past_days_files_once_and_compares_the_waiting_partner_file() {
    use domain::tikivip::{
        customers::{self, CustomerRequest},
        partners::{self, OpenMode, Partner},
        payments,
        reconcile::{Day, HEADER},
        Plan,
    };
    let cli = Cli::new();
    let db = domain::Db::connect(&cli.url).await.unwrap();
    db.migrate().await.unwrap();
    let partner = Partner {
        partner_code: "walletx".into(),
        name: "Wallet X".into(),
        client_id: "walletx-client".into(),
        client_secret: "0123456789abcdef0123".into(),
        api_base_url: "http://127.0.0.1:9/partner/v1".into(),
        open_mode: OpenMode::Url,
    };
    partners::register(&db, &partner, 1).await.unwrap();
    let day = Day::of(domain::now_ms()).previous();
    let mut ids = Vec::new();
    for (i, code) in ["C-1", "C-2"].into_iter().enumerate() {
        let req = CustomerRequest { identify_code: code.into(), phone: "0912345678".into(), full_name: None };
        let c = customers::open_link(&db, "walletx", &req, 60_000, day.start_ms()).await.unwrap().customer;
        ids.push(payments::open_payment(&db, &c, &Plan::defaults()[0], day.start_ms() + i as i64).await.unwrap().0.tiki_transaction_id);
    }
    let root = cli.dir.path().join("data/tikivip"); // the default reconcile_dir, from the working directory
    let name = format!("tikivip_walletx_{day}_1.csv");
    std::fs::create_dir_all(root.join("INBOUND/walletx")).unwrap();
    std::fs::write(root.join("INBOUND/walletx").join(&name), format!("{HEADER}\n{},,99000,PENDING,,\n", ids[0])).unwrap();

    let out = cli.ok(&["tikivip", "reconcile", "--date", &day.to_string()]);
    assert!(out.contains(&format!("wrote data/tikivip/OUTBOUND/walletx/{name} (2 rows)")), "{out}");
    assert!(out.contains(&format!("compared {name}: 2 compared, 1 matched, 1 mismatched, 0 invalid lines")), "{out}");
    let ours = std::fs::read_to_string(root.join("OUTBOUND/walletx").join(&name)).unwrap();
    assert_eq!(ours.lines().count(), 3);
    let mismatches = std::fs::read_to_string(root.join(format!("OUTBOUND/walletx/{name}.mismatches.csv"))).unwrap();
    assert!(mismatches.contains(&format!("\r\n{},MISSING_AT_PARTNER,PENDING,,\r\n", ids[1])), "{mismatches}");
    assert!(root.join("ARCHIVED/walletx").join(&name).is_file() && !root.join("INBOUND/walletx").join(&name).exists());

    // again: the day's files are there, so nothing is replaced
    std::fs::write(root.join("OUTBOUND/walletx").join(&name), "kept\n").unwrap();
    let out = cli.ok(&["tikivip", "reconcile", "--date", &day.to_string(), "--partner", "walletx"]);
    assert!(out.contains(&format!("already there, kept: data/tikivip/OUTBOUND/walletx/{name}")), "{out}");
    assert_eq!(std::fs::read_to_string(root.join("OUTBOUND/walletx").join(&name)).unwrap(), "kept\n");

    let today = cli.run(&["tikivip", "reconcile", "--date", &Day::of(domain::now_ms()).to_string()]);
    assert!(!today.status.success() && String::from_utf8_lossy(&today.stderr).contains("T+1"));
    assert!(!cli.run(&["tikivip", "reconcile", "--date", &day.to_string(), "--partner", "nobody"]).status.success());
    assert!(!cli.run(&["tikivip", "reconcile", "--date", "2026-11-23"]).status.success());
}

#[test]
fn reward_api_keys_are_printed_once_with_their_hash_and_tickets_are_listed_and_replayed() {
    let cli = Cli::new();
    let out = cli.ok(&["rewards", "api-key"]);
    let key = out.lines().find_map(|l| l.strip_prefix("api key: ")).expect("the key").to_string();
    let hash = out.lines().find_map(|l| l.strip_prefix("api_key_sha256 = \"")).and_then(|l| l.split('"').next()).expect("its hash");
    assert_eq!(domain::identity::clients::secret_sha256(&key), hash);
    assert_eq!(cli.ok(&["rewards", "list"]), "", "no tickets yet");
    let refused = cli.run(&["rewards", "list", "--state", "paid"]);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("unknown state"));
    let refused = cli.run(&["rewards", "replay", "no-such-ticket"]);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("no ticket no-such-ticket"));
    let refused = cli.run(&["rewards", "rules"]);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("no [rewards.clients.ID]"));
    std::fs::write(
        cli.dir.path().join("joygate.toml"),
        format!("[rewards.clients.shop-web]\napi_key_sha256 = \"{hash}\"\npublic_key_url = \"https://shop.example/loyalty.pem\"\n[rewards.clients.shop-web.rules.register]\npoints = 75\n"),
    )
    .unwrap();
    let rules = cli.ok(&["rewards", "rules"]);
    assert!(rules.contains("shop-web: time zone Asia/Jakarta (UTC+07:00:00), key fetched from https://shop.example/loyalty.pem"), "{rules}");
    assert!(rules.contains("\"points\": 75"), "{rules}");
}

#[test]
fn benefit_platforms_keys_and_templates_from_the_command_line() {
    let cli = Cli::new();
    let out = cli.ok(&["benefits", "platforms", "add", "ACME_5Y01", "--name", "Acme platform", "--base-url", "https://open.acme.example/api"]);
    let ours = out.lines().find_map(|l| l.split_once("our public key (keyVersion 1, made now): ").map(|(_, k)| k.to_string())).expect("our public key printed");
    assert!(domain::signing::RsaPublicKey::from_spki_base64(&ours).is_ok(), "{out}");
    assert_eq!(cli.ok(&["benefits", "keys", "public", "--platform", "ACME_5Y01"]).trim(), ours);

    // a second key, not active until activated; its private half only on the explicit command
    let out = cli.ok(&["benefits", "keys", "generate", "--platform", "ACME_5Y01"]);
    assert!(out.contains("our key version 2 (not active yet"), "{out}");
    assert_eq!(cli.ok(&["benefits", "keys", "public", "--platform", "ACME_5Y01"]).trim(), ours, "version 1 still signs");
    cli.ok(&["benefits", "keys", "activate", "--platform", "ACME_5Y01", "--version", "2"]);
    let second = cli.ok(&["benefits", "keys", "public", "--platform", "ACME_5Y01"]);
    assert_ne!(second.trim(), ours);
    let private = cli.ok(&["benefits", "keys", "private", "--platform", "ACME_5Y01", "--version", "2"]);
    let key = domain::signing::RsaPrivateKey::from_pkcs8_base64(private.trim()).unwrap();
    assert_eq!(key.public_key().to_spki_base64(), second.trim());
    let listed = cli.ok(&["benefits", "keys", "list", "--platform", "ACME_5Y01"]);
    assert!(!listed.contains(private.trim()) && listed.lines().count() == 2, "{listed}");

    // the platform's key, by version; garbage refused
    let theirs = domain::signing::RsaPrivateKey::generate_2048().unwrap().public_key().to_spki_base64();
    assert!(cli.ok(&["benefits", "keys", "register-platform", "--platform", "ACME_5Y01", "--public-key", &theirs, "--version", "3"]).contains("version 3"));
    assert!(!cli.run(&["benefits", "keys", "register-platform", "--platform", "ACME_5Y01", "--public-key", "bm90IGEga2V5"]).status.success());
    cli.ok(&["benefits", "keys", "retire", "--platform", "ACME_5Y01", "--owner", "platform", "--version", "3"]);

    // a template (a partner shop first), listed, synced once; its budget is then fixed
    cli.ok(&["clients", "add", "acme-shop", "--name", "Acme Shop", "--redirect-uri", "https://shop.example/cb", "--scope", "benefit:use"]);
    let add = [
        "benefits", "templates", "add", "ACME-50K", "--platform", "ACME_5Y01", "--partner", "acme-shop", "--title", "Giảm 50.000 ₫", "--content",
        "50,000 VND off", "--client-code", "GCASH", "--client-code", "DANA", "--begin", "2026-12-01T00:00:00+07:00", "--end",
        "2027-01-01T00:00:00+07:00", "--budget", "100", "--amount", "50000", "--valid-days", "30",
    ];
    let created = cli.ok(&add);
    assert!(created.contains("\"budget_left\": 100") && created.contains("\"DANA\""), "{created}");
    assert!(!cli.run(&add).status.success(), "a second template with the id is refused");
    let listed = cli.ok(&["benefits", "templates", "list"]);
    assert!(listed.contains("ACME-50K\tGiảm 50.000 ₫\tnot synced\tbudget 100 used 0 left 100"), "{listed}");
    let synced = cli.ok(&["benefits", "sync", "ACME-50K"]);
    assert!(synced.contains("\"status\":\"PENDING\""), "{synced}");
    let again = cli.run(&["benefits", "sync", "ACME-50K"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("still in progress"));
    let shown = cli.ok(&["benefits", "templates", "show", "ACME-50K"]);
    assert!(shown.contains("sync {") && shown.contains("budget 100 used 0 left 100"), "{shown}");
    let jobs = cli.ok(&["jobs", "list"]);
    assert!(jobs.contains("\"kind\":\"benefits.sync\""), "{jobs}");
    let bad = cli.run(&["benefits", "templates", "add", "X", "--platform", "ACME_5Y01", "--partner", "acme-shop", "--title", "t", "--content", "c", "--client-code", "GCASH", "--begin", "yesterday", "--end", "2027-01-01T00:00:00+07:00", "--budget", "1", "--amount", "1", "--valid-days", "1"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--begin must be RFC 3339"));
    assert!(cli.ok(&["benefits", "expire"]).contains("0 benefit(s) expired"));
}
