//! Per-flow page policy for `/signin/{flow}`: the embedded sign-in may be framed only by its
//! client's registered web origins (CSP `frame-ancestors` per client, never realm-wide), and a
//! plain form post may be redirected only to the flow's own redirect URI origin. The flow and
//! client loaded for that are handed to the page's first render ([`Preloaded`]).

use app::{pages::signin::backend::Preloaded, PagePolicy};
use axum::{
    extract::{Request, State},
    middleware::Next,
    response::Response,
};
use domain::identity::{clients, flows};

use crate::http::AppState;

pub async fn signin_page_policy(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let flow_id = req.uri().path().strip_prefix("/signin/").map(|rest| rest.split('/').next().unwrap_or("").to_string());
    if let Some(flow_id) = flow_id.filter(|id| !id.is_empty()) {
        if let Ok(Some(flow)) = flows::load(&state.db, &flow_id, domain::now_ms()).await {
            let embedded = flow.request.response_mode == flows::ResponseMode::WebMessage;
            let client = clients::find(&state.db, &flow.request.client_id).await.ok().flatten();
            let ancestors = client.as_ref().filter(|c| embedded && !c.web_origins.is_empty()).map(|c| c.web_origins.join(" "));
            req.extensions_mut().insert(PagePolicy { frame_ancestors: ancestors, form_targets: flow.message_origin() });
            // the page renders this same flow: hand it over instead of reading it again
            req.extensions_mut().insert(Preloaded { flow, client });
        }
    }
    next.run(req).await
}
