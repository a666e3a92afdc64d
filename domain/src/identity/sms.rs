//! Sending one-time codes by SMS. The sender is pluggable: [`LogSender`] (the default: logs the
//! message, and in sandbox mode keeps it in a [`DevInbox`] that a page and tests can read) or an
//! HTTP gateway sender in the server (`server::sms`).

use std::{
    collections::VecDeque,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
};

use serde::Serialize;

use super::PhoneNumber;

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentSms {
    pub to: String,
    pub text: String,
    pub sent_at_ms: i64,
}

/// The last messages sent, newest first (sandbox only; bounded).
#[derive(Debug, Clone, Default)]
pub struct DevInbox(Arc<Mutex<VecDeque<SentSms>>>);

impl DevInbox {
    const KEEP: usize = 200;

    pub fn record(&self, to: &PhoneNumber, text: &str, now_ms: i64) {
        let mut inbox = self.0.lock().unwrap_or_else(|e| e.into_inner());
        inbox.push_front(SentSms { to: to.to_string(), text: text.to_string(), sent_at_ms: now_ms });
        inbox.truncate(Self::KEEP);
    }

    /// Messages to `to` (all messages when `None`), newest first.
    pub fn messages(&self, to: Option<&PhoneNumber>) -> Vec<SentSms> {
        let inbox = self.0.lock().unwrap_or_else(|e| e.into_inner());
        inbox.iter().filter(|m| to.is_none_or(|p| m.to == p.as_str())).cloned().collect()
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
                inbox.record(to, text, crate::now_ms());
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
        let inbox = DevInbox::default();
        let sender = LogSender { inbox: Some(inbox.clone()) };
        let a = PhoneNumber::parse("0912345678").unwrap();
        let b = PhoneNumber::parse("0987654321").unwrap();
        sender.send(&a, &otp_text("vi", "111111", 5)).await.unwrap();
        sender.send(&b, &otp_text("en", "222222", 5)).await.unwrap();
        sender.send(&a, &otp_text("vi", "333333", 5)).await.unwrap();
        let to_a = inbox.messages(Some(&a));
        assert_eq!(to_a.len(), 2);
        assert!(to_a[0].text.starts_with("333333") && to_a[1].text.starts_with("111111"));
        assert_eq!(inbox.messages(None).len(), 3);
        assert!(inbox.messages(Some(&b))[0].text.contains("expires in 5 minutes"));
    }
}
