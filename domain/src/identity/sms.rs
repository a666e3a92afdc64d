//! Sending one-time codes by SMS. The sender is pluggable: [`LogSender`] (the default: logs the
//! message, and in sandbox mode keeps it in a [`DevInbox`] — a table, so every instance's page
//! and tests can read it) or an HTTP gateway sender in the server (`server::sms`).

use std::{future::Future, pin::Pin};

use serde::Serialize;

use super::PhoneNumber;
use crate::store::{Db, StoreError};

#[derive(Debug, thiserror::Error)]
#[error("the SMS could not be sent: {0}")]
pub struct SmsError(pub String);

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SmsError>> + Send + 'a>>;

pub trait SmsSender: Send + Sync {
    fn send<'a>(&'a self, to: &'a PhoneNumber, text: &'a str) -> SendFuture<'a>;
}

/// The text of a one-time-code SMS in the member's language (`vi` unless `en`).
pub fn otp_text(lang: &str, code: &str, minutes: i64) -> String {
    if lang == "en" {
        format!("{code} is your SkyJoy code. It expires in {minutes} minutes. Never share it.")
    } else {
        format!("{code} là mã SkyJoy của bạn, có hiệu lực trong {minutes} phút. Không chia sẻ mã này.")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct SentSms {
    #[sqlx(rename = "phone")]
    pub to: String,
    pub text: String,
    #[sqlx(rename = "sent_at")]
    pub sent_at_ms: i64,
}

/// The messages sent in the last hour, in the database so that every instance's
/// `/sandbox/sms` shows them (sandbox only).
#[derive(Debug, Clone)]
pub struct DevInbox(Db);

impl DevInbox {
    const KEEP_MS: i64 = 3_600_000;

    pub fn new(db: Db) -> Self {
        DevInbox(db)
    }

    pub async fn record(&self, to: &PhoneNumber, text: &str, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO sandbox_sms (phone, text, sent_at) VALUES ($1, $2, $3)")
            .bind(to.as_str())
            .bind(text)
            .bind(now_ms)
            .execute(self.0.pool())
            .await?;
        Ok(())
    }

    /// Messages to `to` (all messages when `None`), newest first, at most 200.
    pub async fn messages(&self, to: Option<&PhoneNumber>) -> Result<Vec<SentSms>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT phone, text, sent_at FROM sandbox_sms WHERE ($1 IS NULL OR phone = $1) ORDER BY id DESC LIMIT 200",
        )
        .bind(to.map(|p| p.as_str()))
        .fetch_all(self.0.pool())
        .await?)
    }

    /// Forgets messages older than an hour (housekeeping).
    pub async fn purge(&self, now_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sandbox_sms WHERE sent_at < $1").bind(now_ms - Self::KEEP_MS).execute(self.0.pool()).await?;
        Ok(done.rows_affected())
    }
}

/// Writes each message to the log (the phone number masked), and to the dev inbox if any.
#[derive(Debug, Clone, Default)]
pub struct LogSender {
    pub inbox: Option<DevInbox>,
}

impl SmsSender for LogSender {
    fn send<'a>(&'a self, to: &'a PhoneNumber, text: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            tracing::info!(to = %to.masked(), "SMS (log sender; set [sms] url for a gateway)");
            if let Some(inbox) = &self.inbox {
                inbox.record(to, text, crate::now_ms()).await.map_err(|e| SmsError(e.to_string()))?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_log_sender_fills_the_dev_inbox_newest_first() {
        let (_g, db) = crate::store::testing::temp_db().await;
        let inbox = DevInbox::new(db);
        let sender = LogSender { inbox: Some(inbox.clone()) };
        let a = PhoneNumber::parse("0912345678").unwrap();
        let b = PhoneNumber::parse("0987654321").unwrap();
        sender.send(&a, &otp_text("vi", "111111", 5)).await.unwrap();
        sender.send(&b, &otp_text("en", "222222", 5)).await.unwrap();
        sender.send(&a, &otp_text("vi", "333333", 5)).await.unwrap();
        let to_a = inbox.messages(Some(&a)).await.unwrap();
        assert_eq!(to_a.len(), 2);
        assert!(to_a[0].text.starts_with("333333") && to_a[1].text.starts_with("111111"));
        assert_eq!(inbox.messages(None).await.unwrap().len(), 3);
        assert!(inbox.messages(Some(&b)).await.unwrap()[0].text.contains("expires in 5 minutes"));
        assert_eq!(inbox.purge(crate::now_ms() + DevInbox::KEEP_MS + 1).await.unwrap(), 3);
        assert!(inbox.messages(None).await.unwrap().is_empty());
    }
}
