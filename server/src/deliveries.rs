//! The outbox handlers that leave the machine: partner webhooks (`webhook.deliver`) and member
//! notifications (`push.member`). What is sent and to whom is decided in `domain::events`; this
//! is only the HTTP.
//!
//! A webhook delivery POSTs the event's stored body (the same bytes on every try) with
//! `Content-Type: application/json`, `gj-signature: t=<unix ms>,v1=<hex>` signed at send time
//! with the endpoint's secret, and `gj-event-id`. A 2xx answer is delivered; anything else, or
//! no answer within 10 s, is tried again later (`[webhooks]` backoff, 30 attempts over more than
//! three days), then dead-lettered for `joygate jobs replay`. Receivers dedupe on `event_id`.

use std::{sync::Arc, time::Duration};

use domain::{
    events::{
        push::{self, Notification, PushError, PushFuture, PushSender},
        webhooks,
    },
    outbox::{HandlerFuture, Job, JobError, JobHandler, RetryPolicy},
    signing::skyjoy_webhook,
    Db,
};

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().timeout(Duration::from_secs(10)).user_agent("GalaxyJoy-Webhook/1 (Joygate)").build()?)
}

pub struct WebhookDelivery {
    db: Db,
    http: reqwest::Client,
    retry: RetryPolicy,
}

impl WebhookDelivery {
    pub fn new(db: Db, retry: RetryPolicy) -> anyhow::Result<Self> {
        Ok(Self { db, http: client()?, retry })
    }

    async fn deliver(&self, job: &Job) -> Result<(), JobError> {
        let d = webhooks::delivery(&self.db, &job.payload)
            .await
            .map_err(|e| JobError::Retry(format!("loading the delivery: {e}")))?
            .ok_or_else(|| JobError::Permanent("the event or the endpoint no longer exists".into()))?;
        if !d.enabled {
            return Err(JobError::Permanent("the endpoint is disabled".into()));
        }
        let signature = skyjoy_webhook::sign(d.secret.as_bytes(), domain::now_ms(), d.body.as_bytes());
        let res = self
            .http
            .post(&d.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(skyjoy_webhook::HEADER, signature)
            .header("gj-event-id", &d.event_id)
            .body(d.body)
            .send()
            .await
            .map_err(|e| JobError::Retry(format!("no answer: {}", e.without_url())))?;
        let status = res.status();
        if !status.is_success() {
            return Err(JobError::Retry(format!("HTTP {}", status.as_u16())));
        }
        Ok(())
    }
}

impl JobHandler for WebhookDelivery {
    fn kind(&self) -> &'static str {
        webhooks::DELIVER
    }
    fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }
    fn handle<'a>(&'a self, job: &'a Job) -> HandlerFuture<'a> {
        Box::pin(self.deliver(job))
    }
}

/// Sends the unsent member notifications, oldest first, through the configured [`PushSender`]
/// and marks them sent; a failure stops the batch and the job retries (what was sent stays sent).
pub struct PushDelivery {
    pub db: Db,
    pub sender: Arc<dyn PushSender>,
}

impl PushDelivery {
    const BATCH: i64 = 200;

    async fn flush(&self) -> Result<(), JobError> {
        loop {
            let batch = push::unsent(&self.db, Self::BATCH).await.map_err(|e| JobError::Retry(e.to_string()))?;
            let mut sent = Vec::with_capacity(batch.len());
            let mut failure = None;
            for n in &batch {
                match self.sender.send(n).await {
                    Ok(()) => sent.push(n.id.clone()),
                    Err(e) => {
                        failure = Some(e.to_string());
                        break;
                    }
                }
            }
            push::mark_sent(&self.db, &sent, domain::now_ms()).await.map_err(|e| JobError::Retry(e.to_string()))?;
            if let Some(e) = failure {
                return Err(JobError::Retry(e));
            }
            if (batch.len() as i64) < Self::BATCH {
                return Ok(());
            }
        }
    }
}

impl JobHandler for PushDelivery {
    fn kind(&self) -> &'static str {
        push::SEND
    }
    fn handle<'a>(&'a self, _job: &'a Job) -> HandlerFuture<'a> {
        Box::pin(self.flush())
    }
}

/// A push gateway (`[push] url`): each notification is POSTed as JSON
/// `{"member_id","kind","title","body","created_at_ms"}` with `Authorization: Bearer {token}`;
/// any 2xx is sent.
pub struct HttpPushSender {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl HttpPushSender {
    pub fn new(url: String, token: String) -> anyhow::Result<Self> {
        Ok(Self { http: client()?, url, token })
    }
}

impl PushSender for HttpPushSender {
    fn send<'a>(&'a self, n: &'a Notification) -> PushFuture<'a> {
        Box::pin(async move {
            let body = serde_json::json!({"member_id": n.member_id, "kind": n.kind, "title": n.title, "body": n.body, "created_at_ms": n.created_at_ms});
            let mut req = self.http.post(&self.url).json(&body);
            if !self.token.is_empty() {
                req = req.bearer_auth(&self.token);
            }
            let res = req.send().await.map_err(|e| PushError(e.without_url().to_string()))?;
            if !res.status().is_success() {
                return Err(PushError(format!("gateway answered {}", res.status())));
            }
            Ok(())
        })
    }
}
