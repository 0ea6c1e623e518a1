#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod body;
pub mod caching;
pub mod client_ip;
pub mod error;
pub mod extract;
pub mod jwt;
pub mod middleware;
pub mod routes;
pub mod sse;
pub mod state;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use client_ip::{ClientIp, ClientIpSource, IpBlock};
pub use error::ApiError;
pub use jwt::JwtCodec;
pub use state::{AppState, HttpConfig};

use routes::{auth, chats, messages, meta, streams};

#[derive(OpenApi)]
#[openapi(
    info(title = "Alleato API", description = "The backend of an AI chat application: accounts, chats and streamed answers."),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Accounts, guests and sessions"),
        (name = "chats", description = "Chats"),
        (name = "messages", description = "Messages, generations and votes"),
        (name = "streams", description = "Event logs with live followers"),
        (name = "public", description = "What anyone may read"),
        (name = "meta", description = "Health and this document"),
    ),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Every route with its OpenAPI description, before the document is rendered.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(meta::health))
        .routes(routes!(meta::openapi))
        .routes(routes!(meta::models))
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::guest))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(chats::list, chats::create))
        .routes(routes!(chats::get, chats::update, chats::delete))
        .routes(routes!(chats::public))
        .routes(routes!(messages::send, messages::list))
        .routes(routes!(messages::send_ai_sdk))
        .routes(routes!(messages::resume))
        .routes(routes!(messages::resume_ai_sdk))
        .routes(routes!(messages::stop))
        .routes(routes!(messages::edit, messages::delete))
        .routes(routes!(messages::vote))
        .routes(routes!(messages::votes))
        .routes(routes!(messages::export))
        .routes(routes!(streams::create))
        .routes(routes!(streams::follow, streams::close))
        .routes(routes!(streams::append))
}

/// The OpenAPI document of exactly the routes [`router`] serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_routes().split_for_parts().1
}

/// The whole API. The only place routes are mounted; every runtime serves this router.
pub fn router(state: AppState) -> Router {
    let (routes, doc) = api_routes().split_for_parts();
    let doc = meta::OpenApiJson(Arc::from(doc.to_json().expect("the OpenAPI document serialises")));
    let cors = middleware::cors(&state.config.cors_origins);
    let router = routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(Extension(doc))
        .layer(DefaultBodyLimit::max(extract::JSON_LIMIT))
        // Tags the body as the handler made it, before any compression.
        .layer(axum::middleware::from_fn(caching::etag))
        .layer(axum::middleware::from_fn_with_state(state.clone(), rate_limit_api))
        .layer(cors)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::conventions,
        ));
    // On the Worker, Cloudflare compresses at the edge: workerd encodes a body itself when the
    // response names a content coding, so compressing here would encode it twice.
    #[cfg(not(target_arch = "wasm32"))]
    let router = router.layer(caching::compression());
    router.with_state(state)
}

async fn rate_limit_api(state: axum::extract::State<AppState>, req: Request, next: axum::middleware::Next) -> Response {
    if req.uri().path().starts_with("/api/") {
        middleware::rate_limit(state, req, next).await
    } else {
        next.run(req).await
    }
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(format!("no route for {} {}", req.method(), req.uri().path()))
}

async fn method_not_allowed(req: Request) -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
    .into_response()
}
