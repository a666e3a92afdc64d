//! The HTTP SMS gateway sender (`[sms] url`): one JSON POST per message,
//! `{"to": "+84912345678", "text": "…"}` with `Authorization: Bearer {token}`; any 2xx is
//! success, anything else (or 10 s without an answer) fails the send, and the member sees
//! "could not send the code" and may retry.

use std::time::Duration;

use domain::identity::{
    sms::{SendFuture, SmsError, SmsSender},
    PhoneNumber,
};

pub struct WebhookSender {
    client: reqwest::Client,
    url: String,
    token: String,
}

impl WebhookSender {
    pub fn new(url: String, token: String) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
        Ok(Self { client, url, token })
    }
}

impl SmsSender for WebhookSender {
    fn send<'a>(&'a self, to: &'a PhoneNumber, text: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            let mut req = self.client.post(&self.url).json(&serde_json::json!({ "to": to.as_str(), "text": text }));
            if !self.token.is_empty() {
                req = req.bearer_auth(&self.token);
            }
            let res = req.send().await.map_err(|e| SmsError(e.without_url().to_string()))?;
            if !res.status().is_success() {
                return Err(SmsError(format!("gateway answered {}", res.status())));
            }
            Ok(())
        })
    }
}
