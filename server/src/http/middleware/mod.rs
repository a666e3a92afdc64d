//! Middleware, one concern per file, run by one layer per route: [`edge`] calls them in the
//! order below. Each `axum::middleware::from_fn` layer costs a boxed future and a boxed copy
//! of the route's service per request; six of them were a measured part of a small request's
//! time (README "Benchmarks"), so the concerns are plain functions composed here.
//!
//! Around the router, outermost first: the request id ([`trace`]), the span and log line
//! ([`trace`]), compression; the session only around the routes that keep one (the pages and
//! their server functions, sign-in and sign-out: `http::router`) — then, per route, [`edge`]:
//! 1. [`metrics`]: the route's count and time, with the status of whatever answered;
//! 2. [`language`]: the page language, into the request's extensions;
//! 3. [`client_ip`]: who is calling, into the request's extensions;
//! 4. [`same_origin`]: a browser's cross-site post to a server function is refused here;
//! 5. [`page_policy`]: who may frame the answer, where its forms may go, the page nonce
//!    (decided before the handler, written on whatever answered, a refusal included);
//! 6. the handler, a panic in it answered as a logged 500 (`errors::unless_panicked`).
//!
//! The API families add their request-target limit on their own routes (`input::limit_uri`).

pub mod client_ip;
pub mod language;
pub mod metrics;
pub mod page_policy;
pub mod same_origin;
pub mod trace;

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::Response,
};
use tower_sessions::Session;

use crate::http::{errors, AppState};

/// What the edge needs besides the handlers' state, shared behind one `Arc`.
#[derive(Clone)]
pub struct Edge(std::sync::Arc<EdgeState>);

struct EdgeState {
    app: AppState,
    trusted: client_ip::TrustedProxies,
    own_origin: same_origin::OwnOrigin,
}

impl Edge {
    pub fn new(app: AppState, trusted: client_ip::TrustedProxies, own_origin: same_origin::OwnOrigin) -> Edge {
        Edge(std::sync::Arc::new(EdgeState { app, trusted, own_origin }))
    }
}

/// The middleware of every route, in the order of the module header.
pub async fn edge(State(edge): State<Edge>, mut req: Request, next: Next) -> Response {
    let timer = metrics::Timer::start(&req);
    // Only the routes that keep a browser session have one (`http::router`).
    let session = req.extensions().get::<Session>().cloned();
    let lang = language::negotiate(session.as_ref(), req.uri(), req.headers()).await;
    req.extensions_mut().insert(lang);
    if let Some(ip) = client_ip::of(&req, &edge.0.trusted) {
        req.extensions_mut().insert(ip);
    }
    let refused = same_origin::refusal(&edge.0.own_origin, &req);
    let prepared = page_policy::prepare(&edge.0.app, &mut req).await;
    let mut response = match refused {
        Some(refusal) => refusal,
        None => {
            let html = errors::wants_html(req.headers());
            errors::unless_panicked(html, next.run(req)).await
        }
    };
    page_policy::finish(&prepared, &mut response);
    timer.record(&response);
    response
}
