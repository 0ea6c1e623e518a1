//! Health, the model list and the OpenAPI document.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::{Extension, Json};

use crate::body::{HealthResponse, ModelBody, ModelsResponse};
use crate::state::AppState;

/// Liveness and what this server runs.
#[utoipa::path(get, path = "/health", tag = "meta", security(()),
    responses((status = 200, description = "Serving", body = HealthResponse)))]
pub async fn health(State(state): State<AppState>) -> Json<HealthResponse> {
    Json(HealthResponse {
        status: "healthy",
        version: state.config.version.clone(),
        environment: state.config.environment.clone(),
        runtime: state.config.runtime,
        model: state.catalog.default_model().id.clone(),
    })
}

/// The models clients may choose.
#[utoipa::path(get, path = "/api/v1/public/models", tag = "public", security(()),
    responses((status = 200, description = "The models, default first", body = ModelsResponse)))]
pub async fn models(State(state): State<AppState>) -> Json<ModelsResponse> {
    let default = &state.catalog.default_model().id;
    Json(ModelsResponse {
        models: state
            .catalog
            .models()
            .iter()
            .map(|m| ModelBody {
                id: m.id.clone(),
                name: m.name.clone(),
                default: &m.id == default,
            })
            .collect(),
    })
}

/// The OpenAPI document, rendered once at start-up.
#[derive(Clone)]
pub struct OpenApiJson(pub std::sync::Arc<str>);

/// This API's OpenAPI 3.1 document, generated from the mounted routes.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", security(()),
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json")))]
pub async fn openapi(Extension(doc): Extension<OpenApiJson>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], doc.0.to_string())
}
