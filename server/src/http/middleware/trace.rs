//! A span per request carrying its `x-request-id` (the caller's, else a new random UUID), so
//! every log line inside has it.

use axum::http::{HeaderValue, Request};
use rand::RngCore;
use tower_http::{
    classify::{ServerErrorsAsFailures, SharedClassifier},
    request_id::RequestId,
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::Level;

/// A random (v4) UUID for a request that came without an `x-request-id`, drawn from the thread's
/// CSPRNG: tower-http's `MakeRequestUuid` asks the kernel for each one (a `getrandom` system
/// call per request, 2 % of `/jwks`'s CPU time in perf).
#[derive(Debug, Clone, Copy, Default)]
pub struct MakeRequestId;

impl tower_http::request_id::MakeRequestId for MakeRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let mut bytes = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut bytes);
        let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
        let mut text = uuid::Uuid::encode_buffer();
        HeaderValue::from_str(id.hyphenated().encode_lower(&mut text)).ok().map(RequestId::new)
    }
}

pub fn layer<B>() -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, impl Fn(&Request<B>) -> tracing::Span + Clone> {
    TraceLayer::new_for_http()
        .make_span_with(|req: &Request<B>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
        })
        .on_response(DefaultOnResponse::new().level(Level::DEBUG))
}

#[cfg(test)]
mod tests {
    use tower_http::request_id::MakeRequestId as _;

    use super::*;

    #[test]
    fn request_ids_are_distinct_v4_uuids() {
        let req = Request::new(());
        let ids: Vec<String> = (0..64)
            .map(|_| MakeRequestId.make_request_id(&req).unwrap().header_value().to_str().unwrap().to_string())
            .collect();
        for id in &ids {
            let parsed = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(parsed.get_version_num(), 4, "{id}");
            assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122, "{id}");
            assert_eq!(id, &parsed.hyphenated().to_string(), "lower-case hyphenated: {id}");
        }
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
    }
}
