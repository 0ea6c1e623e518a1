//! `/api/v1/auth`.

use alleato_core::auth::{AuthGrant, RegisterInput};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};

use crate::body::{
    AuthResponse, LoginRequest, LogoutRequest, MeResponse, RefreshRequest, RegisterRequest, SuccessResponse,
    TokensResponse, UsageTodayBody, UserBody,
};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, Auth, OptionalJson};
use crate::state::AppState;

fn grant_body(g: AuthGrant) -> AuthResponse {
    AuthResponse {
        user: UserBody::from(&g.user),
        access_token: g.tokens.access_token,
        refresh_token: g.tokens.refresh_token,
        expires_in: g.tokens.expires_in,
    }
}

/// Register a user; with a guest's token, upgrade that guest in place.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered and signed in", body = AuthResponse),
        (status = 409, description = "Email taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn register(
    State(state): State<AppState>,
    caller: Option<Auth>,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<AuthResponse>), ApiError> {
    let input = RegisterInput {
        email: body.email,
        password: body.password,
        name: body.name,
    };
    let grant = state.auth.register(caller.map(|a| a.0).as_ref(), input).await?;
    Ok((StatusCode::CREATED, Json(grant_body(grant))))
}

/// Sign in with email and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = AuthResponse),
        (status = 401, description = "Unknown email or wrong password (`invalid_credentials`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Json<AuthResponse>, ApiError> {
    Ok(Json(grant_body(state.auth.login(&body.email, &body.password).await?)))
}

/// Start an anonymous guest session.
#[utoipa::path(post, path = "/api/v1/auth/guest", tag = "auth",
    responses(
        (status = 201, description = "A new guest, signed in", body = AuthResponse),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn guest(State(state): State<AppState>) -> Result<(StatusCode, Json<AuthResponse>), ApiError> {
    Ok((StatusCode::CREATED, Json(grant_body(state.auth.guest().await?))))
}

/// Trade a refresh token for a new pair. A refresh token used twice revokes its session.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, description = "Rotated", body = TokensResponse),
        (status = 401, description = "Unknown, spent or revoked refresh token", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<Json<TokensResponse>, ApiError> {
    let t = state.auth.refresh(&body.refresh_token).await?;
    Ok(Json(TokensResponse {
        access_token: t.access_token,
        refresh_token: t.refresh_token,
        expires_in: t.expires_in,
    }))
}

/// End the session of the bearer token and/or of the given refresh token.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body(content = Option<LogoutRequest>),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Session ended", body = SuccessResponse),
        (status = 401, description = "Neither a live access token nor a valid refresh token", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<LogoutRequest>,
) -> Result<Json<SuccessResponse>, ApiError> {
    // An expired access token must not stop a logout by refresh token, so a bad bearer is
    // simply ignored here.
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let caller = match bearer {
        Some(token) => state.auth.authenticate(token).await.ok(),
        None => None,
    };
    state
        .auth
        .logout(caller.as_ref(), body.refresh_token.as_deref())
        .await?;
    Ok(Json(SuccessResponse::OK))
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = MeResponse),
        (status = 401, description = "Missing, invalid, expired (`token_expired`) or revoked token", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn me(State(state): State<AppState>, Auth(ctx): Auth) -> Result<Json<MeResponse>, ApiError> {
    let record = state.auth.me(&ctx).await?;
    let (usage, limit) = state.messages.usage_today(ctx.user_id).await?;
    Ok(Json(MeResponse {
        user: UserBody::from(&record.user),
        usage: UsageTodayBody {
            messages: usage.messages,
            message_limit: limit,
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
        },
    }))
}
