//! Request count and latency per route template (never per raw path: bounded label sets).

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request},
    response::Response,
};

/// A request being timed: its route template and method, and when it came in.
pub struct Timer {
    route: String,
    method: String,
    started: Instant,
}

impl Timer {
    pub fn start(req: &Request) -> Timer {
        let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
        Timer { route, method: req.method().to_string(), started: Instant::now() }
    }

    /// Counts the request and records its time, labelled with the answer's status.
    pub fn record(self, response: &Response) {
        let status = response.status().as_u16().to_string();
        let labels = [("method", self.method), ("route", self.route), ("status", status)];
        metrics::counter!("joygate_http_requests_total", &labels).increment(1);
        metrics::histogram!("joygate_http_request_duration_seconds", &labels).record(self.started.elapsed().as_secs_f64());
    }
}
