//! The HTTP surface: one router, API families as modules, middleware one concern per file.

pub mod account;
pub mod benefits;
pub mod errors;
pub mod input;
pub mod middleware;
pub mod oidc;
pub mod openapi;
pub mod ops;
pub mod rewards;
pub mod sandbox;
pub mod sessions;
pub mod skyjoy;
pub mod tikivip;

use std::net::SocketAddr;

use axum::{body::Bytes, extract::FromRef, routing::get, Router};
use leptos::prelude::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tokio::sync::watch;
use tower::ServiceBuilder;
use tower_http::{
    compression::CompressionLayer,
    request_id::{PropagateRequestIdLayer, SetRequestIdLayer},
};
use tower_sessions::{cookie::SameSite, Expiry, SessionManagerLayer};

use crate::config::Config;

/// What handlers share: one allocation behind an `Arc`, because every middleware with state and
/// every handler clones it per request (a deep clone measured at a third of `/healthz`'s time).
#[derive(Clone)]
pub struct AppState(std::sync::Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl FromRef<AppState> for domain::Db {
    fn from_ref(state: &AppState) -> domain::Db {
        state.db.clone()
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> LeptosOptions {
        state.leptos_options.clone()
    }
}

pub struct Shared {
    pub leptos_options: LeptosOptions,
    pub db: domain::Db,
    /// This process's name among the instances on the database (its leases say it too).
    pub instance: String,
    /// The sign-in provider (also handed to the pages' server functions as context).
    pub idp: domain::identity::Idp,
    /// The OpenID discovery document, serialised once.
    pub discovery: Bytes,
    /// How many SkyPoints a purchase earns, per partner.
    pub earning: std::sync::Arc<domain::ledger::EarningRules>,
    /// The outbox worker, woken when a handler commits follow-up work (webhooks, notifications).
    pub worker: domain::outbox::Worker,
    /// Tiki VIP: plans, the payment partners' API, timings (also the webview pages' context).
    pub tikivip: domain::tikivip::TikiVip,
    /// Reward task clients (API keys, signing keys, rules) and the clock the gateway reads.
    pub rewards: std::sync::Arc<crate::rewards::Rewards>,
    /// Benefits: the platforms' keys, the signature window.
    pub benefits: benefits::BenefitsContext,
    /// The partner APIs' OpenAPI document and its reference page.
    pub openapi: openapi::Served,
}

pub const SESSION_COOKIE: &str = "joygate_session";

/// Builds the whole router.
pub async fn router(
    config: &Config,
    db: domain::Db,
    idp: domain::identity::Idp,
    worker: domain::outbox::Worker,
    tikivip: domain::tikivip::TikiVip,
    rewards: std::sync::Arc<crate::rewards::Rewards>,
    benefit_context: benefits::BenefitsContext,
    bound: SocketAddr,
    instance: String,
) -> anyhow::Result<Router> {
    let leptos_options = LeptosOptions::builder()
        .output_name("joygate")
        .site_root(config.site_root.to_string_lossy().to_string())
        .site_pkg_dir("pkg")
        .site_addr(bound)
        .build();
    let discovery = oidc::discovery::metadata_json(&idp.issuer)?;
    let operator = app::context::OperatorToken(config.operator.token_sha256.clone());
    let reward_clients =
        app::context::RewardClients(std::sync::Arc::new(rewards.entries().map(|e| (e.client.clone(), e.key_description())).collect()));
    let earning = std::sync::Arc::new(domain::ledger::EarningRules { default: config.earning, partners: config.earning_by_partner.clone() });
    let state = AppState(std::sync::Arc::new(Shared {
        leptos_options: leptos_options.clone(),
        db: db.clone(),
        instance,
        idp: idp.clone(),
        discovery,
        earning,
        worker: worker.clone(),
        tikivip: tikivip.clone(),
        rewards,
        benefits: benefit_context,
        openapi: openapi::Served::new(&config.benefits)?,
    }));

    let edge = middleware::Edge::new(
        state.clone(),
        middleware::client_ip::TrustedProxies(std::sync::Arc::new(config.trusted_proxies.clone())),
        middleware::same_origin::OwnOrigin(config.public_url(bound)),
    );
    let session_store = sessions::DbSessionStore::new(db.clone());
    let sessions = SessionManagerLayer::new(session_store)
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(config.served_over_https())
        .with_expiry(Expiry::OnInactivity(tower_sessions::cookie::time::Duration::days(30)));

    // Two groups of routes, each run by the edge. Only the first keeps a browser session: the
    // pages and their server functions, sign-in and sign-out, the webview's opening link. The
    // partner APIs, discovery and the static files never read or write one — a session layer
    // there cost each request its cookie parsing, and a request for a file that carried a
    // session cookie read the session and, when a sign-in had just replaced it (the id is
    // cycled), answered by deleting the browser's new cookie.
    let edge = axum::middleware::from_fn_with_state(edge, middleware::edge);
    let with_session = Router::new()
        .merge(oidc::session_routes())
        .merge(account::routes())
        .merge(tikivip::session_routes())
        .leptos_routes_with_context(
            &state,
            generate_route_list(app::App),
            move || {
                leptos::prelude::provide_context(db.clone());
                leptos::prelude::provide_context(idp.clone());
                leptos::prelude::provide_context(tikivip.clone());
                leptos::prelude::provide_context(operator.clone());
                leptos::prelude::provide_context(reward_clients.clone());
                leptos::prelude::provide_context(worker.clone());
            },
            {
                let options = leptos_options.clone();
                move || app::shell(options.clone())
            },
        )
        .layer(edge.clone())
        .layer(sessions);
    let mut without_session = Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/docs/api", get(openapi::reference_page))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .merge(oidc::routes())
        .merge(skyjoy::routes())
        .merge(tikivip::routes())
        .merge(rewards::routes())
        .merge(benefits::routes(&config.benefits));
    if config.sandbox {
        without_session = without_session.merge(sandbox::routes());
    }
    let router = without_session
        .fallback(errors::fallback)
        .layer(edge)
        .merge(with_session)
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(middleware::trace::MakeRequestId))
                .layer(middleware::trace::layer())
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(CompressionLayer::new()),
        );
    Ok(router)
}

/// Serves until `shutdown` turns true, then lets in-flight requests finish.
pub async fn serve(listener: tokio::net::TcpListener, router: Router, mut shutdown: watch::Receiver<bool>) {
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    let stop = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    // No Nagle delay: a response written in two parts (headers, then a streamed file body)
    // otherwise waits for the client's delayed ACK, about 40 ms.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    if let Err(e) = axum::serve(listener, service).with_graceful_shutdown(stop).await {
        tracing::error!(error = %e, "HTTP server stopped with an error");
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
