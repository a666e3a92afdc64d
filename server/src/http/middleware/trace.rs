//! A span per request carrying its `x-request-id`, so every log line inside has it.

use axum::http::Request;
use tower_http::{
    classify::{ServerErrorsAsFailures, SharedClassifier},
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::Level;

pub fn layer<B>() -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, impl Fn(&Request<B>) -> tracing::Span + Clone> {
    TraceLayer::new_for_http()
        .make_span_with(|req: &Request<B>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
        })
        .on_response(DefaultOnResponse::new().level(Level::DEBUG))
}
